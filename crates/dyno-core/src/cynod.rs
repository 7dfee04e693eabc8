//! The CYNOD card-core wire contract: the `{success, code, message, data}` envelope, its functional
//! codes, the DTOs of every endpoint, and the mapping of CYNOD outcomes to Dyno problems.
//! Invariant: balances and amounts cross this boundary as exact minor units or not at all.
//! What differs from one CYNOD to another (auth, amounts' scale, time zone, recovery calls) is in
//! [`dialect`]; the token answer's two shapes are in [`token`].

pub mod convert;
pub mod dialect;
pub mod token;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::money::{Currency, DecimalNumber};
use crate::problem::{ErrorCode, Problem};

/// CYNOD's functional codes. 405 and 412 come from the spec; the others are ours, in the same style
/// (see `docs/cynod-api.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CynodCode {
    Ok,
    /// 401: missing, invalid or expired access token, or bad consumer credentials.
    Unauthenticated,
    /// 404: no operation with that reference.
    OperationNotFound,
    /// 405: missing or invalid parameter.
    InvalidParameter,
    /// 412: unknown or invalid user.
    UnknownUser,
    /// 414: unknown card.
    UnknownCard,
    /// 415: card past its validity date.
    CardExpired,
    /// 416: card blocked.
    CardBlocked,
    /// 417: balance too low for the debit.
    InsufficientBalance,
    /// 418: the reference was already used for a different operation.
    ReferenceConflict,
    /// 500: system error.
    SystemError,
    Other(u16),
}

impl CynodCode {
    pub fn from_number(code: u16) -> Self {
        match code {
            200 => Self::Ok,
            401 => Self::Unauthenticated,
            404 => Self::OperationNotFound,
            405 => Self::InvalidParameter,
            412 => Self::UnknownUser,
            414 => Self::UnknownCard,
            415 => Self::CardExpired,
            416 => Self::CardBlocked,
            417 => Self::InsufficientBalance,
            418 => Self::ReferenceConflict,
            500 => Self::SystemError,
            other => Self::Other(other),
        }
    }

    pub fn number(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::Unauthenticated => 401,
            Self::OperationNotFound => 404,
            Self::InvalidParameter => 405,
            Self::UnknownUser => 412,
            Self::UnknownCard => 414,
            Self::CardExpired => 415,
            Self::CardBlocked => 416,
            Self::InsufficientBalance => 417,
            Self::ReferenceConflict => 418,
            Self::SystemError => 500,
            Self::Other(n) => n,
        }
    }

    /// The HTTP status CYNOD answers with for this code: 200, 401 for auth, 500 for system errors,
    /// 400 for every functional error (as the spec's examples do).
    pub fn http_status(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::Unauthenticated => 401,
            Self::SystemError => 500,
            _ => 400,
        }
    }

    /// How a Dyno client sees this outcome.
    pub fn to_problem(self, message: &str) -> Problem {
        let detail = format!("CYNOD {}: {message}", self.number());
        let code = match self {
            Self::InsufficientBalance => ErrorCode::InsufficientFunds,
            Self::UnknownCard | Self::UnknownUser => ErrorCode::CardNotFound,
            Self::CardExpired => ErrorCode::CardExpired,
            Self::CardBlocked => ErrorCode::CardBlocked,
            Self::OperationNotFound => ErrorCode::NotFound,
            Self::ReferenceConflict => ErrorCode::ReferenceAlreadyUsed,
            _ => ErrorCode::UpstreamError,
        };
        Problem::new(code, detail)
    }
}

/// What an envelope said, once parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvelopeOutcome {
    Success { message: String, data: Value },
    Failure(CynodFailure),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CynodFailure {
    pub code: CynodCode,
    pub message: String,
}

impl CynodFailure {
    pub fn to_problem(&self) -> Problem {
        self.code.to_problem(&self.message)
    }
}

/// Why a CYNOD answer could not be understood at all (as opposed to a functional error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("corps de réponse CYNOD illisible: {0}")]
    Malformed(String),
}

impl EnvelopeError {
    pub fn to_problem(&self) -> Problem {
        Problem::new(ErrorCode::UpstreamError, self.to_string())
    }
}

#[derive(Deserialize)]
struct RawEnvelope {
    success: Option<bool>,
    code: Option<Value>,
    message: Option<String>,
    #[serde(rename = "debugMessage")]
    debug_message: Option<String>,
    data: Option<Value>,
}

/// Parses any CYNOD answer. `code` may be a number (`200`) or a string (`"412"`), as the spec's own
/// examples show both; `data` may be absent or null. An HTTP 5xx without a readable envelope is a
/// system error; a 4xx without one (a proxy's page, an endpoint this CYNOD does not have) is a
/// refusal with that status, 401 included.
pub fn parse_envelope(http_status: u16, body: &[u8]) -> Result<EnvelopeOutcome, EnvelopeError> {
    let raw: RawEnvelope = match serde_json::from_slice(body) {
        Ok(raw) => raw,
        Err(_) if http_status >= 400 => {
            return Ok(EnvelopeOutcome::Failure(CynodFailure {
                code: match http_status {
                    401 => CynodCode::Unauthenticated,
                    500.. => CynodCode::SystemError,
                    other => CynodCode::Other(other),
                },
                message: format!("HTTP {http_status}"),
            }))
        }
        Err(e) => return Err(EnvelopeError::Malformed(e.to_string())),
    };
    let code = match &raw.code {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
        _ => None,
    };
    let message = raw.message.or(raw.debug_message).unwrap_or_default();
    let success = raw.success.unwrap_or(false);
    match (success, code) {
        // Only a final 2xx answer carries a success: an informational 1xx never does.
        (true, Some(200)) | (true, None) if (200..300).contains(&http_status) => {
            Ok(EnvelopeOutcome::Success {
                message,
                data: raw.data.unwrap_or(Value::Null),
            })
        }
        (true, _) => Err(EnvelopeError::Malformed(format!(
            "succès annoncé avec le code {:?} (HTTP {http_status})",
            raw.code
        ))),
        (false, Some(code)) => Ok(EnvelopeOutcome::Failure(CynodFailure {
            code: CynodCode::from_number(code),
            message,
        })),
        (false, None) if http_status >= 400 => Ok(EnvelopeOutcome::Failure(CynodFailure {
            code: if http_status >= 500 {
                CynodCode::SystemError
            } else {
                CynodCode::Other(http_status)
            },
            message,
        })),
        (false, None) => Err(EnvelopeError::Malformed(
            "ni succès ni code d'erreur".into(),
        )),
    }
}

/// `data` as a list of items: the spec sends arrays; a lone object or null is tolerated.
pub fn data_items<T: for<'de> Deserialize<'de>>(data: Value) -> Result<Vec<T>, EnvelopeError> {
    let items = match data {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| {
            serde_json::from_value(item).map_err(|e| EnvelopeError::Malformed(e.to_string()))
        })
        .collect()
}

/// A successful envelope, as the simulator writes it.
#[derive(Debug, Serialize)]
pub struct SuccessEnvelope<'a, T: Serialize> {
    pub success: bool,
    pub code: u16,
    pub message: &'a str,
    pub data: T,
}

/// An error envelope, exactly the spec's shape (code as a string, as in its examples).
#[derive(Debug, Serialize)]
pub struct ErrorEnvelope<'a> {
    pub success: bool,
    pub code: String,
    pub message: &'a str,
    #[serde(rename = "debugMessage")]
    pub debug_message: Option<&'a str>,
    #[serde(rename = "moreInfo")]
    pub more_info: Option<&'a str>,
}

impl<'a> ErrorEnvelope<'a> {
    pub fn new(code: CynodCode, message: &'a str) -> Self {
        Self {
            success: false,
            code: code.number().to_string(),
            message,
            debug_message: Some(message),
            more_info: None,
        }
    }
}

/// A CYNOD card number: 16 digits.
pub fn is_valid_card_number(numero: &str) -> bool {
    numero.len() == 16 && numero.bytes().all(|b| b.is_ascii_digit())
}

/// The last four characters of a card number (fewer if it is shorter).
pub fn card_last4(numero: &str) -> String {
    numero
        .chars()
        .skip(numero.chars().count().saturating_sub(4))
        .collect()
}

/// `numeroCarte` masked for reports and logs: only the last four digits stay.
pub fn mask_card_number(numero: &str) -> String {
    format!("************{}", card_last4(numero))
}

/// The first path parameter of a route, as the audit log keeps it (`pattern` is the route's
/// `{param}` pattern): a card number (the `card_number` parameter, or any value shaped like one)
/// is masked to its last four digits, so the log never holds a full card number.
pub fn audit_resource(pattern: &str, value: &str) -> String {
    let first_param = pattern
        .split('{')
        .nth(1)
        .and_then(|rest| rest.split('}').next());
    if first_param == Some("card_number") || is_valid_card_number(value) {
        mask_card_number(value)
    } else {
        value.to_string()
    }
}

/// `data` item of `get-solde-carte`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceItem {
    pub numero_carte: String,
    pub solde_online: DecimalNumber,
    #[serde(default)]
    pub date_solde: Option<String>,
    #[serde(default)]
    pub type_wallet: Option<String>,
}

/// `data` item of `check-card-validity` and `check-card-validity-membre`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidityItem {
    pub numero_carte: String,
    pub fin_validite: String,
    #[serde(default)]
    pub nom: Option<String>,
    #[serde(default)]
    pub prenom: Option<String>,
    #[serde(default)]
    pub type_wallet: Option<String>,
    #[serde(default)]
    pub statut: Option<String>,
}

/// `data` item of `get-cartes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardItem {
    pub numero_carte: String,
    #[serde(default)]
    pub type_wallet: Option<String>,
    #[serde(default)]
    pub fin_validite: Option<String>,
    #[serde(default)]
    pub statut: Option<String>,
    pub solde_online: DecimalNumber,
    #[serde(default)]
    pub wallet_id: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
}

/// `data` item of `debiter-carte`, `crediter-carte`, `get-operation` and `annuler-reference`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationItem {
    pub reference: String,
    /// `EFFECTUEE` (applied) or `ANNULEE` (fenced, never applied).
    pub statut: String,
    #[serde(default)]
    pub sens: Option<String>,
    #[serde(default)]
    pub numero_carte: Option<String>,
    #[serde(default)]
    pub montant: Option<DecimalNumber>,
    #[serde(default)]
    pub solde_online: Option<DecimalNumber>,
    #[serde(default)]
    pub date_operation: Option<String>,
    /// The merchant the movement was made for, when the request named one.
    #[serde(default)]
    pub commercant: Option<String>,
}

impl OperationItem {
    pub fn applied(&self) -> bool {
        self.statut == "EFFECTUEE"
    }

    /// The movement as a card's history shows it; a fenced reference (nothing moved) is none.
    pub fn to_history_entry(&self, currency: Currency) -> Result<Option<HistoryEntry>, Problem> {
        let direction = match self.sens.as_deref() {
            _ if !self.applied() => return Ok(None),
            Some("DEBIT") => "debit",
            Some("CREDIT") => "credit",
            other => return Err(unexpected(format!("sens {other:?}"))),
        };
        let minor = |field: &str, value: Option<&DecimalNumber>| {
            value
                .map(|v| {
                    v.to_minor(currency)
                        .map(|m| DecimalNumber::from_minor(m, currency))
                        .map_err(|e| unexpected(format!("{field} {}: {e}", v.text())))
                })
                .transpose()
        };
        Ok(Some(HistoryEntry {
            reference: self.reference.clone(),
            direction,
            amount: minor("montant", self.montant.as_ref())?
                .ok_or_else(|| unexpected("montant absent".into()))?,
            balance_after: minor("soldeOnline", self.solde_online.as_ref())?,
            merchant: self.commercant.clone(),
            occurred_at: self
                .date_operation
                .as_deref()
                .and_then(cynod_datetime_to_rfc3339),
        }))
    }
}

fn unexpected(detail: String) -> Problem {
    Problem::new(
        ErrorCode::UpstreamError,
        format!("opération CYNOD inattendue: {detail}"),
    )
}

/// One movement of a card in the wallet's history (`GET /api/v1/wallet/cards/{n}/history`).
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub reference: String,
    /// `debit` or `credit`.
    pub direction: &'static str,
    pub amount: DecimalNumber,
    pub balance_after: Option<DecimalNumber>,
    pub merchant: Option<String>,
    pub occurred_at: Option<String>,
}

/// Most movements one history page of `get-operations-carte` returns (its `limite`).
pub const MAX_HISTORY_ITEMS: u32 = 200;

/// Body of `debiter-carte` and `crediter-carte`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MovementRequest {
    pub numero_carte: String,
    pub montant: DecimalNumber,
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commercant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub libelle: Option<String>,
}

/// `dd-mm-yyyy hh:mm:ss` in UTC as RFC 3339. CYNOD writes `dateSolde`/`dateOperation` in its own
/// zone; the gateway's client rewrites them in UTC (`CynodZone::to_utc_text`) before anyone
/// reads them with this.
pub fn cynod_datetime_to_rfc3339(text: &str) -> Option<String> {
    chrono::NaiveDateTime::parse_from_str(text.trim(), "%d-%m-%Y %H:%M:%S")
        .ok()
        .map(|t| {
            t.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
}

/// CYNOD's `finValidite`: `dd/mm/yyyy` as the spec writes it; `dd-mm-yyyy` and ISO `yyyy-mm-dd`
/// are tolerated, since the document shows one example and no schema.
pub fn parse_cynod_date(text: &str) -> Option<NaiveDate> {
    ["%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(text.trim(), format).ok())
}

/// `finValidite` as an ISO date.
pub fn cynod_date_to_iso(text: &str) -> Option<String> {
    parse_cynod_date(text).map(|d| d.format("%Y-%m-%d").to_string())
}

/// Whether a card CYNOD described is valid on `today` (the date in CYNOD's configured zone): a
/// card is valid through the last day of its `finValidite`. A CYNOD that answers success for an
/// expired card gets the same answer as one that refuses it with 415. An unreadable date is an
/// upstream error, never "valid".
pub fn check_validity(fin_validite: &str, today: NaiveDate) -> Result<NaiveDate, Problem> {
    let end = parse_cynod_date(fin_validite).ok_or_else(|| {
        Problem::new(
            ErrorCode::UpstreamError,
            format!("réponse CYNOD inattendue: finValidite {fin_validite:?} illisible"),
        )
    })?;
    if end < today {
        return Err(CynodCode::CardExpired.to_problem(&format!(
            "Carte expirée depuis le {}",
            end.format("%d/%m/%Y")
        )));
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn parses_the_spec_success_example() {
        let body = br#"{"success":true,"code":200,"message":"Sauf omission","data":[{"numeroCarte":"7019800100009569","soldeOnline":142000.0,"dateSolde":"23-08-2021 10:11:42"}]}"#;
        let EnvelopeOutcome::Success { data, .. } = parse_envelope(200, body).unwrap() else {
            panic!("expected success");
        };
        #[derive(Deserialize)]
        struct Balance {
            #[serde(rename = "soldeOnline")]
            solde: DecimalNumber,
        }
        let items: Vec<Balance> = data_items(data).unwrap();
        assert_eq!(items[0].solde.to_minor(Currency::Tnd), Ok(142_000_000));
    }

    #[test]
    fn code_may_be_a_string_or_a_number() {
        let as_string = br#"{"success":false,"code":"412","message":"Utilisateur inexistant ou invalide","debugMessage":"x","moreInfo":null}"#;
        let as_number =
            br#"{"success":false,"code":412,"message":"Utilisateur inexistant ou invalide"}"#;
        for body in [&as_string[..], &as_number[..]] {
            assert_eq!(
                parse_envelope(400, body).unwrap(),
                EnvelopeOutcome::Failure(CynodFailure {
                    code: CynodCode::UnknownUser,
                    message: "Utilisateur inexistant ou invalide".into()
                })
            );
        }
    }

    #[test]
    fn data_may_be_empty_null_or_absent() {
        for body in [
            &br#"{"success":true,"code":200,"message":"ok","data":[]}"#[..],
            br#"{"success":true,"code":200,"message":"ok","data":null}"#,
            br#"{"success":true,"code":"200","message":"ok"}"#,
        ] {
            let EnvelopeOutcome::Success { data, .. } = parse_envelope(200, body).unwrap() else {
                panic!("expected success");
            };
            assert!(data_items::<Value>(data).unwrap().is_empty());
        }
    }

    #[test]
    fn unknown_codes_and_garbage_are_upstream_errors() {
        let body = br#"{"success":false,"code":"499","message":"??"}"#;
        let EnvelopeOutcome::Failure(failure) = parse_envelope(400, body).unwrap() else {
            panic!()
        };
        assert_eq!(failure.code, CynodCode::Other(499));
        assert_eq!(failure.to_problem().code, ErrorCode::UpstreamError);
        assert!(parse_envelope(200, b"<html>").is_err());
        assert!(parse_envelope(200, br#"{"success":true,"code":412}"#).is_err());
        assert_eq!(
            parse_envelope(503, b"upstream down").unwrap(),
            EnvelopeOutcome::Failure(CynodFailure {
                code: CynodCode::SystemError,
                message: "HTTP 503".into()
            })
        );
        // An endpoint this CYNOD does not have, behind a proxy that answers in HTML.
        assert_eq!(
            parse_envelope(404, b"<html>Not Found</html>").unwrap(),
            EnvelopeOutcome::Failure(CynodFailure {
                code: CynodCode::Other(404),
                message: "HTTP 404".into()
            })
        );
        let EnvelopeOutcome::Failure(unauthenticated) = parse_envelope(401, b"").unwrap() else {
            panic!()
        };
        assert_eq!(unauthenticated.code, CynodCode::Unauthenticated);
    }

    #[test]
    fn functional_codes_map_to_dyno_problems() {
        assert_eq!(
            CynodCode::InsufficientBalance.to_problem("x").code,
            ErrorCode::InsufficientFunds
        );
        assert_eq!(
            CynodCode::InsufficientBalance.to_problem("x").code.status(),
            413
        );
        assert_eq!(
            CynodCode::UnknownCard.to_problem("x").code,
            ErrorCode::CardNotFound
        );
        assert_eq!(CynodCode::SystemError.to_problem("x").code.status(), 502);
        for n in [
            200u16, 401, 404, 405, 412, 414, 415, 416, 417, 418, 500, 499,
        ] {
            assert_eq!(CynodCode::from_number(n).number(), n);
        }
    }

    #[test]
    fn card_numbers_dates_and_masks() {
        assert!(is_valid_card_number("7019800100009569"));
        assert!(!is_valid_card_number("701980010000956"));
        assert!(!is_valid_card_number("70198001000095X9"));
        assert_eq!(mask_card_number("7019800100009569"), "************9569");
        let card_route = "/api/v1/pos/cards/{card_number}/balance";
        assert_eq!(
            audit_resource(card_route, "7019800100009569"),
            "************9569"
        );
        // Whatever a client put in a card route's parameter, only its last four characters stay.
        assert_eq!(
            audit_resource(card_route, "70198001000095691"),
            "************5691"
        );
        // Other parameters stay readable, unless a card number was put there.
        let member_route = "/api/v1/pos/members/{client_id}/cards";
        assert_eq!(audit_resource(member_route, "CLT-0042"), "CLT-0042");
        assert_eq!(
            audit_resource(member_route, "7019800100009569"),
            "************9569"
        );
        assert_eq!(
            audit_resource("/api/v1/pos/payments/{id}", "TXN-1"),
            "TXN-1"
        );
        assert_eq!(card_last4("12"), "12");
        assert_eq!(
            cynod_datetime_to_rfc3339("23-08-2021 10:11:42").as_deref(),
            Some("2021-08-23T10:11:42Z")
        );
        assert_eq!(
            cynod_date_to_iso("18/07/2029").as_deref(),
            Some("2029-07-18")
        );
        assert_eq!(
            cynod_date_to_iso("2029-07-18").as_deref(),
            Some("2029-07-18")
        );
        assert_eq!(
            cynod_date_to_iso("18-07-2029").as_deref(),
            Some("2029-07-18")
        );
        assert_eq!(cynod_date_to_iso("07/18/2029"), None);
        assert_eq!(cynod_date_to_iso("demain"), None);
    }

    #[test]
    fn validity_compares_fin_validite_with_today() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let today = day(2026, 6, 5);
        assert_eq!(check_validity("18/07/2029", today), Ok(day(2029, 7, 18)));
        // Valid through its last day, expired the day after.
        assert_eq!(check_validity("05/06/2026", today), Ok(today));
        let expired = check_validity("04/06/2026", today).unwrap_err();
        assert_eq!(expired.code, ErrorCode::CardExpired);
        assert!(expired.detail.contains("04/06/2026"), "{}", expired.detail);
        assert_eq!(
            check_validity("", today).unwrap_err().code,
            ErrorCode::UpstreamError
        );
        assert_eq!(
            check_validity("31/02/2026", today).unwrap_err().code,
            ErrorCode::UpstreamError
        );
    }

    #[test]
    fn operations_parse_with_float_amounts() {
        let body = br#"{"success":true,"code":200,"message":"ok","data":[{"reference":"R1","statut":"EFFECTUEE","sens":"DEBIT","numeroCarte":"7019800100009569","montant":12.5,"soldeOnline":137.5,"dateOperation":"05-06-2026 10:30:00"}]}"#;
        let EnvelopeOutcome::Success { data, .. } = parse_envelope(200, body).unwrap() else {
            panic!()
        };
        let ops: Vec<OperationItem> = data_items(data).unwrap();
        assert!(ops[0].applied());
        let entry = ops[0].to_history_entry(Currency::Tnd).unwrap().unwrap();
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"reference":"R1","direction":"debit","amount":12.500,"balance_after":137.500,"merchant":null,"occurred_at":"2026-06-05T10:30:00Z"}"#
        );
        let fenced: OperationItem =
            serde_json::from_str(r#"{"reference":"R2","statut":"ANNULEE"}"#).unwrap();
        assert!(fenced.to_history_entry(Currency::Tnd).unwrap().is_none());
        let odd: OperationItem = serde_json::from_str(
            r#"{"reference":"R3","statut":"EFFECTUEE","sens":"DEBIT","montant":1.0001}"#,
        )
        .unwrap();
        assert!(odd.to_history_entry(Currency::Tnd).is_err());
        assert_eq!(
            ops[0].montant.as_ref().unwrap().to_minor(Currency::Tnd),
            Ok(12_500)
        );
        let movement = MovementRequest {
            numero_carte: "7019800100009569".into(),
            montant: DecimalNumber::from_minor(12_500, Currency::Tnd),
            reference: "R1".into(),
            wallet_id: None,
            client_id: None,
            commercant: Some("M".into()),
            libelle: None,
        };
        assert_eq!(
            serde_json::to_string(&movement).unwrap(),
            r#"{"numeroCarte":"7019800100009569","montant":12.500,"reference":"R1","commercant":"M"}"#
        );
    }
}
