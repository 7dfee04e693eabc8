//! The console's day at a glance through real HTTP: `GET /api/v1/pos/reports/summary` after a
//! scripted day of known payments (EPM and PPM, successes and each kind of ending) and webhooks
//! (acknowledged, and one that is dead-lettered after its four refused attempts) gives exact
//! figures, once the events queue has written D1; it sees only the caller's merchant, and bad
//! parameters are refused with a problem.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dyno_client::{
    Auth, DaySummary, DeliveryStates, DynoClient, FlowOutcomes, InitiateBody, Millimes,
    OutcomeReason, RawRequest,
};
use dyno_e2e::webhooks::WebhookListener;
use dyno_e2e::{tunis_today, Onboarded, Stack};
use serde_json::Value;

const HOUR_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn drive(pos: &Onboarded, id: &str, action: &str, body: Option<Value>) {
    let mut request = RawRequest::new(
        "POST",
        format!("/api/v1/pos/sandbox/payment-requests/{id}/{action}"),
    )
    .auth(Auth::Bearer(pos.token.access_token.clone()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = pos.client.send(request).unwrap();
    assert_eq!(response.status, 200, "{action}: {}", response.text());
}

/// Polls the summary (within the client's 60 requests a minute) until `done` holds.
fn summary_until(pos: &Onboarded, what: &str, done: impl Fn(&DaySummary) -> bool) -> DaySummary {
    let started = Instant::now();
    loop {
        let summary = pos
            .client
            .day_summary(&pos.token.access_token, None, None)
            .expect("summary");
        if done(&summary) {
            eprintln!(
                "[summary] {what} after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return summary;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: not reached: {summary:#?}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
fn the_summary_counts_a_scripted_day_exactly() {
    let stack = Stack::shared();
    let acknowledging = WebhookListener::accepting();
    let refusing = WebhookListener::start(Box::new(|_| 500));
    let pos = stack.onboard("Summary", None);
    let token = pos.token.access_token.clone();
    stack
        .admin()
        .set_webhook_events(
            &pos.client_id,
            &acknowledging.url,
            "whsec_summary_test_01",
            &["payment.confirmed", "payment.failed", "payment.cancelled"],
        )
        .unwrap();
    let rich = stack.new_employee(1_000_000);
    let poor = stack.new_employee(2_000);
    let (date, day_from, _) = tunis_today();
    let first_slot = (now_ms() - day_from) / HOUR_MS;

    // EPM: two payments, and one the card cannot cover.
    pos.pay(stack, &rich, 12_500, "SUM-EPM-1");
    pos.pay(stack, &rich, 7_250, "SUM-EPM-2");
    let refused = pos
        .client
        .scan(&token, &poor.qr(stack, None), Millimes(9_000), "SUM-EPM-3")
        .unwrap_err();
    assert_eq!(refused.code(), Some("INSUFFICIENT_FUNDS"));
    // PPM: one the employee confirms, one that fails, one the POS cancels — the last one's
    // webhook goes to a server that always answers 500.
    let confirmed = pos
        .client
        .initiate(&token, Millimes(45_000), "SUM-PPM-1", "Déjeuner")
        .unwrap();
    rich.confirm(stack, &confirmed);
    let failing = pos
        .client
        .initiate(&token, Millimes(3_000), "SUM-PPM-2", "x")
        .unwrap();
    drive(
        &pos,
        &failing.payment_request_id,
        "fail",
        Some(serde_json::json!({"reason": "insufficient_funds"})),
    );
    let cancelled: dyno_client::Initiated = pos
        .client
        .call(DynoClient::initiate_request_with(
            &token,
            &InitiateBody {
                amount: Millimes(1_000),
                pos_reference: "SUM-PPM-3".into(),
                channel: "qr".into(),
                description: None,
                webhook_url: Some(refusing.url.clone()),
                ttl_seconds: None,
            },
        ))
        .unwrap();
    pos.client
        .cancel_session(&token, &cancelled.payment_request_id)
        .unwrap();
    let last_slot = (now_ms() - day_from) / HOUR_MS;

    // Payments and outcomes arrive through the events queue.
    let summary = summary_until(&pos, "3 payments and 6 outcomes", |s| {
        let flows = &s.outcomes.by_flow;
        let ended = |f: &FlowOutcomes| f.succeeded + f.failed + f.expired + f.cancelled;
        s.volume.count == 3 && ended(&flows.epm) + ended(&flows.ppm) == 6
    });
    assert_eq!(summary.date, date, "today in Tunis by default");
    assert_eq!(summary.time_zone, "Africa/Tunis");
    assert_eq!(summary.merchant_id, pos.merchant_id);
    assert_eq!(summary.client_id, pos.client_id);
    assert_eq!(summary.currency, "TND");
    // Money that moved: the two EPM payments and the confirmed PPM one, to the millime.
    assert_eq!(summary.volume.amount, Millimes(64_750));
    assert_eq!(summary.volume.hours.len(), 24);
    let busy: Vec<(usize, u64, Millimes)> = summary
        .volume
        .hours
        .iter()
        .enumerate()
        .filter(|(_, h)| h.count > 0)
        .map(|(slot, h)| (slot, h.count, h.amount))
        .collect();
    assert!(
        busy.iter()
            .all(|(slot, _, _)| (first_slot..=last_slot).contains(&(*slot as i64))),
        "the payments are in the hours they were made ({first_slot}..={last_slot}): {busy:?}"
    );
    assert_eq!(busy.iter().map(|(_, n, _)| n).sum::<u64>(), 3);
    assert_eq!(
        busy.iter().map(|(_, _, a)| a.0).sum::<i64>(),
        64_750,
        "the hours add up to the day"
    );
    let (slot, _, _) = busy[0];
    assert_eq!(summary.volume.hours[slot].hour, format!("{slot:02}:00"));
    assert_eq!(
        summary.volume.hours[slot].start,
        format!("{date}T{slot:02}:00:00+01:00")
    );
    assert_eq!(
        summary.outcomes.by_flow.epm,
        FlowOutcomes {
            succeeded: 2,
            failed: 1,
            expired: 0,
            cancelled: 0
        }
    );
    assert_eq!(
        summary.outcomes.by_flow.ppm,
        FlowOutcomes {
            succeeded: 1,
            failed: 1,
            expired: 0,
            cancelled: 1
        }
    );
    let reason = |flow: &str, status: &str, reason: &str| OutcomeReason {
        flow: flow.into(),
        status: status.into(),
        reason: Some(reason.into()),
        count: 1,
    };
    assert_eq!(
        summary.outcomes.reasons,
        [
            reason("epm", "failed", "insufficient_funds"),
            reason("ppm", "cancelled", "cancelled_by_pos"),
            reason("ppm", "failed", "insufficient_funds"),
        ]
    );

    // Webhooks: two acknowledged; the refused one is dead-lettered after its 4 attempts.
    let summary = summary_until(&pos, "2 delivered and 1 dead-lettered", |s| {
        s.webhooks.deliveries.dead_lettered == 1 && s.webhooks.deliveries.delivered == 2
    });
    assert_eq!(
        summary.webhooks.deliveries,
        DeliveryStates {
            delivered: 2,
            failed: 0,
            dead_lettered: 1,
            pending: 0
        }
    );
    assert_eq!(acknowledging.received().len(), 2);
    assert_eq!(refusing.received().len(), 4);
    let latency = summary.webhooks.latency.expect("attempts were made");
    assert_eq!(latency.attempts, 6, "2 acknowledged + 4 refused attempts");
    assert!(latency.p50_ms <= latency.p95_ms && latency.p95_ms <= latency.max_ms);
    let recent = &summary.webhooks.recent_attempts;
    assert_eq!(recent.len(), 6);
    assert_eq!(recent.iter().filter(|a| a.acknowledged).count(), 2);
    assert_eq!(
        recent
            .iter()
            .filter(|a| a.http_status == Some(500) && !a.acknowledged)
            .count(),
        4
    );
    assert!(
        recent.windows(2).all(|w| w[0].at <= w[1].at),
        "oldest first: {recent:?}"
    );
    assert_eq!(
        recent.last().map(|a| a.http_status),
        Some(Some(500)),
        "the last retry is the latest"
    );
    eprintln!(
        "[summary] webhook latency over {} attempts: p50 {} ms, p95 {} ms, max {} ms",
        latency.attempts, latency.p50_ms, latency.p95_ms, latency.max_ms
    );

    // The same day asked by date, and in another zone: the same money, hours from UTC midnight.
    let by_date = pos
        .client
        .day_summary(&token, Some(&date), Some("Africa/Tunis"))
        .unwrap();
    assert_eq!(by_date.volume.amount, Millimes(64_750));
    let utc = pos.client.day_summary(&token, None, Some("UTC")).unwrap();
    assert_eq!(utc.time_zone, "UTC");
    assert!(utc.from.ends_with("T00:00:00Z"), "{}", utc.from);
    assert_eq!(utc.volume.hours[0].start, format!("{}T00:00:00Z", utc.date));
}

#[test]
fn the_summary_sees_only_the_callers_merchant_and_refuses_bad_parameters() {
    let stack = Stack::shared();
    let pos = stack.onboard("Summary neighbour", None);
    let token = pos.token.access_token.clone();
    let summary = pos.client.day_summary(&token, None, None).unwrap();
    assert_eq!(summary.volume.count, 0);
    assert_eq!(summary.volume.amount, Millimes(0));
    assert!(summary.volume.hours.iter().all(|h| h.count == 0));
    assert_eq!(summary.outcomes.by_flow.epm, FlowOutcomes::default());
    assert_eq!(summary.outcomes.by_flow.ppm, FlowOutcomes::default());
    assert!(summary.outcomes.reasons.is_empty());
    assert_eq!(summary.webhooks.deliveries, DeliveryStates::default());
    assert!(summary.webhooks.latency.is_none());
    // A day the clocks go forward in Paris has 23 hours.
    let spring = pos
        .client
        .day_summary(&token, Some("2026-03-29"), Some("Europe/Paris"))
        .unwrap();
    assert_eq!(spring.volume.hours.len(), 23);
    assert_eq!(spring.volume.hours[2].hour, "03:00");

    for query in [
        "date=05-06-2026",
        "date=2026-02-30",
        "time_zone=Mars%2FOlympus",
        "format=csv",
    ] {
        let response = pos
            .client
            .send(
                RawRequest::new("GET", format!("/api/v1/pos/reports/summary?{query}"))
                    .auth(Auth::Bearer(token.clone())),
            )
            .unwrap();
        assert_eq!(response.status, 400, "{query}: {}", response.text());
        assert!(response
            .header("Content-Type")
            .unwrap_or("")
            .starts_with("application/problem+json"));
        assert_eq!(
            response.json::<Value>().unwrap()["code"],
            "INVALID_REQUEST",
            "{query}"
        );
    }
    let anonymous = pos
        .client
        .send(RawRequest::new("GET", "/api/v1/pos/reports/summary"))
        .unwrap();
    assert_eq!(anonymous.status, 401);
}
