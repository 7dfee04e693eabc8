//! Typed CYNOD calls over the transport, with the access token cached per isolate until shortly
//! before it expires and refreshed once on a 401. Invariant: concurrent callers in one isolate
//! share a single token request.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use dyno_core::cynod::{parse_envelope, AccessToken, CynodCode, EnvelopeOutcome};
use dyno_core::{ErrorCode, Millis, Problem};
use futures_util::future::{FutureExt, Shared};
use serde_json::Value;
use worker::Env;

use super::transport::{self, OutgoingRequest, TransportError};
use crate::config::CynodConfig;
use crate::platform;

/// Refresh this long before CYNOD's stated expiry, so a token never expires mid-flight.
const TOKEN_EARLY_REFRESH_MS: i64 = 30_000;

#[derive(Clone, Debug)]
struct CachedToken {
    value: String,
    expires_at: Millis,
}

type TokenFuture = Shared<Pin<Box<dyn Future<Output = Result<CachedToken, Problem>>>>>;

thread_local! {
    static TOKEN: RefCell<Option<CachedToken>> = const { RefCell::new(None) };
    static PENDING_TOKEN: RefCell<Option<TokenFuture>> = const { RefCell::new(None) };
}

pub struct CynodClient<'a> {
    env: &'a Env,
    config: &'a CynodConfig,
}

impl<'a> CynodClient<'a> {
    pub fn new(env: &'a Env, config: &'a CynodConfig) -> Self {
        Self { env, config }
    }

    /// A valid access token: from the cache, or from one shared request to CYNOD.
    pub async fn access_token(&self) -> Result<String, Problem> {
        let now = platform::now();
        if let Some(token) = TOKEN
            .with(|t| t.borrow().clone())
            .filter(|t| t.expires_at > now)
        {
            return Ok(token.value);
        }
        let pending = PENDING_TOKEN.with(|p| p.borrow().clone());
        let future = match pending {
            Some(future) => future,
            None => {
                let env = self.env.clone();
                let config = self.config.clone();
                let future: TokenFuture =
                    (Box::pin(async move { fetch_token(&env, &config).await })
                        as Pin<Box<dyn Future<Output = _>>>)
                        .shared();
                PENDING_TOKEN.with(|p| *p.borrow_mut() = Some(future.clone()));
                future
            }
        };
        let result = future.await;
        PENDING_TOKEN.with(|p| *p.borrow_mut() = None);
        let token = result?;
        TOKEN.with(|t| *t.borrow_mut() = Some(token.clone()));
        Ok(token.value)
    }

    fn forget_token(&self) {
        TOKEN.with(|t| *t.borrow_mut() = None);
    }

    /// An authenticated call; on CYNOD's 401 the token is refreshed and the call made once more.
    pub async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<EnvelopeOutcome, CallError> {
        let mut refreshed = false;
        loop {
            let token = self.access_token().await.map_err(CallError::Problem)?;
            let mut headers = vec![("Authorization", format!("Bearer {token}"))];
            if body.is_some() {
                headers.push(("Content-Type", "application/json".to_string()));
            }
            let reply = transport::send(
                self.env,
                self.config,
                OutgoingRequest {
                    method,
                    path_and_query,
                    headers,
                    body: body.clone(),
                },
            )
            .await
            .map_err(CallError::Transport)?;
            let outcome = parse_envelope(reply.status, &reply.body)
                .map_err(|e| CallError::Problem(e.to_problem()))?;
            match outcome {
                EnvelopeOutcome::Failure(f)
                    if f.code == CynodCode::Unauthenticated && !refreshed =>
                {
                    self.forget_token();
                    refreshed = true;
                }
                outcome => return Ok(outcome),
            }
        }
    }
}

/// Why a call produced no envelope to interpret.
#[derive(Debug, Clone)]
pub enum CallError {
    Transport(TransportError),
    Problem(Problem),
}

impl CallError {
    pub fn to_problem(&self) -> Problem {
        match self {
            CallError::Transport(TransportError::Timeout) => Problem::new(
                ErrorCode::UpstreamTimeout,
                "CYNOD n'a pas répondu dans le délai imparti.",
            ),
            CallError::Transport(TransportError::Network(e)) => {
                Problem::new(ErrorCode::UpstreamError, format!("CYNOD injoignable: {e}"))
            }
            CallError::Problem(p) => p.clone(),
        }
    }
}

async fn fetch_token(env: &Env, config: &CynodConfig) -> Result<CachedToken, Problem> {
    let form = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", config.consumer_key.as_str()),
        ("client_secret", config.consumer_secret.as_str()),
    ])
    .map_err(|e| Problem::new(ErrorCode::InternalError, e.to_string()))?;
    let reply = transport::send(
        env,
        config,
        OutgoingRequest {
            method: "POST",
            path_and_query: "/oauth/token",
            headers: vec![(
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            body: Some(form),
        },
    )
    .await
    .map_err(|e| CallError::Transport(e).to_problem())?;
    let started = platform::now();
    match parse_envelope(reply.status, &reply.body).map_err(|e| e.to_problem())? {
        EnvelopeOutcome::Success { data, .. } => {
            let token: AccessToken = serde_json::from_value(unwrap_single(data)).map_err(|e| {
                Problem::new(
                    ErrorCode::UpstreamError,
                    format!("jeton CYNOD illisible: {e}"),
                )
            })?;
            let lifetime_ms = i64::try_from(token.expires_in)
                .unwrap_or(i64::MAX / 2)
                .saturating_mul(1000);
            Ok(CachedToken {
                value: token.access_token,
                expires_at: started
                    .plus_ms(lifetime_ms.saturating_sub(TOKEN_EARLY_REFRESH_MS).max(0)),
            })
        }
        EnvelopeOutcome::Failure(f) => Err(Problem::new(
            ErrorCode::UpstreamError,
            format!(
                "authentification CYNOD refusée ({}): {}",
                f.code.number(),
                f.message
            ),
        )),
    }
}

/// `data` of the token call is an object; tolerate a one-element array like the other endpoints.
fn unwrap_single(data: Value) -> Value {
    match data {
        Value::Array(mut items) if items.len() == 1 => items.remove(0),
        other => other,
    }
}
