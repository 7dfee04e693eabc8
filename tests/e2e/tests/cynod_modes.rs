//! The gateway against each way a real CYNOD may differ from our simulator's defaults, end to end:
//! a plain RFC 6749 token answer, Basic-only authentication, whole-unit amounts (scale 0), a CYNOD
//! in FCFA (refused at start), doubles with representation noise, an expired card described
//! rather than refused, and no recovery calls. Each mode gets its own stack, switched through
//! the simulator's `/__sim/mode` and the gateway's `CYNOD_*` variables, and each runs the money
//! paths — EPM scan debit, PPM confirm, refund credit — against the simulator's ledger.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dyno_client::{DynoClient, Millimes, RawRequest};
use dyno_e2e::{free_port, Stack, StackOptions, WranglerProcess};
use serde_json::json;

/// One stack starts at a time: several `wrangler dev` of two workers each, started together, race
/// for the same internal socket ports ("Address already in use").
fn one_start_at_a_time() -> MutexGuard<'static, ()> {
    static STARTING: Mutex<()> = Mutex::new(());
    STARTING.lock().unwrap_or_else(|e| e.into_inner())
}

fn stack_with(vars: &[(&str, &str)], mode: serde_json::Value) -> Stack {
    let starting = one_start_at_a_time();
    let stack = Stack::start(StackOptions {
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..StackOptions::default()
    });
    drop(starting);
    let now = stack.admin().sim_set_mode(&mode).expect("simulator mode");
    for (field, value) in mode.as_object().expect("a mode is an object") {
        assert_eq!(&now[field], value, "simulator mode {field}");
    }
    stack
}

fn stat(stack: &Stack, name: &str) -> i64 {
    stack
        .admin()
        .sim_stats()
        .expect("simulator stats")
        .get(name)
        .copied()
        .unwrap_or(0)
}

/// EPM scan debit, PPM confirm and a partial refund credit, in whole dinars so that every mode
/// can carry them; each checked against the simulator's ledger and the wallet's balance.
fn money_paths(stack: &Stack, label: &str) {
    let pos = stack.onboard(&format!("Mode {label}"), None);
    let token = pos.token.access_token.clone();
    let employee = stack.new_employee(150_000);
    let numero = employee.card.numero.clone();

    let paid = pos
        .client
        .scan(
            &token,
            &employee.qr(stack, None),
            Millimes(12_000),
            &format!("{label}-EPM"),
        )
        .unwrap_or_else(|e| panic!("{label}: EPM scan: {e}"));
    assert_eq!(paid.status, "succeeded", "{label}");
    assert_eq!(paid.amount, Millimes(12_000), "{label}");
    assert_eq!(stack.balance_of(&numero), 138_000, "{label}: EPM debit");

    let ppm = pos
        .client
        .initiate(
            &token,
            Millimes(30_000),
            &format!("{label}-PPM"),
            "Déjeuner",
        )
        .unwrap_or_else(|e| panic!("{label}: initiate: {e}"));
    let sig = dyno_client::decode_nfc(&ppm.nfc_payload)
        .and_then(|n| n.link_sig())
        .expect("link signature");
    stack
        .client
        .wallet_confirm(
            &employee.token,
            &ppm.payment_request_id,
            &sig,
            &numero,
            "2468",
        )
        .unwrap_or_else(|e| panic!("{label}: PPM confirm: {e}"));
    assert_eq!(stack.balance_of(&numero), 108_000, "{label}: PPM debit");

    let refund = pos
        .client
        .refund(
            &token,
            &paid.transaction_id,
            Some(Millimes(5_000)),
            &format!("{label}-refund"),
        )
        .unwrap_or_else(|e| panic!("{label}: refund: {e}"));
    assert_eq!(
        (refund.status.as_str(), refund.amount),
        ("succeeded", Millimes(5_000)),
        "{label}"
    );
    assert_eq!(stack.balance_of(&numero), 113_000, "{label}: refund credit");

    let ledger = stack
        .admin()
        .sim_ledger(Some(&numero), None, None)
        .expect("ledger");
    let moves: Vec<(Option<&str>, Option<i64>)> = ledger
        .iter()
        .map(|op| (op.sens.as_deref(), op.montant_minor))
        .collect();
    assert_eq!(
        moves,
        [
            (Some("DEBIT"), Some(12_000)),
            (Some("DEBIT"), Some(30_000)),
            (Some("CREDIT"), Some(5_000)),
        ],
        "{label}: one movement per operation, each exact"
    );
    // The balance as the gateway reads it back from CYNOD, in this mode's wire format.
    let cards = stack
        .client
        .wallet_cards(&employee.token)
        .unwrap_or_else(|e| panic!("{label}: wallet cards: {e}"));
    assert_eq!(cards.cards[0].balance, Millimes(113_000), "{label}");
}

#[test]
fn a_plain_rfc_6749_token_noisy_doubles_and_described_expiry_are_read_right() {
    let stack = stack_with(
        &[],
        json!({"token_format": "plain", "float_noise": true, "expired_cards": "report"}),
    );
    // The token cached at start-up came in the envelope: the next calls need a plain one.
    stack.admin().sim_revoke_tokens().unwrap();
    let issued = stat(&stack, "tokens_issued");
    money_paths(&stack, "plain");
    assert!(
        stat(&stack, "tokens_issued") > issued,
        "the gateway obtained (and used) a plain RFC 6749 token"
    );

    let pos = stack.onboard("Tolerant reads", None);
    let token = &pos.token.access_token;
    // Written by the simulator as 137.49999999999997; read through the card its employee presents.
    let employee = stack.new_employee(137_500);
    let qr = employee.qr(&stack, None);
    let balance = pos.client.card_balance(token, &qr).unwrap();
    assert_eq!(balance.balance, Millimes(137_500));
    let raw = pos
        .client
        .send(
            RawRequest::new("GET", "/api/v1/pos/cards/balance")
                .auth(dyno_client::Auth::Bearer(token.clone()))
                .header(dyno_client::CARD_PRESENTATION_HEADER, &qr),
        )
        .unwrap();
    assert!(raw.text().contains("\"balance\":137.500"), "{}", raw.text());
    // `dateSolde` is Tunis wall-clock time: read as UTC it would be an hour off.
    let as_of = balance.as_of.expect("as_of");
    let as_of_ms = dyno_core::Millis::parse_rfc3339(&as_of)
        .expect("RFC 3339")
        .0;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now_ms - as_of_ms).abs() < 120_000,
        "as_of {as_of} is now, read in CYNOD's zone"
    );

    // The presented card is valid today, in CYNOD's zone (an expired card, which CYNOD calls a
    // success, is refused by the dialect's own date check: dyno-core's cynod tests).
    let valid = pos.client.card_validity(token, &qr).unwrap();
    assert!(valid.valid);
}

#[test]
fn basic_authentication_only_never_asks_for_a_token() {
    let stack = stack_with(&[("CYNOD_AUTH", "basic")], json!({"auth": "basic"}));
    money_paths(&stack, "basic");
    assert_eq!(
        stat(&stack, "tokens_issued"),
        0,
        "every call carried the consumer pair as Basic"
    );
}

#[test]
fn whole_unit_amounts_convert_exactly_and_fractions_are_refused() {
    let stack = stack_with(&[("CYNOD_SCALE", "0")], json!({"scale": 0}));
    money_paths(&stack, "scale0");

    // 12.500 TND cannot be written with 0 decimals: refused before anything reaches CYNOD.
    let pos = stack.onboard("Scale 0 fractions", None);
    let token = pos.token.access_token.clone();
    let employee = stack.new_employee(50_000);
    let debits = stat(&stack, "calls:debiter-carte");
    let e = pos
        .client
        .scan(
            &token,
            &employee.qr(&stack, None),
            Millimes(12_500),
            "S0-FRACTION",
        )
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(400), Some("INVALID_AMOUNT")),
        "{e}"
    );
    assert_eq!(
        stat(&stack, "calls:debiter-carte"),
        debits,
        "nothing was sent"
    );
    assert_eq!(stack.balance_of(&employee.card.numero), 50_000);

    // A balance CYNOD writes with more decimals than its scale is really not representable: 502.
    let odd = stack.new_employee(137_500);
    let e = stack.client.wallet_cards(&odd.token).unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(502), Some("UPSTREAM_ERROR")),
        "{e}"
    );
}

#[test]
fn without_recovery_calls_a_lost_answer_is_outcome_unknown_and_never_paid_twice() {
    let stack = stack_with(&[("CYNOD_RECOVERY", "none")], json!({"recovery": false}));
    money_paths(&stack, "norecovery");

    let pos = stack.onboard("Lost answers", None);
    let token = pos.token.access_token.clone();
    let employee = stack.new_employee(50_000);
    let qr = employee.qr(&stack, None);
    // The debit applies, then its answer is lost.
    stack
        .admin()
        .sim_fault("debiter-carte", "status_500", 0, true, 1)
        .unwrap();
    let e = pos
        .client
        .scan(&token, &qr, Millimes(5_000), "NR-LOST")
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(502), Some("OUTCOME_UNKNOWN")),
        "{e}"
    );
    assert_eq!(stack.balance_of(&employee.card.numero), 45_000);
    // The same sale again, and the alarm's later resolution attempts: no second debit, and no
    // call to endpoints this CYNOD does not have.
    let again = pos.client.scan(&token, &qr, Millimes(5_000), "NR-LOST");
    assert!(again.is_err(), "an unknown outcome is not a success");
    std::thread::sleep(Duration::from_secs(3));
    let ledger = stack
        .admin()
        .sim_ledger(Some(&employee.card.numero), None, None)
        .unwrap();
    assert_eq!(ledger.len(), 1, "money moved exactly once: {ledger:?}");
    assert_eq!(stack.balance_of(&employee.card.numero), 45_000);
    assert_eq!(stat(&stack, "calls:annuler-reference"), 0);
    assert_eq!(stat(&stack, "calls:get-operation"), 0);

    // The POS sees it as a visible state with a code and what to do; nothing retries it blindly.
    let looked_up = pos.client.payment_by_reference(&token, "NR-LOST").unwrap();
    assert_eq!(looked_up.status, "processing");
    let action = looked_up.action_required.clone().expect("action_required");
    assert_eq!(action["code"], "OUTCOME_UNKNOWN");
    let reference = action["cynod_reference"].as_str().unwrap().to_string();
    // An operator who checked CYNOD settles it: the debit did move.
    let payment_id = reference.split(':').nth(1).unwrap();
    let settled = stack
        .admin()
        .settle_payment(payment_id, true, None)
        .expect("settled");
    assert_eq!(settled["status"], "succeeded");
    let after = pos.client.payment_by_reference(&token, "NR-LOST").unwrap();
    assert_eq!(after.status, "succeeded");
    assert!(after.action_required.is_none());
    // Once only.
    let twice = stack
        .admin()
        .settle_payment(payment_id, false, None)
        .unwrap_err();
    assert_eq!(twice.code(), Some("INVALID_STATE"));
    assert_eq!(stack.balance_of(&employee.card.numero), 45_000);
}

#[test]
fn a_cynod_in_another_currency_is_refused_at_start_up() {
    let starting = one_start_at_a_time();
    let port = free_port();
    let state_dir =
        std::env::temp_dir().join(format!("dyno-e2e-xof-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&state_dir).expect("state dir");
    let process = WranglerProcess::spawn(
        dyno_e2e::STACK_CONFIGS,
        None,
        port,
        &state_dir,
        &[
            ("CYNOD_CURRENCY".to_string(), "XOF".to_string()),
            ("CYNOD_SCALE".to_string(), "0".to_string()),
        ],
        true,
    );
    let client = DynoClient::new(&process.base_url);
    let started = Instant::now();
    process.wait_until(|| {
        client
            .send(RawRequest::new("GET", "/healthz"))
            .is_ok_and(|r| r.status == 503)
    });
    drop(starting);
    eprintln!(
        "[cynod modes] XOF gateway answered 503 after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let liveness = client.send(RawRequest::new("GET", "/healthz")).unwrap();
    assert_eq!(
        liveness.text(),
        r#"{"status":"unavailable"}"#,
        "no internals in public"
    );
    for request in [
        DynoClient::scan_request("any-token", "any-qr", Millimes(12_000), "XOF-1", "qr"),
        RawRequest::new("POST", "/api/v1/pos/oauth/token").body(
            "application/x-www-form-urlencoded",
            b"grant_type=client_credentials&client_id=pos_sandbox_demo&client_secret=sandbox_secret_demo".to_vec(),
        ),
    ] {
        let response = client.send(request).unwrap();
        assert_eq!(response.status, 503, "{}", response.text());
        let problem: dyno_client::ProblemDocument = response.json().expect("problem+json");
        assert_eq!(problem.code, "SERVICE_UNAVAILABLE");
        assert!(
            problem.detail.contains("CYNOD_CURRENCY") && problem.detail.contains("XOF"),
            "the operator is told what is wrong: {}",
            problem.detail
        );
    }
}
