//! The bodies the API answers with, as pure projections of the domain's views: the seed's shapes
//! for the scan, initiate and status answers, field for field, and ours for look-ups, refunds and
//! the employee's view. Invariant: amounts are written with the currency's decimals, dates in RFC
//! 3339, and a field the seed does not have appears only where it means something.

use serde::Serialize;

use crate::money::{Currency, DecimalNumber, Minor};
use crate::payment::view::{refund_status, status_word, PaymentView, WalletView};
use crate::payment::{CancelledBy, Flow, Refund, RefundStatus, Status};
use crate::time::Millis;

const TND: Currency = Currency::Tnd;

/// The seed's 200 body of an EPM scan.
#[derive(Debug, Serialize)]
pub struct ScanSucceeded {
    pub transaction_id: String,
    pub status: &'static str,
    pub amount: DecimalNumber,
    pub currency: &'static str,
    pub wallet_type: String,
    pub confirmation_code: String,
    pub transaction_date: String,
}

impl ScanSucceeded {
    pub fn of(view: &PaymentView) -> Self {
        Self {
            transaction_id: view.transaction_id.to_string(),
            status: "succeeded",
            amount: view.amount.number(TND),
            currency: TND.code(),
            wallet_type: view.wallet_type.clone().unwrap_or_default(),
            confirmation_code: view.confirmation_code.clone().unwrap_or_default(),
            transaction_date: view
                .transaction_date
                .unwrap_or(view.created_at)
                .to_rfc3339(),
        }
    }
}

/// The seed's 200 body of `initiate`.
#[derive(Debug, Serialize)]
pub struct Initiated {
    pub payment_request_id: String,
    pub qr_payload: String,
    pub nfc_payload: String,
    pub amount: DecimalNumber,
    pub currency: &'static str,
    pub expires_at: String,
    pub status: &'static str,
}

impl Initiated {
    pub fn of(view: &PaymentView, qr_payload: String, nfc_payload: String) -> Self {
        Self {
            payment_request_id: view.payment_id.to_string(),
            qr_payload,
            nfc_payload,
            amount: view.amount.number(TND),
            currency: TND.code(),
            expires_at: view.expires_at.to_rfc3339(),
            status: status_word(Flow::Ppm, view.status),
        }
    }
}

/// What the POS must know when a movement's outcome is unknown and only an operator can settle
/// it: the code, what to do, and the reference the operator looks up.
#[derive(Debug, Serialize)]
pub struct ActionRequired {
    pub code: &'static str,
    pub detail: &'static str,
    pub cynod_reference: String,
}

impl ActionRequired {
    pub fn of(view: &PaymentView) -> Option<Self> {
        view.awaiting_operator.clone().map(|cynod_reference| Self {
            code: "OUTCOME_UNKNOWN",
            detail: "Le résultat du mouvement chez CYNOD est inconnu et ne peut pas être vérifié automatiquement: ne relancez pas la vente et n'encaissez pas autrement; un opérateur Dyno le règle, puis ce paiement prend son statut final.",
            cynod_reference,
        })
    }
}

/// The status a POS polls (and the answer of cancel and of the sandbox helpers).
#[derive(Debug, Serialize)]
pub struct SessionStatus {
    pub payment_request_id: String,
    pub status: &'static str,
    pub amount: DecimalNumber,
    pub currency: &'static str,
    pub pos_reference: String,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `employee` or `pos`, when cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<CancelledBy>,
    /// When confirmed: `none`, `partially_refunded` or `refunded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<&'static str>,
    /// A movement awaits an operator (its outcome is unknown and cannot be looked up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_required: Option<ActionRequired>,
}

impl SessionStatus {
    pub fn of(v: &PaymentView) -> Self {
        let confirmed = v.status == Status::Succeeded;
        Self {
            payment_request_id: v.payment_id.to_string(),
            // Only ever the seed's six words; refunds show in `refund_status`.
            status: status_word(Flow::Ppm, v.status),
            amount: v.amount.number(TND),
            currency: TND.code(),
            pos_reference: v.pos_reference.to_string(),
            expires_at: v.expires_at.to_rfc3339(),
            transaction_id: confirmed.then(|| v.transaction_id.to_string()),
            confirmation_code: v.confirmation_code.clone().filter(|_| confirmed),
            wallet_type: v.wallet_type.clone().filter(|_| confirmed),
            reason: v
                .failure_reason
                .clone()
                .filter(|_| v.status.is_final() && !confirmed),
            cancelled_by: v.cancelled_by,
            refund_status: v.refund_status(),
            action_required: ActionRequired::of(v),
        }
    }
}

/// A payment as the look-up and listing routes return it.
#[derive(Debug, Serialize)]
pub struct PaymentResource {
    pub transaction_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<String>,
    pub flow: Flow,
    pub status: &'static str,
    pub amount: DecimalNumber,
    pub currency: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_amount: Option<DecimalNumber>,
    /// When money moved: `none`, `partially_refunded` or `refunded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<CancelledBy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_required: Option<ActionRequired>,
    pub pos_reference: String,
    pub channel: String,
    pub wallet_type: Option<String>,
    pub card_last4: Option<String>,
    pub confirmation_code: Option<String>,
    pub transaction_date: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

/// A settled payment as D1's ledger lists it (only money that moved is there).
#[derive(Debug, Clone)]
pub struct LedgerPayment {
    pub transaction_id: String,
    pub payment_request_id: Option<String>,
    pub flow: Flow,
    pub pos_reference: String,
    pub amount: Minor,
    pub refunded: Minor,
    pub wallet_type: Option<String>,
    pub card_last4: Option<String>,
    pub confirmation_code: Option<String>,
    pub occurred_at: Millis,
}

impl PaymentResource {
    pub fn of(v: &PaymentView) -> Self {
        Self {
            transaction_id: v.transaction_id.to_string(),
            payment_request_id: (v.flow == Flow::Ppm).then(|| v.payment_id.to_string()),
            flow: v.flow,
            status: status_word(v.flow, v.status),
            amount: v.amount.number(TND),
            currency: TND.code(),
            refunded_amount: (v.refunded > Minor::ZERO).then(|| v.refunded.number(TND)),
            refund_status: v.refund_status(),
            cancelled_by: v.cancelled_by,
            action_required: ActionRequired::of(v),
            pos_reference: v.pos_reference.to_string(),
            channel: v.channel.as_str().to_string(),
            wallet_type: v.wallet_type.clone(),
            card_last4: v.card_last4.clone(),
            confirmation_code: v.confirmation_code.clone(),
            transaction_date: v.transaction_date.map(|t| t.to_rfc3339()),
            created_at: v.created_at.to_rfc3339(),
            failure_reason: v.failure_reason.clone(),
        }
    }

    pub fn of_ledger(p: LedgerPayment) -> Self {
        Self {
            transaction_id: p.transaction_id,
            payment_request_id: p.payment_request_id,
            flow: p.flow,
            status: status_word(p.flow, Status::Succeeded),
            amount: p.amount.number(TND),
            currency: TND.code(),
            refunded_amount: (p.refunded > Minor::ZERO).then(|| p.refunded.number(TND)),
            refund_status: Some(refund_status(p.refunded, p.amount)),
            cancelled_by: None,
            action_required: None,
            pos_reference: p.pos_reference,
            channel: String::new(),
            wallet_type: p.wallet_type,
            card_last4: p.card_last4,
            confirmation_code: p.confirmation_code,
            transaction_date: Some(p.occurred_at.to_rfc3339()),
            created_at: p.occurred_at.to_rfc3339(),
            failure_reason: None,
        }
    }
}

/// The answer to a refund request.
#[derive(Debug, Serialize)]
pub struct RefundCreated {
    pub refund_id: String,
    pub transaction_id: String,
    pub status: RefundStatus,
    pub amount: DecimalNumber,
    pub currency: &'static str,
    /// The payment's own status word (`succeeded` for EPM, `confirmed` for PPM).
    pub payment_status: &'static str,
    /// `partially_refunded` or `refunded` once money went back, else `none`.
    pub refund_status: &'static str,
    pub refunded_amount: DecimalNumber,
    pub created_at: String,
}

impl RefundCreated {
    pub fn of(refund: &Refund, payment: &PaymentView) -> Self {
        Self {
            refund_id: refund.refund_id.to_string(),
            transaction_id: payment.transaction_id.to_string(),
            status: refund.status,
            amount: refund.amount.number(TND),
            currency: TND.code(),
            payment_status: status_word(payment.flow, payment.status),
            refund_status: refund_status(payment.refunded, payment.amount),
            refunded_amount: payment.refunded.number(TND),
            created_at: refund.created_at.to_rfc3339(),
        }
    }
}

/// What the employee sees of a PPM request.
#[derive(Debug, Serialize)]
pub struct WalletRequestView {
    pub payment_request_id: String,
    pub status: &'static str,
    pub amount: DecimalNumber,
    pub currency: &'static str,
    pub merchant_name: String,
    pub description: Option<String>,
    pub expires_at: String,
    pub pin_attempts_left: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl WalletRequestView {
    pub fn of(v: &WalletView) -> Self {
        Self {
            payment_request_id: v.payment_request_id.to_string(),
            status: status_word(Flow::Ppm, v.status),
            amount: v.amount.number(TND),
            currency: TND.code(),
            merchant_name: v.merchant_name.clone(),
            description: v.description.clone(),
            expires_at: v.expires_at.to_rfc3339(),
            pin_attempts_left: v.pin_attempts_left,
            confirmation_code: v.confirmation_code.clone(),
            reason: v
                .failure_reason
                .clone()
                .filter(|_| v.status.is_final() && v.status != Status::Succeeded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::fixtures;

    #[test]
    fn a_confirmed_status_shows_the_receipt_and_no_reason() {
        let view = PaymentView::of(&fixtures::confirmed_ppm()).unwrap();
        let text = serde_json::to_string(&SessionStatus::of(&view)).unwrap();
        assert!(text.contains(r#""amount":45.000,"#), "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["status"], "confirmed");
        assert_eq!(body["confirmation_code"], "A1B2C3D4");
        assert!(body.get("reason").is_none());
        let scan = serde_json::to_value(ScanSucceeded::of(&view)).unwrap();
        assert_eq!(scan["status"], "succeeded");
        assert_eq!(scan["transaction_date"], "2026-06-05T10:30:00Z");
    }

    #[test]
    fn an_expired_status_gives_its_reason_and_no_receipt() {
        let mut p = fixtures::session();
        p.expire_if_due(fixtures::t(61));
        let body = serde_json::to_value(SessionStatus::of(&PaymentView::of(&p).unwrap())).unwrap();
        assert_eq!(body["status"], "expired");
        assert_eq!(body["reason"], "expired");
        assert!(body.get("transaction_id").is_none());
    }

    #[test]
    fn ledger_rows_say_how_much_was_refunded() {
        let row = LedgerPayment {
            transaction_id: "t".into(),
            payment_request_id: None,
            flow: Flow::Epm,
            pos_reference: "R".into(),
            amount: Minor(10_000),
            refunded: Minor(4_000),
            wallet_type: None,
            card_last4: None,
            confirmation_code: None,
            occurred_at: fixtures::t(0),
        };
        let text = serde_json::to_string(&PaymentResource::of_ledger(row.clone())).unwrap();
        assert!(text.contains(r#""refunded_amount":4.000,"#), "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["status"], "succeeded");
        assert_eq!(body["refund_status"], "partially_refunded");
        let untouched = LedgerPayment {
            refunded: Minor::ZERO,
            flow: Flow::Ppm,
            ..row
        };
        let body = serde_json::to_value(PaymentResource::of_ledger(untouched)).unwrap();
        assert_eq!(body["status"], "confirmed");
        assert_eq!(body["refund_status"], "none");
    }
}
