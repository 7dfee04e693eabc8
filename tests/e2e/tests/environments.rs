//! Sandbox and production side by side, each in its own `wrangler dev` with its own storage:
//! a token of one environment is refused by the other (the issuers differ, even with the same
//! local key ring), so a sandbox token never reaches production data, and a production token
//! cannot ask for a simulation. And what only production enforces: it is served over HTTPS
//! (wrangler's self-signed certificate here) with HSTS, refuses plain http with 403 before
//! anything is processed, builds links from its configured origin, refuses a configuration with a
//! plain-http dependency, and never lets a webhook aim at a private address.

use std::sync::OnceLock;

use dyno_client::{
    decode_nfc, AdminClient, Auth, DynoClient, Millimes, ProblemDocument, RawRequest,
};
use dyno_e2e::{d1_rows, dev_var, repo_root, Protocol, Stack, WranglerProcess};

/// This binary's production gateway, over HTTPS.
fn production() -> &'static (WranglerProcess, DynoClient) {
    static PRODUCTION: OnceLock<(WranglerProcess, DynoClient)> = OnceLock::new();
    PRODUCTION.get_or_init(Stack::start_production_gateway)
}

fn admin_of(client: &DynoClient) -> AdminClient {
    AdminClient::new(client.clone(), dev_var(&repo_root(), "ADMIN_API_KEY"))
}

fn admin_key() -> Auth {
    Auth::Admin(dev_var(&repo_root(), "ADMIN_API_KEY"))
}

fn problem_code(response: &dyno_client::RawResponse) -> String {
    response
        .json::<ProblemDocument>()
        .map(|p| p.code)
        .unwrap_or_else(|_| response.text())
}

#[test]
fn tokens_never_cross_environments() {
    let sandbox = Stack::shared();
    let (_, production) = production();
    let production_admin = admin_of(production);

    // Production data: a production merchant and client, with a production token.
    let (_, created) = production_admin
        .onboard("Production cafeteria", None)
        .expect("onboard in production");
    assert!(
        !created.sandbox,
        "clients created in production are not sandbox clients"
    );
    let production_token = production
        .token(&created.client_id, &created.client_secret)
        .expect("production token")
        .access_token;
    let page = production
        .list_payments(&production_token, &[])
        .expect("production token reads production data");
    assert!(page.data.is_empty());

    // A sandbox token, with a real sandbox payment behind it.
    let pos = sandbox.onboard("Sandbox cafeteria", None);
    let employee = sandbox.new_employee(10_000);
    let paid = pos
        .client
        .scan(
            &pos.token.access_token,
            &employee.qr(sandbox, None),
            Millimes(1_000),
            "ENV-1",
        )
        .expect("sandbox scan");

    // The sandbox token on production routes: refused before any data is looked at.
    for path in [
        "/api/v1/pos/whoami".to_string(),
        "/api/v1/pos/payments".to_string(),
        format!("/api/v1/pos/payments/{}", paid.transaction_id),
    ] {
        let r = production
            .send(RawRequest::new("GET", &path).auth(Auth::Bearer(pos.token.access_token.clone())))
            .unwrap();
        assert_eq!(
            (r.status, problem_code(&r)),
            (401, "INVALID_TOKEN".to_string()),
            "sandbox token on production {path}"
        );
    }
    // And the sandbox client's credentials do not exist in production.
    let e = production
        .token(&pos.client_id, &pos.client_secret)
        .unwrap_err();
    assert_eq!(e.status(), Some(401));

    // The production token on the sandbox: refused too, even for its own kind of route.
    let r = sandbox
        .client
        .send(
            RawRequest::new(
                "GET",
                format!("/api/v1/pos/payments/{}", paid.transaction_id),
            )
            .auth(Auth::Bearer(production_token.clone())),
        )
        .unwrap();
    assert_eq!(
        (r.status, problem_code(&r)),
        (401, "INVALID_TOKEN".to_string())
    );

    // A production token may not ask for a simulation: 400, and nothing is created.
    let r = production
        .send(
            RawRequest::new("POST", "/api/v1/pos/payments/initiate")
                .auth(Auth::Bearer(production_token.clone()))
                .header("X-Dyno-Simulate", "success")
                .body(
                    "application/json",
                    br#"{"amount":1.000,"pos_reference":"PROD-SIM-1","channel":"qr"}"#.to_vec(),
                ),
        )
        .unwrap();
    assert_eq!(
        (r.status, problem_code(&r)),
        (400, "SIMULATION_NOT_ALLOWED".to_string())
    );
    let lookup = production
        .payment_by_reference(&production_token, "PROD-SIM-1")
        .unwrap_err();
    assert_eq!(
        lookup.status(),
        Some(404),
        "the refused simulation created nothing"
    );
}

#[test]
fn production_serves_https_with_hsts_and_refuses_requests_marked_plain_http() {
    let (process, production) = production();
    assert!(process.base_url.starts_with("https://"));
    // Over HTTPS the API works, and says so for two years.
    let r = production
        .send(RawRequest::new("GET", "/api/v1/pos/whoami"))
        .unwrap();
    assert_eq!(
        (r.status, problem_code(&r)),
        (401, "UNAUTHORIZED".to_string())
    );
    assert_eq!(
        r.header("Strict-Transport-Security"),
        Some(dyno_core::edge::STRICT_TRANSPORT_SECURITY)
    );
    // Cloudflare marks a visitor that came over plain http (`X-Forwarded-Proto`, `CF-Visitor`):
    // refused with 403, no redirect, and the request is not processed.
    for (header, value) in [
        ("X-Forwarded-Proto", "http"),
        ("CF-Visitor", r#"{"scheme":"http"}"#),
    ] {
        let merchant_id = format!("PLAIN-{}", header.len());
        let r = production
            .send(
                RawRequest::new("POST", "/api/v1/admin/merchants")
                    .auth(admin_key())
                    .header(header, value)
                    .json(&serde_json::json!({
                        "merchant_id": merchant_id, "name": "En clair", "affiliated": true
                    })),
            )
            .unwrap();
        assert_eq!(
            (r.status, problem_code(&r)),
            (403, "HTTPS_REQUIRED".to_string()),
            "{header}"
        );
        assert!(r.header("Location").is_none(), "never a redirect");
        assert!(r.header("Strict-Transport-Security").is_some());
        let lookup = admin_of(production).merchant(&merchant_id).unwrap_err();
        assert_eq!(lookup.status(), Some(404), "{header}: nothing was created");
    }
    // The token endpoint too: no token comes back over plain http.
    let r = production
        .send(
            RawRequest::new("POST", "/api/v1/pos/oauth/token")
                .header("X-Forwarded-Proto", "http")
                .json(&serde_json::json!({
                    "grant_type": "client_credentials", "client_id": "x", "client_secret": "y"
                })),
        )
        .unwrap();
    assert_eq!(
        (r.status, problem_code(&r)),
        (403, "HTTPS_REQUIRED".to_string())
    );
}

#[test]
fn plain_http_is_refused_in_production_before_anything_is_processed() {
    let (process, plain) = Stack::start_production_gateway_with(Protocol::Http, &[]);
    assert!(process.base_url.starts_with("http://"));
    let key = admin_key();
    let attempts = [
        RawRequest::new("POST", "/api/v1/admin/merchants")
            .auth(key.clone())
            .json(&serde_json::json!({
                "merchant_id": "PLAIN-HTTP", "name": "En clair", "affiliated": true
            })),
        RawRequest::new("POST", "/api/v1/pos/oauth/token").json(&serde_json::json!({
            "grant_type": "client_credentials", "client_id": "pos_x", "client_secret": "s"
        })),
        RawRequest::new("GET", "/api/v1/admin/health").auth(key),
        RawRequest::new("GET", "/api/v1/pos/whoami").auth(Auth::Bearer("a.b.c".into())),
    ];
    for request in attempts {
        let path = request.path.clone();
        let r = plain.send(request).unwrap();
        assert_eq!(
            (r.status, problem_code(&r)),
            (403, "HTTPS_REQUIRED".to_string()),
            "{path}: {}",
            r.text()
        );
        assert!(r.header("Location").is_none(), "{path}: never a redirect");
        assert!(r.text().contains("renouvelez"), "{path}: tells to rotate");
    }
    // Nothing reached the registry: read from D1 directly, not through the API.
    let merchants = d1_rows(
        process.state_dir(),
        Some("production"),
        "SELECT merchant_id FROM merchants",
    );
    assert!(merchants.is_empty(), "{merchants:?}");
    let audited = d1_rows(
        process.state_dir(),
        Some("production"),
        "SELECT action FROM audit_log",
    );
    assert!(audited.is_empty(), "refused before the router: {audited:?}");
}

#[test]
fn production_links_use_the_configured_origin_not_the_request() {
    let (process, production) = production();
    let (_, created) = admin_of(production)
        .onboard("Production links", None)
        .expect("onboard in production");
    let token = production
        .token(&created.client_id, &created.client_secret)
        .unwrap()
        .access_token;
    let initiated = production
        .send(
            RawRequest::new("POST", "/api/v1/pos/payments/initiate")
                .auth(Auth::Bearer(token))
                .header("X-Forwarded-Host", "evil.example")
                .json(&serde_json::json!({
                    "amount": 2.000, "pos_reference": "PROD-LINK-1", "channel": "qr"
                })),
        )
        .unwrap();
    assert_eq!(initiated.status, 200, "{}", initiated.text());
    let initiated: dyno_client::Initiated = initiated.json().unwrap();
    let link = decode_nfc(&initiated.nfc_payload).expect("nfc payload").url;
    assert!(
        link.starts_with("https://api.dyno-motiva.com/wallet.html#pr="),
        "{link}"
    );
    assert!(
        !link.contains("127.0.0.1") && !link.contains("evil"),
        "{link}"
    );
    assert!(!process.base_url.starts_with("https://api.dyno-motiva.com"));
}

#[test]
fn production_refuses_a_plain_http_card_core() {
    let (_process, misconfigured) = Stack::start_production_gateway_with(
        Protocol::Https,
        &[("CYNOD_BASE_URL".into(), "http://cynod.example".into())],
    );
    for request in [
        RawRequest::new("GET", "/api/v1/admin/health").auth(admin_key()),
        RawRequest::new("POST", "/api/v1/pos/oauth/token").json(&serde_json::json!({
            "grant_type": "client_credentials", "client_id": "pos_x", "client_secret": "s"
        })),
    ] {
        let r = misconfigured.send(request).unwrap();
        assert_eq!(
            (r.status, problem_code(&r)),
            (503, "SERVICE_UNAVAILABLE".to_string()),
            "{}",
            r.text()
        );
        let detail = r.json::<ProblemDocument>().unwrap().detail;
        assert!(
            detail.contains("CYNOD_BASE_URL") && detail.contains("https"),
            "{detail}"
        );
    }
}

#[test]
fn production_webhooks_never_aim_at_private_or_translated_addresses() {
    let (process, production) = production();
    let admin = admin_of(production);
    let (_, created) = admin
        .onboard("Production webhooks", None)
        .expect("onboard in production");
    for url in [
        "https://[64:ff9b::a00:1]/hooks",
        "https://[2002:a00:1::1]/hooks",
        "https://[ff02::1]/hooks",
        "https://224.0.0.251/hooks",
        "https://198.18.0.1/hooks",
        "https://240.0.0.1/hooks",
        "https://10.0.0.1/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
    ] {
        let refused = admin
            .set_webhook(&created.client_id, url, "private-range-secret-01")
            .unwrap_err();
        assert_eq!(refused.code(), Some("INVALID_REQUEST"), "{url}");
    }
    let stored = d1_rows(
        process.state_dir(),
        Some("production"),
        &format!(
            "SELECT url FROM webhook_endpoints WHERE client_id = '{}'",
            created.client_id
        ),
    );
    assert!(stored.is_empty(), "{stored:?}");
    // A public https endpoint is accepted, so the refusals above were about the addresses.
    admin
        .set_webhook(
            &created.client_id,
            "https://pos.example.tn/hooks",
            "private-range-secret-01",
        )
        .expect("public endpoint");
}
