//! The sandbox's `X-Dyno-Simulate` scenarios (the seed's five, plus ours) and what each one does
//! on each flow. Invariant: a simulated outcome never reaches CYNOD, so no ledger or balance moves.

use crate::problem::{ErrorCode, Problem};

/// The seed's sandbox confirmation code for a simulated success.
pub const SANDBOX_CONFIRMATION_CODE: &str = "SANDBOX01";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    Success,
    InsufficientFunds,
    ExpiredToken,
    MerchantNotFound,
    WebhookTimeout,
    PinFailure,
    Cancelled,
    UpstreamTimeout,
}

pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("success", Scenario::Success),
    ("insufficient_funds", Scenario::InsufficientFunds),
    ("expired_token", Scenario::ExpiredToken),
    ("merchant_not_found", Scenario::MerchantNotFound),
    ("webhook_timeout", Scenario::WebhookTimeout),
    ("pin_failure", Scenario::PinFailure),
    ("cancelled", Scenario::Cancelled),
    ("upstream_timeout", Scenario::UpstreamTimeout),
];

impl Scenario {
    /// Parses a header value; an unknown one is a 400 that lists the allowed values.
    pub fn parse(value: &str) -> Result<Self, Problem> {
        let value = value.trim();
        SCENARIOS
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                let allowed: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
                Problem::new(
                    ErrorCode::InvalidSimulation,
                    format!(
                        "X-Dyno-Simulate « {value} » inconnu. Valeurs possibles: {}.",
                        allowed.join(", ")
                    ),
                )
            })
    }

    /// The synchronous error a scenario stands for on a scan (the seed's status codes).
    pub fn immediate_error(self) -> Option<Problem> {
        let (code, detail) = match self {
            Scenario::InsufficientFunds => (
                ErrorCode::InsufficientFunds,
                "Simulation: solde insuffisant.",
            ),
            Scenario::ExpiredToken => (
                ErrorCode::QrExpired,
                "Simulation: QR présenté après 30 secondes.",
            ),
            Scenario::MerchantNotFound => (
                ErrorCode::MerchantNotFound,
                "Simulation: commerçant non affilié.",
            ),
            Scenario::UpstreamTimeout => (
                ErrorCode::UpstreamTimeout,
                "Simulation: CYNOD ne répond pas.",
            ),
            _ => return None,
        };
        Some(Problem::new(code, detail))
    }

    /// On initiate, only what production would refuse at once: an unaffiliated merchant. Every
    /// other scenario answers 200 `pending` and plays out as a real request would (see
    /// `Payment::advance_simulation`): no CYNOD call happens at initiate in production.
    pub fn initiate_error(self) -> Option<Problem> {
        match self {
            Scenario::MerchantNotFound => self.immediate_error(),
            _ => None,
        }
    }

    /// On a scan (EPM, no PIN and no session), what the employee-side scenarios become.
    pub fn scan_error(self) -> Option<Problem> {
        self.immediate_error().or(match self {
            Scenario::PinFailure => Some(Problem::new(
                ErrorCode::InvalidPin,
                "Simulation: code PIN refusé.",
            )),
            Scenario::Cancelled => Some(Problem::new(
                ErrorCode::InvalidState,
                "Simulation: paiement annulé par l'employé.",
            )),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scenario_and_lists_them_on_error() {
        for (name, scenario) in SCENARIOS {
            assert_eq!(Scenario::parse(name), Ok(*scenario));
            assert_eq!(
                serde_json::to_value(scenario).unwrap(),
                serde_json::json!(name)
            );
        }
        let error = Scenario::parse("explode").unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidSimulation);
        assert!(error.detail.contains("success") && error.detail.contains("upstream_timeout"));
    }

    #[test]
    fn seed_scenarios_keep_the_seed_statuses() {
        assert_eq!(
            Scenario::InsufficientFunds
                .immediate_error()
                .unwrap()
                .code
                .status(),
            413
        );
        assert_eq!(
            Scenario::ExpiredToken
                .immediate_error()
                .unwrap()
                .code
                .status(),
            410
        );
        assert_eq!(
            Scenario::MerchantNotFound
                .immediate_error()
                .unwrap()
                .code
                .status(),
            404
        );
        assert_eq!(
            Scenario::UpstreamTimeout
                .immediate_error()
                .unwrap()
                .code
                .status(),
            504
        );
        assert!(Scenario::Success.scan_error().is_none());
        // On initiate, a request is created and plays the scenario out, as production would.
        for (_, scenario) in SCENARIOS {
            let immediate = scenario.initiate_error().map(|p| p.code);
            let expected =
                (*scenario == Scenario::MerchantNotFound).then_some(ErrorCode::MerchantNotFound);
            assert_eq!(immediate, expected, "{scenario:?}");
        }
        // A PIN failure is never a 401: that status is only about the Bearer token.
        assert_ne!(
            Scenario::PinFailure.scan_error().unwrap().code.status(),
            401
        );
        assert!(Scenario::WebhookTimeout.scan_error().is_none());
    }
}
