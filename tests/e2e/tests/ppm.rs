//! PPM (the seed's Flux B and Webhooks), end to end: the POS initiates, the employee opens and
//! confirms from the signed link, the POS polls each status in turn, and signed webhooks arrive at
//! a real listener in this test — with retries, the dead-letter queue and redelivery.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use dyno_client::{decode_nfc, DynoClient, Initiated, Millimes};
use dyno_e2e::webhooks::{Received, WebhookListener};
use dyno_e2e::{Employee, Onboarded, Stack};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const SECRET: &str = "whsec_test_0123456789abcdef";

/// Every event an endpoint can subscribe to (by default it gets `payment.confirmed` only).
pub const ALL_EVENTS: &[&str] = &[
    "payment.confirmed",
    "payment.failed",
    "payment.expired",
    "payment.cancelled",
    "payment.refunded",
];

/// A POS client whose webhooks, all of them, go to `listener`.
fn pos_with_webhooks(stack: &Stack, name: &str, listener: &WebhookListener) -> Onboarded {
    let pos = stack.onboard(name, None);
    stack
        .admin()
        .set_webhook_events(&pos.client_id, &listener.url, SECRET, ALL_EVENTS)
        .expect("webhook endpoint");
    pos
}

fn sig_of(initiated: &Initiated) -> String {
    decode_nfc(&initiated.nfc_payload)
        .and_then(|n| n.link_sig())
        .expect("link sig")
}

/// Recomputes the seed's signature independently of the gateway's code.
fn expected_signature(body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn decode_qr_png(b64: &str) -> String {
    let png_bytes = STANDARD.decode(b64).expect("base64 PNG");
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .expect("PNG");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h, row, depth) = (
        info.width as usize,
        info.height as usize,
        info.line_size,
        info.bit_depth as u8,
    );
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| match depth {
        1 => {
            if buf[y * row + x / 8] & (0x80 >> (x % 8)) != 0 {
                255
            } else {
                0
            }
        }
        _ => buf[y * row + x],
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("QR decodes").1
}

fn confirm(
    stack: &Stack,
    employee: &Employee,
    initiated: &Initiated,
) -> dyno_client::WalletRequest {
    stack
        .client
        .wallet_confirm(
            &employee.token,
            &initiated.payment_request_id,
            &sig_of(initiated),
            &employee.card.numero,
            "2468",
        )
        .expect("confirm")
}

#[test]
fn the_full_flow_with_polling_and_a_signed_webhook() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let pos = pos_with_webhooks(stack, "PPM happy path", &listener);
    let token = &pos.token.access_token;
    let employee = stack.new_employee(100_000);

    let initiated = pos
        .client
        .initiate(
            token,
            Millimes(45_000),
            "CAISSE-01-SESS-007",
            "Déjeuner cafétéria",
        )
        .expect("initiate");
    assert!(dyno_core::ids::is_uuid(&initiated.payment_request_id));
    assert_eq!(
        (
            initiated.status.as_str(),
            initiated.amount,
            initiated.currency.as_str()
        ),
        ("pending", Millimes(45_000), "TND")
    );
    assert!(
        initiated.qr_payload.starts_with("iVBORw0KGgo"),
        "a base64 PNG"
    );
    assert!(
        initiated.nfc_payload.starts_with("eyJTZXNzaW9uSWQi"),
        "base64 JSON starting with SessionId"
    );
    let expires = dyno_core::Millis::parse_rfc3339(&initiated.expires_at)
        .unwrap()
        .secs();
    assert!(
        (expires - now_secs() - 60).abs() <= 3,
        "expires_at = creation + 60 s"
    );

    let link = decode_qr_png(&initiated.qr_payload);
    assert!(
        link.contains(&format!(
            "wallet.html#pr={}&sig=",
            initiated.payment_request_id
        )),
        "{link}"
    );
    let nfc = decode_nfc(&initiated.nfc_payload).unwrap();
    assert_eq!(nfc.url, link, "QR and NFC carry the same signed link");
    assert_eq!(nfc.amount, "45.000");

    let poll = |expected: &str| {
        let status = pos
            .client
            .session_status(token, &initiated.payment_request_id)
            .expect("poll");
        assert_eq!(status.status, expected);
        status
    };
    poll("pending");
    let seen = stack
        .client
        .wallet_request(
            &employee.token,
            &initiated.payment_request_id,
            &sig_of(&initiated),
        )
        .expect("employee opens the request");
    assert_eq!(
        (seen.status.as_str(), seen.amount),
        ("scanned", Millimes(45_000))
    );
    assert_eq!(seen.merchant_name, "PPM happy path");
    assert_eq!(seen.description.as_deref(), Some("Déjeuner cafétéria"));
    poll("scanned");
    let forged = stack
        .client
        .wallet_request(
            &employee.token,
            &initiated.payment_request_id,
            "forged-signature",
        )
        .unwrap_err();
    assert_eq!(
        forged.code(),
        Some("INVALID_QR"),
        "a forged link is refused"
    );

    let confirmed = confirm(stack, &employee, &initiated);
    assert_eq!(confirmed.status, "confirmed");
    let status = poll("confirmed");
    let transaction_id = status
        .transaction_id
        .clone()
        .expect("transaction_id when confirmed");
    let code = status
        .confirmation_code
        .clone()
        .expect("confirmation_code when confirmed");
    assert_eq!(code.len(), 8);
    assert_eq!(
        stack.balance_of(&employee.card.numero),
        55_000,
        "debited once, exactly"
    );

    let got = listener.wait_for(1, Duration::from_secs(15));
    assert_eq!(got.len(), 1, "one webhook");
    let hook = &got[0];
    assert_eq!(
        hook.header("X-Dyno-Webhook-Signature"),
        Some(expected_signature(&hook.body).as_str())
    );
    assert_eq!(hook.header("Content-Type"), Some("application/json"));
    assert!(hook.header("webhook-id").is_some_and(|id| !id.is_empty()));
    assert!(hook
        .header("webhook-timestamp")
        .is_some_and(|t| (t.parse::<i64>().unwrap() - now_secs()).abs() < 30));
    assert!(hook
        .header("webhook-signature")
        .is_some_and(|s| s.starts_with("v1,")));
    let body: Value = serde_json::from_slice(&hook.body).unwrap();
    let raw = String::from_utf8_lossy(&hook.body).to_string();
    let seed_order = [
        "event",
        "payment_request_id",
        "transaction_id",
        "amount",
        "currency",
        "status",
        "pos_reference",
        "timestamp",
    ];
    let positions: Vec<usize> = seed_order
        .iter()
        .map(|k| {
            raw.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing from {raw}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "the seed's fields, in the seed's order: {raw}"
    );
    assert_eq!(body.as_object().unwrap().len(), 8, "and nothing else");
    assert_eq!(body["event"], "payment.confirmed");
    assert_eq!(
        body["payment_request_id"],
        initiated.payment_request_id.as_str()
    );
    assert_eq!(body["transaction_id"], transaction_id.as_str());
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["pos_reference"], "CAISSE-01-SESS-007");
    assert!(String::from_utf8_lossy(&hook.body).contains("\"amount\":45.000"));

    let by_id = pos
        .client
        .payment(token, &transaction_id)
        .expect("look-up by transaction id");
    assert_eq!(
        (by_id.flow.as_str(), by_id.status.as_str()),
        ("ppm", "confirmed")
    );
    std::thread::sleep(Duration::from_millis(500));
    let deliveries = pos.client.webhook_deliveries(token).unwrap();
    let delivery = deliveries
        .data
        .iter()
        .find(|d| d.event == "payment.confirmed")
        .expect("logged");
    assert_eq!(delivery.status, "delivered");
    assert_eq!(delivery.attempts.len(), 1);
    assert_eq!(delivery.attempts[0].http_status, Some(200));
    assert_eq!(
        Some(delivery.delivery_id.as_str()),
        hook.header("webhook-id")
    );
}

#[test]
fn a_receiver_failing_twice_gets_the_third_attempt_two_then_four_seconds_apart() {
    let stack = Stack::shared();
    let listener = WebhookListener::start(Box::new(|n| if n < 2 { 500 } else { 200 }));
    let pos = pos_with_webhooks(stack, "PPM retries", &listener);
    let employee = stack.new_employee(10_000);
    let initiated = pos
        .client
        .initiate(&pos.token.access_token, Millimes(1_000), "RETRY-1", "Café")
        .unwrap();
    confirm(stack, &employee, &initiated);
    let got = listener.wait_for(3, Duration::from_secs(25));
    assert_eq!(got.len(), 3);
    let gap = |a: &Received, b: &Received| b.at.duration_since(a.at).as_secs_f64();
    let (first, second) = (gap(&got[0], &got[1]), gap(&got[1], &got[2]));
    eprintln!("[webhook retries] attempts 1→2: {first:.2} s, 2→3: {second:.2} s");
    assert!((1.5..3.5).contains(&first), "about 2 s: {first}");
    assert!((3.5..6.0).contains(&second), "about 4 s: {second}");
    let id = got[0].header("webhook-id").unwrap().to_string();
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == Some(id.as_str())),
        "same webhook-id on every retry"
    );
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "same body on every retry"
    );
    std::thread::sleep(Duration::from_millis(1_000));
    let deliveries = pos
        .client
        .webhook_deliveries(&pos.token.access_token)
        .unwrap();
    let delivery = &deliveries.data[0];
    assert_eq!(delivery.status, "delivered");
    let statuses: Vec<Option<i64>> = delivery.attempts.iter().map(|a| a.http_status).collect();
    assert_eq!(statuses, vec![Some(500), Some(500), Some(200)]);
}

#[test]
fn a_receiver_that_always_fails_ends_in_the_dead_letter_queue_and_can_be_redelivered() {
    let stack = Stack::shared();
    let healthy = Arc::new(AtomicBool::new(false));
    let switch = healthy.clone();
    let listener = WebhookListener::start(Box::new(move |_| {
        if switch.load(Ordering::SeqCst) {
            200
        } else {
            503
        }
    }));
    let pos = pos_with_webhooks(stack, "PPM dead letters", &listener);
    let token = pos.token.access_token.clone();
    let employee = stack.new_employee(10_000);
    let initiated = pos
        .client
        .initiate(&token, Millimes(1_000), "DLQ-1", "Café")
        .unwrap();
    confirm(stack, &employee, &initiated);

    let got = listener.wait_for(4, Duration::from_secs(30));
    assert_eq!(got.len(), 4, "the first attempt and three retries");
    let gaps: Vec<f64> = got
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at).as_secs_f64())
        .collect();
    eprintln!("[webhook dead letter] gaps between the 4 attempts: {gaps:.2?} s");
    let mut delivery = None;
    for _ in 0..40 {
        let page = pos.client.webhook_deliveries(&token).unwrap();
        if page
            .data
            .first()
            .is_some_and(|d| d.status == "dead_lettered")
        {
            delivery = page.data.into_iter().next();
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let delivery = delivery.expect("marked dead-lettered");
    assert_eq!(delivery.attempts.len(), 4);
    assert!(delivery.attempts.iter().all(|a| a.http_status == Some(503)));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        listener.received().len(),
        4,
        "no fifth attempt after the dead letter"
    );

    healthy.store(true, Ordering::SeqCst);
    pos.client
        .redeliver(&token, &delivery.delivery_id)
        .expect("redeliver");
    let got = listener.wait_for(5, Duration::from_secs(15));
    assert_eq!(got.len(), 5);
    assert_eq!(
        got[4].header("webhook-id"),
        got[0].header("webhook-id"),
        "a redelivery keeps the webhook-id"
    );
    std::thread::sleep(Duration::from_millis(800));
    let page = pos.client.webhook_deliveries(&token).unwrap();
    assert_eq!(page.data[0].status, "delivered");
    assert_eq!(page.data[0].attempts.len(), 5);
}

/// A POS that lost initiate's answer sends it again: while the request is open it gets that
/// request back, with its current status; a different amount, or a finished request, is a
/// conflict, never a second request for the same sale.
#[test]
fn a_retried_initiate_answers_the_same_open_request() {
    let stack = Stack::shared();
    let pos = stack.onboard("PPM retried initiate", None);
    let token = &pos.token.access_token;
    let first = pos
        .client
        .initiate(token, Millimes(3_250), "RETRY-1", "Menu")
        .unwrap();
    assert_eq!(first.status, "pending");
    let again = pos
        .client
        .initiate(token, Millimes(3_250), "RETRY-1", "Menu")
        .unwrap();
    assert_eq!(
        (again.payment_request_id.as_str(), again.status.as_str()),
        (first.payment_request_id.as_str(), "pending")
    );

    let employee = stack.new_employee(10_000);
    stack
        .client
        .wallet_request(&employee.token, &first.payment_request_id, &sig_of(&first))
        .expect("the employee opens it");
    let after_scan = pos
        .client
        .initiate(token, Millimes(3_250), "RETRY-1", "Menu")
        .unwrap();
    assert_eq!(
        (
            after_scan.payment_request_id.as_str(),
            after_scan.status.as_str()
        ),
        (first.payment_request_id.as_str(), "scanned")
    );

    let other_amount = pos
        .client
        .initiate(token, Millimes(3_300), "RETRY-1", "Menu")
        .unwrap_err();
    assert_eq!(other_amount.code(), Some("DUPLICATE_POS_REFERENCE"));
    pos.client
        .cancel_session(token, &first.payment_request_id)
        .unwrap();
    let after_cancel = pos
        .client
        .initiate(token, Millimes(3_250), "RETRY-1", "Menu")
        .unwrap_err();
    assert_eq!(after_cancel.code(), Some("DUPLICATE_POS_REFERENCE"));
    assert_eq!(stack.balance_of(&employee.card.numero), 10_000);
}

#[test]
fn expiry_by_alarm_and_the_expired_webhook() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let pos = pos_with_webhooks(stack, "PPM expiry", &listener);
    let initiated: Initiated = pos
        .client
        .call(DynoClient::initiate_request(
            &pos.token.access_token,
            Millimes(2_000),
            "EXP-1",
            "Café",
            Some(2),
        ))
        .expect("initiate with a 2 s lifetime (sandbox)");
    let got = listener.wait_for(1, Duration::from_secs(15));
    assert_eq!(got.len(), 1, "the alarm expired it without anyone polling");
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        (body["event"].as_str(), body["status"].as_str()),
        (Some("payment.expired"), Some("expired"))
    );
    let status = pos
        .client
        .session_status(&pos.token.access_token, &initiated.payment_request_id)
        .unwrap();
    assert_eq!(status.status, "expired");
    let employee = stack.new_employee(10_000);
    let late = stack
        .client
        .wallet_confirm(
            &employee.token,
            &initiated.payment_request_id,
            &sig_of(&initiated),
            &employee.card.numero,
            "2468",
        )
        .unwrap_err();
    assert_eq!(late.code(), Some("INVALID_STATE"));
    assert_eq!(stack.balance_of(&employee.card.numero), 10_000);
}

#[test]
fn wrong_pins_insufficient_funds_and_cancellations_fail_cleanly() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let pos = pos_with_webhooks(stack, "PPM failures", &listener);
    let token = pos.token.access_token.clone();
    let employee = stack.new_employee(3_000);

    // Three wrong PINs fail the request.
    let a = pos
        .client
        .initiate(&token, Millimes(1_000), "PIN-1", "x")
        .unwrap();
    for left in [2, 1] {
        let e = stack
            .client
            .wallet_confirm(
                &employee.token,
                &a.payment_request_id,
                &sig_of(&a),
                &employee.card.numero,
                "0000",
            )
            .unwrap_err();
        assert_eq!(e.code(), Some("INVALID_PIN"));
        assert!(
            e.response()
                .unwrap()
                .text()
                .contains(&format!("{left} essai")),
            "{left} left"
        );
    }
    stack
        .client
        .wallet_confirm(
            &employee.token,
            &a.payment_request_id,
            &sig_of(&a),
            &employee.card.numero,
            "0000",
        )
        .unwrap_err();
    let status = pos
        .client
        .session_status(&token, &a.payment_request_id)
        .unwrap();
    assert_eq!(
        (status.status.as_str(), status.reason.as_deref()),
        ("failed", Some("pin_attempts_exceeded"))
    );

    // Insufficient funds fail it with that reason; nothing moves.
    let b = pos
        .client
        .initiate(&token, Millimes(5_000), "FUNDS-1", "x")
        .unwrap();
    let e = stack
        .client
        .wallet_confirm(
            &employee.token,
            &b.payment_request_id,
            &sig_of(&b),
            &employee.card.numero,
            "2468",
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("INSUFFICIENT_FUNDS"));
    let status = pos
        .client
        .session_status(&token, &b.payment_request_id)
        .unwrap();
    assert_eq!(
        (status.status.as_str(), status.reason.as_deref()),
        ("failed", Some("insufficient_funds"))
    );
    assert_eq!(stack.balance_of(&employee.card.numero), 3_000);

    // The POS cancels; again is a no-op; a confirmed request cannot be cancelled.
    let c = pos
        .client
        .initiate(&token, Millimes(1_000), "CANCEL-1", "x")
        .unwrap();
    assert_eq!(
        pos.client
            .cancel_session(&token, &c.payment_request_id)
            .unwrap()
            .status,
        "cancelled"
    );
    assert_eq!(
        pos.client
            .cancel_session(&token, &c.payment_request_id)
            .unwrap()
            .status,
        "cancelled"
    );
    let d = pos
        .client
        .initiate(&token, Millimes(1_000), "CANCEL-2", "x")
        .unwrap();
    confirm(stack, &employee, &d);
    let e = pos
        .client
        .cancel_session(&token, &d.payment_request_id)
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(409), Some("INVALID_STATE")));
    // The employee cancels.
    let f = pos
        .client
        .initiate(&token, Millimes(1_000), "CANCEL-3", "x")
        .unwrap();
    assert_eq!(
        stack
            .client
            .wallet_cancel(&employee.token, &f.payment_request_id, &sig_of(&f))
            .unwrap()
            .status,
        "cancelled"
    );

    let events: Vec<String> = listener
        .wait_for(5, Duration::from_secs(15))
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for expected in ["payment.failed", "payment.cancelled", "payment.confirmed"] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} in {events:?}"
        );
    }
    assert_eq!(
        events.iter().filter(|e| *e == "payment.cancelled").count(),
        2,
        "one per cancelled request: {events:?}"
    );

    let other = stack.onboard("PPM intruder", None);
    let e = other
        .client
        .session_status(&other.token.access_token, &a.payment_request_id)
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(404), Some("NOT_FOUND")),
        "another client's request is 404"
    );
    let e = other
        .client
        .cancel_session(&other.token.access_token, &c.payment_request_id)
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
}

#[test]
fn fifty_concurrent_confirms_debit_once() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let pos = pos_with_webhooks(stack, "PPM confirm race", &listener);
    let employee = stack.new_employee(100_000);
    let initiated = pos
        .client
        .initiate(&pos.token.access_token, Millimes(10_000), "RACE-1", "x")
        .unwrap();
    let sig = sig_of(&initiated);
    let barrier = Arc::new(Barrier::new(50));
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let client = stack.fresh_client();
            let (token, id, sig, card) = (
                employee.token.clone(),
                initiated.payment_request_id.clone(),
                sig.clone(),
                employee.card.numero.clone(),
            );
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                client
                    .wallet_confirm(&token, &id, &sig, &card, "2468")
                    .map(|r| r.status)
                    .map_err(|e| e.status())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let confirmed = results
        .iter()
        .filter(|r| r.as_deref() == Ok("confirmed"))
        .count();
    let ledger = stack
        .admin()
        .sim_ledger(Some(&employee.card.numero), None, None)
        .unwrap();
    eprintln!(
        "[concurrency] 50 confirms of one request: {confirmed} confirmed; ledger: {} debit(s)",
        ledger.len()
    );
    assert_eq!(confirmed, 1);
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(Some(409)))),
        "{results:?}"
    );
    assert_eq!(ledger.len(), 1);
    assert_eq!(stack.balance_of(&employee.card.numero), 90_000);
}

#[test]
fn confirm_cancel_and_expiry_racing_leave_one_terminal_state() {
    let stack = Stack::shared();
    let pos = stack.onboard("PPM three-way race", None);
    let mut outcomes = Vec::new();
    for round in 0..6 {
        let employee = stack.new_employee(50_000);
        let initiated: Initiated = pos
            .client
            .call(DynoClient::initiate_request(
                &pos.token.access_token,
                Millimes(5_000),
                &format!("TRI-{round}"),
                "x",
                Some(2),
            ))
            .unwrap();
        let sig = sig_of(&initiated);
        // Fire all three as the 2 s deadline arrives.
        std::thread::sleep(Duration::from_millis(1_850 + round * 60));
        let barrier = Arc::new(Barrier::new(2));
        let (c1, c2) = (stack.fresh_client(), pos.client.clone());
        let (b1, b2) = (barrier.clone(), barrier);
        let (id1, id2) = (
            initiated.payment_request_id.clone(),
            initiated.payment_request_id.clone(),
        );
        let (wallet, card, token) = (
            employee.token.clone(),
            employee.card.numero.clone(),
            pos.token.access_token.clone(),
        );
        let confirm = std::thread::spawn(move || {
            b1.wait();
            c1.wallet_confirm(&wallet, &id1, &sig, &card, "2468")
                .is_ok()
        });
        let cancel = std::thread::spawn(move || {
            b2.wait();
            c2.cancel_session(&token, &id2).is_ok()
        });
        let (confirmed, cancelled) = (confirm.join().unwrap(), cancel.join().unwrap());
        std::thread::sleep(Duration::from_millis(800));
        let status = pos
            .client
            .session_status(&pos.token.access_token, &initiated.payment_request_id)
            .unwrap()
            .status;
        let debits = stack
            .admin()
            .sim_ledger(Some(&employee.card.numero), None, None)
            .unwrap()
            .len();
        assert!(!(confirmed && cancelled), "both cannot win");
        assert_eq!(
            debits == 1,
            status == "confirmed",
            "a debit if and only if confirmed ({status}, {debits})"
        );
        assert!(debits <= 1);
        match status.as_str() {
            "confirmed" => assert!(confirmed),
            "cancelled" => assert!(cancelled),
            "expired" => assert!(!confirmed && !cancelled),
            other => panic!("not terminal: {other}"),
        }
        outcomes.push(status);
    }
    eprintln!("[concurrency] confirm vs cancel vs expiry, 6 rounds: {outcomes:?}");
}
