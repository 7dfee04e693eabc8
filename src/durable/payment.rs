//! `PaymentDO`: one Durable Object per payment (an EPM QR nonce, or a PPM request id), the unit of
//! consistency. Invariant: every state change of a payment goes through this object's input gate;
//! `processing` is persisted before CYNOD is called, so a payment never debits twice, and an
//! outcome lost in transit is resolved by its reference (now, or later by alarm) before anyone
//! is told money moved.

use std::cell::RefCell;
use std::time::Duration;

use dyno_core::cynod::{card_last4, MovementRequest};
use dyno_core::money::DecimalNumber;
use dyno_core::payment::{
    failure_reason, Canceller, Flow, Order, Payer, Payment, Receipt, Refund, RefundStatus,
    ScanDecision, Status,
};
use dyno_core::ratelimit::{TokenBucket, POLL_POLICY};
use dyno_core::sandbox::{Scenario, SANDBOX_CONFIRMATION_CODE};
use dyno_core::webhook::{event_for, refund_event};
use dyno_core::{ErrorCode, Millis, Problem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorage, State};

use super::{probe_storage, read_call, reply};
use crate::config::Config;
use crate::cynod::client::WriteOutcome;
use crate::cynod::CynodClient;
use crate::durable;
use crate::durable::client_gate::{LimitInfo, TrackSession};
use crate::platform;
use crate::queues::{self, EventMessage, TransactionRow, WebhookJob};

/// Sandbox: time between the steps of a simulated request (pending → scanned → outcome).
const SIMULATION_STEP_MS: u64 = 1_500;
/// How soon a failed status publish is retried.
const PUBLISH_RETRY_MS: u64 = 1_000;
/// After this long in `processing`, the alarm treats the debit as unresolved (covers an isolate
/// dying mid-call; the CYNOD timeout is far shorter).
const SAFETY_ALARM_MS: i64 = 30_000;
/// How soon an unresolved debit is looked up again, and the most it waits between tries.
const RESOLVE_FIRST_DELAY_MS: i64 = 5_000;
const RESOLVE_MAX_DELAY_MS: i64 = 300_000;

#[derive(Debug, Serialize, Deserialize)]
pub struct ScanRequest {
    pub order: Order,
}

/// The scan's answer: the payment, or why not; and whether the POS reference can be released
/// (true when this sale moved no money and holds nothing in this payment).
#[derive(Debug, Serialize, Deserialize)]
pub struct ScanReply {
    pub result: Result<PaymentView, Problem>,
    pub release: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GetRequest {
    pub client_id: String,
}

/// A POS asks for a PPM request's status (its own allowance: see `POLL_POLICY`).
#[derive(Debug, Serialize, Deserialize)]
pub struct StatusReply {
    pub result: Result<PaymentView, Problem>,
    pub limit: LimitInfo,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct InitiateRequest {
    pub payment: Payment,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConfirmRequest {
    pub payer: Payer,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FailRequest {
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CancelRequest {
    /// The POS client cancelling, or `None` for the employee.
    pub client_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RefundRequest {
    pub client_id: String,
    pub refund_id: String,
    /// `None`: the whole refundable remainder.
    pub amount_minor: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RefundReply {
    pub refund: Refund,
    pub payment: PaymentView,
}

/// Sandbox helpers: a POS drives its own request as if an employee acted.
#[derive(Debug, Serialize, Deserialize)]
pub struct DriveRequest {
    pub client_id: String,
    /// `scan`, `confirm`, `fail` or `cancel`.
    pub action: String,
    pub reason: Option<String>,
}

/// What the employee's wallet shows of a PPM request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalletView {
    pub payment_request_id: String,
    pub status: Status,
    pub amount_minor: i64,
    pub merchant_name: String,
    pub description: Option<String>,
    pub expires_at: Millis,
    pub failure_reason: Option<String>,
    pub pin_attempts_left: u32,
    pub confirmation_code: Option<String>,
}

impl WalletView {
    fn of(payment: &Payment) -> Option<Self> {
        let order = payment.order.as_ref()?;
        Some(Self {
            payment_request_id: payment.id.clone(),
            status: payment.status,
            amount_minor: order.amount_minor,
            merchant_name: order.merchant_name.clone(),
            description: order.description.clone(),
            expires_at: payment.expires_at,
            failure_reason: payment.failure_reason.clone(),
            pin_attempts_left: dyno_core::payment::MAX_PIN_FAILURES
                .saturating_sub(payment.pin_failures),
            confirmation_code: payment
                .receipt
                .as_ref()
                .map(|r| r.confirmation_code.clone()),
        })
    }
}

/// A payment as its POS client sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentView {
    pub flow: Flow,
    pub status: Status,
    pub payment_id: String,
    pub transaction_id: String,
    pub pos_reference: String,
    pub amount_minor: i64,
    pub channel: String,
    pub wallet_type: Option<String>,
    pub card_last4: Option<String>,
    pub confirmation_code: Option<String>,
    pub transaction_date: Option<Millis>,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub failure_reason: Option<String>,
    pub merchant_id: String,
    /// Money refunded so far (succeeded refunds), and `refunded`/`partially_refunded` if any.
    #[serde(default)]
    pub refunded_minor: i64,
    #[serde(default)]
    pub refund_state: Option<String>,
}

impl PaymentView {
    fn of(payment: &Payment) -> Option<Self> {
        let order = payment.order.as_ref()?;
        Some(Self {
            flow: payment.flow,
            status: payment.status,
            payment_id: payment.id.clone(),
            transaction_id: order.transaction_id.clone(),
            pos_reference: order.pos_reference.clone(),
            amount_minor: order.amount_minor,
            channel: order.channel.clone(),
            wallet_type: payment.payer.as_ref().map(|p| p.wallet_type.clone()),
            card_last4: payment.payer.as_ref().map(|p| card_last4(&p.card_number)),
            confirmation_code: payment
                .receipt
                .as_ref()
                .map(|r| r.confirmation_code.clone()),
            transaction_date: payment.receipt.as_ref().map(|r| r.transaction_date),
            created_at: payment.created_at,
            expires_at: payment.expires_at,
            failure_reason: payment.failure_reason.clone(),
            merchant_id: order.merchant_id.clone(),
            refunded_minor: payment.refunded_minor(),
            refund_state: payment.refund_state().map(str::to_string),
        })
    }
}

#[durable_object]
pub struct PaymentDO {
    state: State,
    env: Env,
    payment: RefCell<Option<Payment>>,
    /// Status polls of this request (in memory: a fresh object starts with a full bucket).
    polls: RefCell<Option<TokenBucket>>,
}

fn load(sql: &SqlStorage) -> worker::Result<Option<Payment>> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
        None,
    )?;
    sql.exec("CREATE TABLE IF NOT EXISTS payment (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)", None)?;
    #[derive(Deserialize)]
    struct Row {
        state: String,
    }
    let rows: Vec<Row> = sql
        .exec("SELECT state FROM payment WHERE id = 1", None)?
        .to_array()?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| serde_json::from_str(&r.state).ok()))
}

fn storage_error(e: impl std::fmt::Display) -> Problem {
    Problem::new(ErrorCode::InternalError, format!("PaymentDO storage: {e}"))
}

impl DurableObject for PaymentDO {
    fn new(state: State, env: Env) -> Self {
        let payment = load(&state.storage().sql()).unwrap_or_else(|e| {
            worker::console_error!("PaymentDO: cannot load state: {e}");
            None
        });
        Self {
            state,
            env,
            payment: RefCell::new(payment),
            polls: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let (op, body) = match read_call::<Value>(&mut req).await {
            Ok(call) => call,
            Err(problem) => return reply::<()>(Err(problem)),
        };
        match op.as_str() {
            "issue_epm" => reply(
                serde_json::from_value(body)
                    .map_err(bad_call)
                    .and_then(|p| self.issue_epm(p)),
            ),
            "scan" => match serde_json::from_value::<ScanRequest>(body) {
                Ok(request) => reply(Ok(self.scan(request.order).await)),
                Err(e) => reply::<()>(Err(bad_call(e))),
            },
            "get" => reply(
                serde_json::from_value(body)
                    .map_err(bad_call)
                    .and_then(|r| self.get(r)),
            ),
            "initiate" => match serde_json::from_value::<InitiateRequest>(body) {
                Ok(request) => reply(self.initiate(request.payment).await),
                Err(e) => reply::<()>(Err(bad_call(e))),
            },
            "status" => match serde_json::from_value::<GetRequest>(body) {
                Ok(request) => reply(Ok(self.status(request).await)),
                Err(e) => reply::<()>(Err(bad_call(e))),
            },
            "wallet_view" => reply(self.wallet_view().await),
            "confirm" => match serde_json::from_value::<ConfirmRequest>(body) {
                Ok(request) => reply(self.confirm(request.payer).await),
                Err(e) => reply::<()>(Err(bad_call(e))),
            },
            "pin_failed" => reply(self.pin_failed().await),
            "refund" => match serde_json::from_value::<RefundRequest>(body) {
                Ok(request) => reply(self.refund(request).await),
                Err(e) => reply::<()>(Err(bad_call(e))),
            },
            "sandbox_drive" => match serde_json::from_value::<DriveRequest>(body) {
                Ok(request) => reply(self.sandbox_drive(request).await),
                Err(e) => reply::<()>(Err(bad_call(e))),
            },
            "fail" => match serde_json::from_value::<FailRequest>(body) {
                Ok(request) => reply(self.fail(request.reason).await),
                Err(e) => reply::<()>(Err(bad_call(e))),
            },
            "cancel" => match serde_json::from_value::<CancelRequest>(body) {
                Ok(request) => reply(self.cancel(request).await),
                Err(e) => reply::<()>(Err(bad_call(e))),
            },
            "health" => reply(probe_storage(&self.state.storage().sql())),
            other => reply::<()>(Err(Problem::new(
                ErrorCode::InternalError,
                format!("PaymentDO: unknown operation {other}"),
            ))),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        if self
            .snapshot()
            .is_some_and(|p| p.refunds.iter().any(|r| r.status == RefundStatus::Pending))
        {
            self.resolve_refunds().await;
        }
        if self.unpublished() {
            if let Some(payment) = self.snapshot() {
                self.publish(&payment).await;
                // The expiry alarm this retry displaced, if the request is still open.
                if matches!(payment.status, Status::Pending | Status::Scanned)
                    && payment.simulation.is_none()
                {
                    let delay = (payment.expires_at.0 - platform::now().0).max(0) as u64;
                    let _ = self
                        .state
                        .storage()
                        .set_alarm(Duration::from_millis(delay))
                        .await;
                }
                return Response::ok("");
            }
        }
        if let Some(mut payment) = self.snapshot().filter(|p| p.simulation.is_some()) {
            if payment.advance_simulation(platform::now()) && self.save(payment.clone()).is_ok() {
                self.after_change(&payment).await;
                if !payment.status.is_final() {
                    let _ = self
                        .state
                        .storage()
                        .set_alarm(Duration::from_millis(SIMULATION_STEP_MS))
                        .await;
                }
            }
            return Response::ok("");
        }
        if let Some(mut payment) = self.snapshot() {
            if payment.expire_if_due(platform::now()) {
                if self.save(payment.clone()).is_ok() {
                    self.after_change(&payment).await;
                }
                return Response::ok("");
            }
        }
        let unresolved = self
            .snapshot()
            .filter(|p| matches!(p.status, Status::Unresolved | Status::Processing))
            .and_then(|p| p.pending_reference.clone());
        if let Some(reference) = unresolved {
            self.resolve_later(&reference).await;
        }
        Response::ok("")
    }
}

fn bad_call(e: serde_json::Error) -> Problem {
    Problem::new(
        ErrorCode::InternalError,
        format!("PaymentDO: bad request: {e}"),
    )
}

impl PaymentDO {
    fn snapshot(&self) -> Option<Payment> {
        self.payment.borrow().clone()
    }

    /// Persists and caches the payment. Synchronous: no other request interleaves with it.
    fn save(&self, payment: Payment) -> Result<(), Problem> {
        let state = serde_json::to_string(&payment).map_err(storage_error)?;
        self.state
            .storage()
            .sql()
            .exec(
                "INSERT OR REPLACE INTO payment (id, state) VALUES (1, ?)",
                vec![state.into()],
            )
            .map_err(storage_error)?;
        *self.payment.borrow_mut() = Some(payment);
        Ok(())
    }

    fn issue_epm(&self, payment: Payment) -> Result<(), Problem> {
        if self.payment.borrow().is_some() {
            return Err(Problem::new(ErrorCode::InternalError, "nonce déjà utilisé"));
        }
        self.save(payment)
    }

    fn get(&self, request: GetRequest) -> Result<PaymentView, Problem> {
        self.snapshot()
            .as_ref()
            .filter(|p| {
                p.order
                    .as_ref()
                    .is_some_and(|o| o.client_id == request.client_id)
            })
            .and_then(PaymentView::of)
            .ok_or_else(|| Problem::new(ErrorCode::NotFound, "Paiement introuvable."))
    }

    async fn scan(&self, order: Order) -> ScanReply {
        let now = platform::now();
        let Some(mut payment) = self.snapshot() else {
            return ScanReply {
                result: Err(Problem::new(
                    ErrorCode::InvalidQr,
                    "QR code inconnu: demandez un nouveau QR code.",
                )),
                release: true,
            };
        };
        let sale = (order.client_id.clone(), order.pos_reference.clone());
        let reference = match payment.begin_scan(order, now) {
            ScanDecision::Replay(_) => {
                return ScanReply {
                    result: view(&payment),
                    release: false,
                }
            }
            ScanDecision::Refuse(problem) => {
                let ours = payment
                    .order
                    .as_ref()
                    .is_some_and(|o| (o.client_id.clone(), o.pos_reference.clone()) == sale);
                return ScanReply {
                    result: Err(problem),
                    release: !ours,
                };
            }
            ScanDecision::Debit { reference } => reference,
        };
        self.debit_and_settle(payment, reference).await
    }

    /// The debit itself, for both flows: `processing` is persisted first, then CYNOD is called
    /// once, then its outcome is recorded and announced.
    async fn debit_and_settle(&self, payment: Payment, reference: String) -> ScanReply {
        if let Err(problem) = self.save(payment.clone()) {
            return ScanReply {
                result: Err(problem),
                release: true,
            };
        }
        // Safety net: if this isolate dies during the call, the alarm finds `processing` and
        // resolves the reference; when the call completes normally the alarm finds nothing to do.
        let _ = self
            .state
            .storage()
            .set_alarm(Duration::from_millis(SAFETY_ALARM_MS as u64))
            .await;
        let outcome = self.debit(&payment, &reference).await;
        self.settle(payment, reference, outcome).await
    }

    async fn debit(&self, payment: &Payment, reference: &str) -> WriteOutcome {
        let config = match Config::get(&self.env) {
            Ok(config) => config,
            Err(problem) => return WriteOutcome::Refused(problem),
        };
        let (Some(payer), Some(order)) = (&payment.payer, &payment.order) else {
            return WriteOutcome::Refused(Problem::new(
                ErrorCode::InternalError,
                "paiement sans carte ni commande",
            ));
        };
        let movement = MovementRequest {
            numero_carte: payer.card_number.clone(),
            montant: DecimalNumber::from_minor(order.amount_minor, payment.currency),
            reference: reference.to_string(),
            wallet_id: Some(payer.wallet_id.clone()),
            client_id: None,
            commercant: Some(order.merchant_id.clone()),
            libelle: order
                .description
                .clone()
                .or_else(|| Some(format!("{} {}", order.merchant_name, order.pos_reference))),
        };
        CynodClient::new(&self.env, &config.cynod)
            .debit(&movement)
            .await
    }

    /// Records what CYNOD did, persists it, then sends the transaction event and the webhook.
    async fn settle(
        &self,
        mut payment: Payment,
        reference: String,
        outcome: WriteOutcome,
    ) -> ScanReply {
        let now = platform::now();
        let pos_reference = payment
            .order
            .as_ref()
            .map(|o| o.pos_reference.clone())
            .unwrap_or_default();
        let (result, release) = match outcome {
            WriteOutcome::Applied { .. } => {
                let Some(order) = payment.order.clone() else {
                    return ScanReply {
                        result: Err(Problem::new(
                            ErrorCode::InternalError,
                            "paiement sans commande",
                        )),
                        release: false,
                    };
                };
                payment.succeed(receipt_for(&order, reference, now), now);
                (view(&payment), false)
            }
            WriteOutcome::Refused(problem) => {
                payment.debit_not_applied(failure_reason(problem.code), now);
                (Err(problem), true)
            }
            WriteOutcome::NotApplied { cause } => {
                payment.debit_not_applied(failure_reason(cause.code), now);
                let detail = format!("{} Aucun débit n'a été effectué.", cause.detail);
                (Err(Problem::new(cause.code, detail)), true)
            }
            WriteOutcome::Unknown { cause } => {
                payment.debit_unresolved(now);
                let _ = self
                    .state
                    .storage()
                    .set_alarm(Duration::from_millis(RESOLVE_FIRST_DELAY_MS as u64))
                    .await;
                let detail = format!(
                    "{} Le résultat du débit est en cours de vérification: consultez GET /api/v1/pos/payments?pos_reference={pos_reference} avant toute nouvelle tentative.",
                    cause.detail
                );
                (Err(Problem::new(cause.code, detail)), false)
            }
        };
        if let Err(problem) = self.save(payment.clone()) {
            return ScanReply {
                result: Err(problem),
                release: false,
            };
        }
        self.after_change(&payment).await;
        ScanReply { result, release }
    }

    /// What follows a persisted change: the status published to the client's gate (polls read it
    /// there), the money movement record, and the webhook of a final state — in that order, so a
    /// POS that got the webhook and then polls sees the same state.
    async fn after_change(&self, payment: &Payment) {
        self.publish(payment).await;
        // A simulated success moved no money: there is no movement to record.
        if payment.status == Status::Succeeded && payment.simulation.is_none() {
            self.record_transaction(payment).await;
        }
        self.announce(payment).await;
    }

    /// Alarm: asks CYNOD again what became of an unresolved debit, with growing delays.
    async fn resolve_later(&self, reference: &str) {
        let Ok(config) = Config::get(&self.env) else {
            return;
        };
        let outcome = CynodClient::new(&self.env, &config.cynod)
            .resolve(
                reference,
                Problem::new(ErrorCode::UpstreamTimeout, "résolution différée"),
            )
            .await;
        let Some(mut payment) = self.snapshot() else {
            return;
        };
        let now = platform::now();
        match outcome {
            WriteOutcome::Applied { .. } => {
                let Some(order) = payment.order.clone() else {
                    return;
                };
                payment.succeed(receipt_for(&order, reference.to_string(), now), now);
            }
            WriteOutcome::NotApplied { .. } | WriteOutcome::Refused(_) => {
                payment.debit_not_applied("upstream_unavailable", now)
            }
            WriteOutcome::Unknown { .. } => {
                let waited = (now.0 - payment.updated_at.0).max(RESOLVE_FIRST_DELAY_MS);
                let next = (waited * 2).min(RESOLVE_MAX_DELAY_MS);
                let _ = self
                    .state
                    .storage()
                    .set_alarm(Duration::from_millis(next as u64))
                    .await;
                return;
            }
        }
        match self.save(payment.clone()) {
            Ok(()) => self.after_change(&payment).await,
            Err(problem) => worker::console_error!("PaymentDO: cannot save resolution: {problem}"),
        }
    }

    /// Creates a PPM request and arms its expiry alarm.
    async fn initiate(&self, payment: Payment) -> Result<PaymentView, Problem> {
        if let Some(existing) = self.snapshot() {
            // A retried initiate for the same request answers with what exists.
            return view(&existing);
        }
        let expires_at = payment.expires_at;
        self.save(payment.clone())?;
        self.publish(&payment).await;
        // A simulated request plays itself out in steps; a real one waits for its deadline.
        let delay = if payment.simulation.is_some() {
            SIMULATION_STEP_MS
        } else {
            (expires_at.0 - platform::now().0).max(0) as u64
        };
        self.state
            .storage()
            .set_alarm(Duration::from_millis(delay))
            .await
            .map_err(storage_error)?;
        view(&payment)
    }

    /// The PPM request, applying any overdue expiry first.
    async fn current(&self) -> Result<Payment, Problem> {
        let mut payment = self
            .snapshot()
            .filter(|p| p.flow == Flow::Ppm)
            .ok_or_else(|| Problem::new(ErrorCode::NotFound, "Demande de paiement introuvable."))?;
        if payment.expire_if_due(platform::now()) {
            self.save(payment.clone())?;
            self.after_change(&payment).await;
        }
        Ok(payment)
    }

    /// A POS poll: one token from this request's bucket, then the status.
    async fn status(&self, request: GetRequest) -> StatusReply {
        let now = platform::now().0;
        let decision = {
            let mut polls = self.polls.borrow_mut();
            let bucket = polls.get_or_insert_with(|| TokenBucket::full(POLL_POLICY, now));
            bucket.take(now, POLL_POLICY)
        };
        let limit = LimitInfo::from(&decision);
        if !decision.allowed {
            return StatusReply {
                result: Err(Problem::new(
                    ErrorCode::RateLimited,
                    "Trop d'interrogations de statut: 1 par seconde suffit.",
                )),
                limit,
            };
        }
        let result = match self.current().await {
            Ok(payment)
                if payment
                    .order
                    .as_ref()
                    .is_some_and(|o| o.client_id == request.client_id) =>
            {
                view(&payment)
            }
            Ok(_) => Err(Problem::new(ErrorCode::NotFound, "Paiement introuvable.")),
            Err(problem) => Err(problem),
        };
        StatusReply { result, limit }
    }

    /// The employee opens the request: it becomes `scanned`.
    async fn wallet_view(&self) -> Result<WalletView, Problem> {
        let mut payment = self.current().await?;
        let before = payment.status;
        payment.mark_scanned(platform::now());
        if payment.status != before {
            self.save(payment.clone())?;
            self.after_change(&payment).await;
        }
        wallet_view(&payment)
    }

    /// The employee confirmed (PIN already verified): debit once, answer with the outcome.
    async fn confirm(&self, payer: Payer) -> Result<WalletView, Problem> {
        let mut payment = self.current().await?;
        let reference = match payment.begin_confirm(payer, platform::now()) {
            Ok(reference) => reference,
            Err(problem) => {
                // begin_confirm may have expired an overdue request.
                if payment.status == Status::Expired
                    && self.snapshot().is_some_and(|p| p.status != Status::Expired)
                {
                    self.save(payment.clone())?;
                    self.after_change(&payment).await;
                }
                return Err(problem);
            }
        };
        let reply = self.debit_and_settle(payment, reference).await;
        let payment = self.snapshot().ok_or_else(|| storage_error("état perdu"))?;
        match reply.result {
            Ok(_) => wallet_view(&payment),
            Err(problem) => Err(problem),
        }
    }

    async fn pin_failed(&self) -> Result<WalletView, Problem> {
        let mut payment = self.current().await?;
        payment.pin_failed(platform::now())?;
        self.save(payment.clone())?;
        self.after_change(&payment).await;
        wallet_view(&payment)
    }

    async fn fail(&self, reason: String) -> Result<WalletView, Problem> {
        let mut payment = self.current().await?;
        payment.fail(&reason, platform::now())?;
        self.save(payment.clone())?;
        self.after_change(&payment).await;
        wallet_view(&payment)
    }

    async fn cancel(&self, request: CancelRequest) -> Result<PaymentView, Problem> {
        let mut payment = self.current().await?;
        let by = match &request.client_id {
            Some(client_id)
                if payment
                    .order
                    .as_ref()
                    .is_some_and(|o| &o.client_id == client_id) =>
            {
                Canceller::Pos
            }
            Some(_) => return Err(Problem::new(ErrorCode::NotFound, "Paiement introuvable.")),
            None => Canceller::Employee,
        };
        let before = payment.status;
        payment.cancel(by, platform::now())?;
        if payment.status != before {
            self.save(payment.clone())?;
            self.after_change(&payment).await;
        }
        view(&payment)
    }

    /// A refund: the amount is reserved (persisted) before CYNOD is credited, so concurrent
    /// refunds can never exceed the amount paid together.
    async fn refund(&self, request: RefundRequest) -> Result<RefundReply, Problem> {
        let mut payment = self
            .snapshot()
            .filter(|p| {
                p.order
                    .as_ref()
                    .is_some_and(|o| o.client_id == request.client_id)
            })
            .ok_or_else(|| Problem::new(ErrorCode::NotFound, "Paiement introuvable."))?;
        let now = platform::now();
        let refund = payment.begin_refund(
            &request.refund_id,
            request.amount_minor,
            request.reason,
            now,
        )?;
        self.save(payment.clone())?;
        let outcome = self.credit(&payment, &refund).await;
        // The latest state: other refunds may have settled while this credit was in flight.
        let mut payment = self.snapshot().ok_or_else(|| storage_error("état perdu"))?;
        let now = platform::now();
        let result = match outcome {
            WriteOutcome::Applied { .. } => {
                payment.settle_refund(&refund.refund_id, RefundStatus::Succeeded, now);
                Ok(())
            }
            WriteOutcome::Refused(problem) => {
                payment.settle_refund(&refund.refund_id, RefundStatus::Failed, now);
                Err(problem)
            }
            WriteOutcome::NotApplied { cause } => {
                payment.settle_refund(&refund.refund_id, RefundStatus::Failed, now);
                Err(Problem::new(
                    cause.code,
                    format!("{} Aucun remboursement n'a été effectué.", cause.detail),
                ))
            }
            // Stays pending (its amount reserved) until the alarm learns what happened.
            WriteOutcome::Unknown { cause } => {
                let _ = self
                    .state
                    .storage()
                    .set_alarm(Duration::from_millis(RESOLVE_FIRST_DELAY_MS as u64))
                    .await;
                Err(Problem::new(
                    cause.code,
                    format!(
                        "{} Le remboursement est en cours de vérification.",
                        cause.detail
                    ),
                ))
            }
        };
        self.save(payment.clone())?;
        let settled = payment
            .refunds
            .iter()
            .find(|r| r.refund_id == refund.refund_id)
            .cloned()
            .unwrap_or(refund);
        if settled.status == RefundStatus::Succeeded {
            self.after_refund(&payment, &settled).await;
        }
        result?;
        Ok(RefundReply {
            refund: settled,
            payment: view(&payment)?,
        })
    }

    async fn credit(&self, payment: &Payment, refund: &Refund) -> WriteOutcome {
        let config = match Config::get(&self.env) {
            Ok(config) => config,
            Err(problem) => return WriteOutcome::Refused(problem),
        };
        let (Some(payer), Some(order)) = (&payment.payer, &payment.order) else {
            return WriteOutcome::Refused(Problem::new(
                ErrorCode::InternalError,
                "paiement sans carte",
            ));
        };
        let movement = MovementRequest {
            numero_carte: payer.card_number.clone(),
            montant: DecimalNumber::from_minor(refund.amount_minor, payment.currency),
            reference: refund.cynod_reference.clone(),
            wallet_id: Some(payer.wallet_id.clone()),
            client_id: None,
            commercant: Some(order.merchant_id.clone()),
            libelle: Some(format!(
                "Remboursement {} {}",
                order.merchant_name, order.pos_reference
            )),
        };
        CynodClient::new(&self.env, &config.cynod)
            .credit(&movement)
            .await
    }

    /// A refund moved money back: its movement record, the published status and the webhook.
    async fn after_refund(&self, payment: &Payment, refund: &Refund) {
        self.publish(payment).await;
        if let Some(row) = TransactionRow::refund(payment, refund, self.sandbox()) {
            let sent = match self.env.queue(queues::EVENTS) {
                Ok(queue) => queue.send(EventMessage::Transaction(row)).await,
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                worker::console_error!("PaymentDO: refund event not sent: {e}");
            }
        }
        if let (Some(body), Some(order)) = (
            refund_event(payment, refund.amount_minor, platform::now()),
            &payment.order,
        ) {
            self.queue_webhook(
                &order.client_id,
                "payment.refunded",
                &payment.id,
                body,
                false,
            )
            .await;
        }
    }

    /// Alarm: resolves refunds whose credit outcome was lost.
    async fn resolve_refunds(&self) {
        let Some(payment) = self.snapshot() else {
            return;
        };
        let Ok(config) = Config::get(&self.env) else {
            return;
        };
        for refund in payment
            .refunds
            .iter()
            .filter(|r| r.status == RefundStatus::Pending)
        {
            let outcome = CynodClient::new(&self.env, &config.cynod)
                .resolve(
                    &refund.cynod_reference,
                    Problem::new(ErrorCode::UpstreamTimeout, "résolution différée"),
                )
                .await;
            let status = match outcome {
                WriteOutcome::Applied { .. } => RefundStatus::Succeeded,
                WriteOutcome::NotApplied { .. } | WriteOutcome::Refused(_) => RefundStatus::Failed,
                WriteOutcome::Unknown { .. } => {
                    let _ = self
                        .state
                        .storage()
                        .set_alarm(Duration::from_millis(RESOLVE_MAX_DELAY_MS as u64))
                        .await;
                    continue;
                }
            };
            let Some(mut current) = self.snapshot() else {
                return;
            };
            current.settle_refund(&refund.refund_id, status, platform::now());
            if self.save(current.clone()).is_ok() && status == RefundStatus::Succeeded {
                self.after_refund(&current, refund).await;
            }
        }
    }

    /// Sandbox: applies one helper action; `confirm` completes without CYNOD (no money moves).
    async fn sandbox_drive(&self, request: DriveRequest) -> Result<PaymentView, Problem> {
        let mut payment = self.current().await?;
        if payment
            .order
            .as_ref()
            .is_none_or(|o| o.client_id != request.client_id)
        {
            return Err(Problem::new(ErrorCode::NotFound, "Paiement introuvable."));
        }
        let now = platform::now();
        let before = payment.status;
        match request.action.as_str() {
            "scan" => payment.mark_scanned(now),
            "confirm" => {
                if !matches!(payment.status, Status::Pending | Status::Scanned) {
                    return Err(Problem::new(
                        ErrorCode::InvalidState,
                        "La demande n'est plus ouverte.",
                    ));
                }
                payment.simulation.get_or_insert(Scenario::Success);
                let order = payment
                    .order
                    .clone()
                    .ok_or_else(|| storage_error("commande absente"))?;
                let mut receipt = receipt_for(&order, "sandbox-simulation".into(), now);
                receipt.confirmation_code = SANDBOX_CONFIRMATION_CODE.into();
                payment.succeed(receipt, now);
            }
            "fail" => payment.fail(request.reason.as_deref().unwrap_or("declined"), now)?,
            "cancel" => payment.cancel(Canceller::Employee, now)?,
            other => {
                return Err(Problem::new(
                    ErrorCode::InvalidRequest,
                    format!("action inconnue: {other}"),
                ))
            }
        }
        if payment.status != before {
            self.save(payment.clone())?;
            self.after_change(&payment).await;
        }
        view(&payment)
    }

    /// Publishes a PPM request's view to its client's gate. A failure is remembered and retried
    /// by the alarm, so the gate's copy cannot stay behind.
    async fn publish(&self, payment: &Payment) {
        if payment.flow != Flow::Ppm {
            return;
        }
        let (Some(order), Some(view)) = (&payment.order, PaymentView::of(payment)) else {
            return;
        };
        let sent = match crate::auth::client_gate(&self.env, &order.client_id) {
            Ok(stub) => {
                durable::call::<_, ()>(&stub, "track_session", &TrackSession { view }).await
            }
            Err(e) => Err(e),
        };
        let unpublished = sent.is_err();
        let _ = self.state.storage().sql().exec(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('unpublished', ?)",
            vec![i64::from(unpublished).into()],
        );
        if unpublished {
            worker::console_error!("PaymentDO: status not published, retrying by alarm");
            let _ = self
                .state
                .storage()
                .set_alarm(Duration::from_millis(PUBLISH_RETRY_MS))
                .await;
        }
    }

    fn unpublished(&self) -> bool {
        #[derive(Deserialize)]
        struct Row {
            v: i64,
        }
        self.state
            .storage()
            .sql()
            .exec("SELECT v FROM meta WHERE k = 'unpublished'", None)
            .and_then(|c| c.to_array::<Row>())
            .map(|rows| rows.first().is_some_and(|r| r.v == 1))
            .unwrap_or(false)
    }

    /// Queues the webhook of a PPM request that just reached a final state.
    async fn announce(&self, payment: &Payment) {
        let Some((event, body)) = event_for(payment, platform::now()) else {
            return;
        };
        let Some(order) = &payment.order else { return };
        let simulate_timeout = payment.simulation == Some(Scenario::WebhookTimeout);
        self.queue_webhook(&order.client_id, event, &payment.id, body, simulate_timeout)
            .await;
    }

    async fn queue_webhook(
        &self,
        client_id: &str,
        event: &str,
        payment_id: &str,
        body: String,
        simulate_timeout: bool,
    ) {
        let job = WebhookJob::Deliver {
            delivery_id: platform::new_uuid(),
            client_id: client_id.to_string(),
            event: event.to_string(),
            payment_id: payment_id.to_string(),
            body,
            first_attempt: 1,
            simulate_timeout,
        };
        let sent = match self.env.queue(queues::WEBHOOKS) {
            Ok(queue) => queue.send(job).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            worker::console_error!("PaymentDO: webhook not queued: {e}");
        }
    }

    /// Sends the money movement to the `events` queue, for D1 `transactions` and reconciliation.
    async fn record_transaction(&self, payment: &Payment) {
        let Some(row) = TransactionRow::payment(payment, self.sandbox()) else {
            return;
        };
        let sent = match self.env.queue(queues::EVENTS) {
            Ok(queue) => queue.send(EventMessage::Transaction(row)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            worker::console_error!("PaymentDO: transaction event not sent: {e}");
        }
    }

    fn sandbox(&self) -> bool {
        Config::get(&self.env)
            .map(|c| c.environment == crate::config::Environment::Sandbox)
            .unwrap_or(true)
    }
}

fn view(payment: &Payment) -> Result<PaymentView, Problem> {
    PaymentView::of(payment)
        .ok_or_else(|| Problem::new(ErrorCode::InternalError, "paiement sans commande"))
}

fn wallet_view(payment: &Payment) -> Result<WalletView, Problem> {
    WalletView::of(payment)
        .ok_or_else(|| Problem::new(ErrorCode::InternalError, "paiement sans commande"))
}

fn receipt_for(order: &Order, cynod_reference: String, now: Millis) -> Receipt {
    Receipt {
        transaction_id: order.transaction_id.clone(),
        confirmation_code: dyno_core::ids::confirmation_code(platform::random_bytes()),
        transaction_date: now,
        cynod_reference,
    }
}

/// The `PaymentDO` that holds payment `id`.
pub fn stub(env: &Env, id: &str) -> worker::Result<worker::Stub> {
    env.durable_object("PAYMENTS")?
        .get_by_name(&format!("pay:{id}"))
}
