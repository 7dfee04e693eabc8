//! Card data and card movements, as an attacker and as an operator would meet them (issue 15,
//! points 2 and 3): a POS reads a card only while the employee presents it with a fresh EPM QR,
//! never sees the holder, lists no member's cards, and moves no money whatever its scopes; an
//! operator's direct movements are capped per call and per UTC day — exactly, under concurrency —
//! and audited under the operator's name. Its own stack, with small caps: the day's cap is shared
//! by every movement of the stack, so only one test here moves money.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use dyno_client::{Auth, Millimes, RawRequest, RawResponse, SimCard, CARD_PRESENTATION_HEADER};
use dyno_core::cynod::mask_card_number;
use dyno_e2e::{Employee, Stack, StackOptions};

/// 20.000 TND a movement, 50.000 TND a day.
const PER_CALL_MAX: i64 = 20_000;
const DAILY_MAX: i64 = 50_000;

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        Stack::start(StackOptions {
            vars: vec![
                (
                    "OPERATOR_MOVEMENT_MAX_MINOR".into(),
                    PER_CALL_MAX.to_string(),
                ),
                ("OPERATOR_DAILY_MAX_MINOR".into(), DAILY_MAX.to_string()),
            ],
            optimized: false,
        })
    })
}

/// An employee whose card's holder has a name no answer could contain by chance, logged in.
fn employee(stack: &Stack, balance_minor: i64) -> Employee {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let unique = format!("{:04}{n:08}", std::process::id() % 10_000);
    let card = stack
        .admin()
        .sim_create_card(&SimCard {
            numero: format!("7018{unique}"),
            client_id: format!("CLT-H{unique}"),
            wallet_id: format!("+2168{:04}{n:04}", std::process::id() % 10_000),
            nom: "Zarrouk".into(),
            prenom: "Yasmine".into(),
            email: String::new(),
            wallet_type: "TicketResto".into(),
            fin_validite: "2030-12-31".into(),
            statut: "ACTIVE".into(),
            solde_minor: balance_minor,
        })
        .expect("create simulator card");
    stack.employee_for(card)
}

/// A POS call with the token and, when given, the presented QR.
fn pos_get(stack: &Stack, token: &str, path: &str, presented: Option<&str>) -> RawResponse {
    let mut request = RawRequest::new("GET", path).auth(Auth::Bearer(token.to_string()));
    if let Some(qr) = presented {
        request = request.header(CARD_PRESENTATION_HEADER, qr);
    }
    stack.client.send(request).unwrap()
}

fn problem_code(response: &RawResponse) -> String {
    response
        .json::<serde_json::Value>()
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Nothing of the holder and nothing of the card beyond its last four digits.
fn assert_discreet(response: &RawResponse, employee: &Employee) {
    let text = response.text();
    let card = &employee.card;
    for secret in [
        card.numero.as_str(),
        card.nom.as_str(),
        card.prenom.as_str(),
        "holder",
    ] {
        assert!(!text.contains(secret), "{secret:?} leaked: {text}");
    }
}

#[test]
fn a_stranger_pos_reads_no_card_without_the_employees_fresh_qr() {
    let stack = stack();
    let stranger = stack.onboard("Stranger", None);
    let token = &stranger.token.access_token;
    let employee = employee(stack, 42_000);
    let card = &employee.card;

    for path in ["/api/v1/pos/cards/balance", "/api/v1/pos/cards/validity"] {
        let refused = pos_get(stack, token, path, None);
        assert_eq!(refused.status, 403, "{path}: {}", refused.text());
        assert_eq!(problem_code(&refused), "CARD_NOT_PRESENTED");
        assert_discreet(&refused, &employee);
    }
    // A made-up or tampered QR presents nothing.
    let genuine = employee.qr(stack, None);
    let mut tampered: serde_json::Value =
        serde_json::from_slice(&base64_decode(&genuine).expect("the QR is base64 JSON")).unwrap();
    tampered["exp"] = (tampered["exp"].as_i64().unwrap() + 3_600).into();
    let tampered = base64_encode(&serde_json::to_vec(&tampered).unwrap());
    for forged in ["eyJRclR5cGUiOiJ0cmFuc2FjdGlvbiJ9", tampered.as_str()] {
        let refused = pos_get(stack, token, "/api/v1/pos/cards/balance", Some(forged));
        assert_eq!(
            (refused.status, problem_code(&refused)),
            (400, "INVALID_QR".to_string()),
            "{}",
            refused.text()
        );
    }
    // The old reads by card number, and the member lists, are gone for a POS.
    for path in [
        format!("/api/v1/pos/cards/{}/balance", card.numero),
        format!("/api/v1/pos/cards/{}/validity", card.numero),
        format!("/api/v1/pos/members/{}/cards", card.client_id),
        format!(
            "/api/v1/pos/members/{}/cards/{}/validity",
            card.client_id, card.numero
        ),
    ] {
        let refused = pos_get(stack, token, &path, Some(&genuine));
        assert_eq!(refused.status, 404, "{path}: {}", refused.text());
        assert_eq!(problem_code(&refused), "ROUTE_NOT_FOUND");
    }
    // Operators still list a member's cards.
    let cards = stack.admin().member_cards(&card.client_id).unwrap();
    assert_eq!(cards.cards.len(), 1);
    assert_eq!(cards.cards[0].balance, Millimes(42_000));
}

#[test]
fn the_presented_card_shows_its_balance_and_validity_never_its_holder() {
    let stack = stack();
    let pos = stack.onboard("Presented", None);
    let token = &pos.token.access_token;
    let employee = employee(stack, 123_456);
    let qr = employee.qr(stack, None);

    let balance = pos.client.card_balance(token, &qr).expect("balance");
    assert_eq!(balance.balance, Millimes(123_456), "exact to the millime");
    assert_eq!(balance.card_last4, &employee.card.numero[12..]);
    assert_eq!(balance.wallet_type.as_deref(), Some("TicketResto"));
    let raw = pos_get(stack, token, "/api/v1/pos/cards/balance", Some(&qr));
    assert!(raw.text().contains("\"balance\":123.456"), "{}", raw.text());
    assert_discreet(&raw, &employee);

    let validity = pos.client.card_validity(token, &qr).expect("validity");
    assert!(validity.valid);
    assert_eq!(validity.valid_until.as_deref(), Some("2030-12-31"));
    let raw = pos_get(stack, token, "/api/v1/pos/cards/validity", Some(&qr));
    assert_eq!(raw.status, 200);
    assert_discreet(&raw, &employee);

    // Reading did not use the QR: it still pays; once used, it presents nothing.
    pos.client
        .scan(token, &qr, Millimes(3_456), "CARDS-READ-THEN-PAY")
        .expect("the read QR still pays");
    assert_eq!(stack.balance_of(&employee.card.numero), 120_000);
    for path in ["/api/v1/pos/cards/balance", "/api/v1/pos/cards/validity"] {
        let used = pos_get(stack, token, path, Some(&qr));
        assert_eq!(
            (used.status, problem_code(&used)),
            (409, "QR_ALREADY_USED".to_string()),
            "{path}: {}",
            used.text()
        );
    }
    // An expired QR presents nothing either.
    let short = employee.qr(stack, Some(1));
    std::thread::sleep(Duration::from_millis(3_200));
    let expired = pos_get(stack, token, "/api/v1/pos/cards/balance", Some(&short));
    assert_eq!(
        (expired.status, problem_code(&expired)),
        (410, "QR_EXPIRED".to_string())
    );
}

#[test]
fn card_reads_have_their_own_low_limit_that_spares_payments() {
    let stack = stack();
    let pos = stack.onboard("Card reader", None);
    let token = &pos.token.access_token;
    let employee = employee(stack, 10_000);
    let qr = employee.qr(stack, None);
    for i in 0..10 {
        let read = pos_get(stack, token, "/api/v1/pos/cards/balance", Some(&qr));
        assert_eq!(read.status, 200, "read {i}: {}", read.text());
        assert_eq!(
            read.header("RateLimit-Policy"),
            Some("\"card-reads\";q=10;w=60")
        );
    }
    let limited = pos_get(stack, token, "/api/v1/pos/cards/validity", Some(&qr));
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert_eq!(problem_code(&limited), "RATE_LIMITED");
    assert!(limited.header("Retry-After").is_some());
    assert_eq!(
        limited.header("RateLimit-Policy"),
        Some("\"card-reads\";q=10;w=60")
    );
    // Reads without a QR count too: guessing costs the same window.
    let limited = pos_get(stack, token, "/api/v1/pos/cards/balance", None);
    assert_eq!(limited.status, 429);
    // The client's own minute is not spent by refused card reads: it still pays.
    pos.client
        .scan(token, &qr, Millimes(1_000), "CARDS-AFTER-LIMIT")
        .expect("payments still pass");
}

#[test]
fn a_pos_moves_no_money_whatever_its_scopes() {
    let stack = stack();
    let (pos, writer_token) = stack.card_writer("Former card writer");
    let card = stack.new_card(30_000, "TicketResto");
    for direction in ["credit", "debit"] {
        for path in [
            format!("/api/v1/pos/cards/{}/{direction}", card.numero),
            format!("/api/v1/admin/cards/{}/{direction}", card.numero),
        ] {
            let response = pos
                .client
                .send(
                    RawRequest::new("POST", path.clone())
                        .auth(Auth::Bearer(writer_token.clone()))
                        .header("X-Operator", "pos-pretending")
                        .json(&serde_json::json!({"amount": 10.0, "reference": format!("pos-{direction}")})),
                )
                .unwrap();
            let expected = if path.contains("/admin/") {
                (401, "INVALID_TOKEN")
            } else {
                (404, "ROUTE_NOT_FOUND")
            };
            assert_eq!(
                (response.status, problem_code(&response).as_str()),
                expected,
                "{path}: {}",
                response.text()
            );
        }
    }
    assert_eq!(stack.balance_of(&card.numero), 30_000, "nothing moved");
    assert!(stack
        .admin()
        .sim_ledger(Some(&card.numero), None, None)
        .unwrap()
        .is_empty());
}

#[test]
fn operator_movements_are_capped_per_call_and_per_day_exactly_and_audited() {
    let stack = stack();
    let admin = stack.admin();
    let card = stack.new_card(100_000, "TicketResto");
    let operator = "ops.amira@dyno";

    // No operator named: refused, nothing moved.
    let anonymous = stack
        .client
        .send(stack.admin().card_movement_request(
            None,
            &card.numero,
            "credit",
            Millimes(1_000),
            "anon-1",
        ))
        .unwrap();
    assert_eq!(
        (anonymous.status, problem_code(&anonymous)),
        (400, "INVALID_REQUEST".to_string())
    );
    // Over the per-call cap, by one millime.
    let too_big = admin
        .card_movement(
            operator,
            &card.numero,
            "credit",
            Millimes(PER_CALL_MAX + 1),
            "big-1",
        )
        .unwrap_err();
    assert_eq!(
        (too_big.status(), too_big.code()),
        (Some(400), Some("INVALID_AMOUNT"))
    );
    assert_eq!(stack.balance_of(&card.numero), 100_000);

    // 12 concurrent credits of 5.000 TND ask for 60.000; the day allows 50.000: exactly 10 pass.
    let barrier = Arc::new(Barrier::new(12));
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let admin = admin.clone();
            let numero = card.numero.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                admin.card_movement(
                    operator,
                    &numero,
                    "credit",
                    Millimes(5_000),
                    &format!("burst-{i}"),
                )
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let applied: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let refused: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    eprintln!(
        "[operator cap] 12 concurrent credits of 5.000 against a 50.000 day: {} applied, {} refused",
        applied.len(),
        refused.len()
    );
    assert_eq!(applied.len(), 10);
    for e in &refused {
        assert_eq!(
            (e.status(), e.code()),
            (Some(422), Some("DAILY_LIMIT_EXCEEDED")),
            "{e}"
        );
    }
    assert_eq!(
        stack.balance_of(&card.numero),
        100_000 + DAILY_MAX,
        "the ledger moved exactly the cap"
    );
    let ledger = admin.sim_ledger(Some(&card.numero), None, None).unwrap();
    assert_eq!(ledger.len(), 10, "{ledger:?}");
    assert!(ledger
        .iter()
        .all(|op| op.libelle.as_deref() == Some("Opération opérateur ops.amira@dyno")));

    // The day is full: debits count too; a replay of an applied reference is not counted again.
    let debit = admin
        .card_movement(operator, &card.numero, "debit", Millimes(1), "late-debit")
        .unwrap_err();
    assert_eq!(debit.code(), Some("DAILY_LIMIT_EXCEEDED"));
    let replayed_reference = &applied[0].reference;
    let replay = admin
        .card_movement(
            operator,
            &card.numero,
            "credit",
            Millimes(5_000),
            replayed_reference,
        )
        .expect("a replay of an applied movement");
    assert_eq!(replay.balance_after, applied[0].balance_after);
    let conflict = admin
        .card_movement(
            operator,
            &card.numero,
            "debit",
            Millimes(5_000),
            replayed_reference,
        )
        .unwrap_err();
    assert_eq!(conflict.code(), Some("REFERENCE_ALREADY_USED"));
    assert_eq!(stack.balance_of(&card.numero), 100_000 + DAILY_MAX);

    // Every attempt is audited under the operator's name.
    let started = Instant::now();
    let credits = loop {
        let entries = admin.audit(None, Some(500)).unwrap().entries;
        let credits: Vec<_> = entries
            .into_iter()
            .filter(|e| e.action == "POST /api/v1/admin/cards/{card_number}/credit")
            // The audit log keeps only the last four digits of a card number.
            .filter(|e| e.resource.as_deref() == Some(mask_card_number(&card.numero).as_str()))
            .collect();
        if credits.len() >= 15 || started.elapsed() > Duration::from_secs(20) {
            break credits;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let by_operator = |status: i64| {
        credits
            .iter()
            .filter(|e| e.actor == format!("operator:{operator}") && e.status == status)
            .count()
    };
    assert_eq!(by_operator(200), 11, "10 credits and the replay");
    assert_eq!(by_operator(422), 2, "the two over the cap");
    assert_eq!(by_operator(400), 1, "the one over the per-call cap");
    assert!(
        credits
            .iter()
            .any(|e| e.actor == "admin" && e.status == 400),
        "the anonymous attempt is audited too"
    );
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
