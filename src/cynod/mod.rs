//! The gateway's CYNOD client: transport (service binding or HTTPS, always with a timeout), the
//! per-isolate access-token cache, and typed calls. Invariant: CYNOD errors leave here as Dyno
//! problems; only reads are ever retried.

pub mod client;
pub mod transport;

pub use client::CynodClient;
