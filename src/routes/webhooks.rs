//! The merchant's window on webhooks: the delivery log with every attempt, redelivery, and the
//! sandbox's own receiver for the demo credentials. Invariant: a client sees and redelivers only
//! its own deliveries; a redelivery keeps the delivery's `webhook-id`.

use dyno_core::webhook::verify_signature_header;
use dyno_core::{ErrorCode, Millis};
use serde::{Deserialize, Serialize};
use worker::{Env, Request, Response};

use crate::auth::{PosCall, PosPrincipal};
use crate::config::{Config, Environment};
use crate::error::{AppError, AppResult};
use crate::http::{self, json_response};
use crate::queues::{self, WebhookJob};
use crate::registry;
use crate::routes::demo_seed::DEMO_WEBHOOK_SECRET;

#[derive(Serialize)]
struct AttemptView {
    attempt: i64,
    at: String,
    http_status: Option<i64>,
    latency_ms: i64,
    error: Option<String>,
}

#[derive(Serialize)]
struct DeliveryView {
    delivery_id: String,
    event: String,
    payment_request_id: String,
    status: String,
    attempts: Vec<AttemptView>,
    created_at: String,
    updated_at: String,
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<i64>,
}

/// `GET /api/v1/pos/webhooks/deliveries`.
pub async fn deliveries(call: &PosCall<'_>, principal: &PosPrincipal) -> AppResult<Response> {
    let query: ListQuery = call.req.query().map_err(|e| {
        AppError::new(
            ErrorCode::InvalidRequest,
            format!("paramètres invalides: {e}"),
        )
    })?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(AppError::new(
            ErrorCode::InvalidRequest,
            "limit: entre 1 et 100.",
        ));
    }
    let rows =
        registry::list_deliveries(&registry::db(call.env)?, principal.client_id(), limit).await?;
    #[derive(Serialize)]
    struct Page {
        data: Vec<DeliveryView>,
    }
    let data = rows
        .into_iter()
        .map(|(d, attempts)| DeliveryView {
            delivery_id: d.delivery_id,
            event: d.event,
            payment_request_id: d.payment_id,
            status: d.status,
            attempts: attempts
                .into_iter()
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    at: Millis(a.at_ms).to_rfc3339(),
                    http_status: a.http_status,
                    latency_ms: a.latency_ms,
                    error: a.error,
                })
                .collect(),
            created_at: Millis(d.created_at_ms).to_rfc3339(),
            updated_at: Millis(d.updated_at_ms).to_rfc3339(),
            body: d.body,
        })
        .collect();
    json_response(200, &Page { data })
}

/// `POST /api/v1/pos/webhooks/deliveries/{delivery_id}/redeliver`: a new cycle of attempts.
pub async fn redeliver(
    call: &PosCall<'_>,
    principal: &PosPrincipal,
    delivery_id: &str,
) -> AppResult<Response> {
    let db = registry::db(call.env)?;
    let delivery = registry::find_delivery(&db, delivery_id)
        .await?
        .filter(|d| d.client_id == principal.client_id())
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "Livraison introuvable."))?;
    let next_attempt =
        u32::try_from(registry::attempts_made(&db, delivery_id).await? + 1).unwrap_or(u32::MAX);
    registry::set_delivery_status(&db, delivery_id, "pending", crate::platform::now().0).await?;
    call.env
        .queue(queues::WEBHOOKS)?
        .send(WebhookJob::Deliver {
            delivery_id: delivery.delivery_id.clone(),
            client_id: delivery.client_id,
            event: delivery.event,
            payment_id: delivery.payment_id,
            body: delivery.body,
            first_attempt: next_attempt,
            simulate_timeout: false,
        })
        .await?;
    #[derive(Serialize)]
    struct Queued {
        delivery_id: String,
        status: &'static str,
        next_attempt: u32,
    }
    json_response(
        202,
        &Queued {
            delivery_id: delivery.delivery_id,
            status: "pending",
            next_attempt,
        },
    )
}

/// `POST /api/v1/sandbox/webhook-receiver`: where the demo credentials' webhooks land in the
/// sandbox, verified exactly as the seed tells integrators to verify them.
pub async fn sandbox_receiver(mut req: Request, env: &Env) -> AppResult<Response> {
    let config = Config::get(env)?;
    if config.environment != Environment::Sandbox {
        return Err(AppError::new(
            ErrorCode::RouteNotFound,
            "Réservé à la sandbox.",
        ));
    }
    let signature = req
        .headers()
        .get("X-Dyno-Webhook-Signature")
        .ok()
        .flatten()
        .unwrap_or_default();
    let body = http::read_body_bytes(&mut req).await?;
    if !verify_signature_header(DEMO_WEBHOOK_SECRET.as_bytes(), &body, &signature) {
        return Err(AppError::new(
            ErrorCode::Unauthorized,
            "Signature X-Dyno-Webhook-Signature invalide.",
        ));
    }
    json_response(200, &serde_json::json!({ "received": true }))
}
