//! CYNOD faults and call counting, end to end: latency, 5xx, malformed bodies and hangs past the gateway's timeout,
//! each checked against the simulator's ledger; and the access-token cache. Faults are global to
//! the simulator, so these tests run one at a time on their own stack.

use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dyno_client::{Auth, Millimes, RawRequest};
use dyno_e2e::Stack;

/// Serialises the tests of this file: an armed fault must only meet its own test's calls.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    Stack::shared()
        .admin()
        .sim_clear_faults()
        .expect("clear faults");
    guard
}

#[test]
fn reads_survive_latency_and_one_5xx_and_report_persistent_failures() {
    let _guard = exclusive();
    let stack = Stack::shared();
    let admin = stack.admin();
    let pos = stack.onboard("Read faults", None);
    let token = &pos.token.access_token;
    let employee = stack.new_employee(7_000);
    // The employee presents the card once; the QR stays valid for every read below.
    let qr = employee.qr(stack, None);

    admin
        .sim_fault("get-solde-carte", "latency", 800, false, 1)
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        pos.client.card_balance(token, &qr).unwrap().balance,
        Millimes(7_000)
    );
    assert!(started.elapsed() >= Duration::from_millis(800));

    admin
        .sim_fault("get-solde-carte", "status_500", 0, false, 1)
        .unwrap();
    assert_eq!(
        pos.client.card_balance(token, &qr).unwrap().balance,
        Millimes(7_000),
        "one 5xx on a read is retried"
    );

    for (mode, status, code) in [
        ("status_503", 502, "UPSTREAM_ERROR"),
        ("malformed", 502, "UPSTREAM_ERROR"),
    ] {
        admin
            .sim_fault("get-solde-carte", mode, 0, false, 2)
            .unwrap();
        let e = pos.client.card_balance(token, &qr).unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(status), Some(code)), "{mode}");
    }

    admin
        .sim_fault("get-solde-carte", "hang", 4_000, false, 2)
        .unwrap();
    let e = pos.client.card_balance(token, &qr).unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(504), Some("UPSTREAM_TIMEOUT"))
    );
}

#[test]
fn refused_reads_and_bad_parameters_never_reach_cynod() {
    let _guard = exclusive();
    let stack = Stack::shared();
    let admin = stack.admin();
    let pos = stack.onboard("Bad params", None);
    let token = &pos.token.access_token;
    let employee = stack.new_employee(5_000);
    let used = employee.qr(stack, None);
    pos.client
        .scan(token, &used, Millimes(1_000), "BAD-PARAMS-1")
        .expect("the QR pays, and is used");
    let before = admin.sim_stats().unwrap();
    let read = |presented: Option<&str>| {
        let mut request =
            RawRequest::new("GET", "/api/v1/pos/cards/balance").auth(Auth::Bearer(token.clone()));
        if let Some(qr) = presented {
            request = request.header(dyno_client::CARD_PRESENTATION_HEADER, qr);
        }
        pos.client.send(request).unwrap().status
    };
    assert_eq!(read(None), 403, "not presented");
    assert_eq!(read(Some("not a QR")), 400, "not a QR");
    assert_eq!(read(Some(&used)), 409, "a used QR presents nothing");
    for bad in ["701980010000956", "70198001000095X9", "abcd"] {
        let e = admin
            .card_movement("ops.test", bad, "credit", Millimes(1_000), "bad-card")
            .unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (Some(400), Some("INVALID_CARD_NUMBER")),
            "{bad}"
        );
    }
    let e = admin.member_cards(&"x".repeat(65)).unwrap_err();
    assert_eq!(e.status(), Some(400));
    let after = admin.sim_stats().unwrap();
    for endpoint in [
        "calls:get-solde-carte",
        "calls:crediter-carte",
        "calls:get-cartes",
    ] {
        assert_eq!(
            before.get(endpoint),
            after.get(endpoint),
            "no {endpoint} reached the simulator"
        );
    }
}

/// Waits out a hung simulator request so its late completion is part of what the ledger shows.
fn settle() {
    std::thread::sleep(Duration::from_millis(4_500));
}

#[test]
fn a_debit_that_hangs_before_applying_never_moves_money() {
    let _guard = exclusive();
    let stack = Stack::shared();
    let card = stack.new_card(20_000, "TicketResto");
    stack
        .admin()
        .sim_fault("debiter-carte", "hang", 4_000, false, 1)
        .unwrap();
    let response = stack
        .client
        .send(
            RawRequest::new("POST", format!("/api/v1/admin/cards/{}/debit", card.numero))
                .auth(Auth::Admin(stack.admin_key.clone()))
                .header(dyno_client::OPERATOR_HEADER, "ops.test")
                .json(&serde_json::json!({"amount": 5.0, "reference": "hang-before"})),
        )
        .unwrap();
    assert_eq!(response.status, 504, "{}", response.text());
    assert_eq!(response.header("Dyno-Movement-Status"), Some("not_applied"));
    settle();
    let ledger = stack
        .admin()
        .sim_ledger(Some(&card.numero), None, None)
        .unwrap();
    eprintln!(
        "[fault hang-before] gateway said not_applied; ledger has {} movement(s)",
        ledger.len()
    );
    assert!(
        ledger.is_empty(),
        "fenced: the late debit was refused: {ledger:?}"
    );
    assert_eq!(
        stack
            .admin()
            .sim_card(&card.numero)
            .unwrap()
            .unwrap()
            .solde_minor,
        20_000
    );
}

#[test]
fn a_debit_whose_answer_is_lost_is_recovered_exactly_once() {
    let _guard = exclusive();
    let stack = Stack::shared();
    let admin = stack.admin();
    for (mode, latency) in [("hang", 4_000), ("status_500", 0), ("malformed", 0)] {
        let card = stack.new_card(20_000, "TicketResto");
        stack
            .admin()
            .sim_fault("debiter-carte", mode, latency, true, 1)
            .unwrap();
        let debit = admin
            .card_movement(
                "ops.test",
                &card.numero,
                "debit",
                Millimes(5_000),
                &format!("lost-{mode}"),
            )
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert!(debit.recovered, "{mode}: outcome recovered by reference");
        assert_eq!(debit.balance_after, Some(Millimes(15_000)), "{mode}");
        if mode == "hang" {
            settle();
        }
        let ledger = stack
            .admin()
            .sim_ledger(Some(&card.numero), None, None)
            .unwrap();
        eprintln!("[fault {mode}-after-apply] gateway said applied (recovered); ledger has {} movement(s)", ledger.len());
        assert_eq!(ledger.len(), 1, "{mode}: exactly one movement");
        assert_eq!(
            stack
                .admin()
                .sim_card(&card.numero)
                .unwrap()
                .unwrap()
                .solde_minor,
            15_000,
            "{mode}"
        );
    }
}

#[test]
fn a_debit_refused_by_a_5xx_before_applying_is_fenced() {
    let _guard = exclusive();
    let stack = Stack::shared();
    let admin = stack.admin();
    let card = stack.new_card(20_000, "TicketResto");
    admin
        .sim_fault("debiter-carte", "status_500", 0, false, 1)
        .unwrap();
    let e = admin
        .card_movement(
            "ops.test",
            &card.numero,
            "debit",
            Millimes(5_000),
            "five-hundred",
        )
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(502), Some("UPSTREAM_ERROR")));
    assert_eq!(
        e.response().unwrap().header("Dyno-Movement-Status"),
        Some("not_applied")
    );
    assert!(stack
        .admin()
        .sim_ledger(Some(&card.numero), None, None)
        .unwrap()
        .is_empty());
    // The fenced reference stays unusable; a new reference succeeds.
    let reuse = admin
        .card_movement(
            "ops.test",
            &card.numero,
            "debit",
            Millimes(5_000),
            "five-hundred",
        )
        .unwrap_err();
    assert_eq!(reuse.code(), Some("REFERENCE_ALREADY_USED"));
    admin
        .card_movement(
            "ops.test",
            &card.numero,
            "debit",
            Millimes(5_000),
            "five-hundred-2",
        )
        .expect("new reference");
}

#[test]
fn many_requests_share_one_token_and_a_401_refreshes_it_once() {
    let _guard = exclusive();
    let stack = Stack::shared();
    // The employee's own card list: a CYNOD read on every call, with no POS rate limit in the way.
    let employee = stack.new_employee(1_000);
    let client = stack.fresh_client();
    let balance = |client: &dyno_client::DynoClient, token: &str| {
        client
            .wallet_cards(token)
            .map(|cards| cards.cards.first().map(|c| c.balance))
    };
    // Warm the cache, then count.
    balance(&client, &employee.token).unwrap();
    let issued = |s: &Stack| {
        s.admin()
            .sim_stats()
            .unwrap()
            .get("tokens_issued")
            .copied()
            .unwrap_or(0)
    };
    let before = issued(stack);
    for _ in 0..10 {
        balance(&client, &employee.token).unwrap();
    }
    assert_eq!(issued(stack), before, "ten calls, no new token");

    stack.admin().sim_revoke_tokens().unwrap();
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            let token = employee.token.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                balance(&client, &token)
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(
            handle.join().unwrap().expect("call after refresh"),
            Some(Millimes(1_000))
        );
    }
    let after = issued(stack);
    eprintln!(
        "[token cache] 20 concurrent calls after a CYNOD-side revocation: {} new token(s)",
        after - before
    );
    assert_eq!(after, before + 1, "one refresh shared by all");
}

#[test]
fn a_scan_reports_upstream_failures_and_never_debits_twice() {
    let _guard = exclusive();
    let stack = Stack::shared();
    let pos = stack.onboard("EPM upstream faults", None);
    let token = pos.token.access_token.clone();
    let employee = stack.new_employee(30_000);
    let qr = employee.qr(stack, None);

    // CYNOD hangs before applying: 504, nothing moved, and the sale can be retried.
    stack
        .admin()
        .sim_fault("debiter-carte", "hang", 4_000, false, 1)
        .unwrap();
    let e = pos
        .client
        .scan(&token, &qr, Millimes(5_000), "UP-1")
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(504), Some("UPSTREAM_TIMEOUT"))
    );
    settle();
    assert_eq!(stack.balance_of(&employee.card.numero), 30_000);
    let lookup = pos.client.payment_by_reference(&token, "UP-1").unwrap_err();
    assert_eq!(lookup.status(), Some(404), "nothing was paid under UP-1");
    // One QR allows one debit attempt that reached CYNOD: the employee makes a new one.
    let used = pos
        .client
        .scan(&token, &qr, Millimes(5_000), "UP-1")
        .unwrap_err();
    assert_eq!(used.code(), Some("QR_ALREADY_USED"));

    // A system error before applying: 502; a new QR pays the same sale afterwards.
    stack
        .admin()
        .sim_fault("debiter-carte", "status_500", 0, false, 1)
        .unwrap();
    let e = pos
        .client
        .scan(&token, &employee.qr(stack, None), Millimes(5_000), "UP-1")
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(502), Some("UPSTREAM_ERROR")));
    assert_eq!(stack.balance_of(&employee.card.numero), 30_000);

    // The debit applies but its answer is lost: the gateway recovers it and answers success once.
    stack
        .admin()
        .sim_fault("debiter-carte", "malformed", 0, true, 1)
        .unwrap();
    let paid = pos
        .client
        .scan(&token, &employee.qr(stack, None), Millimes(5_000), "UP-1")
        .expect("recovered by reference");
    assert_eq!(paid.status, "succeeded");
    assert_eq!(stack.balance_of(&employee.card.numero), 25_000);
    let ledger = stack
        .admin()
        .sim_ledger(Some(&employee.card.numero), None, None)
        .unwrap();
    eprintln!(
        "[fault epm] 504, 502, then a lost answer recovered: ledger has {} movement(s)",
        ledger.len()
    );
    assert_eq!(ledger.len(), 1);
}

#[test]
fn a_refund_whose_outcome_is_unknown_stays_pending_and_a_retry_never_credits_twice() {
    let _guard = exclusive();
    let stack = Stack::shared();
    let pos = stack.onboard("Refund retries", None);
    let token = pos.token.access_token.clone();
    let employee = stack.new_employee(30_000);
    let paid = pos
        .client
        .scan(
            &token,
            &employee.qr(stack, None),
            Millimes(10_000),
            "REFUND-LOST-1",
        )
        .expect("paid");
    // The credit is applied but its answer is lost, and so is the look-up's: nobody knows yet.
    let admin = stack.admin();
    admin
        .sim_fault("crediter-carte", "hang", 4_000, true, 1)
        .unwrap();
    admin
        .sim_fault("annuler-reference", "status_503", 0, false, 2)
        .unwrap();
    let first = pos
        .client
        .refund(
            &token,
            &paid.transaction_id,
            Some(Millimes(4_000)),
            "refund-lost-key",
        )
        .expect("a pending refund, not an error");
    assert_eq!(first.status, "pending");
    // The POS's normal retry: same key, same refund, still pending, no second credit.
    let retry = pos
        .client
        .refund(
            &token,
            &paid.transaction_id,
            Some(Millimes(4_000)),
            "refund-lost-key",
        )
        .expect("the same refund");
    assert_eq!(
        (retry.refund_id.as_str(), retry.status.as_str()),
        (first.refund_id.as_str(), "pending")
    );
    settle();
    // CYNOD answers again: the object's alarm learns the credit happened.
    admin.sim_clear_faults().unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let payment = pos.client.payment(&token, &paid.transaction_id).unwrap();
        if payment.refund_status.as_deref() == Some("partially_refunded") {
            break;
        }
        assert!(Instant::now() < deadline, "still {payment:?}");
        std::thread::sleep(Duration::from_millis(1_000));
    }
    let credits: Vec<_> = admin
        .sim_ledger(Some(&employee.card.numero), None, None)
        .unwrap()
        .into_iter()
        .filter(|op| op.sens.as_deref() == Some("CREDIT"))
        .collect();
    assert_eq!(credits.len(), 1, "exactly one credit: {credits:?}");
    assert_eq!(stack.balance_of(&employee.card.numero), 24_000);
}
