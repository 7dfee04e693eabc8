//! The audit trail, end to end: authenticated and admin calls appear in D1 `audit_log` (through
//! the events queue), and the daily cron purges entries past their 12-month retention. Its own
//! stack, because the purge test empties the whole log.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dyno_client::{expect_success, AuditEntry, RawRequest};
use dyno_e2e::Stack;

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
    expect_success(
        stack
            .client
            .send(RawRequest::new(
                "GET",
                format!("/cdn-cgi/local/scheduled?cron=0+3+*+*+*&time={at_ms}"),
            ))
            .unwrap(),
    )
    .expect("scheduled handler ran");
}

#[test]
fn calls_are_audited_and_the_cron_purges_after_twelve_months() {
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
