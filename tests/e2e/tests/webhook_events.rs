//! The seed's URL receives the seed's event: an endpoint gets `payment.confirmed` only, with exactly
//! the seed's body, unless it subscribes to the other events — which then carry a
//! `transaction_id` only when money moved. Received on a real local listener.

use std::time::Duration;

use dyno_client::{Auth, DynoClient, Initiated, Millimes, RawRequest};
use dyno_e2e::webhooks::WebhookListener;
use dyno_e2e::{Onboarded, Stack};
use serde_json::Value;

/// Starts three requests: one confirmed (sandbox helper), one cancelled by the POS, one expired.
fn three_endings(pos: &Onboarded, prefix: &str) -> [Initiated; 3] {
    let token = &pos.token.access_token;
    let start = |reference: &str, ttl: Option<i64>| -> Initiated {
        pos.client
            .call(DynoClient::initiate_request(
                token,
                Millimes(4_500),
                &format!("{prefix}-{reference}"),
                "events",
                ttl,
            ))
            .expect("initiate")
    };
    let confirmed = start("OK", None);
    let cancelled = start("CANCEL", None);
    let expired = start("EXPIRE", Some(1));
    let helper = RawRequest::new(
        "POST",
        format!(
            "/api/v1/pos/sandbox/payment-requests/{}/confirm",
            confirmed.payment_request_id
        ),
    )
    .auth(Auth::Bearer(token.clone()));
    assert_eq!(pos.client.send(helper).unwrap().status, 200);
    pos.client
        .cancel_session(token, &cancelled.payment_request_id)
        .expect("cancel");
    [confirmed, cancelled, expired]
}

fn bodies(listener: &WebhookListener, n: usize) -> Vec<Value> {
    listener
        .wait_for(n, Duration::from_secs(20))
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[test]
fn a_default_endpoint_gets_only_the_confirmation_with_the_seeds_body() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let pos = stack.onboard("Events: default", None);
    stack
        .admin()
        .set_webhook(&pos.client_id, &listener.url, "whsec_events_default_1")
        .unwrap();
    let [confirmed, ..] = three_endings(&pos, "EVD");
    let got = bodies(&listener, 1);
    // Long enough for the expiry (1 s) and the cancellation to have been announced if they were.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(listener.received().len(), 1, "nothing but the confirmation");
    let raw = String::from_utf8(listener.received()[0].body.clone()).unwrap();
    let keys: Vec<&str> = raw
        .trim_matches(|c| c == '{' || c == '}')
        .split(',')
        .map(|kv| kv.split(':').next().unwrap().trim_matches('"'))
        .collect();
    assert_eq!(
        keys,
        [
            "event",
            "payment_request_id",
            "transaction_id",
            "amount",
            "currency",
            "status",
            "pos_reference",
            "timestamp"
        ],
        "the seed's body, field for field: {raw}"
    );
    assert_eq!(got[0]["event"], "payment.confirmed");
    assert_eq!(got[0]["status"], "succeeded");
    assert_eq!(
        got[0]["payment_request_id"],
        confirmed.payment_request_id.as_str()
    );
    assert!(raw.contains(r#""amount":4.500,"#), "{raw}");
}

#[test]
fn a_subscribed_endpoint_gets_every_ending_and_a_transaction_id_only_when_money_moved() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let pos = stack.onboard("Events: all", None);
    stack
        .admin()
        .set_webhook_events(
            &pos.client_id,
            &listener.url,
            "whsec_events_all_0001",
            &["payment.confirmed", "payment.expired", "payment.cancelled"],
        )
        .unwrap();
    let [confirmed, cancelled, expired] = three_endings(&pos, "EVA");
    let got = bodies(&listener, 3);
    assert_eq!(got.len(), 3);
    let of = |id: &str| {
        got.iter()
            .find(|b| b["payment_request_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("an event for {id}: {got:?}"))
    };
    let c = of(&confirmed.payment_request_id);
    assert_eq!(c["event"], "payment.confirmed");
    assert!(c["transaction_id"].is_string());
    let x = of(&cancelled.payment_request_id);
    assert_eq!(
        (&x["event"], &x["status"], &x["cancelled_by"]),
        (
            &Value::from("payment.cancelled"),
            &Value::from("cancelled"),
            &Value::from("pos")
        )
    );
    assert!(x.get("transaction_id").is_none(), "no money moved: {x}");
    let e = of(&expired.payment_request_id);
    assert_eq!(
        (&e["event"], &e["status"]),
        (&Value::from("payment.expired"), &Value::from("expired"))
    );
    assert!(e.get("transaction_id").is_none(), "no money moved: {e}");
    // The POS's status agrees, and says who cancelled.
    let status = pos
        .client
        .session_status(&pos.token.access_token, &cancelled.payment_request_id)
        .unwrap();
    assert_eq!(
        (status.status.as_str(), status.cancelled_by.as_deref()),
        ("cancelled", Some("pos"))
    );
}

#[test]
fn unknown_events_are_refused() {
    let stack = Stack::shared();
    let pos = stack.onboard("Events: refused", None);
    let e = stack
        .admin()
        .set_webhook_events(
            &pos.client_id,
            "http://127.0.0.1:9/hook",
            "whsec_events_bad_0001",
            &["payment.exploded"],
        )
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(400), Some("INVALID_REQUEST")));
}
