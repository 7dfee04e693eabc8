//! Queue messages and consumers: `events` (audit and ledger records → D1) and `webhooks` (signed
//! deliveries, with its dead-letter queue). Invariant: consumers are idempotent by message id, so a
//! redelivered batch never writes twice.

pub mod events;
pub mod webhooks;

use serde::{Deserialize, Serialize};

use dyno_core::payment::{Flow, Payment, Refund};

use crate::registry::AuditEntry;

/// The binding names, the same in every environment (queue names differ per environment).
pub const EVENTS: &str = "EVENTS";
pub const WEBHOOKS: &str = "WEBHOOKS";

/// Which consumer a batch belongs to, from its queue name (`dyno-events-sandbox`, `dyno-events`…).
#[derive(Debug, PartialEq, Eq)]
pub enum QueueKind {
    Events,
    Webhooks,
    WebhooksDeadLetter,
    Unknown,
}

impl QueueKind {
    pub fn from_queue_name(name: &str) -> Self {
        if name.starts_with("dyno-webhooks-dlq") {
            QueueKind::WebhooksDeadLetter
        } else if name.starts_with("dyno-webhooks") {
            QueueKind::Webhooks
        } else if name.starts_with("dyno-events") {
            QueueKind::Events
        } else {
            QueueKind::Unknown
        }
    }
}

/// A message on the `events` queue. The tag is `event_type`, not `kind`: a `TransactionRow` has a
/// `kind` of its own, which would overwrite the tag.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event_type", rename_all = "snake_case")]
pub enum EventMessage {
    /// Sent by `/healthz` to prove the producer binding works; consumed and dropped.
    Probe { request_id: String },
    /// One audit-log row.
    Audit(AuditEntry),
    /// One money movement (a payment or a refund) for D1 `transactions`.
    Transaction(TransactionRow),
}

/// A row of D1 `transactions`: one money movement, as reconciliation needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// The credit of a succeeded refund.
    pub fn refund(payment: &Payment, refund: &Refund, sandbox: bool) -> Option<Self> {
        let mut row = Self::payment(payment, sandbox)?;
        row.movement_id = format!("ref-{}", refund.refund_id);
        row.kind = "refund".into();
        row.amount_minor = refund.amount_minor;
        row.cynod_reference = refund.cynod_reference.clone();
        row.confirmation_code = None;
        row.occurred_at_ms = refund.updated_at.0;
        Some(row)
    }

    /// The debit of a succeeded payment.
    pub fn payment(payment: &Payment, sandbox: bool) -> Option<Self> {
        let order = payment.order.as_ref()?;
        let receipt = payment.receipt.as_ref()?;
        let payer = payment.payer.as_ref();
        Some(Self {
            movement_id: format!("pay-{}", receipt.transaction_id),
            kind: "payment".into(),
            transaction_id: receipt.transaction_id.clone(),
            payment_request_id: (payment.flow == Flow::Ppm).then(|| payment.id.clone()),
            flow: match payment.flow {
                Flow::Epm => "epm",
                Flow::Ppm => "ppm",
            }
            .into(),
            client_id: order.client_id.clone(),
            merchant_id: order.merchant_id.clone(),
            pos_reference: order.pos_reference.clone(),
            status: "succeeded".into(),
            amount_minor: order.amount_minor,
            currency: payment.currency.code().into(),
            wallet_type: payer.map(|p| p.wallet_type.clone()),
            card_last4: payer.map(|p| dyno_core::cynod::card_last4(&p.card_number)),
            cynod_reference: receipt.cynod_reference.clone(),
            confirmation_code: Some(receipt.confirmation_code.clone()),
            occurred_at_ms: receipt.transaction_date.0,
            sandbox,
        })
    }
}

/// A message on the `webhooks` queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WebhookJob {
    /// Sent by `/healthz` to prove the producer binding works; consumed and dropped.
    Probe { request_id: String },
    /// One event for one client's endpoint. Retries keep the same `delivery_id` (the Standard
    /// Webhooks `webhook-id`), so receivers can deduplicate.
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
    },
}
