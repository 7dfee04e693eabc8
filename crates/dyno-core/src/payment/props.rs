//! Property tests of the machine over random command sequences and interleavings, against a model
//! of CYNOD that knows what really moved: money is never lost or doubled, refunds never exceed what
//! was paid, terminal statuses never change.

use proptest::prelude::*;

use super::fixtures::*;
use super::machine::*;
use super::*;
use crate::ids::RefundId;

/// One step a test drives: a request, the answer of one of the CYNOD calls in flight (possibly a
/// duplicate, late answer), or the alarm.
#[derive(Debug, Clone)]
enum Action {
    Scan {
        client: u8,
        reference: u8,
        amount: i64,
    },
    Open,
    Confirm,
    PinFailed,
    Cancel {
        by_pos: bool,
    },
    Refund {
        key: u8,
        amount: Option<i64>,
    },
    Answer {
        which: usize,
        verdict: Verdict,
    },
    /// Delivers an answer a second time, as a duplicate or late delivery would (CYNOD does not
    /// execute anything again).
    AnswerAgain {
        which: usize,
    },
    Wake,
    Advance {
        ms: i64,
    },
}

/// What CYNOD does with a movement: whether money really moves, and what the gateway hears.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// Money moves; the gateway hears it applied.
    Applied,
    /// Refused for funds or card: nothing moves.
    Refused,
    /// Money moves, but the answer is lost.
    LostApplied,
    /// Nothing moves, and the answer is lost.
    LostNotApplied,
}

fn action() -> impl Strategy<Value = Action> {
    let verdict = prop_oneof![
        Just(Verdict::Applied),
        Just(Verdict::Refused),
        Just(Verdict::LostApplied),
        Just(Verdict::LostNotApplied),
    ];
    prop_oneof![
        (0u8..2, 0u8..2, 1i64..20_000).prop_map(|(client, reference, amount)| Action::Scan {
            client,
            reference,
            amount
        }),
        Just(Action::Open),
        Just(Action::Confirm),
        Just(Action::PinFailed),
        any::<bool>().prop_map(|by_pos| Action::Cancel { by_pos }),
        (0u8..3, prop::option::of(1i64..30_000))
            .prop_map(|(key, amount)| Action::Refund { key, amount }),
        (0usize..4, verdict.clone()).prop_map(|(which, verdict)| Action::Answer { which, verdict }),
        (0usize..4).prop_map(|which| Action::AnswerAgain { which }),
        Just(Action::Wake),
        (1i64..40_000).prop_map(|ms| Action::Advance { ms }),
    ]
}

/// CYNOD as it really is: each reference moves money at most once, and once a lost answer has been
/// looked up (fenced), a reference that had not moved never will.
#[derive(Default)]
struct Cynod {
    moved: std::collections::BTreeMap<String, i64>,
    fenced: std::collections::BTreeSet<String>,
}

impl Cynod {
    fn reference_of(call: &CynodCall) -> String {
        match call {
            CynodCall::Debit(m) | CynodCall::Credit { movement: m, .. } => m.reference.clone(),
            CynodCall::ResolveDebit { reference } | CynodCall::ResolveCredit { reference, .. } => {
                reference.clone()
            }
        }
    }

    fn answer(&mut self, call: &CynodCall, verdict: Verdict) -> CynodOutcome {
        let reference = Self::reference_of(call);
        let cause = || Problem::new(ErrorCode::UpstreamTimeout, "lost");
        match call {
            CynodCall::Debit(m) | CynodCall::Credit { movement: m, .. } => {
                if self.moved.contains_key(&reference) || self.fenced.contains(&reference) {
                    // A movement is never applied twice under one reference.
                    return CynodOutcome::Refused(Problem::new(
                        ErrorCode::ReferenceAlreadyUsed,
                        "déjà utilisée",
                    ));
                }
                match verdict {
                    Verdict::Applied => {
                        self.moved.insert(reference, m.amount.get());
                        CynodOutcome::Applied
                    }
                    Verdict::LostApplied => {
                        self.moved.insert(reference, m.amount.get());
                        CynodOutcome::Unknown(cause())
                    }
                    Verdict::Refused => {
                        CynodOutcome::Refused(Problem::new(ErrorCode::InsufficientFunds, "solde"))
                    }
                    Verdict::LostNotApplied => CynodOutcome::Unknown(cause()),
                }
            }
            // A look-up tells the truth, or is itself lost.
            CynodCall::ResolveDebit { .. } | CynodCall::ResolveCredit { .. } => match verdict {
                Verdict::LostApplied | Verdict::LostNotApplied => CynodOutcome::Unknown(cause()),
                _ if self.moved.contains_key(&reference) => CynodOutcome::Applied,
                _ => {
                    self.fenced.insert(reference);
                    CynodOutcome::NotApplied(cause())
                }
            },
        }
    }

    fn debited(&self) -> i64 {
        self.moved
            .iter()
            .filter(|(r, _)| !r.starts_with("refund:"))
            .map(|(_, a)| a)
            .sum()
    }

    fn credited(&self) -> i64 {
        self.moved
            .iter()
            .filter(|(r, _)| r.starts_with("refund:"))
            .map(|(_, a)| a)
            .sum()
    }
}

struct World {
    state: Option<Payment>,
    now_ms: i64,
    cynod: Cynod,
    /// Calls asked for and not yet answered, and calls already answered (for duplicates).
    in_flight: Vec<CynodCall>,
    answered: Vec<(CynodCall, CynodOutcome)>,
    debit_calls: usize,
}

impl World {
    fn new(initial: Payment) -> Self {
        Self {
            state: Some(initial),
            now_ms: 1_000,
            cynod: Cynod::default(),
            in_flight: Vec::new(),
            answered: Vec::new(),
            debit_calls: 0,
        }
    }

    fn apply(&mut self, command: Command) {
        let before = self.state.clone();
        let t = handle(
            self.state.clone(),
            command,
            &Ctx {
                now: Millis(t(0).0 + self.now_ms),
                entropy: [3; 32],
            },
        );
        for effect in &t.effects {
            if let Effect::Cynod(call) = effect {
                if matches!(call, CynodCall::Debit(_)) {
                    self.debit_calls += 1;
                }
                self.in_flight.push(call.clone());
            }
        }
        // Terminal statuses never change.
        if let (Some(b), Some(a)) = (&before, &t.state) {
            if b.status.is_final() {
                assert_eq!(a.status, b.status, "a terminal status changed");
                assert_eq!(a.receipt, b.receipt);
            }
        }
        self.state = t.state;
    }

    fn step(&mut self, action: Action) {
        let request = |r| Command::Request(r);
        match action {
            Action::Scan {
                client,
                reference,
                amount,
            } => self.apply(request(Request::Scan {
                id: id(EPM_ID),
                order: order(
                    ["a", "b"][client as usize],
                    ["R1", "R2"][reference as usize],
                    amount,
                ),
            })),
            Action::Open => self.apply(request(Request::Open)),
            Action::Confirm => self.apply(request(Request::Confirm { payer: payer() })),
            Action::PinFailed => self.apply(request(Request::PinFailed)),
            Action::Cancel { by_pos } => self.apply(request(Request::Cancel {
                by: if by_pos {
                    Canceller::Pos(client("a"))
                } else {
                    Canceller::Employee
                },
            })),
            Action::Refund { key, amount } => self.apply(request(Request::Refund {
                client: client("a"),
                refund_id: RefundId::for_key(&client("a"), &key.to_string()),
                amount: amount.map(Minor),
                reason: None,
            })),
            Action::Answer { which, verdict } => {
                if !self.in_flight.is_empty() {
                    let call = self.in_flight.remove(which % self.in_flight.len());
                    let outcome = self.cynod.answer(&call, verdict);
                    self.answered.push((call.clone(), outcome.clone()));
                    self.apply(Command::Answered(call, outcome));
                }
            }
            Action::AnswerAgain { which } => {
                if !self.answered.is_empty() {
                    let (call, outcome) = self.answered[which % self.answered.len()].clone();
                    self.apply(Command::Answered(call, outcome));
                }
            }
            Action::Wake => self.apply(Command::Wake),
            Action::Advance { ms } => self.now_ms += ms,
        }
        self.check();
    }

    /// Money is never lost or doubled: what the machine believes matches what CYNOD did, as far
    /// as the machine knows; refunds never exceed what was paid.
    fn check(&self) {
        let Some(p) = &self.state else { return };
        let debited = self.cynod.debited();
        match p.status {
            Status::Succeeded => assert_eq!(debited, p.amount().get(), "a success is one debit"),
            // Nothing settled as failed, expired, cancelled or still open ever moved money…
            Status::Failed
            | Status::Expired
            | Status::Cancelled
            | Status::Pending
            | Status::Scanned => {
                assert_eq!(
                    debited, 0,
                    "money moved for a payment that says it did not: {p:?}"
                )
            }
            // …and an EPM QR back to `Issued` moved nothing for any attempt.
            Status::Issued => assert_eq!(debited, 0),
            // While a debit is in flight or unresolved, at most its one amount.
            Status::Processing | Status::Unresolved => {
                assert!(debited == 0 || debited == p.amount().get())
            }
        }
        let paid = if p.status == Status::Succeeded {
            p.amount().get()
        } else {
            0
        };
        let held: i64 = p
            .refunds
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .map(|r| r.amount.get())
            .sum();
        assert!(held <= paid, "refunds {held} exceed what was paid {paid}");
        assert!(self.cynod.credited() <= paid, "credited more than paid");
        let succeeded: i64 = p
            .refunds
            .iter()
            .filter(|r| r.status == RefundStatus::Succeeded)
            .map(|r| r.amount.get())
            .sum();
        assert!(
            succeeded <= self.cynod.credited(),
            "a refund said succeeded without a credit"
        );
        for r in p
            .refunds
            .iter()
            .filter(|r| r.status == RefundStatus::Failed)
        {
            assert!(
                !self.cynod.moved.contains_key(&r.cynod_reference),
                "a refund said failed although it was credited"
            );
        }
        // At most one debit in flight that could still move money (a fenced one never will).
        let debits_in_flight = self
            .in_flight
            .iter()
            .filter(|c| {
                matches!(c, CynodCall::Debit(_))
                    && !self.cynod.fenced.contains(&Cynod::reference_of(c))
            })
            .count();
        assert!(debits_in_flight <= 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_epm_payment_never_loses_or_doubles_money(actions in prop::collection::vec(action(), 1..60)) {
        let mut world = World::new(Payment::issue_epm(id(EPM_ID), payer(), t(0), t(3_600), None));
        for action in actions {
            world.step(action);
        }
        prop_assert!(world.debit_calls <= 1, "one QR, one debit attempt at most");
        // Whatever happened, the alarm eventually settles every lost answer.
        for _ in 0..40 {
            world.now_ms += RESOLVE_MAX_DELAY_MS + SAFETY_MS;
            world.apply(Command::Wake);
            while let Some(call) = world.in_flight.pop() {
                let outcome = world.cynod.answer(&call, Verdict::Applied);
                world.apply(Command::Answered(call, outcome));
            }
            world.check();
        }
        let p = world.state.unwrap();
        prop_assert!(!matches!(p.status, Status::Processing | Status::Unresolved));
        prop_assert!(p.refunds.iter().all(|r| r.status != RefundStatus::Pending));
    }

    #[test]
    fn a_ppm_request_never_loses_or_doubles_money(actions in prop::collection::vec(action(), 1..60)) {
        let mut world = World::new(Payment::initiate_ppm(
            id(PPM_ID),
            order("a", "S1", 45_000),
            t(0),
            t(60),
        ));
        for action in actions {
            world.step(action);
        }
        prop_assert!(world.debit_calls <= 1, "a PPM request asks for one debit at most");
        for _ in 0..40 {
            world.now_ms += RESOLVE_MAX_DELAY_MS + SAFETY_MS;
            world.apply(Command::Wake);
            while let Some(call) = world.in_flight.pop() {
                let outcome = world.cynod.answer(&call, Verdict::Applied);
                world.apply(Command::Answered(call, outcome));
            }
            world.check();
        }
        let p = world.state.unwrap();
        prop_assert!(p.status.is_final(), "a PPM request always ends: {:?}", p.status);
    }
}
