//! A payment's state and its rules, whatever the flow: who pays (wallet, card), who is paid (the
//! POS order), and the transitions between statuses. Invariant: a payment debits at most once —
//! `Processing` is entered before CYNOD is called, `Succeeded` is final, and every decision is a
//! pure function of the stored state, the request and `now`.

use serde::{Deserialize, Serialize};

use crate::money::Currency;
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
}

/// What the POS asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub client_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub pos_reference: String,
    pub amount_minor: i64,
    pub channel: String,
    /// Assigned by the client's gate when the `pos_reference` was reserved.
    pub transaction_id: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// Proof of a successful debit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub transaction_id: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The Durable Object's key: the EPM QR nonce, or the PPM payment request id.
    pub id: String,
    pub flow: Flow,
    pub status: Status,
    pub currency: Currency,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub updated_at: Millis,
    pub payer: Option<Payer>,
    pub order: Option<Order>,
    /// Debit attempts so far; each uses its own CYNOD reference.
    pub attempts: u32,
    /// Reference of the attempt in flight or unresolved.
    pub pending_reference: Option<String>,
    pub receipt: Option<Receipt>,
    pub failure_reason: Option<String>,
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
    pub refund_id: String,
    pub amount_minor: i64,
    pub status: RefundStatus,
    pub cynod_reference: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Wrong PINs a PPM request tolerates before it fails.
pub const MAX_PIN_FAILURES: u32 = 3;

/// Who cancels a PPM request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canceller {
    Pos,
    Employee,
}

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
    Replay(Receipt),
    Refuse(Problem),
}

impl Payment {
    /// The grant written when the employee's QR is issued: the card is known, the order is not.
    pub fn issue_epm(nonce: &str, payer: Payer, now: Millis, expires_at: Millis) -> Self {
        Self {
            id: nonce.to_string(),
            flow: Flow::Epm,
            status: Status::Issued,
            currency: Currency::Tnd,
            created_at: now,
            expires_at,
            updated_at: now,
            payer: Some(payer),
            order: None,
            attempts: 0,
            pending_reference: None,
            receipt: None,
            failure_reason: None,
            pin_failures: 0,
            simulation: None,
            refunds: Vec::new(),
        }
    }

    /// A POS-presented request, waiting for the employee until `expires_at`.
    pub fn initiate_ppm(id: &str, order: Order, now: Millis, expires_at: Millis) -> Self {
        Self {
            id: id.to_string(),
            flow: Flow::Ppm,
            status: Status::Pending,
            currency: Currency::Tnd,
            created_at: now,
            expires_at,
            updated_at: now,
            payer: None,
            order: Some(order),
            attempts: 0,
            pending_reference: None,
            receipt: None,
            failure_reason: None,
            pin_failures: 0,
            simulation: None,
            refunds: Vec::new(),
        }
    }

    fn open(&self) -> bool {
        matches!(self.status, Status::Pending | Status::Scanned)
    }

    fn finish(&mut self, status: Status, reason: Option<&str>, now: Millis) {
        self.status = status;
        self.failure_reason = reason.map(str::to_string);
        self.pending_reference = None;
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
        self.attempts += 1;
        let reference = format!("ppm:{}:{}", self.id, self.attempts);
        self.status = Status::Processing;
        self.payer = Some(payer);
        self.pending_reference = Some(reference.clone());
        self.updated_at = now;
        Ok(reference)
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
        Ok(MAX_PIN_FAILURES.saturating_sub(self.pin_failures))
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
    pub fn cancel(&mut self, by: Canceller, now: Millis) -> Result<(), Problem> {
        self.expire_if_due(now);
        if self.status == Status::Cancelled {
            return Ok(());
        }
        if !self.open() {
            return Err(self.not_open());
        }
        let reason = match by {
            Canceller::Pos => "cancelled_by_pos",
            Canceller::Employee => "cancelled_by_employee",
        };
        self.finish(Status::Cancelled, Some(reason), now);
        Ok(())
    }

    /// Money already refunded (succeeded refunds only).
    pub fn refunded_minor(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.status == RefundStatus::Succeeded)
            .map(|r| r.amount_minor)
            .sum()
    }

    /// What can still be refunded: the amount paid minus succeeded and pending refunds.
    pub fn refundable_minor(&self) -> i64 {
        let paid = self.order.as_ref().map_or(0, |o| o.amount_minor);
        let held: i64 = self
            .refunds
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .map(|r| r.amount_minor)
            .sum();
        paid - held
    }

    /// Starts a refund of `amount_minor` (the whole refundable remainder when `None`): it is
    /// reserved at once, so two concurrent refunds can never exceed the amount paid together.
    pub fn begin_refund(
        &mut self,
        refund_id: &str,
        amount_minor: Option<i64>,
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
        let refundable = self.refundable_minor();
        let amount = amount_minor.unwrap_or(refundable);
        if amount <= 0 {
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
                    crate::money::format_minor(amount, self.currency),
                    crate::money::format_minor(refundable, self.currency)
                ),
            ));
        }
        let refund = Refund {
            refund_id: refund_id.to_string(),
            amount_minor: amount,
            status: RefundStatus::Pending,
            cynod_reference: format!("refund:{refund_id}"),
            created_at: now,
            updated_at: now,
            reason,
        };
        self.refunds.push(refund.clone());
        self.updated_at = now;
        Ok(refund)
    }

    /// Records what became of a refund's credit.
    pub fn settle_refund(&mut self, refund_id: &str, status: RefundStatus, now: Millis) {
        if let Some(refund) = self.refunds.iter_mut().find(|r| r.refund_id == refund_id) {
            refund.status = status;
            refund.updated_at = now;
        }
        self.updated_at = now;
    }

    /// `refunded` / `partially_refunded` once money went back, else the payment's own status word.
    pub fn refund_state(&self) -> Option<&'static str> {
        let refunded = self.refunded_minor();
        let paid = self.order.as_ref().map_or(0, |o| o.amount_minor);
        match refunded {
            0 => None,
            r if r >= paid => Some("refunded"),
            _ => Some("partially_refunded"),
        }
    }

    /// Sandbox: the next step of a simulated request (pending → scanned → its scenario's end).
    /// Returns false when there is nothing left to play.
    pub fn advance_simulation(&mut self, now: Millis) -> bool {
        let Some(scenario) = self.simulation else {
            return false;
        };
        match self.status {
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
                    Scenario::Cancelled => {
                        self.finish(Status::Cancelled, Some("cancelled_by_employee"), now)
                    }
                    _ => {
                        let transaction_id = self
                            .order
                            .as_ref()
                            .map(|o| o.transaction_id.clone())
                            .unwrap_or_default();
                        self.succeed(
                            Receipt {
                                transaction_id,
                                confirmation_code: SANDBOX_CONFIRMATION_CODE.into(),
                                transaction_date: now,
                                cynod_reference: "sandbox-simulation".into(),
                            },
                            now,
                        );
                    }
                }
                true
            }
            _ => false,
        }
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
            Status::Succeeded => match &self.receipt {
                Some(receipt)
                    if self.same_sale(&order)
                        && self.order.as_ref().map(|o| o.amount_minor)
                            == Some(order.amount_minor) =>
                {
                    ScanDecision::Replay(receipt.clone())
                }
                _ => ScanDecision::Refuse(used()),
            },
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
                self.attempts += 1;
                let reference = format!("epm:{}:{}", self.id, self.attempts);
                self.status = Status::Processing;
                self.pending_reference = Some(reference.clone());
                self.order = Some(order);
                self.updated_at = now;
                ScanDecision::Debit { reference }
            }
            _ => ScanDecision::Refuse(used()),
        }
    }

    /// CYNOD applied the debit.
    pub fn succeed(&mut self, receipt: Receipt, now: Millis) {
        self.status = Status::Succeeded;
        self.pending_reference = None;
        self.receipt = Some(receipt);
        self.failure_reason = None;
        self.updated_at = now;
    }

    /// CYNOD refused the debit or it was fenced: nothing moved. An EPM QR stays usable until it
    /// expires (the employee may pay with a smaller amount); a PPM session fails with `reason`.
    pub fn debit_not_applied(&mut self, reason: &str, now: Millis) {
        self.pending_reference = None;
        self.failure_reason = Some(reason.to_string());
        self.updated_at = now;
        match self.flow {
            Flow::Epm => {
                self.status = Status::Issued;
                self.order = None;
            }
            Flow::Ppm => self.status = Status::Failed,
        }
    }

    /// The outcome was lost and could not be resolved yet; it stays blocked until it is.
    pub fn debit_unresolved(&mut self, now: Millis) {
        self.status = Status::Unresolved;
        self.updated_at = now;
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

/// A sale's POS reference: 1 to 64 printable characters without spaces.
pub fn validate_pos_reference(reference: &str) -> Result<(), Problem> {
    let ok = (1..=64).contains(&reference.len()) && reference.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Problem::new(
            ErrorCode::InvalidRequest,
            "pos_reference: 1 à 64 caractères imprimables, sans espace.",
        ))
    }
}

/// `qr` or `nfc`, as the seed allows.
pub fn validate_channel(channel: &str) -> Result<(), Problem> {
    if channel == "qr" || channel == "nfc" {
        Ok(())
    } else {
        Err(Problem::new(
            ErrorCode::InvalidRequest,
            "channel: « qr » ou « nfc ».",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Millis {
        Millis::from_secs(1_780_000_000 + secs)
    }

    fn grant() -> Payment {
        Payment::issue_epm(
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            Payer {
                wallet_id: "+21620000001".into(),
                card_number: "7019800100009569".into(),
                wallet_type: "TicketResto".into(),
            },
            t(0),
            t(30),
        )
    }

    fn order(client: &str, reference: &str, amount: i64) -> Order {
        Order {
            client_id: client.into(),
            merchant_id: "M".into(),
            merchant_name: "Merchant".into(),
            pos_reference: reference.into(),
            amount_minor: amount,
            channel: "qr".into(),
            transaction_id: "tx-1".into(),
            description: None,
        }
    }

    fn receipt() -> Receipt {
        Receipt {
            transaction_id: "tx-1".into(),
            confirmation_code: "A1B2C3D4".into(),
            transaction_date: t(5),
            cynod_reference: "epm:x:1".into(),
        }
    }

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
            ScanDecision::Replay(receipt())
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
    fn a_refused_debit_leaves_the_qr_usable_with_a_new_reference() {
        let mut p = grant();
        let ScanDecision::Debit { reference: first } =
            p.begin_scan(order("a", "R1", 900_000), t(1))
        else {
            panic!()
        };
        p.debit_not_applied("solde insuffisant", t(2));
        assert_eq!(p.status, Status::Issued);
        let ScanDecision::Debit { reference: second } = p.begin_scan(order("a", "R1", 1_000), t(3))
        else {
            panic!()
        };
        assert_ne!(first, second, "each attempt has its own CYNOD reference");
    }

    #[test]
    fn an_unresolved_debit_blocks_every_scan() {
        let mut p = grant();
        p.begin_scan(order("a", "R1", 1), t(1));
        p.debit_unresolved(t(2));
        assert!(
            matches!(p.clone().begin_scan(order("b", "R2", 1), t(3)), ScanDecision::Refuse(pr) if pr.code == ErrorCode::QrAlreadyUsed)
        );
        assert!(
            matches!(p.begin_scan(order("a", "R1", 1), t(3)), ScanDecision::Refuse(pr) if pr.code == ErrorCode::IdempotencyKeyInProgress)
        );
    }

    fn session() -> Payment {
        Payment::initiate_ppm(
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            order("a", "S1", 45_000),
            t(0),
            t(60),
        )
    }

    fn payer() -> Payer {
        Payer {
            wallet_id: "+21620000001".into(),
            card_number: "7019800100009569".into(),
            wallet_type: "TicketResto".into(),
        }
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
        assert!(p.clone().cancel(Canceller::Pos, t(11)).is_err());
        assert!(!p.clone().expire_if_due(t(61)));
        p.succeed(receipt(), t(12));
        assert!(p.status.is_final());
        assert_eq!(
            p.clone()
                .cancel(Canceller::Employee, t(13))
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
        p.cancel(Canceller::Pos, t(1)).unwrap();
        assert!(p.begin_confirm(payer(), t(2)).is_err());
        assert!(!p.expire_if_due(t(61)));
        assert_eq!(p.status, Status::Cancelled);
        p.cancel(Canceller::Pos, t(3)).unwrap();
        // expiry, then confirm and cancel are refused
        let mut p = session();
        assert!(p.expire_if_due(t(60)));
        assert_eq!(
            p.begin_confirm(payer(), t(60)).unwrap_err().code,
            ErrorCode::InvalidState
        );
        assert!(p.cancel(Canceller::Employee, t(60)).is_err());
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
    fn a_refused_ppm_debit_fails_with_its_reason() {
        let mut p = session();
        p.begin_confirm(payer(), t(1)).unwrap();
        p.debit_not_applied(failure_reason(ErrorCode::InsufficientFunds), t(2));
        assert_eq!(
            (p.status, p.failure_reason.as_deref()),
            (Status::Failed, Some("insufficient_funds"))
        );
    }

    #[test]
    fn refunds_are_capped_and_reserved_before_the_credit() {
        let mut p = grant();
        p.begin_scan(order("a", "R1", 10_000), t(1));
        p.succeed(receipt(), t(2));
        let first = p.begin_refund("r1", Some(6_000), None, t(3)).unwrap();
        assert_eq!(first.cynod_reference, "refund:r1");
        // A concurrent second refund sees the first one's amount reserved.
        assert_eq!(
            p.begin_refund("r2", Some(5_000), None, t(3))
                .unwrap_err()
                .code,
            ErrorCode::RefundExceedsPayment
        );
        p.settle_refund("r1", RefundStatus::Succeeded, t(4));
        assert_eq!(p.refund_state(), Some("partially_refunded"));
        // The rest, by default.
        let rest = p.begin_refund("r3", None, None, t(5)).unwrap();
        assert_eq!(rest.amount_minor, 4_000);
        p.settle_refund("r3", RefundStatus::Failed, t(6));
        assert_eq!(
            p.refundable_minor(),
            4_000,
            "a failed credit gives its amount back"
        );
        p.begin_refund("r4", Some(4_000), None, t(7)).unwrap();
        p.settle_refund("r4", RefundStatus::Succeeded, t(8));
        assert_eq!(
            (p.refund_state(), p.refunded_minor()),
            (Some("refunded"), 10_000)
        );
        assert_eq!(
            p.begin_refund("r5", None, None, t(9)).unwrap_err().code,
            ErrorCode::RefundExceedsPayment
        );
    }

    #[test]
    fn only_succeeded_payments_refund() {
        let mut p = session();
        assert_eq!(
            p.begin_refund("r", Some(1), None, t(1)).unwrap_err().code,
            ErrorCode::InvalidState
        );
        p.cancel(Canceller::Pos, t(2)).unwrap();
        assert_eq!(
            p.begin_refund("r", Some(1), None, t(3)).unwrap_err().code,
            ErrorCode::InvalidState
        );
    }

    #[test]
    fn references_and_channels_are_validated() {
        assert!(validate_pos_reference("CAISSE-01-TXN-20260604-001").is_ok());
        assert!(validate_pos_reference("").is_err());
        assert!(validate_pos_reference("has space").is_err());
        assert!(validate_pos_reference(&"x".repeat(65)).is_err());
        assert!(validate_channel("qr").is_ok() && validate_channel("nfc").is_ok());
        assert!(validate_channel("card").is_err());
    }
}
