//! The audit trail: every non-public call and every admin action becomes an `events` message after
//! the response is sent, and the events consumer writes it to D1 `audit_log`.
//! Invariants: auditing never delays or fails the request it records; every call is accounted for
//! (a till's repeated reads, `RouteName::audited_as_count`, as one entry with a count, everything
//! else as its own entry); a full card number is never kept (a card route's resource is masked to
//! its last four digits).

use dyno_core::cynod::audit_resource;
use dyno_core::records::AuditTally;
use dyno_core::routes::RouteDef;
use dyno_core::Millis;
use std::cell::{Cell, RefCell};
use std::time::Duration;

use worker::{Context, Delay, Env};

use crate::http::RequestContext;
use crate::platform;
use crate::queues::{self, EventMessage};
use dyno_core::records::AuditEntry;

/// Audit retention (ISO 27001 readiness in the seed: logs kept 12 months).
pub const RETENTION_MONTHS: u32 = 12;

/// Entries per queue batch, and the longest an entry waits in this isolate's buffer.
const BATCH_SIZE: usize = 25;
const BATCH_WAIT_MS: u64 = 250;
/// The longest a successful repeated read waits in the tally: long enough to count a POS's
/// 1-per-second polls of one request in one entry, well inside the 30 s a Worker may keep working
/// after answering.
const REPEAT_TALLY_WAIT_MS: u64 = 5_000;
/// Distinct repeated calls the tally holds before it is sent early, which bounds its memory (about
/// 0.5 MB) while still counting the polls of as many open requests as one isolate serves at once.
const REPEAT_TALLY_CAP: usize = 1_000;
/// The most messages one queue send may carry (Cloudflare Queues' `sendBatch` limit).
const QUEUE_SEND_MAX: usize = 100;

thread_local! {
    /// Entries waiting to be sent, and whether a request has already scheduled their flush.
    static BUFFER: RefCell<Vec<AuditEntry>> = const { RefCell::new(Vec::new()) };
    static FLUSH_SCHEDULED: Cell<bool> = const { Cell::new(false) };
    /// Successful repeated reads waiting to be sent as counts, and whether their flush is
    /// scheduled.
    static REPEATS: RefCell<AuditTally> = RefCell::new(AuditTally::default());
    static REPEATS_FLUSH_SCHEDULED: Cell<bool> = const { Cell::new(false) };
}

/// Queues the audit entry for a finished request, off the response path. Entries are batched per
/// isolate (up to 25, or 250 ms), so a busy route costs one queue send per batch, not per call;
/// they are plain data, so one request's `wait_until` can carry another's entries. A successful
/// repeated read (a status poll, `whoami`) goes to the tally instead, where it waits up to 5 s and
/// is counted with the same caller's identical calls in one entry: they are most of a POS's calls
/// and change nothing, and a row each cost them a share of their rate (figures in ARCHITECTURE).
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
        resource: resource.map(|value| audit_resource(route.pattern, &value)),
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
        count: 1,
        last_at_ms: None,
    };
    if route.name.audited_as_count() && status == 200 {
        let full = REPEATS.with(|r| {
            let mut tally = r.borrow_mut();
            tally.add(entry);
            tally.len() >= REPEAT_TALLY_CAP
        });
        send_when_due(env, ctx, Pending::Repeats, full);
        return;
    }
    let full = BUFFER.with(|b| {
        let mut buffer = b.borrow_mut();
        buffer.push(entry);
        buffer.len() >= BATCH_SIZE
    });
    send_when_due(env, ctx, Pending::Calls, full);
}

/// What an isolate holds back for the queue: single calls, or the tally of repeated reads.
#[derive(Clone, Copy)]
enum Pending {
    Calls,
    Repeats,
}

impl Pending {
    /// Whether a request has already scheduled this one's flush.
    fn flush_scheduled(self) -> &'static std::thread::LocalKey<Cell<bool>> {
        match self {
            Pending::Calls => &FLUSH_SCHEDULED,
            Pending::Repeats => &REPEATS_FLUSH_SCHEDULED,
        }
    }

    /// The longest an entry waits here.
    fn wait_ms(self) -> u64 {
        match self {
            Pending::Calls => BATCH_WAIT_MS,
            Pending::Repeats => REPEAT_TALLY_WAIT_MS,
        }
    }

    async fn flush(self, env: &Env) {
        match self {
            Pending::Calls => flush(env).await,
            Pending::Repeats => flush_repeats(env).await,
        }
    }
}

/// Sends what `pending` holds now if it is `full`, else once its wait is over (one scheduled
/// flush at a time), after the response, in the request's `wait_until`.
fn send_when_due(env: &Env, ctx: &Context, pending: Pending, full: bool) {
    let env = env.clone();
    if full {
        ctx.wait_until(async move { pending.flush(&env).await });
    } else if !pending.flush_scheduled().with(|f| f.replace(true)) {
        ctx.wait_until(async move {
            Delay::from(Duration::from_millis(pending.wait_ms())).await;
            pending.flush_scheduled().with(|f| f.set(false));
            pending.flush(&env).await;
        });
    }
}

/// Entries kept in memory at most while the queue refuses them; beyond this the oldest are logged
/// in full (the log keeps them) and dropped, so a long outage cannot exhaust the isolate.
const BUFFER_CAP: usize = 10_000;

/// Sends whatever the buffer holds.
async fn flush(env: &Env) {
    let entries = BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
    send(env, entries).await;
}

/// Sends the tally's counted entries.
async fn flush_repeats(env: &Env) {
    let entries = REPEATS.with(|r| r.borrow_mut().drain());
    send(env, entries).await;
}

/// Sends entries in queue batches, retrying a refused send twice; what still cannot be sent goes
/// back to the buffer for the next flush.
async fn send(env: &Env, entries: Vec<AuditEntry>) {
    let mut unsent = Vec::new();
    let mut last_error = String::new();
    for chunk in entries.chunks(QUEUE_SEND_MAX) {
        match send_batch(env, chunk).await {
            Ok(()) => {}
            Err(e) => {
                last_error = e;
                unsent.extend_from_slice(chunk);
            }
        }
    }
    if unsent.is_empty() {
        return;
    }
    worker::console_error!(
        "audit: {} entries kept for the next flush: {last_error}",
        unsent.len()
    );
    BUFFER.with(|b| {
        let mut buffer = b.borrow_mut();
        let newer = std::mem::replace(&mut *buffer, unsent);
        buffer.extend(newer);
        let excess = buffer.len().saturating_sub(BUFFER_CAP);
        for dropped in buffer.drain(..excess) {
            worker::console_error!("audit: dropped after a long queue outage: {dropped:?}");
        }
    });
}

/// One queue send of at most [`QUEUE_SEND_MAX`] entries, tried three times.
async fn send_batch(env: &Env, entries: &[AuditEntry]) -> Result<(), String> {
    let mut last_error = String::new();
    for delay_ms in [0, 200, 1_000] {
        if delay_ms > 0 {
            Delay::from(Duration::from_millis(delay_ms)).await;
        }
        let messages: Vec<EventMessage> =
            entries.iter().cloned().map(EventMessage::Audit).collect();
        let sent = match env.queue(queues::EVENTS) {
            Ok(queue) => queue.send_batch(messages).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => return Ok(()),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(last_error)
}

/// The instant before which audit entries are purged, for a purge running at `now`.
pub fn retention_cutoff(now: Millis) -> Millis {
    now.minus_months(RETENTION_MONTHS)
}
