//! The attack suite's request-level half, end to end (the token half is in identity.rs): tokens
//! not yet valid, tokens of the wrong app, another client's payments, and hostile bodies —
//! oversize, deeply nested, not UTF-8, duplicate keys, unknown fields. Each is refused with a
//! precise error and changes nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use dyno_client::{Auth, DynoClient, Millimes, ProblemDocument, RawRequest};

use dyno_e2e::Stack;

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
