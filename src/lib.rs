//! Dyno Edge gateway Worker: event entry points (fetch, queue, scheduled) and the Durable Object
//! exports. Invariant: every HTTP response leaves through `fetch` below; the gateway's own (the
//! API, `/healthz`) with an `X-Request-Id` (and HSTS in production), and no plain-http `/api/*`
//! request of production reaches the router. Every other path is the demo site's answer, as is.

mod audit;
mod auth;
mod config;
mod cynod;
mod durable;
mod error;
mod http;
pub mod platform;
mod queues;
mod rate_limiter;
mod registry;
mod router;
mod routes;
mod sandbox;
mod stubs;

use worker::{
    event, Context, Env, MessageBatch, Request, Response, ScheduleContext, ScheduledEvent,
};

pub use durable::client_gate::ClientGate;
pub use durable::payment::PaymentDO;

use crate::config::Environment;
use crate::http::RequestContext;
use crate::queues::QueueKind;
use dyno_core::edge::{answered_by_gateway, STRICT_TRANSPORT_SECURITY};

/// The service binding of the demo site (`wrangler.www.toml`): its pages and `/openapi.json`.
pub(crate) const WWW_BINDING: &str = "WWW";

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    if !answered_by_gateway(&req.path()) {
        return Ok(http::demo_site(req, &env).await);
    }
    let rc = RequestContext::from_request(&req);
    // An unreadable ENVIRONMENT gets the stricter rules; the router then answers its 503.
    let production = Environment::of(&env).map_or(true, |e| e == Environment::Production);
    let mut response = match http::plain_http_refusal(&req, production) {
        Some(refusal) => refusal.into_response(&rc.request_id),
        None => router::dispatch(req, &env, &ctx, &rc).await,
    };
    let headers = response.headers_mut();
    let _ = headers.set("X-Request-Id", &rc.request_id);
    let _ = headers.set("X-Content-Type-Options", "nosniff");
    if production {
        let _ = headers.set("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY);
    }
    Ok(response)
}

#[event(queue)]
async fn queue(
    batch: MessageBatch<serde_json::Value>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    match QueueKind::from_queue_name(&batch.queue()) {
        QueueKind::Events => queues::events::consume(batch, &env).await,
        QueueKind::Webhooks => queues::webhooks::consume(batch, &env).await,
        QueueKind::WebhooksDeadLetter => queues::webhooks::consume_dead_letters(batch, &env).await,
        QueueKind::Unknown => {
            worker::console_error!("queue {}: no consumer", batch.queue());
            batch.ack_all();
            Ok(())
        }
    }
}

/// The daily job (03:00 UTC): purge audit entries past their 12-month retention and wallet PIN
/// guards quiet for a month and, in the sandbox, reset the sandbox data. The cutoff is
/// computed from the event's scheduled time, so a run is reproducible for any instant.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let at = dyno_core::Millis(event.schedule() as i64);
    let cutoff = audit::retention_cutoff(at);
    match registry::db(&env) {
        Ok(db) => {
            match registry::purge_audit(&db, cutoff.0).await {
                Ok(n) => worker::console_log!(
                    "cron {}: purged {n} audit entries before {}",
                    event.cron(),
                    cutoff.to_rfc3339()
                ),
                Err(e) => {
                    worker::console_error!("cron {}: audit purge failed: {e:?}", event.cron())
                }
            }
            if let Err(e) = registry::purge_pin_guards(&db, at.0).await {
                worker::console_error!("cron {}: PIN guard purge failed: {e:?}", event.cron());
            }
        }
        Err(e) => worker::console_error!("cron {}: no D1: {e:?}", event.cron()),
    }
    if let Err(e) = sandbox::daily_reset(&env).await {
        worker::console_error!("cron {}: sandbox reset failed: {e:?}", event.cron());
    }
}
