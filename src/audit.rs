//! The audit trail: every non-public call and every admin action becomes an `events` message after
//! the response is sent, and the events consumer writes it to D1 `audit_log`.
//! Invariant: auditing never delays or fails the request it records.

use dyno_core::routes::RouteDef;
use dyno_core::Millis;
use worker::{Context, Env};

use crate::http::RequestContext;
use crate::platform;
use crate::queues::{self, EventMessage};
use crate::registry::AuditEntry;

/// Audit retention (ISO 27001 readiness in the seed: logs kept 12 months).
pub const RETENTION_MONTHS: u32 = 12;

/// Queues the audit entry for a finished request, off the response path.
pub fn record(
    env: &Env,
    ctx: &Context,
    rc: &RequestContext,
    route: &RouteDef,
    resource: Option<String>,
    status: u16,
) {
    let entry = AuditEntry {
        event_id: platform::new_uuid(),
        client_id: rc.client_id(),
        actor: rc.actor(),
        action: format!("{} {}", route.method, route.pattern),
        resource,
        outcome: match status {
            200..=299 => "success",
            401 | 403 | 429 => "denied",
            400..=499 => "rejected",
            _ => "error",
        }
        .to_string(),
        status: i64::from(status),
        request_id: rc.request_id.clone(),
        ip: Some(rc.client_ip.clone()),
        at_ms: platform::now().0,
    };
    let env = env.clone();
    ctx.wait_until(async move {
        let sent = match env.queue(queues::EVENTS) {
            Ok(queue) => queue.send(EventMessage::Audit(entry)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            worker::console_error!("audit: could not enqueue: {e}");
        }
    });
}

/// The instant before which audit entries are purged, for a purge running at `now`.
pub fn retention_cutoff(now: Millis) -> Millis {
    now.minus_months(RETENTION_MONTHS)
}
