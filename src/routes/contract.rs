//! `GET /openapi.json`: the API contract, generated at build time from `docs/openapi.yaml` into
//! `www/openapi.json` (see `build.rs`). The assets server normally answers it before the Worker
//! runs; this route only covers a deployment where the Worker sees the request first.
//! Invariant: the document is never embedded in the WASM, so it costs no isolate memory.

use worker::{Env, Response};

use crate::error::AppResult;

pub async fn openapi(env: &Env) -> AppResult<Response> {
    let response = env
        .assets("ASSETS")?
        .fetch("https://assets.invalid/openapi.json", None)
        .await?;
    Ok(response)
}
