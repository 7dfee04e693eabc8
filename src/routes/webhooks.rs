//! The merchant's window on webhooks: the delivery log with every attempt, redelivery, and the
//! sandbox's own receiver for the demo credentials. Invariant: a client sees and redelivers only
//! its own deliveries; a redelivery keeps the delivery's `webhook-id`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dyno_core::auth::sealed;
use dyno_core::webhook::{self, validate_webhook_url, verify_signature_header};
use dyno_core::{ErrorCode, Millis};
use serde::{Deserialize, Serialize};
use worker::{Env, Request, Response};

use crate::auth::{PosCall, PosPrincipal};
use crate::config::{Config, Environment};
use crate::error::{AppError, AppResult};
use crate::http::{self, json_response};
use crate::platform;
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
    let query: ListQuery = http::query(&call.req)?;
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
            url: delivery.url,
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

/// The headers of a delivery an integrator's server receives, as the sandbox receiver shows them.
const DELIVERY_HEADERS: &[&str] = &[
    "Content-Type",
    "User-Agent",
    "X-Dyno-Event",
    "X-Dyno-Webhook-Signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// `POST /api/v1/sandbox/webhook-receiver`: where the demo credentials' webhooks land in the
/// sandbox, verified exactly as the seed tells integrators to verify them (with the sending
/// client's secret), and recorded so the merchant console can show what arrived.
pub async fn sandbox_receiver(mut req: Request, env: &Env) -> AppResult<Response> {
    let config = Config::get(env)?;
    if config.environment != Environment::Sandbox {
        return Err(AppError::new(
            ErrorCode::RouteNotFound,
            "Réservé à la sandbox.",
        ));
    }
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let signature = header("X-Dyno-Webhook-Signature").unwrap_or_default();
    let delivery_id = header("webhook-id");
    let headers: Vec<(&str, String)> = DELIVERY_HEADERS
        .iter()
        .filter_map(|name| header(name).map(|value| (*name, value)))
        .collect();
    let body = http::read_body_bytes(&mut req).await?;
    let db = registry::db(env)?;
    // The secret of the client whose delivery this is (the demo's, unless another sandbox client
    // sent its webhooks here).
    let secret = match &delivery_id {
        Some(id) => match registry::find_delivery(&db, id).await? {
            Some(delivery) => registry::webhook_endpoint(&db, &delivery.client_id)
                .await?
                .and_then(|e| sealed::open(&config.webhook_kek, &e.secret_encrypted).ok()),
            None => None,
        },
        None => None,
    }
    .unwrap_or_else(|| DEMO_WEBHOOK_SECRET.to_string());
    let verified = verify_signature_header(secret.as_bytes(), &body, &signature);
    let headers = serde_json::to_string(&headers)?;
    registry::insert_sandbox_receipt(
        &db,
        delivery_id.as_deref(),
        platform::now().0,
        &headers,
        &String::from_utf8_lossy(&body),
        verified,
    )
    .await?;
    if !verified {
        return Err(AppError::new(
            ErrorCode::Unauthorized,
            "Signature X-Dyno-Webhook-Signature invalide.",
        ));
    }
    json_response(200, &serde_json::json!({ "received": true }))
}

#[derive(Serialize)]
struct ReceiptView {
    delivery_id: Option<String>,
    received_at: String,
    headers: Vec<(String, String)>,
    body: String,
    signature_verified: bool,
}

/// `GET /api/v1/pos/sandbox/webhook-receipts`: what the sandbox receiver got of this client's
/// deliveries, newest first — headers, body, and whether the signature verified.
pub async fn sandbox_receipts(call: &PosCall<'_>, principal: &PosPrincipal) -> AppResult<Response> {
    if call.config.environment != Environment::Sandbox {
        return Err(AppError::new(
            ErrorCode::RouteNotFound,
            "Réservé à la sandbox.",
        ));
    }
    let receipts = registry::sandbox_receipts(&registry::db(call.env)?, principal.client_id(), 20)
        .await?
        .into_iter()
        .map(|r| ReceiptView {
            delivery_id: r.delivery_id,
            received_at: Millis(r.received_at_ms).to_rfc3339(),
            headers: serde_json::from_str(&r.headers).unwrap_or_default(),
            body: r.body,
            signature_verified: r.verified == 1,
        })
        .collect::<Vec<_>>();
    json_response(200, &serde_json::json!({ "data": receipts }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointUpdate {
    url: String,
    events: Option<Vec<String>>,
    /// A new signing secret (returned once). One is made anyway when the client has none yet.
    #[serde(default)]
    rotate_secret: bool,
}

#[derive(Serialize)]
struct EndpointView {
    url: String,
    events: Vec<String>,
    /// Only in the answer that made it: store it, it is never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    updated_at: String,
}

/// `GET /api/v1/pos/webhooks/endpoint`: the client's own webhook endpoint (never its secret).
pub async fn endpoint(call: &PosCall<'_>, principal: &PosPrincipal) -> AppResult<Response> {
    let endpoint = registry::webhook_endpoint(&registry::db(call.env)?, principal.client_id())
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "Aucun endpoint configuré."))?;
    json_response(
        200,
        &EndpointView {
            events: endpoint.events(),
            url: endpoint.url,
            secret: None,
            updated_at: Millis(endpoint.updated_at_ms).to_rfc3339(),
        },
    )
}

/// `PUT /api/v1/pos/webhooks/endpoint`: a client sets its own URL and events, and rotates its
/// secret. The read-only demo credentials cannot (their per-request `webhook_url` is the way).
pub async fn set_endpoint(call: &PosCall<'_>, principal: &PosPrincipal) -> AppResult<Response> {
    if principal.profile.read_only {
        return Err(AppError::new(
            ErrorCode::ReadOnlyCredentials,
            "Identifiants de démonstration en lecture seule: utilisez webhook_url sur initiate.",
        ));
    }
    let body: EndpointUpdate = http::json_body(call.req.headers(), &call.body)?;
    let production = call.config.environment == Environment::Production;
    let url = validate_webhook_url(&body.url, production)
        .map_err(|e| AppError::new(ErrorCode::InvalidRequest, format!("url: {e}")))?;
    let events = webhook::validate_events(body.events)
        .map_err(|e| AppError::new(ErrorCode::InvalidRequest, e))?;
    let db = registry::db(call.env)?;
    let existing = registry::webhook_endpoint(&db, principal.client_id()).await?;
    let now = platform::now();
    let (sealed_secret, shown) = match existing {
        Some(endpoint) if !body.rotate_secret => (endpoint.secret_encrypted, None),
        _ => {
            let secret = format!(
                "whsec_{}",
                URL_SAFE_NO_PAD.encode(platform::random_bytes::<24>())
            );
            let sealed_secret =
                sealed::seal(&call.config.webhook_kek, platform::random_bytes(), &secret);
            (sealed_secret, Some(secret))
        }
    };
    registry::upsert_webhook_endpoint(
        &db,
        principal.client_id(),
        url.as_str(),
        &sealed_secret,
        &events,
        now.0,
    )
    .await?;
    json_response(
        200,
        &EndpointView {
            url: url.to_string(),
            events,
            secret: shown,
            updated_at: now.to_rfc3339(),
        },
    )
}
