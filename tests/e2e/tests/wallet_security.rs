//! The wallet side of the attack suite (issue 15), end to end: PIN guessing (concurrent, escalating,
//! per IP), telling enrolled wallet ids from others, what an EPM QR gives away, the employee's
//! `max_amount`, and the card history that shows every debit. Each refusal is asserted with its
//! count (PIN comparisons made, as the operator's read of the guard reports them).

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use dyno_client::{ApiError, Auth, Millimes, ProblemDocument, RawRequest, RawResponse};
use dyno_e2e::Stack;
use serde_json::Value;

const WRONG_PIN: &str = "0000";

/// A card and a wallet login for it (PIN `2468`), never logged in: its guard is untouched.
fn enrolled_wallet(stack: &Stack) -> dyno_client::SimCard {
    let card = stack.new_card(20_000, "TicketResto");
    stack
        .admin()
        .enroll_wallet(&card.wallet_id, "2468", "Employé de test", &card.client_id)
        .expect("enroll wallet");
    card
}

/// A well-formed wallet id that no test enrolls (the `+2168…` range is not used by the harness).
fn unenrolled_wallet_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("+2168{:07}", nanos % 10_000_000)
}

fn login_raw(client: &dyno_client::DynoClient, wallet_id: &str, pin: &str) -> RawResponse {
    client
        .send(
            RawRequest::new("POST", "/api/v1/wallet/oauth/token")
                .json(&serde_json::json!({ "wallet_id": wallet_id, "pin": pin })),
        )
        .expect("an answer")
}

fn code(response: &RawResponse) -> String {
    response
        .json::<ProblemDocument>()
        .map(|p| p.code)
        .unwrap_or_else(|_| response.text())
}

fn retry_after(response: &RawResponse) -> Option<i64> {
    response.header("Retry-After").and_then(|v| v.parse().ok())
}

#[test]
fn sixty_four_concurrent_wrong_pins_are_compared_exactly_five_times() {
    let stack = Stack::shared();
    let card = enrolled_wallet(stack);
    // Each attempt from its own address: the per-IP throttle is not what stops this attack.
    let clients: Vec<_> = (0..64).map(|_| stack.fresh_client()).collect();
    let barrier = Arc::new(Barrier::new(64));
    let handles: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let barrier = barrier.clone();
            let wallet_id = card.wallet_id.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let r = login_raw(&client, &wallet_id, WRONG_PIN);
                (r.status, code(&r))
            })
        })
        .collect();
    let mut answers: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for handle in handles {
        *answers.entry(handle.join().unwrap()).or_default() += 1;
    }
    let guard = stack.admin().wallet_lockout(&card.wallet_id).unwrap();
    eprintln!(
        "[pin guessing] 64 concurrent wrong PINs: {answers:?}; compared {} time(s)",
        guard.evaluations
    );
    assert_eq!(guard.evaluations, 5, "exactly five PINs compared");
    assert_eq!(
        answers,
        BTreeMap::from([
            ((422, "INVALID_PIN".to_string()), 4),
            ((423, "WALLET_LOCKED".to_string()), 60),
        ]),
        "four wrong PINs told so; the fifth locked the wallet and the rest were never compared"
    );
    assert!(guard.locked && guard.lock_level == 1);
    let right = login_raw(&stack.fresh_client(), &card.wallet_id, "2468");
    assert_eq!(code(&right), "WALLET_LOCKED", "not even the right PIN now");
    assert_eq!(
        stack
            .admin()
            .wallet_lockout(&card.wallet_id)
            .unwrap()
            .evaluations,
        5
    );
}

/// Five comparisons in flight fill the streak, so concurrent right PINs lock the wallet for an
/// instant; each waits for the right PIN before it to lift that lock, and every one logs in.
#[test]
fn twenty_concurrent_right_pins_all_log_in() {
    let stack = Stack::shared();
    let card = enrolled_wallet(stack);
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (client, barrier) = (stack.fresh_client(), barrier.clone());
            let wallet_id = card.wallet_id.clone();
            std::thread::spawn(move || {
                barrier.wait();
                login_raw(&client, &wallet_id, "2468").status
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let guard = stack.admin().wallet_lockout(&card.wallet_id).unwrap();
    assert_eq!((guard.evaluations, guard.locked), (20, false));
    assert_eq!(
        guard.window_evaluations, 0,
        "right PINs give their reservation back"
    );
}

#[test]
fn lockouts_escalate_the_day_has_a_budget_and_only_a_re_pin_starts_over() {
    let stack = Stack::shared();
    let card = enrolled_wallet(stack);
    let client = stack.fresh_client();
    let five_wrong = || {
        for attempt in 1..=4 {
            let r = login_raw(&client, &card.wallet_id, WRONG_PIN);
            assert_eq!(code(&r), "INVALID_PIN", "attempt {attempt}");
        }
        login_raw(&client, &card.wallet_id, WRONG_PIN)
    };

    // First lock: 15 minutes.
    let first = five_wrong();
    assert_eq!((first.status, code(&first)), (423, "WALLET_LOCKED".into()));
    assert_eq!(retry_after(&first), Some(900), "{}", first.text());
    assert_eq!(
        code(&login_raw(&client, &card.wallet_id, "2468")),
        "WALLET_LOCKED"
    );

    // An operator lifts it after checking who calls; the ladder stays: the next lock is 1 hour.
    let lifted = stack.admin().unlock_wallet(&card.wallet_id).unwrap();
    assert_eq!((lifted.locked, lifted.lock_level), (false, 1));
    let second = five_wrong();
    assert_eq!(code(&second), "WALLET_LOCKED");
    assert_eq!(retry_after(&second), Some(3_600), "{}", second.text());

    // Lifted again, but ten PINs were compared today: nothing more is compared until the day's
    // window ends, not even the right PIN.
    stack.admin().unlock_wallet(&card.wallet_id).unwrap();
    let spent = login_raw(&client, &card.wallet_id, "2468");
    assert_eq!(code(&spent), "WALLET_LOCKED");
    let wait = retry_after(&spent).unwrap_or_default();
    assert!(
        (86_000..=86_400).contains(&wait),
        "until the window ends: {wait} s"
    );
    let guard = stack.admin().wallet_lockout(&card.wallet_id).unwrap();
    assert_eq!(
        (
            guard.evaluations,
            guard.window_evaluations,
            guard.window_budget
        ),
        (10, 10, 10)
    );

    // A re-PIN makes every earlier guess worthless: the guard starts over.
    stack
        .admin()
        .enroll_wallet(&card.wallet_id, "1357", "Employé de test", &card.client_id)
        .unwrap();
    let fresh = stack.admin().wallet_lockout(&card.wallet_id).unwrap();
    assert_eq!(
        (fresh.evaluations, fresh.lock_level, fresh.locked),
        (0, 0, false)
    );
    client
        .wallet_login(&card.wallet_id, "1357")
        .expect("the new PIN works at once");
}

/// Everything of an answer but its request id: status, headers and body.
fn comparable(response: &RawResponse) -> (u16, Vec<(String, String)>, Value) {
    let mut headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| n != "x-request-id" && n != "date")
        .collect();
    headers.sort();
    let mut body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    if let Some(object) = body.as_object_mut() {
        object.remove("request_id");
    }
    (response.status, headers, body)
}

#[test]
fn an_unknown_wallet_id_is_answered_counted_and_locked_like_an_enrolled_one() {
    let stack = Stack::shared();
    let known = enrolled_wallet(stack).wallet_id;
    let unknown = unenrolled_wallet_id();
    let client = stack.fresh_client();
    for attempt in 1..=5 {
        let a = comparable(&login_raw(&client, &known, WRONG_PIN));
        let b = comparable(&login_raw(&client, &unknown, WRONG_PIN));
        assert_eq!(a, b, "attempt {attempt}");
        let expected = if attempt < 5 { 422 } else { 423 };
        assert_eq!(a.0, expected, "attempt {attempt}: {:?}", a.2);
    }
    // Refused while locked: the same answer, a second or so of Retry-After apart at most.
    let (a, b) = (
        login_raw(&client, &known, WRONG_PIN),
        login_raw(&client, &unknown, WRONG_PIN),
    );
    let strip_retry = |r: &RawResponse| {
        let (status, headers, body) = comparable(r);
        let headers: Vec<_> = headers
            .into_iter()
            .filter(|(n, _)| n != "retry-after")
            .collect();
        (status, headers, body)
    };
    assert_eq!(strip_retry(&a), strip_retry(&b));
    assert_eq!((a.status, code(&a)), (423, "WALLET_LOCKED".to_string()));
    let (ra, rb) = (retry_after(&a).unwrap(), retry_after(&b).unwrap());
    assert!((ra - rb).abs() <= 2, "{ra} vs {rb}");
    // The same writes: both guards hold the same counts.
    let (ga, gb) = (
        stack.admin().wallet_lockout(&known).unwrap(),
        stack.admin().wallet_lockout(&unknown).unwrap(),
    );
    let counts = |g: &dyno_client::WalletLockout| {
        (
            g.evaluations,
            g.consecutive_failures,
            g.lock_level,
            g.locked,
            g.window_evaluations,
        )
    };
    assert_eq!(counts(&ga), counts(&gb));
    assert_eq!(counts(&ga), (5, 0, 1, true, 5));
}

/// Seconds into the current minute, by the wall clock the limiter's windows are aligned on.
fn second_of_minute() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60
}

#[test]
fn one_address_gets_twenty_logins_a_minute_whatever_the_wallet() {
    let stack = Stack::shared();
    // The limiter counts in fixed minutes: start early in one, so the 21 attempts share it.
    while second_of_minute() >= 40 {
        std::thread::sleep(Duration::from_millis(500));
    }
    let sprayer = stack.fresh_client();
    // One wrong PIN on each of 20 wallet ids: no wallet's own guard ever locks.
    let base = unenrolled_wallet_id();
    let ids: Vec<String> = (0..21)
        .map(|i| format!("{}{:02}", &base[..base.len() - 2], i))
        .collect();
    for id in &ids[..20] {
        let r = login_raw(&sprayer, id, WRONG_PIN);
        assert_eq!((r.status, code(&r)), (422, "INVALID_PIN".into()), "{id}");
    }
    let throttled = login_raw(&sprayer, &ids[20], WRONG_PIN);
    assert_eq!(
        (throttled.status, code(&throttled)),
        (429, "RATE_LIMITED".to_string()),
        "{}",
        throttled.text()
    );
    assert!(retry_after(&throttled).is_some_and(|s| (1..=60).contains(&s)));
    assert_eq!(
        throttled.header("RateLimit-Policy"),
        Some("\"wallet-login-ip\";q=20;w=60")
    );
    assert!(throttled
        .header("RateLimit")
        .is_some_and(|v| v.starts_with("\"wallet-login-ip\";r=0;t=")));
    // The throttled attempt was not compared; another address is not affected.
    let guard = stack.admin().wallet_lockout(&ids[20]).unwrap();
    assert_eq!(guard.evaluations, 0);
    let other = login_raw(&stack.fresh_client(), &ids[20], WRONG_PIN);
    assert_eq!(other.status, 422);
}

#[test]
fn an_epm_qr_carries_an_opaque_reference_never_the_phone_number() {
    let stack = Stack::shared();
    let employee = stack.new_employee(10_000);
    let decode = |payload: &str| -> (String, Value) {
        let json = String::from_utf8(STANDARD.decode(payload).unwrap()).unwrap();
        let value = serde_json::from_str(&json).unwrap();
        (json, value)
    };
    let (json, qr) = decode(&employee.qr(stack, None));
    assert!(json.starts_with(r#"{"QrType":"transaction","#), "{json}");
    let phone_digits = employee.card.wallet_id.trim_start_matches('+');
    assert!(
        !json.contains(phone_digits) && !json.contains(&employee.card.wallet_id[4..]),
        "no phone number, whole or in part: {json}"
    );
    assert!(qr.get("wallet_id").is_none());
    let reference = qr["wallet_ref"].as_str().unwrap().to_string();
    assert!(reference.len() >= 20);
    assert_eq!(qr["card_last4"], employee.card.numero[12..]);
    let (_, next) = decode(&employee.qr(stack, None));
    assert_ne!(
        next["wallet_ref"].as_str(),
        Some(reference.as_str()),
        "two QRs of one wallet cannot be linked"
    );
    // The POS side is unchanged: the QR pays.
    let pos = stack.onboard("QR privacy", None);
    pos.client
        .scan(
            &pos.token.access_token,
            &employee.qr(stack, None),
            Millimes(1_000),
            "QR-PRIVACY-1",
        )
        .expect("a scan of the new QR pays");
}

#[test]
fn max_amount_is_parsed_like_every_amount() {
    let stack = Stack::shared();
    let employee = stack.new_employee(10_000);
    let issued = stack
        .client
        .wallet_qr_with_max(&employee.token, &employee.card.numero, Millimes(12_500))
        .expect("a QR with a ceiling");
    assert_eq!(issued.max_amount, Some(Millimes(12_500)));
    let raw = |max_amount: &str| {
        stack
            .client
            .send(
                RawRequest::new("POST", "/api/v1/wallet/qr")
                    .auth(Auth::Bearer(employee.token.clone()))
                    .body(
                        "application/json",
                        format!(
                            r#"{{"card_number":"{}","max_amount":{max_amount}}}"#,
                            employee.card.numero
                        )
                        .into_bytes(),
                    ),
            )
            .unwrap()
    };
    let written = raw("7.5");
    assert_eq!(written.status, 200, "{}", written.text());
    assert!(
        written.text().contains(r#""max_amount":7.500"#),
        "{}",
        written.text()
    );
    assert_eq!(raw("null").status, 200, "null means no ceiling");
    for bad in ["0", "-1.000", "1.0001", "\"12.500\"", "10000.001", "true"] {
        let r = raw(bad);
        assert_eq!(
            (r.status, code(&r)),
            (400, "INVALID_AMOUNT".to_string()),
            "max_amount {bad}: {}",
            r.text()
        );
    }
}

#[test]
fn every_debit_shows_in_the_history_of_the_wallets_own_card_only() {
    let stack = Stack::shared();
    let employee = stack.new_employee(20_000);
    let pos = stack.onboard("Card history", None);
    for (amount, reference) in [(3_500, "HIST-1"), (1_250, "HIST-2")] {
        pos.client
            .scan(
                &pos.token.access_token,
                &employee.qr(stack, None),
                Millimes(amount),
                reference,
            )
            .expect("payment");
    }
    let history = stack
        .client
        .wallet_card_history(&employee.token, &employee.card.numero, None)
        .expect("history");
    assert_eq!(history.card_last4, &employee.card.numero[12..]);
    let debits: Vec<_> = history
        .movements
        .iter()
        .map(|m| {
            (
                m.direction.as_str(),
                m.amount,
                m.balance_after,
                m.merchant.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        debits,
        vec![
            (
                "debit",
                Millimes(1_250),
                Some(Millimes(15_250)),
                Some(pos.merchant_id.as_str())
            ),
            (
                "debit",
                Millimes(3_500),
                Some(Millimes(16_500)),
                Some(pos.merchant_id.as_str())
            ),
        ],
        "newest first, each debit once"
    );
    assert!(history.movements.iter().all(|m| m.occurred_at.is_some()));
    let one = stack
        .client
        .wallet_card_history(&employee.token, &employee.card.numero, Some(1))
        .unwrap();
    assert_eq!(one.movements.len(), 1);

    // Another employee's card, a malformed number, a bad limit.
    let stranger = stack.new_employee(5_000);
    let refused = |result: Result<dyno_client::CardHistory, ApiError>| {
        let e = result.unwrap_err();
        (e.status(), e.code().map(str::to_string))
    };
    assert_eq!(
        refused(
            stack
                .client
                .wallet_card_history(&employee.token, &stranger.card.numero, None)
        ),
        (Some(404), Some("CARD_NOT_FOUND".into()))
    );
    assert_eq!(
        refused(
            stack
                .client
                .wallet_card_history(&employee.token, "12345", None)
        ),
        (Some(400), Some("INVALID_CARD_NUMBER".into()))
    );
    assert_eq!(
        refused(
            stack
                .client
                .wallet_card_history(&employee.token, &employee.card.numero, Some(0))
        ),
        (Some(400), Some("INVALID_REQUEST".into()))
    );
}

/// The attack: with one 30 s QR, a POS binary-searched a balance, since a refused debit re-armed
/// the QR. Now a QR allows one debit attempt that reaches CYNOD, and an employee may cap it.
#[test]
fn one_qr_cannot_search_a_balance_and_its_ceiling_holds() {
    let stack = Stack::shared();
    let employee = stack.new_employee(150_000);
    let pos = stack.onboard("QR drain", None);
    let token = &pos.token.access_token;
    let refusal = |e: ApiError| (e.status(), e.code().map(str::to_string));

    // Search: too much is refused, and the same QR then refuses any smaller amount.
    let qr = employee.qr(stack, None);
    let too_much = pos
        .client
        .scan(token, &qr, Millimes(200_000), "DRAIN-1")
        .unwrap_err();
    assert_eq!(
        refusal(too_much),
        (Some(413), Some("INSUFFICIENT_FUNDS".into()))
    );
    for (amount, reference) in [(125_000, "DRAIN-2"), (100, "DRAIN-3")] {
        let reuse = pos
            .client
            .scan(token, &qr, Millimes(amount), reference)
            .unwrap_err();
        assert_eq!(
            refusal(reuse),
            (Some(409), Some("QR_ALREADY_USED".into())),
            "{amount} millimes on a QR already refused"
        );
    }
    assert_eq!(stack.balance_of(&employee.card.numero), 150_000);

    // The employee's ceiling: above it is refused before CYNOD, at it the payment goes through.
    let capped = stack
        .client
        .wallet_qr_with_max(&employee.token, &employee.card.numero, Millimes(12_500))
        .expect("a QR with a ceiling")
        .qr_payload;
    let above = pos
        .client
        .scan(token, &capped, Millimes(12_501), "DRAIN-4")
        .unwrap_err();
    assert_eq!(
        refusal(above),
        (Some(422), Some("AMOUNT_ABOVE_QR_LIMIT".into()))
    );
    assert_eq!(stack.balance_of(&employee.card.numero), 150_000);
    let paid = pos
        .client
        .scan(token, &capped, Millimes(12_500), "DRAIN-5")
        .expect("at the ceiling");
    assert_eq!(paid.status, "succeeded");
    assert_eq!(stack.balance_of(&employee.card.numero), 137_500);

    // Exactly one debit reached the card.
    let history = stack
        .client
        .wallet_card_history(&employee.token, &employee.card.numero, None)
        .expect("history");
    let debits: Vec<_> = history
        .movements
        .iter()
        .filter(|m| m.direction == "debit")
        .map(|m| m.amount)
        .collect();
    assert_eq!(debits, vec![Millimes(12_500)]);
}
