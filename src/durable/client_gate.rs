//! `ClientGate`: one Durable Object per POS client_id, the single place where that client's
//! per-request state lives. Invariant: every authenticated call makes exactly one round trip here.

use serde_json::Value;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use super::{probe_storage, read_call, reply};
use dyno_core::{ErrorCode, Problem};

#[durable_object]
pub struct ClientGate {
    state: State,
}

impl DurableObject for ClientGate {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let (op, _body) = match read_call::<Value>(&mut req).await {
            Ok(call) => call,
            Err(problem) => return reply::<()>(Err(problem)),
        };
        match op.as_str() {
            "health" => reply(probe_storage(&self.state.storage().sql())),
            other => reply::<()>(Err(Problem::new(
                ErrorCode::InternalError,
                format!("ClientGate: unknown operation {other}"),
            ))),
        }
    }
}
