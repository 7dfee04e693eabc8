//! Durable Objects: thin shells that decode a typed call, load their state, run a pure machine of
//! `dyno-core`, persist the result with its effects, answer, then run the effects. This module holds
//! what both shells share. Invariants: an object never answers with internal text (storage and
//! decoding failures are logged and answered as 503 `SERVICE_UNAVAILABLE`); state that cannot be
//! loaded is never taken for empty.

pub mod client_gate;
mod gate_store;
pub mod outbox;
pub mod payment;

use dyno_core::protocol::StorageProbe;
use dyno_core::{ErrorCode, Problem};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{Request, Response, SqlStorage};

/// A platform failure inside an object (storage, decoding, a call it made): logged with its cause
/// under the object's name, answered without it.
pub fn unavailable(object: &str, cause: impl std::fmt::Display) -> Problem {
    worker::console_error!("{object}: {cause}");
    Problem::new(
        ErrorCode::ServiceUnavailable,
        "Service momentanément indisponible: réessayez dans quelques secondes.",
    )
}

/// The typed call in a request to an object.
pub async fn read_call<T: DeserializeOwned>(object: &str, req: &mut Request) -> Result<T, Problem> {
    let bytes = req.bytes().await.map_err(|e| unavailable(object, e))?;
    serde_json::from_slice(&bytes).map_err(|e| unavailable(object, format!("bad call: {e}")))
}

/// Encodes an object's answer for `stubs::send`.
pub fn reply<T: Serialize>(result: Result<T, Problem>) -> worker::Result<Response> {
    Response::from_json(&result)
}

/// Runs a real query against an object's SQLite storage.
pub fn probe_storage(object: &str, sql: &SqlStorage) -> Result<StorageProbe, Problem> {
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
        .map_err(|e| unavailable(object, e))?;
    Ok(StorageProbe {
        sqlite_tables: row.n,
    })
}
