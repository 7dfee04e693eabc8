//! POS identity and access, end to end: the token endpoint in all its forms and errors, the Bearer
//! check, instant revocation, secret rotation, and the exact 60 requests/minute limit (the token
//! endpoint's throttles, as attacks, are in security.rs).

use std::sync::{Arc, Barrier};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dyno_client::{expect_success, Auth, RawRequest};
use dyno_core::auth::jwt::{AccessClaims, KeyRing};
use dyno_core::Millis;
use dyno_e2e::Stack;
use serde_json::{json, Value};

const TOKEN: &str = "/api/v1/pos/oauth/token";
const SANDBOX_ISS: &str = "https://sandbox.dyno-motiva.com";

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn demo_credentials_get_the_seed_token_in_json_form_and_basic() {
    let stack = Stack::shared();
    let client = stack.fresh_client();
    let token = client
        .token("pos_sandbox_demo", "sandbox_secret_demo")
        .expect("json token");
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.expires_in, 3600);
    assert_eq!(token.scope, "payments");
    let claims = claims_of(&token.access_token);
    assert_eq!(
        claims["sandbox"], true,
        "the seed: sandbox tokens carry sandbox: true"
    );
    assert_eq!(claims["sub"], "pos_sandbox_demo");
    assert_eq!(claims["merchant_id"], "DEMO-CAFETERIA");
    assert_eq!(claims["aud"], "dyno-pos");
    assert_eq!(claims["iss"], SANDBOX_ISS);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(claims["jti"].as_str().is_some());
    let header = header_of(&token.access_token);
    assert_eq!(header["alg"], "HS256");
    assert!(header["kid"].as_str().is_some_and(|k| !k.is_empty()));

    let basic = client
        .token_basic("pos_sandbox_demo", "sandbox_secret_demo", Some("payments"))
        .expect("basic token");
    assert_eq!(basic.scope, "payments");
    let form = client
        .call::<dyno_client::TokenResponse>(RawRequest::new("POST", TOKEN).body(
            "application/x-www-form-urlencoded",
            b"grant_type=client_credentials&client_id=pos_sandbox_demo&client_secret=sandbox_secret_demo".to_vec(),
        ))
        .expect("form token");
    let response = client
        .send(RawRequest::new("POST", TOKEN).json(&json!({
            "grant_type": "client_credentials", "client_id": "pos_sandbox_demo", "client_secret": "sandbox_secret_demo"
        })))
        .unwrap();
    assert_eq!(response.header("Cache-Control"), Some("no-store"));
    assert_ne!(
        form.access_token, basic.access_token,
        "every token has its own jti"
    );
    let me = client.whoami(&form.access_token).expect("the token works");
    assert_eq!(me.client_id, "pos_sandbox_demo");
    assert!(me.sandbox);
}

#[test]
fn token_endpoint_errors_follow_rfc_6749() {
    let stack = Stack::shared();
    let client = stack.fresh_client();
    let post = |content_type: &str, body: Vec<u8>| {
        client
            .send(RawRequest::new("POST", TOKEN).body(content_type, body))
            .unwrap()
    };
    let json = |v: Value| serde_json::to_vec(&v).unwrap();
    let cases: Vec<(&str, dyno_client::RawResponse, u16, &str)> = vec![
        (
            "wrong secret",
            post(
                "application/json",
                json(
                    json!({"grant_type":"client_credentials","client_id":"pos_sandbox_demo","client_secret":"nope"}),
                ),
            ),
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            post(
                "application/json",
                json(
                    json!({"grant_type":"client_credentials","client_id":"pos_nobody","client_secret":"x"}),
                ),
            ),
            401,
            "invalid_client",
        ),
        (
            "malformed json",
            post("application/json", b"{\"grant_type\":".to_vec()),
            400,
            "invalid_request",
        ),
        (
            "wrong content type",
            post("text/plain", b"grant_type=client_credentials".to_vec()),
            400,
            "invalid_request",
        ),
        (
            "unknown grant",
            post(
                "application/json",
                json(
                    json!({"grant_type":"password","client_id":"pos_sandbox_demo","client_secret":"x"}),
                ),
            ),
            400,
            "unsupported_grant_type",
        ),
        (
            "empty client_id",
            post(
                "application/json",
                json(json!({"grant_type":"client_credentials","client_id":"","client_secret":"x"})),
            ),
            400,
            "invalid_request",
        ),
        (
            "10 KB client_id",
            post(
                "application/json",
                json(
                    json!({"grant_type":"client_credentials","client_id":"x".repeat(10 * 1024),"client_secret":"x"}),
                ),
            ),
            400,
            "invalid_request",
        ),
        (
            "oversize body",
            post(
                "application/json",
                json(
                    json!({"grant_type":"client_credentials","client_id":"a","client_secret":"x".repeat(40_000)}),
                ),
            ),
            400,
            "invalid_request",
        ),
        (
            "scope the client does not have",
            post(
                "application/json",
                json(
                    json!({"grant_type":"client_credentials","client_id":"pos_sandbox_demo","client_secret":"sandbox_secret_demo","scope":"cards:write"}),
                ),
            ),
            400,
            "invalid_scope",
        ),
    ];
    for (what, response, status, error) in cases {
        assert_eq!(response.status, status, "{what}: {}", response.text());
        let body: Value = response.json().unwrap();
        assert_eq!(body["error"], error, "{what}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{what}"
        );
        if status == 401 {
            assert!(
                response.header("WWW-Authenticate").is_some(),
                "{what}: 401 names its scheme"
            );
        }
    }
}

#[test]
fn bearer_check_refuses_missing_forged_and_foreign_tokens() {
    let stack = Stack::shared();
    let pos = stack.onboard("Bearer checks", None);
    let whoami = |auth: Auth| {
        pos.client
            .send(RawRequest::new("GET", "/api/v1/pos/whoami").auth(auth))
            .unwrap()
    };

    let missing = whoami(Auth::None);
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("WWW-Authenticate"),
        Some("Bearer realm=\"dyno-pos\"")
    );
    assert_eq!(
        missing.json::<dyno_client::ProblemDocument>().unwrap().code,
        "UNAUTHORIZED"
    );

    let ring = KeyRing::parse(&stack.jwt_keys()).unwrap();
    let now = Millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let claims = |aud: &str, iss: &str, scope: &str| AccessClaims {
        iss: iss.into(),
        aud: aud.into(),
        sub: pos.client_id.clone(),
        merchant_id: Some(pos.merchant_id.clone()),
        scope: scope.into(),
        sandbox: true,
        jti: format!("minted-{}", now.0),
        gen: 0,
    };
    let good = ring.issue(claims("dyno-pos", SANDBOX_ISS, "payments"), now, 3600);
    assert_eq!(
        whoami(Auth::Bearer(good.clone())).status,
        200,
        "a correctly minted token passes"
    );

    let genuine = &pos.token.access_token;
    let mut parts: Vec<String> = genuine.split('.').map(String::from).collect();
    let mut payload = claims_of(genuine);
    payload["scope"] = "payments cards:write".into();
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    let tampered = parts.join(".");
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims_of(genuine)).unwrap())
    );
    let hs384 = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"HS384","kid":"{}"}}"#,
            header_of(genuine)["kid"].as_str().unwrap()
        )),
        parts[1],
        parts[2]
    );
    let unknown_kid = {
        let other = KeyRing::parse(&format!("rogue:{}", "ab".repeat(32))).unwrap();
        other.issue(claims("dyno-pos", SANDBOX_ISS, "payments"), now, 3600)
    };
    let expired = ring.issue(
        claims("dyno-pos", SANDBOX_ISS, "payments"),
        now.plus_ms(-7_200_000),
        3600,
    );
    let wrong_audience = ring.issue(claims("dyno-wallet", SANDBOX_ISS, "payments"), now, 3600);
    let production_token = ring.issue(
        claims("dyno-pos", "https://api.dyno-motiva.com", "payments"),
        now,
        3600,
    );
    for (what, token) in [
        ("tampered payload", tampered),
        ("alg none", none),
        ("other algorithm", hs384),
        ("unknown kid", unknown_kid),
        ("expired", expired),
        ("wrong audience", wrong_audience),
        ("other environment's issuer", production_token),
        ("garbage", "abc.def".to_string()),
    ] {
        let response = whoami(Auth::Bearer(token));
        assert_eq!(response.status, 401, "{what}");
        assert_eq!(
            response
                .json::<dyno_client::ProblemDocument>()
                .unwrap()
                .code,
            "INVALID_TOKEN",
            "{what}"
        );
        let challenge = response.header("WWW-Authenticate").unwrap_or("");
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{what}: {challenge}"
        );
    }

    let no_scope = ring.issue(claims("dyno-pos", SANDBOX_ISS, "reports"), now, 3600);
    let response = whoami(Auth::Bearer(no_scope));
    assert_eq!(response.status, 403);
    assert_eq!(
        response
            .json::<dyno_client::ProblemDocument>()
            .unwrap()
            .code,
        "INSUFFICIENT_SCOPE"
    );
    assert!(response
        .header("WWW-Authenticate")
        .unwrap_or("")
        .contains("insufficient_scope"));
}

#[test]
fn revocation_takes_effect_on_the_very_next_request() {
    let stack = Stack::shared();
    let pos = stack.onboard("Revocation", None);
    let first = pos.token.access_token.clone();
    let second = pos
        .client
        .token(&pos.client_id, &pos.client_secret)
        .unwrap()
        .access_token;
    pos.client.whoami(&first).expect("valid before revocation");

    pos.client
        .revoke(&first, &first)
        .expect("RFC 7009 answers 200");
    let refused = pos.client.whoami(&first).unwrap_err();
    assert_eq!(refused.status(), Some(401));
    assert_eq!(refused.code(), Some("INVALID_TOKEN"));
    pos.client
        .whoami(&second)
        .expect("other tokens of the client are untouched");
    // Revoking garbage or an already revoked token is still 200 (RFC 7009 §2.2).
    pos.client
        .revoke(&second, "not-a-token")
        .expect("invalid token: 200");

    let revoked = stack
        .admin()
        .revoke_tokens(&pos.client_id)
        .expect("admin revoke all");
    assert!(revoked.token_generation >= 1);
    assert_eq!(
        pos.client.whoami(&second).unwrap_err().code(),
        Some("INVALID_TOKEN")
    );
    let fresh = pos
        .client
        .token(&pos.client_id, &pos.client_secret)
        .unwrap()
        .access_token;
    pos.client
        .whoami(&fresh)
        .expect("a token issued after the revocation works at once");
}

#[test]
fn rotation_keeps_the_old_secret_for_the_grace_period_only() {
    let stack = Stack::shared();
    let pos = stack.onboard("Rotation", None);
    let rotated = stack
        .admin()
        .rotate_secret(&pos.client_id, Some(3))
        .expect("rotate");
    assert_ne!(rotated.client_secret, pos.client_secret);
    pos.client
        .token(&pos.client_id, &rotated.client_secret)
        .expect("new secret works");
    pos.client
        .token(&pos.client_id, &pos.client_secret)
        .expect("old secret works during the grace period");
    std::thread::sleep(Duration::from_millis(3_500));
    let refused = pos
        .client
        .token(&pos.client_id, &pos.client_secret)
        .unwrap_err();
    assert_eq!(refused.status(), Some(401));
    assert_eq!(refused.code(), Some("invalid_client"));
    pos.client
        .token(&pos.client_id, &rotated.client_secret)
        .expect("new secret still works");
}

fn fire_concurrently(pos: &dyno_e2e::Onboarded, n: usize) -> Vec<dyno_client::RawResponse> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let client = pos.client.clone();
            let token = pos.token.access_token.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                client
                    .send(RawRequest::new("GET", "/api/v1/pos/whoami").auth(Auth::Bearer(token)))
                    .expect("answer")
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn exactly_sixty_of_sixty_one_concurrent_requests_pass() {
    let stack = Stack::shared();
    let pos = stack.onboard("Rate limit, concurrent", None);
    let responses = fire_concurrently(&pos, 61);
    let ok = responses.iter().filter(|r| r.status == 200).count();
    let limited: Vec<_> = responses.iter().filter(|r| r.status == 429).collect();
    eprintln!(
        "[rate limit, concurrent] 61 requests: {ok} × 200, {} × 429",
        limited.len()
    );
    assert_eq!(ok, 60);
    assert_eq!(limited.len(), 1);
    let refusal = limited[0];
    let retry_after: i64 = refusal.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(
        refusal.header("RateLimit-Policy"),
        Some("\"client\";q=60;w=60")
    );
    assert!(refusal
        .header("RateLimit")
        .unwrap()
        .starts_with("\"client\";r=0;t="));
    assert_eq!(
        refusal.json::<dyno_client::ProblemDocument>().unwrap().code,
        "RATE_LIMITED"
    );
}

#[test]
fn exactly_sixty_sequential_requests_pass_then_429() {
    let stack = Stack::shared();
    let pos = stack.onboard("Rate limit, sequential", None);
    for i in 0..60 {
        let response = pos
            .client
            .send(
                RawRequest::new("GET", "/api/v1/pos/whoami")
                    .auth(Auth::Bearer(pos.token.access_token.clone())),
            )
            .unwrap();
        assert_eq!(response.status, 200, "request {}", i + 1);
        let remaining = format!("\"client\";r={};", 59 - i);
        assert!(
            response
                .header("RateLimit")
                .unwrap()
                .starts_with(&remaining),
            "request {}",
            i + 1
        );
    }
    let refused = pos.client.whoami(&pos.token.access_token).unwrap_err();
    assert_eq!(refused.status(), Some(429));
}

#[test]
fn admin_api_requires_the_key_and_validates_input() {
    let stack = Stack::shared();
    let client = stack.fresh_client();
    let anonymous = client
        .send(RawRequest::new("POST", "/api/v1/admin/merchants").json(&json!({"name":"x"})))
        .unwrap();
    assert_eq!(anonymous.status, 401);
    let wrong = client
        .send(
            RawRequest::new("POST", "/api/v1/admin/merchants")
                .auth(Auth::Admin("nope".into()))
                .json(&json!({"name":"x"})),
        )
        .unwrap();
    assert_eq!(wrong.status, 401);
    let admin = Auth::Admin(stack.admin_key.clone());
    let unknown_field = client
        .send(
            RawRequest::new("POST", "/api/v1/admin/merchants")
                .auth(admin.clone())
                .json(&json!({"name":"x","colour":"red"})),
        )
        .unwrap();
    assert_eq!(unknown_field.status, 400);
    assert_eq!(
        unknown_field
            .json::<dyno_client::ProblemDocument>()
            .unwrap()
            .code,
        "UNKNOWN_FIELD"
    );
    let duplicate = stack
        .admin()
        .create_merchant(Some("DEMO-CAFETERIA"), "again", true)
        .unwrap_err();
    assert_eq!(duplicate.status(), Some(409));
    // Names are measured in characters, as the document's maxLength is: a 150-letter Arabic
    // name (300 bytes) is a valid name; one with no visible character is not.
    let arabic = "مطعم الحي ".repeat(15);
    let named = stack
        .admin()
        .create_merchant(None, &arabic, true)
        .expect("a long Arabic name");
    assert_eq!(named.name, arabic.trim());
    for blank in ["\u{c}", " \u{feff} ", "\u{1c}"] {
        let refused = stack
            .admin()
            .create_merchant(None, blank, true)
            .unwrap_err();
        assert_eq!(refused.code(), Some("INVALID_REQUEST"), "{blank:?}");
    }
    let bad_webhook = stack
        .admin()
        .set_webhook("pos_sandbox_demo", "ftp://example.com/", "0123456789abcdef")
        .unwrap_err();
    assert_eq!(bad_webhook.code(), Some("INVALID_REQUEST"));
    let merchant = stack
        .admin()
        .merchant("DEMO-CAFETERIA")
        .expect("get merchant");
    assert!(merchant.affiliated && merchant.active);
    expect_success(client.send(RawRequest::new("GET", "/healthz")).unwrap()).unwrap();
}
