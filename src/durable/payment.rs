//! `PaymentDO`: one Durable Object per payment (a PPM request id or an EPM QR nonce), the unit of
//! consistency. Invariant: every state change of a payment goes through this object's input gate.

use serde_json::Value;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use super::{probe_storage, read_call, reply};
use dyno_core::{ErrorCode, Problem};

#[durable_object]
pub struct PaymentDO {
    state: State,
}

impl DurableObject for PaymentDO {
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
                format!("PaymentDO: unknown operation {other}"),
            ))),
        }
    }
}
