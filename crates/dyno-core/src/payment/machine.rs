//! The payment machine: `handle(state, command, ctx) -> Transition { state, reply, effects }`.
//! Every change of a payment — a request from the Worker, the answer of a CYNOD call, the alarm —
//! goes through here, and everything it causes is returned as effect values for the Durable Object
//! to persist with the state and then run. Invariants: at most one debit per payment (a debit is
//! only asked for from `Processing`, which is persisted first); refunds never exceed what was paid;
//! terminal statuses never change; a transition's consequences (status published to the gate,
//! ledger row, webhook) are derived from the difference between the old and new state, so no path
//! can forget one.

use serde::{Deserialize, Serialize};

use super::view::{PaymentView, WalletView};
use super::{
    failure_reason, Backoff, CancelledBy, Flow, Order, Payer, Payment, Receipt, Refund,
    RefundStatus, ScanDecision, Status,
};
use crate::ids::{self, ClientId, PaymentId, PosReference, RefundId};
use crate::money::{Currency, Minor};
use crate::problem::{ErrorCode, Problem};
use crate::records::{OutcomeRow, TransactionRow, WebhookJob};
use crate::sandbox::Scenario;
use crate::time::Millis;
use crate::webhook::{event_for, refund_event};

/// Sandbox: time between the steps of a simulated request (pending → scanned → outcome).
pub const SIMULATION_STEP_MS: i64 = 1_500;
/// A CYNOD call still unanswered after this long is treated as lost and resolved by its
/// reference (covers an isolate dying mid-call; CYNOD's own timeout is far shorter).
pub const SAFETY_MS: i64 = 30_000;
/// The first wait before an unresolved movement is looked up again, and the longest.
pub const RESOLVE_FIRST_DELAY_MS: i64 = 5_000;
pub const RESOLVE_MAX_DELAY_MS: i64 = 300_000;

/// What the shell supplies with every command: the time, and fresh random bytes.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub now: Millis,
    pub entropy: [u8; 32],
}

/// Who cancels a PPM request: the POS client that placed it, or the employee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Canceller {
    Pos(ClientId),
    Employee,
}

/// Sandbox helpers: a POS plays the employee's part on its own request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriveAction {
    Scan,
    Confirm,
    Fail,
    Cancel,
}

/// What the Worker asks of a payment (the typed protocol to its Durable Object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// The employee's EPM QR was issued: the card is known, the sale is not.
    IssueEpm {
        id: PaymentId,
        payer: Payer,
        expires_at: Millis,
        max_amount: Option<Minor>,
    },
    /// A POS scanned the QR for this sale: debit once.
    Scan {
        id: PaymentId,
        order: Order,
    },
    /// A POS created a PPM request (a retry of the same request answers what exists).
    Initiate {
        id: PaymentId,
        order: Order,
        expires_at: Millis,
        simulation: Option<Scenario>,
    },
    /// A POS look-up.
    Get {
        client: ClientId,
    },
    /// A POS status poll of a PPM request (its allowance is the shell's).
    Poll {
        client: ClientId,
    },
    /// The employee opened the PPM request: it becomes `scanned`.
    Open,
    /// The employee confirmed with a card whose PIN checked out: debit once.
    Confirm {
        payer: Payer,
    },
    /// A wrong PIN against this request.
    PinFailed,
    /// The employee's card cannot pay (unknown, expired, blocked).
    Fail {
        reason: String,
    },
    Cancel {
        by: Canceller,
    },
    Refund {
        client: ClientId,
        refund_id: RefundId,
        /// `None`: the whole refundable remainder.
        amount: Option<Minor>,
        reason: Option<String>,
    },
    /// Sandbox helper actions on the client's own request.
    Drive {
        client: ClientId,
        action: DriveAction,
        reason: Option<String>,
    },
    /// An operator who checked CYNOD settles a movement whose outcome nobody could learn: the
    /// debit (`refund_id` absent) or a refund.
    Settle {
        refund_id: Option<RefundId>,
        applied: bool,
    },
    /// A POS asks which card the EPM QR in front of it presents (to read its balance or
    /// validity): answered only while the QR is fresh and unused. Read-only.
    Presented,
}

/// A money movement at CYNOD, in the gateway's minor units (the CYNOD client converts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub card_number: String,
    pub amount: Minor,
    pub currency: Currency,
    pub reference: String,
    pub wallet_id: String,
    pub merchant_id: String,
    pub label: String,
}

/// A CYNOD call the shell must make now; its outcome comes back as [`Command::Answered`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CynodCall {
    Debit(Movement),
    Credit {
        refund_id: RefundId,
        movement: Movement,
    },
    /// What became of a debit whose answer was lost (lookup-or-fence by its reference).
    ResolveDebit {
        reference: String,
    },
    ResolveCredit {
        refund_id: RefundId,
        reference: String,
    },
}

/// What CYNOD did with a movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CynodOutcome {
    Applied,
    /// Refused for a business reason (funds, card): nothing moved.
    Refused(Problem),
    /// The answer was lost but the reference is now known not to have moved money (and never will).
    NotApplied(Problem),
    /// Nobody knows yet; ask again later.
    Unknown(Problem),
}

/// Something a transition causes outside the payment's own state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// Call CYNOD now; the reply may wait on it. Never stored: `Processing` and the wake-up time
    /// stand for it if the isolate dies.
    Cynod(CynodCall),
    /// Publish a PPM request's view to its client's gate, where polls read it.
    Publish(PaymentView),
    /// Free a sale's `pos_reference`: this payment moved no money for it and holds nothing.
    Release {
        client: ClientId,
        pos_reference: PosReference,
        payment: PaymentId,
    },
    Webhook(WebhookJob),
    Transaction(TransactionRow),
    /// How the payment ended (successes and failures alike), for the merchant's figures.
    Outcome(OutcomeRow),
}

impl Effect {
    /// Effects that go through the outbox (everything but the inline CYNOD call).
    pub fn is_deferred(&self) -> bool {
        !matches!(self, Effect::Cynod(_))
    }
}

/// What the machine is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Request(Request),
    Answered(CynodCall, CynodOutcome),
    /// The alarm: expire, play the next simulated step, resolve what was lost.
    Wake,
}

/// A successful answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Done,
    Payment(PaymentView),
    Wallet(WalletView),
    Refund {
        refund: Refund,
        payment: PaymentView,
    },
    /// The card a fresh, unused EPM QR presents (server-side only: a POS sees its last digits).
    Presented(Payer),
}

pub type Reply = Result<Answer, Problem>;

/// The result of one command.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub state: Option<Payment>,
    /// `None`: the answer waits on the [`Effect::Cynod`] call in `effects`.
    pub reply: Option<Reply>,
    pub effects: Vec<Effect>,
}

impl Transition {
    pub fn changed_from(&self, before: &Option<Payment>) -> bool {
        &self.state != before
    }
}

/// Runs one command against a payment's state.
pub fn handle(state: Option<Payment>, command: Command, ctx: &Ctx) -> Transition {
    let before = state.clone();
    let mut step = Step {
        state,
        effects: Vec::new(),
        ctx,
    };
    let reply = match command {
        Command::Request(request) => step.request(request),
        Command::Answered(call, outcome) => step.answered(call, outcome),
        Command::Wake => step.wake(),
    };
    let mut effects = step.effects;
    if let Some(after) = &step.state {
        effects.extend(consequences(before.as_ref(), after, ctx.now));
    }
    Transition {
        state: step.state,
        reply,
        effects,
    }
}

/// When the payment next needs its alarm: expiry, the next simulated step, the safety net of a
/// call in flight, or the next look-up of a lost answer.
pub fn wake_at(payment: &Payment) -> Option<Millis> {
    let mut at: Option<Millis> = None;
    let mut consider = |t: Millis| at = Some(at.map_or(t, |a| a.min(t)));
    match payment.status {
        Status::Processing | Status::Unresolved => {
            if let Some(resolve) = payment.resolve {
                consider(resolve.at);
            }
        }
        Status::Pending | Status::Scanned if payment.flow == Flow::Ppm => {
            consider(payment.expires_at);
            if payment.simulation.is_some() {
                consider(payment.updated_at.plus_ms(SIMULATION_STEP_MS));
            }
        }
        _ => {}
    }
    for refund in &payment.refunds {
        if let (RefundStatus::Pending, Some(resolve)) = (refund.status, refund.resolve) {
            consider(resolve.at);
        }
    }
    at
}

struct Step<'a> {
    state: Option<Payment>,
    effects: Vec<Effect>,
    ctx: &'a Ctx,
}

fn not_found(detail: &str) -> Problem {
    Problem::new(ErrorCode::NotFound, detail)
}

fn with_detail(cause: Problem, suffix: &str) -> Problem {
    Problem::new(cause.code, format!("{} {suffix}", cause.detail))
}

fn payment_view(payment: &Payment) -> Reply {
    PaymentView::of(payment)
        .map(Answer::Payment)
        .ok_or_else(|| Problem::new(ErrorCode::InternalError, "paiement sans commande"))
}

fn wallet_view(payment: &Payment) -> Reply {
    WalletView::of(payment)
        .map(Answer::Wallet)
        .ok_or_else(|| Problem::new(ErrorCode::InternalError, "paiement sans commande"))
}

/// The flow's own answer once a debit is decided: the POS's view (EPM scan) or the employee's (PPM).
fn debit_answer(payment: &Payment) -> Reply {
    match payment.flow {
        Flow::Epm => payment_view(payment),
        Flow::Ppm => wallet_view(payment),
    }
}

fn refund_answer(payment: &Payment, refund_id: &RefundId) -> Reply {
    let refund = payment
        .refund(refund_id)
        .cloned()
        .ok_or_else(|| Problem::new(ErrorCode::InternalError, "remboursement perdu"))?;
    let payment = PaymentView::of(payment)
        .ok_or_else(|| Problem::new(ErrorCode::InternalError, "paiement sans commande"))?;
    Ok(Answer::Refund { refund, payment })
}

fn debit_movement(payment: &Payment, reference: String) -> Option<Movement> {
    let (payer, order) = (payment.payer.as_ref()?, payment.order.as_ref()?);
    Some(Movement {
        card_number: payer.card_number.clone(),
        amount: order.amount,
        currency: payment.currency,
        reference,
        wallet_id: payer.wallet_id.clone(),
        merchant_id: order.merchant_id.clone(),
        label: order
            .description
            .clone()
            .unwrap_or_else(|| format!("{} {}", order.merchant_name, order.pos_reference)),
    })
}

fn credit_movement(payment: &Payment, refund: &Refund) -> Option<Movement> {
    let (payer, order) = (payment.payer.as_ref()?, payment.order.as_ref()?);
    Some(Movement {
        card_number: payer.card_number.clone(),
        amount: refund.amount,
        currency: payment.currency,
        reference: refund.cynod_reference.clone(),
        wallet_id: payer.wallet_id.clone(),
        merchant_id: order.merchant_id.clone(),
        label: format!(
            "Remboursement {} {}",
            order.merchant_name, order.pos_reference
        ),
    })
}

impl Step<'_> {
    fn now(&self) -> Millis {
        self.ctx.now
    }

    /// The PPM request, with any overdue expiry applied first.
    fn request_mut(&mut self) -> Result<&mut Payment, Problem> {
        let now = self.now();
        let payment = self
            .state
            .as_mut()
            .filter(|p| p.flow == Flow::Ppm)
            .ok_or_else(|| not_found("Demande de paiement introuvable."))?;
        payment.expire_if_due(now);
        Ok(payment)
    }

    fn request(&mut self, request: Request) -> Option<Reply> {
        let now = self.now();
        Some(match request {
            Request::IssueEpm {
                id,
                payer,
                expires_at,
                max_amount,
            } => {
                if self.state.is_some() {
                    return Some(Err(Problem::new(
                        ErrorCode::InternalError,
                        "nonce déjà utilisé",
                    )));
                }
                self.state = Some(Payment::issue_epm(id, payer, now, expires_at, max_amount));
                Ok(Answer::Done)
            }
            Request::Scan { id, order } => return self.scan(id, order),
            Request::Initiate {
                id,
                order,
                expires_at,
                simulation,
            } => {
                let payment = self.state.get_or_insert_with(|| {
                    let mut payment = Payment::initiate_ppm(id, order, now, expires_at);
                    payment.simulation = simulation;
                    payment
                });
                payment_view(payment)
            }
            Request::Get { client } => match &self.state {
                Some(payment) => payment
                    .order_of(&client)
                    .and_then(|_| payment_view(payment)),
                None => Err(not_found("Paiement introuvable.")),
            },
            Request::Poll { client } => self.request_mut().and_then(|payment| {
                payment.order_of(&client)?;
                payment_view(payment)
            }),
            Request::Open => self.request_mut().and_then(|payment| {
                payment.mark_scanned(now);
                wallet_view(payment)
            }),
            Request::Confirm { payer } => return self.confirm(payer),
            Request::PinFailed => self.request_mut().and_then(|payment| {
                payment.pin_failed(now)?;
                wallet_view(payment)
            }),
            Request::Fail { reason } => self.request_mut().and_then(|payment| {
                payment.fail(&reason, now)?;
                wallet_view(payment)
            }),
            Request::Cancel { by } => self.request_mut().and_then(|payment| {
                let by = match by {
                    Canceller::Pos(client) => {
                        payment.order_of(&client)?;
                        CancelledBy::Pos
                    }
                    Canceller::Employee => CancelledBy::Employee,
                };
                payment.cancel(by, now)?;
                payment_view(payment)
            }),
            Request::Refund {
                client,
                refund_id,
                amount,
                reason,
            } => return self.refund(client, refund_id, amount, reason),
            Request::Settle { refund_id, applied } => return self.settle(refund_id, applied),
            Request::Drive {
                client,
                action,
                reason,
            } => self.request_mut().and_then(|payment| {
                payment.order_of(&client)?;
                match action {
                    DriveAction::Scan => payment.mark_scanned(now),
                    DriveAction::Confirm => {
                        if !payment.open() {
                            return Err(Problem::new(
                                ErrorCode::InvalidState,
                                "La demande n'est plus ouverte.",
                            ));
                        }
                        payment.succeed_simulated(now);
                    }
                    DriveAction::Fail => {
                        payment.fail(reason.as_deref().unwrap_or("declined"), now)?
                    }
                    DriveAction::Cancel => payment.cancel(CancelledBy::Employee, now)?,
                }
                payment_view(payment)
            }),
            Request::Presented => self.presented(),
        })
    }

    /// The grant's card while its QR could still pay: unknown, used and expired QRs present
    /// nothing (the same codes a scan of them would get).
    fn presented(&self) -> Reply {
        let payment = self
            .state
            .as_ref()
            .filter(|p| p.flow == Flow::Epm)
            .ok_or_else(|| {
                Problem::new(
                    ErrorCode::InvalidQr,
                    "QR code inconnu: demandez un nouveau QR code.",
                )
            })?;
        match (payment.status, &payment.payer) {
            (Status::Issued, _)
                if self.now().0 > payment.expires_at.0 + crate::qr::EPM_SKEW_TOLERANCE_MS =>
            {
                Err(Problem::new(
                    ErrorCode::QrExpired,
                    "QR code présenté après 30 secondes: demandez un nouveau QR code.",
                ))
            }
            (Status::Issued, Some(payer)) => Ok(Answer::Presented(payer.clone())),
            (Status::Issued, None) => Err(Problem::new(ErrorCode::InternalError, "QR sans carte")),
            _ => Err(Problem::new(
                ErrorCode::QrAlreadyUsed,
                "Ce QR code a déjà servi à un paiement: il ne présente plus la carte.",
            )),
        }
    }

    fn release(&mut self, id: &PaymentId, order: &Order) {
        self.effects.push(Effect::Release {
            client: order.client_id.clone(),
            pos_reference: order.pos_reference.clone(),
            payment: id.clone(),
        });
    }

    fn scan(&mut self, id: PaymentId, order: Order) -> Option<Reply> {
        let now = self.now();
        let Some(payment) = self.state.as_mut() else {
            self.release(&id, &order);
            return Some(Err(Problem::new(
                ErrorCode::InvalidQr,
                "QR code inconnu: demandez un nouveau QR code.",
            )));
        };
        match payment.begin_scan(order.clone(), now) {
            ScanDecision::Replay => Some(payment_view(payment)),
            ScanDecision::Refuse(problem) => {
                if !payment.keeps_reference_of(&order) {
                    self.release(&id, &order);
                }
                Some(Err(problem))
            }
            ScanDecision::Debit { reference } => self.start_debit(reference),
        }
    }

    fn confirm(&mut self, payer: Payer) -> Option<Reply> {
        let now = self.now();
        let payment = match self.request_mut() {
            Ok(payment) => payment,
            Err(problem) => return Some(Err(problem)),
        };
        match payment.begin_confirm(payer, now) {
            Ok(reference) => self.start_debit(reference),
            Err(problem) => Some(Err(problem)),
        }
    }

    /// The payment is `Processing` under `reference`: arm the safety net and ask for the debit.
    fn start_debit(&mut self, reference: String) -> Option<Reply> {
        let now = self.now();
        let payment = self.state.as_mut()?;
        payment.resolve = Some(Backoff {
            at: now.plus_ms(SAFETY_MS),
            delay_ms: RESOLVE_FIRST_DELAY_MS,
        });
        match debit_movement(payment, reference) {
            Some(movement) => {
                self.effects.push(Effect::Cynod(CynodCall::Debit(movement)));
                None
            }
            None => Some(Err(Problem::new(
                ErrorCode::InternalError,
                "paiement sans carte ni commande",
            ))),
        }
    }

    fn refund(
        &mut self,
        client: ClientId,
        refund_id: RefundId,
        amount: Option<Minor>,
        reason: Option<String>,
    ) -> Option<Reply> {
        let now = self.now();
        let Some(payment) = self.state.as_mut() else {
            return Some(Err(not_found("Paiement introuvable.")));
        };
        if let Err(problem) = payment.order_of(&client) {
            return Some(Err(problem));
        }
        // The same refund asked again (a retried request): its current state, never a second credit.
        if let Some(existing) = payment.refund(&refund_id) {
            if existing.status == RefundStatus::Failed {
                return Some(Err(Problem::new(
                    ErrorCode::InvalidState,
                    "Ce remboursement a échoué sans rien créditer: réessayez avec une nouvelle Idempotency-Key.",
                )));
            }
            return Some(refund_answer(payment, &refund_id));
        }
        let refund = match payment.begin_refund(&refund_id, amount, reason, now) {
            Ok(refund) => refund,
            Err(problem) => return Some(Err(problem)),
        };
        let Some(movement) = credit_movement(payment, &refund) else {
            return Some(Err(Problem::new(
                ErrorCode::InternalError,
                "paiement sans carte",
            )));
        };
        if let Some(pending) = payment
            .refunds
            .iter_mut()
            .find(|r| r.refund_id == refund_id)
        {
            pending.resolve = Some(Backoff {
                at: now.plus_ms(SAFETY_MS),
                delay_ms: RESOLVE_FIRST_DELAY_MS,
            });
        }
        self.effects.push(Effect::Cynod(CynodCall::Credit {
            refund_id,
            movement,
        }));
        None
    }

    fn answered(&mut self, call: CynodCall, outcome: CynodOutcome) -> Option<Reply> {
        match call {
            CynodCall::Debit(movement) => self.debit_answered(&movement.reference, outcome, false),
            CynodCall::ResolveDebit { reference } => self.debit_answered(&reference, outcome, true),
            CynodCall::Credit { refund_id, .. } => self.credit_answered(&refund_id, outcome, false),
            CynodCall::ResolveCredit { refund_id, .. } => {
                self.credit_answered(&refund_id, outcome, true)
            }
        }
    }

    fn debit_answered(
        &mut self,
        reference: &str,
        outcome: CynodOutcome,
        resolving: bool,
    ) -> Option<Reply> {
        let now = self.now();
        let entropy = self.ctx.entropy;
        let payment = self.state.as_mut()?;
        let awaited = matches!(payment.status, Status::Processing | Status::Unresolved)
            && payment.pending_reference.as_deref() == Some(reference);
        if !awaited {
            // A late answer for an attempt already settled: the stored outcome stands.
            return Some(debit_answer(payment));
        }
        let not_applied = |payment: &mut Payment, code: ErrorCode| {
            let reason = if resolving {
                "upstream_unavailable"
            } else {
                failure_reason(code)
            };
            payment.debit_not_applied(reason, now);
        };
        let reply = match outcome {
            CynodOutcome::Applied => {
                payment.succeed(
                    Receipt {
                        confirmation_code: ids::confirmation_code(entropy),
                        transaction_date: now,
                        cynod_reference: reference.to_string(),
                    },
                    now,
                );
                return Some(debit_answer(payment));
            }
            CynodOutcome::Refused(problem) => {
                not_applied(payment, problem.code);
                Err(problem)
            }
            CynodOutcome::NotApplied(cause) => {
                not_applied(payment, cause.code);
                Err(with_detail(cause, "Aucun débit n'a été effectué."))
            }
            CynodOutcome::Unknown(cause) => {
                // No look-up can ever settle it (CYNOD offers none): an operator must.
                let resolve = match (cause.code, resolving, payment.resolve) {
                    (ErrorCode::OutcomeUnknown, ..) => None,
                    (_, true, Some(previous)) => Some(previous.next(now, RESOLVE_MAX_DELAY_MS)),
                    _ => Some(Backoff::first(now, RESOLVE_FIRST_DELAY_MS)),
                };
                payment.debit_unresolved(resolve, now);
                let reference = payment
                    .order
                    .as_ref()
                    .map(|o| o.pos_reference.to_string())
                    .unwrap_or_default();
                return Some(Err(with_detail(
                    cause,
                    &format!(
                        "Le résultat du débit est en cours de vérification: consultez GET /api/v1/pos/payments?pos_reference={reference} avant toute nouvelle tentative."
                    ),
                )));
            }
        };
        // Nothing moved: an EPM sale's reference is free again for another QR.
        if let (Flow::Epm, Some(order)) = (payment.flow, payment.order.clone()) {
            let id = payment.id.clone();
            self.release(&id, &order);
        }
        Some(reply)
    }

    fn credit_answered(
        &mut self,
        refund_id: &RefundId,
        outcome: CynodOutcome,
        resolving: bool,
    ) -> Option<Reply> {
        let now = self.now();
        let payment = self.state.as_mut()?;
        let pending = payment
            .refund(refund_id)
            .is_some_and(|r| r.status == RefundStatus::Pending);
        if !pending {
            return Some(refund_answer(payment, refund_id));
        }
        let failed = match outcome {
            CynodOutcome::Applied => {
                payment.settle_refund(refund_id, RefundStatus::Succeeded, now);
                return Some(refund_answer(payment, refund_id));
            }
            CynodOutcome::Refused(problem) => problem,
            CynodOutcome::NotApplied(cause) => {
                with_detail(cause, "Aucun remboursement n'a été effectué.")
            }
            CynodOutcome::Unknown(cause) => {
                if let Some(refund) = payment
                    .refunds
                    .iter_mut()
                    .find(|r| &r.refund_id == refund_id)
                {
                    refund.awaiting_operator = cause.code == ErrorCode::OutcomeUnknown;
                    refund.resolve = match (refund.awaiting_operator, resolving, refund.resolve) {
                        (true, ..) => None,
                        (_, true, Some(previous)) => Some(previous.next(now, RESOLVE_MAX_DELAY_MS)),
                        _ => Some(Backoff::first(now, RESOLVE_FIRST_DELAY_MS)),
                    };
                }
                // The credit may have happened: the refund stays pending (its amount reserved), and
                // the POS is told so — a retry of the same request gets the same pending refund.
                return Some(refund_answer(payment, refund_id));
            }
        };
        payment.settle_refund(refund_id, RefundStatus::Failed, now);
        Some(Err(failed))
    }

    fn settle(&mut self, refund_id: Option<RefundId>, applied: bool) -> Option<Reply> {
        let now = self.now();
        let entropy = self.ctx.entropy;
        let Some(payment) = self.state.as_mut() else {
            return Some(Err(not_found("Paiement introuvable.")));
        };
        let nothing = || {
            Problem::new(
                ErrorCode::InvalidState,
                "Rien à régler: ce mouvement n'attend pas d'opérateur.",
            )
        };
        match refund_id {
            None => {
                let Some(reference) = payment
                    .pending_reference
                    .clone()
                    .filter(|_| payment.status == Status::Unresolved)
                else {
                    return Some(Err(nothing()));
                };
                if applied {
                    payment.succeed(
                        Receipt {
                            confirmation_code: ids::confirmation_code(entropy),
                            transaction_date: now,
                            cynod_reference: reference,
                        },
                        now,
                    );
                } else {
                    payment.debit_not_applied("upstream_unavailable", now);
                    if let (Flow::Epm, Some(order)) = (payment.flow, payment.order.clone()) {
                        let id = payment.id.clone();
                        self.release(&id, &order);
                    }
                }
                let payment = self.state.as_ref()?;
                Some(payment_view(payment))
            }
            Some(refund_id) => {
                if !payment
                    .refund(&refund_id)
                    .is_some_and(|r| r.status == RefundStatus::Pending)
                {
                    return Some(Err(nothing()));
                }
                let status = if applied {
                    RefundStatus::Succeeded
                } else {
                    RefundStatus::Failed
                };
                payment.settle_refund(&refund_id, status, now);
                Some(refund_answer(payment, &refund_id))
            }
        }
    }

    fn wake(&mut self) -> Option<Reply> {
        let now = self.now();
        let Some(payment) = self.state.as_mut() else {
            return Some(Ok(Answer::Done));
        };
        if matches!(payment.status, Status::Processing | Status::Unresolved) {
            if let (Some(reference), Some(resolve)) =
                (payment.pending_reference.clone(), payment.resolve)
            {
                if resolve.at <= now {
                    // Still `Processing` past the safety net: the call's answer is lost.
                    payment.status = Status::Unresolved;
                    self.effects
                        .push(Effect::Cynod(CynodCall::ResolveDebit { reference }));
                }
            }
        }
        for refund in &payment.refunds {
            if let (RefundStatus::Pending, Some(resolve)) = (refund.status, refund.resolve) {
                if resolve.at <= now {
                    self.effects.push(Effect::Cynod(CynodCall::ResolveCredit {
                        refund_id: refund.refund_id.clone(),
                        reference: refund.cynod_reference.clone(),
                    }));
                }
            }
        }
        let step_due = payment.updated_at.plus_ms(SIMULATION_STEP_MS) <= now;
        if payment.open() && payment.simulation.is_some() && step_due {
            payment.advance_simulation(now);
        }
        payment.expire_if_due(now);
        Some(Ok(Answer::Done))
    }
}

/// What a change of state causes, from the old and new states: the view published to the client's
/// gate, the ledger rows of money that moved, and the webhooks of final states and refunds.
fn consequences(before: Option<&Payment>, after: &Payment, now: Millis) -> Vec<Effect> {
    let mut effects = Vec::new();
    let view = PaymentView::of(after);
    if after.flow == Flow::Ppm && view.is_some() && view != before.and_then(PaymentView::of) {
        effects.extend(view.map(Effect::Publish));
    }
    let was = |status: Status| before.is_some_and(|b| b.status == status);
    if after.status == Status::Succeeded && !was(Status::Succeeded) && after.simulation.is_none() {
        effects.extend(TransactionRow::payment(after).map(Effect::Transaction));
    }
    let was_final = before.is_some_and(|b| b.status.is_final());
    if after.status.is_final() && !was_final {
        effects.extend(OutcomeRow::of(after).map(Effect::Outcome));
        if let Some((event, body)) = event_for(after, now) {
            effects.push(webhook(after, event, body, None));
        }
    }
    for refund in &after.refunds {
        let settled_before = before
            .and_then(|b| b.refund(&refund.refund_id))
            .is_some_and(|r| r.status == RefundStatus::Succeeded);
        if refund.status == RefundStatus::Succeeded && !settled_before {
            effects.extend(TransactionRow::refund(after, refund).map(Effect::Transaction));
            if let Some(body) = refund_event(after, refund.amount, now) {
                effects.push(webhook(
                    after,
                    "payment.refunded",
                    body,
                    Some(&refund.refund_id),
                ));
            }
        }
    }
    effects
}

fn webhook(payment: &Payment, event: &str, body: String, refund: Option<&RefundId>) -> Effect {
    let order = payment.order.as_ref();
    let client = order.map(|o| o.client_id.to_string()).unwrap_or_default();
    let refund = refund.map(RefundId::as_str).unwrap_or("");
    Effect::Webhook(WebhookJob::Deliver {
        // Derived, not drawn: the same event of the same payment is one delivery, whatever retries.
        delivery_id: ids::name_uuid(&["webhook", payment.id.as_str(), event, refund]),
        client_id: client,
        event: event.to_string(),
        payment_id: payment.id.to_string(),
        body,
        first_attempt: 1,
        simulate_timeout: payment.simulation == Some(Scenario::WebhookTimeout),
        url: order.and_then(|o| o.webhook_url.clone()),
    })
}
