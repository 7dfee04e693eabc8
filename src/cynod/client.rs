//! Typed CYNOD calls over the transport. The access token is cached per isolate until shortly before
//! it expires, and concurrent callers share one token request. Its owner drives the I/O; the
//! others poll the cache on their own timers. They are never woken by the owner: a task woken from
//! another request runs inside that request's I/O context, which workerd refuses ("Cannot perform
//! I/O on behalf of a different request"). A 401 refreshes the token once (`CYNOD_AUTH=basic`: no
//! token, Basic on every call). Reads are retried once; writes never are: a write whose answer is
//! lost is resolved by its reference through `annuler-reference` (lookup-or-fence), so money is
//! never moved twice nor lost from view; without that call (`CYNOD_RECOVERY=none`) it stays
//! `Unknown` with `OUTCOME_UNKNOWN`, for an operator. What leaves here is in the gateway's terms
//! (millimes, UTC), translated by `dyno_core::cynod::convert`.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use dyno_core::cynod::convert::outcome_unknown;
use dyno_core::cynod::dialect::{basic_authorization, CynodAuth, CynodRecovery};
use dyno_core::cynod::token::parse_token_response;
use dyno_core::cynod::{
    data_items, parse_envelope, BalanceItem, CardItem, CynodCode, CynodFailure, EnvelopeOutcome,
    MovementRequest, OperationItem, ValidityItem,
};
use dyno_core::{ErrorCode, Millis, Problem};
use serde::de::DeserializeOwned;
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
    /// `dateSolde` rewritten in UTC (`dd-mm-yyyy hh:mm:ss`); `None` when CYNOD's is unreadable.
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
    /// The answer was lost and the lookup failed too: the reference must be resolved later. With
    /// `cause.code == OUTCOME_UNKNOWN` no later lookup can settle it either (see
    /// [`WriteOutcome::needs_operator`]).
    Unknown { cause: Problem },
}

impl WriteOutcome {
    /// An unknown outcome that no recovery call can settle (CYNOD offers none, or refused it):
    /// it must be shown as such and settled by an operator who checks CYNOD, never retried blindly
    /// nor guessed.
    pub fn needs_operator(&self) -> bool {
        matches!(self, WriteOutcome::Unknown { cause } if cause.code == ErrorCode::OutcomeUnknown)
    }
}

pub struct CynodClient<'a> {
    env: &'a Env,
    config: &'a CynodConfig,
}

impl<'a> CynodClient<'a> {
    pub fn new(env: &'a Env, config: &'a CynodConfig) -> Self {
        Self { env, config }
    }

    /// Whether CYNOD can be authenticated to: a token obtained (OAuth2), or nothing to obtain
    /// (Basic, whose credentials are only checked by the first real call).
    pub async fn probe(&self) -> Result<String, Problem> {
        match self.config.dialect.auth {
            CynodAuth::OAuth2 => self
                .access_token()
                .await
                .map(|_| "access token obtained".to_string()),
            CynodAuth::Basic => Ok("basic authentication: no token to obtain".to_string()),
        }
    }

    /// The `Authorization` of a call, and the token it carries (to drop it after a 401).
    async fn authorization(&self) -> Result<(String, Option<String>), Problem> {
        match self.config.dialect.auth {
            CynodAuth::OAuth2 => {
                let token = self.access_token().await?;
                Ok((format!("Bearer {token}"), Some(token)))
            }
            CynodAuth::Basic => Ok((
                basic_authorization(&self.config.consumer_key, &self.config.consumer_secret),
                None,
            )),
        }
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
            let (authorization, token) = self.authorization().await.map_err(CallError::Auth)?;
            let mut headers = vec![("Authorization", authorization)];
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
            match (outcome, token) {
                (EnvelopeOutcome::Failure(f), Some(token))
                    if f.code == CynodCode::Unauthenticated && !refreshed =>
                {
                    self.forget_token(&token);
                    refreshed = true;
                }
                (outcome, _) => return Ok(outcome),
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
        let dialect = &self.config.dialect;
        Ok(CardBalance {
            balance_minor: dialect.balance_minor(&item)?,
            as_of: dialect.utc_datetime(item.date_solde.as_deref()),
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
        let item = single(self.read(&format!("/check-card-validity?{query}")).await?)?;
        self.config.dialect.still_valid(item, platform::now())
    }

    pub async fn cards(
        &self,
        wallet_id: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<Vec<CardItem>, Problem> {
        let query = query(&[("walletId", wallet_id), ("clientId", client_id)]);
        let cards: Vec<CardItem> = self.read(&format!("/get-cartes?{query}")).await?;
        cards
            .into_iter()
            .map(|card| self.config.dialect.card_in_gateway_terms(card))
            .collect()
    }

    /// `get-operations-carte` (a Dyno extension, `docs/cynod-api.md`): the card's movements,
    /// newest first, at most `limit`; CYNOD checks the card is `wallet_id`'s.
    pub async fn card_operations(
        &self,
        card_number: &str,
        wallet_id: &str,
        limit: u32,
    ) -> Result<Vec<OperationItem>, Problem> {
        let limit = limit.to_string();
        let query = query(&[
            ("numeroCarte", Some(card_number)),
            ("walletId", Some(wallet_id)),
            ("limite", Some(limit.as_str())),
        ]);
        self.read(&format!("/get-operations-carte?{query}")).await
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
        let body = match self.config.dialect.movement_body(movement) {
            Ok(body) => body,
            Err(problem) => return WriteOutcome::Refused(problem),
        };
        let cause = match self.call("POST", path, Some(body)).await {
            Ok(EnvelopeOutcome::Success { data, .. }) => {
                match single::<OperationItem>(data_items(data).unwrap_or_default()) {
                    Ok(operation) => {
                        return WriteOutcome::Applied {
                            operation: self.config.dialect.operation_in_gateway_terms(operation),
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
        let outcome = self.resolve(&movement.reference, cause).await;
        if outcome.needs_operator() {
            // The operator's trail: which reference to look up in CYNOD.
            worker::console_error!(
                "CYNOD {path}: outcome of reference {} unknown, to be settled by an operator",
                movement.reference
            );
        }
        outcome
    }

    /// Lookup-or-fence: CYNOD either returns the operation that used `reference`, or records the
    /// reference as cancelled so that a request still in flight can never apply it. Without the
    /// recovery calls, or when CYNOD refuses them, the outcome is `Unknown` with
    /// `OUTCOME_UNKNOWN`: only an operator can settle it.
    pub async fn resolve(&self, reference: &str, cause: Problem) -> WriteOutcome {
        if self.config.dialect.recovery == CynodRecovery::None {
            return WriteOutcome::Unknown {
                cause: outcome_unknown(&cause, "CYNOD_RECOVERY=none"),
            };
        }
        let body = serde_json::json!({ "reference": reference }).to_string();
        for _ in 0..2 {
            match self
                .call("POST", "/annuler-reference", Some(body.clone()))
                .await
            {
                Ok(EnvelopeOutcome::Success { data, .. }) => {
                    return match single::<OperationItem>(data_items(data).unwrap_or_default()) {
                        Ok(operation) if operation.applied() => WriteOutcome::Applied {
                            operation: self.config.dialect.operation_in_gateway_terms(operation),
                            recovered: true,
                        },
                        Ok(_) => WriteOutcome::NotApplied { cause },
                        Err(_) => WriteOutcome::Unknown { cause },
                    }
                }
                // A functional refusal of the recovery call will not change on a retry.
                Ok(EnvelopeOutcome::Failure(CynodFailure { code, message }))
                    if code != CynodCode::SystemError =>
                {
                    return WriteOutcome::Unknown {
                        cause: outcome_unknown(
                            &cause,
                            &format!(
                                "annuler-reference refusé: CYNOD {} {message}",
                                code.number()
                            ),
                        ),
                    }
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
    let grant = parse_token_response(reply.status, &reply.body).map_err(|e| e.to_problem())?;
    let lifetime_ms = i64::try_from(grant.expires_in_secs)
        .unwrap_or(i64::MAX / 2)
        .saturating_mul(1000);
    Ok(CachedToken {
        value: grant.access_token,
        expires_at: started.plus_ms(lifetime_ms.saturating_sub(TOKEN_EARLY_REFRESH_MS).max(0)),
    })
}
