//! The Worker's side of the Durable Object protocol: stub constructors and one typed method per
//! call, so a caller never names an operation by a string or decodes an answer twice. Invariant:
//! every call is one `fetch` round trip whose answer decodes straight into its final type, and a
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
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;
use worker::{Env, Method, Request as HttpRequest, RequestInit, Stub};

use crate::error::{AppError, AppResult};

/// Sends one call and decodes its answer: the object's `Result<T, Problem>`.
async fn send<T: DeserializeOwned>(stub: &Stub, call: &impl Serialize) -> AppResult<T> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(JsValue::from_str(&serde_json::to_string(call)?)));
    let request = HttpRequest::new_with_init("https://do.internal/", &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    let bytes = response.bytes().await?;
    match serde_json::from_slice::<Result<T, Problem>>(&bytes) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(problem)) => Err(problem.into()),
        Err(e) => Err(AppError::platform(format!("unreadable object reply: {e}"))),
    }
}

/// The object that holds payment `id`.
pub struct PaymentStub(Stub);

impl PaymentStub {
    pub fn of(env: &Env, id: &PaymentId) -> AppResult<Self> {
        Ok(Self(
            env.durable_object("PAYMENTS")?
                .get_by_name(&format!("pay:{id}"))?,
        ))
    }

    /// An object that holds no payment, for the health check.
    pub fn probe(env: &Env) -> AppResult<Self> {
        Ok(Self(
            env.durable_object("PAYMENTS")?.get_by_name("healthz")?,
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
pub struct GateStub(Stub);

impl GateStub {
    pub fn client(env: &Env, client_id: &str) -> AppResult<Self> {
        Self::named(env, &format!("client:{client_id}"))
    }

    fn named(env: &Env, name: &str) -> AppResult<Self> {
        Ok(Self(env.durable_object("CLIENT_GATES")?.get_by_name(name)?))
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
