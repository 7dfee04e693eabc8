//! A payment's state and its rules, whatever the flow: who pays (wallet, card), who is paid (the
//! POS order), and the transitions between statuses. Invariant: a payment debits at most once —
//! `Processing` is entered before CYNOD is called, `Succeeded` is final, and every decision is a
//! pure function of the stored state, the request and `now`.
//!
//! `machine` turns commands into transitions and effects; `view` projects a payment for the POS
//! and the employee.

pub mod machine;
pub mod view;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::ids::{ClientId, PaymentId, PosReference, RefundId, TransactionId};
use crate::money::{Currency, Minor};
use crate::problem::{ErrorCode, Problem};
use crate::qr::EPM_SKEW_TOLERANCE_MS;
use crate::sandbox::{Scenario, SANDBOX_CONFIRMATION_CODE};
use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Employee-presented: the POS scans the employee's QR.
    Epm,
    /// POS-presented: the employee scans the POS's QR and confirms with a PIN.
    Ppm,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Epm => "epm",
            Flow::Ppm => "ppm",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// EPM: the employee's QR exists; no POS has used it yet.
    Issued,
    /// PPM: waiting for the employee to scan.
    Pending,
    /// PPM: the employee opened the request.
    Scanned,
    /// A debit is in flight at CYNOD.
    Processing,
    /// The debit's outcome was lost and is being resolved by its reference.
    Unresolved,
    /// Money moved (PPM shows it as `confirmed`).
    Succeeded,
    Failed,
    Expired,
    Cancelled,
}

impl Status {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Succeeded | Status::Failed | Status::Expired | Status::Cancelled
        )
    }

    /// Statuses only move forward: how far along a payment is, for copies that may arrive late.
    pub fn progress(self) -> u8 {
        match self {
            Status::Issued | Status::Pending => 0,
            Status::Scanned => 1,
            Status::Processing | Status::Unresolved => 2,
            _ => 3,
        }
    }
}

/// How the POS presented the request (the seed's `channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Qr,
    Nfc,
}

impl Channel {
    /// `qr` or `nfc`, as the seed allows.
    pub fn parse(text: &str) -> Result<Self, Problem> {
        match text {
            "qr" => Ok(Channel::Qr),
            "nfc" => Ok(Channel::Nfc),
            _ => Err(Problem::new(
                ErrorCode::InvalidRequest,
                "channel: « qr » ou « nfc ».",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Qr => "qr",
            Channel::Nfc => "nfc",
        }
    }
}

/// What the POS asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub client_id: ClientId,
    pub merchant_id: String,
    pub merchant_name: String,
    pub pos_reference: PosReference,
    pub amount: Minor,
    pub channel: Channel,
    /// Assigned by the client's gate when the `pos_reference` was reserved.
    pub transaction_id: TransactionId,
    #[serde(default)]
    pub description: Option<String>,
    /// Taken in the sandbox environment (its ledger rows say so).
    #[serde(default)]
    pub sandbox: bool,
    /// Where this request's webhooks go instead of the client's endpoint (checked at initiate).
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// Proof of a successful debit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub confirmation_code: String,
    pub transaction_date: Millis,
    pub cynod_reference: String,
}

/// The card that pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    pub wallet_id: String,
    pub card_number: String,
    pub wallet_type: String,
}

/// Who cancelled a PPM request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelledBy {
    Pos,
    Employee,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The Durable Object's key: the EPM QR nonce, or the PPM payment request id.
    pub id: PaymentId,
    pub flow: Flow,
    pub status: Status,
    pub currency: Currency,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub updated_at: Millis,
    pub payer: Option<Payer>,
    pub order: Option<Order>,
    /// EPM: the most the employee allowed this QR to pay, if they set a limit.
    #[serde(default)]
    pub max_amount: Option<Minor>,
    /// Debit attempts so far; each uses its own CYNOD reference.
    pub attempts: u32,
    /// Reference of the attempt in flight or unresolved.
    pub pending_reference: Option<String>,
    /// When an unresolved debit is next looked up, and the wait before the one after.
    #[serde(default)]
    pub resolve: Option<Backoff>,
    /// The debit's outcome is unknown and no look-up can settle it: an operator must.
    #[serde(default)]
    pub awaiting_operator: bool,
    pub receipt: Option<Receipt>,
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub cancelled_by: Option<CancelledBy>,
    /// Wrong PINs entered against this PPM request.
    #[serde(default)]
    pub pin_failures: u32,
    /// Sandbox: the scenario this request plays out by itself, without touching CYNOD.
    #[serde(default)]
    pub simulation: Option<Scenario>,
    /// Refunds of a succeeded payment, in the order they were asked for.
    #[serde(default)]
    pub refunds: Vec<Refund>,
}

/// A retry schedule: the next try at `at`, then after `delay_ms` (which doubles up to a cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    pub at: Millis,
    pub delay_ms: i64,
}

impl Backoff {
    pub fn first(now: Millis, delay_ms: i64) -> Self {
        Self {
            at: now.plus_ms(delay_ms),
            delay_ms,
        }
    }

    /// The try after this one, from `now`.
    pub fn next(self, now: Millis, cap_ms: i64) -> Self {
        let delay_ms = (self.delay_ms * 2).min(cap_ms);
        Self {
            at: now.plus_ms(delay_ms),
            delay_ms,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// The credit is in flight (or its outcome is being resolved): its amount is reserved.
    Pending,
    Succeeded,
    Failed,
}

/// A refund: a CYNOD credit of part or all of a payment, under its own reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: RefundId,
    pub amount: Minor,
    pub status: RefundStatus,
    pub cynod_reference: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    #[serde(default)]
    pub reason: Option<String>,
    /// While pending after a lost answer: when its outcome is next looked up.
    #[serde(default)]
    pub resolve: Option<Backoff>,
    /// The credit's outcome is unknown and no look-up can settle it: an operator must.
    #[serde(default)]
    pub awaiting_operator: bool,
}

/// Wrong PINs a PPM request tolerates before it fails.
pub const MAX_PIN_FAILURES: u32 = 3;

/// The `reason` a failed payment reports, from the error that failed it.
pub fn failure_reason(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InsufficientFunds => "insufficient_funds",
        ErrorCode::CardExpired => "card_expired",
        ErrorCode::CardBlocked => "card_blocked",
        ErrorCode::CardNotFound => "card_not_found",
        ErrorCode::InvalidPin => "pin_attempts_exceeded",
        ErrorCode::UpstreamTimeout | ErrorCode::UpstreamError => "upstream_unavailable",
        _ => "declined",
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("devise inconnue {code}")))
    }
}

/// What a scan of an EPM QR must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanDecision {
    /// Debit now, under this CYNOD reference.
    Debit {
        reference: String,
    },
    /// The same POS retried the same sale: answer with the stored receipt.
    Replay,
    Refuse(Problem),
}

fn not_found() -> Problem {
    Problem::new(ErrorCode::NotFound, "Paiement introuvable.")
}

impl Payment {
    /// The grant written when the employee's QR is issued: the card is known, the order is not.
    pub fn issue_epm(
        id: PaymentId,
        payer: Payer,
        now: Millis,
        expires_at: Millis,
        max_amount: Option<Minor>,
    ) -> Self {
        let mut payment = Self::blank(id, Flow::Epm, Status::Issued, now, expires_at);
        payment.payer = Some(payer);
        payment.max_amount = max_amount;
        payment
    }

    /// A POS-presented request, waiting for the employee until `expires_at`.
    pub fn initiate_ppm(id: PaymentId, order: Order, now: Millis, expires_at: Millis) -> Self {
        let mut payment = Self::blank(id, Flow::Ppm, Status::Pending, now, expires_at);
        payment.order = Some(order);
        payment
    }

    fn blank(id: PaymentId, flow: Flow, status: Status, now: Millis, expires_at: Millis) -> Self {
        Self {
            id,
            flow,
            status,
            currency: Currency::Tnd,
            created_at: now,
            expires_at,
            updated_at: now,
            payer: None,
            order: None,
            max_amount: None,
            attempts: 0,
            pending_reference: None,
            resolve: None,
            awaiting_operator: false,
            receipt: None,
            failure_reason: None,
            cancelled_by: None,
            pin_failures: 0,
            simulation: None,
            refunds: Vec::new(),
        }
    }

    /// The order, when `client` is the POS client that placed it: others never see the payment.
    pub fn order_of(&self, client: &ClientId) -> Result<&Order, Problem> {
        self.order
            .as_ref()
            .filter(|o| &o.client_id == client)
            .ok_or_else(not_found)
    }

    pub fn amount(&self) -> Minor {
        self.order.as_ref().map_or(Minor::ZERO, |o| o.amount)
    }

    pub(crate) fn open(&self) -> bool {
        matches!(self.status, Status::Pending | Status::Scanned)
    }

    fn finish(&mut self, status: Status, reason: Option<&str>, now: Millis) {
        self.status = status;
        self.failure_reason = reason.map(str::to_string);
        self.pending_reference = None;
        self.resolve = None;
        self.awaiting_operator = false;
        self.updated_at = now;
    }

    /// Moves an open request past its deadline to `expired`; true if it did.
    pub fn expire_if_due(&mut self, now: Millis) -> bool {
        if self.open() && now >= self.expires_at {
            self.finish(Status::Expired, Some("expired"), now);
            true
        } else {
            false
        }
    }

    /// The employee opened the request: `pending` becomes `scanned` (later views change nothing).
    pub fn mark_scanned(&mut self, now: Millis) {
        if !self.expire_if_due(now) && self.status == Status::Pending {
            self.status = Status::Scanned;
            self.updated_at = now;
        }
    }

    fn not_open(&self) -> Problem {
        match self.status {
            Status::Processing | Status::Unresolved => Problem::new(
                ErrorCode::IdempotencyKeyInProgress,
                "Un débit est en cours pour cette demande.",
            ),
            status => Problem::new(
                ErrorCode::InvalidState,
                format!("La demande de paiement est déjà {}.", status_label(status)),
            ),
        }
    }

    /// The employee confirmed with a card whose PIN checked out: debit now, under this reference.
    pub fn begin_confirm(&mut self, payer: Payer, now: Millis) -> Result<String, Problem> {
        self.expire_if_due(now);
        if !self.open() {
            return Err(self.not_open());
        }
        self.payer = Some(payer);
        Ok(self.begin_debit("ppm", now))
    }

    fn begin_debit(&mut self, prefix: &str, now: Millis) -> String {
        self.attempts += 1;
        let reference = format!("{prefix}:{}:{}", self.id, self.attempts);
        self.status = Status::Processing;
        self.pending_reference = Some(reference.clone());
        self.updated_at = now;
        reference
    }

    /// A wrong PIN against this request; the third fails it. Returns the attempts left.
    pub fn pin_failed(&mut self, now: Millis) -> Result<u32, Problem> {
        self.expire_if_due(now);
        if !self.open() {
            return Err(self.not_open());
        }
        self.pin_failures += 1;
        self.updated_at = now;
        if self.pin_failures >= MAX_PIN_FAILURES {
            self.finish(Status::Failed, Some("pin_attempts_exceeded"), now);
        }
        Ok(self.pin_attempts_left())
    }

    pub fn pin_attempts_left(&self) -> u32 {
        MAX_PIN_FAILURES.saturating_sub(self.pin_failures)
    }

    /// Fails an open request (an invalid card).
    pub fn fail(&mut self, reason: &str, now: Millis) -> Result<(), Problem> {
        self.expire_if_due(now);
        if !self.open() {
            return Err(self.not_open());
        }
        self.finish(Status::Failed, Some(reason), now);
        Ok(())
    }

    /// Cancels an open request; cancelling a cancelled one again is a no-op.
    pub fn cancel(&mut self, by: CancelledBy, now: Millis) -> Result<(), Problem> {
        self.expire_if_due(now);
        if self.status == Status::Cancelled {
            return Ok(());
        }
        if !self.open() {
            return Err(self.not_open());
        }
        let reason = match by {
            CancelledBy::Pos => "cancelled_by_pos",
            CancelledBy::Employee => "cancelled_by_employee",
        };
        self.finish(Status::Cancelled, Some(reason), now);
        self.cancelled_by = Some(by);
        Ok(())
    }

    /// Money already refunded (succeeded refunds only).
    pub fn refunded(&self) -> Minor {
        self.refunds
            .iter()
            .filter(|r| r.status == RefundStatus::Succeeded)
            .map(|r| r.amount)
            .sum()
    }

    /// What can still be refunded: the amount paid minus succeeded and pending refunds.
    pub fn refundable(&self) -> Minor {
        let held: Minor = self
            .refunds
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .map(|r| r.amount)
            .sum();
        self.amount() - held
    }

    pub fn refund(&self, id: &RefundId) -> Option<&Refund> {
        self.refunds.iter().find(|r| &r.refund_id == id)
    }

    /// Starts a refund of `amount` (the whole refundable remainder when `None`): it is reserved at
    /// once, so two concurrent refunds can never exceed the amount paid together.
    pub fn begin_refund(
        &mut self,
        refund_id: &RefundId,
        amount: Option<Minor>,
        reason: Option<String>,
        now: Millis,
    ) -> Result<Refund, Problem> {
        if self.status != Status::Succeeded {
            return Err(Problem::new(
                ErrorCode::InvalidState,
                format!(
                    "Seul un paiement réussi peut être remboursé (statut: {}).",
                    status_label(self.status)
                ),
            ));
        }
        if self.simulation.is_some() {
            return Err(Problem::new(
                ErrorCode::InvalidState,
                "Un paiement simulé ne se rembourse pas.",
            ));
        }
        let refundable = self.refundable();
        let amount = amount.unwrap_or(refundable);
        if amount <= Minor::ZERO {
            return Err(Problem::new(
                ErrorCode::RefundExceedsPayment,
                "Ce paiement est déjà entièrement remboursé.",
            ));
        }
        if amount > refundable {
            return Err(Problem::new(
                ErrorCode::RefundExceedsPayment,
                format!(
                    "Le remboursement ({}) dépasse le montant remboursable ({}).",
                    crate::money::format_minor(amount.get(), self.currency),
                    crate::money::format_minor(refundable.get(), self.currency)
                ),
            ));
        }
        let refund = Refund {
            refund_id: refund_id.clone(),
            amount,
            status: RefundStatus::Pending,
            cynod_reference: format!("refund:{refund_id}"),
            created_at: now,
            updated_at: now,
            reason,
            resolve: None,
            awaiting_operator: false,
        };
        self.refunds.push(refund.clone());
        self.updated_at = now;
        Ok(refund)
    }

    /// Records what became of a pending refund's credit; a settled refund never changes again.
    pub fn settle_refund(&mut self, refund_id: &RefundId, status: RefundStatus, now: Millis) {
        if let Some(refund) = self
            .refunds
            .iter_mut()
            .find(|r| &r.refund_id == refund_id && r.status == RefundStatus::Pending)
        {
            refund.status = status;
            refund.updated_at = now;
            refund.resolve = None;
            refund.awaiting_operator = false;
            self.updated_at = now;
        }
    }

    /// How much of what was paid went back: `none`, `partially_refunded` or `refunded`.
    pub fn refund_status(&self) -> &'static str {
        view::refund_status(self.refunded(), self.amount())
    }

    /// Sandbox: the next step of a simulated request (pending → scanned → its scenario's end).
    /// Returns false when there is nothing left to play.
    pub fn advance_simulation(&mut self, now: Millis) -> bool {
        let Some(scenario) = self.simulation else {
            return false;
        };
        match self.status {
            // A QR nobody scans in time.
            Status::Pending if scenario == Scenario::ExpiredToken => {
                self.finish(Status::Expired, Some("expired"), now);
                true
            }
            Status::Pending => {
                self.status = Status::Scanned;
                self.updated_at = now;
                true
            }
            Status::Scanned => {
                match scenario {
                    Scenario::PinFailure => {
                        self.finish(Status::Failed, Some("pin_attempts_exceeded"), now)
                    }
                    Scenario::InsufficientFunds => {
                        self.finish(Status::Failed, Some("insufficient_funds"), now)
                    }
                    Scenario::UpstreamTimeout => {
                        self.finish(Status::Failed, Some("upstream_unavailable"), now)
                    }
                    Scenario::Cancelled => {
                        self.finish(Status::Cancelled, Some("cancelled_by_employee"), now);
                        self.cancelled_by = Some(CancelledBy::Employee);
                    }
                    _ => self.succeed_simulated(now),
                }
                true
            }
            _ => false,
        }
    }

    /// Sandbox: completes as a success without CYNOD (no money moves).
    pub fn succeed_simulated(&mut self, now: Millis) {
        self.simulation.get_or_insert(Scenario::Success);
        self.succeed(
            Receipt {
                confirmation_code: SANDBOX_CONFIRMATION_CODE.into(),
                transaction_date: now,
                cynod_reference: "sandbox-simulation".into(),
            },
            now,
        );
    }

    fn same_sale(&self, order: &Order) -> bool {
        self.order.as_ref().is_some_and(|o| {
            o.client_id == order.client_id && o.pos_reference == order.pos_reference
        })
    }

    /// Decides a scan and, when it is to debit, moves to `Processing` (the caller persists this
    /// before calling CYNOD, so a concurrent scan sees it and does not debit a second time).
    pub fn begin_scan(&mut self, order: Order, now: Millis) -> ScanDecision {
        let used = || {
            Problem::new(
                ErrorCode::QrAlreadyUsed,
                "Ce QR code a déjà servi à un paiement.",
            )
        };
        match self.status {
            Status::Succeeded => {
                if self.same_sale(&order) && self.amount() == order.amount {
                    ScanDecision::Replay
                } else {
                    ScanDecision::Refuse(used())
                }
            }
            Status::Failed if self.flow == Flow::Epm => ScanDecision::Refuse(Problem::new(
                ErrorCode::QrAlreadyUsed,
                format!(
                    "Ce QR code a déjà servi à une tentative refusée ({}): demandez un nouveau QR code à l'employé.",
                    self.failure_reason.as_deref().unwrap_or("declined")
                ),
            )),
            Status::Processing | Status::Unresolved if self.same_sale(&order) => {
                ScanDecision::Refuse(Problem::new(
                    ErrorCode::IdempotencyKeyInProgress,
                    "Ce paiement est en cours de traitement; consultez-le par sa pos_reference.",
                ))
            }
            Status::Issued => {
                if now.0 > self.expires_at.0 + EPM_SKEW_TOLERANCE_MS {
                    return ScanDecision::Refuse(Problem::new(
                        ErrorCode::QrExpired,
                        "QR code scanné après 30 secondes: demandez un nouveau QR code.",
                    ));
                }
                if let Some(limit) = self.max_amount.filter(|limit| order.amount > *limit) {
                    return ScanDecision::Refuse(Problem::new(
                        ErrorCode::AmountAboveQrLimit,
                        format!(
                            "Le montant dépasse le plafond fixé par l'employé pour ce QR code ({}).",
                            crate::money::format_minor(limit.get(), self.currency)
                        ),
                    ));
                }
                self.order = Some(order);
                ScanDecision::Debit {
                    reference: self.begin_debit("epm", now),
                }
            }
            _ => ScanDecision::Refuse(used()),
        }
    }

    /// CYNOD applied the debit.
    pub fn succeed(&mut self, receipt: Receipt, now: Millis) {
        self.status = Status::Succeeded;
        self.pending_reference = None;
        self.resolve = None;
        self.awaiting_operator = false;
        self.receipt = Some(receipt);
        self.failure_reason = None;
        self.updated_at = now;
    }

    /// CYNOD refused the debit or it was fenced: nothing moved, and the payment fails with
    /// `reason`. An EPM QR allows one debit attempt that reaches CYNOD: after a refusal it is used
    /// up, so a POS cannot search a balance with one QR; the employee makes a new one.
    pub fn debit_not_applied(&mut self, reason: &str, now: Millis) {
        self.pending_reference = None;
        self.resolve = None;
        self.awaiting_operator = false;
        self.failure_reason = Some(reason.to_string());
        self.updated_at = now;
        self.status = Status::Failed;
    }

    /// Whether this payment holds `order`'s sale in a way that keeps its `pos_reference`: money
    /// moved for it, or may have (a debit in flight or unresolved).
    pub fn keeps_reference_of(&self, order: &Order) -> bool {
        self.same_sale(order)
            && matches!(
                self.status,
                Status::Processing | Status::Unresolved | Status::Succeeded
            )
    }

    /// The outcome was lost and could not be resolved yet; it stays blocked until it is: by a
    /// later look-up (`resolve`), or by an operator when no look-up can (`None`).
    pub fn debit_unresolved(&mut self, resolve: Option<Backoff>, now: Millis) {
        self.status = Status::Unresolved;
        self.awaiting_operator = resolve.is_none();
        self.resolve = resolve;
        self.updated_at = now;
    }

    /// Whether an operator must settle something of this payment (its debit or a refund).
    pub fn awaits_operator(&self) -> bool {
        self.awaiting_operator || self.refunds.iter().any(|r| r.awaiting_operator)
    }
}

/// French label of a status, for messages.
pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::Issued | Status::Pending => "en attente",
        Status::Scanned => "scannée",
        Status::Processing | Status::Unresolved => "en cours de traitement",
        Status::Succeeded => "confirmée",
        Status::Failed => "échouée",
        Status::Expired => "expirée",
        Status::Cancelled => "annulée",
    }
}
