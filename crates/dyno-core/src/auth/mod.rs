//! Identity: access tokens, client credentials, the OAuth2 token request, and sealed secrets.
//! Invariant: no secret is ever compared in variable time or stored in clear.

pub mod credentials;
pub mod jwt;
pub mod lockout;
pub mod oauth;
pub mod sealed;
