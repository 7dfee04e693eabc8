//! Platform faults, injected with the sandbox's fault switch: effects that fail are kept in the
//! payment's outbox and retried by its alarm until they succeed, exactly once; an alarm that fails
//! is retried; a gate whose storage cannot be read answers 503 and never lets a revoked token in.

use std::time::{Duration, Instant};

use dyno_client::{decode_nfc, DynoClient, Millimes};
use dyno_e2e::webhooks::WebhookListener;
use dyno_e2e::Stack;

const SECRET: &str = "whsec_fault_tests_0123456789";

#[test]
fn effects_that_failed_three_times_still_arrive_exactly_once() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let pos = stack.onboard("Faults: outbox", None);
    stack
        .admin()
        .set_webhook(&pos.client_id, &listener.url, SECRET)
        .expect("webhook endpoint");
    let token = &pos.token.access_token;
    let employee = stack.new_employee(100_000);
    let initiated = pos
        .client
        .initiate(token, Millimes(12_000), "FAULTS-OUTBOX-1", "outbox")
        .expect("initiate");
    let id = &initiated.payment_request_id;
    stack
        .admin()
        .payment_faults(id, [3, 3, 0])
        .expect("faults armed");
    let sig = decode_nfc(&initiated.nfc_payload)
        .and_then(|n| n.link_sig())
        .expect("sig");
    let confirmed = stack
        .client
        .wallet_confirm(&employee.token, id, &sig, &employee.card.numero, "2468")
        .expect("the payment itself does not depend on its effects");
    assert_eq!(confirmed.status, "confirmed");
    assert_eq!(
        pos.client.session_status(token, id).unwrap().status,
        "confirmed",
        "the status was published before the answer"
    );

    // Three failed sends of the ledger row, then three of the webhook, each retried with backoff.
    let first = listener.wait_for(1, Duration::from_secs(45));
    assert_eq!(first.len(), 1, "the webhook arrived after its retries");
    let body: serde_json::Value = serde_json::from_slice(&first[0].body).unwrap();
    assert_eq!(body["event"], "payment.confirmed");
    assert_eq!(body["payment_request_id"], id.as_str());

    // Exactly one D1 ledger row for the sale.
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let page = pos
            .client
            .list_payments(
                token,
                &[("pos_reference", "FAULTS-OUTBOX-1"), ("limit", "10")],
            )
            .expect("listing");
        if !page.data.is_empty() || Instant::now() > deadline {
            break page.data;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(rows.len(), 1, "one ledger row");
    assert_eq!(rows[0].amount, Millimes(12_000));

    // Nothing more arrives later: the retried effects ran once each.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(listener.received().len(), 1, "exactly one delivery");
    let deliveries = pos.client.webhook_deliveries(token).unwrap();
    assert_eq!(deliveries.data.len(), 1, "one delivery in the log");
    assert_eq!(
        stack.balance_of(&employee.card.numero),
        88_000,
        "debited once"
    );
}

#[test]
fn a_failed_alarm_is_retried_and_the_request_still_expires() {
    let stack = Stack::shared();
    let pos = stack.onboard("Faults: alarm", None);
    let token = &pos.token.access_token;
    let initiated: dyno_client::Initiated = pos
        .client
        .call(DynoClient::initiate_request(
            token,
            Millimes(5_000),
            "FAULTS-ALARM-1",
            "alarm",
            Some(1),
        ))
        .expect("initiate");
    let id = &initiated.payment_request_id;
    stack
        .admin()
        .payment_faults(id, [0, 0, 1])
        .expect("faults armed");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // The gate's copy only moves when the object publishes, i.e. when its alarm ran.
        let status = pos.client.session_status(token, id).expect("poll");
        if status.status == "expired" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {} after 30 s",
            status.status
        );
        std::thread::sleep(Duration::from_millis(700));
    }
}

#[test]
fn a_gate_that_cannot_read_its_storage_fails_closed() {
    let stack = Stack::shared();
    let pos = stack.onboard("Faults: gate", None);
    let revoked = pos.token.access_token.clone();
    let fresh = pos
        .client
        .token(&pos.client_id, &pos.client_secret)
        .expect("a second token")
        .access_token;
    pos.client.revoke(&fresh, &revoked).expect("revoke");
    let refused = pos.client.whoami(&revoked).unwrap_err();
    assert_eq!(refused.status(), Some(401));

    stack.admin().corrupt_gate(&pos.client_id).expect("corrupt");
    for token in [&revoked, &fresh] {
        let error = pos.client.whoami(token).unwrap_err();
        assert_eq!(error.status(), Some(503), "{error:?}");
        assert_eq!(error.code(), Some("SERVICE_UNAVAILABLE"));
        let detail = format!("{error:?}");
        assert!(
            !detail.contains("generation") && !detail.contains("not-a-number"),
            "no internal text reaches the client: {detail}"
        );
    }
    // A status poll goes through the same gate and fails the same way.
    let poll = pos
        .client
        .session_status(&revoked, "7c9e6679-7425-40de-944b-e07fc1f90ae7")
        .unwrap_err();
    assert_eq!(poll.status(), Some(503));
}
