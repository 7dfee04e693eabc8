//! The floor of `make bench`: the smallest Rust Worker, so each gateway route's throughput can be
//! read as a ratio of what workerd does with no work at all. Invariant: it does nothing else.

use worker::{event, Context, Env, Request, Response};

#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: Context) -> worker::Result<Response> {
    Response::ok("hello")
}
