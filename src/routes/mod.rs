//! Route handlers, one module per area. Invariant: handlers are thin; rules live in `dyno-core`.

pub mod health;
