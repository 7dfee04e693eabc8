//! What others see of a payment: the POS client's view (look-ups, status polls, the copy a
//! client's gate keeps) and the employee's view of a PPM request. Invariant: a view is a pure
//! projection of the stored payment; it never carries the card number or the wallet id.

use serde::{Deserialize, Serialize};

use super::{CancelledBy, Channel, Flow, Payment, Status};
use crate::cynod::card_last4;
use crate::ids::{ClientId, PaymentId, PosReference, TransactionId};
use crate::money::Minor;
use crate::time::Millis;

/// A payment as its POS client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentView {
    pub flow: Flow,
    pub status: Status,
    pub payment_id: PaymentId,
    pub client_id: ClientId,
    pub transaction_id: TransactionId,
    pub pos_reference: PosReference,
    pub amount: Minor,
    pub channel: Channel,
    pub wallet_type: Option<String>,
    pub card_last4: Option<String>,
    pub confirmation_code: Option<String>,
    pub transaction_date: Option<Millis>,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub failure_reason: Option<String>,
    pub cancelled_by: Option<CancelledBy>,
    pub merchant_id: String,
    /// Money refunded so far (succeeded refunds).
    pub refunded: Minor,
    /// A movement's outcome is unknown and only an operator can settle it; the CYNOD reference
    /// they look up.
    #[serde(default)]
    pub awaiting_operator: Option<String>,
}

impl PaymentView {
    /// The view of a payment that has an order (every PPM request; an EPM QR once scanned).
    pub fn of(payment: &Payment) -> Option<Self> {
        let order = payment.order.as_ref()?;
        Some(Self {
            flow: payment.flow,
            status: payment.status,
            payment_id: payment.id.clone(),
            client_id: order.client_id.clone(),
            transaction_id: order.transaction_id.clone(),
            pos_reference: order.pos_reference.clone(),
            amount: order.amount,
            channel: order.channel,
            wallet_type: payment.payer.as_ref().map(|p| p.wallet_type.clone()),
            card_last4: payment.payer.as_ref().map(|p| card_last4(&p.card_number)),
            confirmation_code: payment
                .receipt
                .as_ref()
                .map(|r| r.confirmation_code.clone()),
            transaction_date: payment.receipt.as_ref().map(|r| r.transaction_date),
            created_at: payment.created_at,
            expires_at: payment.expires_at,
            failure_reason: payment.failure_reason.clone(),
            cancelled_by: payment.cancelled_by,
            merchant_id: order.merchant_id.clone(),
            refunded: payment.refunded(),
            awaiting_operator: awaiting_operator(payment),
        })
    }

    /// For a payment that moved money: `none`, `partially_refunded` or `refunded`.
    pub fn refund_status(&self) -> Option<&'static str> {
        (self.status == Status::Succeeded).then(|| refund_status(self.refunded, self.amount))
    }
}

/// The CYNOD reference an operator must settle, if any: the debit's, else a refund's.
fn awaiting_operator(payment: &Payment) -> Option<String> {
    if payment.awaiting_operator {
        return payment.pending_reference.clone();
    }
    payment
        .refunds
        .iter()
        .find(|r| r.awaiting_operator)
        .map(|r| r.cynod_reference.clone())
}

/// What the employee's wallet shows of a PPM request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletView {
    pub payment_request_id: PaymentId,
    pub status: Status,
    pub amount: Minor,
    pub merchant_name: String,
    pub description: Option<String>,
    pub expires_at: Millis,
    pub failure_reason: Option<String>,
    pub pin_attempts_left: u32,
    pub confirmation_code: Option<String>,
}

impl WalletView {
    pub fn of(payment: &Payment) -> Option<Self> {
        let order = payment.order.as_ref()?;
        Some(Self {
            payment_request_id: payment.id.clone(),
            status: payment.status,
            amount: order.amount,
            merchant_name: order.merchant_name.clone(),
            description: order.description.clone(),
            expires_at: payment.expires_at,
            failure_reason: payment.failure_reason.clone(),
            pin_attempts_left: payment.pin_attempts_left(),
            confirmation_code: payment
                .receipt
                .as_ref()
                .map(|r| r.confirmation_code.clone()),
        })
    }
}

/// How much of a paid amount went back: `none`, `partially_refunded` or `refunded`.
pub fn refund_status(refunded: Minor, amount: Minor) -> &'static str {
    match refunded {
        Minor::ZERO => "none",
        r if r >= amount => "refunded",
        _ => "partially_refunded",
    }
}

/// The status word a POS sees: the seed's for PPM sessions, `succeeded`/`processing`/`failed` for EPM.
pub fn status_word(flow: Flow, status: Status) -> &'static str {
    match (flow, status) {
        (Flow::Epm, Status::Succeeded) => "succeeded",
        (Flow::Epm, Status::Processing | Status::Unresolved) => "processing",
        (Flow::Epm, _) => "failed",
        (Flow::Ppm, Status::Pending | Status::Issued) => "pending",
        (Flow::Ppm, Status::Scanned | Status::Processing | Status::Unresolved) => "scanned",
        (Flow::Ppm, Status::Succeeded) => "confirmed",
        (Flow::Ppm, Status::Failed) => "failed",
        (Flow::Ppm, Status::Expired) => "expired",
        (Flow::Ppm, Status::Cancelled) => "cancelled",
    }
}
