//! Webhooks to the integrator's own server: a per-request `webhook_url` (with the published demo
//! credentials too, signed with the published `sandbox_webhook_secret`), a client's self-service
//! endpoint with secret rotation, and the sandbox receiver's receipts as the console shows them.

use std::time::{Duration, Instant};

use dyno_client::{Auth, DynoClient, InitiateBody, Initiated, Millimes, RawRequest};
use dyno_e2e::webhooks::WebhookListener;
use dyno_e2e::Stack;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn confirm_with_helper(client: &DynoClient, token: &str, id: &str) {
    let helper = RawRequest::new(
        "POST",
        format!("/api/v1/pos/sandbox/payment-requests/{id}/confirm"),
    )
    .auth(Auth::Bearer(token.to_string()));
    assert_eq!(client.send(helper).unwrap().status, 200);
}

fn initiate_to(client: &DynoClient, token: &str, reference: &str, url: Option<&str>) -> Initiated {
    client
        .call(DynoClient::initiate_request_with(
            token,
            &InitiateBody {
                amount: Millimes(6_000),
                pos_reference: reference.into(),
                channel: "qr".into(),
                description: None,
                webhook_url: url.map(str::to_string),
                ttl_seconds: None,
            },
        ))
        .expect("initiate")
}

#[test]
fn the_demo_credentials_reach_my_own_server_signed_with_the_published_secret() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let client = stack.fresh_client();
    let token = client
        .token("pos_sandbox_demo", "sandbox_secret_demo")
        .unwrap()
        .access_token;
    let initiated = initiate_to(&client, &token, "TARGET-DEMO-1", Some(&listener.url));
    confirm_with_helper(&client, &token, &initiated.payment_request_id);
    let got = listener.wait_for(1, Duration::from_secs(20));
    assert_eq!(got.len(), 1, "the request's own URL got its webhook");
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        body["payment_request_id"],
        initiated.payment_request_id.as_str()
    );
    assert_eq!(
        got[0].header("X-Dyno-Webhook-Signature"),
        Some(signature("sandbox_webhook_secret", &got[0].body).as_str()),
        "signed with the published sandbox_webhook_secret"
    );
    // The demo credentials are read-only: their own endpoint cannot be changed.
    let refused = client
        .send(
            RawRequest::new("PUT", "/api/v1/pos/webhooks/endpoint")
                .auth(Auth::Bearer(token.clone()))
                .json(&json!({"url": listener.url})),
        )
        .unwrap();
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.json::<Value>().unwrap()["code"],
        "READ_ONLY_CREDENTIALS"
    );
    // A malformed URL is refused before anything is created.
    let bad = client
        .send(DynoClient::initiate_request_with(
            &token,
            &InitiateBody {
                amount: Millimes(1_000),
                pos_reference: "TARGET-DEMO-BAD".into(),
                channel: "qr".into(),
                description: None,
                webhook_url: Some("ftp://example.com/hook".into()),
                ttl_seconds: None,
            },
        ))
        .unwrap();
    assert_eq!(bad.status, 400);
}

#[test]
fn a_client_sets_its_own_endpoint_and_rotates_its_secret() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let pos = stack.onboard("Self-service webhooks", None);
    let token = pos.token.access_token.clone();
    let put = |body: Value| -> Value {
        pos.client
            .call(
                RawRequest::new("PUT", "/api/v1/pos/webhooks/endpoint")
                    .auth(Auth::Bearer(token.clone()))
                    .json(&body),
            )
            .expect("endpoint set")
    };
    // No endpoint yet: a request's own URL has no secret to be signed with.
    let without = pos
        .client
        .send(DynoClient::initiate_request_with(
            &token,
            &InitiateBody {
                amount: Millimes(1_000),
                pos_reference: "SELF-0".into(),
                channel: "qr".into(),
                description: None,
                webhook_url: Some(listener.url.clone()),
                ttl_seconds: None,
            },
        ))
        .unwrap();
    assert_eq!(without.status, 400, "{}", without.text());
    let first = put(json!({"url": listener.url}));
    let secret = first["secret"]
        .as_str()
        .expect("a first secret")
        .to_string();
    assert_eq!(first["events"], json!(["payment.confirmed"]));
    let shown: Value = pos
        .client
        .call(
            RawRequest::new("GET", "/api/v1/pos/webhooks/endpoint")
                .auth(Auth::Bearer(token.clone())),
        )
        .unwrap();
    assert_eq!(shown["url"], listener.url.as_str());
    assert!(shown.get("secret").is_none(), "never shown again");
    // Changing the URL keeps the secret; rotating makes a new one.
    assert!(
        put(json!({"url": listener.url, "events": ["payment.confirmed"]}))
            .get("secret")
            .is_none()
    );
    let rotated = put(json!({"url": listener.url, "rotate_secret": true}));
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    let initiated = initiate_to(&pos.client, &token, "SELF-1", None);
    confirm_with_helper(&pos.client, &token, &initiated.payment_request_id);
    let got = listener.wait_for(1, Duration::from_secs(20));
    assert_eq!(
        got[0].header("X-Dyno-Webhook-Signature"),
        Some(signature(&new_secret, &got[0].body).as_str())
    );
}

#[test]
fn the_sandbox_receiver_shows_what_arrived_and_whether_it_verified() {
    let stack = Stack::shared();
    let client = stack.fresh_client();
    let token = client
        .token("pos_sandbox_demo", "sandbox_secret_demo")
        .unwrap()
        .access_token;
    // The demo endpoint is the sandbox's own receiver.
    let initiated = initiate_to(&client, &token, "RECEIPT-1", None);
    confirm_with_helper(&client, &token, &initiated.payment_request_id);
    let deadline = Instant::now() + Duration::from_secs(20);
    let receipt = loop {
        let page: Value = client
            .call(
                RawRequest::new("GET", "/api/v1/pos/sandbox/webhook-receipts")
                    .auth(Auth::Bearer(token.clone())),
            )
            .unwrap();
        let found = page["data"].as_array().unwrap().iter().find(|r| {
            r["body"]
                .as_str()
                .is_some_and(|b| b.contains(&initiated.payment_request_id))
        });
        if let Some(receipt) = found {
            break receipt.clone();
        }
        assert!(Instant::now() < deadline, "no receipt: {page}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(receipt["signature_verified"], true);
    let names: Vec<&str> = receipt["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap())
        .collect();
    for expected in [
        "X-Dyno-Webhook-Signature",
        "webhook-id",
        "webhook-signature",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
}
