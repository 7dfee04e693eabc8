//! The attack suite's request-level half, end to end (the token half is in identity.rs, the
//! production-only transport rules in environments.rs): tokens not yet valid, tokens of the wrong
//! app, another client's payments, hostile bodies — oversize, chunked past the cap, deeply
//! nested, not UTF-8, duplicate keys, unknown fields —, lockouts by strangers and spraying from
//! one address, health probes, revocation with the client's own credentials, the demo pages'
//! policy, redirecting webhook endpoints, compromised secrets and card numbers in the audit log.
//! Each is refused with a precise error and changes nothing.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use dyno_client::{Auth, DynoClient, Millimes, ProblemDocument, RawRequest};

use dyno_e2e::{Stack, StackOptions};

fn code(response: &dyno_client::RawResponse) -> String {
    response
        .json::<ProblemDocument>()
        .map(|p| p.code)
        .unwrap_or_else(|_| response.text())
}

fn scan_body(pos: &dyno_e2e::Onboarded, body: Vec<u8>) -> dyno_client::RawResponse {
    pos.client
        .send(
            RawRequest::new("POST", "/api/v1/pos/payments/scan")
                .auth(Auth::Bearer(pos.token.access_token.clone()))
                .body("application/json", body),
        )
        .unwrap()
}

#[test]
fn hostile_bodies_get_precise_errors_and_move_nothing() {
    let stack = Stack::shared();
    let pos = stack.onboard("Hostile bodies", None);
    let employee = stack.new_employee(20_000);
    let qr = employee.qr(stack, None);

    // Oversize: 400 BODY_TOO_LARGE, never 413 (that is INSUFFICIENT_FUNDS in the seed).
    let huge = format!(
        r#"{{"qr_payload":"{}","amount":1.000,"pos_reference":"SEC-1","channel":"qr"}}"#,
        "A".repeat(40_000)
    );
    let r = scan_body(&pos, huge.into_bytes());
    assert_eq!((r.status, code(&r)), (400, "BODY_TOO_LARGE".to_string()));

    // Deeply nested JSON, at the top and inside a field: typed parsing stops at the first value
    // of the wrong shape and serde_json caps depth at 128, so the isolate never recurses 5,000
    // deep. A clear 400 either way, and the gateway keeps answering (checked at the end).
    let deep = |inner: &str| format!("{}{inner}{}", "[".repeat(5_000), "]".repeat(5_000));
    for (nested, expected) in [
        (deep("1"), "INVALID_REQUEST"),
        (
            format!(
                r#"{{"qr_payload":"{qr}","amount":{},"pos_reference":"SEC-0","channel":"qr"}}"#,
                deep("1")
            ),
            "INVALID_AMOUNT",
        ),
    ] {
        let r = scan_body(&pos, nested.into_bytes());
        assert_eq!(
            (r.status, code(&r)),
            (400, expected.to_string()),
            "{}",
            r.text()
        );
    }

    // A JSON array in place of the object: serde would fill the struct positionally, so this
    // genuine QR, amount and reference would pay. Bodies must be objects.
    let positional = format!(r#"["{qr}",1.000,"SEC-ARRAY","qr"]"#);
    let r = scan_body(&pos, positional.into_bytes());
    assert_eq!(
        (r.status, code(&r)),
        (400, "INVALID_REQUEST".to_string()),
        "{}",
        r.text()
    );

    // Not UTF-8.
    let r = scan_body(&pos, vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']);
    assert_eq!((r.status, code(&r)), (400, "INVALID_JSON".to_string()));

    // Duplicate keys: which amount would we believe? Neither.
    let duplicate = format!(
        r#"{{"qr_payload":"{qr}","amount":1.000,"amount":9999.000,"pos_reference":"SEC-2","channel":"qr"}}"#
    );
    let r = scan_body(&pos, duplicate.into_bytes());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        code(&r) == "INVALID_REQUEST" || code(&r) == "INVALID_JSON",
        "{}",
        code(&r)
    );

    // Unknown fields are refused (documented policy: a misspelt field must never be ignored).
    let unknown =
        format!(r#"{{"qr_payload":"{qr}","amount":1.000,"pos_refernce":"SEC-3","channel":"qr"}}"#);
    let r = scan_body(&pos, unknown.into_bytes());
    assert_eq!((r.status, code(&r)), (400, "UNKNOWN_FIELD".to_string()));

    // Wrong content type.
    let r = pos
        .client
        .send(
            RawRequest::new("POST", "/api/v1/pos/payments/scan")
                .auth(Auth::Bearer(pos.token.access_token.clone()))
                .body("text/plain", br#"{"amount":1}"#.to_vec()),
        )
        .unwrap();
    assert_eq!(
        (r.status, code(&r)),
        (415, "UNSUPPORTED_MEDIA_TYPE".to_string())
    );

    assert_eq!(
        stack.balance_of(&employee.card.numero),
        20_000,
        "none of these moved money"
    );
    // And the QR is still good for a genuine request.
    pos.client
        .scan(&pos.token.access_token, &qr, Millimes(1_000), "SEC-OK")
        .expect("genuine scan");
}

#[test]
fn tokens_not_yet_valid_or_for_the_other_app_are_refused() {
    let stack = Stack::shared();
    let pos = stack.onboard("Token audiences", None);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    // nbf in the future, signed with the real key.
    let claims = serde_json::json!({
        "iss": "https://sandbox.dyno-motiva.com", "aud": "dyno-pos", "sub": pos.client_id, "scope": "payments",
        "sandbox": true, "jti": "nbf-test", "gen": 0, "iat": now, "exp": now + 3600, "nbf": now + 600
    });
    let future = sign(&stack.jwt_keys(), &claims);
    let r = pos
        .client
        .send(RawRequest::new("GET", "/api/v1/pos/whoami").auth(Auth::Bearer(future)))
        .unwrap();
    assert_eq!((r.status, code(&r)), (401, "INVALID_TOKEN".to_string()));
    assert!(r
        .header("WWW-Authenticate")
        .unwrap_or("")
        .contains("not yet valid"));

    // A wallet token on a POS route, and a POS token on a wallet route.
    let wallet = stack
        .fresh_client()
        .wallet_login("+21620000001", "1234")
        .unwrap()
        .access_token;
    let r = pos
        .client
        .send(RawRequest::new("GET", "/api/v1/pos/whoami").auth(Auth::Bearer(wallet)))
        .unwrap();
    assert_eq!((r.status, code(&r)), (401, "INVALID_TOKEN".to_string()));
    let r = pos
        .client
        .send(
            RawRequest::new("GET", "/api/v1/wallet/cards")
                .auth(Auth::Bearer(pos.token.access_token.clone())),
        )
        .unwrap();
    assert_eq!((r.status, code(&r)), (401, "INVALID_TOKEN".to_string()));
}

/// Signs a JWT by hand with the ring's first key (to set claims the gateway would never issue,
/// such as a future `nbf`). `keys` is the JWT_KEYS secret: `kid:hexkey[,kid:hexkey…]`.
fn sign(keys: &str, claims: &serde_json::Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let (kid, hex_key) = keys.split(',').next().unwrap().split_once(':').unwrap();
    let header = serde_json::json!({"alg": "HS256", "kid": kid, "typ": "JWT"});
    let key = hex::decode(hex_key).unwrap();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[test]
fn another_clients_payments_are_404_everywhere() {
    let stack = Stack::shared();
    let owner = stack.onboard("Owner", None);
    let intruder = stack.onboard("Intruder", None);
    let employee = stack.new_employee(20_000);
    let paid = owner
        .client
        .scan(
            &owner.token.access_token,
            &employee.qr(stack, None),
            Millimes(2_000),
            "OWN-1",
        )
        .unwrap();
    let session = owner
        .client
        .initiate(&owner.token.access_token, Millimes(1_000), "OWN-2", "x")
        .unwrap();
    let token = intruder.token.access_token.clone();
    let attempts = [
        RawRequest::new(
            "GET",
            format!("/api/v1/pos/payments/{}", paid.transaction_id),
        ),
        RawRequest::new(
            "GET",
            format!("/api/v1/pos/payments/{}/status", session.payment_request_id),
        ),
        RawRequest::new(
            "POST",
            format!("/api/v1/pos/payments/{}/cancel", session.payment_request_id),
        ),
        DynoClient::refund_request(
            &token,
            &paid.transaction_id,
            Some(Millimes(1)),
            "intruder-refund",
        ),
    ];
    for request in attempts {
        let r = intruder
            .client
            .send(request.auth(Auth::Bearer(token.clone())))
            .unwrap();
        assert_eq!(
            (r.status, code(&r)),
            (404, "NOT_FOUND".to_string()),
            "{}",
            r.text()
        );
    }
    let by_reference = intruder
        .client
        .payment_by_reference(&token, "OWN-1")
        .unwrap_err();
    assert_eq!(by_reference.status(), Some(404));
    assert_eq!(
        owner
            .client
            .session_status(&owner.token.access_token, &session.payment_request_id)
            .unwrap()
            .status,
        "pending"
    );
    assert_eq!(stack.balance_of(&employee.card.numero), 18_000);
}

const TOKEN: &str = "/api/v1/pos/oauth/token";

fn token_attempt(client: &DynoClient, client_id: &str, secret: &str) -> dyno_client::RawResponse {
    client
        .send(RawRequest::new("POST", TOKEN).json(&serde_json::json!({
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret
        })))
        .unwrap()
}

fn oauth_error(response: &dyno_client::RawResponse) -> String {
    response
        .json::<serde_json::Value>()
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| response.text())
}

/// Waits, if need be, for the start of the next minute. The Rate Limiting binding counts in fixed
/// windows aligned to the wall clock (60 s here, in `wrangler dev` as at Cloudflare), so a burst
/// that straddles two windows would be counted twice over; this keeps a burst of up to `needed`
/// inside one window.
fn within_one_rate_window(needed: std::time::Duration) {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into_window = std::time::Duration::from_millis((since_epoch.as_millis() % 60_000) as u64);
    let left = std::time::Duration::from_secs(60) - into_window;
    if left < needed {
        std::thread::sleep(left + std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_stranger_guessing_secrets_cannot_lock_the_real_client_out() {
    let stack = Stack::shared();
    let pos = stack.onboard("Lockout by a stranger", None);
    // The real client takes a few tokens first: successes are never charged to the failure count.
    for _ in 0..5 {
        let ok = token_attempt(&pos.client, &pos.client_id, &pos.client_secret);
        assert_eq!(ok.status, 200, "{}", ok.text());
    }
    // The stranger knows the client_id, from one address: 20 wrong secrets are 401, then 429.
    let stranger = stack.fresh_client();
    within_one_rate_window(std::time::Duration::from_secs(25));
    for i in 0..20 {
        let r = token_attempt(&stranger, &pos.client_id, &format!("guess-{i}"));
        assert_eq!(
            (r.status, oauth_error(&r)),
            (401, "invalid_client".to_string()),
            "wrong secret {}",
            i + 1
        );
    }
    let throttled = token_attempt(&stranger, &pos.client_id, "guess-21");
    assert_eq!(
        (throttled.status, oauth_error(&throttled)),
        (429, "temporarily_unavailable".to_string())
    );
    assert!(throttled.header("Retry-After").is_some());
    assert_eq!(
        throttled.header("RateLimit-Policy"),
        Some("\"token-failures\";q=20;w=60")
    );
    assert!(
        !throttled.text().contains("access_token"),
        "no token ever reached the stranger"
    );
    // The real client is not locked out: its correct secret works, from its own address and
    // even from the stranger's, and its token works.
    for client in [&pos.client, &stranger] {
        let r = token_attempt(client, &pos.client_id, &pos.client_secret);
        assert_eq!(r.status, 200, "{}", r.text());
        let token: dyno_client::TokenResponse = r.json().unwrap();
        pos.client
            .whoami(&token.access_token)
            .expect("the real client's token works");
    }
    // Its secret was not changed by any of this: the first token still works as well.
    pos.client.whoami(&pos.token.access_token).unwrap();
}

#[test]
fn one_address_is_limited_to_sixty_token_requests_a_minute() {
    let stack = Stack::shared();
    let pos = stack.onboard("Per-IP limit", None);
    let sprayer = stack.fresh_client();
    within_one_rate_window(std::time::Duration::from_secs(25));
    let mut refused_at = None;
    for i in 0..61 {
        let r = token_attempt(&sprayer, &format!("pos_spray_{i}"), "x");
        if r.status == 429 {
            assert_eq!(oauth_error(&r), "temporarily_unavailable");
            assert_eq!(r.header("RateLimit-Policy"), Some("\"token-ip\";q=60;w=60"));
            assert!(r.header("Retry-After").is_some());
            refused_at = Some(i + 1);
            break;
        }
        assert_eq!(r.status, 401, "{}", r.text());
    }
    assert_eq!(refused_at, Some(61), "the 61st request from one address");
    // Refused before any secret is looked at: even a correct one gets no token from there...
    let r = token_attempt(&sprayer, &pos.client_id, &pos.client_secret);
    assert_eq!(r.status, 429);
    assert!(!r.text().contains("access_token"));
    // ...while the client's own address is untouched.
    let r = token_attempt(&pos.client, &pos.client_id, &pos.client_secret);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A stack of its own, so the Durable Objects it stores can be counted exactly.
fn quiet_stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| Stack::start(StackOptions::default()))
}

/// The client gates stored on disk by the stack (one SQLite file per Durable Object).
fn stored_client_gates(stack: &Stack) -> usize {
    // The objects are the back's (wrangler.back.toml), stored under its name.
    std::fs::read_dir(stack.state_dir.join("v3/do/dyno-edge-back-ClientGate"))
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".sqlite") && name != "metadata.sqlite")
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn throttling_the_token_endpoint_stores_no_object_per_address_or_guessed_id() {
    let stack = quiet_stack();
    // The demo client's own gate decides its token requests: it exists once the client is used.
    let r = token_attempt(&stack.client, "pos_sandbox_demo", "sandbox_secret_demo");
    assert_eq!(r.status, 200, "{}", r.text());
    let before = stored_client_gates(stack);
    assert!(
        before > 0,
        "the demo client's gate is stored where this test looks"
    );
    // 40 addresses, each guessing a secret for an id of its own and for the demo client.
    for n in 0..40 {
        let client = stack
            .client
            .with_header("CF-Connecting-IP", &format!("198.51.100.{n}"));
        let r = token_attempt(&client, &format!("pos_guess_{n}"), "x");
        assert_eq!(r.status, 401, "{}", r.text());
        let r = token_attempt(&client, "pos_sandbox_demo", &format!("guess-{n}"));
        assert!(r.status == 401 || r.status == 429, "{}", r.text());
    }
    assert_eq!(
        stored_client_gates(stack),
        before,
        "no Durable Object for a source address or an unknown client_id"
    );
    // The count does see gates: a real client taking a token stores its own.
    stack.onboard("Counted gate", None);
    assert!(stored_client_gates(stack) > before);
}

#[test]
fn public_health_says_ok_and_nothing_else() {
    let stack = Stack::shared();
    let client = stack.fresh_client();
    let r = client.send(RawRequest::new("GET", "/healthz")).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json::<serde_json::Value>().unwrap(),
        serde_json::json!({"status": "ok"}),
        "no version, environment, dependency or latency"
    );
    // The dependency report needs the admin key: a POS token or a wrong key get nothing.
    let pos = stack.onboard("Health probe", None);
    for auth in [
        Auth::None,
        Auth::Admin("not-the-key".into()),
        Auth::Bearer(pos.token.access_token.clone()),
    ] {
        let r = client
            .send(RawRequest::new("GET", "/api/v1/admin/health").auth(auth))
            .unwrap();
        assert_eq!(r.status, 401, "{}", r.text());
        // The request id is random hex and may spell "d1" by chance: only the words count.
        let mut problem = r.json::<serde_json::Value>().unwrap();
        problem.as_object_mut().unwrap().remove("request_id");
        let words = problem.to_string().to_lowercase();
        for internal in ["d1", "cynod", "queue", "migration", "version"] {
            assert!(!words.contains(internal), "{internal} in {words}");
        }
    }
    let report = stack.admin().health().unwrap();
    assert_eq!(report.status, "ok");
    assert!(report.checks.contains_key("d1"));
}

/// Sends `body` chunk by chunk without `Content-Length` (and without ever ending it), and
/// returns the status line and body of the answer, if one comes within 30 s.
fn chunked_post(stack: &Stack, path: &str, token: &str, prefix: &[u8], total: usize) -> String {
    use std::io::{Read, Write};
    let address = stack.base_url.trim_start_matches("http://");
    let mut socket = std::net::TcpStream::connect(address).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        socket,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let mut body = prefix.to_vec();
    body.resize(total, b' ');
    for chunk in body.chunks(1024) {
        if write!(socket, "{:x}\r\n", chunk.len())
            .and_then(|_| socket.write_all(chunk))
            .and_then(|_| socket.write_all(b"\r\n"))
            .is_err()
        {
            break; // the gateway may close as soon as it has answered
        }
    }
    // The final zero-length chunk is never sent: a server that waits for the whole body
    // never answers.
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = socket.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        if String::from_utf8_lossy(&answer).contains("\"request_id\"") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_chunked_body_is_refused_once_past_the_cap_without_being_read_whole() {
    let stack = Stack::shared();
    let pos = stack.onboard("Chunked body", None);
    let employee = stack.new_employee(20_000);
    let qr = employee.qr(stack, None);
    // A genuine scan, padded with JSON whitespace to 64 KiB: valid JSON, never complete.
    let scan = format!(
        r#"{{"qr_payload":"{qr}","amount":1.000,"pos_reference":"CHUNKED-1","channel":"qr"}}"#
    );
    let answer = chunked_post(
        stack,
        "/api/v1/pos/payments/scan",
        &pos.token.access_token,
        scan.as_bytes(),
        64 * 1024,
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":\"BODY_TOO_LARGE\""), "{answer}");
    assert!(
        answer.contains(&dyno_core::edge::MAX_BODY_BYTES.to_string()),
        "{answer}"
    );
    // Nothing moved, nothing was recorded under that reference, and the QR is still good.
    assert_eq!(stack.balance_of(&employee.card.numero), 20_000);
    assert_eq!(
        pos.client
            .payment_by_reference(&pos.token.access_token, "CHUNKED-1")
            .unwrap_err()
            .status(),
        Some(404)
    );
    pos.client
        .scan(&pos.token.access_token, &qr, Millimes(1_000), "CHUNKED-OK")
        .expect("the same QR pays once, when asked properly");
    assert_eq!(stack.balance_of(&employee.card.numero), 19_000);
}

#[test]
fn revocation_takes_the_clients_own_credentials_basic_or_form() {
    let stack = Stack::shared();
    let pos = stack.onboard("RFC 7009 credentials", None);
    let other = stack.onboard("RFC 7009 other client", None);
    let take = || {
        pos.client
            .token(&pos.client_id, &pos.client_secret)
            .unwrap()
            .access_token
    };
    let (by_basic, by_form, kept) = (take(), take(), take());

    // Refusals first, and each leaves the token working.
    let wrong = pos
        .client
        .revoke_with_credentials(&pos.client_id, "wrong-secret", &by_basic, true)
        .unwrap_err();
    assert_eq!(wrong.status(), Some(401));
    assert_eq!(wrong.code(), Some("invalid_client"));
    // Another client's own credentials cannot revoke this client's token (200, as §2.2 says).
    other
        .client
        .revoke_with_credentials(&other.client_id, &other.client_secret, &by_basic, false)
        .expect("200 for a foreign token");
    pos.client.whoami(&by_basic).expect("still valid");

    // HTTP Basic, as stock OAuth libraries send it.
    pos.client
        .revoke_with_credentials(&pos.client_id, &pos.client_secret, &by_basic, true)
        .expect("Basic revocation");
    assert_eq!(
        pos.client.whoami(&by_basic).unwrap_err().code(),
        Some("INVALID_TOKEN")
    );
    // client_id and client_secret in the form.
    pos.client
        .revoke_with_credentials(&pos.client_id, &pos.client_secret, &by_form, false)
        .expect("form revocation");
    assert_eq!(
        pos.client.whoami(&by_form).unwrap_err().code(),
        Some("INVALID_TOKEN")
    );
    pos.client
        .whoami(&kept)
        .expect("the client's other tokens are untouched");
}

#[test]
fn demo_credentials_may_revoke_their_own_tokens() {
    let stack = Stack::shared();
    let client = stack.fresh_client();
    let take = || {
        client
            .token("pos_sandbox_demo", "sandbox_secret_demo")
            .unwrap()
            .access_token
    };
    let (first, second, third) = (take(), take(), take());
    client
        .revoke(&first, &first)
        .expect("a demo token revokes itself with its Bearer");
    client
        .revoke_with_credentials("pos_sandbox_demo", "sandbox_secret_demo", &second, true)
        .expect("and with the demo credentials");
    for revoked in [&first, &second] {
        assert_eq!(
            client.whoami(revoked).unwrap_err().code(),
            Some("INVALID_TOKEN")
        );
    }
    client
        .whoami(&third)
        .expect("revoking one jti harms no one else");
    // The demo credentials themselves still work for everyone.
    client.whoami(&take()).unwrap();
}

#[test]
fn demo_pages_are_served_with_a_strict_content_security_policy() {
    let stack = Stack::shared();
    for path in [
        "/",
        "/index.html",
        "/wallet",
        "/pos",
        "/console",
        "/assets/wallet.js",
        "/assets/app.css",
    ] {
        let r = stack.client.send(RawRequest::new("GET", path)).unwrap();
        assert_eq!(r.status, 200, "{path}");
        let csp = r.header("Content-Security-Policy").unwrap_or("");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp:?}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"), "{path}");
        assert_eq!(
            r.header("X-Content-Type-Options"),
            Some("nosniff"),
            "{path}"
        );
        if path.ends_with(".js") || path.ends_with(".css") {
            continue;
        }
        // What the policy would block must not be there: no inline script, handler or style.
        let html = r.text();
        for script in html.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap_or("");
            assert!(tag.contains("src=\"/"), "{path}: inline <script{tag}>");
        }
        for attribute in [
            " onclick=",
            " onload=",
            " onsubmit=",
            " onerror=",
            " style=",
        ] {
            assert!(!html.contains(attribute), "{path}: {attribute}");
        }
    }
}

#[test]
fn webhook_delivery_does_not_follow_redirects() {
    use dyno_e2e::webhooks::WebhookListener;
    let stack = Stack::shared();
    // The endpoint answers 302 to another local listener, which must never hear from us.
    let target = WebhookListener::accepting();
    let redirector = WebhookListener::redirecting_to(&target.url);
    let pos = stack.onboard("Redirecting endpoint", None);
    stack
        .admin()
        .set_webhook(&pos.client_id, &redirector.url, "redirect-test-secret-0001")
        .expect("sandbox endpoint");
    let token = pos.token.access_token.clone();
    let session = pos
        .client
        .initiate(&token, Millimes(1_500), "REDIRECT-1", "x")
        .unwrap();
    let confirmed = pos
        .client
        .send(
            RawRequest::new(
                "POST",
                format!(
                    "/api/v1/pos/sandbox/payment-requests/{}/confirm",
                    session.payment_request_id
                ),
            )
            .auth(Auth::Bearer(token.clone())),
        )
        .unwrap();
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());

    // The 302 counts as a failed attempt: the delivery is retried (2 s later), to the same URL.
    let attempts = redirector.wait_for(2, std::time::Duration::from_secs(30));
    assert!(attempts.len() >= 2, "a 3xx is not an acknowledgement");
    assert!(
        target.received().is_empty(),
        "the redirect target received {} request(s)",
        target.received().len()
    );
    let deliveries = pos.client.webhook_deliveries(&token).unwrap().data;
    let delivery = deliveries
        .iter()
        .find(|d| d.payment_request_id == session.payment_request_id)
        .expect("the delivery is logged");
    assert_ne!(delivery.status, "delivered");
    assert!(
        delivery.attempts.iter().all(|a| a.http_status == Some(302)),
        "{:?}",
        delivery.attempts
    );
    assert!(target.received().is_empty());
}

#[test]
fn a_compromised_secret_stops_at_once_with_every_token_it_minted() {
    let stack = Stack::shared();
    let pos = stack.onboard("Compromised secret", None);
    let minted = pos
        .client
        .token(&pos.client_id, &pos.client_secret)
        .unwrap()
        .access_token;
    // A compromised rotation has no grace: asking for one is refused and changes nothing.
    let refused = pos
        .client
        .send(
            RawRequest::new(
                "POST",
                format!("/api/v1/admin/clients/{}/rotate-secret", pos.client_id),
            )
            .auth(Auth::Admin(stack.admin_key.clone()))
            .json(&serde_json::json!({"compromised": true, "grace_seconds": 3600})),
        )
        .unwrap();
    assert_eq!(
        (refused.status, code(&refused)),
        (400, "INVALID_REQUEST".into())
    );
    pos.client.whoami(&minted).expect("nothing changed");
    pos.client
        .token(&pos.client_id, &pos.client_secret)
        .expect("old secret unchanged");

    let rotated = stack
        .admin()
        .rotate_compromised_secret(&pos.client_id)
        .expect("compromised rotation");
    assert!(rotated.token_generation.is_some_and(|g| g >= 1));
    // The old secret stops now, not after a grace period.
    let old = token_attempt(&pos.client, &pos.client_id, &pos.client_secret);
    assert_eq!(
        (old.status, oauth_error(&old)),
        (401, "invalid_client".into())
    );
    // Every token issued before is revoked, whoever holds it.
    for token in [&pos.token.access_token, &minted] {
        assert_eq!(
            pos.client.whoami(token).unwrap_err().code(),
            Some("INVALID_TOKEN")
        );
    }
    let fresh = pos
        .client
        .token(&pos.client_id, &rotated.client_secret)
        .expect("the new secret works")
        .access_token;
    pos.client.whoami(&fresh).expect("and its tokens work");
}

#[test]
fn the_audit_log_keeps_only_the_last_four_digits_of_a_card() {
    let stack = Stack::shared();
    let card = stack.new_card(5_000, "TicketResto");
    // An operator route with the card number in its path, refused (no X-Operator): refused
    // calls are audited too, with their path parameter.
    let r = stack
        .client
        .send(stack.admin().card_movement_request(
            None,
            &card.numero,
            "credit",
            Millimes(1_000),
            "audit-mask",
        ))
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    let last4 = &card.numero[card.numero.len() - 4..];
    let masked = format!("************{last4}");
    let started = std::time::Instant::now();
    loop {
        let page = stack.admin().audit(None, Some(500)).expect("audit");
        if page.entries.iter().any(|e| {
            e.action == "POST /api/v1/admin/cards/{card_number}/credit"
                && e.resource.as_deref() == Some(masked.as_str())
        }) {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the card call was never audited"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    // The full number appears nowhere in what the operator reads.
    let raw = stack
        .client
        .send(
            RawRequest::new("GET", "/api/v1/admin/audit?limit=500")
                .auth(Auth::Admin(stack.admin_key.clone())),
        )
        .unwrap();
    assert_eq!(raw.status, 200, "{}", raw.text());
    assert!(!raw.text().contains(&card.numero), "{}", raw.text());
}
