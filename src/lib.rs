//! Dyno Edge gateway Worker: event entry points (fetch, queue, scheduled) and the Durable Object
//! exports. It is built as two Workers (`Cargo.toml`'s features, `dyno_core::routes::Part`): the
//! front, which answers a till's sale, hands every other API route to the back, and runs the
//! daily cron; and the back, which holds the objects, the queue consumers and those routes.
//! Invariant: every HTTP response leaves through a `fetch` below; the gateway's own (the API,
//! `/healthz`) with an `X-Request-Id` (and HSTS in production), stamped by the part that answered,
//! and no plain-http `/api/*` request of production is routed or handed over. Every other path is
//! the demo site's answer, as is.

// A one-part build leaves the other part's code unused; the default build (both) is linted whole.
#![cfg_attr(
    not(all(feature = "front", feature = "back")),
    allow(dead_code, unused_imports)
)]

mod audit;
mod auth;
mod config;
mod cynod;
#[cfg(feature = "back")]
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

#[cfg(feature = "back")]
pub use durable::client_gate::ClientGate;
#[cfg(feature = "back")]
pub use durable::payment::PaymentDO;

use crate::config::Environment;
use crate::http::RequestContext;
use crate::queues::QueueKind;
use dyno_core::edge::{answered_by_gateway, STRICT_TRANSPORT_SECURITY};

/// The service binding of the demo site (`wrangler.www.toml`): its pages and `/openapi.json`.
pub(crate) const WWW_BINDING: &str = "WWW";

/// The front's service binding of the back (`wrangler.back.toml`).
pub(crate) const BACK_BINDING: &str = "BACK";

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    if !answered_by_gateway(&req.path()) {
        return Ok(http::forward(WWW_BINDING, "demo site", req, &env)
            .await
            .unwrap_or_else(|e| e.into_response(&http::new_request_id())));
    }
    let rc = RequestContext::from_request(&req);
    // An unreadable ENVIRONMENT gets the stricter rules; the router then answers its 503.
    let production = Environment::of(&env).map_or(true, |e| e == Environment::Production);
    let mut response = if let Some(refusal) = http::plain_http_refusal(&req, production) {
        refusal.into_response(&rc.request_id)
    } else {
        let resolution = router::route(&req);
        match router::elsewhere(&resolution) {
            None => router::dispatch(req, resolution, &env, &ctx, &rc).await,
            // The other part's answer leaves as it is: that part stamped its own headers.
            Some(part) => match router::hand_over(part, req, &env).await {
                Ok(answer) => return Ok(answer),
                Err(e) => e.into_response(&rc.request_id),
            },
        }
    };
    let headers = response.headers_mut();
    let _ = headers.set("X-Request-Id", &rc.request_id);
    let _ = headers.set("X-Content-Type-Options", "nosniff");
    if production {
        let _ = headers.set("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY);
    }
    Ok(response)
}

#[cfg(feature = "back")]
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
#[cfg(feature = "front")]
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
