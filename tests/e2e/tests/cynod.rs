//! The CYNOD proxy, end to end through the gateway and the simulator's ledger: every read route,
//! credit and debit with exact balances, idempotent references, scopes, and input refused before
//! it reaches CYNOD.

use dyno_client::{Auth, Millimes, RawRequest};
use dyno_e2e::Stack;

#[test]
fn read_routes_return_exact_balances_and_validity() {
    let stack = Stack::shared();
    let pos = stack.onboard("Card reader", None);
    let token = &pos.token.access_token;
    let card = stack.new_card(123_456, "TicketResto");

    let balance = pos
        .client
        .card_balance(token, &card.numero)
        .expect("balance");
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
            RawRequest::new("GET", format!("/api/v1/pos/cards/{}/balance", card.numero))
                .auth(Auth::Bearer(token.clone())),
        )
        .unwrap();
    assert!(
        raw.text().contains("\"balance\":123.456"),
        "amount written with 3 decimals: {}",
        raw.text()
    );

    let validity = pos
        .client
        .card_validity(token, &card.numero)
        .expect("validity");
    assert!(validity.valid);
    assert_eq!(validity.valid_until.as_deref(), Some("2030-12-31"));

    let cards = pos
        .client
        .member_cards(token, &card.client_id)
        .expect("member cards");
    assert_eq!(cards.cards.len(), 1);
    assert_eq!(cards.cards[0].balance, Millimes(123_456));
    pos.client
        .member_card_validity(token, &card.client_id, &card.numero)
        .expect("member validity");
    let foreign = pos
        .client
        .member_card_validity(token, "CLT-0001", &card.numero)
        .unwrap_err();
    assert_eq!(
        (foreign.status(), foreign.code()),
        (Some(404), Some("CARD_NOT_FOUND"))
    );

    let demo = pos
        .client
        .member_cards(token, "CLT-0001")
        .expect("demo member");
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
    let (pos, writer_token) = stack.card_writer("Card writer");
    let token = &pos.token.access_token;
    let expired = stack.new_card_with(10_000, "TicketResto", "ACTIVE", "2024-01-31");
    let blocked = stack.new_card_with(10_000, "TicketResto", "BLOQUEE", "2030-01-31");
    // Asking whether a card is valid: "no" is an answer, not an error.
    for (card, reason) in [(&expired, "card_expired"), (&blocked, "card_blocked")] {
        let validity = pos.client.card_validity(token, &card.numero).unwrap();
        assert!(!validity.valid);
        assert_eq!(validity.reason.as_deref(), Some(reason));
    }
    // Moving money on such a card is refused with the functional error.
    for (card, code, reference) in [
        (&expired, "CARD_EXPIRED", "on-expired"),
        (&blocked, "CARD_BLOCKED", "on-blocked"),
    ] {
        let e = pos
            .client
            .card_movement(
                &writer_token,
                &card.numero,
                "debit",
                Millimes(1_000),
                reference,
            )
            .unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(422), Some(code)));
        assert_eq!(stack.balance_of(&card.numero), 10_000);
    }
    let e = pos
        .client
        .card_balance(token, "7019999999999999")
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("CARD_NOT_FOUND")));
    let e = pos.client.member_cards(token, "CLT-NOBODY").unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("CARD_NOT_FOUND")));
}

#[test]
fn debit_and_credit_move_money_exactly_once_per_reference() {
    let stack = Stack::shared();
    let (pos, token) = stack.card_writer("Card writer");
    let card = stack.new_card(50_000, "TicketResto");

    let refused = pos
        .client
        .card_movement(
            &pos.token.access_token,
            &card.numero,
            "debit",
            Millimes(1_000),
            "no-scope",
        )
        .unwrap_err();
    assert_eq!(
        (refused.status(), refused.code()),
        (Some(403), Some("INSUFFICIENT_SCOPE"))
    );

    let debit = pos
        .client
        .card_movement(&token, &card.numero, "debit", Millimes(12_500), "sale-1")
        .expect("debit");
    assert_eq!(debit.status, "applied");
    assert_eq!(debit.amount, Some(Millimes(12_500)));
    assert_eq!(debit.balance_after, Some(Millimes(37_500)));
    assert!(!debit.recovered);
    let replay = pos
        .client
        .card_movement(&token, &card.numero, "debit", Millimes(12_500), "sale-1")
        .expect("replay");
    assert_eq!(
        replay.balance_after,
        Some(Millimes(37_500)),
        "a replay returns the original movement"
    );
    let conflict = pos
        .client
        .card_movement(&token, &card.numero, "debit", Millimes(1_000), "sale-1")
        .unwrap_err();
    assert_eq!(
        (conflict.status(), conflict.code()),
        (Some(409), Some("REFERENCE_ALREADY_USED"))
    );
    let too_much = pos
        .client
        .card_movement(&token, &card.numero, "debit", Millimes(40_000), "sale-2")
        .unwrap_err();
    assert_eq!(
        (too_much.status(), too_much.code()),
        (Some(413), Some("INSUFFICIENT_FUNDS"))
    );
    let credit = pos
        .client
        .card_movement(&token, &card.numero, "credit", Millimes(2_500), "refill-1")
        .expect("credit");
    assert_eq!(credit.balance_after, Some(Millimes(40_000)));

    let ledger = stack
        .admin()
        .sim_ledger(Some(&card.numero), None, None)
        .unwrap();
    assert_eq!(ledger.len(), 2, "one debit and one credit: {ledger:?}");
    assert_eq!(ledger[0].montant_minor, Some(12_500));
    assert_eq!(
        ledger[0].commercant.as_deref(),
        Some(pos.merchant_id.as_str())
    );
    assert_eq!(
        stack
            .admin()
            .sim_card(&card.numero)
            .unwrap()
            .unwrap()
            .solde_minor,
        40_000
    );

    for (what, amount) in [
        ("zero", "0"),
        ("four decimals", "1.0001"),
        ("negative", "-5"),
        ("string", "\"5\""),
        ("huge", "1e9"),
    ] {
        let response = pos
            .client
            .send(
                RawRequest::new("POST", format!("/api/v1/pos/cards/{}/debit", card.numero))
                    .auth(Auth::Bearer(token.clone()))
                    .body(
                        "application/json",
                        format!(r#"{{"amount":{amount},"reference":"bad-{what}"}}"#).into_bytes(),
                    ),
            )
            .unwrap();
        assert_eq!(response.status, 400, "{what}: {}", response.text());
    }
    assert_eq!(
        stack
            .admin()
            .sim_card(&card.numero)
            .unwrap()
            .unwrap()
            .solde_minor,
        40_000,
        "bad input changed nothing"
    );
}
