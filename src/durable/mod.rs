//! Durable Objects and the small JSON protocol the Worker uses to talk to them. Invariant: every
//! call is one `fetch` round trip whose answer is either the typed result or a `Problem`.

pub mod client_gate;
pub mod payment;

use dyno_core::{ErrorCode, Problem};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{Method, Request, RequestInit, Response, Stub};

use crate::error::{AppError, AppResult};

/// A DO's answer on the wire.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reply<T> {
    Ok(T),
    Err(Problem),
}

/// Sends `op` with a JSON body to a Durable Object and decodes its reply.
pub async fn call<Req: Serialize, Res: DeserializeOwned>(
    stub: &Stub,
    op: &str,
    body: &Req,
) -> AppResult<Res> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(JsValue::from_str(&serde_json::to_string(body)?)));
    let request = Request::new_with_init(&format!("https://do.internal/{op}"), &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    let bytes = response.bytes().await?;
    match serde_json::from_slice::<Reply<Res>>(&bytes) {
        Ok(Reply::Ok(value)) => Ok(value),
        Ok(Reply::Err(problem)) => Err(problem.into()),
        Err(e) => Err(AppError::internal(format!(
            "DO {op}: unreadable reply: {e}"
        ))),
    }
}

/// The DO side: the operation name and the decoded request body.
pub async fn read_call<T: DeserializeOwned>(req: &mut Request) -> Result<(String, T), Problem> {
    let op = req.path().trim_start_matches('/').to_string();
    let bytes = req
        .bytes()
        .await
        .map_err(|e| Problem::new(ErrorCode::InternalError, e.to_string()))?;
    let body = serde_json::from_slice(if bytes.is_empty() { b"null" } else { &bytes })
        .map_err(|e| Problem::new(ErrorCode::InternalError, format!("DO {op}: {e}")))?;
    Ok((op, body))
}

/// Encodes a DO's result for [`call`].
pub fn reply<T: Serialize>(result: Result<T, Problem>) -> worker::Result<Response> {
    let reply = match result {
        Ok(value) => Reply::Ok(value),
        Err(problem) => Reply::Err(problem),
    };
    Response::from_json(&reply)
}

/// What a DO reports to `/healthz`: its SQLite storage answered a query.
#[derive(Debug, Serialize, Deserialize)]
pub struct StorageProbe {
    pub sqlite_tables: i64,
}

/// Runs a real query against a DO's SQLite storage.
pub fn probe_storage(sql: &worker::SqlStorage) -> Result<StorageProbe, Problem> {
    #[derive(Deserialize)]
    struct Row {
        n: i64,
    }
    let row: Row = sql
        .exec(
            "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'",
            None,
        )
        .and_then(|c| c.one())
        .map_err(|e| Problem::new(ErrorCode::InternalError, format!("sqlite: {e}")))?;
    Ok(StorageProbe {
        sqlite_tables: row.n,
    })
}
