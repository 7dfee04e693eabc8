//! `PaymentDO`: one Durable Object per payment (an EPM QR nonce, or a PPM request id), the unit of
//! consistency. Invariant: every state change of a payment goes through this object's input gate;
//! `processing` is persisted before CYNOD is called, so a payment never debits twice, and an
//! outcome lost in transit is resolved by its reference (now, or later by alarm) before anyone
//! is told money moved.

use std::cell::RefCell;
use std::time::Duration;

use dyno_core::cynod::{card_last4, MovementRequest};
use dyno_core::money::DecimalNumber;
use dyno_core::payment::{Flow, Order, Payment, Receipt, ScanDecision, Status};
use dyno_core::{ErrorCode, Millis, Problem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorage, State};

use super::{probe_storage, read_call, reply};
use crate::config::Config;
use crate::cynod::client::WriteOutcome;
use crate::cynod::CynodClient;
use crate::platform;
use crate::queues::{self, EventMessage, TransactionRow};

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
        })
    }
}

#[durable_object]
pub struct PaymentDO {
    state: State,
    env: Env,
    payment: RefCell<Option<Payment>>,
}

fn load(sql: &SqlStorage) -> worker::Result<Option<Payment>> {
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
            "health" => reply(probe_storage(&self.state.storage().sql())),
            other => reply::<()>(Err(Problem::new(
                ErrorCode::InternalError,
                format!("PaymentDO: unknown operation {other}"),
            ))),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
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
        let decision = payment.begin_scan(order.clone(), now);
        let reference = match decision {
            ScanDecision::Replay(_) => {
                return ScanReply {
                    result: PaymentView::of(&payment).ok_or_else(|| {
                        Problem::new(ErrorCode::InternalError, "reçu sans commande")
                    }),
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
        let outcome = self.debit(&payment, &order, &reference).await;
        self.settle(payment, order, reference, outcome).await
    }

    async fn debit(&self, payment: &Payment, order: &Order, reference: &str) -> WriteOutcome {
        let config = match Config::get(&self.env) {
            Ok(config) => config,
            Err(problem) => return WriteOutcome::Refused(problem),
        };
        let Some(payer) = &payment.payer else {
            return WriteOutcome::Refused(Problem::new(
                ErrorCode::InternalError,
                "paiement sans carte",
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

    /// Records what CYNOD did, persists it, then (on success) sends the transaction event.
    async fn settle(
        &self,
        mut payment: Payment,
        order: Order,
        reference: String,
        outcome: WriteOutcome,
    ) -> ScanReply {
        let now = platform::now();
        let mut succeeded = false;
        let (result, release) = match outcome {
            WriteOutcome::Applied { .. } => {
                payment.succeed(receipt_for(&order, reference, now), now);
                succeeded = true;
                (
                    PaymentView::of(&payment).ok_or_else(|| {
                        Problem::new(ErrorCode::InternalError, "reçu sans commande")
                    }),
                    false,
                )
            }
            WriteOutcome::Refused(problem) => {
                payment.debit_not_applied(&problem.detail, now);
                (Err(problem), true)
            }
            WriteOutcome::NotApplied { cause } => {
                payment.debit_not_applied(&cause.detail, now);
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
                    "{} Le résultat du débit est en cours de vérification: consultez GET /api/v1/pos/payments?pos_reference={} avant toute nouvelle tentative.",
                    cause.detail, order.pos_reference
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
        if succeeded {
            self.record_transaction(&payment).await;
        }
        ScanReply { result, release }
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
                if self.save(payment.clone()).is_ok() {
                    self.record_transaction(&payment).await;
                }
                return;
            }
            WriteOutcome::NotApplied { .. } | WriteOutcome::Refused(_) => {
                payment.debit_not_applied("débit non effectué (vérifié auprès de CYNOD)", now)
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
        if let Err(problem) = self.save(payment) {
            worker::console_error!("PaymentDO: cannot save resolution: {problem}");
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
