//! A `ClientGate`'s SQLite tables: the schema, the load of the whole gate, and one method per read
//! or write, so the object itself only orchestrates. Invariants: a row that cannot be decoded is
//! an error, never a default (a revoked token must never work again because a row was unreadable);
//! every method is synchronous, so what one gate call writes lands in one implicit transaction.

use dyno_core::gate::{GateState, IndexEntry, Reservation, StoredKey, Tracked};
use dyno_core::ids::{PaymentId, PosReference, TransactionId};
use dyno_core::payment::view::PaymentView;
use dyno_core::ratelimit::SlidingWindow;
use dyno_core::Millis;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS gate_kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS revoked (jti TEXT PRIMARY KEY, expires_at_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS payment_index (pos_reference TEXT PRIMARY KEY, payment_key TEXT NOT NULL, transaction_id TEXT NOT NULL, created_at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS payment_index_by_tx ON payment_index (transaction_id)",
    "CREATE INDEX IF NOT EXISTS payment_index_by_key ON payment_index (payment_key)",
    "CREATE INDEX IF NOT EXISTS payment_index_by_age ON payment_index (created_at_ms)",
    "CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status INTEGER, body TEXT, created_at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS idempotency_by_age ON idempotency (created_at_ms)",
    "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, view TEXT NOT NULL, updated_at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sessions_by_age ON sessions (updated_at_ms)",
];

/// The column a `payment_index` look-up goes by; a closed set, since it is spliced into SQL.
#[derive(Debug, Clone, Copy)]
pub enum IndexColumn {
    PosReference,
    TransactionId,
    Payment,
}

impl IndexColumn {
    fn name(self) -> &'static str {
        match self {
            IndexColumn::PosReference => "pos_reference",
            IndexColumn::TransactionId => "transaction_id",
            IndexColumn::Payment => "payment_key",
        }
    }
}

pub struct GateStore(pub SqlStorage);

fn decode<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("{what}: {e}"))
}

impl GateStore {
    fn rows<T: DeserializeOwned>(
        &self,
        query: &str,
        args: Vec<SqlStorageValue>,
    ) -> Result<Vec<T>, String> {
        let bindings = if args.is_empty() { None } else { Some(args) };
        self.0
            .exec(query, bindings)
            .and_then(|c| c.to_array())
            .map_err(|e| e.to_string())
    }

    fn exec(&self, query: &str, args: Vec<SqlStorageValue>) -> Result<(), String> {
        let bindings = if args.is_empty() { None } else { Some(args) };
        self.0
            .exec(query, bindings)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Reads the whole gate; any row that does not decode is an error, never a default.
    pub fn load(&self) -> Result<GateState, String> {
        for statement in SCHEMA {
            self.exec(statement, vec![])?;
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
        #[derive(Deserialize)]
        struct Session {
            id: String,
            view: String,
        }
        let mut gate = GateState::default();
        for Kv { k, v } in self.rows::<Kv>("SELECT k, v FROM gate_kv", vec![])? {
            if k == "profile" {
                gate.profile = Some(decode("profile", &v)?);
            } else if k == "secrets" {
                gate.secrets = Some(decode("secrets", &v)?);
            } else if k == "generation" {
                gate.generation = v.parse().map_err(|_| format!("generation: {v:?}"))?;
            } else if let Some(name) = k.strip_prefix("window:") {
                let window =
                    SlidingWindow::parse(&v).ok_or_else(|| format!("window {name}: {v:?}"))?;
                gate.windows.insert(name.to_string(), window);
            }
        }
        for r in self.rows::<Revoked>("SELECT jti, expires_at_ms FROM revoked", vec![])? {
            gate.revoked.insert(r.jti, r.expires_at_ms);
        }
        for row in self.rows::<Session>("SELECT id, view FROM sessions", vec![])? {
            let id = PaymentId::parse(&row.id).ok_or_else(|| format!("session id {:?}", row.id))?;
            let view: PaymentView = decode("session", &row.view)?;
            gate.sessions.insert(id, Tracked::new(view));
        }
        Ok(gate)
    }

    /// One `gate_kv` value: the profile, the secrets, the generation, or a window.
    pub fn put(&self, key: &str, value: &str) -> Result<(), String> {
        self.exec(
            "INSERT OR REPLACE INTO gate_kv (k, v) VALUES (?, ?)",
            vec![key.into(), value.into()],
        )
    }

    /// Forgets the cached profile and secrets.
    pub fn forget_profile(&self) -> Result<(), String> {
        self.exec(
            "DELETE FROM gate_kv WHERE k IN ('profile', 'secrets')",
            vec![],
        )
    }

    pub fn idempotency_key(&self, key: &str) -> Result<Option<StoredKey>, String> {
        #[derive(Deserialize)]
        struct Row {
            fingerprint: String,
            status: Option<i64>,
            body: Option<String>,
            created_at_ms: i64,
        }
        Ok(self
            .rows::<Row>(
                "SELECT fingerprint, status, body, created_at_ms FROM idempotency WHERE key = ?",
                vec![key.into()],
            )?
            .into_iter()
            .next()
            .map(|row| StoredKey {
                fingerprint: row.fingerprint,
                response: row
                    .status
                    .and_then(|s| u16::try_from(s).ok())
                    .map(|status| (status, row.body.unwrap_or_default())),
                created_at: Millis(row.created_at_ms),
            }))
    }

    /// Claims a fresh key (its answer comes later), dropping the keys older than `expired_before`.
    pub fn claim_key(
        &self,
        key: &str,
        fingerprint: &str,
        now: Millis,
        expired_before: Millis,
    ) -> Result<(), String> {
        self.exec(
            "DELETE FROM idempotency WHERE created_at_ms < ?",
            vec![expired_before.0.into()],
        )?;
        self.exec(
            "INSERT OR REPLACE INTO idempotency (key, fingerprint, created_at_ms) VALUES (?, ?, ?)",
            vec![key.into(), fingerprint.into(), now.0.into()],
        )
    }

    /// Stores a key's answer, or frees the key (a 5xx, so that a retry runs again).
    pub fn answer_key(&self, key: &str, response: Option<(u16, String)>) -> Result<(), String> {
        match response {
            Some((status, body)) => self.exec(
                "UPDATE idempotency SET status = ?, body = ? WHERE key = ?",
                vec![i64::from(status).into(), body.into(), key.into()],
            ),
            None => self.exec("DELETE FROM idempotency WHERE key = ?", vec![key.into()]),
        }
    }

    pub fn index_entry(
        &self,
        column: IndexColumn,
        value: &str,
    ) -> Result<Option<IndexEntry>, String> {
        #[derive(Deserialize)]
        struct Row {
            pos_reference: String,
            payment_key: String,
            transaction_id: String,
        }
        let query = format!(
            "SELECT pos_reference, payment_key, transaction_id FROM payment_index WHERE {} = ?",
            column.name()
        );
        let Some(row) = self
            .rows::<Row>(&query, vec![value.into()])?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        Ok(Some(IndexEntry {
            pos_reference: PosReference::parse(&row.pos_reference)
                .map_err(|_| format!("index: bad reference {:?}", row.pos_reference))?,
            payment: PaymentId::parse(&row.payment_key)
                .ok_or_else(|| format!("index: bad payment id {:?}", row.payment_key))?,
            transaction_id: TransactionId::parse(&row.transaction_id)
                .ok_or_else(|| format!("index: bad transaction id {:?}", row.transaction_id))?,
        }))
    }

    /// Indexes a new `pos_reference`, dropping the entries older than `expired_before`.
    pub fn insert_index(
        &self,
        entry: &IndexEntry,
        now: Millis,
        expired_before: Millis,
    ) -> Result<(), String> {
        self.exec(
            "DELETE FROM payment_index WHERE created_at_ms < ?",
            vec![expired_before.0.into()],
        )?;
        self.exec(
            "INSERT INTO payment_index (pos_reference, payment_key, transaction_id, created_at_ms) VALUES (?, ?, ?, ?)",
            vec![
                entry.pos_reference.as_str().into(),
                entry.payment.as_str().into(),
                entry.transaction_id.as_str().into(),
                now.0.into(),
            ],
        )
    }

    /// Frees a reference whose request was never created.
    pub fn release(&self, reservation: &Reservation) -> Result<(), String> {
        self.exec(
            "DELETE FROM payment_index WHERE pos_reference = ? AND payment_key = ?",
            vec![
                reservation.pos_reference.as_str().into(),
                reservation.payment.as_str().into(),
            ],
        )
    }

    /// Denylists a token until it expires, dropping the entries already expired.
    pub fn revoke(&self, jti: &str, expires_at_ms: i64, now: Millis) -> Result<(), String> {
        self.exec(
            "DELETE FROM revoked WHERE expires_at_ms < ?",
            vec![now.0.into()],
        )?;
        self.exec(
            "INSERT OR REPLACE INTO revoked (jti, expires_at_ms) VALUES (?, ?)",
            vec![jti.into(), expires_at_ms.into()],
        )
    }

    /// Stores a request's published view, dropping the views older than `expired_before`.
    pub fn track(
        &self,
        view: &PaymentView,
        now: Millis,
        expired_before: Millis,
    ) -> Result<(), String> {
        let text = serde_json::to_string(view).map_err(|e| e.to_string())?;
        self.exec(
            "DELETE FROM sessions WHERE updated_at_ms < ?",
            vec![expired_before.0.into()],
        )?;
        self.exec(
            "INSERT OR REPLACE INTO sessions (id, view, updated_at_ms) VALUES (?, ?, ?)",
            vec![view.payment_id.as_str().into(), text.into(), now.0.into()],
        )
    }

    /// Sandbox daily reset: everything but the token generation.
    pub fn reset(&self) -> Result<(), String> {
        for statement in [
            "DELETE FROM gate_kv WHERE k != 'generation'",
            "DELETE FROM payment_index",
            "DELETE FROM idempotency",
            "DELETE FROM sessions",
        ] {
            self.exec(statement, vec![])?;
        }
        Ok(())
    }
}
