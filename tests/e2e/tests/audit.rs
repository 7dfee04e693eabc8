//! The audit trail, end to end: authenticated and admin calls appear in D1 `audit_log` (through
//! the events queue), and the daily cron purges entries past their 12-month retention. Its own
//! stack, because the purge test empties the whole log.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dyno_client::{expect_success, AuditEntry, Millimes};
use dyno_e2e::Stack;

/// The purge empties the whole log: the tests of this file take turns.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOG: Mutex<()> = Mutex::new(());
    LOG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn wait_for_audit(stack: &Stack, client_id: &str, expected: usize) -> Vec<AuditEntry> {
    let started = Instant::now();
    loop {
        let entries = stack
            .admin()
            .audit(Some(client_id), None)
            .expect("audit")
            .entries;
        if entries.len() >= expected || started.elapsed() > Duration::from_secs(20) {
            return entries;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn trigger_cron(stack: &Stack, at_ms: i64) {
    expect_success(stack.run_daily_cron(Some(at_ms))).expect("scheduled handler ran");
}

/// The entries of `action` on `resource`, once their counts add up to `expected` (or after 20 s).
fn wait_for_count(
    stack: &Stack,
    client_id: &str,
    action: &str,
    resource: &str,
    expected: u32,
) -> Vec<AuditEntry> {
    let started = Instant::now();
    loop {
        let entries: Vec<AuditEntry> = wait_for_audit(stack, client_id, 1)
            .into_iter()
            .filter(|e| e.action == action && e.resource.as_deref() == Some(resource))
            .collect();
        let counted: u32 = entries.iter().map(|e| e.count).sum();
        if counted >= expected || started.elapsed() > Duration::from_secs(20) {
            return entries;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn repeated_status_polls_are_counted_in_one_entry_and_every_poll_is_accounted_for() {
    let _turn = exclusive();
    let stack = Stack::shared();
    let pos = stack.onboard("Polled", None);
    let token = &pos.token.access_token;
    let initiated = pos
        .client
        .initiate(token, Millimes(2_500), "AUDIT-POLL-1", "Menu")
        .expect("initiate");
    let id = initiated.payment_request_id;
    // Within the request's allowance (2 a second): four polls, as a POS makes them.
    for _ in 0..4 {
        pos.client.session_status(token, &id).expect("poll");
        std::thread::sleep(Duration::from_millis(600));
    }
    let action = "GET /api/v1/pos/payments/{id}/status";
    let polls = wait_for_count(stack, &pos.client_id, action, &id, 4);
    let counted: u32 = polls.iter().map(|e| e.count).sum();
    assert_eq!(counted, 4, "every poll is accounted for: {polls:?}");
    assert!(
        polls.len() < 4 && polls.iter().any(|e| e.count >= 2),
        "repeated polls share an entry: {polls:?}"
    );
    for entry in polls.iter().filter(|e| e.count > 1) {
        let last = entry
            .last_at
            .as_deref()
            .expect("a counted entry names its last poll");
        assert!(last > entry.at.as_str(), "{entry:?}");
        assert_eq!(entry.outcome, "success");
    }

    // A refused poll (another client's request is 404 to this one) is its own entry.
    let stranger = stack.onboard("Stranger", None);
    for _ in 0..2 {
        let refused = stranger
            .client
            .session_status(&stranger.token.access_token, &id)
            .unwrap_err();
        assert_eq!(refused.status(), Some(404));
    }
    let refused = wait_for_count(stack, &stranger.client_id, action, &id, 2);
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused.iter().all(|e| e.count == 1 && e.last_at.is_none()));
}

#[test]
fn calls_are_audited_and_the_cron_purges_after_twelve_months() {
    let _turn = exclusive();
    let stack = Stack::shared();
    let pos = stack.onboard("Audited", None);
    let me = pos.client.whoami(&pos.token.access_token).unwrap();
    assert_eq!(me.client_id, pos.client_id);
    let refused = pos.client.whoami("forged.token.value").unwrap_err();
    assert_eq!(refused.status(), Some(401));

    // token issuance + whoami (the forged call has no verified client, so it is not attributed).
    let entries = wait_for_audit(stack, &pos.client_id, 2);
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"POST /api/v1/pos/oauth/token"),
        "{actions:?}"
    );
    let whoami = entries
        .iter()
        .find(|e| e.action == "GET /api/v1/pos/whoami")
        .expect("whoami audited");
    assert_eq!(whoami.outcome, "success");
    assert_eq!(whoami.status, 200);
    assert_eq!(whoami.actor, format!("pos:{}", pos.client_id));
    assert!(whoami.request_id.starts_with("req_"));
    assert!(whoami.ip.as_deref().is_some_and(|ip| ip.starts_with("10.")));
    let admin_entries = stack.admin().audit(None, Some(500)).unwrap().entries;
    assert!(admin_entries
        .iter()
        .any(|e| e.actor == "admin" && e.action == "POST /api/v1/admin/clients"));

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Eleven months on, nothing is old enough to go.
    trigger_cron(stack, now + 11 * 30 * 86_400_000);
    assert!(wait_for_audit(stack, &pos.client_id, 2).len() >= 2);
    // Thirteen months on, everything written today is past retention.
    trigger_cron(stack, now + 13 * 31 * 86_400_000);
    let remaining = stack
        .admin()
        .audit(Some(&pos.client_id), None)
        .unwrap()
        .entries;
    assert!(remaining.is_empty(), "purged: {remaining:?}");
}
