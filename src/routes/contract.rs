//! `GET /openapi.json`: the API contract, embedded at build time from `docs/openapi.yaml`.
//! Invariant: byte for byte the repository's document (see `build.rs`), never hand-maintained here.

use worker::{Headers, Response};

use crate::error::AppResult;

const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

pub fn openapi() -> AppResult<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    // The document changes only with a deploy; a short public cache spares the isolate.
    headers.set("Cache-Control", "public, max-age=300")?;
    headers.set("Access-Control-Allow-Origin", "*")?;
    Ok(Response::builder()
        .with_status(200)
        .with_headers(headers)
        .fixed(OPENAPI_JSON.as_bytes().to_vec()))
}
