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
use wasm_bindgen::JsValue;
use worker::{Response, SqlStorage};

/// A platform failure inside an object (storage, decoding, a call it made): logged with its cause
/// under the object's name, answered without it.
pub fn unavailable(object: &str, cause: impl std::fmt::Display) -> Problem {
    worker::console_error!("{object}: {cause}");
    Problem::new(
        ErrorCode::ServiceUnavailable,
        "Service momentanément indisponible: réessayez dans quelques secondes.",
    )
}

/// The typed call in an RPC argument (`stubs::send`).
pub fn decode_call<T: DeserializeOwned>(object: &str, text: &str) -> Result<T, Problem> {
    serde_json::from_str(text).map_err(|e| unavailable(object, format!("bad call: {e}")))
}

/// Encodes an object's answer for `stubs::send`. An answer that cannot be encoded is thrown, and
/// the caller takes a throw for the platform failure it is (503).
pub fn reply<T: Serialize>(result: Result<T, Problem>) -> Result<String, JsValue> {
    serde_json::to_string(&result)
        .map_err(|e| JsValue::from_str(&format!("unencodable answer: {e}")))
}

/// What an object's `fetch` answers: objects are called by RPC only (`answer`, see `stubs`), so
/// there is one way in and one decoder.
pub fn rpc_only() -> worker::Result<Response> {
    Response::error("called by RPC only", 404)
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
