//! The sandbox, end to end: every X-Dyno-Simulate scenario on both flows with no ledger change, the
//! refusal for production tokens, unknown scenarios, webhook_timeout against a real listener, and
//! the test helpers that drive a request without a phone.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dyno_client::{Auth, DynoClient, Initiated, Millimes, RawRequest};
use dyno_core::auth::jwt::{AccessClaims, KeyRing};
use dyno_core::Millis;
use dyno_e2e::webhooks::WebhookListener;
use dyno_e2e::{Onboarded, Stack};
use serde_json::Value;

fn simulate(request: RawRequest, scenario: &str) -> RawRequest {
    request.header("X-Dyno-Simulate", scenario)
}

fn scan(pos: &Onboarded, scenario: &str, reference: &str) -> dyno_client::RawResponse {
    pos.client
        .send(simulate(
            DynoClient::scan_request(
                &pos.token.access_token,
                "not-a-real-qr",
                Millimes(12_500),
                reference,
                "qr",
            ),
            scenario,
        ))
        .unwrap()
}

fn initiate(pos: &Onboarded, scenario: &str, reference: &str) -> dyno_client::RawResponse {
    pos.client
        .send(simulate(
            DynoClient::initiate_request(
                &pos.token.access_token,
                Millimes(45_000),
                reference,
                "Simulation",
                None,
            ),
            scenario,
        ))
        .unwrap()
}

fn code(response: &dyno_client::RawResponse) -> String {
    response
        .json::<dyno_client::ProblemDocument>()
        .map(|p| p.code)
        .unwrap_or_default()
}

/// Polls (at the seed's pace, within the poll allowance) until the request reaches `status`.
fn wait_status(pos: &Onboarded, id: &str, status: &str) -> dyno_client::SessionStatus {
    let started = Instant::now();
    loop {
        match pos.client.session_status(&pos.token.access_token, id) {
            Ok(current)
                if current.status == status || started.elapsed() > Duration::from_secs(15) =>
            {
                return current
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(600)),
            Err(e) if e.status() == Some(429) => {
                let wait: u64 = e
                    .response()
                    .and_then(|r| r.header("Retry-After"))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                std::thread::sleep(Duration::from_secs(wait));
            }
            Err(e) => panic!("poll: {e}"),
        }
    }
}

#[test]
fn every_scenario_on_scan_answers_as_the_seed_says_and_moves_nothing() {
    let stack = Stack::shared();
    let pos = stack.onboard("Sandbox scan", None);
    let ok = scan(&pos, "success", "SIM-S-1");
    assert_eq!(ok.status, 200, "{}", ok.text());
    let body: dyno_client::ScanSucceeded = ok.json().unwrap();
    assert_eq!(
        (
            body.confirmation_code.as_str(),
            body.status.as_str(),
            body.amount
        ),
        ("SANDBOX01", "succeeded", Millimes(12_500))
    );
    assert_eq!(scan(&pos, "webhook_timeout", "SIM-S-2").status, 200);
    for (scenario, status, expected) in [
        ("insufficient_funds", 413, "INSUFFICIENT_FUNDS"),
        ("expired_token", 410, "QR_EXPIRED"),
        ("merchant_not_found", 404, "MERCHANT_NOT_FOUND"),
        ("upstream_timeout", 504, "UPSTREAM_TIMEOUT"),
        ("pin_failure", 422, "INVALID_PIN"),
        ("cancelled", 409, "INVALID_STATE"),
    ] {
        let r = scan(&pos, scenario, &format!("SIM-{scenario}"));
        assert_eq!(
            (r.status, code(&r)),
            (status, expected.to_string()),
            "{scenario}"
        );
    }
    // The request shape is still validated.
    let bad = pos
        .client
        .send(simulate(
            RawRequest::new("POST", "/api/v1/pos/payments/scan")
                .auth(Auth::Bearer(pos.token.access_token.clone()))
                .json(&serde_json::json!({"qr_payload": "x", "amount": 1.2345, "pos_reference": "SIM-BAD", "channel": "qr"})),
            "success",
        ))
        .unwrap();
    assert_eq!(
        (bad.status, code(&bad)),
        (400, "INVALID_AMOUNT".to_string())
    );
    let ledger = stack
        .admin()
        .sim_ledger(None, Some(&pos.merchant_id), None)
        .unwrap();
    assert!(
        ledger.is_empty(),
        "no simulated outcome reached CYNOD: {ledger:?}"
    );
}

#[test]
fn unknown_scenarios_and_production_tokens_are_refused() {
    let stack = Stack::shared();
    let pos = stack.onboard("Sandbox refusals", None);
    let unknown = scan(&pos, "explode", "SIM-U-1");
    assert_eq!(
        (unknown.status, code(&unknown)),
        (400, "INVALID_SIMULATION".to_string())
    );
    assert!(
        unknown.text().contains("insufficient_funds"),
        "lists the allowed values: {}",
        unknown.text()
    );

    let ring = KeyRing::parse(&stack.jwt_keys()).unwrap();
    let now = Millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let production = ring.issue(
        AccessClaims {
            iss: "https://sandbox.dyno-motiva.com".into(),
            aud: "dyno-pos".into(),
            sub: pos.client_id.clone(),
            merchant_id: Some(pos.merchant_id.clone()),
            scope: "payments".into(),
            sandbox: false,
            jti: "prod-like".into(),
            gen: 0,
        },
        now,
        3600,
    );
    let refused = pos
        .client
        .send(simulate(
            DynoClient::scan_request(&production, "x", Millimes(1_000), "SIM-P-1", "qr"),
            "success",
        ))
        .unwrap();
    assert_eq!(
        (refused.status, code(&refused)),
        (400, "SIMULATION_NOT_ALLOWED".to_string())
    );
}

#[test]
fn initiate_scenarios_play_out_by_themselves_with_webhooks() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let pos = stack.onboard("Sandbox PPM", None);
    stack
        .admin()
        .set_webhook_events(
            &pos.client_id,
            &listener.url,
            "whsec_sandbox_test_01",
            &[
                "payment.confirmed",
                "payment.failed",
                "payment.expired",
                "payment.cancelled",
            ],
        )
        .unwrap();
    // What production refuses at once, the sandbox refuses at once.
    let r = initiate(&pos, "merchant_not_found", "SIMI-merchant_not_found");
    assert_eq!(
        (r.status, code(&r)),
        (404, "MERCHANT_NOT_FOUND".to_string())
    );
    // Everything else is a real request that then plays its scenario out: a PPM initiate never
    // calls CYNOD, so funds or a timeout only show at the end, as `failed` with its reason.
    let scenarios = [
        ("success", "confirmed", None),
        ("pin_failure", "failed", Some("pin_attempts_exceeded")),
        ("cancelled", "cancelled", Some("cancelled_by_employee")),
        ("insufficient_funds", "failed", Some("insufficient_funds")),
        ("expired_token", "expired", Some("expired")),
        ("upstream_timeout", "failed", Some("upstream_unavailable")),
    ];
    let started: Vec<Initiated> = scenarios
        .iter()
        .map(|(s, _, _)| {
            let r = initiate(&pos, s, &format!("SIMI-{s}"));
            assert_eq!(r.status, 200, "{s}: {}", r.text());
            let initiated: Initiated = r.json().unwrap();
            assert_eq!(initiated.status, "pending", "{s}");
            initiated
        })
        .collect();
    // pending → scanned → confirmed, seen by polling.
    let scanned = wait_status(&pos, &started[0].payment_request_id, "scanned");
    assert_eq!(scanned.status, "scanned");
    for ((scenario, end, reason), initiated) in scenarios.iter().zip(&started) {
        let last = wait_status(&pos, &initiated.payment_request_id, end);
        assert_eq!(last.reason.as_deref(), *reason, "{scenario}");
        if *end == "confirmed" {
            assert_eq!(last.confirmation_code.as_deref(), Some("SANDBOX01"));
        }
        if *end == "cancelled" {
            assert_eq!(last.cancelled_by.as_deref(), Some("employee"));
        }
    }
    let events: Vec<String> = listener
        .wait_for(6, Duration::from_secs(20))
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut sorted = events.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![
            "payment.cancelled",
            "payment.confirmed",
            "payment.expired",
            "payment.failed",
            "payment.failed",
            "payment.failed"
        ],
        "{events:?}"
    );
    assert!(stack
        .admin()
        .sim_ledger(None, Some(&pos.merchant_id), None)
        .unwrap()
        .is_empty());
}

#[test]
fn webhook_timeout_sends_nothing_and_polling_still_shows_confirmed() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let pos = stack.onboard("Sandbox webhook timeout", None);
    stack
        .admin()
        .set_webhook(&pos.client_id, &listener.url, "whsec_sandbox_test_02")
        .unwrap();
    let r = initiate(&pos, "webhook_timeout", "SIMW-1");
    assert_eq!(r.status, 200);
    let initiated: Initiated = r.json().unwrap();
    assert_eq!(
        wait_status(&pos, &initiated.payment_request_id, "confirmed").status,
        "confirmed"
    );
    // The whole retry window (2 + 4 + 8 s) passes without a single request reaching the listener.
    let mut dead = None;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let page = pos
            .client
            .webhook_deliveries(&pos.token.access_token)
            .unwrap();
        if let Some(d) = page.data.into_iter().find(|d| d.status == "dead_lettered") {
            dead = Some(d);
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let dead = dead.expect("the delivery ends in the dead-letter queue");
    assert_eq!(dead.attempts.len(), 4);
    assert!(dead.attempts.iter().all(|a| a.http_status.is_none()));
    assert!(
        listener.received().is_empty(),
        "the listener received nothing"
    );
    assert_eq!(
        pos.client
            .session_status(&pos.token.access_token, &initiated.payment_request_id)
            .unwrap()
            .status,
        "confirmed"
    );
}

#[test]
fn test_helpers_drive_a_request_without_a_phone() {
    let stack = Stack::shared();
    let pos = stack.onboard("Sandbox helpers", None);
    let token = pos.token.access_token.clone();
    let drive = |id: &str, action: &str, body: Option<Value>| {
        let mut request = RawRequest::new(
            "POST",
            format!("/api/v1/pos/sandbox/payment-requests/{id}/{action}"),
        )
        .auth(Auth::Bearer(token.clone()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        pos.client.send(request).unwrap()
    };
    let a = pos
        .client
        .initiate(&token, Millimes(8_000), "HELP-1", "x")
        .unwrap();
    assert_eq!(
        drive(&a.payment_request_id, "scan", None)
            .json::<Value>()
            .unwrap()["status"],
        "scanned"
    );
    let confirmed = drive(&a.payment_request_id, "confirm", None)
        .json::<Value>()
        .unwrap();
    assert_eq!(
        (
            confirmed["status"].as_str(),
            confirmed["confirmation_code"].as_str()
        ),
        (Some("confirmed"), Some("SANDBOX01"))
    );
    let b = pos
        .client
        .initiate(&token, Millimes(8_000), "HELP-2", "x")
        .unwrap();
    let failed = drive(
        &b.payment_request_id,
        "fail",
        Some(serde_json::json!({"reason": "insufficient_funds"})),
    )
    .json::<Value>()
    .unwrap();
    assert_eq!(
        (failed["status"].as_str(), failed["reason"].as_str()),
        (Some("failed"), Some("insufficient_funds"))
    );
    let c = pos
        .client
        .initiate(&token, Millimes(8_000), "HELP-3", "x")
        .unwrap();
    assert_eq!(
        drive(&c.payment_request_id, "cancel", None)
            .json::<Value>()
            .unwrap()["status"],
        "cancelled"
    );
    assert_eq!(
        drive(&a.payment_request_id, "cancel", None).status,
        409,
        "a confirmed request stays confirmed"
    );
    assert!(stack
        .admin()
        .sim_ledger(None, Some(&pos.merchant_id), None)
        .unwrap()
        .is_empty());
}
