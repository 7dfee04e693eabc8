//! Money operations, end to end: refunds (caps, the concurrent race, idempotent replay, the
//! refunded webhook), the payment listing with cursor pagination, and a reconciliation export that
//! balances to the millime against the simulator's ledger.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use dyno_client::{DynoClient, Millimes, PaymentPage};
use dyno_e2e::webhooks::WebhookListener;
use dyno_e2e::{tunis_today, Onboarded, Stack};
use serde_json::Value;

/// Waits until the D1 listing (written through the events queue) holds `n` payments.
fn wait_listed(pos: &Onboarded, n: usize) -> PaymentPage {
    let started = Instant::now();
    loop {
        let page = pos
            .client
            .list_payments(&pos.token.access_token, &[("limit", "100")])
            .expect("list");
        if page.data.len() >= n || started.elapsed() > Duration::from_secs(20) {
            return page;
        }
        // Within the client's 60 requests a minute.
        std::thread::sleep(Duration::from_millis(1_500));
    }
}

#[test]
fn refunds_are_capped_replayable_and_race_safely() {
    let stack = Stack::shared();
    let listener = WebhookListener::accepting();
    let pos = stack.onboard("Refunds", None);
    stack
        .admin()
        .set_webhook_events(
            &pos.client_id,
            &listener.url,
            "whsec_refund_test_01",
            &["payment.refunded"],
        )
        .unwrap();
    let token = pos.token.access_token.clone();
    let employee = stack.new_employee(50_000);
    let tx = pos.pay(stack, &employee, 10_000, "REFUND-1");
    assert_eq!(stack.balance_of(&employee.card.numero), 40_000);

    let missing_key = pos
        .client
        .send(
            DynoClient::refund_request(&token, &tx, Some(Millimes(1_000)), "x")
                .header("Idempotency-Key", ""),
        )
        .unwrap();
    assert_eq!(missing_key.status, 400);
    let no_header = pos
        .client
        .send(
            dyno_client::RawRequest::new("POST", format!("/api/v1/pos/payments/{tx}/refunds"))
                .auth(dyno_client::Auth::Bearer(token.clone())),
        )
        .unwrap();
    assert_eq!(
        no_header
            .json::<dyno_client::ProblemDocument>()
            .unwrap()
            .code,
        "IDEMPOTENCY_KEY_REQUIRED"
    );

    let first = pos
        .client
        .refund(&token, &tx, Some(Millimes(6_000)), "refund-key-1")
        .expect("partial refund");
    assert_eq!(
        (
            first.status.as_str(),
            first.payment_status.as_str(),
            first.refund_status.as_str()
        ),
        ("succeeded", "succeeded", "partially_refunded")
    );
    assert_eq!(first.refunded_amount, Millimes(6_000));
    assert_eq!(stack.balance_of(&employee.card.numero), 46_000);
    // The same key replays the stored answer and credits nothing more.
    std::thread::sleep(Duration::from_millis(500));
    let replay = pos
        .client
        .send(DynoClient::refund_request(
            &token,
            &tx,
            Some(Millimes(6_000)),
            "refund-key-1",
        ))
        .unwrap();
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(
        replay.json::<Value>().unwrap()["refund_id"],
        first.refund_id.as_str()
    );
    assert_eq!(stack.balance_of(&employee.card.numero), 46_000);

    let too_much = pos
        .client
        .refund(&token, &tx, Some(Millimes(5_000)), "refund-key-2")
        .unwrap_err();
    assert_eq!(
        (too_much.status(), too_much.code()),
        (Some(422), Some("REFUND_EXCEEDS_PAYMENT"))
    );

    // 4.000 remain: two concurrent refunds of 3.000 cannot both succeed.
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = ["race-a", "race-b"]
        .into_iter()
        .map(|key| {
            let (client, token, tx, barrier) = (
                pos.client.clone(),
                token.clone(),
                tx.clone(),
                barrier.clone(),
            );
            std::thread::spawn(move || {
                barrier.wait();
                client
                    .refund(&token, &tx, Some(Millimes(3_000)), key)
                    .map_err(|e| e.code().map(str::to_string))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    eprintln!(
        "[concurrency] two 3.000 refunds against 4.000 refundable: {ok} succeeded, {:?}",
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .collect::<Vec<_>>()
    );
    assert_eq!(ok, 1);
    assert!(results
        .iter()
        .any(|r| r.as_ref().err() == Some(&Some("REFUND_EXCEEDS_PAYMENT".to_string()))));

    let rest = pos
        .client
        .refund(&token, &tx, None, "refund-key-rest")
        .expect("the rest");
    assert_eq!(
        (rest.amount, rest.refund_status.as_str()),
        (Millimes(1_000), "refunded")
    );
    assert_eq!(
        stack.balance_of(&employee.card.numero),
        50_000,
        "fully refunded, to the millime"
    );
    let credits: i64 = stack
        .admin()
        .sim_ledger(Some(&employee.card.numero), None, None)
        .unwrap()
        .iter()
        .filter(|op| op.sens.as_deref() == Some("CREDIT"))
        .filter_map(|op| op.montant_minor)
        .sum();
    assert_eq!(credits, 10_000);
    let looked_up = pos.client.payment(&token, &tx).unwrap();
    assert_eq!(
        (
            looked_up.status.as_str(),
            looked_up.refund_status.as_deref()
        ),
        ("succeeded", Some("refunded")),
        "status keeps its meaning; the refund shows in refund_status"
    );

    let events = listener.wait_for(3, Duration::from_secs(15));
    let refunded: Vec<Value> = events
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|b| b["event"] == "payment.refunded")
        .collect();
    assert_eq!(
        refunded.len(),
        3,
        "one payment.refunded per successful refund"
    );
    assert!(refunded.iter().any(|b| b["refund_status"] == "refunded"));
    assert!(
        refunded
            .iter()
            .all(|b| b.get("payment_request_id").is_none()),
        "an EPM payment has no payment request"
    );
    let raw: Vec<String> = events
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).to_string())
        .collect();
    assert!(
        raw.iter().any(|b| b.contains("\"refunded_amount\":10.000")),
        "exact amounts in the body: {raw:?}"
    );
}

#[test]
fn listing_paginates_stably_and_filters() {
    let stack = Stack::shared();
    let pos = stack.onboard("Listing", None);
    let token = pos.token.access_token.clone();
    let employee = stack.new_employee(1_000_000);
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(pos.pay(stack, &employee, 1_000 + i, &format!("LIST-{i}")));
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_listed(&pos, 7);
    let first = pos.client.list_payments(&token, &[("limit", "3")]).unwrap();
    assert_eq!(first.data.len(), 3);
    assert_eq!(first.data[0].pos_reference, "LIST-6", "newest first");
    // A payment inserted between pages does not shift the later pages.
    pos.pay(stack, &employee, 5_000, "LIST-NEW");
    wait_listed(&pos, 8);
    let mut seen: Vec<String> = first
        .data
        .iter()
        .map(|p| p.transaction_id.clone())
        .collect();
    let mut cursor = first.next_cursor.clone();
    while let Some(c) = cursor {
        let page = pos
            .client
            .list_payments(&token, &[("limit", "3"), ("cursor", &c)])
            .unwrap();
        seen.extend(page.data.iter().map(|p| p.transaction_id.clone()));
        cursor = page.next_cursor;
    }
    assert_eq!(
        seen.len(),
        7,
        "the 7 payments that existed at the first page, no more, no less"
    );
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        7,
        "no duplicates"
    );
    assert!(ids.iter().all(|id| seen.contains(id)));

    pos.client
        .refund(&token, &ids[0], None, "list-refund-1")
        .unwrap();
    pos.client
        .refund(&token, &ids[1], Some(Millimes(1)), "list-refund-2")
        .unwrap();
    let started = Instant::now();
    let refunded = loop {
        let page = pos
            .client
            .list_payments(&token, &[("refund_status", "refunded")])
            .unwrap();
        if !page.data.is_empty() || started.elapsed() > Duration::from_secs(15) {
            break page;
        }
        std::thread::sleep(Duration::from_millis(1_500));
    };
    assert_eq!(refunded.data.len(), 1);
    assert_eq!(refunded.data[0].transaction_id, ids[0]);
    let partial = pos
        .client
        .list_payments(&token, &[("refund_status", "partially_refunded")])
        .unwrap();
    assert_eq!(
        partial
            .data
            .iter()
            .map(|p| p.transaction_id.as_str())
            .collect::<Vec<_>>(),
        vec![ids[1].as_str()]
    );
    let by_reference = pos
        .client
        .list_payments(&token, &[("pos_reference", "LIST-3"), ("limit", "10")])
        .unwrap();
    assert_eq!(by_reference.data.len(), 1);
    let future = pos
        .client
        .list_payments(&token, &[("from", "2099-01-01T00:00:00Z")])
        .unwrap();
    assert!(future.data.is_empty());
    let bad = pos
        .client
        .list_payments(&token, &[("status", "weird")])
        .unwrap_err();
    assert_eq!(bad.status(), Some(400));
    let bad = pos
        .client
        .list_payments(&token, &[("cursor", "!!")])
        .unwrap_err();
    assert_eq!(bad.status(), Some(400));
}

/// Today's date in Tunis (UTC+1, no daylight saving time).
#[test]
fn the_reconciliation_export_balances_to_the_millime_with_the_ledger() {
    let stack = Stack::shared();
    let pos = stack.onboard("Reconciliation", None);
    let token = pos.token.access_token.clone();
    let rich = stack.new_employee(1_000_000);
    let poor = stack.new_employee(2_000);
    // A scripted day: EPM payments, a PPM payment, failures, a partial and a full refund.
    let a = pos.pay(stack, &rich, 12_500, "DAY-EPM-1");
    let b = pos.pay(stack, &rich, 7_333, "DAY-EPM-2");
    let failed = pos
        .client
        .scan(&token, &poor.qr(stack, None), Millimes(9_000), "DAY-FAIL-1")
        .unwrap_err();
    assert_eq!(failed.code(), Some("INSUFFICIENT_FUNDS"));
    let ppm = pos
        .client
        .initiate(&token, Millimes(45_000), "DAY-PPM-1", "Déjeuner")
        .unwrap();
    rich.confirm(stack, &ppm);
    let expired = pos
        .client
        .initiate(&token, Millimes(1_000), "DAY-PPM-2", "x")
        .unwrap();
    pos.client
        .cancel_session(&token, &expired.payment_request_id)
        .unwrap();
    pos.client
        .refund(&token, &a, Some(Millimes(2_500)), "day-refund-1")
        .unwrap();
    pos.client.refund(&token, &b, None, "day-refund-2").unwrap();

    let (date, from, to) = tunis_today();
    let ledger = stack
        .admin()
        .sim_ledger(None, Some(&pos.merchant_id), Some(from))
        .unwrap();
    let ledger: Vec<_> = ledger
        .into_iter()
        .filter(|op| op.created_at_ms < to)
        .collect();
    let ledger_net: i64 = ledger
        .iter()
        .map(|op| match op.sens.as_deref() {
            Some("DEBIT") => op.montant_minor.unwrap_or(0),
            _ => -op.montant_minor.unwrap_or(0),
        })
        .sum();
    assert_eq!(
        ledger.len(),
        5,
        "3 debits and 2 credits in CYNOD: {ledger:?}"
    );

    // The export reads D1, fed by the events queue: wait for all five movements.
    let started = Instant::now();
    let csv = loop {
        let response = pos
            .client
            .reconciliation(&token, &date, "csv")
            .expect("export");
        let text = response.text();
        if text.lines().filter(|l| l.starts_with("movement,")).count() >= 5
            || started.elapsed() > Duration::from_secs(20)
        {
            assert_eq!(
                response.header("Dyno-Report-Time-Zone"),
                Some("Africa/Tunis")
            );
            assert!(response
                .header("Content-Type")
                .unwrap_or("")
                .starts_with("text/csv"));
            assert!(response
                .header("Content-Disposition")
                .unwrap_or("")
                .contains(".csv"));
            break text;
        }
        std::thread::sleep(Duration::from_millis(1_500));
    };
    assert!(
        csv.starts_with('\u{feff}'),
        "a BOM so spreadsheets read UTF-8"
    );
    assert!(csv.contains("\r\n"), "RFC 4180 line breaks");
    let rows: Vec<Vec<&str>> = csv
        .trim_start_matches('\u{feff}')
        .lines()
        .map(|l| l.split(',').collect())
        .collect();
    assert!(
        rows.iter().all(|r| r.len() == 14),
        "every record has the header's 14 fields"
    );
    let movements: Vec<&Vec<&str>> = rows.iter().filter(|r| r[0] == "movement").collect();
    assert_eq!(movements.len(), 5);
    assert!(
        movements
            .iter()
            .all(|r| r[11].starts_with("************") && r[11].len() == 16),
        "cards masked to the last 4"
    );
    let millimes = |text: &str| dyno_client::parse_millimes(text).expect("exact amount").0;
    let all = rows
        .iter()
        .find(|r| r[0] == "total" && r[10] == "ALL")
        .expect("overall total");
    let report_net = millimes(all[8]);
    eprintln!("[reconciliation] {date}: report net {report_net} millimes, CYNOD ledger net {ledger_net} millimes, {} movements", movements.len());
    assert_eq!(
        report_net, ledger_net,
        "the export balances with the card core to the millime"
    );
    assert_eq!(report_net, 12_500 + 7_333 + 45_000 - 2_500 - 7_333);
    let sum_of_rows: i64 = movements.iter().map(|r| millimes(r[8])).sum();
    assert_eq!(sum_of_rows, report_net);
    let per_wallet: i64 = rows
        .iter()
        .filter(|r| r[0] == "total" && r[10] != "ALL")
        .map(|r| millimes(r[8]))
        .sum();
    assert_eq!(
        per_wallet, report_net,
        "wallet totals add up to the overall total"
    );

    let ndjson = pos
        .client
        .reconciliation(&token, &date, "ndjson")
        .unwrap()
        .text();
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["record_type"], "report");
    assert_eq!(lines[0]["time_zone"], "Africa/Tunis");
    let last = lines.last().unwrap();
    assert_eq!(
        (last["record_type"].as_str(), last["wallet_type"].as_str()),
        (Some("total"), Some("ALL"))
    );
    assert_eq!(millimes(&last["net"].to_string()), ledger_net);
    let other_merchant = stack.onboard("Other merchant", None);
    let foreign = other_merchant
        .client
        .reconciliation(&other_merchant.token.access_token, &date, "csv")
        .unwrap()
        .text();
    assert_eq!(
        foreign
            .lines()
            .filter(|l| l.starts_with("movement,"))
            .count(),
        0,
        "a merchant sees only its own movements"
    );
}
