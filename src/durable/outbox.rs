//! A payment object's outbox in its SQLite storage, and how each effect runs: a status published to
//! the client's gate, a `pos_reference` released, a webhook job or a ledger row queued. Invariants:
//! entries are written in the same synchronous block as the state that caused them (one implicit
//! storage transaction); an entry is deleted only after its effect succeeded; queue messages carry
//! their own ids, so a retried effect never duplicates a delivery or a D1 row.

use dyno_core::gate::Reservation;
use dyno_core::outbox::{Entry, Outbox};
use dyno_core::payment::machine::Effect;
use dyno_core::protocol::Faults;
use dyno_core::records::{EventMessage, WebhookJob};
use dyno_core::Millis;
use serde::Deserialize;
use worker::{Env, SqlStorage};

use crate::queues;
use crate::stubs::GateStub;

pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, effect TEXT NOT NULL, attempts INTEGER NOT NULL, due_at_ms INTEGER NOT NULL)";

/// Reads the stored entries; an entry that cannot be decoded is an error, never skipped.
pub fn load(sql: &SqlStorage) -> Result<Outbox<Effect>, String> {
    #[derive(Deserialize)]
    struct Row {
        seq: i64,
        effect: String,
        attempts: i64,
        due_at_ms: i64,
    }
    let rows: Vec<Row> = sql
        .exec("SELECT seq, effect, attempts, due_at_ms FROM outbox", None)
        .and_then(|c| c.to_array())
        .map_err(|e| e.to_string())?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        entries.push(Entry {
            seq: u64::try_from(row.seq).map_err(|e| e.to_string())?,
            effect: serde_json::from_str(&row.effect)
                .map_err(|e| format!("outbox entry {}: {e}", row.seq))?,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            due_at: Millis(row.due_at_ms),
        });
    }
    Ok(Outbox::from_entries(entries))
}

/// Stores new entries or an entry's new schedule (synchronous: part of the caller's transaction).
pub fn store(sql: &SqlStorage, entries: &[Entry<Effect>]) -> Result<(), String> {
    for entry in entries {
        let effect = serde_json::to_string(&entry.effect).map_err(|e| e.to_string())?;
        sql.exec(
            "INSERT OR REPLACE INTO outbox (seq, effect, attempts, due_at_ms) VALUES (?, ?, ?, ?)",
            vec![
                (entry.seq as i64).into(),
                effect.into(),
                i64::from(entry.attempts).into(),
                entry.due_at.0.into(),
            ],
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub fn remove(sql: &SqlStorage, seq: u64) -> Result<(), String> {
    sql.exec(
        "DELETE FROM outbox WHERE seq = ?",
        vec![(seq as i64).into()],
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// The queue an effect is a message on, if it is one; messages to the same queue go in one batch.
pub fn queue_of(effect: &Effect) -> Option<&'static str> {
    match effect {
        Effect::Transaction(_) | Effect::Outcome(_) => Some(queues::EVENTS),
        Effect::Webhook(_) => Some(queues::WEBHOOKS),
        _ => None,
    }
}

/// Whether two effects can run in one send.
pub fn together(a: &Effect, b: &Effect) -> bool {
    queue_of(a).is_some() && queue_of(a) == queue_of(b)
}

/// Runs a run of effects: one queue batch for queue messages, else the one effect. `faults` is the
/// sandbox's fault switch: while it asks for failures, a send fails before it is attempted.
pub async fn run(env: &Env, run: &[Entry<Effect>], faults: &mut Faults) -> Result<(), String> {
    let text = |e: crate::error::AppError| format!("{e:?}");
    let Some(first) = run.first() else {
        return Ok(());
    };
    if let Some(queue) = queue_of(&first.effect) {
        let mut injected = false;
        for entry in run {
            let counter = match entry.effect {
                Effect::Webhook(_) => &mut faults.webhook_send_failures,
                Effect::Transaction(_) => &mut faults.transaction_send_failures,
                _ => continue,
            };
            if *counter > 0 {
                *counter -= 1;
                injected = true;
            }
        }
        if injected {
            return Err("sandbox fault: queue send refused".into());
        }
        let queue = env.queue(queue).map_err(|e| e.to_string())?;
        let sent = if queue_of(&first.effect) == Some(queues::WEBHOOKS) {
            let jobs: Vec<&WebhookJob> = run
                .iter()
                .filter_map(|e| match &e.effect {
                    Effect::Webhook(job) => Some(job),
                    _ => None,
                })
                .collect();
            queue.send_batch(jobs).await
        } else {
            let events: Vec<EventMessage> = run
                .iter()
                .filter_map(|e| match &e.effect {
                    Effect::Transaction(row) => Some(EventMessage::Transaction(row.clone())),
                    Effect::Outcome(row) => Some(EventMessage::Outcome(row.clone())),
                    _ => None,
                })
                .collect();
            queue.send_batch(events).await
        };
        return sent.map_err(|e| e.to_string());
    }
    match &first.effect {
        Effect::Publish(view) => GateStub::client(env, view.client_id.as_str())
            .map_err(text)?
            .track(view.clone())
            .await
            .map_err(text),
        Effect::Release {
            client,
            pos_reference,
            payment,
        } => GateStub::client(env, client.as_str())
            .map_err(text)?
            .release(Reservation {
                pos_reference: pos_reference.clone(),
                payment: payment.clone(),
            })
            .await
            .map_err(text),
        _ => Err("a CYNOD call is never an outbox entry".into()),
    }
}
