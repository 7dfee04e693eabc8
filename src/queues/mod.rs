//! Queue messages and consumers: `events` (audit and ledger records → D1) and `webhooks` (signed
//! deliveries, with its dead-letter queue). Invariant: consumers are idempotent by message id, so a
//! redelivered batch never writes twice.

pub mod events;
pub mod webhooks;

pub use dyno_core::records::{EventMessage, WebhookJob};

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
