//! The `webhooks` consumer and its dead-letter consumer: signed POSTs to each merchant's endpoint,
//! retried after 2 s, 4 s and 8 s, every attempt logged in D1. Invariant: only a 2xx
//! acknowledges; a delivery keeps its `webhook-id` through retries and redeliveries.

use dyno_core::auth::sealed;
use dyno_core::webhook::{
    self, retry_delay, signature_header, standard_signature, ATTEMPT_TIMEOUT_MS,
};
use dyno_core::Millis;
use serde_json::Value;
use worker::{Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder};

use super::WebhookJob;
use crate::config::Config;
use crate::cynod::transport::{fetch_with_timeout, OutgoingRequest, TransportError};
use crate::platform;
use crate::registry::{self, Attempt, Delivery};

enum Outcome {
    /// Acknowledged by a 2xx.
    Delivered,
    /// Failed attempt `attempt_in_cycle` of this queue cycle.
    Failed { attempt_in_cycle: u32 },
    /// Nothing to deliver (no endpoint configured): dropped.
    Dropped,
}

pub async fn consume(batch: MessageBatch<Value>, env: &Env) -> worker::Result<()> {
    for message in batch.iter() {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                worker::console_error!("webhooks: undecodable message: {e}");
                continue;
            }
        };
        let job: WebhookJob = match serde_json::from_value(message.body().clone()) {
            Ok(job) => job,
            Err(e) => {
                worker::console_error!("webhooks: unknown job: {e}");
                message.ack();
                continue;
            }
        };
        match deliver(env, &job).await {
            Ok(Outcome::Delivered | Outcome::Dropped) => message.ack(),
            Ok(Outcome::Failed { attempt_in_cycle }) => match retry_delay(attempt_in_cycle) {
                Some(delay) => message.retry_with_options(
                    &QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(delay)
                        .build(),
                ),
                // The queue's max_retries is spent: this retry sends it to the dead-letter queue.
                None => message.retry(),
            },
            Err(e) => {
                worker::console_error!("webhooks: delivery bookkeeping failed, retrying: {e:?}");
                message.retry_with_options(
                    &QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(2)
                        .build(),
                );
            }
        }
    }
    Ok(())
}

/// Dead letters: the delivery is marked as such; it can still be redelivered from the API.
pub async fn consume_dead_letters(batch: MessageBatch<Value>, env: &Env) -> worker::Result<()> {
    let db = env.d1("DB")?;
    for message in batch.iter().flatten() {
        if let Ok(WebhookJob::Deliver { delivery_id, .. }) =
            serde_json::from_value(message.body().clone())
        {
            if let Err(e) =
                registry::set_delivery_status(&db, &delivery_id, "dead_lettered", platform::now().0)
                    .await
            {
                worker::console_error!("webhooks DLQ: {e:?}");
                message.retry();
                continue;
            }
        }
        message.ack();
    }
    Ok(())
}

async fn deliver(env: &Env, job: &WebhookJob) -> crate::error::AppResult<Outcome> {
    let WebhookJob::Deliver {
        delivery_id,
        client_id,
        event,
        payment_id,
        body,
        first_attempt,
        simulate_timeout,
        url,
    } = job
    else {
        return Ok(Outcome::Dropped);
    };
    let config = Config::get(env)?;
    let db = registry::db(env)?;
    let Some(endpoint) = registry::webhook_endpoint(&db, client_id).await? else {
        return Ok(Outcome::Dropped);
    };
    // Only the events the endpoint subscribed to (by default the seed's payment.confirmed).
    if !webhook::subscribed(&endpoint.events(), event) {
        return Ok(Outcome::Dropped);
    }
    // A job sent again (its first send's answer was lost) for a delivery already made: done.
    if *first_attempt == 1
        && registry::find_delivery(&db, delivery_id)
            .await?
            .is_some_and(|d| d.status == "delivered")
    {
        return Ok(Outcome::Dropped);
    }
    let now = platform::now();
    registry::ensure_delivery(
        &db,
        &Delivery {
            delivery_id: delivery_id.clone(),
            client_id: client_id.clone(),
            event: event.clone(),
            payment_id: payment_id.clone(),
            body: body.clone(),
            status: "pending".into(),
            attempts: 0,
            created_at_ms: now.0,
            updated_at_ms: now.0,
            url: url.clone(),
        },
    )
    .await?;
    let attempt = registry::attempts_made(&db, delivery_id).await? + 1;
    let secret = sealed::open(&config.webhook_kek, &endpoint.secret_encrypted)
        .map_err(crate::error::AppError::internal)?;
    let timestamp = now.secs();
    let request = OutgoingRequest {
        method: "POST",
        path_and_query: "",
        headers: vec![
            ("Content-Type", "application/json".into()),
            ("User-Agent", "DynoEdge-Webhooks/1.0".into()),
            (
                "X-Dyno-Webhook-Signature",
                signature_header(secret.as_bytes(), body.as_bytes()),
            ),
            ("webhook-id", delivery_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                standard_signature(secret.as_bytes(), delivery_id, timestamp, body.as_bytes()),
            ),
            ("X-Dyno-Event", event.clone()),
        ],
        body: Some(body.clone()),
    };
    let result = if *simulate_timeout {
        Err(TransportError::Timeout)
    } else {
        // The request's own URL (checked at initiate), else the client's endpoint; signed with the
        // client's secret either way.
        let target = url.as_deref().unwrap_or(&endpoint.url);
        fetch_with_timeout(None, target, &request, ATTEMPT_TIMEOUT_MS).await
    };
    let latency_ms = platform::now().0 - now.0;
    let (http_status, error, delivered) = match result {
        Ok(reply) if (200..300).contains(&reply.status) => {
            (Some(i64::from(reply.status)), None, true)
        }
        Ok(reply) => (
            Some(i64::from(reply.status)),
            Some(format!("HTTP {}", reply.status)),
            false,
        ),
        Err(TransportError::Timeout) => (
            None,
            Some(format!("pas de réponse en {} ms", ATTEMPT_TIMEOUT_MS)),
            false,
        ),
        Err(TransportError::Network(e)) => (None, Some(e), false),
    };
    let status = if delivered { "delivered" } else { "failed" };
    registry::record_attempt(
        &db,
        &Attempt {
            delivery_id: delivery_id.clone(),
            attempt,
            at_ms: Millis(now.0).0,
            http_status,
            latency_ms,
            error,
        },
        status,
    )
    .await?;
    Ok(if delivered {
        Outcome::Delivered
    } else {
        Outcome::Failed {
            attempt_in_cycle: u32::try_from(attempt)
                .unwrap_or(u32::MAX)
                .saturating_sub(*first_attempt)
                + 1,
        }
    })
}
