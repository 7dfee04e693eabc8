//! A POS client's gate, as pure decisions over plain state: revocation (token generation and jti
//! denylist), rate-limit windows, the status-poll allowance of each published PPM request, the
//! `Idempotency-Key` decision and the `pos_reference` index. The `ClientGate` Durable Object
//! stores this state and calls these functions. Invariants: a revoked token is never admitted; a
//! window never admits more than its limit; a published status never moves backwards; an
//! idempotency key is decided once (fresh), then replays, refuses a different request, or reports
//! the first one still running.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ids::{PaymentId, PosReference, TransactionId};
use crate::payment::view::PaymentView;
use crate::ratelimit::{
    Decision, Policy, SlidingWindow, TokenBucket, CLIENT_POLICY, POLL_CLIENT_POLICY, POLL_POLICY,
};
use crate::time::Millis;

/// What the gate knows of its client, cached from the D1 registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// A client's stored secrets (peppered salted hashes), kept with the cached profile so that a token
/// request is decided in the gate alone: the current secret, and the previous one until its grace
/// ends (`until_ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecrets {
    pub salt: String,
    pub hash: String,
    pub previous: Option<(String, String, i64)>,
}

impl ClientSecrets {
    /// Whether `secret` is the client's, now.
    pub fn verify(&self, pepper: &[u8], secret: &str, now: Millis) -> bool {
        use crate::auth::credentials::{verify_client_secret, StoredSecrets};
        let stored = StoredSecrets {
            salt: &self.salt,
            hash: &self.hash,
            previous: self
                .previous
                .as_ref()
                .map(|(salt, hash, until)| (salt.as_str(), hash.as_str(), *until)),
        };
        verify_client_secret(pepper, Some(stored), now.0, secret)
    }
}

/// A token request as the gate decides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenDecision {
    /// The secret is the client's and its issuance window has room: sign a token of this
    /// generation for this profile.
    Issue {
        profile: ClientProfile,
        generation: u64,
        limit: LimitInfo,
    },
    /// Not the client's secret: nothing was counted here (the caller counts the failure).
    WrongSecret,
    UnknownClient,
    Limited(LimitInfo),
}

/// A rate-limit decision on the wire, with everything the response headers need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The token presented with a call, as far as revocation is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRef {
    pub jti: String,
    pub generation: u64,
}

/// A new payment claims a `pos_reference` (unique per client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub pos_reference: PosReference,
    /// The payment that will hold it.
    pub payment: PaymentId,
}

/// Resolve a `pos_reference`, a transaction id or a payment id to this client's payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lookup {
    PosReference(PosReference),
    /// A transaction id or a payment (request) id.
    Id(String),
}

/// A payment of this client, as the gate indexes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub pos_reference: PosReference,
    pub payment: PaymentId,
    pub transaction_id: TransactionId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationResult {
    /// Claimed (or claimed again by the same payment): the transaction id to use.
    Reserved { transaction_id: TransactionId },
    /// Another payment of this client already uses the reference.
    Conflict,
}

/// Claims `reservation`'s reference, given what the index holds for it: the same payment may
/// claim it again (a retry). Returns the result and the entry to insert, if any.
pub fn reserve(
    existing: Option<&IndexEntry>,
    reservation: &Reservation,
    fresh_transaction_id: TransactionId,
) -> (ReservationResult, Option<IndexEntry>) {
    match existing {
        Some(entry) if entry.payment == reservation.payment => (
            ReservationResult::Reserved {
                transaction_id: entry.transaction_id.clone(),
            },
            None,
        ),
        Some(_) => (ReservationResult::Conflict, None),
        None => (
            ReservationResult::Reserved {
                transaction_id: fresh_transaction_id.clone(),
            },
            Some(IndexEntry {
                pos_reference: reservation.pos_reference.clone(),
                payment: reservation.payment.clone(),
                transaction_id: fresh_transaction_id,
            }),
        ),
    }
}

/// An `Idempotency-Key` with the fingerprint of the request that carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyCheck {
    pub key: String,
    pub fingerprint: String,
}

/// What is stored under a key: the first request's fingerprint and, once it finished, its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    pub fingerprint: String,
    pub response: Option<(u16, String)>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// How long a key and its response are kept, and how long a key whose first request never stored
/// a response (the isolate died) stays blocked.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3_600_000;
pub const IN_PROGRESS_TTL_MS: i64 = 60_000;

/// Decides a key given what is stored under it; `Fresh` means the caller stores a new key.
pub fn idempotency(
    existing: Option<&StoredKey>,
    check: &IdempotencyCheck,
    now: Millis,
) -> IdempotencyResult {
    let live = existing.filter(|k| match k.response {
        Some(_) => now.0 - k.created_at.0 < IDEMPOTENCY_TTL_MS,
        None => now.0 - k.created_at.0 < IN_PROGRESS_TTL_MS,
    });
    match live {
        None => IdempotencyResult::Fresh,
        Some(k) if k.fingerprint != check.fingerprint => IdempotencyResult::Mismatch,
        Some(StoredKey {
            response: Some((status, body)),
            ..
        }) => IdempotencyResult::Replay {
            status: *status,
            body: body.clone(),
        },
        Some(_) => IdempotencyResult::InProgress,
    }
}

/// How long the gate keeps a published request (polling lasts 90 s; later polls fall back to the
/// request's own object).
pub const SESSION_TTL_MS: i64 = 86_400_000;
/// Index entries older than this are dropped; D1 `transactions` keeps the history.
pub const INDEX_TTL_MS: i64 = 35 * 86_400_000;

/// A published PPM request and its poll allowance (in memory: a fresh gate starts full). Its
/// status body is encoded per poll: keeping it ready-made did not move the poll in `make bench`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub view: PaymentView,
    pub polls: Option<TokenBucket>,
}

impl Tracked {
    pub fn new(view: PaymentView) -> Self {
        Self { view, polls: None }
    }
}

/// The gate's state (everything but the index and the idempotency keys, which are queried).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateState {
    pub profile: Option<ClientProfile>,
    pub generation: u64,
    /// Revoked token ids and when each expires.
    pub revoked: HashMap<String, i64>,
    pub windows: HashMap<String, SlidingWindow>,
    pub sessions: HashMap<PaymentId, Tracked>,
    /// The client's secrets, cached with `profile` (dropped with it when the registry changes).
    pub secrets: Option<ClientSecrets>,
}

/// Why a call is not admitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    Limited(LimitInfo),
    Revoked,
    UnknownClient,
}

/// The answer to a status poll the gate can give alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollOutcome {
    Status {
        view: Box<PaymentView>,
        limit: LimitInfo,
    },
    Refused(Refusal),
    /// The gate holds no copy of this request: the caller asks the request's own object.
    Untracked,
}

impl GateState {
    pub fn is_revoked(&self, token: &TokenRef) -> bool {
        token.generation < self.generation || self.revoked.contains_key(&token.jti)
    }

    /// Counts one request in `policy`'s window, atomically with the check.
    pub fn admit(&mut self, policy: Policy, now: Millis) -> Decision {
        self.windows
            .entry(policy.name.to_string())
            .or_default()
            .admit(now.0, policy)
    }

    /// Revocation and the client's window (the 60/min one, or the poll ceiling for polls).
    pub fn admission(
        &mut self,
        token: &TokenRef,
        counted: bool,
        scale: u32,
        now: Millis,
    ) -> Result<(ClientProfile, Decision), Refusal> {
        let profile = self.profile.clone().ok_or(Refusal::UnknownClient)?;
        if self.is_revoked(token) {
            return Err(Refusal::Revoked);
        }
        let policy = if counted {
            CLIENT_POLICY
        } else {
            POLL_CLIENT_POLICY
        };
        let decision = self.admit(policy.scaled(scale), now);
        if !decision.allowed {
            return Err(Refusal::Limited(LimitInfo::from(&decision)));
        }
        Ok((profile, decision))
    }

    /// [`Self::admission`], with a route's own window (card reads) counted first: a call it
    /// refuses spends nothing of the client's window, so abusing one route cannot starve the
    /// client's payments. Reports the decision with the least room left.
    pub fn admission_in(
        &mut self,
        token: &TokenRef,
        counted: bool,
        window: Option<Policy>,
        scale: u32,
        now: Millis,
    ) -> Result<(ClientProfile, Decision), Refusal> {
        let Some(window) = window else {
            return self.admission(token, counted, scale, now);
        };
        if self.profile.is_none() {
            return Err(Refusal::UnknownClient);
        }
        if self.is_revoked(token) {
            return Err(Refusal::Revoked);
        }
        let own = self.admit(window.scaled(scale), now);
        if !own.allowed {
            return Err(Refusal::Limited(LimitInfo::from(&own)));
        }
        let (profile, client) = self.admission(token, counted, scale, now)?;
        Ok((
            profile,
            if own.remaining <= client.remaining {
                own
            } else {
                client
            },
        ))
    }

    /// A status poll: revocation, the client's poll ceiling, the request's own allowance (bursts
    /// of 5, 2 per second) and its published status.
    pub fn poll(
        &mut self,
        token: &TokenRef,
        id: &PaymentId,
        scale: u32,
        now: Millis,
    ) -> PollOutcome {
        if let Err(refusal) = self.admission(token, false, scale, now) {
            return PollOutcome::Refused(refusal);
        }
        let Some(tracked) = self.sessions.get_mut(id) else {
            return PollOutcome::Untracked;
        };
        let decision = tracked
            .polls
            .get_or_insert_with(|| TokenBucket::full(POLL_POLICY, now.0))
            .take(now.0, POLL_POLICY);
        let limit = LimitInfo::from(&decision);
        if decision.allowed {
            PollOutcome::Status {
                view: Box::new(tracked.view.clone()),
                limit,
            }
        } else {
            PollOutcome::Refused(Refusal::Limited(limit))
        }
    }

    /// Whether `view` is news: not older than what the gate holds, and not the same.
    pub fn accepts(&self, view: &PaymentView) -> bool {
        self.sessions.get(&view.payment_id).is_none_or(|current| {
            view.status.progress() >= current.view.status.progress() && current.view != *view
        })
    }

    /// Records a request's published view unless it would move its status backwards; true when it
    /// changed what the gate holds.
    pub fn track(&mut self, view: PaymentView) -> bool {
        if !self.accepts(&view) {
            return false;
        }
        let polls = self.sessions.remove(&view.payment_id).and_then(|t| t.polls);
        let mut tracked = Tracked::new(view);
        tracked.polls = polls;
        self.sessions
            .insert(tracked.view.payment_id.clone(), tracked);
        true
    }

    /// Denies one token until it expires; forgets denials of tokens already expired.
    pub fn revoke(&mut self, jti: String, expires_at_ms: i64, now: Millis) {
        self.revoked.retain(|_, exp| *exp >= now.0);
        self.revoked.insert(jti, expires_at_ms);
    }

    /// A token request: the secret checked against the cached secrets, then the issuance window
    /// counted — only for the secret's holder, so a stranger can never use it up.
    pub fn issue_token(
        &mut self,
        pepper: &[u8],
        secret: &str,
        policy: Policy,
        now: Millis,
    ) -> TokenDecision {
        let (Some(profile), Some(secrets)) = (self.profile.clone(), &self.secrets) else {
            return TokenDecision::UnknownClient;
        };
        if !secrets.verify(pepper, secret, now) {
            return TokenDecision::WrongSecret;
        }
        let decision = self.admit(policy, now);
        let limit = LimitInfo::from(&decision);
        if !decision.allowed {
            return TokenDecision::Limited(limit);
        }
        TokenDecision::Issue {
            profile,
            generation: self.generation,
            limit,
        }
    }

    /// Every token issued so far carries an older generation from now on.
    pub fn revoke_all(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::fixtures;
    use crate::payment::machine::{handle, Command, Request};
    use crate::payment::Status;

    fn profile() -> ClientProfile {
        ClientProfile {
            client_id: "a".into(),
            merchant_id: "M".into(),
            merchant_name: "Merchant".into(),
            merchant_accepts_payments: true,
            sandbox: true,
            read_only: false,
            scopes: "payments".into(),
        }
    }

    fn gate() -> GateState {
        GateState {
            profile: Some(profile()),
            ..GateState::default()
        }
    }

    fn token(jti: &str, generation: u64) -> TokenRef {
        TokenRef {
            jti: jti.into(),
            generation,
        }
    }

    fn t(ms: i64) -> Millis {
        Millis(1_780_000_000_000 + ms)
    }

    fn view(status: Status) -> PaymentView {
        let mut p = fixtures::session();
        p.status = status;
        PaymentView::of(&p).unwrap()
    }

    #[test]
    fn sixty_calls_a_minute_then_refused_with_headers() {
        let mut g = gate();
        for i in 0..60 {
            assert!(g.admission(&token("j", 0), true, 1, t(i)).is_ok());
        }
        let Err(Refusal::Limited(limit)) = g.admission(&token("j", 0), true, 1, t(60)) else {
            panic!("the 61st is refused")
        };
        assert_eq!((limit.remaining, limit.reset_secs), (0, 60));
        assert_eq!(limit.policy_header(), "\"client\";q=60;w=60");
        // Polls have their own ceiling and do not spend the client's minute.
        assert!(g.admission(&token("j", 0), false, 1, t(61)).is_ok());
        // A scaled limit (the bench) admits more.
        let mut g = gate();
        for i in 0..120 {
            assert!(g.admission(&token("j", 0), true, 2, t(i)).is_ok());
        }
    }

    #[test]
    fn a_routes_own_window_is_counted_first_and_spares_the_clients() {
        let cards = Some(crate::ratelimit::CARD_READ_POLICY);
        let mut g = gate();
        for i in 0..10 {
            let (_, reported) = g
                .admission_in(&token("j", 0), true, cards, 1, t(i))
                .unwrap();
            assert_eq!(
                reported.policy.name, "card-reads",
                "the tighter window is reported"
            );
        }
        let Err(Refusal::Limited(limit)) = g.admission_in(&token("j", 0), true, cards, 1, t(10))
        else {
            panic!("the 11th card read is refused")
        };
        assert_eq!((limit.name.as_str(), limit.limit), ("card-reads", 10));
        // Refused card reads spent nothing of the client's minute: 50 other calls still pass.
        for i in 0..50 {
            assert!(g.admission(&token("j", 0), true, 1, t(11 + i)).is_ok());
        }
        assert!(g.admission(&token("j", 0), true, 1, t(61)).is_err());
        // Revocation and unknown clients come before any counting.
        g.revoke_all();
        assert_eq!(
            g.admission_in(&token("j", 0), true, cards, 1, t(62))
                .unwrap_err(),
            Refusal::Revoked
        );
        assert_eq!(
            GateState::default()
                .admission_in(&token("j", 0), true, cards, 1, t(0))
                .unwrap_err(),
            Refusal::UnknownClient
        );
    }

    #[test]
    fn revoked_tokens_and_older_generations_are_refused() {
        let mut g = gate();
        g.revoke("old".into(), t(3_600_000).0, t(0));
        assert_eq!(
            g.admission(&token("old", 0), true, 1, t(1)).unwrap_err(),
            Refusal::Revoked
        );
        assert!(g.admission(&token("new", 0), true, 1, t(1)).is_ok());
        assert_eq!(g.revoke_all(), 1);
        assert_eq!(
            g.admission(&token("new", 0), true, 1, t(2)).unwrap_err(),
            Refusal::Revoked
        );
        assert!(g.admission(&token("newer", 1), true, 1, t(2)).is_ok());
        // Expired denials are forgotten at the next revocation.
        g.revoke("x".into(), t(10).0, t(0));
        g.revoke("y".into(), t(3_600_000).0, t(20));
        assert!(!g.revoked.contains_key("x") && g.revoked.contains_key("y"));
    }

    #[test]
    fn an_unknown_client_is_refused() {
        let mut g = GateState::default();
        assert_eq!(
            g.admission(&token("j", 0), true, 1, t(0)).unwrap_err(),
            Refusal::UnknownClient
        );
    }

    #[test]
    fn polls_read_the_published_status_within_each_requests_allowance() {
        let mut g = gate();
        let id = view(Status::Pending).payment_id;
        assert_eq!(g.poll(&token("j", 0), &id, 1, t(0)), PollOutcome::Untracked);
        assert!(g.track(view(Status::Pending)));
        for i in 0..5 {
            assert!(matches!(
                g.poll(&token("j", 0), &id, 1, t(i)),
                PollOutcome::Status { .. }
            ));
        }
        let PollOutcome::Refused(Refusal::Limited(limit)) = g.poll(&token("j", 0), &id, 1, t(5))
        else {
            panic!("a burst of 5")
        };
        assert_eq!(limit.name, "poll");
        // Two per second refill.
        assert!(matches!(
            g.poll(&token("j", 0), &id, 1, t(505)),
            PollOutcome::Status { .. }
        ));
        g.revoke_all();
        assert_eq!(
            g.poll(&token("j", 0), &id, 1, t(2_000)),
            PollOutcome::Refused(Refusal::Revoked)
        );
    }

    #[test]
    fn a_published_status_never_moves_backwards() {
        let mut g = gate();
        assert!(g.track(view(Status::Scanned)));
        assert!(!g.track(view(Status::Pending)), "a late publish");
        assert!(!g.track(view(Status::Scanned)), "nothing new");
        assert!(g.track(view(Status::Succeeded)));
        assert!(!g.track(view(Status::Scanned)));
        let id = view(Status::Pending).payment_id;
        assert_eq!(g.sessions[&id].view.status, Status::Succeeded);
    }

    #[test]
    fn the_gate_follows_a_whole_request() {
        // Every view the machine publishes, in any order, leaves the gate on the final one.
        let ctx = fixtures::ctx(1);
        let t1 = handle(
            Some(fixtures::session()),
            Command::Request(Request::Open),
            &ctx,
        );
        let t2 = handle(t1.state.clone(), Command::Wake, &fixtures::ctx(61));
        let views: Vec<PaymentView> = [t1, t2]
            .into_iter()
            .flat_map(|t| t.effects)
            .filter_map(|e| match e {
                crate::payment::machine::Effect::Publish(v) => Some(v),
                _ => None,
            })
            .collect();
        let mut g = gate();
        for v in views.iter().rev() {
            g.track(v.clone());
        }
        assert_eq!(
            g.sessions[&views[0].payment_id].view.status,
            Status::Expired
        );
    }

    #[test]
    fn a_token_is_counted_only_for_the_secrets_holder() {
        use crate::auth::credentials::hash_secret;
        let pepper = b"pepper";
        let mut g = gate();
        assert_eq!(
            g.issue_token(pepper, "s", crate::ratelimit::TOKEN_PER_CLIENT_POLICY, t(0)),
            TokenDecision::UnknownClient,
            "no secrets cached"
        );
        let salt = "00112233445566778899aabbccddeeff".to_string();
        g.secrets = Some(ClientSecrets {
            hash: hash_secret(pepper, &salt, "right"),
            salt,
            previous: None,
        });
        let policy = crate::ratelimit::TOKEN_PER_CLIENT_POLICY;
        for i in 0..100 {
            assert_eq!(
                g.issue_token(pepper, "wrong", policy, t(i)),
                TokenDecision::WrongSecret
            );
        }
        // A stranger's hundred wrong secrets used none of the client's window.
        for i in 0..policy.limit {
            assert!(matches!(
                g.issue_token(pepper, "right", policy, t(200 + i64::from(i))),
                TokenDecision::Issue { generation: 0, .. }
            ));
        }
        assert!(matches!(
            g.issue_token(pepper, "right", policy, t(400)),
            TokenDecision::Limited(_)
        ));
    }

    fn check(fingerprint: &str) -> IdempotencyCheck {
        IdempotencyCheck {
            key: "k".into(),
            fingerprint: fingerprint.into(),
        }
    }

    #[test]
    fn idempotency_fresh_replay_mismatch_in_progress_and_ttl() {
        assert_eq!(
            idempotency(None, &check("f"), t(0)),
            IdempotencyResult::Fresh
        );
        let running = StoredKey {
            fingerprint: "f".into(),
            response: None,
            created_at: t(0),
        };
        assert_eq!(
            idempotency(Some(&running), &check("f"), t(1)),
            IdempotencyResult::InProgress
        );
        assert_eq!(
            idempotency(Some(&running), &check("g"), t(1)),
            IdempotencyResult::Mismatch
        );
        // A first request that never finished frees its key after a minute.
        assert_eq!(
            idempotency(Some(&running), &check("f"), t(IN_PROGRESS_TTL_MS)),
            IdempotencyResult::Fresh
        );
        let done = StoredKey {
            response: Some((201, "{}".into())),
            ..running
        };
        assert_eq!(
            idempotency(Some(&done), &check("f"), t(1)),
            IdempotencyResult::Replay {
                status: 201,
                body: "{}".into()
            }
        );
        assert_eq!(
            idempotency(Some(&done), &check("f"), t(IDEMPOTENCY_TTL_MS)),
            IdempotencyResult::Fresh
        );
    }

    #[test]
    fn a_reference_belongs_to_one_payment() {
        let reservation = Reservation {
            pos_reference: PosReference::parse("R1").unwrap(),
            payment: fixtures::id(fixtures::PPM_ID),
        };
        let tx = TransactionId::parse("0b6f3f4e-3c1a-4d47-9a59-6c3e1f0f8a11").unwrap();
        let (result, insert) = reserve(None, &reservation, tx.clone());
        assert_eq!(
            result,
            ReservationResult::Reserved {
                transaction_id: tx.clone()
            }
        );
        let entry = insert.unwrap();
        let other_tx = TransactionId::parse("1b6f3f4e-3c1a-4d47-9a59-6c3e1f0f8a11").unwrap();
        // The same payment again: the same transaction id, nothing new stored.
        assert_eq!(
            reserve(Some(&entry), &reservation, other_tx.clone()),
            (ReservationResult::Reserved { transaction_id: tx }, None)
        );
        let elsewhere = Reservation {
            payment: fixtures::id(fixtures::EPM_ID),
            ..reservation
        };
        assert_eq!(
            reserve(Some(&entry), &elsewhere, other_tx),
            (ReservationResult::Conflict, None)
        );
    }
}
