//! EPM (the seed's Flux A), end to end with the simulator's ledger checked before and after: the
//! wallet API (login, lock, sign-out), the synchronous scan, every error (each changing nothing), replays, look-ups, and
//! 50 concurrent scans of one QR.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use dyno_client::{Auth, DynoClient, Millimes, RawRequest};
use dyno_e2e::Stack;
use serde_json::Value;

fn problem_code(response: &dyno_client::RawResponse) -> String {
    response
        .json::<dyno_client::ProblemDocument>()
        .map(|p| p.code)
        .unwrap_or_else(|e| format!("{e}"))
}

#[test]
fn wallet_login_cards_and_a_seed_shaped_qr() {
    let stack = Stack::shared();
    let client = stack.fresh_client();
    let login = client
        .wallet_login("+21620000001", "1234")
        .expect("demo wallet login");
    assert_eq!(login.expires_in, 900);
    assert_eq!(login.display_name, "Amira Ben Salah");
    let cards = client.wallet_cards(&login.access_token).expect("cards");
    let resto = cards
        .cards
        .iter()
        .find(|c| c.card_number == "7019800100009569")
        .expect("demo card");
    assert_eq!(resto.wallet_type.as_deref(), Some("TicketResto"));
    assert!(resto.usable);
    assert!(cards
        .cards
        .iter()
        .any(|c| c.wallet_type.as_deref() == Some("CarteCadeau")));

    let qr = client
        .wallet_qr(&login.access_token, "7019800100009569", None)
        .expect("qr");
    assert!(
        qr.qr_payload
            .starts_with("eyJRclR5cGUiOiJ0cmFuc2FjdGlvbiIs"),
        "{}",
        qr.qr_payload
    );
    let decoded: Value = serde_json::from_slice(&STANDARD.decode(&qr.qr_payload).unwrap()).unwrap();
    assert_eq!(decoded["QrType"], "transaction");
    assert_eq!(
        decoded["exp"].as_i64().unwrap() - decoded["iat"].as_i64().unwrap(),
        30
    );
    assert_eq!(decoded["card_last4"], "9569");
    assert!(
        decoded.get("card").is_none() && !qr.qr_payload.contains("7019800100009569"),
        "no card number in the QR"
    );

    let someone_elses = client
        .wallet_qr(&login.access_token, "7019800100007302", None)
        .unwrap_err();
    assert_eq!(someone_elses.code(), Some("CARD_NOT_FOUND"));
    let wrong = client.wallet_login("+21620000001", "9999").unwrap_err();
    assert_eq!(
        (wrong.status(), wrong.code()),
        (Some(422), Some("INVALID_PIN")),
        "401 is only about the Bearer token"
    );
    let pos_token_on_wallet = client
        .send(
            RawRequest::new("GET", "/api/v1/wallet/cards")
                .auth(Auth::Bearer(stack.onboard("x", None).token.access_token)),
        )
        .unwrap();
    assert_eq!(
        pos_token_on_wallet.status, 401,
        "a POS token is not a wallet token"
    );
}

/// A lost phone: signing out (or an admin PIN reset) ends every token of the wallet at once,
/// and a fresh login works again.
#[test]
fn signing_out_ends_every_token_of_the_wallet() {
    let stack = Stack::shared();
    let employee = stack.new_employee(10_000);
    let client = stack.fresh_client();
    let wallet_id = &employee.card.wallet_id;
    let phone = employee.token.clone();
    let tablet = client.wallet_login(wallet_id, "2468").unwrap().access_token;
    for token in [&phone, &tablet] {
        client.wallet_cards(token).expect("both sessions work");
    }

    client.wallet_sign_out(&tablet).expect("sign out");
    for (name, token) in [("phone", &phone), ("tablet", &tablet)] {
        let refused = client.wallet_cards(token).unwrap_err();
        assert_eq!(refused.status(), Some(401), "{name}: {refused:?}");
        let challenge = refused
            .response()
            .and_then(|r| r.header("WWW-Authenticate"))
            .unwrap_or_default();
        assert!(challenge.contains("invalid_token"), "{name}: {challenge}");
        let qr = client
            .wallet_qr(token, &employee.card.numero, None)
            .unwrap_err();
        assert_eq!(qr.status(), Some(401), "{name}: no QR after sign-out");
    }

    let again = client.wallet_login(wallet_id, "2468").unwrap().access_token;
    client.wallet_cards(&again).expect("a new login works");

    // An admin PIN reset signs out too; the old PIN no longer logs in, the new one does.
    stack
        .admin()
        .enroll_wallet(
            wallet_id,
            "8642",
            "Employé de test",
            &employee.card.client_id,
        )
        .expect("re-PIN");
    assert_eq!(client.wallet_cards(&again).unwrap_err().status(), Some(401));
    assert_eq!(
        client.wallet_login(wallet_id, "2468").unwrap_err().code(),
        Some("INVALID_PIN")
    );
    let after_reset = client.wallet_login(wallet_id, "8642").unwrap().access_token;
    client
        .wallet_cards(&after_reset)
        .expect("the new PIN's token works");
}

#[test]
fn repeated_wrong_pins_lock_the_wallet() {
    let stack = Stack::shared();
    let employee = stack.new_employee(1_000);
    let client = stack.fresh_client();
    for attempt in 1..=4 {
        let e = client
            .wallet_login(&employee.card.wallet_id, "0000")
            .unwrap_err();
        assert_eq!(e.code(), Some("INVALID_PIN"), "attempt {attempt}");
    }
    let locked = client
        .wallet_login(&employee.card.wallet_id, "0000")
        .unwrap_err();
    assert_eq!(
        (locked.status(), locked.code()),
        (Some(423), Some("WALLET_LOCKED"))
    );
    let still_locked = client
        .wallet_login(&employee.card.wallet_id, "2468")
        .unwrap_err();
    assert_eq!(
        still_locked.code(),
        Some("WALLET_LOCKED"),
        "even the right PIN waits for the lock"
    );
    assert!(still_locked
        .response()
        .unwrap()
        .header("Retry-After")
        .is_some());
}

#[test]
fn a_scan_debits_exactly_the_amount_and_answers_with_the_seed_body() {
    let stack = Stack::shared();
    let pos = stack.onboard("EPM happy path", None);
    let employee = stack.new_employee(150_000);
    let qr = employee.qr(stack, None);
    let before = stack.balance_of(&employee.card.numero);

    let paid = pos
        .client
        .scan(
            &pos.token.access_token,
            &qr,
            Millimes(12_500),
            "CAISSE-01-TXN-001",
        )
        .expect("scan");
    assert!(dyno_core::ids::is_uuid(&paid.transaction_id));
    assert_eq!(paid.status, "succeeded");
    assert_eq!(paid.amount, Millimes(12_500));
    assert_eq!(paid.currency, "TND");
    assert_eq!(paid.wallet_type, "TicketResto");
    assert_eq!(paid.confirmation_code.len(), 8);
    assert!(paid
        .confirmation_code
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    assert!(
        paid.transaction_date.ends_with('Z') && paid.transaction_date.len() == 20,
        "{}",
        paid.transaction_date
    );

    assert_eq!(
        stack.balance_of(&employee.card.numero),
        before - 12_500,
        "balance dropped by exactly 12.500"
    );
    let ledger = stack
        .admin()
        .sim_ledger(Some(&employee.card.numero), None, None)
        .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        ledger[0].commercant.as_deref(),
        Some(pos.merchant_id.as_str())
    );

    let raw = pos
        .client
        .send(dyno_client::DynoClient::scan_request(
            &pos.token.access_token,
            &qr,
            Millimes(12_500),
            "CAISSE-01-TXN-001",
            "qr",
        ))
        .unwrap();
    assert!(
        raw.text().contains("\"amount\":12.500"),
        "replayed with 3 decimals: {}",
        raw.text()
    );

    let by_id = pos
        .client
        .payment(&pos.token.access_token, &paid.transaction_id)
        .expect("by id");
    assert_eq!(
        (by_id.status.as_str(), by_id.flow.as_str()),
        ("succeeded", "epm")
    );
    assert_eq!(
        by_id.confirmation_code.as_deref(),
        Some(paid.confirmation_code.as_str())
    );
    assert_eq!(
        by_id.card_last4.as_deref(),
        Some(&employee.card.numero[12..])
    );
    let by_reference = pos
        .client
        .payment_by_reference(&pos.token.access_token, "CAISSE-01-TXN-001")
        .expect("by ref");
    assert_eq!(by_reference.transaction_id, paid.transaction_id);

    let other = stack.onboard("Other POS", None);
    let hidden = other
        .client
        .payment(&other.token.access_token, &paid.transaction_id)
        .unwrap_err();
    assert_eq!(
        (hidden.status(), hidden.code()),
        (Some(404), Some("NOT_FOUND")),
        "another client's id is 404"
    );
}

#[test]
fn every_error_changes_nothing() {
    let stack = Stack::shared();
    let pos = stack.onboard("EPM errors", None);
    let token = pos.token.access_token.clone();
    let employee = stack.new_employee(5_000);
    let balance = || stack.balance_of(&employee.card.numero);
    let start = balance();
    let scan = |qr: &str, amount: &str, reference: &str| {
        pos.client
            .send(
                RawRequest::new("POST", "/api/v1/pos/payments/scan").auth(Auth::Bearer(token.clone())).body(
                    "application/json",
                    format!(r#"{{"qr_payload":"{qr}","amount":{amount},"pos_reference":"{reference}","channel":"qr"}}"#).into_bytes(),
                ),
            )
            .unwrap()
    };

    let qr = employee.qr(stack, None);
    let funds = scan(&qr, "12.500", "ERR-FUNDS");
    assert_eq!(
        (funds.status, problem_code(&funds)),
        (413, "INSUFFICIENT_FUNDS".to_string())
    );
    assert_eq!(balance(), start);

    let json = STANDARD.decode(&qr).unwrap();
    let mut value: Value = serde_json::from_slice(&json).unwrap();
    value["wallet_ref"] = "AAAAAAAAAAAAAAAAAAAAAA".into();
    let tampered = STANDARD.encode(serde_json::to_vec(&value).unwrap());
    let session_qr = STANDARD.encode(br#"{"SessionId":"7c9e6679"}"#);
    for (what, payload) in [
        ("tampered", tampered.as_str()),
        ("truncated", &qr[..qr.len() / 2]),
        ("wrong type", session_qr.as_str()),
        ("not base64", "@@@@"),
    ] {
        let r = scan(
            payload,
            "1.000",
            &format!("ERR-QR-{}", what.replace(' ', "-")),
        );
        assert_eq!(
            (r.status, problem_code(&r)),
            (400, "INVALID_QR".to_string()),
            "{what}"
        );
    }
    for (what, amount) in [
        ("four decimals", "1.0001"),
        ("zero", "0"),
        ("negative", "-1"),
        ("string", "\"1.000\""),
        ("above the cap", "10000.001"),
    ] {
        let r = scan(&qr, amount, "ERR-AMOUNT");
        assert_eq!(
            (r.status, problem_code(&r)),
            (400, "INVALID_AMOUNT".to_string()),
            "{what}"
        );
    }
    let no_token = pos
        .client
        .send(RawRequest::new("POST", "/api/v1/pos/payments/scan").json(&serde_json::json!({})))
        .unwrap();
    assert_eq!(no_token.status, 401);
    let r = pos
        .client
        .send(DynoClient::scan_request(
            &token,
            &employee.qr(stack, None),
            Millimes(1_000),
            "ERR-CH2",
            "card",
        ))
        .unwrap();
    assert_eq!(r.status, 400, "channel must be qr or nfc");

    let unaffiliated = stack.fresh_client();
    let t = unaffiliated
        .token("pos_sandbox_unaffiliated", "unaffiliated_secret_demo")
        .unwrap()
        .access_token;
    let r = unaffiliated
        .send(DynoClient::scan_request(
            &t,
            &employee.qr(stack, None),
            Millimes(1_000),
            "ERR-MERCHANT",
            "qr",
        ))
        .unwrap();
    assert_eq!(
        (r.status, problem_code(&r)),
        (404, "MERCHANT_NOT_FOUND".to_string())
    );

    let deactivated = stack.onboard("Soon deactivated", None);
    stack
        .admin()
        .update_merchant(&deactivated.merchant_id, Some(false), None)
        .unwrap();
    let r = deactivated
        .client
        .send(DynoClient::scan_request(
            &deactivated.token.access_token,
            &employee.qr(stack, None),
            Millimes(1_000),
            "ERR-DEACT",
            "qr",
        ))
        .unwrap();
    assert_eq!(
        (r.status, problem_code(&r)),
        (404, "MERCHANT_NOT_FOUND".to_string()),
        "deactivated merchant"
    );
    assert_eq!(balance(), start, "none of these moved money");
}

#[test]
fn an_expired_qr_is_410_and_moves_nothing() {
    let stack = Stack::shared();
    let pos = stack.onboard("EPM expiry", None);
    let employee = stack.new_employee(10_000);
    let qr = employee.qr(stack, Some(1));
    // 1 s lifetime + the documented 2 s skew tolerance, then a margin.
    std::thread::sleep(Duration::from_millis(3_600));
    let e = pos
        .client
        .scan(&pos.token.access_token, &qr, Millimes(1_000), "EXP-1")
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(410), Some("QR_EXPIRED")));
    assert_eq!(stack.balance_of(&employee.card.numero), 10_000);
}

#[test]
fn replays_reuses_and_lost_answers() {
    let stack = Stack::shared();
    let pos = stack.onboard("EPM replays", None);
    let token = pos.token.access_token.clone();
    let employee = stack.new_employee(100_000);
    let qr = employee.qr(stack, None);

    // The answer is "lost": the POS learns the outcome by its reference, never paying twice.
    let _lost = pos
        .client
        .scan(&token, &qr, Millimes(20_000), "LOST-1")
        .expect("scan");
    let found = pos
        .client
        .payment_by_reference(&token, "LOST-1")
        .expect("look-up by pos_reference");
    assert_eq!(found.status, "succeeded");
    let replay = pos
        .client
        .scan(&token, &qr, Millimes(20_000), "LOST-1")
        .expect("retry replays");
    assert_eq!(replay.transaction_id, found.transaction_id);
    assert_eq!(
        stack.balance_of(&employee.card.numero),
        80_000,
        "one debit only"
    );

    let other_reference = pos
        .client
        .scan(&token, &qr, Millimes(20_000), "LOST-2")
        .unwrap_err();
    assert_eq!(
        (other_reference.status(), other_reference.code()),
        (Some(409), Some("QR_ALREADY_USED"))
    );
    let other_client = stack.onboard("EPM replays, other POS", None);
    let e = other_client
        .client
        .scan(
            &other_client.token.access_token,
            &qr,
            Millimes(20_000),
            "LOST-1",
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("QR_ALREADY_USED"));
    let same_reference_new_qr = pos
        .client
        .scan(&token, &employee.qr(stack, None), Millimes(1_000), "LOST-1")
        .unwrap_err();
    assert_eq!(
        (same_reference_new_qr.status(), same_reference_new_qr.code()),
        (Some(409), Some("DUPLICATE_POS_REFERENCE"))
    );
    assert_eq!(stack.balance_of(&employee.card.numero), 80_000);

    // A sale that failed without moving money can be retried under the same reference.
    let poor = stack.new_employee(1_000);
    let funds = pos
        .client
        .scan(&token, &poor.qr(stack, None), Millimes(5_000), "RETRY-1")
        .unwrap_err();
    assert_eq!(funds.code(), Some("INSUFFICIENT_FUNDS"));
    pos.client
        .scan(
            &token,
            &employee.qr(stack, None),
            Millimes(5_000),
            "RETRY-1",
        )
        .expect("same sale, other card");
}

#[test]
fn idempotency_keys_replay_and_refuse_a_different_body() {
    let stack = Stack::shared();
    let pos = stack.onboard("Idempotency", None);
    let employee = stack.new_employee(50_000);
    let qr = employee.qr(stack, None);
    let request = |amount: i64| {
        DynoClient::scan_request(
            &pos.token.access_token,
            &qr,
            Millimes(amount),
            "IDEM-1",
            "qr",
        )
        .header("Idempotency-Key", "idem-key-0001")
    };
    let first = pos.client.send(request(7_000)).unwrap();
    assert_eq!(first.status, 200);
    let mut replay = pos.client.send(request(7_000)).unwrap();
    for _ in 0..20 {
        if replay.header("Idempotent-Replayed").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        replay = pos.client.send(request(7_000)).unwrap();
    }
    assert_eq!(replay.status, 200);
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(
        replay.body, first.body,
        "the stored response, byte for byte"
    );
    let different = pos.client.send(request(8_000)).unwrap();
    assert_eq!(
        (different.status, problem_code(&different)),
        (422, "IDEMPOTENCY_KEY_REUSED".to_string())
    );
    assert_eq!(stack.balance_of(&employee.card.numero), 43_000);
}

#[test]
fn fifty_concurrent_scans_of_one_qr_debit_once() {
    let stack = Stack::shared();
    let employee = stack.new_employee(100_000);
    let clients: Vec<_> = (0..10)
        .map(|i| stack.onboard(&format!("Concurrent POS {i}"), None))
        .collect();
    let qr = employee.qr(stack, None);
    let barrier = Arc::new(Barrier::new(50));
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let pos = &clients[i % 10];
            let client = pos.client.clone();
            let token = pos.token.access_token.clone();
            let qr = qr.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                client
                    .send(DynoClient::scan_request(
                        &token,
                        &qr,
                        Millimes(10_000),
                        &format!("RACE-{i}"),
                        "qr",
                    ))
                    .map(|r| r.status)
                    .unwrap_or(0)
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let conflicts = statuses.iter().filter(|&&s| s == 409).count();
    let ledger = stack
        .admin()
        .sim_ledger(Some(&employee.card.numero), None, None)
        .unwrap();
    eprintln!("[concurrency] 50 scans of one QR: {ok} × 200, {conflicts} × 409, other {:?}; ledger: {} debit(s)",
        statuses.iter().filter(|&&s| s != 200 && s != 409).collect::<Vec<_>>(), ledger.len());
    assert_eq!(ok, 1);
    assert_eq!(conflicts, 49);
    assert_eq!(ledger.len(), 1);
    assert_eq!(stack.balance_of(&employee.card.numero), 90_000);
}
