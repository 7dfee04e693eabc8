//! Typed CYNOD calls over the transport. The access token is cached per isolate until shortly before
//! it expires, and concurrent callers share one token request. Its owner drives the I/O; the
//! others poll the cache on their own timers. They are never woken by the owner: a task woken from
//! another request runs inside that request's I/O context, which workerd refuses ("Cannot perform
//! I/O on behalf of a different request"). A 401 refreshes the token once. Reads are retried once;
//! writes never are: a write whose answer is lost is resolved by its reference through
//! `annuler-reference` (lookup-or-fence), so money is never moved twice nor lost from view.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use dyno_core::cynod::{
    data_items, parse_envelope, AccessToken, BalanceItem, CardItem, CynodCode, CynodFailure,
    EnvelopeOutcome, MovementRequest, OperationItem, ValidityItem,
};
use dyno_core::{ErrorCode, Millis, Problem};
use serde::de::DeserializeOwned;
use serde_json::Value;
use worker::{Delay, Env};

use super::transport::{self, OutgoingRequest, TransportError};
use crate::config::CynodConfig;
use crate::platform;

/// Refresh this long before CYNOD's stated expiry, so a token never expires mid-flight.
const TOKEN_EARLY_REFRESH_MS: i64 = 30_000;
/// How often a caller waiting for another request's token fetch looks at the cache.
const TOKEN_WAIT_STEP: Duration = Duration::from_millis(5);

#[derive(Clone, Debug)]
struct CachedToken {
    value: String,
    expires_at: Millis,
}

thread_local! {
    static TOKEN: RefCell<Option<CachedToken>> = const { RefCell::new(None) };
    /// Whether a token request is in flight in this isolate.
    static FETCHING: Cell<bool> = const { Cell::new(false) };
    /// The last finished token request: its sequence number and its outcome (plain data, so any
    /// request may read it).
    static LAST_FETCH: RefCell<(u64, Option<Result<CachedToken, Problem>>)> =
        const { RefCell::new((0, None)) };
}

/// Held by the caller that fetches the token. Dropping it, delivered or cancelled, ends the
/// fetch in flight, so waiters whose owner was cancelled fetch for themselves.
struct TokenFetchOwner;

impl TokenFetchOwner {
    fn claim() -> Option<Self> {
        // Not `then_some(Self)`: that builds (and on refusal drops) an owner either way, and the
        // drop would clear the flag of the fetch in flight.
        if FETCHING.with(|f| f.replace(true)) {
            None
        } else {
            Some(Self)
        }
    }

    fn deliver(self, result: &Result<CachedToken, Problem>) {
        if let Ok(token) = result {
            TOKEN.with(|t| *t.borrow_mut() = Some(token.clone()));
        }
        LAST_FETCH.with(|last| {
            let mut last = last.borrow_mut();
            *last = (last.0 + 1, Some(result.clone()));
        });
    }
}

impl Drop for TokenFetchOwner {
    fn drop(&mut self) {
        FETCHING.with(|f| f.set(false));
    }
}

/// Why a call produced no envelope to interpret.
#[derive(Debug, Clone)]
pub enum CallError {
    Transport(TransportError),
    /// CYNOD answered, but not with a readable envelope (a malformed body).
    Unreadable(Problem),
    /// The access token could not be obtained.
    Auth(Problem),
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
            CallError::Unreadable(p) | CallError::Auth(p) => p.clone(),
        }
    }
}

/// A card's balance, in minor units.
#[derive(Debug, Clone)]
pub struct CardBalance {
    pub balance_minor: i64,
    pub as_of: Option<String>,
    pub wallet_type: Option<String>,
}

/// What became of a debit or credit.
#[derive(Debug, Clone)]
pub enum WriteOutcome {
    /// Applied by CYNOD; `recovered` when its answer was lost and the reference lookup found it.
    Applied {
        operation: OperationItem,
        recovered: bool,
    },
    /// CYNOD refused it (insufficient balance, expired card…); nothing moved.
    Refused(Problem),
    /// The answer was lost and the reference is now fenced: nothing moved, nothing ever will.
    NotApplied { cause: Problem },
    /// The answer was lost and the lookup failed too: the reference must be resolved later.
    Unknown { cause: Problem },
}

pub struct CynodClient<'a> {
    env: &'a Env,
    config: &'a CynodConfig,
}

impl<'a> CynodClient<'a> {
    pub fn new(env: &'a Env, config: &'a CynodConfig) -> Self {
        Self { env, config }
    }

    /// A valid access token: from the cache, or from the one token request in flight.
    pub async fn access_token(&self) -> Result<String, Problem> {
        let waiting_since = LAST_FETCH.with(|last| last.borrow().0);
        loop {
            let now = platform::now();
            if let Some(token) = TOKEN
                .with(|t| t.borrow().clone())
                .filter(|t| t.expires_at > now)
            {
                return Ok(token.value);
            }
            // A fetch that finished while this caller waited answers it, failure included: a
            // down CYNOD costs one timeout per burst, not one per waiting request.
            let finished = LAST_FETCH.with(|last| {
                let last = last.borrow();
                (last.0 > waiting_since).then(|| last.1.clone()).flatten()
            });
            if let Some(result) = finished {
                return result.map(|token| token.value);
            }
            match TokenFetchOwner::claim() {
                Some(owner) => {
                    let result = fetch_token(self.env, self.config).await;
                    owner.deliver(&result);
                    return result.map(|token| token.value);
                }
                None => Delay::from(TOKEN_WAIT_STEP).await,
            }
        }
    }

    /// Drops the cached token, unless another caller already replaced the one that failed.
    fn forget_token(&self, failed: &str) {
        TOKEN.with(|t| {
            let mut cached = t.borrow_mut();
            if cached.as_ref().is_some_and(|c| c.value == failed) {
                *cached = None;
            }
        });
    }

    /// One authenticated exchange; on CYNOD's 401 the token is refreshed and the call made once more.
    async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<EnvelopeOutcome, CallError> {
        let mut refreshed = false;
        loop {
            let token = self.access_token().await.map_err(CallError::Auth)?;
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
                .map_err(|e| CallError::Unreadable(e.to_problem()))?;
            match outcome {
                EnvelopeOutcome::Failure(f)
                    if f.code == CynodCode::Unauthenticated && !refreshed =>
                {
                    self.forget_token(&token);
                    refreshed = true;
                }
                outcome => return Ok(outcome),
            }
        }
    }

    /// A read, retried once on a transport failure or a CYNOD system error.
    async fn read<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<Vec<T>, Problem> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let retryable = match self.call("GET", path_and_query, None).await {
                Ok(EnvelopeOutcome::Success { data, .. }) => {
                    return data_items(data).map_err(|e| e.to_problem())
                }
                Ok(EnvelopeOutcome::Failure(f)) if f.code == CynodCode::SystemError => {
                    f.to_problem()
                }
                Ok(EnvelopeOutcome::Failure(f)) => return Err(f.to_problem()),
                Err(e @ CallError::Auth(_)) => return Err(e.to_problem()),
                Err(e) => e.to_problem(),
            };
            if attempt >= 2 {
                return Err(retryable);
            }
        }
    }

    pub async fn balance(
        &self,
        card_number: &str,
        wallet_id: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<CardBalance, Problem> {
        let query = query(&[
            ("numeroCarte", Some(card_number)),
            ("walletId", wallet_id),
            ("clientId", client_id),
        ]);
        let item: BalanceItem = single(self.read(&format!("/get-solde-carte?{query}")).await?)?;
        Ok(CardBalance {
            balance_minor: item
                .solde_online
                .to_minor(dyno_core::Currency::Tnd)
                .map_err(|e| upstream(format!("soldeOnline {}: {e}", item.solde_online.text())))?,
            as_of: item.date_solde,
            wallet_type: item.type_wallet,
        })
    }

    pub async fn validity(
        &self,
        card_number: &str,
        wallet_id: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<ValidityItem, Problem> {
        let query = query(&[
            ("numeroCarte", Some(card_number)),
            ("walletId", wallet_id),
            ("clientId", client_id),
        ]);
        single(self.read(&format!("/check-card-validity?{query}")).await?)
    }

    pub async fn cards(
        &self,
        wallet_id: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<Vec<CardItem>, Problem> {
        let query = query(&[("walletId", wallet_id), ("clientId", client_id)]);
        self.read(&format!("/get-cartes?{query}")).await
    }

    pub async fn debit(&self, movement: &MovementRequest) -> WriteOutcome {
        self.write("/debiter-carte", movement).await
    }

    pub async fn credit(&self, movement: &MovementRequest) -> WriteOutcome {
        self.write("/crediter-carte", movement).await
    }

    /// A movement, sent once. If its answer is lost (timeout, 5xx, unreadable body), the reference
    /// is looked up and fenced before anyone is told anything.
    async fn write(&self, path: &str, movement: &MovementRequest) -> WriteOutcome {
        let body = match serde_json::to_string(movement) {
            Ok(body) => body,
            Err(e) => return WriteOutcome::Refused(upstream(e.to_string())),
        };
        let cause = match self.call("POST", path, Some(body)).await {
            Ok(EnvelopeOutcome::Success { data, .. }) => {
                match single::<OperationItem>(data_items(data).unwrap_or_default()) {
                    Ok(operation) => {
                        return WriteOutcome::Applied {
                            operation,
                            recovered: false,
                        }
                    }
                    Err(problem) => problem,
                }
            }
            Ok(EnvelopeOutcome::Failure(f)) if f.code == CynodCode::SystemError => f.to_problem(),
            Ok(EnvelopeOutcome::Failure(f)) => return WriteOutcome::Refused(f.to_problem()),
            // No token: the request never left, so nothing can have moved.
            Err(e @ CallError::Auth(_)) => return WriteOutcome::Refused(e.to_problem()),
            Err(e) => e.to_problem(),
        };
        self.resolve(&movement.reference, cause).await
    }

    /// Lookup-or-fence: CYNOD either returns the operation that used `reference`, or records the
    /// reference as cancelled so that a request still in flight can never apply it.
    pub async fn resolve(&self, reference: &str, cause: Problem) -> WriteOutcome {
        let body = serde_json::json!({ "reference": reference }).to_string();
        for _ in 0..2 {
            match self
                .call("POST", "/annuler-reference", Some(body.clone()))
                .await
            {
                Ok(EnvelopeOutcome::Success { data, .. }) => {
                    return match single::<OperationItem>(data_items(data).unwrap_or_default()) {
                        Ok(operation) if operation.applied() => WriteOutcome::Applied {
                            operation,
                            recovered: true,
                        },
                        Ok(_) => WriteOutcome::NotApplied { cause },
                        Err(_) => WriteOutcome::Unknown { cause },
                    }
                }
                Ok(EnvelopeOutcome::Failure(CynodFailure { code, .. }))
                    if code != CynodCode::SystemError =>
                {
                    return WriteOutcome::Unknown { cause }
                }
                _ => continue,
            }
        }
        WriteOutcome::Unknown { cause }
    }
}

fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let present: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect();
    serde_urlencoded::to_string(present).unwrap_or_default()
}

fn upstream(detail: String) -> Problem {
    Problem::new(
        ErrorCode::UpstreamError,
        format!("réponse CYNOD inattendue: {detail}"),
    )
}

/// The one item a call must return.
fn single<T>(items: Vec<T>) -> Result<T, Problem> {
    items
        .into_iter()
        .next()
        .ok_or_else(|| upstream("data vide".into()))
}

async fn fetch_token(env: &Env, config: &CynodConfig) -> Result<CachedToken, Problem> {
    let form = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", config.consumer_key.as_str()),
        ("client_secret", config.consumer_secret.as_str()),
    ])
    .map_err(|e| Problem::new(ErrorCode::InternalError, e.to_string()))?;
    let started = platform::now();
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
    match parse_envelope(reply.status, &reply.body).map_err(|e| e.to_problem())? {
        EnvelopeOutcome::Success { data, .. } => {
            let token: AccessToken = serde_json::from_value(unwrap_single(data))
                .map_err(|e| upstream(format!("jeton CYNOD illisible: {e}")))?;
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
