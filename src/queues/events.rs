//! The `events` consumer: turns audit and transaction events into D1
//! rows, one batched write per queue batch. Invariant: every write is keyed by the event id
//! (`INSERT OR IGNORE`), so a retried batch changes nothing twice.

use worker::{Env, MessageBatch, MessageExt};

use super::EventMessage;
use crate::registry;

pub async fn consume(batch: MessageBatch<serde_json::Value>, env: &Env) -> worker::Result<()> {
    let mut audit = Vec::new();
    let mut transactions = Vec::new();
    let mut outcomes = Vec::new();
    let mut decoded = Vec::new();
    for message in batch.iter() {
        match message {
            Ok(message) => decoded.push(message),
            // An undecodable message can never succeed; log it rather than retry it forever.
            Err(e) => worker::console_error!("events: undecodable message: {e}"),
        }
    }
    for message in &decoded {
        match serde_json::from_value::<EventMessage>(message.body().clone()) {
            Ok(EventMessage::Probe { .. }) => {}
            Ok(EventMessage::Audit(entry)) => audit.push(entry),
            Ok(EventMessage::Transaction(row)) => transactions.push(row),
            Ok(EventMessage::Outcome(row)) => outcomes.push(row),
            // An unknown event can never succeed; log it rather than retry it forever.
            Err(e) => worker::console_error!("events: unknown event: {e}"),
        }
    }
    let db = env.d1("DB")?;
    let written = match registry::insert_audit(&db, &audit).await {
        Ok(()) => match registry::insert_transactions(&db, &transactions).await {
            Ok(()) => registry::insert_outcomes(&db, &outcomes).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => decoded.iter().for_each(|m| m.ack()),
        Err(e) => {
            // Leave the batch unacknowledged: the queue redelivers it, and the writes are idempotent.
            worker::console_error!("events: D1 write failed, batch will be retried: {e:?}");
            decoded.iter().for_each(|m| m.retry());
        }
    }
    Ok(())
}
