//! `ClientGate`: one Durable Object per POS client_id (and one per source IP for token throttling),
//! the single place where a client's per-request state lives: its rate windows, revoked tokens,
//! token generation and a cached registry profile. Invariant: every authenticated call makes exactly
//! one round trip here, and the limit check-and-count runs with no await in between, so it is
//! exact under any concurrency.

use std::cell::RefCell;
use std::collections::HashMap;

use dyno_core::payment::Status;
use dyno_core::ratelimit::{
    Decision, Policy, SlidingWindow, CLIENT_POLICY, POLL_CLIENT_POLICY, TOKEN_PER_CLIENT_POLICY,
    TOKEN_PER_IP_POLICY,
};
use dyno_core::ratelimit::{TokenBucket, POLL_POLICY};
use dyno_core::{ErrorCode, Problem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorage, State};

use super::{probe_storage, read_call, reply};
use crate::durable::payment::PaymentView;
use crate::platform;
use crate::registry;

/// What the gate knows of its client, cached from the D1 registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientProfile {
    pub client_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    /// False when the merchant is not affiliated or deactivated (seed: MERCHANT_NOT_FOUND).
    pub merchant_accepts_payments: bool,
    pub sandbox: bool,
    pub read_only: bool,
    pub scopes: String,
}

/// A rate-limit decision on the wire, with everything the response headers need.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimitInfo {
    pub name: String,
    pub limit: u32,
    pub window_secs: i64,
    pub remaining: u32,
    pub reset_secs: i64,
    pub allowed: bool,
}

impl From<&Decision> for LimitInfo {
    fn from(d: &Decision) -> Self {
        Self {
            name: d.policy.name.to_string(),
            limit: d.policy.limit,
            window_secs: d.policy.window_ms / 1000,
            remaining: d.remaining,
            reset_secs: d.reset_secs,
            allowed: d.allowed,
        }
    }
}

impl LimitInfo {
    pub fn policy_header(&self) -> String {
        format!("\"{}\";q={};w={}", self.name, self.limit, self.window_secs)
    }

    pub fn limit_header(&self) -> String {
        format!(
            "\"{}\";r={};t={}",
            self.name, self.remaining, self.reset_secs
        )
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub jti: String,
    pub generation: u64,
    /// Whether this call counts against the 60/min client window (status polls do not).
    pub counted: bool,
    /// `Idempotency-Key` of a POST, with a fingerprint of its method, path and body.
    #[serde(default)]
    pub idempotency: Option<IdempotencyCheck>,
    /// A new payment claims this `pos_reference` (unique per client).
    #[serde(default)]
    pub reserve: Option<Reservation>,
    /// Resolve a `pos_reference`, transaction id or payment id to its payment.
    #[serde(default)]
    pub lookup: Option<Lookup>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotencyCheck {
    pub key: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reservation {
    pub pos_reference: String,
    /// The PaymentDO that will hold the payment.
    pub payment_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum Lookup {
    PosReference(String),
    /// A transaction id or a payment (request) id.
    Id(String),
}

/// A payment of this client, as the gate indexes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexEntry {
    pub pos_reference: String,
    pub payment_key: String,
    pub transaction_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReservationResult {
    /// Claimed (or claimed again by the same payment): the transaction id to use.
    Reserved { transaction_id: String },
    /// Another payment of this client already uses the reference.
    Conflict,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum IdempotencyResult {
    /// First use of the key: run the request, then store its response.
    Fresh,
    /// The stored response of the first request.
    Replay { status: u16, body: String },
    /// The first request with this key is still running.
    InProgress,
    /// The key was used with a different request.
    Mismatch,
}

/// A status poll, answered by the gate alone from the statuses its sessions publish.
#[derive(Debug, Serialize, Deserialize)]
pub struct PollRequest {
    pub client_id: String,
    pub jti: String,
    pub generation: u64,
    pub payment_request_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PollOutcome {
    Status {
        view: PaymentView,
        limit: LimitInfo,
    },
    /// The session's own allowance (bursts of 5, 2 per second) or the client's poll ceiling.
    Limited {
        limit: LimitInfo,
    },
    Revoked,
    UnknownClient,
    /// The gate holds no copy of this request (never this client's, or older than a day): the
    /// caller asks the request's own PaymentDO.
    Untracked,
}

/// A PPM request's current view, published by its PaymentDO on every transition.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrackSession {
    pub view: PaymentView,
}

/// How long the gate keeps a published request (polling lasts 90 s; later polls fall back).
const SESSION_TTL_MS: i64 = 86_400_000;

/// Statuses only move forward: a late publish never replaces a later state.
fn progress(status: Status) -> u8 {
    match status {
        Status::Issued | Status::Pending => 0,
        Status::Scanned | Status::Processing | Status::Unresolved => 1,
        _ => 2,
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StoreResponse {
    pub key: String,
    /// `None` forgets the key (the request failed in a way worth retrying).
    pub response: Option<(u16, String)>,
}

/// How long an idempotency key and its response are kept.
const IDEMPOTENCY_TTL_MS: i64 = 24 * 3_600_000;
/// A key whose first request never stored a response (the isolate died) frees up after this.
const IN_PROGRESS_TTL_MS: i64 = 60_000;
/// Index entries older than this are dropped; D1 `transactions` keeps the history.
const INDEX_TTL_MS: i64 = 35 * 86_400_000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AuthorizeOutcome {
    Granted {
        profile: ClientProfile,
        limit: Option<LimitInfo>,
        #[serde(default)]
        idempotency: Option<IdempotencyResult>,
        #[serde(default)]
        reservation: Option<ReservationResult>,
        #[serde(default)]
        found: Option<IndexEntry>,
    },
    Limited {
        limit: LimitInfo,
    },
    Revoked,
    UnknownClient,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ThrottleRequest {
    /// `token-client` or `token-ip`.
    pub policy: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ThrottleOutcome {
    pub limit: LimitInfo,
    /// The client's current token generation, stamped into new tokens.
    pub generation: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RevokeRequest {
    pub jti: String,
    pub expires_at_ms: i64,
}

#[derive(Default)]
struct Memory {
    /// Published PPM requests and each one's poll bucket.
    sessions: HashMap<String, (PaymentView, Option<TokenBucket>)>,
    profile: Option<ClientProfile>,
    generation: u64,
    windows: HashMap<String, SlidingWindow>,
    revoked: HashMap<String, i64>,
}

#[durable_object]
pub struct ClientGate {
    state: State,
    env: Env,
    memory: RefCell<Memory>,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS gate_kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS revoked (jti TEXT PRIMARY KEY, expires_at_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS payment_index (pos_reference TEXT PRIMARY KEY, payment_key TEXT NOT NULL, transaction_id TEXT NOT NULL, created_at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS payment_index_by_tx ON payment_index (transaction_id)",
    "CREATE INDEX IF NOT EXISTS payment_index_by_key ON payment_index (payment_key)",
    "CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status INTEGER, body TEXT, created_at_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, view TEXT NOT NULL, updated_at_ms INTEGER NOT NULL)",
];

fn load(sql: &SqlStorage) -> worker::Result<Memory> {
    for statement in SCHEMA {
        sql.exec(statement, None)?;
    }
    #[derive(Deserialize)]
    struct Kv {
        k: String,
        v: String,
    }
    #[derive(Deserialize)]
    struct Revoked {
        jti: String,
        expires_at_ms: i64,
    }
    let mut memory = Memory::default();
    for Kv { k, v } in sql
        .exec("SELECT k, v FROM gate_kv", None)?
        .to_array::<Kv>()?
    {
        if k == "profile" {
            memory.profile = serde_json::from_str(&v).ok();
        } else if k == "generation" {
            memory.generation = v.parse().unwrap_or(0);
        } else if let Some(name) = k.strip_prefix("window:") {
            memory
                .windows
                .insert(name.to_string(), SlidingWindow::decode(&v));
        }
    }
    for r in sql
        .exec("SELECT jti, expires_at_ms FROM revoked", None)?
        .to_array::<Revoked>()?
    {
        memory.revoked.insert(r.jti, r.expires_at_ms);
    }
    #[derive(Deserialize)]
    struct Session {
        id: String,
        view: String,
    }
    for row in sql
        .exec("SELECT id, view FROM sessions", None)?
        .to_array::<Session>()?
    {
        if let Ok(view) = serde_json::from_str(&row.view) {
            memory.sessions.insert(row.id, (view, None));
        }
    }
    Ok(memory)
}

impl DurableObject for ClientGate {
    fn new(state: State, env: Env) -> Self {
        let memory = load(&state.storage().sql()).unwrap_or_else(|e| {
            worker::console_error!("ClientGate: cannot load state: {e}");
            Memory::default()
        });
        Self {
            state,
            env,
            memory: RefCell::new(memory),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let (op, body) = match read_call::<Value>(&mut req).await {
            Ok(call) => call,
            Err(problem) => return reply::<()>(Err(problem)),
        };
        match op.as_str() {
            "authorize" => reply(match serde_json::from_value(body) {
                Ok(request) => self.authorize(request).await,
                Err(e) => Err(bad_call(e)),
            }),
            "throttle" => reply(
                serde_json::from_value(body)
                    .map_err(bad_call)
                    .and_then(|r| self.throttle(r)),
            ),
            "revoke" => reply(
                serde_json::from_value(body)
                    .map_err(bad_call)
                    .and_then(|r| self.revoke(r)),
            ),
            "revoke_all" => reply(self.revoke_all()),
            "release" => reply(
                serde_json::from_value(body)
                    .map_err(bad_call)
                    .and_then(|r| self.release(r)),
            ),
            "store_response" => reply(
                serde_json::from_value(body)
                    .map_err(bad_call)
                    .and_then(|r| self.store_response(r)),
            ),
            "invalidate" => reply(self.invalidate()),
            "reset" => reply(self.reset()),
            "poll" => match serde_json::from_value(body) {
                Ok(request) => reply(self.poll(request).await),
                Err(e) => reply::<()>(Err(bad_call(e))),
            },
            "track_session" => reply(
                serde_json::from_value(body)
                    .map_err(bad_call)
                    .and_then(|r| self.track_session(r)),
            ),
            "health" => reply(probe_storage(&self.state.storage().sql())),
            other => reply::<()>(Err(Problem::new(
                ErrorCode::InternalError,
                format!("ClientGate: unknown operation {other}"),
            ))),
        }
    }
}

fn bad_call(e: serde_json::Error) -> Problem {
    Problem::new(
        ErrorCode::InternalError,
        format!("ClientGate: bad request: {e}"),
    )
}

fn storage_error(e: worker::Error) -> Problem {
    Problem::new(ErrorCode::InternalError, format!("ClientGate storage: {e}"))
}

impl ClientGate {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn put(&self, key: &str, value: &str) -> Result<(), Problem> {
        self.sql()
            .exec(
                "INSERT OR REPLACE INTO gate_kv (k, v) VALUES (?, ?)",
                vec![key.into(), value.into()],
            )
            .map(|_| ())
            .map_err(storage_error)
    }

    /// Counts one request in `policy`'s window and persists it, atomically with the check.
    fn admit(&self, policy: Policy) -> Result<Decision, Problem> {
        let scale = crate::config::Config::get(&self.env)
            .map(|c| c.rate_limit_scale)
            .unwrap_or(1);
        let policy = policy.scaled(scale);
        let now = platform::now().0;
        let (decision, encoded) = {
            let mut memory = self.memory.borrow_mut();
            let window = memory.windows.entry(policy.name.to_string()).or_default();
            let decision = window.admit(now, policy);
            (decision, window.encode())
        };
        // The poll ceiling only guards against abuse: kept in memory, it costs no write per poll.
        if decision.allowed && policy.name != POLL_CLIENT_POLICY.name {
            self.put(&format!("window:{}", policy.name), &encoded)?;
        }
        Ok(decision)
    }

    async fn profile(&self, client_id: &str) -> Result<Option<ClientProfile>, Problem> {
        if let Some(profile) = self.memory.borrow().profile.clone() {
            return Ok(Some(profile));
        }
        let db = registry::db(&self.env)
            .map_err(|_| Problem::new(ErrorCode::InternalError, "D1 indisponible"))?;
        let record = registry::find_client(&db, client_id).await.map_err(|_| {
            Problem::new(ErrorCode::InternalError, "lecture du registre impossible")
        })?;
        let Some(record) = record else {
            return Ok(None);
        };
        let profile = ClientProfile {
            merchant_accepts_payments: record.merchant_accepts_payments(),
            client_id: record.client_id,
            merchant_id: record.merchant_id,
            merchant_name: record.merchant_name,
            sandbox: record.sandbox == 1,
            read_only: record.read_only == 1,
            scopes: record.scopes,
        };
        self.put(
            "profile",
            &serde_json::to_string(&profile).unwrap_or_default(),
        )?;
        self.memory.borrow_mut().profile = Some(profile.clone());
        Ok(Some(profile))
    }

    async fn authorize(&self, request: AuthorizeRequest) -> Result<AuthorizeOutcome, Problem> {
        let Some(profile) = self.profile(&request.client_id).await? else {
            return Ok(AuthorizeOutcome::UnknownClient);
        };
        {
            let memory = self.memory.borrow();
            if request.generation < memory.generation || memory.revoked.contains_key(&request.jti) {
                return Ok(AuthorizeOutcome::Revoked);
            }
        }
        // Status polls do not count against the 60/min window; they have their own ceiling.
        let decision = self.admit(if request.counted {
            CLIENT_POLICY
        } else {
            POLL_CLIENT_POLICY
        })?;
        if !decision.allowed {
            return Ok(AuthorizeOutcome::Limited {
                limit: LimitInfo::from(&decision),
            });
        }
        let limit = request.counted.then(|| LimitInfo::from(&decision));
        let now = platform::now().0;
        let idempotency = match &request.idempotency {
            Some(check) => Some(self.check_idempotency(check, now)?),
            None => None,
        };
        // A replayed or refused idempotent request claims nothing.
        let fresh = matches!(idempotency, None | Some(IdempotencyResult::Fresh));
        // Nothing is reserved for a merchant that cannot take payments (MERCHANT_NOT_FOUND).
        let reservation = match (&request.reserve, fresh && profile.merchant_accepts_payments) {
            (Some(reserve), true) => Some(self.reserve(reserve, now)?),
            _ => None,
        };
        let found = match &request.lookup {
            Some(lookup) => self.lookup(lookup)?,
            None => None,
        };
        Ok(AuthorizeOutcome::Granted {
            profile,
            limit,
            idempotency,
            reservation,
            found,
        })
    }

    fn check_idempotency(
        &self,
        check: &IdempotencyCheck,
        now: i64,
    ) -> Result<IdempotencyResult, Problem> {
        #[derive(Deserialize)]
        struct Row {
            fingerprint: String,
            status: Option<i64>,
            body: Option<String>,
        }
        let sql = self.sql();
        sql.exec(
            "DELETE FROM idempotency WHERE created_at_ms < ? OR (status IS NULL AND created_at_ms < ?)",
            vec![(now - IDEMPOTENCY_TTL_MS).into(), (now - IN_PROGRESS_TTL_MS).into()],
        )
        .map_err(storage_error)?;
        let existing: Option<Row> = sql
            .exec(
                "SELECT fingerprint, status, body FROM idempotency WHERE key = ?",
                vec![check.key.as_str().into()],
            )
            .and_then(|c| c.to_array())
            .map_err(storage_error)?
            .into_iter()
            .next();
        Ok(match existing {
            None => {
                sql.exec(
                    "INSERT INTO idempotency (key, fingerprint, created_at_ms) VALUES (?, ?, ?)",
                    vec![
                        check.key.as_str().into(),
                        check.fingerprint.as_str().into(),
                        now.into(),
                    ],
                )
                .map_err(storage_error)?;
                IdempotencyResult::Fresh
            }
            Some(row) if row.fingerprint != check.fingerprint => IdempotencyResult::Mismatch,
            Some(Row {
                status: Some(status),
                body,
                ..
            }) => IdempotencyResult::Replay {
                status: u16::try_from(status).unwrap_or(500),
                body: body.unwrap_or_default(),
            },
            Some(_) => IdempotencyResult::InProgress,
        })
    }

    fn store_response(&self, request: StoreResponse) -> Result<(), Problem> {
        let sql = self.sql();
        match request.response {
            Some((status, body)) => sql.exec(
                "UPDATE idempotency SET status = ?, body = ? WHERE key = ?",
                vec![i64::from(status).into(), body.into(), request.key.into()],
            ),
            None => sql.exec(
                "DELETE FROM idempotency WHERE key = ?",
                vec![request.key.into()],
            ),
        }
        .map(|_| ())
        .map_err(storage_error)
    }

    fn index_rows(&self, query: &str, value: &str) -> Result<Option<IndexEntry>, Problem> {
        Ok(self
            .sql()
            .exec(query, vec![value.into()])
            .and_then(|c| c.to_array::<IndexEntry>())
            .map_err(storage_error)?
            .into_iter()
            .next())
    }

    /// Claims `pos_reference` for a payment; the same payment may claim it again (a retry).
    fn reserve(&self, reserve: &Reservation, now: i64) -> Result<ReservationResult, Problem> {
        let existing = self.index_rows(
            "SELECT pos_reference, payment_key, transaction_id FROM payment_index WHERE pos_reference = ?",
            &reserve.pos_reference,
        )?;
        match existing {
            Some(entry) if entry.payment_key == reserve.payment_key => {
                Ok(ReservationResult::Reserved {
                    transaction_id: entry.transaction_id,
                })
            }
            Some(_) => Ok(ReservationResult::Conflict),
            None => {
                let transaction_id = platform::new_uuid();
                let sql = self.sql();
                sql.exec(
                    "DELETE FROM payment_index WHERE created_at_ms < ?",
                    vec![(now - INDEX_TTL_MS).into()],
                )
                .map_err(storage_error)?;
                sql.exec(
                    "INSERT INTO payment_index (pos_reference, payment_key, transaction_id, created_at_ms) VALUES (?, ?, ?, ?)",
                    vec![
                        reserve.pos_reference.as_str().into(),
                        reserve.payment_key.as_str().into(),
                        transaction_id.as_str().into(),
                        now.into(),
                    ],
                )
                .map_err(storage_error)?;
                Ok(ReservationResult::Reserved { transaction_id })
            }
        }
    }

    /// Frees a reference whose payment failed without moving money, so the sale can be retried.
    fn release(&self, reservation: Reservation) -> Result<(), Problem> {
        self.sql()
            .exec(
                "DELETE FROM payment_index WHERE pos_reference = ? AND payment_key = ?",
                vec![
                    reservation.pos_reference.into(),
                    reservation.payment_key.into(),
                ],
            )
            .map(|_| ())
            .map_err(storage_error)
    }

    fn lookup(&self, lookup: &Lookup) -> Result<Option<IndexEntry>, Problem> {
        const COLUMNS: &str =
            "SELECT pos_reference, payment_key, transaction_id FROM payment_index";
        match lookup {
            Lookup::PosReference(reference) => {
                self.index_rows(&format!("{COLUMNS} WHERE pos_reference = ?"), reference)
            }
            Lookup::Id(id) => {
                match self.index_rows(&format!("{COLUMNS} WHERE transaction_id = ?"), id)? {
                    Some(entry) => Ok(Some(entry)),
                    None => self.index_rows(&format!("{COLUMNS} WHERE payment_key = ?"), id),
                }
            }
        }
    }

    fn throttle(&self, request: ThrottleRequest) -> Result<ThrottleOutcome, Problem> {
        let policy = match request.policy.as_str() {
            "token-client" => TOKEN_PER_CLIENT_POLICY,
            "token-ip" => TOKEN_PER_IP_POLICY,
            other => {
                return Err(Problem::new(
                    ErrorCode::InternalError,
                    format!("unknown policy {other}"),
                ))
            }
        };
        let decision = self.admit(policy)?;
        Ok(ThrottleOutcome {
            limit: LimitInfo::from(&decision),
            generation: self.memory.borrow().generation,
        })
    }

    fn revoke(&self, request: RevokeRequest) -> Result<(), Problem> {
        let now = platform::now().0;
        let sql = self.sql();
        sql.exec(
            "DELETE FROM revoked WHERE expires_at_ms < ?",
            vec![now.into()],
        )
        .map_err(storage_error)?;
        sql.exec(
            "INSERT OR REPLACE INTO revoked (jti, expires_at_ms) VALUES (?, ?)",
            vec![request.jti.as_str().into(), request.expires_at_ms.into()],
        )
        .map_err(storage_error)?;
        let mut memory = self.memory.borrow_mut();
        memory.revoked.retain(|_, exp| *exp >= now);
        memory.revoked.insert(request.jti, request.expires_at_ms);
        Ok(())
    }

    /// Invalidates every token issued so far: they all carry an older generation.
    fn revoke_all(&self) -> Result<u64, Problem> {
        let generation = self.memory.borrow().generation + 1;
        self.put("generation", &generation.to_string())?;
        self.memory.borrow_mut().generation = generation;
        Ok(generation)
    }

    /// A status poll: revocation, the client's poll ceiling, the session's allowance and its
    /// status, all here — one round trip.
    async fn poll(&self, request: PollRequest) -> Result<PollOutcome, Problem> {
        if self.profile(&request.client_id).await?.is_none() {
            return Ok(PollOutcome::UnknownClient);
        }
        {
            let memory = self.memory.borrow();
            if request.generation < memory.generation || memory.revoked.contains_key(&request.jti) {
                return Ok(PollOutcome::Revoked);
            }
        }
        let ceiling = self.admit(POLL_CLIENT_POLICY)?;
        if !ceiling.allowed {
            return Ok(PollOutcome::Limited {
                limit: LimitInfo::from(&ceiling),
            });
        }
        let now = platform::now().0;
        let mut memory = self.memory.borrow_mut();
        let Some((view, bucket)) = memory.sessions.get_mut(&request.payment_request_id) else {
            return Ok(PollOutcome::Untracked);
        };
        let decision = bucket
            .get_or_insert_with(|| TokenBucket::full(POLL_POLICY, now))
            .take(now, POLL_POLICY);
        let limit = LimitInfo::from(&decision);
        Ok(if decision.allowed {
            PollOutcome::Status {
                view: view.clone(),
                limit,
            }
        } else {
            PollOutcome::Limited { limit }
        })
    }

    /// Records a request's published view, unless it would move its status backwards.
    fn track_session(&self, request: TrackSession) -> Result<(), Problem> {
        let now = platform::now().0;
        let id = request.view.payment_id.clone();
        {
            let memory = self.memory.borrow();
            if let Some((current, _)) = memory.sessions.get(&id) {
                if progress(request.view.status) < progress(current.status) {
                    return Ok(());
                }
            }
        }
        let sql = self.sql();
        sql.exec(
            "DELETE FROM sessions WHERE updated_at_ms < ?",
            vec![(now - SESSION_TTL_MS).into()],
        )
        .map_err(storage_error)?;
        sql.exec(
            "INSERT OR REPLACE INTO sessions (id, view, updated_at_ms) VALUES (?, ?, ?)",
            vec![
                id.as_str().into(),
                serde_json::to_string(&request.view)
                    .map_err(|e| storage_error(worker::Error::from(e)))?
                    .into(),
                now.into(),
            ],
        )
        .map_err(storage_error)?;
        let mut memory = self.memory.borrow_mut();
        let bucket = memory.sessions.remove(&id).and_then(|(_, bucket)| bucket);
        memory.sessions.insert(id, (request.view, bucket));
        Ok(())
    }

    /// Sandbox daily reset: empty windows, payment index and idempotency keys, fresh profile.
    fn reset(&self) -> Result<(), Problem> {
        let sql = self.sql();
        for statement in [
            "DELETE FROM gate_kv WHERE k != 'generation'",
            "DELETE FROM payment_index",
            "DELETE FROM idempotency",
            "DELETE FROM sessions",
        ] {
            sql.exec(statement, None).map_err(storage_error)?;
        }
        let mut memory = self.memory.borrow_mut();
        memory.windows.clear();
        memory.sessions.clear();
        memory.profile = None;
        Ok(())
    }

    /// Drops the cached profile so the next call reloads it from D1 (after an admin change).
    fn invalidate(&self) -> Result<(), Problem> {
        self.sql()
            .exec("DELETE FROM gate_kv WHERE k = 'profile'", None)
            .map_err(storage_error)?;
        self.memory.borrow_mut().profile = None;
        Ok(())
    }
}
