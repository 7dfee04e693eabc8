//! The Worker's side of the Durable Object protocol: stub constructors and one typed method per
//! call, so a caller never names an operation by a string or decodes an answer twice. Invariant:
//! every call is one RPC round trip whose answer decodes straight into its final type, and a
//! failure of the platform (the object unreachable, an unreadable answer) is a 503, never a guess.

use dyno_core::gate::{PollOutcome, Reservation, TokenDecision, TokenRef};
use dyno_core::ids::{ClientId, PaymentId};
use dyno_core::payment::machine::{Answer, Request};
use dyno_core::payment::view::PaymentView;
use dyno_core::payment::Payer;
use dyno_core::protocol::{
    AuthorizeOutcome, AuthorizeRequest, Faults, GateCall, PaymentCall, PaymentPoll, StorageProbe,
};
use dyno_core::Problem;
use js_sys::Promise;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::error::{AppError, AppResult};

#[wasm_bindgen]
extern "C" {
    /// A Durable Object stub seen through RPC: both objects export `answer` (`durable`), which
    /// takes the JSON of a call and returns the JSON of its `Result`.
    #[wasm_bindgen(extends = js_sys::Object)]
    type ObjectRpc;

    #[wasm_bindgen(method, catch)]
    fn answer(this: &ObjectRpc, call: &str) -> Result<JsValue, JsValue>;
}

/// Sends one call and decodes its answer: the object's `Result<T, Problem>`. A throw (the object
/// unreachable or failing) is a platform failure.
async fn send<T: DeserializeOwned>(object: &ObjectRpc, call: &impl Serialize) -> AppResult<T> {
    let pending = object
        .answer(&serde_json::to_string(call)?)
        .map_err(worker::Error::from)?;
    // The RPC result is a thenable, not a `Promise`: resolving it makes it one.
    let answer = JsFuture::from(Promise::resolve(&pending))
        .await
        .map_err(worker::Error::from)?;
    let Some(text) = answer.as_string() else {
        return Err(AppError::platform("object answered no text"));
    };
    match serde_json::from_str::<Result<T, Problem>>(&text) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(problem)) => Err(problem.into()),
        Err(e) => Err(AppError::platform(format!("unreadable object reply: {e}"))),
    }
}

/// The object that holds payment `id`.
pub struct PaymentStub(ObjectRpc);

impl PaymentStub {
    pub fn of(env: &Env, id: &PaymentId) -> AppResult<Self> {
        Ok(Self(
            env.durable_object("PAYMENTS")?
                .get_by_name(&format!("pay:{id}"))?
                .into_rpc(),
        ))
    }

    /// An object that holds no payment, for the health check.
    pub fn probe(env: &Env) -> AppResult<Self> {
        Ok(Self(
            env.durable_object("PAYMENTS")?
                .get_by_name("healthz")?
                .into_rpc(),
        ))
    }

    pub async fn run(&self, request: Request) -> AppResult<Answer> {
        send(&self.0, &PaymentCall::Run(request)).await
    }

    /// The POS's view of the payment, from a request that answers one.
    pub async fn view(&self, request: Request) -> AppResult<PaymentView> {
        match self.run(request).await? {
            Answer::Payment(view) => Ok(view),
            other => Err(unexpected(other)),
        }
    }

    /// The card a fresh, unused EPM QR presents (its object holds the grant).
    pub async fn presented(&self) -> AppResult<Payer> {
        match self.run(Request::Presented).await? {
            Answer::Presented(payer) => Ok(payer),
            other => Err(unexpected(other)),
        }
    }

    pub async fn poll(&self, client: &ClientId) -> AppResult<PaymentPoll> {
        send(
            &self.0,
            &PaymentCall::Poll {
                client: client.clone(),
            },
        )
        .await
    }

    pub async fn inject_faults(&self, faults: Faults) -> AppResult<()> {
        send(&self.0, &PaymentCall::InjectFaults(faults)).await
    }

    pub async fn health(&self) -> AppResult<StorageProbe> {
        send(&self.0, &PaymentCall::Health).await
    }
}

/// An answer of the wrong kind for its request: a programming error.
pub fn unexpected(answer: Answer) -> AppError {
    AppError::internal(format!("unexpected payment answer: {answer:?}"))
}

/// A POS client's gate (`client:<id>`).
pub struct GateStub(ObjectRpc);

impl GateStub {
    pub fn client(env: &Env, client_id: &str) -> AppResult<Self> {
        Self::named(env, &format!("client:{client_id}"))
    }

    fn named(env: &Env, name: &str) -> AppResult<Self> {
        Ok(Self(
            env.durable_object("CLIENT_GATES")?
                .get_by_name(name)?
                .into_rpc(),
        ))
    }

    pub async fn authorize(&self, request: AuthorizeRequest) -> AppResult<AuthorizeOutcome> {
        send(&self.0, &GateCall::Authorize(request)).await
    }

    pub async fn poll(
        &self,
        client: ClientId,
        token: TokenRef,
        payment: PaymentId,
    ) -> AppResult<PollOutcome> {
        send(
            &self.0,
            &GateCall::Poll {
                client,
                token,
                payment,
            },
        )
        .await
    }

    pub async fn issue_token(&self, client: ClientId, secret: String) -> AppResult<TokenDecision> {
        send(&self.0, &GateCall::IssueToken { client, secret }).await
    }

    pub async fn revoke(&self, jti: String, expires_at_ms: i64) -> AppResult<()> {
        send(&self.0, &GateCall::Revoke { jti, expires_at_ms }).await
    }

    pub async fn revoke_all(&self) -> AppResult<u64> {
        send(&self.0, &GateCall::RevokeAll).await
    }

    pub async fn release(&self, reservation: Reservation) -> AppResult<()> {
        send(&self.0, &GateCall::Release(reservation)).await
    }

    pub async fn store_response(
        &self,
        key: String,
        response: Option<(u16, String)>,
    ) -> AppResult<()> {
        send(&self.0, &GateCall::StoreResponse { key, response }).await
    }

    pub async fn track(&self, view: PaymentView) -> AppResult<()> {
        send(&self.0, &GateCall::Track(view)).await
    }

    pub async fn invalidate(&self) -> AppResult<()> {
        send(&self.0, &GateCall::Invalidate).await
    }

    pub async fn reset(&self) -> AppResult<()> {
        send(&self.0, &GateCall::Reset).await
    }

    pub async fn corrupt_state(&self) -> AppResult<()> {
        send(&self.0, &GateCall::CorruptState).await
    }

    pub async fn health(&self) -> AppResult<StorageProbe> {
        send(&self.0, &GateCall::Health).await
    }
}
