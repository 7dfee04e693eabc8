//! Foundation, end to end: the stack starts under wrangler dev, every binding answers, every
//! response carries a request id, and errors are problem+json.

use dyno_client::{expect_success, RawRequest};
use dyno_e2e::Stack;

#[test]
fn healthz_reports_every_binding_reachable() {
    let stack = Stack::shared();
    // Public liveness: exactly `{"status":"ok"}`, no version, environment or dependency named.
    let public = stack
        .fresh_client()
        .send(RawRequest::new("GET", "/healthz"))
        .unwrap();
    assert_eq!(public.status, 200);
    assert_eq!(
        public.json::<serde_json::Value>().unwrap(),
        serde_json::json!({"status": "ok"})
    );
    // The dependency report is the operators': refused without the admin key.
    let anonymous = stack
        .fresh_client()
        .send(RawRequest::new("GET", "/api/v1/admin/health"))
        .unwrap();
    assert_eq!(anonymous.status, 401);
    // A quoted name: a bare "d1" also turns up inside the random hex of the request id.
    assert!(!anonymous.text().contains("\"d1\""), "{}", anonymous.text());
    assert!(!anonymous.text().contains("checks"), "{}", anonymous.text());
    let report = stack.admin().health().expect("health");
    assert_eq!(report.status, "ok");
    assert_eq!(report.environment, "sandbox");
    assert_eq!(report.version, "0.1.0");
    for check in [
        "d1",
        "payment_do",
        "client_gate_do",
        "queue_events",
        "queue_webhooks",
        "cynod",
    ] {
        let c = report
            .checks
            .get(check)
            .unwrap_or_else(|| panic!("missing check {check}"));
        assert!(c.ok, "{check} failed: {:?}", c.detail);
    }
    assert_eq!(
        report.checks["cynod"].detail.as_deref(),
        Some("access token obtained"),
        "the gateway must have reached the simulator's OAuth2 token endpoint"
    );
    // D1 reports the newest migration applied: the newest file in `migrations/`.
    let newest = std::fs::read_dir(dyno_e2e::repo_root().join("migrations"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".sql"))
        .max()
        .expect("a migration");
    let d1 = report.checks["d1"].detail.as_deref().unwrap_or("");
    assert!(d1.contains(&newest), "{d1} (newest migration {newest})");
}

#[test]
fn every_response_carries_a_request_id() {
    let stack = Stack::shared();
    let generated = stack
        .client
        .send(RawRequest::new("GET", "/healthz"))
        .unwrap();
    let id = generated.header("X-Request-Id").expect("generated id");
    assert!(id.starts_with("req_") && id.len() > 20, "{id}");

    let echoed = stack
        .client
        .send(RawRequest::new("GET", "/healthz").header("X-Request-Id", "pos-trace-0001"))
        .unwrap();
    assert_eq!(echoed.header("X-Request-Id"), Some("pos-trace-0001"));

    let unsafe_id = stack
        .client
        .send(RawRequest::new("GET", "/healthz").header("X-Request-Id", "x"))
        .unwrap();
    assert_ne!(
        unsafe_id.header("X-Request-Id"),
        Some("x"),
        "too-short ids are replaced"
    );
}

#[test]
fn unknown_routes_and_methods_are_problem_json() {
    let stack = Stack::shared();
    let missing = stack
        .client
        .send(RawRequest::new("GET", "/api/v1/nothing-here"))
        .unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("Content-Type"),
        Some("application/problem+json")
    );
    let problem: dyno_client::ProblemDocument = missing.json().unwrap();
    assert_eq!(problem.code, "ROUTE_NOT_FOUND");
    assert_eq!(problem.status, 404);
    assert_eq!(
        Some(problem.request_id.as_str()),
        missing.header("X-Request-Id")
    );

    let wrong_method = stack
        .client
        .send(RawRequest::new("DELETE", "/healthz"))
        .unwrap();
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("Allow"), Some("GET"));
    let problem: dyno_client::ProblemDocument = wrong_method.json().unwrap();
    assert_eq!(problem.code, "METHOD_NOT_ALLOWED");
}

#[test]
fn static_demo_is_served_from_www() {
    let stack = Stack::shared();
    let page = expect_success(stack.client.send(RawRequest::new("GET", "/")).unwrap()).unwrap();
    assert!(page
        .header("Content-Type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert!(page.text().contains("Dyno Edge"));
}
