//! The simulator's ledger in the Durable Object's SQLite: cards with integer balances, every
//! movement under its unique reference, access tokens, injected faults and call counters.
//! Invariant: a balance only changes together with the movement row that explains it, in one
//! synchronous sequence of statements (no await in between), so a movement is applied at most once.

use serde::{Deserialize, Serialize};
use worker::{SqlStorage, SqlStorageValue};

use crate::mode::SimMode;
use crate::seed::DEMO_CARDS;

pub type SqlResult<T> = Result<T, String>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cards (
    numero TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    wallet_id TEXT NOT NULL,
    nom TEXT NOT NULL,
    prenom TEXT NOT NULL,
    email TEXT NOT NULL,
    wallet_type TEXT NOT NULL,
    fin_validite TEXT NOT NULL,
    statut TEXT NOT NULL,
    solde_minor INTEGER NOT NULL CHECK (solde_minor >= 0)
);
CREATE TABLE IF NOT EXISTS operations (
    reference TEXT PRIMARY KEY,
    statut TEXT NOT NULL,
    sens TEXT,
    numero TEXT,
    montant_minor INTEGER,
    solde_apres_minor INTEGER,
    commercant TEXT,
    libelle TEXT,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS operations_by_time ON operations (created_at_ms);
CREATE INDEX IF NOT EXISTS operations_by_card ON operations (numero, created_at_ms);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, expires_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    mode TEXT NOT NULL,
    latency_ms INTEGER NOT NULL,
    apply_first INTEGER NOT NULL,
    remaining INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stats (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Card {
    pub numero: String,
    pub client_id: String,
    pub wallet_id: String,
    pub nom: String,
    pub prenom: String,
    pub email: String,
    pub wallet_type: String,
    /// ISO date `yyyy-mm-dd`: the last day the card is valid.
    pub fin_validite: String,
    /// `ACTIVE` or `BLOQUEE`.
    pub statut: String,
    pub solde_minor: i64,
}

/// The largest balance a test card may hold (10⁹ TND): the API document's bound, far above any
/// real card, and small enough that any sum of test movements stays within `i64`.
pub const MAX_BALANCE_MINOR: i64 = 1_000_000_000_000;

impl Card {
    /// Refuses a card the ledger could not hold faithfully, with a message for the test author
    /// (rather than the SQLite constraint that would otherwise fire).
    pub fn check(&self) -> Result<(), String> {
        if self.numero.len() != 16 || !self.numero.bytes().all(|b| b.is_ascii_digit()) {
            return Err("numero: 16 chiffres attendus".into());
        }
        if self.solde_minor < 0 {
            return Err("solde_minor: un solde ne peut pas être négatif".into());
        }
        if self.solde_minor > MAX_BALANCE_MINOR {
            return Err(format!("solde_minor: au plus {MAX_BALANCE_MINOR} millimes"));
        }
        if !matches!(self.statut.as_str(), "ACTIVE" | "BLOQUEE") {
            return Err("statut: ACTIVE ou BLOQUEE".into());
        }
        if chrono::NaiveDate::parse_from_str(&self.fin_validite, "%Y-%m-%d").is_err() {
            return Err("fin_validite: date aaaa-mm-jj attendue".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub reference: String,
    /// `EFFECTUEE` (applied) or `ANNULEE` (reference fenced before any operation used it).
    pub statut: String,
    /// `DEBIT` or `CREDIT`; absent for a fenced reference.
    pub sens: Option<String>,
    pub numero: Option<String>,
    pub montant_minor: Option<i64>,
    pub solde_apres_minor: Option<i64>,
    pub commercant: Option<String>,
    pub libelle: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub id: i64,
    pub endpoint: String,
    pub mode: String,
    pub latency_ms: i64,
    /// 1 when the operation is applied before the fault shows (a lost answer), 0 when never.
    pub apply_first: i64,
    pub remaining: i64,
}

/// A debit or credit to apply under its unique reference.
pub struct Movement<'a> {
    /// `DEBIT` or `CREDIT`.
    pub sens: &'a str,
    pub montant_minor: i64,
    pub reference: &'a str,
    pub commercant: Option<&'a str>,
    pub libelle: Option<&'a str>,
    pub now_ms: i64,
}

pub struct Store {
    sql: SqlStorage,
}

fn err(e: worker::Error) -> String {
    e.to_string()
}

impl Store {
    pub fn open(sql: SqlStorage) -> SqlResult<Self> {
        let store = Self { sql };
        for statement in SCHEMA.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            store.sql.exec(statement, None).map_err(err)?;
        }
        store.seed_demo_cards()?;
        Ok(store)
    }

    fn rows<T: for<'de> Deserialize<'de>>(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> SqlResult<Vec<T>> {
        self.sql
            .exec(query, Some(bindings))
            .and_then(|c| c.to_array())
            .map_err(err)
    }

    fn run(&self, query: &str, bindings: Vec<SqlStorageValue>) -> SqlResult<()> {
        self.sql
            .exec(query, Some(bindings))
            .map(|_| ())
            .map_err(err)
    }

    pub fn seed_demo_cards(&self) -> SqlResult<()> {
        for c in DEMO_CARDS {
            self.run(
                "INSERT OR IGNORE INTO cards VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                vec![
                    c.numero.into(),
                    c.client_id.into(),
                    c.wallet_id.into(),
                    c.nom.into(),
                    c.prenom.into(),
                    c.email.into(),
                    c.wallet_type.into(),
                    c.fin_validite.into(),
                    c.statut.into(),
                    c.solde_minor.into(),
                ],
            )?;
        }
        Ok(())
    }

    /// Empties the ledger and restores the demo cards.
    pub fn reset(&self) -> SqlResult<()> {
        for table in [
            "cards",
            "operations",
            "tokens",
            "faults",
            "stats",
            "settings",
        ] {
            self.run(&format!("DELETE FROM {table}"), vec![])?;
        }
        self.seed_demo_cards()
    }

    pub fn card(&self, numero: &str) -> SqlResult<Option<Card>> {
        Ok(self
            .rows("SELECT * FROM cards WHERE numero = ?", vec![numero.into()])?
            .into_iter()
            .next())
    }

    pub fn cards_of(
        &self,
        wallet_id: Option<&str>,
        client_id: Option<&str>,
    ) -> SqlResult<Vec<Card>> {
        self.rows(
            "SELECT * FROM cards WHERE (?1 IS NULL OR wallet_id = ?1) AND (?2 IS NULL OR client_id = ?2) ORDER BY numero",
            vec![wallet_id.map(str::to_string).into(), client_id.map(str::to_string).into()],
        )
    }

    pub fn insert_card(&self, c: &Card) -> SqlResult<()> {
        self.run(
            "INSERT INTO cards VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                c.numero.as_str().into(),
                c.client_id.as_str().into(),
                c.wallet_id.as_str().into(),
                c.nom.as_str().into(),
                c.prenom.as_str().into(),
                c.email.as_str().into(),
                c.wallet_type.as_str().into(),
                c.fin_validite.as_str().into(),
                c.statut.as_str().into(),
                c.solde_minor.into(),
            ],
        )
    }

    pub fn operation(&self, reference: &str) -> SqlResult<Option<Operation>> {
        Ok(self
            .rows(
                "SELECT * FROM operations WHERE reference = ?",
                vec![reference.into()],
            )?
            .into_iter()
            .next())
    }

    /// Applies a movement: the new balance and its operation row, together.
    pub fn apply_movement(&self, card: &Card, movement: &Movement<'_>) -> SqlResult<Operation> {
        let solde_apres = match movement.sens {
            "DEBIT" => card.solde_minor - movement.montant_minor,
            _ => card.solde_minor + movement.montant_minor,
        };
        self.run(
            "UPDATE cards SET solde_minor = ? WHERE numero = ?",
            vec![solde_apres.into(), card.numero.as_str().into()],
        )?;
        let operation = Operation {
            reference: movement.reference.to_string(),
            statut: "EFFECTUEE".into(),
            sens: Some(movement.sens.into()),
            numero: Some(card.numero.clone()),
            montant_minor: Some(movement.montant_minor),
            solde_apres_minor: Some(solde_apres),
            commercant: movement.commercant.map(str::to_string),
            libelle: movement.libelle.map(str::to_string),
            created_at_ms: movement.now_ms,
        };
        self.insert_operation(&operation)?;
        Ok(operation)
    }

    pub fn insert_operation(&self, o: &Operation) -> SqlResult<()> {
        self.run(
            "INSERT INTO operations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                o.reference.as_str().into(),
                o.statut.as_str().into(),
                o.sens.clone().into(),
                o.numero.clone().into(),
                o.montant_minor.into(),
                o.solde_apres_minor.into(),
                o.commercant.clone().into(),
                o.libelle.clone().into(),
                o.created_at_ms.into(),
            ],
        )
    }

    pub fn operations(
        &self,
        numero: Option<&str>,
        commercant: Option<&str>,
        since_ms: i64,
        until_ms: i64,
    ) -> SqlResult<Vec<Operation>> {
        self.rows(
            "SELECT * FROM operations WHERE statut = 'EFFECTUEE' AND (?1 IS NULL OR numero = ?1) AND (?2 IS NULL OR commercant = ?2) AND created_at_ms >= ?3 AND created_at_ms < ?4 ORDER BY created_at_ms, reference",
            vec![
                numero.map(str::to_string).into(),
                commercant.map(str::to_string).into(),
                since_ms.into(),
                until_ms.into(),
            ],
        )
    }

    /// The applied movements of one card, newest first.
    pub fn operations_of_card(&self, numero: &str, limit: u32) -> SqlResult<Vec<Operation>> {
        self.rows(
            "SELECT * FROM operations WHERE statut = 'EFFECTUEE' AND numero = ?1 ORDER BY created_at_ms DESC, reference DESC LIMIT ?2",
            vec![numero.into(), i64::from(limit).into()],
        )
    }

    pub fn insert_token(&self, token: &str, expires_at_ms: i64) -> SqlResult<()> {
        self.run(
            "DELETE FROM tokens WHERE expires_at_ms < ?",
            vec![expires_at_ms.saturating_sub(86_400_000).into()],
        )?;
        self.run(
            "INSERT INTO tokens VALUES (?, ?)",
            vec![token.into(), expires_at_ms.into()],
        )
    }

    pub fn token_valid(&self, token: &str, now_ms: i64) -> SqlResult<bool> {
        #[derive(Deserialize)]
        struct Row {
            #[allow(dead_code)]
            token: String,
        }
        Ok(!self
            .rows::<Row>(
                "SELECT token FROM tokens WHERE token = ? AND expires_at_ms > ?",
                vec![token.into(), now_ms.into()],
            )?
            .is_empty())
    }

    pub fn revoke_tokens(&self) -> SqlResult<()> {
        self.run("DELETE FROM tokens", vec![])
    }

    pub fn add_fault(
        &self,
        endpoint: &str,
        mode: &str,
        latency_ms: i64,
        apply_first: bool,
        count: i64,
    ) -> SqlResult<()> {
        self.run(
            "INSERT INTO faults (endpoint, mode, latency_ms, apply_first, remaining) VALUES (?, ?, ?, ?, ?)",
            vec![endpoint.into(), mode.into(), latency_ms.into(), i64::from(apply_first).into(), count.into()],
        )
    }

    pub fn clear_faults(&self) -> SqlResult<()> {
        self.run("DELETE FROM faults", vec![])
    }

    /// Takes one use of the oldest fault armed for `endpoint` (or for `*`).
    pub fn take_fault(&self, endpoint: &str) -> SqlResult<Option<Fault>> {
        let fault: Option<Fault> = self
            .rows(
                "SELECT * FROM faults WHERE (endpoint = ? OR endpoint = '*') AND remaining > 0 ORDER BY id LIMIT 1",
                vec![endpoint.into()],
            )?
            .into_iter()
            .next();
        if let Some(f) = &fault {
            self.run(
                "UPDATE faults SET remaining = remaining - 1 WHERE id = ?",
                vec![f.id.into()],
            )?;
        }
        Ok(fault)
    }

    /// The current behaviour switches (the defaults until a mode is set).
    pub fn mode(&self) -> SqlResult<SimMode> {
        #[derive(Deserialize)]
        struct Row {
            value: String,
        }
        match self
            .rows::<Row>("SELECT value FROM settings WHERE name = 'mode'", vec![])?
            .into_iter()
            .next()
        {
            Some(row) => serde_json::from_str(&row.value).map_err(|e| e.to_string()),
            None => Ok(SimMode::default()),
        }
    }

    pub fn set_mode(&self, mode: &SimMode) -> SqlResult<()> {
        let value = serde_json::to_string(mode).map_err(|e| e.to_string())?;
        self.run(
            "INSERT INTO settings VALUES ('mode', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            vec![value.into()],
        )
    }

    pub fn bump(&self, name: &str) -> SqlResult<()> {
        self.run(
            "INSERT INTO stats VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1",
            vec![name.into()],
        )
    }

    pub fn stats(&self) -> SqlResult<Vec<(String, i64)>> {
        #[derive(Deserialize)]
        struct Row {
            name: String,
            value: i64,
        }
        Ok(self
            .rows::<Row>("SELECT name, value FROM stats ORDER BY name", vec![])?
            .into_iter()
            .map(|r| (r.name, r.value))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{Card, MAX_BALANCE_MINOR};

    fn card(solde_minor: i64) -> Card {
        Card {
            numero: "7019800100009569".into(),
            client_id: "CLT-T".into(),
            wallet_id: "+21620000099".into(),
            nom: "Test".into(),
            prenom: "Carte".into(),
            email: String::new(),
            wallet_type: "TicketResto".into(),
            fin_validite: "2030-01-31".into(),
            statut: "ACTIVE".into(),
            solde_minor,
        }
    }

    #[test]
    fn a_balance_is_held_only_between_zero_and_the_documented_bound() {
        assert!(card(0).check().is_ok());
        assert!(card(MAX_BALANCE_MINOR).check().is_ok());
        assert!(card(-1).check().is_err());
        assert!(card(MAX_BALANCE_MINOR + 1).check().is_err());
    }
}
