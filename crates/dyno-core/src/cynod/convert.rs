//! CYNOD's answers and requests translated between its dialect and the gateway's terms: amounts
//! between its scale and millimes, date-times from its zone to UTC, validity against its today.
//! Invariant: what the gateway's client hands out is in the gateway's terms only, and a value that
//! cannot be translated exactly is refused (or, for an echo of an applied operation, dropped),
//! never rounded or guessed.

use super::dialect::CynodDialect;
use super::{check_validity, BalanceItem, CardItem, MovementRequest, OperationItem, ValidityItem};
use crate::money::DecimalNumber;
use crate::problem::{ErrorCode, Problem};
use crate::time::Millis;

fn unexpected(detail: String) -> Problem {
    Problem::new(
        ErrorCode::UpstreamError,
        format!("réponse CYNOD inattendue: {detail}"),
    )
}

impl CynodDialect {
    /// The body of `debiter-carte` / `crediter-carte`: the amount (gateway minor units) written in
    /// CYNOD's scale. An amount that scale cannot hold is `INVALID_AMOUNT`, before anything is sent.
    pub fn movement_body(&self, movement: &MovementRequest) -> Result<String, Problem> {
        let gateway = self.amounts.gateway();
        let montant = movement
            .montant
            .to_minor(gateway)
            .and_then(|minor| self.amounts.from_gateway_minor(minor))
            .map_err(|e| {
                Problem::new(
                    ErrorCode::InvalidAmount,
                    format!(
                        "{} {}: CYNOD compte avec {} décimale(s) ({e}); aucun mouvement n'a été \
                         demandé.",
                        movement.montant.text(),
                        gateway.code(),
                        self.amounts.scale()
                    ),
                )
            })?;
        let wire = MovementRequest {
            montant,
            ..movement.clone()
        };
        serde_json::to_string(&wire).map_err(|e| unexpected(e.to_string()))
    }

    /// A balance in gateway minor units; 502 when CYNOD's number is not representable.
    pub fn balance_minor(&self, item: &BalanceItem) -> Result<i64, Problem> {
        self.amounts
            .to_gateway_minor(item.solde_online.text())
            .map_err(|e| unexpected(format!("soldeOnline {}: {e}", item.solde_online.text())))
    }

    /// A date-time CYNOD wrote in its zone, as UTC in CYNOD's format; `None` when unreadable.
    pub fn utc_datetime(&self, text: Option<&str>) -> Option<String> {
        text.and_then(|t| self.zone.to_utc_text(t))
    }

    /// A listed card with its balance in the gateway's scale; 502 when not representable.
    pub fn card_in_gateway_terms(&self, mut card: CardItem) -> Result<CardItem, Problem> {
        card.solde_online = self
            .amounts
            .to_gateway(&card.solde_online)
            .map_err(|e| unexpected(format!("soldeOnline {}: {e}", card.solde_online.text())))?;
        Ok(card)
    }

    /// An operation CYNOD reports: amounts in the gateway's scale, the date in UTC. An echoed
    /// amount that cannot be read exactly is dropped: the operation happened all the same.
    pub fn operation_in_gateway_terms(&self, mut operation: OperationItem) -> OperationItem {
        let convert = |n: Option<DecimalNumber>| n.and_then(|n| self.amounts.to_gateway(&n).ok());
        operation.montant = convert(operation.montant.take());
        operation.solde_online = convert(operation.solde_online.take());
        operation.date_operation = self.utc_datetime(operation.date_operation.as_deref());
        operation
    }

    /// A card CYNOD described as valid, checked against today in CYNOD's zone: whether CYNOD
    /// refuses an expired card (415) or describes it, the answer is the same `CARD_EXPIRED`.
    pub fn still_valid(&self, item: ValidityItem, now: Millis) -> Result<ValidityItem, Problem> {
        check_validity(&item.fin_validite, self.zone.today(now)).map(|_| item)
    }
}

/// The cause of a write whose outcome no recovery call can settle: `OUTCOME_UNKNOWN`, keeping the
/// original cause and saying what must happen next.
pub fn outcome_unknown(cause: &Problem, why: &str) -> Problem {
    Problem::new(
        ErrorCode::OutcomeUnknown,
        format!(
            "{} Issue inconnue et non vérifiable automatiquement ({why}): un opérateur doit \
             constater dans CYNOD si le mouvement a eu lieu, puis la régler.",
            cause.detail
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cynod::dialect::CynodAmounts;
    use crate::money::Currency;

    fn dialect(scale: u32) -> CynodDialect {
        CynodDialect {
            amounts: CynodAmounts::new("TND", scale, Currency::Tnd).unwrap(),
            ..CynodDialect::native(Currency::Tnd)
        }
    }

    fn movement(minor: i64) -> MovementRequest {
        MovementRequest {
            numero_carte: "7019800100009569".into(),
            montant: DecimalNumber::from_minor(minor, Currency::Tnd),
            reference: "R1".into(),
            wallet_id: None,
            client_id: None,
            commercant: None,
            libelle: None,
        }
    }

    #[test]
    fn movements_are_written_in_cynod_s_scale_or_refused_before_sending() {
        assert_eq!(
            dialect(0).movement_body(&movement(12_000)).unwrap(),
            r#"{"numeroCarte":"7019800100009569","montant":12,"reference":"R1"}"#
        );
        assert!(dialect(3)
            .movement_body(&movement(12_500))
            .unwrap()
            .contains(r#""montant":12.500"#));
        let refused = dialect(0).movement_body(&movement(12_500)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidAmount);
        assert!(refused.detail.contains("12.500 TND"), "{}", refused.detail);
    }

    #[test]
    fn answers_are_read_in_the_gateway_s_terms() {
        let item: OperationItem = serde_json::from_str(
            r#"{"reference":"R1","statut":"EFFECTUEE","montant":12,"soldeOnline":137.49999999999997,"dateOperation":"05-06-2026 10:30:00"}"#,
        )
        .unwrap();
        let op = dialect(0).operation_in_gateway_terms(item);
        assert_eq!(
            op.montant.map(|n| n.text().to_string()),
            Some("12.000".into())
        );
        // 137.5 is not whole: with scale 0 the echo is dropped, the operation stands.
        assert!(op.solde_online.is_none());
        assert_eq!(op.date_operation.as_deref(), Some("05-06-2026 09:30:00"));

        let balance: BalanceItem =
            serde_json::from_str(r#"{"numeroCarte":"x","soldeOnline":142000.0}"#).unwrap();
        assert_eq!(dialect(0).balance_minor(&balance), Ok(142_000_000));
        let odd: BalanceItem =
            serde_json::from_str(r#"{"numeroCarte":"x","soldeOnline":137.4995}"#).unwrap();
        assert_eq!(
            dialect(3).balance_minor(&odd).unwrap_err().code,
            ErrorCode::UpstreamError
        );
        let card: CardItem =
            serde_json::from_str(r#"{"numeroCarte":"x","soldeOnline":150.0}"#).unwrap();
        assert_eq!(
            dialect(3)
                .card_in_gateway_terms(card)
                .unwrap()
                .solde_online
                .text(),
            "150.000"
        );
        assert_eq!(dialect(3).utc_datetime(Some("hier")), None);
    }

    #[test]
    fn validity_uses_today_in_cynod_s_zone() {
        let item: ValidityItem =
            serde_json::from_str(r#"{"numeroCarte":"x","finValidite":"31/12/2026"}"#).unwrap();
        // 23:30 UTC on 31 December 2026 is already 1 January in Tunis: expired there.
        let late = Millis::parse_rfc3339("2026-12-31T23:30:00Z").unwrap();
        assert_eq!(
            CynodDialect::native(Currency::Tnd)
                .still_valid(item.clone(), late)
                .unwrap_err()
                .code,
            ErrorCode::CardExpired
        );
        let earlier = Millis::parse_rfc3339("2026-12-31T22:30:00Z").unwrap();
        assert!(CynodDialect::native(Currency::Tnd)
            .still_valid(item, earlier)
            .is_ok());
    }

    #[test]
    fn an_unknown_outcome_keeps_its_cause_and_says_what_to_do() {
        let cause = Problem::new(ErrorCode::UpstreamTimeout, "CYNOD n'a pas répondu.");
        let unknown = outcome_unknown(&cause, "CYNOD_RECOVERY=none");
        assert_eq!(unknown.code, ErrorCode::OutcomeUnknown);
        assert_eq!(unknown.code.status(), 502);
        assert!(unknown.detail.starts_with("CYNOD n'a pas répondu."));
        assert!(unknown.detail.contains("opérateur"));
    }
}
