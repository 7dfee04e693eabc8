//! Route handlers, one module per area. Invariant: handlers are thin; rules live in `dyno-core`.

pub mod admin;
pub mod cards;
pub mod contract;

pub mod cynod_sim_control;
pub mod demo_seed;
pub mod health;
pub mod oauth;
pub mod operator;
pub mod payments;
pub mod pos;
pub mod reports;
pub mod sessions;
pub mod wallet;
pub mod webhooks;
