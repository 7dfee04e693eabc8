//! The CYNOD card core, end to end through the gateway and the simulator's ledger: the reads of a
//! presented card and of a member's cards, operator credit and debit with exact balances,
//! idempotent references, and input refused before it reaches CYNOD.

use dyno_client::{Auth, Millimes, RawRequest};
use dyno_e2e::Stack;

const OPERATOR: &str = "ops.test";

#[test]
fn read_routes_return_exact_balances_and_validity() {
    let stack = Stack::shared();
    let pos = stack.onboard("Card reader", None);
    let token = &pos.token.access_token;
    let employee = stack.new_employee(123_456);
    let qr = employee.qr(stack, None);

    let balance = pos.client.card_balance(token, &qr).expect("balance");
    assert_eq!(
        balance.balance,
        Millimes(123_456),
        "123.456 TND, exact to the millime"
    );
    assert_eq!(balance.currency, "TND");
    assert_eq!(balance.wallet_type.as_deref(), Some("TicketResto"));
    assert!(balance.as_of.as_deref().is_some_and(|t| t.ends_with('Z')));
    let raw = pos
        .client
        .send(
            RawRequest::new("GET", "/api/v1/pos/cards/balance")
                .auth(Auth::Bearer(token.clone()))
                .header(dyno_client::CARD_PRESENTATION_HEADER, qr.clone()),
        )
        .unwrap();
    assert!(
        raw.text().contains("\"balance\":123.456"),
        "amount written with 3 decimals: {}",
        raw.text()
    );

    let validity = pos.client.card_validity(token, &qr).expect("validity");
    assert!(validity.valid);
    assert_eq!(validity.valid_until.as_deref(), Some("2030-12-31"));

    let admin = stack.admin();
    let cards = admin
        .member_cards(&employee.card.client_id)
        .expect("member cards");
    assert_eq!(cards.cards.len(), 1);
    assert_eq!(cards.cards[0].balance, Millimes(123_456));
    let demo = admin.member_cards("CLT-0001").expect("demo member");
    assert!(demo
        .cards
        .iter()
        .any(|c| c.card_number == "7019800100009569"
            && c.wallet_type.as_deref() == Some("TicketResto")));
    assert!(demo
        .cards
        .iter()
        .any(|c| c.wallet_type.as_deref() == Some("CarteCadeau")));
}

#[test]
fn card_states_map_to_their_errors() {
    let stack = Stack::shared();
    let admin = stack.admin();
    let expired = stack.new_card_with(10_000, "TicketResto", "ACTIVE", "2024-01-31");
    let blocked = stack.new_card_with(10_000, "TicketResto", "BLOQUEE", "2030-01-31");
    // Moving money on such a card is refused with the functional error.
    for (card, code, reference) in [
        (&expired, "CARD_EXPIRED", "on-expired"),
        (&blocked, "CARD_BLOCKED", "on-blocked"),
    ] {
        let e = admin
            .card_movement(OPERATOR, &card.numero, "debit", Millimes(1_000), reference)
            .unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(422), Some(code)));
        assert_eq!(stack.balance_of(&card.numero), 10_000);
    }
    let e = admin
        .card_movement(
            OPERATOR,
            "7019999999999999",
            "credit",
            Millimes(1_000),
            "on-nothing",
        )
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("CARD_NOT_FOUND")));
    let e = admin.member_cards("CLT-NOBODY").unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("CARD_NOT_FOUND")));
}

#[test]
fn debit_and_credit_move_money_exactly_once_per_reference() {
    let stack = Stack::shared();
    let admin = stack.admin();
    let card = stack.new_card(50_000, "TicketResto");

    let debit = admin
        .card_movement(OPERATOR, &card.numero, "debit", Millimes(12_500), "sale-1")
        .expect("debit");
    assert_eq!(debit.status, "applied");
    assert_eq!(debit.amount, Some(Millimes(12_500)));
    assert_eq!(debit.balance_after, Some(Millimes(37_500)));
    assert!(!debit.recovered);
    let replay = admin
        .card_movement(OPERATOR, &card.numero, "debit", Millimes(12_500), "sale-1")
        .expect("replay");
    assert_eq!(
        replay.balance_after,
        Some(Millimes(37_500)),
        "a replay returns the original movement"
    );
    let conflict = admin
        .card_movement(OPERATOR, &card.numero, "debit", Millimes(1_000), "sale-1")
        .unwrap_err();
    assert_eq!(
        (conflict.status(), conflict.code()),
        (Some(409), Some("REFERENCE_ALREADY_USED"))
    );
    let too_much = admin
        .card_movement(OPERATOR, &card.numero, "debit", Millimes(40_000), "sale-2")
        .unwrap_err();
    assert_eq!(
        (too_much.status(), too_much.code()),
        (Some(413), Some("INSUFFICIENT_FUNDS"))
    );
    let credit = admin
        .card_movement(
            OPERATOR,
            &card.numero,
            "credit",
            Millimes(2_500),
            "refill-1",
        )
        .expect("credit");
    assert_eq!(credit.balance_after, Some(Millimes(40_000)));

    let ledger = admin.sim_ledger(Some(&card.numero), None, None).unwrap();
    assert_eq!(ledger.len(), 2, "one debit and one credit: {ledger:?}");
    assert_eq!(ledger[0].montant_minor, Some(12_500));
    assert_eq!(ledger[0].reference, "op:sale-1");
    assert_eq!(
        ledger[0].libelle.as_deref(),
        Some("Opération opérateur ops.test")
    );
    assert_eq!(stack.balance_of(&card.numero), 40_000);

    for (what, amount) in [
        ("zero", "0"),
        ("four decimals", "1.0001"),
        ("negative", "-5"),
        ("string", "\"5\""),
        ("huge", "1e9"),
        ("over the per-call cap", "1000.001"),
    ] {
        let response = stack
            .client
            .send(
                RawRequest::new("POST", format!("/api/v1/admin/cards/{}/debit", card.numero))
                    .auth(Auth::Admin(stack.admin_key.clone()))
                    .header(dyno_client::OPERATOR_HEADER, OPERATOR)
                    .body(
                        "application/json",
                        format!(r#"{{"amount":{amount},"reference":"bad-{}"}}"#, what.len())
                            .into_bytes(),
                    ),
            )
            .unwrap();
        assert_eq!(response.status, 400, "{what}: {}", response.text());
    }
    assert_eq!(
        stack.balance_of(&card.numero),
        40_000,
        "bad input changed nothing"
    );
}
