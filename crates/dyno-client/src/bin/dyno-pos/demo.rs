//! The sandbox's demonstration credentials, as the seed publishes them: the defaults of `login`
//! and of `listen`'s signing secret. Invariant: they live here only, so no other part of the CLI
//! names a secret, and they only ever reach the sandbox (the server refuses them in production).

pub const CLIENT_ID: &str = "pos_sandbox_demo";
pub const CLIENT_SECRET: &str = "sandbox_secret_demo";
pub const WEBHOOK_SECRET: &str = "sandbox_webhook_secret";
