//! Card data and direct card movements: what a POS may learn of a card presented to it (its last
//! four digits, balance and validity — never its holder, never its full number), and the rules of
//! an operator's credit or debit (a named operator, a reference that names one movement, the
//! day's cap). Invariants: no POS view has a field that could carry a holder's name; an operator
//! movement is counted against its day's cap before CYNOD is asked, and only uncounted once CYNOD
//! is known not to have applied it.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::cynod::{
    card_last4, cynod_date_to_iso, cynod_datetime_to_rfc3339, is_valid_card_number, CardItem,
    MovementRequest, OperationItem, ValidityItem,
};
use crate::money::{format_minor, Amount, Currency, DecimalNumber, Minor};
use crate::problem::{ErrorCode, Problem};
use crate::text::optional_text_within;
use crate::time::Millis;

/// The header through which a POS presents the employee's EPM QR with a card read.
pub const PRESENTATION_HEADER: &str = "X-Dyno-Card-Presentation";
/// The header naming the operator behind a direct movement.
pub const OPERATOR_HEADER: &str = "X-Operator";

/// A card number from a path: exactly 16 digits.
pub fn card_number(param: Option<&str>) -> Result<&str, Problem> {
    match param {
        Some(numero) if is_valid_card_number(numero) => Ok(numero),
        _ => Err(Problem::new(
            ErrorCode::InvalidCardNumber,
            "Le numéro de carte doit comporter exactement 16 chiffres.",
        )),
    }
}

/// 1 to 64 ASCII letters and digits, or characters of `extra`.
fn within_charset(text: &str, extra: &[u8]) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// A CYNOD member (client) id or wallet id: short and printable; `+` allowed for phone numbers.
pub fn identifier<'a>(what: &str, value: Option<&'a str>) -> Result<Option<&'a str>, Problem> {
    match value {
        None => Ok(None),
        Some(v) if within_charset(v, b"+-_.") => Ok(Some(v)),
        Some(_) => Err(Problem::new(
            ErrorCode::InvalidRequest,
            format!("{what} invalide."),
        )),
    }
}

/// A card read by a POS without the card being presented.
pub fn not_presented() -> Problem {
    Problem::new(
        ErrorCode::CardNotPresented,
        format!(
            "Un terminal ne lit une carte que présentée par l'employé: envoyez son QR code EPM \
             (moins de 30 secondes) dans l'en-tête {PRESENTATION_HEADER}."
        ),
    )
}

/// The balance of a presented card, as a POS sees it.
#[derive(Debug, Serialize)]
pub struct PresentedBalance {
    pub card_last4: String,
    pub balance: DecimalNumber,
    pub currency: &'static str,
    pub wallet_type: Option<String>,
    /// RFC 3339.
    pub as_of: Option<String>,
}

impl PresentedBalance {
    pub fn new(
        card_number: &str,
        balance: Minor,
        wallet_type: Option<String>,
        as_of: Option<String>,
    ) -> Self {
        Self {
            card_last4: card_last4(card_number),
            balance: DecimalNumber::from_minor(balance.get(), Currency::Tnd),
            currency: Currency::Tnd.code(),
            wallet_type,
            as_of,
        }
    }
}

/// Whether a presented card is valid, as a POS sees it: CYNOD's holder names stay behind.
#[derive(Debug, Serialize)]
pub struct PresentedValidity {
    pub card_last4: String,
    pub valid: bool,
    pub valid_until: Option<String>,
    pub wallet_type: Option<String>,
    /// Why the card is not valid (`card_expired`, `card_blocked`); absent on a valid card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

impl PresentedValidity {
    /// CYNOD's answer about `card_number`. "Expired" and "blocked" are answers (`valid: false`),
    /// not errors: the POS asked whether the card is valid.
    pub fn of(card_number: &str, answer: Result<ValidityItem, Problem>) -> Result<Self, Problem> {
        match answer {
            Ok(item) => Ok(Self {
                card_last4: card_last4(card_number),
                valid: true,
                valid_until: cynod_date_to_iso(&item.fin_validite),
                wallet_type: item.type_wallet,
                reason: None,
            }),
            Err(problem) => match problem.code {
                code @ (ErrorCode::CardExpired | ErrorCode::CardBlocked) => Ok(Self {
                    card_last4: card_last4(card_number),
                    valid: false,
                    valid_until: None,
                    wallet_type: None,
                    reason: Some(crate::payment::failure_reason(code)),
                }),
                _ => Err(problem),
            },
        }
    }
}

/// One card of a member, for operators.
#[derive(Debug, Serialize)]
pub struct MemberCard {
    pub card_number: String,
    pub wallet_type: Option<String>,
    pub valid_until: Option<String>,
    pub status: Option<String>,
    pub balance: DecimalNumber,
    pub currency: &'static str,
}

/// A member's cards with balances (operators; the employee sees theirs in the wallet).
#[derive(Debug, Serialize)]
pub struct MemberCards {
    pub client_id: String,
    pub cards: Vec<MemberCard>,
}

impl MemberCards {
    /// CYNOD's list, each balance converted exactly (a lossy one is an upstream error).
    pub fn of(member: &str, items: Vec<CardItem>) -> Result<Self, Problem> {
        let cards = items
            .into_iter()
            .map(|item| {
                let minor = item.solde_online.to_minor(Currency::Tnd).map_err(|e| {
                    Problem::new(
                        ErrorCode::UpstreamError,
                        format!("soldeOnline {}: {e}", item.solde_online.text()),
                    )
                })?;
                Ok(MemberCard {
                    card_number: item.numero_carte,
                    wallet_type: item.type_wallet,
                    valid_until: item.fin_validite.as_deref().and_then(cynod_date_to_iso),
                    status: item.statut,
                    balance: DecimalNumber::from_minor(minor, Currency::Tnd),
                    currency: Currency::Tnd.code(),
                })
            })
            .collect::<Result<_, Problem>>()?;
        Ok(Self {
            client_id: member.to_string(),
            cards,
        })
    }
}

/// Who moved money directly: the operator named in [`OPERATOR_HEADER`], recorded with every
/// movement and in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator(String);

impl Operator {
    /// 1 to 64 characters among `A-Z a-z 0-9 . _ @ + -` (an e-mail address or a login).
    pub fn parse(header: Option<&str>) -> Result<Self, Problem> {
        let text = header.map(str::trim).unwrap_or_default();
        if within_charset(text, b"._@+-") {
            Ok(Self(text.to_string()))
        } else {
            Err(Problem::new(
                ErrorCode::InvalidRequest,
                format!(
                    "En-tête {OPERATOR_HEADER} requis: l'identité de l'opérateur (1 à 64 \
                     caractères parmi A-Z a-z 0-9 . _ @ + -)."
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Credit,
    Debit,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Credit => "credit",
            Direction::Debit => "debit",
        }
    }
}

/// An operator's credit or debit request, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovementBody {
    /// Kept as JSON text: parsed exactly, and a non-number is INVALID_AMOUNT.
    pub amount: Box<RawValue>,
    /// The operator's unique reference for this movement; replaying it is idempotent.
    pub reference: String,
    pub wallet_id: Option<String>,
    pub client_id: Option<String>,
    pub description: Option<String>,
}

/// A movement request that passed every check that needs no I/O.
#[derive(Debug, Clone)]
pub struct ValidMovement {
    pub amount: Amount,
    pub reference: String,
    pub wallet_id: Option<String>,
    pub client_id: Option<String>,
    pub description: Option<String>,
}

impl MovementBody {
    /// The amount (at most `max_minor`, the per-call cap), the reference, the owner ids and the
    /// description, each checked.
    pub fn validate(self, max_minor: i64) -> Result<ValidMovement, Problem> {
        let amount = Amount::parse_request(self.amount.get(), Currency::Tnd, max_minor)
            .map_err(|e| Problem::new(ErrorCode::InvalidAmount, e.to_string()))?;
        parse_reference(&self.reference)?;
        identifier("wallet_id", self.wallet_id.as_deref())?;
        identifier("client_id", self.client_id.as_deref())?;
        optional_text_within("description", self.description.as_deref(), 140)?;
        Ok(ValidMovement {
            amount,
            reference: self.reference,
            wallet_id: self.wallet_id,
            client_id: self.client_id,
            description: self.description,
        })
    }
}

impl ValidMovement {
    /// The CYNOD movement: its own reference namespace, labelled with the operator's name.
    pub fn cynod_request(&self, card_number: &str, operator: &Operator) -> MovementRequest {
        MovementRequest {
            numero_carte: card_number.to_string(),
            montant: self.amount.into(),
            reference: cynod_reference(&self.reference),
            wallet_id: self.wallet_id.clone(),
            client_id: self.client_id.clone(),
            commercant: None,
            libelle: Some(
                self.description
                    .clone()
                    .unwrap_or_else(|| format!("Opération opérateur {}", operator.as_str())),
            ),
        }
    }
}

/// A movement CYNOD applied, as the operator sees it.
#[derive(Debug, Serialize)]
pub struct MovementView {
    pub reference: String,
    pub status: &'static str,
    pub direction: &'static str,
    pub card_number: Option<String>,
    pub amount: Option<DecimalNumber>,
    pub currency: &'static str,
    pub balance_after: Option<DecimalNumber>,
    pub operation_date: Option<String>,
    /// True when the first answer was lost and the outcome was recovered by reference.
    pub recovered: bool,
}

impl MovementView {
    pub fn applied(
        reference: &str,
        direction: Direction,
        operation: OperationItem,
        recovered: bool,
    ) -> Self {
        let exact = |n: Option<DecimalNumber>| {
            n.and_then(|n| n.to_minor(Currency::Tnd).ok())
                .map(|m| DecimalNumber::from_minor(m, Currency::Tnd))
        };
        Self {
            reference: reference.to_string(),
            status: "applied",
            direction: direction.as_str(),
            card_number: operation.numero_carte,
            amount: exact(operation.montant),
            currency: Currency::Tnd.code(),
            balance_after: exact(operation.solde_online),
            operation_date: operation
                .date_operation
                .as_deref()
                .and_then(cynod_datetime_to_rfc3339),
            recovered,
        }
    }
}

/// A movement whose lost answer was resolved as never applied: its reference is now fenced.
pub fn not_applied(cause: Problem, reference: &str) -> Problem {
    Problem::new(
        cause.code,
        format!(
            "{} Aucun mouvement n'a été effectué et la référence {reference} est désormais \
             annulée: utilisez une nouvelle référence.",
            cause.detail
        ),
    )
}

/// A movement whose outcome nobody knows yet: replaying the same reference tells.
pub fn outcome_unknown(cause: Problem, reference: &str) -> Problem {
    Problem::new(
        cause.code,
        format!(
            "{} Issue inconnue: rejouez la même requête avec la référence {reference} pour \
             connaître le résultat.",
            cause.detail
        ),
    )
}

/// The operator's reference for a movement: 1 to 64 characters among `A-Z a-z 0-9 - _ . :`.
pub fn parse_reference(reference: &str) -> Result<(), Problem> {
    if within_charset(reference, b"-_.:") {
        Ok(())
    } else {
        Err(Problem::new(
            ErrorCode::InvalidRequest,
            "reference: 1 à 64 caractères parmi A-Z a-z 0-9 - _ . :",
        ))
    }
}

/// The CYNOD reference of an operator movement: its own namespace, apart from payments (`epm:`,
/// `ppm:`) and refunds (`refund:`), so an operator can never replay or fence one of those.
pub fn cynod_reference(reference: &str) -> String {
    format!("op:{reference}")
}

/// The UTC day whose cap a movement made at `now` counts against (`YYYY-MM-DD`).
pub fn utc_day(now: Millis) -> String {
    now.to_rfc3339().chars().take(10).collect()
}

/// What became of a journaled movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalStatus {
    /// Counted and on its way to CYNOD (or its answer was never recorded).
    Reserved,
    Applied,
    /// CYNOD did not apply it, and never will under this attempt: it no longer counts.
    Released,
    /// The outcome is unknown: it keeps counting until a retry settles it.
    Unknown,
}

impl JournalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalStatus::Reserved => "reserved",
            JournalStatus::Applied => "applied",
            JournalStatus::Released => "released",
            JournalStatus::Unknown => "unknown",
        }
    }
}

/// A movement as the journal holds it (one row per CYNOD reference).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JournalEntry {
    pub direction: String,
    pub card_number: String,
    pub amount_minor: i64,
    pub status: String,
}

/// What to do with a movement, given what the journal holds under its reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Already counted (a retry, or the same request racing): ask CYNOD again, which replays.
    Counted,
    /// Not counted: reserve its amount against the day's cap first.
    Reserve,
    /// The reference names another movement.
    Conflict,
}

pub fn admission(
    existing: Option<&JournalEntry>,
    direction: Direction,
    card_number: &str,
    amount: Minor,
) -> Admission {
    match existing {
        None => Admission::Reserve,
        Some(entry)
            if entry.direction != direction.as_str()
                || entry.card_number != card_number
                || entry.amount_minor != amount.get() =>
        {
            Admission::Conflict
        }
        Some(entry) if entry.status == JournalStatus::Released.as_str() => Admission::Reserve,
        Some(_) => Admission::Counted,
    }
}

pub fn reference_conflict(reference: &str) -> Problem {
    Problem::new(
        ErrorCode::ReferenceAlreadyUsed,
        format!("La référence {reference} désigne déjà un autre mouvement."),
    )
}

pub fn daily_limit_exceeded(daily_max: Minor) -> Problem {
    Problem::new(
        ErrorCode::DailyLimitExceeded,
        format!(
            "Ce mouvement dépasserait le plafond journalier des mouvements opérateur ({} TND): \
             rien n'a été effectué.",
            format_minor(daily_max.get(), Currency::Tnd)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validity(prenom: &str, nom: &str) -> ValidityItem {
        ValidityItem {
            numero_carte: "7019800100009569".into(),
            fin_validite: "31/12/2030".into(),
            nom: Some(nom.into()),
            prenom: Some(prenom.into()),
            type_wallet: Some("TicketResto".into()),
            statut: Some("ACTIVE".into()),
        }
    }

    #[test]
    fn a_pos_never_sees_the_holder_or_the_full_number() {
        let view =
            PresentedValidity::of("7019800100009569", Ok(validity("Yasmine", "Benali"))).unwrap();
        let text = serde_json::to_string(&view).unwrap();
        assert_eq!(
            text,
            r#"{"card_last4":"9569","valid":true,"valid_until":"2030-12-31","wallet_type":"TicketResto"}"#
        );
        let balance = PresentedBalance::new("7019800100009569", Minor(150_000), None, None);
        let text = serde_json::to_string(&balance).unwrap();
        assert!(text.contains(r#""balance":150.000"#), "{text}");
        assert!(!text.contains("70198001"), "{text}");
    }

    #[test]
    fn expired_and_blocked_are_answers_other_failures_are_errors() {
        for (code, reason) in [
            (ErrorCode::CardExpired, "card_expired"),
            (ErrorCode::CardBlocked, "card_blocked"),
        ] {
            let view =
                PresentedValidity::of("7019800100009569", Err(Problem::new(code, "non"))).unwrap();
            assert_eq!((view.valid, view.reason), (false, Some(reason)));
        }
        let e = PresentedValidity::of(
            "7019800100009569",
            Err(Problem::new(ErrorCode::UpstreamTimeout, "lent")),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::UpstreamTimeout);
    }

    #[test]
    fn operators_and_references_are_validated() {
        assert_eq!(
            Operator::parse(Some(" ops.amira@dyno ")).unwrap().as_str(),
            "ops.amira@dyno"
        );
        for bad in [None, Some(""), Some("a b"), Some("<x>")] {
            assert_eq!(
                Operator::parse(bad).unwrap_err().code,
                ErrorCode::InvalidRequest
            );
        }
        assert!(Operator::parse(Some(&"a".repeat(65))).is_err());
        assert!(parse_reference("refill-2026:01").is_ok());
        assert!(parse_reference("").is_err());
        assert!(parse_reference("a b").is_err());
        assert_eq!(cynod_reference("r1"), "op:r1");
        assert_eq!(
            utc_day(Millis::parse_rfc3339("2026-11-30T23:59:59Z").unwrap()),
            "2026-11-30"
        );
    }

    fn body(json: &str) -> MovementBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_movement_is_checked_before_any_io_and_labelled_with_its_operator() {
        let valid = body(r#"{"amount":12.5,"reference":"r-1"}"#)
            .validate(20_000)
            .unwrap();
        assert_eq!(Minor::from(valid.amount), Minor(12_500));
        let operator = Operator::parse(Some("ops.amira")).unwrap();
        let request = valid.cynod_request("7019800100009569", &operator);
        assert_eq!(request.reference, "op:r-1");
        assert_eq!(request.montant.text(), "12.500");
        assert_eq!(
            request.libelle.as_deref(),
            Some("Opération opérateur ops.amira")
        );
        assert_eq!(request.commercant, None);
        for (json, code) in [
            (
                r#"{"amount":20.001,"reference":"r"}"#,
                ErrorCode::InvalidAmount,
            ),
            (
                r#"{"amount":"5","reference":"r"}"#,
                ErrorCode::InvalidAmount,
            ),
            (
                r#"{"amount":5,"reference":"a b"}"#,
                ErrorCode::InvalidRequest,
            ),
            (
                r#"{"amount":5,"reference":"r","wallet_id":"<x>"}"#,
                ErrorCode::InvalidRequest,
            ),
        ] {
            assert_eq!(
                body(json).validate(20_000).unwrap_err().code,
                code,
                "{json}"
            );
        }
        assert!(
            serde_json::from_str::<MovementBody>(r#"{"amount":5,"reference":"r","x":1}"#).is_err()
        );
        assert_eq!(
            card_number(Some("7019800100009569")).unwrap(),
            "7019800100009569"
        );
        for bad in [None, Some("701980010000956"), Some("70198001000095X9")] {
            assert_eq!(
                card_number(bad).unwrap_err().code,
                ErrorCode::InvalidCardNumber
            );
        }
    }

    #[test]
    fn a_reference_names_one_movement_and_is_counted_once() {
        let entry = |status: JournalStatus| JournalEntry {
            direction: "credit".into(),
            card_number: "7019800100009569".into(),
            amount_minor: 5_000,
            status: status.as_str().into(),
        };
        let card = "7019800100009569";
        assert_eq!(
            admission(None, Direction::Credit, card, Minor(5_000)),
            Admission::Reserve
        );
        for status in [
            JournalStatus::Reserved,
            JournalStatus::Applied,
            JournalStatus::Unknown,
        ] {
            assert_eq!(
                admission(Some(&entry(status)), Direction::Credit, card, Minor(5_000)),
                Admission::Counted,
                "{status:?}"
            );
        }
        // Refused by CYNOD earlier: counted again if tried again.
        assert_eq!(
            admission(
                Some(&entry(JournalStatus::Released)),
                Direction::Credit,
                card,
                Minor(5_000)
            ),
            Admission::Reserve
        );
        for (direction, card, amount) in [
            (Direction::Debit, card, 5_000),
            (Direction::Credit, "7019800100000000", 5_000),
            (Direction::Credit, card, 5_001),
        ] {
            assert_eq!(
                admission(
                    Some(&entry(JournalStatus::Released)),
                    direction,
                    card,
                    Minor(amount)
                ),
                Admission::Conflict
            );
        }
    }
}
