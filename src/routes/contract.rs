//! `GET /openapi.json`: the API contract, generated at build time from `docs/openapi.yaml` into
//! `www/openapi.json` (see `build.rs`) and served by the demo site's assets. The gateway forwards
//! the path there before routing (`dyno_core::edge::answered_by_gateway`); this route keeps the
//! documented path in the route table and answers the same way if it is ever routed.
//! Invariant: the document is never embedded in the WASM, so it costs no isolate memory.

use worker::{Env, Response};

use crate::error::AppResult;

pub async fn openapi(env: &Env) -> AppResult<Response> {
    let response = env
        .service(crate::WWW_BINDING)?
        .fetch("https://www.invalid/openapi.json", None)
        .await?;
    Ok(response)
}
