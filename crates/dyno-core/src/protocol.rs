//! The messages between the Worker and its Durable Objects: one enum per object, externally
//! tagged, each variant answered by a known type inside `Result<_, Problem>`. Invariant: no
//! operation is named by a string, and an object never answers with internal text: a `Problem`
//! here carries a code and a client-safe detail.

use serde::{Deserialize, Serialize};

use crate::gate::{
    ClientProfile, IdempotencyCheck, IdempotencyResult, IndexEntry, LimitInfo, Lookup, Refusal,
    Reservation, ReservationResult, TokenRef,
};
use crate::ids::{ClientId, PaymentId};
use crate::payment::machine::Request;
use crate::payment::view::PaymentView;
use crate::ratelimit::RouteWindow;

/// A call to a payment's object. Answers: `Run` → `machine::Answer`; `Poll` → [`PaymentPoll`];
/// `InjectFaults` → `()`; `Health` → [`StorageProbe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentCall {
    Run(Request),
    /// A status poll the client's gate could not answer (its copy is gone): the request's own
    /// allowance, then its status.
    Poll {
        client: ClientId,
    },
    /// Sandbox only: make this payment's next effects fail, to prove they are retried.
    InjectFaults(Faults),
    Health,
}

/// A poll answered by the payment's object: the view, or why not, with the allowance either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentPoll {
    pub view: Option<PaymentView>,
    pub limit: LimitInfo,
}

/// Faults a sandbox test injects into one object; off unless asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// The next N webhook jobs this payment queues fail to be sent.
    #[serde(default)]
    pub webhook_send_failures: u32,
    /// The next N ledger rows this payment queues fail to be sent.
    #[serde(default)]
    pub transaction_send_failures: u32,
    /// The next N alarms of this payment fail before doing anything.
    #[serde(default)]
    pub alarm_failures: u32,
}

/// A call to a client's gate. Answers: `Authorize` → [`AuthorizeOutcome`]; `Poll` →
/// `gate::PollOutcome`; `IssueToken` → `gate::TokenDecision`; `RevokeAll` → the new generation
/// (`u64`); `Health` → [`StorageProbe`]; every other → `()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateCall {
    Authorize(AuthorizeRequest),
    Poll {
        client: ClientId,
        token: TokenRef,
        payment: PaymentId,
    },
    /// A token request with the client's secret (answer: `gate::TokenDecision`): checked and
    /// counted here, in one round trip.
    IssueToken {
        client: ClientId,
        secret: String,
    },
    Revoke {
        jti: String,
        expires_at_ms: i64,
    },
    RevokeAll,
    Release(Reservation),
    StoreResponse {
        key: String,
        /// `None` forgets the key (the request failed in a way worth retrying).
        response: Option<(u16, String)>,
    },
    /// A PPM request's current view, published by its object on every change.
    Track(PaymentView),
    /// Drops the cached profile so the next call reloads it from D1 (after an admin change).
    Invalidate,
    /// Sandbox daily reset: windows, index, keys and published requests are forgotten.
    Reset,
    /// Sandbox only: the gate's stored state becomes unreadable, to prove it then fails closed.
    CorruptState,
    Health,
}

/// Everything a POS call needs from its client's gate, in one round trip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client: ClientId,
    pub token: TokenRef,
    /// Whether this call counts against the 60/min client window (status polls do not).
    pub counted: bool,
    pub idempotency: Option<IdempotencyCheck>,
    /// A new payment claims this `pos_reference` (unique per client).
    pub reserve: Option<Reservation>,
    pub lookup: Option<Lookup>,
    /// The route's own window, counted before the client's (card reads: 10/min).
    #[serde(default)]
    pub window: Option<RouteWindow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizeOutcome {
    Granted(Box<Granted>),
    Refused(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Granted {
    pub profile: ClientProfile,
    /// The 60/min window after this call (absent for polls, which have their own allowance).
    pub limit: Option<LimitInfo>,
    pub idempotency: Option<IdempotencyResult>,
    pub reservation: Option<ReservationResult>,
    pub found: Option<IndexEntry>,
}

/// What an object reports to the health check: its SQLite storage answered a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageProbe {
    pub sqlite_tables: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_externally_tagged() {
        let text = serde_json::to_string(&GateCall::RevokeAll).unwrap();
        assert_eq!(text, "\"revoke_all\"");
        let call = GateCall::Revoke {
            jti: "j".into(),
            expires_at_ms: 1,
        };
        let text = serde_json::to_string(&call).unwrap();
        assert_eq!(text, r#"{"revoke":{"jti":"j","expires_at_ms":1}}"#);
        assert_eq!(serde_json::from_str::<GateCall>(&text).unwrap(), call);
        let faults = PaymentCall::InjectFaults(Faults {
            webhook_send_failures: 3,
            transaction_send_failures: 3,
            alarm_failures: 0,
        });
        let text = serde_json::to_string(&faults).unwrap();
        assert_eq!(serde_json::from_str::<PaymentCall>(&text).unwrap(), faults);
    }
}
