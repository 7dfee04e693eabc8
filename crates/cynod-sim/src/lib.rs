//! CYNOD card-core simulator Worker. It forwards every request to the single `CynodLedger` Durable
//! Object, so tokens, faults and balances are consistent across isolates. Invariant: this Worker
//! holds no state of its own.

mod format;
mod ledger;
mod mode;
mod seed;
mod store;

use worker::{event, Context, Env, Request, Response};

pub use ledger::CynodLedger;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    env.durable_object("LEDGER")?
        .get_by_name("ledger")?
        .fetch_with_request(req)
        .await
}
