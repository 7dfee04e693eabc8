//! The durable records a payment and a request leave behind, and the queue messages that carry
//! them: ledger rows (D1 `transactions`), audit entries (D1 `audit_log`) and webhook jobs. They live
//! here so that the objects that produce them, the queue consumers and the registry all share one
//! definition without importing each other. Invariant: every record carries its own id, and its
//! consumer writes it idempotently by that id.

use serde::{Deserialize, Serialize};

use crate::cynod::card_last4;
use crate::payment::{Flow, Payment, Refund, Status};

/// A row of D1 `transactions`: one money movement, as reconciliation needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRow {
    pub movement_id: String,
    pub kind: String,
    pub transaction_id: String,
    pub payment_request_id: Option<String>,
    pub flow: String,
    pub client_id: String,
    pub merchant_id: String,
    pub pos_reference: String,
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub wallet_type: Option<String>,
    pub card_last4: Option<String>,
    pub cynod_reference: String,
    pub confirmation_code: Option<String>,
    pub occurred_at_ms: i64,
    pub sandbox: bool,
}

impl TransactionRow {
    /// The debit of a succeeded payment.
    pub fn payment(payment: &Payment) -> Option<Self> {
        let order = payment.order.as_ref()?;
        let receipt = payment.receipt.as_ref()?;
        let payer = payment.payer.as_ref();
        Some(Self {
            movement_id: format!("pay-{}", order.transaction_id),
            kind: "payment".into(),
            transaction_id: order.transaction_id.to_string(),
            payment_request_id: (payment.flow == Flow::Ppm).then(|| payment.id.to_string()),
            flow: payment.flow.as_str().into(),
            client_id: order.client_id.to_string(),
            merchant_id: order.merchant_id.clone(),
            pos_reference: order.pos_reference.to_string(),
            status: "succeeded".into(),
            amount_minor: order.amount.get(),
            currency: payment.currency.code().into(),
            wallet_type: payer.map(|p| p.wallet_type.clone()),
            card_last4: payer.map(|p| card_last4(&p.card_number)),
            cynod_reference: receipt.cynod_reference.clone(),
            confirmation_code: Some(receipt.confirmation_code.clone()),
            occurred_at_ms: receipt.transaction_date.0,
            sandbox: order.sandbox,
        })
    }

    /// The credit of a succeeded refund.
    pub fn refund(payment: &Payment, refund: &Refund) -> Option<Self> {
        let mut row = Self::payment(payment)?;
        row.movement_id = format!("ref-{}", refund.refund_id);
        row.kind = "refund".into();
        row.amount_minor = refund.amount.get();
        row.cynod_reference = refund.cynod_reference.clone();
        row.confirmation_code = None;
        row.occurred_at_ms = refund.updated_at.0;
        Some(row)
    }
}

/// How a payment ended (D1 `payment_outcomes`): successes and failures by flow, for the
/// merchant's console, whether or not money moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRow {
    pub payment_id: String,
    pub client_id: String,
    pub merchant_id: String,
    pub flow: String,
    /// `succeeded`, `failed`, `expired` or `cancelled`.
    pub status: String,
    pub reason: Option<String>,
    pub amount_minor: i64,
    pub at_ms: i64,
    pub sandbox: bool,
}

impl OutcomeRow {
    /// The final state of a payment that had a sale; `None` otherwise.
    pub fn of(payment: &Payment) -> Option<Self> {
        let order = payment.order.as_ref()?;
        let status = match payment.status {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
            _ => return None,
        };
        Some(Self {
            payment_id: payment.id.to_string(),
            client_id: order.client_id.to_string(),
            merchant_id: order.merchant_id.clone(),
            flow: payment.flow.as_str().into(),
            status: status.into(),
            reason: payment.failure_reason.clone(),
            amount_minor: order.amount.get(),
            at_ms: payment.updated_at.0,
            sandbox: order.sandbox,
        })
    }
}

/// One row of D1 `audit_log`: who did what to which resource, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub event_id: String,
    pub client_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub resource: Option<String>,
    pub outcome: String,
    pub status: i64,
    pub request_id: String,
    pub ip: Option<String>,
    pub at_ms: i64,
}

/// A message on the `events` queue. The tag is `event_type`, not `kind`: a `TransactionRow` has a
/// `kind` of its own, which would overwrite the tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event_type", rename_all = "snake_case")]
pub enum EventMessage {
    /// Sent by `/healthz` to prove the producer binding works; consumed and dropped.
    Probe { request_id: String },
    /// One audit-log row.
    Audit(AuditEntry),
    /// One money movement (a payment or a refund) for D1 `transactions`.
    Transaction(TransactionRow),
    /// How a payment ended, for D1 `payment_outcomes`.
    Outcome(OutcomeRow),
}

/// A message on the `webhooks` queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WebhookJob {
    /// Sent by `/healthz` to prove the producer binding works; consumed and dropped.
    Probe { request_id: String },
    /// One event for one client's endpoint. Retries keep the same `delivery_id` (the Standard
    /// Webhooks `webhook-id`), so receivers can deduplicate, and the consumer never sends a
    /// delivered one again.
    Deliver {
        delivery_id: String,
        client_id: String,
        event: String,
        payment_id: String,
        /// The exact bytes to send and sign.
        body: String,
        /// Attempt number this queue cycle starts at (1, or the next number on a redelivery).
        first_attempt: u32,
        /// Sandbox `webhook_timeout`: every attempt is recorded as timed out and nothing is sent.
        #[serde(default)]
        simulate_timeout: bool,
        /// The request's own webhook URL, when the POS gave one; else the client's endpoint.
        #[serde(default)]
        url: Option<String>,
    },
}
