//! The `events` consumer: turns audit and payment events into D1 rows in batches.
//! Invariant: every write is keyed by the event id, so a retried batch changes nothing twice.

use worker::{Env, MessageBatch, MessageExt};

use super::EventMessage;

pub async fn consume(batch: MessageBatch<EventMessage>, _env: &Env) -> worker::Result<()> {
    for message in batch.iter() {
        match message {
            Ok(message) => {
                match message.body() {
                    EventMessage::Probe { request_id } => {
                        worker::console_debug!("events probe from {request_id}");
                    }
                }
                message.ack();
            }
            // An undecodable message can never succeed; log it rather than retry it forever.
            Err(e) => worker::console_error!("events: undecodable message: {e}"),
        }
    }
    Ok(())
}
