//! `PaymentDO`: one Durable Object per payment (an EPM QR nonce, or a PPM request id), the unit of
//! consistency. A shell around `dyno_core::payment::machine`: decode the call, run the machine,
//! save the new state and its effects in one storage transaction, make the CYNOD call the answer
//! waits on (feeding its outcome back), answer, and run the effects from the outbox. Invariants:
//! `processing` is stored before CYNOD is called, so a payment never debits twice; the alarm is
//! armed before anything that needs it is stored; an effect that failed stays in the outbox and the
//! alarm retries it; state that cannot be read answers 503 and is never taken for empty.

use std::cell::{Cell, RefCell};

use dyno_core::cynod::MovementRequest;
use dyno_core::gate::LimitInfo;
use dyno_core::ids::ClientId;
use dyno_core::money::DecimalNumber;
use dyno_core::outbox::Outbox;
use dyno_core::payment::machine::{
    handle, wake_at, Answer, Command, Ctx, CynodCall, CynodOutcome, Effect, Movement, Request,
    Transition,
};
use dyno_core::payment::Payment;
use dyno_core::protocol::{Faults, PaymentCall, PaymentPoll};
use dyno_core::ratelimit::{TokenBucket, POLL_POLICY};
use dyno_core::{ErrorCode, Millis, Problem};
use serde::Deserialize;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, Request as HttpRequest, Response, State};

use super::{decode_call, outbox, probe_storage, reply, rpc_only, unavailable};
use crate::config::{Config, Environment};
use crate::cynod::client::WriteOutcome;
use crate::cynod::CynodClient;
use crate::platform;

const OBJECT: &str = "PaymentDO";
/// New effects are run at once by the call that caused them; the alarm is their safety net.
const OUTBOX_BACKSTOP_MS: i64 = 5_000;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS payment (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)",
    outbox::SCHEMA,
    "CREATE TABLE IF NOT EXISTS faults (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)",
];

/// What the object holds in memory once its storage was read.
struct Loaded {
    payment: Option<Payment>,
    outbox: Outbox<Effect>,
    faults: Faults,
}

#[durable_object]
pub struct PaymentDO {
    state: State,
    env: Env,
    loaded: RefCell<Option<Loaded>>,
    /// Status polls of this request (in memory: a fresh object starts with a full bucket).
    polls: RefCell<Option<TokenBucket>>,
    /// The alarm time this instance set, if any (a fresh instance assumes none).
    armed: Cell<Option<Millis>>,
    /// Whether the outbox is being run (by a call or the alarm), so it is run once at a time.
    draining: Cell<bool>,
}

impl DurableObject for PaymentDO {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            loaded: RefCell::new(None),
            polls: RefCell::new(None),
            armed: Cell::new(None),
            draining: Cell::new(false),
        }
    }

    async fn fetch(&self, _req: HttpRequest) -> worker::Result<Response> {
        rpc_only()
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.armed.set(None);
        // Unreadable state: fail, so the platform retries the alarm later.
        self.ensure_loaded()
            .map_err(|p| worker::Error::RustError(p.detail))?;
        if self
            .take_alarm_fault()
            .map_err(|p| worker::Error::RustError(p.detail))?
        {
            return Err(worker::Error::RustError(
                "sandbox fault: alarm refused".into(),
            ));
        }
        if let Err(problem) = self.run(Command::Wake).await {
            worker::console_error!("{OBJECT}: wake-up failed: {}", problem.detail);
        }
        Response::ok("")
    }
}

#[wasm_bindgen]
impl PaymentDO {
    /// The one way in: a JSON `PaymentCall`, answered with the JSON of its `Result`
    /// (`stubs::send`).
    #[wasm_bindgen(js_name = answer)]
    pub async fn answer(&self, call: String) -> Result<String, JsValue> {
        match decode_call::<PaymentCall>(OBJECT, &call) {
            Ok(PaymentCall::Run(request)) => reply(self.run(Command::Request(request)).await),
            Ok(PaymentCall::Poll { client }) => reply(self.poll(&client).await),
            Ok(PaymentCall::InjectFaults(faults)) => reply(self.inject(faults)),
            Ok(PaymentCall::Health) => reply(probe_storage(OBJECT, &self.state.storage().sql())),
            Err(problem) => reply::<()>(Err(problem)),
        }
    }
}

impl PaymentDO {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    /// Reads the payment, its outbox and its faults once; a failure is kept from being cached.
    fn ensure_loaded(&self) -> Result<(), Problem> {
        if self.loaded.borrow().is_some() {
            return Ok(());
        }
        let sql = self.sql();
        let load = || -> Result<Loaded, String> {
            for statement in SCHEMA {
                sql.exec(statement, None).map_err(|e| e.to_string())?;
            }
            #[derive(Deserialize)]
            struct Row {
                state: String,
            }
            let stored = |table: &str| -> Result<Option<String>, String> {
                let rows: Vec<Row> = sql
                    .exec(&format!("SELECT state FROM {table} WHERE id = 1"), None)
                    .and_then(|c| c.to_array())
                    .map_err(|e| e.to_string())?;
                Ok(rows.into_iter().next().map(|r| r.state))
            };
            let payment = match stored("payment")? {
                Some(text) => Some(serde_json::from_str(&text).map_err(|e| e.to_string())?),
                None => None,
            };
            let faults = match stored("faults")? {
                Some(text) => serde_json::from_str(&text).map_err(|e| e.to_string())?,
                None => Faults::default(),
            };
            Ok(Loaded {
                payment,
                outbox: outbox::load(&sql)?,
                faults,
            })
        };
        let loaded = load().map_err(|e| unavailable(OBJECT, format!("cannot load state: {e}")))?;
        *self.loaded.borrow_mut() = Some(loaded);
        Ok(())
    }

    fn with<T>(&self, f: impl FnOnce(&mut Loaded) -> T) -> Result<T, Problem> {
        self.ensure_loaded()?;
        let mut loaded = self.loaded.borrow_mut();
        let loaded = loaded
            .as_mut()
            .ok_or_else(|| unavailable(OBJECT, "state vanished"))?;
        Ok(f(loaded))
    }

    fn ctx() -> Ctx {
        Ctx {
            now: platform::now(),
            entropy: platform::random_bytes(),
        }
    }

    /// Runs a command to its answer: the machine, the CYNOD call it waits on, then the outbox.
    async fn run(&self, command: Command) -> Result<Answer, Problem> {
        let transition = self.apply(command).await?;
        let mut answer = transition.reply;
        for effect in transition.effects {
            if let Effect::Cynod(call) = effect {
                let outcome = self.call_cynod(&call).await;
                let next = self.apply(Command::Answered(call, outcome)).await?;
                answer = answer.or(next.reply);
            }
        }
        self.drain().await;
        answer.unwrap_or(Ok(Answer::Done))
    }

    /// One step of the machine, stored: the alarm is armed first if the new state needs it sooner,
    /// then the state and its new outbox entries are written with no await in between.
    async fn apply(&self, command: Command) -> Result<Transition, Problem> {
        loop {
            let before = self.with(|l| l.payment.clone())?;
            let ctx = Self::ctx();
            let transition = handle(before.clone(), command.clone(), &ctx);
            let deferred: Vec<Effect> = transition
                .effects
                .iter()
                .filter(|e| e.is_deferred())
                .cloned()
                .collect();
            if !transition.changed_from(&before) && deferred.is_empty() {
                return Ok(transition);
            }
            let mut wake = transition.state.as_ref().and_then(wake_at);
            if !deferred.is_empty() {
                let backstop = ctx.now.plus_ms(OUTBOX_BACKSTOP_MS);
                wake = Some(wake.map_or(backstop, |w| w.min(backstop)));
            }
            self.arm_by(wake).await?;
            // Another call may have run while the alarm was being set: start again from its state.
            if self.with(|l| l.payment != before)? {
                continue;
            }
            self.commit(&transition, deferred, ctx.now)?;
            return Ok(transition);
        }
    }

    fn commit(&self, t: &Transition, deferred: Vec<Effect>, now: Millis) -> Result<(), Problem> {
        let sql = self.sql();
        self.with(|loaded| {
            let entries = loaded.outbox.push(deferred, now);
            let write = || -> Result<(), String> {
                if let Some(payment) = &t.state {
                    let text = serde_json::to_string(payment).map_err(|e| e.to_string())?;
                    sql.exec(
                        "INSERT OR REPLACE INTO payment (id, state) VALUES (1, ?)",
                        vec![text.into()],
                    )
                    .map_err(|e| e.to_string())?;
                }
                outbox::store(&sql, &entries)
            };
            match write() {
                Ok(()) => {
                    loaded.payment = t.state.clone();
                    Ok(())
                }
                Err(e) => {
                    // Nothing is kept in memory that storage does not hold.
                    entries.iter().for_each(|e| loaded.outbox.done(e.seq));
                    Err(unavailable(OBJECT, format!("cannot save: {e}")))
                }
            }
        })?
    }

    /// Makes sure an alarm fires no later than `at`.
    async fn arm_by(&self, at: Option<Millis>) -> Result<(), Problem> {
        let Some(at) = at else { return Ok(()) };
        if self.armed.get().is_some_and(|armed| armed <= at) {
            return Ok(());
        }
        let delay = (at.0 - platform::now().0).max(0) as u64;
        self.state
            .storage()
            .set_alarm(std::time::Duration::from_millis(delay))
            .await
            .map_err(|e| unavailable(OBJECT, format!("cannot set alarm: {e}")))?;
        self.armed.set(Some(at));
        Ok(())
    }

    /// Runs the due outbox entries in order; the first failure is rescheduled and stops the run.
    async fn drain(&self) {
        if self.draining.replace(true) {
            return;
        }
        if let Err(problem) = self.drain_due().await {
            worker::console_error!("{OBJECT}: outbox run stopped: {}", problem.detail);
        }
        self.draining.set(false);
        // Whatever is left, and whatever the payment waits for, wakes the alarm.
        let next = self.with(|l| {
            let machine = l.payment.as_ref().and_then(wake_at);
            match (machine, l.outbox.wake_at()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        });
        let armed = match next {
            Ok(next) => self.arm_by(next).await,
            Err(problem) => Err(problem),
        };
        if let Err(problem) = armed {
            worker::console_error!("{OBJECT}: alarm not armed: {}", problem.detail);
        }
    }

    async fn drain_due(&self) -> Result<(), Problem> {
        let sql = self.sql();
        let stored = |result: Result<(), String>| result.map_err(|e| unavailable(OBJECT, e));
        loop {
            let now = platform::now();
            let (run, mut faults) =
                self.with(|l| (l.outbox.next_run(now, outbox::together), l.faults))?;
            if run.is_empty() {
                return Ok(());
            }
            let before = faults;
            let result = outbox::run(&self.env, &run, &mut faults).await;
            if faults != before {
                self.with(|l| l.faults = faults)?;
                stored(self.store_faults(faults))?;
            }
            match result {
                Ok(()) => {
                    for entry in &run {
                        self.with(|l| l.outbox.done(entry.seq))?;
                        // Were this lost, the effect would run again: consumers dedupe by id.
                        stored(outbox::remove(&sql, entry.seq))?;
                    }
                }
                Err(e) => {
                    worker::console_error!("{OBJECT}: effect failed, retried by alarm: {e}");
                    let now = platform::now();
                    let retries = self.with(|l| {
                        run.iter()
                            .filter_map(|entry| l.outbox.failed(entry.seq, now))
                            .collect::<Vec<_>>()
                    })?;
                    stored(outbox::store(&sql, &retries))?;
                    return Ok(());
                }
            }
        }
    }

    async fn call_cynod(&self, call: &CynodCall) -> CynodOutcome {
        let resolving = matches!(
            call,
            CynodCall::ResolveDebit { .. } | CynodCall::ResolveCredit { .. }
        );
        let config = match Config::get(&self.env) {
            Ok(config) => config,
            // Nothing was sent: a movement did not happen; a look-up learnt nothing.
            Err(problem) if resolving => return CynodOutcome::Unknown(problem),
            Err(problem) => return CynodOutcome::Refused(problem),
        };
        let client = CynodClient::new(&self.env, &config.cynod);
        let pending = || Problem::new(ErrorCode::UpstreamTimeout, "résolution différée");
        let outcome = match call {
            CynodCall::Debit(movement) => client.debit(&request(movement)).await,
            CynodCall::Credit { movement, .. } => client.credit(&request(movement)).await,
            CynodCall::ResolveDebit { reference } | CynodCall::ResolveCredit { reference, .. } => {
                client.resolve(reference, pending()).await
            }
        };
        match outcome {
            WriteOutcome::Applied { .. } => CynodOutcome::Applied,
            WriteOutcome::Refused(problem) => CynodOutcome::Refused(problem),
            WriteOutcome::NotApplied { cause } => CynodOutcome::NotApplied(cause),
            WriteOutcome::Unknown { cause } => CynodOutcome::Unknown(cause),
        }
    }

    /// A POS poll the gate could not answer: this request's own allowance, then its status.
    async fn poll(&self, client: &ClientId) -> Result<PaymentPoll, Problem> {
        let now = platform::now().0;
        let decision = self
            .polls
            .borrow_mut()
            .get_or_insert_with(|| TokenBucket::full(POLL_POLICY, now))
            .take(now, POLL_POLICY);
        let limit = LimitInfo::from(&decision);
        if !decision.allowed {
            return Ok(PaymentPoll { view: None, limit });
        }
        match self
            .run(Command::Request(Request::Poll {
                client: client.clone(),
            }))
            .await?
        {
            Answer::Payment(view) => Ok(PaymentPoll {
                view: Some(view),
                limit,
            }),
            other => Err(unavailable(OBJECT, format!("poll answered {other:?}"))),
        }
    }

    /// Sandbox only: the next effects or alarms of this payment fail.
    fn inject(&self, faults: Faults) -> Result<(), Problem> {
        let sandbox = Config::get(&self.env)
            .map(|c| c.environment == Environment::Sandbox)
            .unwrap_or(false);
        if !sandbox {
            return Err(Problem::new(
                ErrorCode::Forbidden,
                "Les pannes simulées n'existent qu'en sandbox.",
            ));
        }
        self.with(|l| l.faults = faults)?;
        self.store_faults(faults)
            .map_err(|e| unavailable(OBJECT, e))
    }

    /// Sandbox: whether this alarm must fail (and one fewer of the next ones).
    fn take_alarm_fault(&self) -> Result<bool, Problem> {
        let (taken, faults) = self.with(|l| {
            let taken = l.faults.alarm_failures > 0;
            l.faults.alarm_failures = l.faults.alarm_failures.saturating_sub(1);
            (taken, l.faults)
        })?;
        if taken {
            self.store_faults(faults)
                .map_err(|e| unavailable(OBJECT, e))?;
        }
        Ok(taken)
    }

    fn store_faults(&self, faults: Faults) -> Result<(), String> {
        let text = serde_json::to_string(&faults).map_err(|e| e.to_string())?;
        self.sql()
            .exec(
                "INSERT OR REPLACE INTO faults (id, state) VALUES (1, ?)",
                vec![text.into()],
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The CYNOD request of a movement.
fn request(movement: &Movement) -> MovementRequest {
    MovementRequest {
        numero_carte: movement.card_number.clone(),
        montant: DecimalNumber::from_minor(movement.amount.get(), movement.currency),
        reference: movement.reference.clone(),
        wallet_id: Some(movement.wallet_id.clone()),
        client_id: None,
        commercant: Some(movement.merchant_id.clone()),
        libelle: Some(movement.label.clone()),
    }
}
