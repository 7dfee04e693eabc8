//! The durable records a payment and a request leave behind, and the queue messages that carry
//! them: ledger rows (D1 `transactions`), audit entries (D1 `audit_log`) and webhook jobs. They live
//! here so that the objects that produce them, the queue consumers and the registry all share one
//! definition without importing each other. Invariant: every record carries its own id, and its
//! consumer writes it idempotently by that id.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::cynod::card_last4;
use crate::payment::{Flow, Payment, Refund, Status};

/// A row of D1 `transactions`: one money movement, as reconciliation needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRow {
    pub movement_id: String,
    pub kind: String,
    pub transaction_id: String,
    pub payment_request_id: Option<String>,
    pub flow: String,
    pub client_id: String,
    pub merchant_id: String,
    pub pos_reference: String,
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub wallet_type: Option<String>,
    pub card_last4: Option<String>,
    pub cynod_reference: String,
    pub confirmation_code: Option<String>,
    pub occurred_at_ms: i64,
    pub sandbox: bool,
}

impl TransactionRow {
    /// The debit of a succeeded payment.
    pub fn payment(payment: &Payment) -> Option<Self> {
        let order = payment.order.as_ref()?;
        let receipt = payment.receipt.as_ref()?;
        let payer = payment.payer.as_ref();
        Some(Self {
            movement_id: format!("pay-{}", order.transaction_id),
            kind: "payment".into(),
            transaction_id: order.transaction_id.to_string(),
            payment_request_id: (payment.flow == Flow::Ppm).then(|| payment.id.to_string()),
            flow: payment.flow.as_str().into(),
            client_id: order.client_id.to_string(),
            merchant_id: order.merchant_id.clone(),
            pos_reference: order.pos_reference.to_string(),
            status: "succeeded".into(),
            amount_minor: order.amount.get(),
            currency: payment.currency.code().into(),
            wallet_type: payer.map(|p| p.wallet_type.clone()),
            card_last4: payer.map(|p| card_last4(&p.card_number)),
            cynod_reference: receipt.cynod_reference.clone(),
            confirmation_code: Some(receipt.confirmation_code.clone()),
            occurred_at_ms: receipt.transaction_date.0,
            sandbox: order.sandbox,
        })
    }

    /// The credit of a succeeded refund.
    pub fn refund(payment: &Payment, refund: &Refund) -> Option<Self> {
        let mut row = Self::payment(payment)?;
        row.movement_id = format!("ref-{}", refund.refund_id);
        row.kind = "refund".into();
        row.amount_minor = refund.amount.get();
        row.cynod_reference = refund.cynod_reference.clone();
        row.confirmation_code = None;
        row.occurred_at_ms = refund.updated_at.0;
        Some(row)
    }
}

/// How a payment ended (D1 `payment_outcomes`): successes and failures by flow, for the
/// merchant's console, whether or not money moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRow {
    pub payment_id: String,
    pub client_id: String,
    pub merchant_id: String,
    pub flow: String,
    /// `succeeded`, `failed`, `expired` or `cancelled`.
    pub status: String,
    pub reason: Option<String>,
    pub amount_minor: i64,
    pub at_ms: i64,
    pub sandbox: bool,
}

impl OutcomeRow {
    /// The final state of a payment that had a sale; `None` otherwise.
    pub fn of(payment: &Payment) -> Option<Self> {
        let order = payment.order.as_ref()?;
        let status = match payment.status {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
            _ => return None,
        };
        Some(Self {
            payment_id: payment.id.to_string(),
            client_id: order.client_id.to_string(),
            merchant_id: order.merchant_id.clone(),
            flow: payment.flow.as_str().into(),
            status: status.into(),
            reason: payment.failure_reason.clone(),
            amount_minor: order.amount.get(),
            at_ms: payment.updated_at.0,
            sandbox: order.sandbox,
        })
    }
}

/// One row of D1 `audit_log`: who did what to which resource, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub event_id: String,
    pub client_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub resource: Option<String>,
    pub outcome: String,
    pub status: i64,
    pub request_id: String,
    pub ip: Option<String>,
    /// The first call this entry stands for.
    pub at_ms: i64,
    /// How many calls this entry stands for: repeated status polls are counted in one entry
    /// (see [`AuditTally`]); any other call is its own entry, with a count of 1.
    #[serde(default = "one")]
    pub count: u32,
    /// The last of the counted calls; `None` for an entry of one call.
    #[serde(default)]
    pub last_at_ms: Option<i64>,
}

fn one() -> u32 {
    1
}

/// Successful status polls waiting to be audited, one entry per repeated call. A POS polls a
/// request about once a second for up to a minute and a poll changes nothing, so the polls of one
/// request by one caller from one address, with one answer, are one entry whose `count` says how
/// many calls it stands for: every call is still accounted for, at one row per tally instead of
/// one per poll. Invariant: the counts of the drained entries add up to the calls added.
#[derive(Debug, Default)]
pub struct AuditTally {
    entries: Vec<AuditEntry>,
    /// Where each repeated call's entry is in `entries`.
    index: HashMap<RepeatKey, usize>,
}

/// What makes two calls "the same call again": caller, route, resource, address and answer.
type RepeatKey = (
    Option<String>,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
);

impl AuditTally {
    /// Counts `entry` into the entry of the same call if there is one, or keeps it as the first.
    /// The first call's ids (event, request) name the entry; its times span all the calls.
    pub fn add(&mut self, entry: AuditEntry) {
        let key = (
            entry.client_id.clone(),
            entry.actor.clone(),
            entry.action.clone(),
            entry.resource.clone(),
            entry.status,
            entry.ip.clone(),
        );
        match self.index.get(&key) {
            Some(&at) => {
                let earlier = &mut self.entries[at];
                earlier.count = earlier.count.saturating_add(entry.count);
                let last = entry.last_at_ms.unwrap_or(entry.at_ms);
                earlier.last_at_ms = Some(earlier.last_at_ms.unwrap_or(earlier.at_ms).max(last));
                earlier.at_ms = earlier.at_ms.min(entry.at_ms);
            }
            None => {
                self.index.insert(key, self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    /// How many entries (distinct calls) the tally holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Empties the tally, in the order the calls first came.
    pub fn drain(&mut self) -> Vec<AuditEntry> {
        self.index.clear();
        std::mem::take(&mut self.entries)
    }
}

/// A message on the `events` queue. The tag is `event_type`, not `kind`: a `TransactionRow` has a
/// `kind` of its own, which would overwrite the tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event_type", rename_all = "snake_case")]
pub enum EventMessage {
    /// Sent by `/healthz` to prove the producer binding works; consumed and dropped.
    Probe { request_id: String },
    /// One audit-log row.
    Audit(AuditEntry),
    /// One money movement (a payment or a refund) for D1 `transactions`.
    Transaction(TransactionRow),
    /// How a payment ended, for D1 `payment_outcomes`.
    Outcome(OutcomeRow),
}

/// A message on the `webhooks` queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WebhookJob {
    /// Sent by `/healthz` to prove the producer binding works; consumed and dropped.
    Probe { request_id: String },
    /// One event for one client's endpoint. Retries keep the same `delivery_id` (the Standard
    /// Webhooks `webhook-id`), so receivers can deduplicate, and the consumer never sends a
    /// delivered one again.
    Deliver {
        delivery_id: String,
        client_id: String,
        event: String,
        payment_id: String,
        /// The exact bytes to send and sign.
        body: String,
        /// Attempt number this queue cycle starts at (1, or the next number on a redelivery).
        first_attempt: u32,
        /// Sandbox `webhook_timeout`: every attempt is recorded as timed out and nothing is sent.
        #[serde(default)]
        simulate_timeout: bool,
        /// The request's own webhook URL, when the POS gave one; else the client's endpoint.
        #[serde(default)]
        url: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(action: &str, resource: &str, status: i64, at_ms: i64) -> AuditEntry {
        AuditEntry {
            event_id: format!("e{at_ms}"),
            client_id: Some("pos_a".into()),
            actor: "pos:pos_a".into(),
            action: action.into(),
            resource: Some(resource.into()),
            outcome: if status == 200 { "success" } else { "rejected" }.into(),
            status,
            request_id: format!("req_{at_ms}"),
            ip: Some("10.0.0.1".into()),
            at_ms,
            count: 1,
            last_at_ms: None,
        }
    }

    const POLL: &str = "GET /api/v1/pos/payments/{id}/status";

    fn tally_of(calls: impl IntoIterator<Item = AuditEntry>) -> Vec<AuditEntry> {
        let mut tally = AuditTally::default();
        calls.into_iter().for_each(|c| tally.add(c));
        tally.drain()
    }

    #[test]
    fn repeated_polls_of_one_request_are_one_entry_that_counts_them() {
        let entries =
            tally_of([1_000, 2_000, 3_000, 4_000, 5_000].map(|at| call(POLL, "pr1", 200, at)));
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(
            (entry.count, entry.at_ms, entry.last_at_ms),
            (5, 1_000, Some(5_000))
        );
        // The first poll's ids name the entry.
        assert_eq!(entry.request_id, "req_1000");
    }

    #[test]
    fn polls_of_other_requests_or_with_other_answers_stay_apart() {
        let mut other_address = call(POLL, "pr1", 200, 4);
        other_address.ip = Some("10.0.0.2".into());
        let entries = tally_of([
            call(POLL, "pr1", 200, 1),
            call(POLL, "pr2", 200, 2),
            call(POLL, "pr1", 404, 3),
            other_address,
        ]);
        assert_eq!(entries.len(), 4);
        assert!(entries
            .iter()
            .all(|e| e.count == 1 && e.last_at_ms.is_none()));
    }

    #[test]
    fn counted_entries_merge_whatever_order_they_arrive_in() {
        let mut earlier = call(POLL, "pr1", 200, 5_000);
        earlier.count = 3;
        earlier.last_at_ms = Some(7_000);
        let entries = tally_of([earlier, call(POLL, "pr1", 200, 2_000)]);
        let entry = &entries[0];
        assert_eq!(
            (entry.count, entry.at_ms, entry.last_at_ms),
            (4, 2_000, Some(7_000))
        );
    }

    #[test]
    fn a_drained_tally_starts_again_from_nothing() {
        let mut tally = AuditTally::default();
        tally.add(call(POLL, "pr1", 200, 1));
        assert_eq!(tally.drain().len(), 1);
        assert!(tally.is_empty());
        tally.add(call(POLL, "pr1", 200, 2));
        let again = tally.drain();
        assert_eq!((again.len(), again[0].count, again[0].at_ms), (1, 1, 2));
    }

    proptest::proptest! {
        /// Whatever the calls, every one is accounted for: the counts add up to the calls, and
        /// there is one entry per distinct call, spanning exactly its calls' times.
        #[test]
        fn every_call_is_accounted_for(
            calls in proptest::collection::vec((0..4usize, 0..3usize, 0..2usize, 0..1_000i64), 0..200)
        ) {
            let resources = ["pr1", "pr2", "pr3", "pr4"];
            let statuses = [200, 404, 429];
            let entries = tally_of(calls.iter().map(|&(r, s, ip, at)| {
                let mut c = call(POLL, resources[r], statuses[s], at);
                c.ip = Some(format!("10.0.0.{ip}"));
                c
            }));
            let counted: u32 = entries.iter().map(|e| e.count).sum();
            proptest::prop_assert_eq!(counted as usize, calls.len());
            let distinct: std::collections::HashSet<_> =
                calls.iter().map(|&(r, s, ip, _)| (r, s, ip)).collect();
            proptest::prop_assert_eq!(entries.len(), distinct.len());
            for e in &entries {
                let times: Vec<i64> = calls.iter().filter(|&&(r, s, ip, _)| {
                    Some(resources[r]) == e.resource.as_deref()
                        && statuses[s] == e.status
                        && e.ip.as_deref() == Some(format!("10.0.0.{ip}").as_str())
                }).map(|c| c.3).collect();
                let first = *times.iter().min().unwrap_or(&0);
                let last = *times.iter().max().unwrap_or(&0);
                proptest::prop_assert_eq!(e.at_ms, first);
                proptest::prop_assert_eq!(e.last_at_ms, (times.len() > 1).then_some(last));
            }
        }
    }

    #[test]
    fn an_entry_queued_before_counts_existed_reads_as_one_call() {
        let old = r#"{"event_id":"e","client_id":null,"actor":"admin","action":"GET /x","resource":null,"outcome":"success","status":200,"request_id":"r","ip":null,"at_ms":1}"#;
        let entry: AuditEntry = serde_json::from_str(old).expect("decodes");
        assert_eq!((entry.count, entry.last_at_ms), (1, None));
    }
}
