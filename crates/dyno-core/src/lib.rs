//! Dyno Edge payment domain: pure functions over plain values and an explicit `now`. Invariant: no
//! Workers types, no clock and no randomness are reached from here, so every rule is natively
//! testable and behaves the same on wasm32.

pub mod api;
pub mod auth;
pub mod cards;
pub mod cynod;
pub mod edge;
pub mod gate;
pub mod idempotency;
pub mod ids;
pub mod money;
pub mod outbox;
pub mod payment;
pub mod problem;
pub mod protocol;
pub mod qr;
pub mod qr_png;
pub mod ratelimit;
pub mod records;
pub mod report;
pub mod routes;
pub mod sandbox;
pub mod summary;
pub mod text;
pub mod time;
pub mod webhook;

pub use money::{Amount, AmountError, Currency, Minor};
pub use problem::{ErrorCode, Problem};
pub use time::Millis;
