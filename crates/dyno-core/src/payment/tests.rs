//! Every branch of the payment rules and of the machine, natively.

use super::fixtures::*;
use super::machine::*;
use super::view::PaymentView;
use super::*;
use crate::ids::RefundId;
use crate::records::WebhookJob;

fn problem_code(reply: &Option<Reply>) -> Option<ErrorCode> {
    match reply {
        Some(Err(p)) => Some(p.code),
        _ => None,
    }
}

fn run(state: Option<Payment>, request: Request, secs: i64) -> Transition {
    handle(state, Command::Request(request), &ctx(secs))
}

fn answer(state: Option<Payment>, call: CynodCall, outcome: CynodOutcome, secs: i64) -> Transition {
    handle(state, Command::Answered(call, outcome), &ctx(secs))
}

fn wake(state: Option<Payment>, secs: i64) -> Transition {
    handle(state, Command::Wake, &ctx(secs))
}

fn the_call(t: &Transition) -> CynodCall {
    let calls: Vec<_> = t
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Cynod(call) => Some(call.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 1, "exactly one CYNOD call: {:?}", t.effects);
    calls[0].clone()
}

fn kinds(t: &Transition) -> Vec<&'static str> {
    t.effects
        .iter()
        .map(|e| match e {
            Effect::Cynod(CynodCall::Debit(_)) => "debit",
            Effect::Cynod(CynodCall::Credit { .. }) => "credit",
            Effect::Cynod(CynodCall::ResolveDebit { .. }) => "resolve_debit",
            Effect::Cynod(CynodCall::ResolveCredit { .. }) => "resolve_credit",
            Effect::Publish(_) => "publish",
            Effect::Release { .. } => "release",
            Effect::Webhook(_) => "webhook",
            Effect::Transaction(_) => "transaction",
            // Checked on their own (`every_final_state_records_its_outcome`).
            Effect::Outcome(_) => "",
        })
        .filter(|kind| !kind.is_empty())
        .collect()
}

fn webhook_event(t: &Transition) -> Option<(String, String, bool)> {
    t.effects.iter().find_map(|e| match e {
        Effect::Webhook(WebhookJob::Deliver {
            event,
            body,
            simulate_timeout,
            ..
        }) => Some((event.clone(), body.clone(), *simulate_timeout)),
        _ => None,
    })
}

fn problem(code: ErrorCode) -> Problem {
    Problem::new(code, "CYNOD says no.")
}

fn scan(state: Option<Payment>, o: Order, secs: i64) -> Transition {
    run(
        state,
        Request::Scan {
            id: id(EPM_ID),
            order: o,
        },
        secs,
    )
}

/// An EPM QR scanned for `amount` and in flight at CYNOD.
fn scanned_epm(amount: i64) -> (Payment, CynodCall) {
    let t = scan(Some(grant()), order("a", "R1", amount), 5);
    (t.state.clone().unwrap(), the_call(&t))
}

fn succeeded_epm(amount: i64) -> Payment {
    let (p, call) = scanned_epm(amount);
    answer(Some(p), call, CynodOutcome::Applied, 6)
        .state
        .unwrap()
}

// ---- The rules -----------------------------------------------------------------------------

#[test]
fn one_qr_debits_once_and_replays_for_the_same_sale() {
    let mut p = grant();
    assert!(matches!(
        p.begin_scan(order("a", "R1", 12_500), t(5)),
        ScanDecision::Debit { .. }
    ));
    // A second scan while the first is in flight never debits.
    assert_eq!(
        p.clone().begin_scan(order("b", "R9", 12_500), t(5)),
        ScanDecision::Refuse(Problem::new(
            ErrorCode::QrAlreadyUsed,
            "Ce QR code a déjà servi à un paiement."
        ))
    );
    assert!(
        matches!(p.clone().begin_scan(order("a", "R1", 12_500), t(5)), ScanDecision::Refuse(pr) if pr.code == ErrorCode::IdempotencyKeyInProgress)
    );
    p.succeed(receipt(), t(6));
    assert_eq!(
        p.clone().begin_scan(order("a", "R1", 12_500), t(60)),
        ScanDecision::Replay
    );
    for other in [
        order("a", "R2", 12_500),
        order("b", "R1", 12_500),
        order("a", "R1", 1_000),
    ] {
        assert!(
            matches!(p.clone().begin_scan(other, t(7)), ScanDecision::Refuse(pr) if pr.code == ErrorCode::QrAlreadyUsed)
        );
    }
}

#[test]
fn expiry_allows_the_skew_tolerance_only() {
    assert!(matches!(
        grant().begin_scan(order("a", "R", 1), t(32)),
        ScanDecision::Debit { .. }
    ));
    assert!(
        matches!(grant().begin_scan(order("a", "R", 1), Millis(t(32).0 + 1)), ScanDecision::Refuse(pr) if pr.code == ErrorCode::QrExpired)
    );
}

#[test]
fn a_refused_debit_uses_up_the_qr() {
    let mut p = grant();
    assert!(matches!(
        p.begin_scan(order("a", "R1", 900_000), t(1)),
        ScanDecision::Debit { .. }
    ));
    p.debit_not_applied("insufficient_funds", t(2));
    assert_eq!(p.status, Status::Failed);
    // No second attempt with the same QR, whatever the sale: no searching the balance.
    for retry in [
        order("a", "R1", 1_000),
        order("a", "R2", 500),
        order("b", "R1", 1),
    ] {
        let ScanDecision::Refuse(problem) = p.clone().begin_scan(retry.clone(), t(3)) else {
            panic!("a used QR debits nothing")
        };
        assert_eq!(problem.code, ErrorCode::QrAlreadyUsed);
        assert!(problem.detail.contains("insufficient_funds"));
        assert!(
            !p.keeps_reference_of(&retry),
            "nothing moved: the sale may be retried"
        );
    }
}

#[test]
fn the_employees_limit_refuses_a_larger_sale_without_using_the_qr() {
    let mut p = Payment::issue_epm(id(EPM_ID), payer(), t(0), t(30), Some(Minor(10_000)));
    assert!(
        matches!(p.begin_scan(order("a", "R1", 10_001), t(1)), ScanDecision::Refuse(pr) if pr.code == ErrorCode::AmountAboveQrLimit)
    );
    assert_eq!(p.status, Status::Issued);
    assert!(matches!(
        p.begin_scan(order("a", "R1", 10_000), t(2)),
        ScanDecision::Debit { .. }
    ));
}

#[test]
fn ppm_goes_pending_scanned_processing_confirmed() {
    let mut p = session();
    assert_eq!(p.status, Status::Pending);
    p.mark_scanned(t(5));
    assert_eq!(p.status, Status::Scanned);
    let reference = p.begin_confirm(payer(), t(10)).unwrap();
    assert_eq!(reference, format!("ppm:{}:1", p.id));
    assert_eq!(p.status, Status::Processing);
    // While the debit is in flight nothing else can happen.
    assert_eq!(
        p.clone().begin_confirm(payer(), t(11)).unwrap_err().code,
        ErrorCode::IdempotencyKeyInProgress
    );
    assert!(p.clone().cancel(CancelledBy::Pos, t(11)).is_err());
    assert!(!p.clone().expire_if_due(t(61)));
    p.succeed(receipt(), t(12));
    assert!(p.status.is_final());
    assert_eq!(
        p.clone()
            .cancel(CancelledBy::Employee, t(13))
            .unwrap_err()
            .code,
        ErrorCode::InvalidState
    );
    assert!(!p.expire_if_due(t(120)), "terminal states never change");
}

#[test]
fn exactly_one_terminal_state_whatever_comes_first() {
    // cancel, then confirm and expiry are refused
    let mut p = session();
    p.cancel(CancelledBy::Pos, t(1)).unwrap();
    assert!(p.begin_confirm(payer(), t(2)).is_err());
    assert!(!p.expire_if_due(t(61)));
    assert_eq!(p.status, Status::Cancelled);
    p.cancel(CancelledBy::Pos, t(3)).unwrap();
    // expiry, then confirm and cancel are refused
    let mut p = session();
    assert!(p.expire_if_due(t(60)));
    assert_eq!(
        p.begin_confirm(payer(), t(60)).unwrap_err().code,
        ErrorCode::InvalidState
    );
    assert!(p.cancel(CancelledBy::Employee, t(60)).is_err());
    // a late confirm on an overdue request expires it instead of debiting
    let mut p = session();
    assert!(p.begin_confirm(payer(), t(61)).is_err());
    assert_eq!(p.status, Status::Expired);
}

#[test]
fn three_wrong_pins_fail_the_request() {
    let mut p = session();
    assert_eq!(p.pin_failed(t(1)), Ok(2));
    assert_eq!(p.pin_failed(t(2)), Ok(1));
    assert_eq!(p.pin_failed(t(3)), Ok(0));
    assert_eq!(p.status, Status::Failed);
    assert_eq!(p.failure_reason.as_deref(), Some("pin_attempts_exceeded"));
    assert!(p.pin_failed(t(4)).is_err());
}

#[test]
fn refunds_are_capped_and_reserved_before_the_credit() {
    let mut p = grant();
    p.begin_scan(order("a", "R1", 10_000), t(1));
    p.succeed(receipt(), t(2));
    let r = |s: &str| RefundId::for_key(&client("a"), s);
    let first = p
        .begin_refund(&r("1"), Some(Minor(6_000)), None, t(3))
        .unwrap();
    assert_eq!(first.cynod_reference, format!("refund:{}", r("1")));
    // A concurrent second refund sees the first one's amount reserved.
    assert_eq!(
        p.begin_refund(&r("2"), Some(Minor(5_000)), None, t(3))
            .unwrap_err()
            .code,
        ErrorCode::RefundExceedsPayment
    );
    p.settle_refund(&r("1"), RefundStatus::Succeeded, t(4));
    assert_eq!(p.refund_status(), "partially_refunded");
    // The rest, by default.
    let rest = p.begin_refund(&r("3"), None, None, t(5)).unwrap();
    assert_eq!(rest.amount, Minor(4_000));
    p.settle_refund(&r("3"), RefundStatus::Failed, t(6));
    assert_eq!(
        p.refundable(),
        Minor(4_000),
        "a failed credit gives its amount back"
    );
    // A settled refund never changes again.
    p.settle_refund(&r("3"), RefundStatus::Succeeded, t(6));
    assert_eq!(p.refund(&r("3")).unwrap().status, RefundStatus::Failed);
    p.begin_refund(&r("4"), Some(Minor(4_000)), None, t(7))
        .unwrap();
    p.settle_refund(&r("4"), RefundStatus::Succeeded, t(8));
    assert_eq!(
        (p.refund_status(), p.refunded()),
        ("refunded", Minor(10_000))
    );
    assert_eq!(
        p.begin_refund(&r("5"), None, None, t(9)).unwrap_err().code,
        ErrorCode::RefundExceedsPayment
    );
}

#[test]
fn only_real_succeeded_payments_refund() {
    let r = RefundId::for_key(&client("a"), "k");
    let mut p = session();
    assert_eq!(
        p.begin_refund(&r, Some(Minor(1)), None, t(1))
            .unwrap_err()
            .code,
        ErrorCode::InvalidState
    );
    p.cancel(CancelledBy::Pos, t(2)).unwrap();
    assert_eq!(
        p.begin_refund(&r, Some(Minor(1)), None, t(3))
            .unwrap_err()
            .code,
        ErrorCode::InvalidState
    );
    let mut simulated = session();
    simulated.succeed_simulated(t(1));
    assert_eq!(
        simulated
            .begin_refund(&r, None, None, t(2))
            .unwrap_err()
            .code,
        ErrorCode::InvalidState
    );
}

#[test]
fn channels_are_validated() {
    assert_eq!(Channel::parse("qr"), Ok(Channel::Qr));
    assert_eq!(Channel::parse("nfc"), Ok(Channel::Nfc));
    assert!(Channel::parse("card").is_err());
}

// ---- The machine: EPM ----------------------------------------------------------------------

#[test]
fn issuing_a_grant_twice_is_refused() {
    let t1 = run(
        None,
        Request::IssueEpm {
            id: id(EPM_ID),
            payer: payer(),
            expires_at: t(30),
            max_amount: None,
        },
        0,
    );
    assert_eq!(t1.reply, Some(Ok(Answer::Done)));
    assert_eq!(t1.state.as_ref().unwrap().status, Status::Issued);
    assert!(t1.effects.is_empty());
    let t2 = run(
        t1.state,
        Request::IssueEpm {
            id: id(EPM_ID),
            payer: payer(),
            expires_at: t(30),
            max_amount: None,
        },
        1,
    );
    assert_eq!(problem_code(&t2.reply), Some(ErrorCode::InternalError));
}

#[test]
fn an_unknown_qr_is_refused_and_frees_the_reference() {
    let t = scan(None, order("a", "R1", 1_000), 1);
    assert_eq!(problem_code(&t.reply), Some(ErrorCode::InvalidQr));
    assert_eq!(kinds(&t), vec!["release"]);
    assert!(t.state.is_none());
}

#[test]
fn a_scan_persists_processing_then_asks_for_one_debit() {
    let t = scan(Some(grant()), order("a", "R1", 12_500), 5);
    assert_eq!(t.reply, None, "the answer waits for CYNOD");
    let p = t.state.clone().unwrap();
    assert_eq!(p.status, Status::Processing);
    assert_eq!(
        p.resolve.unwrap().at,
        super::fixtures::t(5).plus_ms(SAFETY_MS)
    );
    let CynodCall::Debit(movement) = the_call(&t) else {
        panic!("a debit")
    };
    assert_eq!(movement.amount, Minor(12_500));
    assert_eq!(movement.card_number, "7019800100009569");
    assert_eq!(movement.reference, format!("epm:{EPM_ID}:1"));
    assert_eq!(movement.label, "Merchant R1");
    assert_eq!(wake_at(&p), Some(super::fixtures::t(5).plus_ms(SAFETY_MS)));
}

#[test]
fn an_applied_debit_succeeds_and_records_its_movement() {
    let (p, call) = scanned_epm(12_500);
    let t = answer(Some(p), call, CynodOutcome::Applied, 6);
    let p = t.state.clone().unwrap();
    assert_eq!(p.status, Status::Succeeded);
    assert_eq!(p.receipt.as_ref().unwrap().confirmation_code, "HHHHHHHH");
    let Some(Ok(Answer::Payment(view))) = &t.reply else {
        panic!("the POS's view: {:?}", t.reply)
    };
    assert_eq!(view.confirmation_code.as_deref(), Some("HHHHHHHH"));
    assert_eq!(view.card_last4.as_deref(), Some("9569"));
    // EPM: a ledger row, no published status, no webhook.
    assert_eq!(kinds(&t), vec!["transaction"]);
    assert_eq!(wake_at(&p), None, "nothing left to wake for");
    // The same sale scanned again is answered from the receipt.
    let replay = scan(Some(p.clone()), order("a", "R1", 12_500), 60);
    assert_eq!(replay.reply, Some(Ok(Answer::Payment(view.clone()))));
    assert!(replay.effects.is_empty() && !replay.changed_from(&Some(p)));
}

#[test]
fn a_refused_debit_moves_nothing_and_frees_the_reference() {
    let (p, call) = scanned_epm(900_000);
    let t = answer(
        Some(p),
        call,
        CynodOutcome::Refused(problem(ErrorCode::InsufficientFunds)),
        6,
    );
    assert_eq!(problem_code(&t.reply), Some(ErrorCode::InsufficientFunds));
    let p = t.state.clone().unwrap();
    assert_eq!(
        (p.status, p.failure_reason.as_deref()),
        (Status::Failed, Some("insufficient_funds"))
    );
    assert_eq!(kinds(&t), vec!["release"]);
    // The same QR scanned again: refused, and the newcomer's reference is freed.
    let again = scan(Some(p), order("a", "R1", 1_000), 7);
    assert_eq!(problem_code(&again.reply), Some(ErrorCode::QrAlreadyUsed));
    assert_eq!(kinds(&again), vec!["release"]);
}

#[test]
fn a_fenced_debit_says_nothing_moved() {
    let (p, call) = scanned_epm(1_000);
    let t = answer(
        Some(p),
        call,
        CynodOutcome::NotApplied(problem(ErrorCode::UpstreamTimeout)),
        6,
    );
    let Some(Err(p)) = &t.reply else { panic!() };
    assert_eq!(p.code, ErrorCode::UpstreamTimeout);
    assert!(p.detail.ends_with("Aucun débit n'a été effectué."));
    assert_eq!(kinds(&t), vec!["release"]);
}

/// A debit whose answer was lost: unresolved, then resolved by the alarm.
fn unresolved_epm() -> Payment {
    let (p, call) = scanned_epm(1_000);
    let t = answer(
        Some(p),
        call,
        CynodOutcome::Unknown(problem(ErrorCode::UpstreamTimeout)),
        6,
    );
    let Some(Err(problem)) = &t.reply else {
        panic!()
    };
    assert!(
        problem.detail.contains("pos_reference=R1"),
        "{}",
        problem.detail
    );
    assert!(
        t.effects.is_empty(),
        "the reference stays held: {:?}",
        t.effects
    );
    let p = t.state.unwrap();
    assert_eq!(p.status, Status::Unresolved);
    assert_eq!(
        wake_at(&p),
        Some(super::fixtures::t(6).plus_ms(RESOLVE_FIRST_DELAY_MS))
    );
    p
}

#[test]
fn an_unknown_debit_outcome_resolved_found_succeeds() {
    let p = unresolved_epm();
    assert!(wake(Some(p.clone()), 10).effects.is_empty(), "not due yet");
    let woken = wake(Some(p), 11);
    let call = the_call(&woken);
    assert_eq!(
        call,
        CynodCall::ResolveDebit {
            reference: format!("epm:{EPM_ID}:1")
        }
    );
    let t = answer(woken.state, call, CynodOutcome::Applied, 12);
    assert_eq!(kinds(&t), vec!["transaction"]);
    assert_eq!(t.state.unwrap().status, Status::Succeeded);
}

#[test]
fn an_unknown_debit_outcome_resolved_not_found_or_fenced_moves_nothing() {
    let p = unresolved_epm();
    let woken = wake(Some(p), 11);
    let call = the_call(&woken);
    let t = answer(
        woken.state,
        call,
        CynodOutcome::NotApplied(problem(ErrorCode::UpstreamTimeout)),
        12,
    );
    assert_eq!(kinds(&t), vec!["release"]);
    let p = t.state.unwrap();
    assert_eq!(
        (p.status, p.failure_reason.as_deref()),
        (Status::Failed, Some("upstream_unavailable"))
    );
}

#[test]
fn an_outcome_still_unknown_is_asked_again_later_and_later() {
    let mut p = unresolved_epm();
    let mut delays = Vec::new();
    let mut now = 11;
    for _ in 0..8 {
        let woken = wake(Some(p), now);
        let call = the_call(&woken);
        let t = answer(
            woken.state,
            call,
            CynodOutcome::Unknown(problem(ErrorCode::UpstreamTimeout)),
            now,
        );
        p = t.state.unwrap();
        assert_eq!(p.status, Status::Unresolved);
        let resolve = p.resolve.unwrap();
        delays.push(resolve.delay_ms);
        now = (resolve.at.0 - super::fixtures::t(0).0) / 1000 + 1;
    }
    assert_eq!(
        delays,
        vec![10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]
    );
}

#[test]
fn an_outcome_no_look_up_can_settle_waits_for_an_operator() {
    let (p, call) = scanned_epm(1_000);
    let t1 = answer(
        Some(p),
        call,
        CynodOutcome::Unknown(problem(ErrorCode::OutcomeUnknown)),
        6,
    );
    assert_eq!(problem_code(&t1.reply), Some(ErrorCode::OutcomeUnknown));
    let p = t1.state.unwrap();
    assert!(p.awaiting_operator && p.status == Status::Unresolved);
    assert_eq!(wake_at(&p), None, "no blind retries");
    assert!(wake(Some(p.clone()), 3_600).effects.is_empty());
    let view = PaymentView::of(&p).unwrap();
    assert_eq!(view.awaiting_operator, Some(format!("epm:{EPM_ID}:1")));
    // The operator checked CYNOD: it did move.
    let settle = |applied| Request::Settle {
        refund_id: None,
        applied,
    };
    let done = run(Some(p.clone()), settle(true), 7_200);
    assert!(
        matches!(&done.reply, Some(Ok(Answer::Payment(v))) if v.status == Status::Succeeded && v.awaiting_operator.is_none())
    );
    assert_eq!(kinds(&done), vec!["transaction"]);
    // It did not: nothing moved, the sale's reference is free.
    let undone = run(Some(p), settle(false), 7_200);
    assert_eq!(undone.state.as_ref().unwrap().status, Status::Failed);
    assert_eq!(kinds(&undone), vec!["release"]);
    // Nothing else can be settled.
    let again = run(done.state, settle(false), 7_300);
    assert_eq!(problem_code(&again.reply), Some(ErrorCode::InvalidState));
}

#[test]
fn a_refund_no_look_up_can_settle_waits_for_an_operator() {
    let (p, call) = refund_in_flight(4_000);
    let t1 = answer(
        Some(p),
        call,
        CynodOutcome::Unknown(problem(ErrorCode::OutcomeUnknown)),
        21,
    );
    let p = t1.state.unwrap();
    assert!(p.refunds[0].awaiting_operator && p.awaits_operator());
    assert_eq!(wake_at(&p), None);
    let id = p.refunds[0].refund_id.clone();
    let settled = run(
        Some(p),
        Request::Settle {
            refund_id: Some(id),
            applied: true,
        },
        60,
    );
    let p = settled.state.clone().unwrap();
    assert_eq!(p.refunds[0].status, RefundStatus::Succeeded);
    assert!(!p.awaits_operator());
    assert_eq!(kinds(&settled), vec!["transaction", "webhook"]);
}

#[test]
fn an_isolate_dying_mid_call_is_covered_by_the_safety_net() {
    let (p, _call) = scanned_epm(1_000);
    assert!(wake(Some(p.clone()), 34).effects.is_empty());
    let woken = wake(Some(p), 36);
    assert_eq!(woken.state.as_ref().unwrap().status, Status::Unresolved);
    assert!(matches!(the_call(&woken), CynodCall::ResolveDebit { .. }));
}

#[test]
fn a_late_answer_never_changes_a_settled_payment() {
    let p = succeeded_epm(1_000);
    let stale = CynodCall::ResolveDebit {
        reference: format!("epm:{EPM_ID}:1"),
    };
    let t = answer(
        Some(p.clone()),
        stale,
        CynodOutcome::NotApplied(problem(ErrorCode::UpstreamTimeout)),
        40,
    );
    assert!(!t.changed_from(&Some(p)) && t.effects.is_empty());
}

#[test]
fn the_employees_limit_is_enforced_at_scan() {
    let grant = Payment::issue_epm(id(EPM_ID), payer(), t(0), t(30), Some(Minor(5_000)));
    let t = scan(Some(grant), order("a", "R1", 5_001), 1);
    assert_eq!(problem_code(&t.reply), Some(ErrorCode::AmountAboveQrLimit));
    assert_eq!(kinds(&t), vec!["release"]);
    assert_eq!(t.state.unwrap().status, Status::Issued);
}

#[test]
fn a_qr_in_use_by_another_sale_frees_only_the_newcomers_reference() {
    let (p, _) = scanned_epm(1_000);
    let other = scan(Some(p.clone()), order("b", "R9", 1_000), 5);
    assert_eq!(problem_code(&other.reply), Some(ErrorCode::QrAlreadyUsed));
    assert_eq!(kinds(&other), vec!["release"]);
    let same = scan(Some(p), order("a", "R1", 1_000), 5);
    assert_eq!(
        problem_code(&same.reply),
        Some(ErrorCode::IdempotencyKeyInProgress)
    );
    assert!(
        same.effects.is_empty(),
        "the sale in flight keeps its reference"
    );
}

// ---- The machine: PPM ----------------------------------------------------------------------

fn initiate(simulation: Option<Scenario>) -> Transition {
    run(
        None,
        Request::Initiate {
            id: id(PPM_ID),
            order: order("a", "S1", 45_000),
            expires_at: t(60),
            simulation,
        },
        0,
    )
}

fn pending() -> Payment {
    initiate(None).state.unwrap()
}

#[test]
fn initiate_publishes_the_new_request_and_a_retry_answers_it_again() {
    let t1 = initiate(None);
    assert_eq!(kinds(&t1), vec!["publish"]);
    let Some(Ok(Answer::Payment(view))) = &t1.reply else {
        panic!()
    };
    assert_eq!(view.status, Status::Pending);
    assert_eq!(wake_at(t1.state.as_ref().unwrap()), Some(t(60)));
    let retry = run(
        t1.state.clone(),
        Request::Initiate {
            id: id(PPM_ID),
            order: order("a", "S1", 45_000),
            expires_at: t(90),
            simulation: None,
        },
        5,
    );
    assert_eq!(retry.reply, t1.reply);
    assert!(retry.effects.is_empty() && !retry.changed_from(&t1.state));
}

#[test]
fn opening_marks_scanned_once() {
    let t1 = run(Some(pending()), Request::Open, 5);
    assert_eq!(t1.state.as_ref().unwrap().status, Status::Scanned);
    assert_eq!(kinds(&t1), vec!["publish"]);
    let Some(Ok(Answer::Wallet(view))) = &t1.reply else {
        panic!()
    };
    assert_eq!((view.pin_attempts_left, view.amount), (3, Minor(45_000)));
    let t2 = run(t1.state, Request::Open, 6);
    assert!(t2.effects.is_empty());
}

#[test]
fn a_confirmed_request_publishes_records_and_announces() {
    let opened = run(Some(pending()), Request::Open, 5).state;
    let t1 = run(opened, Request::Confirm { payer: payer() }, 10);
    assert_eq!(t1.reply, None);
    assert_eq!(kinds(&t1), vec!["debit", "publish"]);
    let call = the_call(&t1);
    let t2 = answer(t1.state, call, CynodOutcome::Applied, 11);
    assert_eq!(kinds(&t2), vec!["publish", "transaction", "webhook"]);
    let (event, body, timeout) = webhook_event(&t2).unwrap();
    assert_eq!(event, "payment.confirmed");
    assert!(body.contains("\"status\":\"succeeded\"") && !timeout);
    let Some(Ok(Answer::Wallet(view))) = &t2.reply else {
        panic!()
    };
    assert_eq!(view.status, Status::Succeeded);
    assert_eq!(wake_at(t2.state.as_ref().unwrap()), None);
}

#[test]
fn a_refused_ppm_debit_fails_with_its_reason() {
    let t1 = run(Some(pending()), Request::Confirm { payer: payer() }, 10);
    let call = the_call(&t1);
    let t2 = answer(
        t1.state,
        call,
        CynodOutcome::Refused(problem(ErrorCode::InsufficientFunds)),
        11,
    );
    let p = t2.state.clone().unwrap();
    assert_eq!(
        (p.status, p.failure_reason.as_deref()),
        (Status::Failed, Some("insufficient_funds"))
    );
    assert_eq!(kinds(&t2), vec!["publish", "webhook"]);
    assert_eq!(webhook_event(&t2).unwrap().0, "payment.failed");
}

#[test]
fn expiry_against_confirm_against_cancel() {
    // The alarm expires it: then a confirm and a cancel are refused.
    let expired = wake(Some(pending()), 60);
    assert_eq!(kinds(&expired), vec!["publish", "webhook"]);
    assert_eq!(webhook_event(&expired).unwrap().0, "payment.expired");
    let late = run(
        expired.state.clone(),
        Request::Confirm { payer: payer() },
        61,
    );
    assert_eq!(problem_code(&late.reply), Some(ErrorCode::InvalidState));
    assert!(late.effects.is_empty());
    let cancel = run(
        expired.state,
        Request::Cancel {
            by: Canceller::Employee,
        },
        61,
    );
    assert_eq!(problem_code(&cancel.reply), Some(ErrorCode::InvalidState));
    // A confirm that arrives after the deadline but before the alarm expires it, and says so.
    let overdue = run(Some(pending()), Request::Confirm { payer: payer() }, 61);
    assert_eq!(problem_code(&overdue.reply), Some(ErrorCode::InvalidState));
    assert_eq!(overdue.state.as_ref().unwrap().status, Status::Expired);
    assert_eq!(kinds(&overdue), vec!["publish", "webhook"]);
    // A confirm in flight is not expired by the alarm.
    let in_flight = run(Some(pending()), Request::Confirm { payer: payer() }, 59);
    let woken = wake(in_flight.state, 61);
    assert_eq!(woken.state.unwrap().status, Status::Processing);
    // Cancel first: confirm and expiry find it cancelled.
    let cancelled = run(
        Some(pending()),
        Request::Cancel {
            by: Canceller::Pos(client("a")),
        },
        5,
    );
    assert_eq!(
        cancelled.state.as_ref().unwrap().cancelled_by,
        Some(CancelledBy::Pos)
    );
    assert_eq!(webhook_event(&cancelled).unwrap().0, "payment.cancelled");
    assert!(wake(cancelled.state.clone(), 61).effects.is_empty());
    let again = run(
        cancelled.state,
        Request::Cancel {
            by: Canceller::Pos(client("a")),
        },
        6,
    );
    assert!(matches!(again.reply, Some(Ok(_))) && again.effects.is_empty());
}

#[test]
fn only_the_owner_cancels_or_looks_up() {
    let stranger = client("b");
    let t1 = run(
        Some(pending()),
        Request::Cancel {
            by: Canceller::Pos(stranger.clone()),
        },
        5,
    );
    assert_eq!(problem_code(&t1.reply), Some(ErrorCode::NotFound));
    assert_eq!(t1.state.unwrap().status, Status::Pending);
    let get = run(
        Some(pending()),
        Request::Get {
            client: stranger.clone(),
        },
        5,
    );
    assert_eq!(problem_code(&get.reply), Some(ErrorCode::NotFound));
    let poll = run(Some(pending()), Request::Poll { client: stranger }, 5);
    assert_eq!(problem_code(&poll.reply), Some(ErrorCode::NotFound));
    let mine = run(
        Some(pending()),
        Request::Get {
            client: client("a"),
        },
        5,
    );
    assert!(matches!(mine.reply, Some(Ok(Answer::Payment(_)))));
}

#[test]
fn a_poll_applies_an_overdue_expiry() {
    let t1 = run(
        Some(pending()),
        Request::Poll {
            client: client("a"),
        },
        61,
    );
    let Some(Ok(Answer::Payment(view))) = &t1.reply else {
        panic!()
    };
    assert_eq!(view.status, Status::Expired);
    assert_eq!(kinds(&t1), vec!["publish", "webhook"]);
    // Polls are for PPM requests only.
    let epm = run(
        Some(succeeded_epm(1_000)),
        Request::Poll {
            client: client("a"),
        },
        61,
    );
    assert_eq!(problem_code(&epm.reply), Some(ErrorCode::NotFound));
    assert_eq!(
        problem_code(&run(None, Request::Open, 1).reply),
        Some(ErrorCode::NotFound)
    );
}

#[test]
fn wrong_pins_then_failure_then_nothing() {
    let mut state = Some(pending());
    for left in [2, 1] {
        let t1 = run(state, Request::PinFailed, 5);
        let Some(Ok(Answer::Wallet(view))) = &t1.reply else {
            panic!()
        };
        assert_eq!(view.pin_attempts_left, left);
        assert!(t1.effects.is_empty(), "the POS's view did not change");
        state = t1.state;
    }
    let third = run(state, Request::PinFailed, 6);
    assert_eq!(third.state.as_ref().unwrap().status, Status::Failed);
    assert_eq!(webhook_event(&third).unwrap().0, "payment.failed");
    let fourth = run(third.state, Request::PinFailed, 7);
    assert_eq!(problem_code(&fourth.reply), Some(ErrorCode::InvalidState));
}

#[test]
fn an_unusable_card_fails_the_request() {
    let t1 = run(
        Some(pending()),
        Request::Fail {
            reason: "card_expired".into(),
        },
        5,
    );
    let p = t1.state.unwrap();
    assert_eq!(
        (p.status, p.failure_reason.as_deref()),
        (Status::Failed, Some("card_expired"))
    );
}

// ---- Refunds ---------------------------------------------------------------------------------

fn refund_request(key: &str, amount: Option<i64>) -> Request {
    Request::Refund {
        client: client("a"),
        refund_id: RefundId::for_key(&client("a"), key),
        amount: amount.map(Minor),
        reason: None,
    }
}

fn refund_in_flight(amount: i64) -> (Payment, CynodCall) {
    let t1 = run(
        Some(succeeded_epm(10_000)),
        refund_request("k1", Some(amount)),
        20,
    );
    assert_eq!(t1.reply, None);
    let p = t1.state.clone().unwrap();
    assert_eq!(p.refunds[0].status, RefundStatus::Pending);
    (p, the_call(&t1))
}

#[test]
fn refund_reserved_then_settled() {
    let (p, call) = refund_in_flight(4_000);
    let CynodCall::Credit { movement, .. } = &call else {
        panic!()
    };
    assert_eq!(
        (movement.amount, movement.label.as_str()),
        (Minor(4_000), "Remboursement Merchant R1")
    );
    let t1 = answer(Some(p), call, CynodOutcome::Applied, 21);
    assert_eq!(kinds(&t1), vec!["transaction", "webhook"]);
    assert_eq!(webhook_event(&t1).unwrap().0, "payment.refunded");
    let Some(Ok(Answer::Refund { refund, payment })) = &t1.reply else {
        panic!()
    };
    assert_eq!(
        (refund.status, payment.refunded),
        (RefundStatus::Succeeded, Minor(4_000))
    );
    // The same refund asked again: its state, and no second credit.
    let again = run(t1.state, refund_request("k1", Some(4_000)), 22);
    assert!(matches!(again.reply, Some(Ok(Answer::Refund { .. }))));
    assert!(again.effects.is_empty());
}

#[test]
fn refund_refused_or_fenced_gives_the_amount_back() {
    for outcome in [
        CynodOutcome::Refused(problem(ErrorCode::CardBlocked)),
        CynodOutcome::NotApplied(problem(ErrorCode::UpstreamTimeout)),
    ] {
        let (p, call) = refund_in_flight(4_000);
        let t1 = answer(Some(p), call, outcome, 21);
        assert!(matches!(t1.reply, Some(Err(_))));
        let p = t1.state.unwrap();
        assert_eq!(p.refunds[0].status, RefundStatus::Failed);
        assert_eq!(p.refundable(), Minor(10_000));
        assert!(t1.effects.is_empty());
    }
}

#[test]
fn refund_unknown_stays_reserved_until_resolved() {
    let (p, call) = refund_in_flight(4_000);
    let t1 = answer(
        Some(p),
        call,
        CynodOutcome::Unknown(problem(ErrorCode::UpstreamTimeout)),
        21,
    );
    // Not an error the POS would retry blindly: the refund is pending, and says so.
    let Some(Ok(Answer::Refund { refund, .. })) = &t1.reply else {
        panic!("a pending refund: {:?}", t1.reply)
    };
    assert_eq!(refund.status, RefundStatus::Pending);
    let p = t1.state.unwrap();
    assert_eq!(p.refunds[0].status, RefundStatus::Pending);
    // Asked again with the same key while unknown: the same pending refund, no second credit.
    let again = run(Some(p.clone()), refund_request("k1", Some(4_000)), 22);
    assert!(
        matches!(&again.reply, Some(Ok(Answer::Refund { refund, .. })) if refund.status == RefundStatus::Pending)
    );
    assert!(again.effects.is_empty());
    assert_eq!(p.refundable(), Minor(6_000), "still reserved");
    assert_eq!(wake_at(&p), Some(t(21).plus_ms(RESOLVE_FIRST_DELAY_MS)));
    let woken = wake(Some(p), 27);
    let call = the_call(&woken);
    assert!(matches!(call, CynodCall::ResolveCredit { .. }));
    let t2 = answer(woken.state, call, CynodOutcome::Applied, 28);
    assert_eq!(kinds(&t2), vec!["transaction", "webhook"]);
    assert_eq!(t2.state.unwrap().refunds[0].status, RefundStatus::Succeeded);
}

#[test]
fn refunds_are_for_the_owner_of_a_payment() {
    let t1 = run(
        Some(succeeded_epm(10_000)),
        Request::Refund {
            client: client("b"),
            refund_id: RefundId::for_key(&client("b"), "k"),
            amount: None,
            reason: None,
        },
        20,
    );
    assert_eq!(problem_code(&t1.reply), Some(ErrorCode::NotFound));
    assert_eq!(
        problem_code(&run(None, refund_request("k", None), 1).reply),
        Some(ErrorCode::NotFound)
    );
}

#[test]
fn a_ppm_refund_republishes_the_refunded_amount() {
    let t1 = run(Some(pending()), Request::Confirm { payer: payer() }, 10);
    let call = the_call(&t1);
    let confirmed = answer(t1.state, call, CynodOutcome::Applied, 11).state;
    let t2 = run(confirmed, refund_request("k", None), 20);
    let call = the_call(&t2);
    let t3 = answer(t2.state, call, CynodOutcome::Applied, 21);
    assert_eq!(kinds(&t3), vec!["publish", "transaction", "webhook"]);
}

// ---- Sandbox ---------------------------------------------------------------------------------

fn play(scenario: Scenario) -> (Payment, Vec<Transition>) {
    let first = initiate(Some(scenario));
    let mut state = first.state.clone().unwrap();
    let mut steps = Vec::new();
    while let Some(at) = wake_at(&state) {
        let now_ms = at.0 - t(0).0;
        let step = handle(Some(state), Command::Wake, &at_ms(now_ms));
        state = step.state.clone().unwrap();
        steps.push(step);
        assert!(now_ms <= 60_000, "a simulation ends");
        if state.status.is_final() {
            break;
        }
    }
    (state, steps)
}

#[test]
fn simulated_requests_play_themselves_out() {
    let (p, steps) = play(Scenario::Success);
    assert_eq!(p.status, Status::Succeeded);
    assert_eq!(p.receipt.unwrap().confirmation_code, "SANDBOX01");
    let all: Vec<_> = steps.iter().flat_map(kinds).collect();
    assert_eq!(all, vec!["publish", "publish", "webhook"], "no ledger row");
    let (p, _) = play(Scenario::PinFailure);
    assert_eq!(
        (p.status, p.failure_reason.as_deref()),
        (Status::Failed, Some("pin_attempts_exceeded"))
    );
    let (p, _) = play(Scenario::Cancelled);
    assert_eq!(
        (p.status, p.cancelled_by),
        (Status::Cancelled, Some(CancelledBy::Employee))
    );
    let (_, steps) = play(Scenario::WebhookTimeout);
    assert!(
        steps.iter().find_map(webhook_event).unwrap().2,
        "simulated timeout"
    );
    // The seed's refusals, as a real request ends: failed with the reason, or expired.
    for (scenario, status, reason) in [
        (
            Scenario::InsufficientFunds,
            Status::Failed,
            "insufficient_funds",
        ),
        (
            Scenario::UpstreamTimeout,
            Status::Failed,
            "upstream_unavailable",
        ),
        (Scenario::ExpiredToken, Status::Expired, "expired"),
    ] {
        let (p, steps) = play(scenario);
        assert_eq!(
            (p.status, p.failure_reason.as_deref()),
            (status, Some(reason))
        );
        assert!(steps.iter().all(|s| !kinds(s).contains(&"transaction")));
    }
}

#[test]
fn sandbox_helpers_drive_the_clients_own_request() {
    let drive = |state, action, who: &str| {
        run(
            state,
            Request::Drive {
                client: client(who),
                action,
                reason: None,
            },
            5,
        )
    };
    assert_eq!(
        problem_code(&drive(Some(pending()), DriveAction::Confirm, "b").reply),
        Some(ErrorCode::NotFound)
    );
    let confirmed = drive(Some(pending()), DriveAction::Confirm, "a");
    assert_eq!(kinds(&confirmed), vec!["publish", "webhook"]);
    assert_eq!(
        problem_code(&drive(confirmed.state, DriveAction::Confirm, "a").reply),
        Some(ErrorCode::InvalidState)
    );
    let scanned = drive(Some(pending()), DriveAction::Scan, "a");
    assert_eq!(scanned.state.unwrap().status, Status::Scanned);
    let failed = drive(Some(pending()), DriveAction::Fail, "a");
    assert_eq!(
        failed.state.unwrap().failure_reason.as_deref(),
        Some("declined")
    );
    let cancelled = drive(Some(pending()), DriveAction::Cancel, "a");
    assert_eq!(
        cancelled.state.unwrap().cancelled_by,
        Some(CancelledBy::Employee)
    );
}

#[test]
fn every_final_state_records_its_outcome_once() {
    let outcomes = |t: &Transition| -> Vec<(String, Option<String>)> {
        t.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Outcome(row) => Some((row.status.clone(), row.reason.clone())),
                _ => None,
            })
            .collect()
    };
    let (p, call) = scanned_epm(1_000);
    let paid = answer(Some(p), call, CynodOutcome::Applied, 6);
    assert_eq!(outcomes(&paid), vec![("succeeded".into(), None)]);
    let replay = scan(paid.state, order("a", "R1", 1_000), 7);
    assert!(outcomes(&replay).is_empty(), "once");
    let (p, call) = scanned_epm(1_000);
    let refused = answer(
        Some(p),
        call,
        CynodOutcome::Refused(problem(ErrorCode::InsufficientFunds)),
        6,
    );
    assert_eq!(
        outcomes(&refused),
        vec![("failed".into(), Some("insufficient_funds".into()))]
    );
    let expired = wake(Some(pending()), 60);
    assert_eq!(
        outcomes(&expired),
        vec![("expired".into(), Some("expired".into()))]
    );
    assert!(
        outcomes(&wake(Some(pending()), 30)).is_empty(),
        "not final yet"
    );
}

#[test]
fn views_never_carry_the_card_number_or_wallet() {
    let p = succeeded_epm(1_000);
    let view = serde_json::to_string(&PaymentView::of(&p).unwrap()).unwrap();
    assert!(!view.contains("7019800100009569") && !view.contains("+21620000001"));
}

#[test]
fn a_fresh_unused_qr_presents_its_card_and_changes_nothing() {
    let t1 = run(Some(grant()), Request::Presented, 5);
    assert_eq!(t1.reply, Some(Ok(Answer::Presented(payer()))));
    assert_eq!(t1.state, Some(grant()), "a read changes nothing");
    assert!(t1.effects.is_empty(), "{:?}", t1.effects);
    // Within the skew tolerance, then past it.
    assert!(matches!(
        run(Some(grant()), Request::Presented, 32).reply,
        Some(Ok(Answer::Presented(_)))
    ));
    let late = handle(
        Some(grant()),
        Command::Request(Request::Presented),
        &at_ms(32_001),
    );
    assert_eq!(problem_code(&late.reply), Some(ErrorCode::QrExpired));
    // Used (in flight, paid), unknown, or a PPM request: nothing is presented.
    let (in_flight, _) = scanned_epm(1_000);
    for state in [Some(in_flight), Some(succeeded_epm(1_000))] {
        let t = run(state.clone(), Request::Presented, 10);
        assert_eq!(problem_code(&t.reply), Some(ErrorCode::QrAlreadyUsed));
        assert_eq!(t.state, state);
    }
    for state in [None, Some(session())] {
        let t = run(state.clone(), Request::Presented, 10);
        assert_eq!(problem_code(&t.reply), Some(ErrorCode::InvalidQr));
        assert_eq!(t.state, state);
        assert!(t.effects.is_empty());
    }
}
