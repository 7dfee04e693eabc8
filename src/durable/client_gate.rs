//! `ClientGate`: one Durable Object per POS client, a shell around `dyno_core::gate`. It keeps the
//! gate's state in memory (windows, revoked tokens, token generation, the cached registry profile,
//! published PPM requests) and in its SQLite tables through `gate_store` (with the
//! `pos_reference` index and idempotency keys), and answers every authenticated call in one round
//! trip. Invariants: each check-and-count runs with no await in between, so limits are exact under
//! any concurrency; state that cannot be read or decoded answers 503 and is never taken for empty,
//! so a revoked token can never work again because storage failed.

use std::cell::RefCell;
use std::collections::HashMap;

use dyno_core::gate::{
    self, ClientProfile, ClientSecrets, GateState, IdempotencyCheck, IdempotencyResult, IndexEntry,
    LimitInfo, Lookup, Reservation, ReservationResult, TokenDecision,
};
use dyno_core::ids::{ClientId, TransactionId};
use dyno_core::payment::view::PaymentView;
use dyno_core::protocol::{AuthorizeOutcome, AuthorizeRequest, GateCall, Granted};
use dyno_core::ratelimit::{
    checkpoint_due, RouteWindow, SlidingWindow, CLIENT_POLICY, POLL_CLIENT_POLICY,
    TOKEN_PER_CLIENT_POLICY,
};
use dyno_core::{ErrorCode, Millis, Problem};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorage, State};

use super::gate_store::{GateStore, IndexColumn};
use super::{decode_call, probe_storage, reply, rpc_only, unavailable};
use crate::config::{Config, Environment};
use crate::platform;
use crate::registry;

const OBJECT: &str = "ClientGate";

/// A storage failure: logged, answered 503.
fn stored(cause: String) -> Problem {
    unavailable(OBJECT, cause)
}

#[durable_object]
pub struct ClientGate {
    state: State,
    env: Env,
    /// `None` until storage was read successfully (and again after a sandbox corruption).
    gate: RefCell<Option<GateState>>,
    /// When each counted window was last written (`ratelimit::checkpoint_due`).
    checkpoints: RefCell<HashMap<&'static str, Millis>>,
}

impl DurableObject for ClientGate {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            gate: RefCell::new(None),
            checkpoints: RefCell::new(HashMap::new()),
        }
    }

    async fn fetch(&self, _req: Request) -> worker::Result<Response> {
        rpc_only()
    }
}

#[wasm_bindgen]
impl ClientGate {
    /// The one way in: a JSON `GateCall`, answered with the JSON of its `Result` (`stubs::send`).
    #[wasm_bindgen(js_name = answer)]
    pub async fn answer(&self, call: String) -> Result<String, JsValue> {
        let call = match decode_call::<GateCall>(OBJECT, &call) {
            Ok(call) => call,
            Err(problem) => return reply::<()>(Err(problem)),
        };
        if let GateCall::Health = call {
            return reply(probe_storage(OBJECT, &self.sql()));
        }
        if let Err(problem) = self.ensure_loaded() {
            return reply::<()>(Err(problem));
        }
        let now = platform::now();
        match call {
            GateCall::Authorize(request) => reply(self.authorize(request, now).await),
            GateCall::Poll {
                client,
                token,
                payment,
            } => reply(match self.profile(&client).await {
                Ok(_) => self.with(|g| g.poll(&token, &payment, self.scale(), now)),
                Err(problem) => Err(problem),
            }),
            GateCall::IssueToken { client, secret } => {
                reply(self.issue_token(&client, &secret, now).await)
            }
            GateCall::Revoke { jti, expires_at_ms } => reply(self.revoke(jti, expires_at_ms, now)),
            GateCall::RevokeAll => reply(self.revoke_all()),
            GateCall::Release(reservation) => {
                reply(self.store().release(&reservation).map_err(stored))
            }
            GateCall::StoreResponse { key, response } => {
                reply(self.store().answer_key(&key, response).map_err(stored))
            }
            GateCall::Track(view) => reply(self.track(view, now)),
            GateCall::Invalidate => reply(self.invalidate()),
            GateCall::Reset => reply(self.reset()),
            GateCall::CorruptState => reply(self.corrupt()),
            GateCall::Health => reply(probe_storage(OBJECT, &self.sql())),
        }
    }
}

impl ClientGate {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn store(&self) -> GateStore {
        GateStore(self.sql())
    }

    fn ensure_loaded(&self) -> Result<(), Problem> {
        if self.gate.borrow().is_none() {
            let gate = self
                .store()
                .load()
                .map_err(|e| unavailable(OBJECT, format!("cannot load state: {e}")))?;
            *self.gate.borrow_mut() = Some(gate);
            // What storage holds now is what was last written: the next count writes again.
            self.checkpoints.borrow_mut().clear();
        }
        Ok(())
    }

    /// Runs `f` on the loaded gate; never on a default one.
    fn with<T>(&self, f: impl FnOnce(&mut GateState) -> T) -> Result<T, Problem> {
        match self.gate.borrow_mut().as_mut() {
            Some(gate) => Ok(f(gate)),
            None => Err(unavailable(OBJECT, "state not loaded")),
        }
    }

    fn put(&self, key: &str, value: &str) -> Result<(), Problem> {
        self.store().put(key, value).map_err(stored)
    }

    fn scale(&self) -> u32 {
        Config::get(&self.env).map_or(1, |c| c.rate_limit_scale)
    }

    /// The client's profile: cached here, else read from the D1 registry.
    async fn profile(&self, client: &ClientId) -> Result<Option<ClientProfile>, Problem> {
        let cached = self.with(|g| g.profile.clone().filter(|_| g.secrets.is_some()))?;
        if let Some(profile) = cached {
            return Ok(Some(profile));
        }
        let db = registry::db(&self.env).map_err(|e| unavailable(OBJECT, format!("{e:?}")))?;
        let record = registry::find_client(&db, client.as_str())
            .await
            .map_err(|e| unavailable(OBJECT, format!("registry: {e:?}")))?;
        let Some(record) = record else {
            return Ok(None);
        };
        let secrets = ClientSecrets {
            salt: record.secret_salt.clone(),
            hash: record.secret_hash.clone(),
            previous: match (
                record.previous_salt.clone(),
                record.previous_hash.clone(),
                record.previous_valid_until_ms,
            ) {
                (Some(salt), Some(hash), Some(until)) => Some((salt, hash, until)),
                _ => None,
            },
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
        let text = serde_json::to_string(&profile).map_err(|e| unavailable(OBJECT, e))?;
        let secrets_text = serde_json::to_string(&secrets).map_err(|e| unavailable(OBJECT, e))?;
        self.put("profile", &text)?;
        self.put("secrets", &secrets_text)?;
        self.with(|g| {
            g.profile = Some(profile.clone());
            g.secrets = Some(secrets);
        })?;
        Ok(Some(profile))
    }

    /// A token request, decided here: the secret against the cached secrets (the registry is read
    /// only when the cache is empty), then the issuance window.
    async fn issue_token(
        &self,
        client: &ClientId,
        secret: &str,
        now: Millis,
    ) -> Result<TokenDecision, Problem> {
        if self.profile(client).await?.is_none() {
            return Ok(TokenDecision::UnknownClient);
        }
        let config = Config::get(&self.env)?;
        let policy = TOKEN_PER_CLIENT_POLICY.scaled(config.rate_limit_scale);
        let decision = self.with(|g| g.issue_token(&config.secret_pepper, secret, policy, now))?;
        if matches!(decision, TokenDecision::Issue { .. }) {
            self.persist_window(policy.name, now)?;
        }
        Ok(decision)
    }

    /// Writes a window after a count, at most once a checkpoint (the poll ceiling only guards
    /// against abuse: kept in memory, it is never written).
    fn persist_window(&self, policy: &'static str, now: Millis) -> Result<(), Problem> {
        if policy == dyno_core::ratelimit::POLL_CLIENT_POLICY.name {
            return Ok(());
        }
        let last = self.checkpoints.borrow().get(policy).copied();
        if !checkpoint_due(last, now) {
            return Ok(());
        }
        let encoded = self.with(|g| g.windows.get(policy).map(SlidingWindow::encode))?;
        if let Some(encoded) = encoded {
            self.put(&format!("window:{policy}"), &encoded)?;
            self.checkpoints.borrow_mut().insert(policy, now);
        }
        Ok(())
    }

    async fn authorize(
        &self,
        request: AuthorizeRequest,
        now: Millis,
    ) -> Result<AuthorizeOutcome, Problem> {
        self.profile(&request.client).await?;
        let scale = self.scale();
        let window = request.window.map(RouteWindow::policy);
        let admitted =
            self.with(|g| g.admission_in(&request.token, request.counted, window, scale, now))?;
        let (profile, decision) = match admitted {
            Ok(admitted) => admitted,
            Err(refusal) => return Ok(AuthorizeOutcome::Refused(refusal)),
        };
        let client_window = if request.counted {
            CLIENT_POLICY
        } else {
            POLL_CLIENT_POLICY
        };
        for policy in std::iter::once(client_window).chain(window) {
            self.persist_window(policy.name, now)?;
        }
        let idempotency = match &request.idempotency {
            Some(check) => Some(self.check_idempotency(check, now)?),
            None => None,
        };
        // A replayed or refused idempotent request claims nothing; nor does a merchant that cannot
        // take payments (MERCHANT_NOT_FOUND).
        let fresh = matches!(idempotency, None | Some(IdempotencyResult::Fresh));
        let reservation = match &request.reserve {
            Some(reserve) if fresh && profile.merchant_accepts_payments => {
                Some(self.reserve(reserve, now)?)
            }
            _ => None,
        };
        let found = match &request.lookup {
            Some(lookup) => self.lookup(lookup)?,
            None => None,
        };
        Ok(AuthorizeOutcome::Granted(Box::new(Granted {
            profile,
            limit: request.counted.then(|| LimitInfo::from(&decision)),
            idempotency,
            reservation,
            found,
        })))
    }

    fn check_idempotency(
        &self,
        check: &IdempotencyCheck,
        now: Millis,
    ) -> Result<IdempotencyResult, Problem> {
        let store = self.store();
        let existing = store.idempotency_key(check.key.as_str()).map_err(stored)?;
        let result = gate::idempotency(existing.as_ref(), check, now);
        if result == IdempotencyResult::Fresh {
            let expired_before = Millis(now.0 - gate::IDEMPOTENCY_TTL_MS);
            store
                .claim_key(
                    check.key.as_str(),
                    check.fingerprint.as_str(),
                    now,
                    expired_before,
                )
                .map_err(stored)?;
        }
        Ok(result)
    }

    fn index_row(&self, column: IndexColumn, value: &str) -> Result<Option<IndexEntry>, Problem> {
        self.store().index_entry(column, value).map_err(stored)
    }

    fn reserve(
        &self,
        reservation: &Reservation,
        now: Millis,
    ) -> Result<ReservationResult, Problem> {
        let existing = self.index_row(
            IndexColumn::PosReference,
            reservation.pos_reference.as_str(),
        )?;
        let fresh = TransactionId::from_random(platform::random_bytes());
        let (result, insert) = gate::reserve(existing.as_ref(), reservation, fresh);
        if let Some(entry) = insert {
            self.store()
                .insert_index(&entry, now, Millis(now.0 - gate::INDEX_TTL_MS))
                .map_err(stored)?;
        }
        Ok(result)
    }

    fn lookup(&self, lookup: &Lookup) -> Result<Option<IndexEntry>, Problem> {
        match lookup {
            Lookup::PosReference(reference) => {
                self.index_row(IndexColumn::PosReference, reference.as_str())
            }
            Lookup::Id(id) => match self.index_row(IndexColumn::TransactionId, id)? {
                Some(entry) => Ok(Some(entry)),
                None => self.index_row(IndexColumn::Payment, id),
            },
        }
    }

    fn revoke(&self, jti: String, expires_at_ms: i64, now: Millis) -> Result<(), Problem> {
        self.store()
            .revoke(&jti, expires_at_ms, now)
            .map_err(stored)?;
        self.with(|g| g.revoke(jti, expires_at_ms, now))?;
        Ok(())
    }

    /// Invalidates every token issued so far: they all carry an older generation.
    fn revoke_all(&self) -> Result<u64, Problem> {
        let generation = self.with(|g| g.generation)? + 1;
        self.put("generation", &generation.to_string())?;
        self.with(|g| g.generation = generation)?;
        Ok(generation)
    }

    /// Records a request's published view, unless it would move its status backwards.
    fn track(&self, view: PaymentView, now: Millis) -> Result<(), Problem> {
        if !self.with(|g| g.accepts(&view))? {
            return Ok(());
        }
        self.store()
            .track(&view, now, Millis(now.0 - gate::SESSION_TTL_MS))
            .map_err(stored)?;
        self.with(|g| g.track(view))?;
        Ok(())
    }

    /// Drops the cached profile and secrets so the next call reloads them from D1 (after an admin
    /// change or a secret rotation).
    fn invalidate(&self) -> Result<(), Problem> {
        self.store().forget_profile().map_err(stored)?;
        self.with(|g| {
            g.profile = None;
            g.secrets = None;
        })?;
        Ok(())
    }

    /// Sandbox daily reset: empty windows, payment index and idempotency keys, fresh profile.
    fn reset(&self) -> Result<(), Problem> {
        self.store().reset().map_err(stored)?;
        self.checkpoints.borrow_mut().clear();
        self.with(|g| {
            g.windows.clear();
            g.sessions.clear();
            g.profile = None;
            g.secrets = None;
        })
    }

    /// Sandbox fault switch: the stored generation becomes unreadable and memory is dropped, so
    /// the next call must read storage, fail, and answer 503.
    fn corrupt(&self) -> Result<(), Problem> {
        let sandbox = Config::get(&self.env).map(|c| c.environment == Environment::Sandbox);
        if sandbox != Ok(true) {
            return Err(Problem::new(
                ErrorCode::Forbidden,
                "Les pannes simulées n'existent qu'en sandbox.",
            ));
        }
        self.put("generation", "not-a-number")?;
        *self.gate.borrow_mut() = None;
        Ok(())
    }
}
