//! The D1 registry: merchants, POS clients, webhook endpoints and the audit log. Invariant: client
//! secrets are only ever written as salted, peppered hashes and webhook secrets only sealed.

use dyno_core::auth::lockout::{self, Guard};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

pub use dyno_core::records::{AuditEntry, OutcomeRow, TransactionRow};

use crate::error::{AppError, AppResult};

pub fn db(env: &Env) -> AppResult<D1Database> {
    env.d1("DB").map_err(AppError::internal)
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

fn n(v: i64) -> JsValue {
    JsValue::from_f64(v as f64)
}

fn b(v: bool) -> JsValue {
    n(i64::from(v))
}

fn opt(v: Option<&str>) -> JsValue {
    v.map(s).unwrap_or(JsValue::NULL)
}

/// A POS client joined with its merchant, as the token endpoint and the gate need it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRecord {
    pub client_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub affiliated: i64,
    pub merchant_active: i64,
    pub secret_salt: String,
    pub secret_hash: String,
    pub previous_salt: Option<String>,
    pub previous_hash: Option<String>,
    pub previous_valid_until_ms: Option<i64>,
    pub sandbox: i64,
    pub scopes: String,
    pub read_only: i64,
}

impl ClientRecord {
    /// The seed's MERCHANT_NOT_FOUND covers both "not affiliated" and "deactivated".
    pub fn merchant_accepts_payments(&self) -> bool {
        self.affiliated == 1 && self.merchant_active == 1
    }
}

pub async fn find_client(db: &D1Database, client_id: &str) -> AppResult<Option<ClientRecord>> {
    Ok(db
        .prepare(
            "SELECT c.client_id, c.merchant_id, m.name AS merchant_name, m.affiliated, m.active AS merchant_active,
                    c.secret_salt, c.secret_hash, c.previous_salt, c.previous_hash, c.previous_valid_until_ms,
                    c.sandbox, c.scopes, c.read_only
             FROM pos_clients c JOIN merchants m ON m.merchant_id = c.merchant_id
             WHERE c.client_id = ?",
        )
        .bind(&[s(client_id)])?
        .first::<ClientRecord>(None)
        .await?)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Merchant {
    pub merchant_id: String,
    pub name: String,
    pub affiliated: bool,
    pub active: bool,
    pub created_at_ms: i64,
}

#[derive(Deserialize)]
struct MerchantRow {
    merchant_id: String,
    name: String,
    affiliated: i64,
    active: i64,
    created_at_ms: i64,
}

impl From<MerchantRow> for Merchant {
    fn from(r: MerchantRow) -> Self {
        Merchant {
            merchant_id: r.merchant_id,
            name: r.name,
            affiliated: r.affiliated == 1,
            active: r.active == 1,
            created_at_ms: r.created_at_ms,
        }
    }
}

pub async fn find_merchant(db: &D1Database, merchant_id: &str) -> AppResult<Option<Merchant>> {
    Ok(db
        .prepare("SELECT merchant_id, name, affiliated, active, created_at_ms FROM merchants WHERE merchant_id = ?")
        .bind(&[s(merchant_id)])?
        .first::<MerchantRow>(None)
        .await?
        .map(Merchant::from))
}

/// Inserts a merchant; returns false if the id already exists.
pub async fn insert_merchant(db: &D1Database, m: &Merchant) -> AppResult<bool> {
    let result = db
        .prepare("INSERT OR IGNORE INTO merchants (merchant_id, name, affiliated, active, created_at_ms) VALUES (?, ?, ?, ?, ?)")
        .bind(&[s(&m.merchant_id), s(&m.name), b(m.affiliated), b(m.active), n(m.created_at_ms)])?
        .run()
        .await?;
    Ok(changes(&result) > 0)
}

pub async fn update_merchant(
    db: &D1Database,
    merchant_id: &str,
    affiliated: Option<bool>,
    active: Option<bool>,
) -> AppResult<bool> {
    let result = db
        .prepare(
            "UPDATE merchants SET affiliated = COALESCE(?, affiliated), active = COALESCE(?, active) WHERE merchant_id = ?",
        )
        .bind(&[
            affiliated.map(b).unwrap_or(JsValue::NULL),
            active.map(b).unwrap_or(JsValue::NULL),
            s(merchant_id),
        ])?
        .run()
        .await?;
    Ok(changes(&result) > 0)
}

pub async fn client_ids_of_merchant(db: &D1Database, merchant_id: &str) -> AppResult<Vec<String>> {
    #[derive(Deserialize)]
    struct Row {
        client_id: String,
    }
    Ok(db
        .prepare("SELECT client_id FROM pos_clients WHERE merchant_id = ?")
        .bind(&[s(merchant_id)])?
        .all()
        .await?
        .results::<Row>()?
        .into_iter()
        .map(|r| r.client_id)
        .collect())
}

pub struct NewClient<'a> {
    pub client_id: &'a str,
    pub merchant_id: &'a str,
    pub secret_salt: &'a str,
    pub secret_hash: &'a str,
    pub sandbox: bool,
    pub scopes: &'a str,
    pub read_only: bool,
    pub now_ms: i64,
}

/// Inserts a client, or (with `replace`) resets an existing one; returns false on a duplicate id.
pub async fn insert_client(db: &D1Database, c: &NewClient<'_>, replace: bool) -> AppResult<bool> {
    let verb = if replace {
        "INSERT OR REPLACE"
    } else {
        "INSERT OR IGNORE"
    };
    let result = db
        .prepare(format!(
            "{verb} INTO pos_clients (client_id, merchant_id, secret_salt, secret_hash, sandbox, scopes, read_only, created_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&[
            s(c.client_id),
            s(c.merchant_id),
            s(c.secret_salt),
            s(c.secret_hash),
            b(c.sandbox),
            s(c.scopes),
            b(c.read_only),
            n(c.now_ms),
        ])?
        .run()
        .await?;
    Ok(changes(&result) > 0)
}

/// Replaces the secret; the previous one stays valid until `previous_valid_until_ms`.
pub async fn rotate_client_secret(
    db: &D1Database,
    client_id: &str,
    salt: &str,
    hash: &str,
    previous_valid_until_ms: i64,
) -> AppResult<bool> {
    let result = db
        .prepare(
            "UPDATE pos_clients SET previous_salt = secret_salt, previous_hash = secret_hash, previous_valid_until_ms = ?,
                    secret_salt = ?, secret_hash = ?
             WHERE client_id = ?",
        )
        .bind(&[n(previous_valid_until_ms), s(salt), s(hash), s(client_id)])?
        .run()
        .await?;
    Ok(changes(&result) > 0)
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEndpoint {
    pub url: String,
    pub secret_encrypted: String,
    /// JSON array of the event names this endpoint receives.
    pub events: String,
    pub updated_at_ms: i64,
}

impl WebhookEndpoint {
    /// The subscribed events; an unreadable list means the default (the seed's event only).
    pub fn events(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }
}

pub async fn upsert_webhook_endpoint(
    db: &D1Database,
    client_id: &str,
    url: &str,
    secret_encrypted: &str,
    events: &[String],
    now_ms: i64,
) -> AppResult<()> {
    let events = serde_json::to_string(events)?;
    db.prepare(
        "INSERT INTO webhook_endpoints (client_id, url, secret_encrypted, events, updated_at_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (client_id) DO UPDATE SET url = excluded.url, secret_encrypted = excluded.secret_encrypted,
                                                events = excluded.events, updated_at_ms = excluded.updated_at_ms",
    )
    .bind(&[s(client_id), s(url), s(secret_encrypted), s(&events), n(now_ms)])?
    .run()
    .await?;
    Ok(())
}

pub async fn webhook_endpoint(
    db: &D1Database,
    client_id: &str,
) -> AppResult<Option<WebhookEndpoint>> {
    Ok(db
        .prepare("SELECT url, secret_encrypted, events, updated_at_ms FROM webhook_endpoints WHERE client_id = ?")
        .bind(&[s(client_id)])?
        .first::<WebhookEndpoint>(None)
        .await?)
}

/// Writes audit entries idempotently (a redelivered event is ignored by its id).
pub async fn insert_audit(db: &D1Database, entries: &[AuditEntry]) -> AppResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut statements = Vec::with_capacity(entries.len());
    for e in entries {
        statements.push(
            db.prepare(
                "INSERT OR IGNORE INTO audit_log (event_id, client_id, actor, action, resource, outcome, status, request_id, ip, at_ms, count, last_at_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&[
                s(&e.event_id),
                opt(e.client_id.as_deref()),
                s(&e.actor),
                s(&e.action),
                opt(e.resource.as_deref()),
                s(&e.outcome),
                n(e.status),
                s(&e.request_id),
                opt(e.ip.as_deref()),
                n(e.at_ms),
                n(i64::from(e.count)),
                e.last_at_ms.map_or(JsValue::NULL, n),
            ])?,
        );
    }
    db.batch(statements).await?;
    Ok(())
}

pub async fn list_audit(
    db: &D1Database,
    client_id: Option<&str>,
    before_ms: i64,
    limit: i64,
) -> AppResult<Vec<AuditEntry>> {
    Ok(db
        .prepare(
            "SELECT * FROM audit_log WHERE (?1 IS NULL OR client_id = ?1) AND at_ms < ?2
             ORDER BY at_ms DESC, event_id DESC LIMIT ?3",
        )
        .bind(&[opt(client_id), n(before_ms), n(limit)])?
        .all()
        .await?
        .results::<AuditEntry>()?)
}

/// Deletes audit entries older than `before_ms`; returns how many.
pub async fn purge_audit(db: &D1Database, before_ms: i64) -> AppResult<u64> {
    let result = db
        .prepare("DELETE FROM audit_log WHERE at_ms < ?")
        .bind(&[n(before_ms)])?
        .run()
        .await?;
    Ok(changes(&result))
}

fn changes(result: &worker::D1Result) -> u64 {
    result
        .meta()
        .ok()
        .flatten()
        .and_then(|m| m.changes)
        .map(|c| c as u64)
        .unwrap_or(0)
}

/// Creates or resets an employee wallet login (PIN stored as a peppered hash). Its PIN guard
/// (`guard_key`) goes in the same transaction: a new PIN makes earlier guesses worthless, so the
/// locks, the ladder and the day's count all restart. With `sign_out`, a reset also moves the token
/// generation on, so no token issued under the old PIN outlives it.
pub async fn upsert_wallet(
    db: &D1Database,
    wallet_id: &str,
    client_id: &str,
    display_name: &str,
    (pin_salt, pin_hash): &(String, String),
    sign_out: bool,
    guard_key: &str,
) -> AppResult<()> {
    db.batch(vec![
        db.prepare(
            "INSERT INTO wallet_credentials (wallet_id, client_id, display_name, pin_salt, pin_hash)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (wallet_id) DO UPDATE SET client_id = ?2, display_name = ?3, pin_salt = ?4,
                 pin_hash = ?5, token_generation = token_generation + ?6",
        )
        .bind(&[
            s(wallet_id),
            s(client_id),
            s(display_name),
            s(pin_salt),
            s(pin_hash),
            n(i64::from(sign_out)),
        ])?,
        db.prepare("DELETE FROM wallet_pin_guards WHERE guard_key = ?")
            .bind(&[s(guard_key)])?,
    ])
    .await?;
    Ok(())
}

/// Writes money movements idempotently (a redelivered event is ignored by its movement id).
pub async fn insert_transactions(db: &D1Database, rows: &[TransactionRow]) -> AppResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut statements = Vec::with_capacity(rows.len());
    for r in rows {
        statements.push(
            db.prepare(
                "INSERT OR IGNORE INTO transactions (movement_id, kind, transaction_id, payment_request_id, flow, client_id,
                    merchant_id, pos_reference, status, amount_minor, currency, wallet_type, card_last4, cynod_reference,
                    confirmation_code, occurred_at_ms, sandbox)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&[
                s(&r.movement_id),
                s(&r.kind),
                s(&r.transaction_id),
                opt(r.payment_request_id.as_deref()),
                s(&r.flow),
                s(&r.client_id),
                s(&r.merchant_id),
                s(&r.pos_reference),
                s(&r.status),
                n(r.amount_minor),
                s(&r.currency),
                opt(r.wallet_type.as_deref()),
                opt(r.card_last4.as_deref()),
                s(&r.cynod_reference),
                opt(r.confirmation_code.as_deref()),
                n(r.occurred_at_ms),
                b(r.sandbox),
            ])?,
        );
    }
    db.batch(statements).await?;
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
pub struct WalletCredential {
    pub wallet_id: String,
    pub display_name: String,
    pub pin_salt: String,
    pub pin_hash: String,
    /// Tokens issued under an older generation are signed out.
    pub token_generation: u64,
}

pub async fn find_wallet(db: &D1Database, wallet_id: &str) -> AppResult<Option<WalletCredential>> {
    Ok(db
        .prepare("SELECT * FROM wallet_credentials WHERE wallet_id = ?")
        .bind(&[s(wallet_id)])?
        .first::<WalletCredential>(None)
        .await?)
}

/// Signs a wallet out everywhere: every token issued to it so far stops working at once.
pub async fn sign_out_wallet(db: &D1Database, wallet_id: &str) -> AppResult<()> {
    db.prepare(
        "UPDATE wallet_credentials SET token_generation = token_generation + 1 WHERE wallet_id = ?",
    )
    .bind(&[s(wallet_id)])?
    .run()
    .await?;
    Ok(())
}

/// Reserves one PIN comparison on the guard `guard_key` (created if the id was never tried) and
/// reads the wallet's credential, in one round trip: a D1 batch is one transaction, and the same
/// statements run whether or not the wallet is enrolled.
pub async fn reserve_pin_attempt(
    db: &D1Database,
    guard_key: &str,
    wallet_id: &str,
    now_ms: i64,
) -> AppResult<(Guard, Option<WalletCredential>)> {
    let results = db
        .batch(vec![
            db.prepare(lockout::INSERT_GUARD_SQL)
                .bind(&[s(guard_key)])?,
            db.prepare(lockout::reserve_sql())
                .bind(&[s(guard_key), n(now_ms)])?,
            db.prepare("SELECT * FROM wallet_credentials WHERE wallet_id = ?")
                .bind(&[s(wallet_id)])?,
        ])
        .await?;
    let first = |index: usize| results.get(index).ok_or("missing batch result");
    let guard = first(1)
        .map_err(AppError::internal)?
        .results::<Guard>()?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::internal("PIN guard: no row returned"))?;
    let wallet = first(2)
        .map_err(AppError::internal)?
        .results::<WalletCredential>()?
        .into_iter()
        .next();
    Ok((guard, wallet))
}

/// The right PIN: clears the guard's streak and locks, and gives back the reservation made in
/// window `window_start_ms`.
pub async fn settle_pin_success(
    db: &D1Database,
    guard_key: &str,
    window_start_ms: i64,
) -> AppResult<()> {
    db.prepare(lockout::SETTLE_SUCCESS_SQL)
        .bind(&[s(guard_key), n(window_start_ms)])?
        .run()
        .await?;
    Ok(())
}

/// The guard as it is; an id never tried has an empty one.
pub async fn pin_guard(db: &D1Database, guard_key: &str) -> AppResult<Guard> {
    Ok(db
        .prepare(lockout::read_sql())
        .bind(&[s(guard_key)])?
        .first::<Guard>(None)
        .await?
        .unwrap_or_default())
}

/// Lifts a temporary lock; `None` when the wallet is locked until a re-PIN.
pub async fn unlock_pin_guard(db: &D1Database, guard_key: &str) -> AppResult<Option<Guard>> {
    let results = db
        .batch(vec![
            db.prepare(lockout::INSERT_GUARD_SQL)
                .bind(&[s(guard_key)])?,
            db.prepare(lockout::unlock_sql()).bind(&[s(guard_key)])?,
        ])
        .await?;
    Ok(match results.get(1) {
        Some(result) => result.results::<Guard>()?.into_iter().next(),
        None => None,
    })
}

/// Forgets guards quiet for 30 days and not locked (a lock until re-PIN is never forgotten).
pub async fn purge_pin_guards(db: &D1Database, now_ms: i64) -> AppResult<u64> {
    let result = db
        .prepare(
            "DELETE FROM wallet_pin_guards WHERE locked_until_ms < ?1 AND window_start_ms < ?2",
        )
        .bind(&[n(now_ms), n(now_ms - 30 * 24 * 3_600_000)])?
        .run()
        .await?;
    Ok(changes(&result))
}

/// A webhook delivery (one event for one client), as logged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub delivery_id: String,
    pub client_id: String,
    pub event: String,
    pub payment_id: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The request's own webhook URL, if it had one.
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub delivery_id: String,
    pub attempt: i64,
    pub at_ms: i64,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// Logs a delivery the first time it is attempted (later attempts find it).
pub async fn ensure_delivery(db: &D1Database, d: &Delivery) -> AppResult<()> {
    db.prepare(
        "INSERT OR IGNORE INTO webhook_deliveries (delivery_id, client_id, event, payment_id, body, status, attempts, created_at_ms, updated_at_ms, url)
         VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
    )
    .bind(&[s(&d.delivery_id), s(&d.client_id), s(&d.event), s(&d.payment_id), s(&d.body), n(d.created_at_ms), n(d.created_at_ms), opt(d.url.as_deref())])?
    .run()
    .await?;
    Ok(())
}

/// Writes how payments ended, idempotently by payment id.
pub async fn insert_outcomes(db: &D1Database, rows: &[OutcomeRow]) -> AppResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut statements = Vec::with_capacity(rows.len());
    for r in rows {
        statements.push(
            db.prepare(
                "INSERT OR IGNORE INTO payment_outcomes (payment_id, client_id, merchant_id, flow, status, reason, amount_minor, at_ms, sandbox)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&[
                s(&r.payment_id),
                s(&r.client_id),
                s(&r.merchant_id),
                s(&r.flow),
                s(&r.status),
                opt(r.reason.as_deref()),
                n(r.amount_minor),
                n(r.at_ms),
                b(r.sandbox),
            ])?,
        );
    }
    db.batch(statements).await?;
    Ok(())
}

/// Records what the sandbox's webhook receiver got, keeping the last 100.
pub async fn insert_sandbox_receipt(
    db: &D1Database,
    delivery_id: Option<&str>,
    received_at_ms: i64,
    headers: &str,
    body: &str,
    verified: bool,
) -> AppResult<()> {
    let insert = db
        .prepare("INSERT INTO sandbox_receipts (delivery_id, received_at_ms, headers, body, verified) VALUES (?, ?, ?, ?, ?)")
        .bind(&[opt(delivery_id), n(received_at_ms), s(headers), s(body), b(verified)])?;
    let trim = db.prepare(
        "DELETE FROM sandbox_receipts WHERE receipt_id <= (SELECT MAX(receipt_id) - 100 FROM sandbox_receipts)",
    );
    db.batch(vec![insert, trim]).await?;
    Ok(())
}

/// A receipt of the sandbox receiver.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxReceipt {
    pub delivery_id: Option<String>,
    pub received_at_ms: i64,
    pub headers: String,
    pub body: String,
    pub verified: i64,
}

/// The receipts of one client's deliveries, newest first.
pub async fn sandbox_receipts(
    db: &D1Database,
    client_id: &str,
    limit: i64,
) -> AppResult<Vec<SandboxReceipt>> {
    Ok(db
        .prepare(
            "SELECT r.delivery_id, r.received_at_ms, r.headers, r.body, r.verified
             FROM sandbox_receipts r JOIN webhook_deliveries d ON d.delivery_id = r.delivery_id
             WHERE d.client_id = ? ORDER BY r.receipt_id DESC LIMIT ?",
        )
        .bind(&[s(client_id), n(limit)])?
        .all()
        .await?
        .results::<SandboxReceipt>()?)
}

/// Attempts already made for a delivery (the next one is this plus one).
pub async fn attempts_made(db: &D1Database, delivery_id: &str) -> AppResult<i64> {
    #[derive(Deserialize)]
    struct Row {
        n: i64,
    }
    Ok(db
        .prepare("SELECT count(*) AS n FROM webhook_attempts WHERE delivery_id = ?")
        .bind(&[s(delivery_id)])?
        .first::<Row>(None)
        .await?
        .map(|r| r.n)
        .unwrap_or(0))
}

/// Records one attempt and the delivery's resulting status, together.
pub async fn record_attempt(db: &D1Database, a: &Attempt, status: &str) -> AppResult<()> {
    db.batch(vec![
        db.prepare(
            "INSERT OR REPLACE INTO webhook_attempts (delivery_id, attempt, at_ms, http_status, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&[
            s(&a.delivery_id),
            n(a.attempt),
            n(a.at_ms),
            a.http_status.map(n).unwrap_or(JsValue::NULL),
            n(a.latency_ms),
            opt(a.error.as_deref()),
        ])?,
        db.prepare("UPDATE webhook_deliveries SET status = ?, attempts = ?, updated_at_ms = ? WHERE delivery_id = ?")
            .bind(&[s(status), n(a.attempt), n(a.at_ms), s(&a.delivery_id)])?,
    ])
    .await?;
    Ok(())
}

pub async fn set_delivery_status(
    db: &D1Database,
    delivery_id: &str,
    status: &str,
    now_ms: i64,
) -> AppResult<()> {
    db.prepare("UPDATE webhook_deliveries SET status = ?, updated_at_ms = ? WHERE delivery_id = ?")
        .bind(&[s(status), n(now_ms), s(delivery_id)])?
        .run()
        .await?;
    Ok(())
}

pub async fn find_delivery(db: &D1Database, delivery_id: &str) -> AppResult<Option<Delivery>> {
    Ok(db
        .prepare("SELECT * FROM webhook_deliveries WHERE delivery_id = ?")
        .bind(&[s(delivery_id)])?
        .first::<Delivery>(None)
        .await?)
}

/// A client's deliveries, newest first, with every attempt.
pub async fn list_deliveries(
    db: &D1Database,
    client_id: &str,
    limit: i64,
) -> AppResult<Vec<(Delivery, Vec<Attempt>)>> {
    let deliveries = db
        .prepare("SELECT * FROM webhook_deliveries WHERE client_id = ? ORDER BY created_at_ms DESC, delivery_id LIMIT ?")
        .bind(&[s(client_id), n(limit)])?
        .all()
        .await?
        .results::<Delivery>()?;
    let attempts = db
        .prepare(
            "SELECT a.* FROM webhook_attempts a JOIN webhook_deliveries d ON d.delivery_id = a.delivery_id
             WHERE d.client_id = ? ORDER BY a.delivery_id, a.attempt",
        )
        .bind(&[s(client_id)])?
        .all()
        .await?
        .results::<Attempt>()?;
    Ok(deliveries
        .into_iter()
        .map(|d| {
            let mine = attempts
                .iter()
                .filter(|a| a.delivery_id == d.delivery_id)
                .cloned()
                .collect();
            (d, mine)
        })
        .collect())
}

/// Sandbox daily reset: the day's payments, deliveries and wallet PIN guards go; the registry stays.
pub async fn reset_sandbox_activity(db: &D1Database) -> AppResult<()> {
    db.batch(vec![
        db.prepare("DELETE FROM transactions WHERE sandbox = 1"),
        db.prepare("DELETE FROM payment_outcomes WHERE sandbox = 1"),
        db.prepare("DELETE FROM sandbox_receipts"),
        db.prepare("DELETE FROM webhook_attempts"),
        db.prepare("DELETE FROM webhook_deliveries"),
        db.prepare("DELETE FROM wallet_pin_guards"),
    ])
    .await?;
    Ok(())
}

/// A payment row of D1 `transactions`, with what has been refunded of it.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentRow {
    pub movement_id: String,
    pub transaction_id: String,
    pub payment_request_id: Option<String>,
    pub flow: String,
    pub pos_reference: String,
    pub amount_minor: i64,
    pub wallet_type: Option<String>,
    pub card_last4: Option<String>,
    pub confirmation_code: Option<String>,
    pub occurred_at_ms: i64,
    pub refunded_minor: i64,
}

/// Filters of the payment listing; `before` is the keyset cursor `(occurred_at_ms, movement_id)`.
pub struct PaymentFilter<'a> {
    pub client_id: &'a str,
    pub from_ms: i64,
    pub to_ms: i64,
    pub pos_reference: Option<&'a str>,
    /// `epm` or `ppm` (the `succeeded` and `confirmed` statuses).
    pub flow: Option<&'a str>,
    /// `none`, `partially_refunded` or `refunded`.
    pub refund_status: Option<&'a str>,
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

/// A client's payments, newest first, by keyset pagination: rows inserted meanwhile never shift
/// a later page.
pub async fn list_payments(db: &D1Database, f: &PaymentFilter<'_>) -> AppResult<Vec<PaymentRow>> {
    let (cursor_at, cursor_id) = f.before.clone().unwrap_or((i64::MAX / 2, String::new()));
    Ok(db
        .prepare(
            "SELECT * FROM (
                SELECT t.movement_id, t.transaction_id, t.payment_request_id, t.flow, t.pos_reference, t.amount_minor,
                       t.currency, t.wallet_type, t.card_last4, t.confirmation_code, t.occurred_at_ms,
                       (SELECT COALESCE(SUM(r.amount_minor), 0) FROM transactions r
                         WHERE r.kind = 'refund' AND r.transaction_id = t.transaction_id) AS refunded_minor
                FROM transactions t
                WHERE t.client_id = ?1 AND t.kind = 'payment' AND t.occurred_at_ms >= ?2 AND t.occurred_at_ms < ?3
                  AND (?4 IS NULL OR t.pos_reference = ?4)
                  AND (t.occurred_at_ms < ?5 OR (t.occurred_at_ms = ?5 AND (?6 = '' OR t.movement_id < ?6)))
             )
             WHERE (?9 IS NULL OR flow = ?9)
               AND (?7 IS NULL
                OR (?7 = 'none' AND refunded_minor = 0)
                OR (?7 = 'partially_refunded' AND refunded_minor > 0 AND refunded_minor < amount_minor)
                OR (?7 = 'refunded' AND refunded_minor >= amount_minor))
             ORDER BY occurred_at_ms DESC, movement_id DESC
             LIMIT ?8",
        )
        .bind(&[
            s(f.client_id),
            n(f.from_ms),
            n(f.to_ms),
            opt(f.pos_reference),
            n(cursor_at),
            s(&cursor_id),
            opt(f.refund_status),
            n(f.limit),
            opt(f.flow),
        ])?
        .all()
        .await?
        .results::<PaymentRow>()?)
}

/// Every money movement of a merchant in `[from, to)`, for reconciliation.
pub async fn merchant_movements(
    db: &D1Database,
    merchant_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> AppResult<Vec<dyno_core::report::Movement>> {
    Ok(db
        .prepare(
            "SELECT movement_id, kind, transaction_id, payment_request_id, pos_reference, flow, cynod_reference, amount_minor,
                    wallet_type, card_last4, occurred_at_ms
             FROM transactions WHERE merchant_id = ? AND occurred_at_ms >= ? AND occurred_at_ms < ?
             ORDER BY occurred_at_ms, movement_id",
        )
        .bind(&[s(merchant_id), n(from_ms), n(to_ms)])?
        .all()
        .await?
        .results()?)
}

/// A day's figures for the console, in one round trip: the merchant's payments summed by hour
/// slot and its outcomes counted, the client's deliveries counted and its latest attempts.
pub async fn day_figures(
    db: &D1Database,
    merchant_id: &str,
    client_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> AppResult<dyno_core::summary::DayFigures> {
    use dyno_core::summary::{HOUR_MS, LATENCY_SAMPLE};
    let window = [s(merchant_id), n(from_ms), n(to_ms)];
    let client_window = [s(client_id), n(from_ms), n(to_ms)];
    let results = db
        .batch(vec![
            db.prepare(format!(
                "SELECT CAST((occurred_at_ms - ?2) / {HOUR_MS} AS INTEGER) AS slot, COUNT(*) AS count, SUM(amount_minor) AS amount_minor
                 FROM transactions WHERE merchant_id = ?1 AND kind = 'payment' AND occurred_at_ms >= ?2 AND occurred_at_ms < ?3
                 GROUP BY slot"
            ))
            .bind(&window)?,
            db.prepare(
                "SELECT flow, status, reason, COUNT(*) AS count FROM payment_outcomes
                 WHERE merchant_id = ?1 AND at_ms >= ?2 AND at_ms < ?3 GROUP BY flow, status, reason",
            )
            .bind(&window)?,
            db.prepare(
                "SELECT status, COUNT(*) AS count FROM webhook_deliveries
                 WHERE client_id = ?1 AND created_at_ms >= ?2 AND created_at_ms < ?3 GROUP BY status",
            )
            .bind(&client_window)?,
            db.prepare(format!(
                "SELECT a.at_ms, a.latency_ms, a.http_status FROM webhook_attempts a
                 JOIN webhook_deliveries d ON d.delivery_id = a.delivery_id
                 WHERE d.client_id = ?1 AND a.at_ms >= ?2 AND a.at_ms < ?3
                 ORDER BY a.at_ms DESC, a.delivery_id, a.attempt DESC LIMIT {LATENCY_SAMPLE}"
            ))
            .bind(&client_window)?,
        ])
        .await?;
    let [hours, outcomes, deliveries, attempts] = <[_; 4]>::try_from(results)
        .map_err(|_| AppError::internal("D1 batch: 4 results expected"))?;
    Ok(dyno_core::summary::DayFigures {
        hours: hours.results()?,
        outcomes: outcomes.results()?,
        deliveries: deliveries.results()?,
        attempts: attempts.results()?,
    })
}

/// An operator movement about to be journaled (`operator_movements`, one row per reference).
pub struct OperatorMovement<'a> {
    pub reference: &'a str,
    pub day: &'a str,
    pub direction: &'a str,
    pub card_number: &'a str,
    pub amount_minor: i64,
    pub operator: &'a str,
    pub request_id: &'a str,
    pub at_ms: i64,
}

pub async fn find_operator_movement(
    db: &D1Database,
    reference: &str,
) -> AppResult<Option<dyno_core::cards::JournalEntry>> {
    Ok(db
        .prepare("SELECT direction, card_number, amount_minor, status FROM operator_movements WHERE reference = ?")
        .bind(&[s(reference)])?
        .first(None)
        .await?)
}

/// Counts a movement against its day's cap in one statement — the sum of the day's counted
/// movements and the insert (or the re-reservation of a released row of the same movement) are
/// atomic, so concurrent movements can never exceed the cap together. False: over the cap, or the
/// reference was taken meanwhile (the caller reads it again).
pub async fn reserve_operator_movement(
    db: &D1Database,
    movement: &OperatorMovement<'_>,
    daily_max_minor: i64,
) -> AppResult<bool> {
    let row = db
        .prepare(
            "INSERT INTO operator_movements (reference, day, direction, card_number, amount_minor, operator, status, request_id, created_at_ms, updated_at_ms)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, 'reserved', ?7, ?8, ?8
             WHERE (SELECT COALESCE(SUM(amount_minor), 0) FROM operator_movements
                    WHERE day = ?2 AND status != 'released') + ?5 <= ?9
             ON CONFLICT (reference) DO UPDATE
               SET status = 'reserved', day = excluded.day, operator = excluded.operator,
                   request_id = excluded.request_id, updated_at_ms = excluded.updated_at_ms
               WHERE operator_movements.status = 'released'
                 AND operator_movements.direction = excluded.direction
                 AND operator_movements.card_number = excluded.card_number
                 AND operator_movements.amount_minor = excluded.amount_minor
             RETURNING reference",
        )
        .bind(&[
            s(movement.reference),
            s(movement.day),
            s(movement.direction),
            s(movement.card_number),
            n(movement.amount_minor),
            s(movement.operator),
            s(movement.request_id),
            n(movement.at_ms),
            n(daily_max_minor),
        ])?
        .first::<serde_json::Value>(None)
        .await?;
    Ok(row.is_some())
}

/// Records what CYNOD did with a journaled movement; an applied movement is never downgraded.
pub async fn settle_operator_movement(
    db: &D1Database,
    reference: &str,
    status: dyno_core::cards::JournalStatus,
    at_ms: i64,
) -> AppResult<()> {
    db.prepare(
        "UPDATE operator_movements SET status = ?1, updated_at_ms = ?2
         WHERE reference = ?3 AND status != 'applied'",
    )
    .bind(&[s(status.as_str()), n(at_ms), s(reference)])?
    .run()
    .await?;
    Ok(())
}
