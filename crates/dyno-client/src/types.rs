//! The wire types of the Dyno Edge API as an integrator sees them. Amounts stay exact: they are
//! decoded from the JSON number text into minor units, never through `f64`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// RFC 9457 problem document with Dyno's extensions.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProblemDocument {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    pub request_id: String,
}

/// RFC 6749 §5.2 error body of the token endpoint.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OAuthError {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HealthCheck {
    pub ok: bool,
    pub latency_ms: i64,
    #[serde(default)]
    pub detail: Option<String>,
}

/// `GET /healthz`: liveness only.
#[derive(Debug, Clone, Deserialize)]
pub struct HealthStatus {
    pub status: String,
}

/// `GET /api/v1/admin/health`: every dependency, checked live.
#[derive(Debug, Clone, Deserialize)]
pub struct HealthReport {
    pub status: String,
    pub version: String,
    pub environment: String,
    pub checks: BTreeMap<String, HealthCheck>,
}

/// `POST /api/v1/pos/oauth/token` success body (the seed's shape).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Whoami {
    pub client_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub scope: String,
    pub sandbox: bool,
    pub token_expires_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Merchant {
    pub merchant_id: String,
    pub name: String,
    pub affiliated: bool,
    pub active: bool,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClientCreated {
    pub client_id: String,
    pub client_secret: String,
    pub merchant_id: String,
    pub sandbox: bool,
    pub scopes: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SecretRotated {
    pub client_id: String,
    pub client_secret: String,
    pub previous_secret_valid_until: String,
    /// Set by a compromised rotation (every earlier token revoked).
    #[serde(default)]
    pub token_generation: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookConfigured {
    pub client_id: String,
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
    pub updated_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TokensRevoked {
    pub client_id: String,
    pub token_generation: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditEntry {
    pub event_id: String,
    pub at: String,
    pub client_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub resource: Option<String>,
    pub outcome: String,
    pub status: i64,
    pub request_id: String,
    pub ip: Option<String>,
    /// How many calls the entry stands for (repeated status polls share one entry).
    pub count: u32,
    /// The last counted call, when the entry counts more than one.
    #[serde(default)]
    pub last_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DemoSeeded {
    pub merchants: Vec<String>,
    pub clients: Vec<String>,
    pub wallets: Vec<String>,
    pub webhook_url: String,
}

/// An amount in TND as the API writes it (`12.500`), held as exact millimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millimes(pub i64);

impl Millimes {
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        format!(
            "{sign}{}.{:03}",
            self.0.unsigned_abs() / 1000,
            self.0.unsigned_abs() % 1000
        )
    }
}

impl Serialize for Millimes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.to_decimal_string())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Millimes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        parse_millimes(raw.get()).ok_or_else(|| {
            serde::de::Error::custom(format!("montant inexact ou invalide: {}", raw.get()))
        })
    }
}

/// Exact parse of a plain decimal with at most 3 decimals (`12.5`, `12.500`, `-3`).
pub fn parse_millimes(text: &str) -> Option<Millimes> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    if int.is_empty()
        || frac.len() > 3
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let value =
        int.parse::<i64>().ok()?.checked_mul(1000)? + format!("{frac:0<3}").parse::<i64>().ok()?;
    Some(Millimes(if negative { -value } else { value }))
}

#[derive(Debug, Clone, Deserialize)]
pub struct CardBalance {
    pub card_last4: String,
    pub balance: Millimes,
    pub currency: String,
    pub wallet_type: Option<String>,
    pub as_of: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CardValidity {
    pub card_last4: String,
    pub valid: bool,
    pub valid_until: Option<String>,
    pub wallet_type: Option<String>,
    /// Why `valid` is false (`card_expired`, `card_blocked`).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MemberCard {
    pub card_number: String,
    pub wallet_type: Option<String>,
    pub valid_until: Option<String>,
    pub status: Option<String>,
    pub balance: Millimes,
    pub currency: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MemberCards {
    pub client_id: String,
    pub cards: Vec<MemberCard>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CardMovement {
    pub reference: String,
    pub status: String,
    pub direction: String,
    pub card_number: Option<String>,
    pub amount: Option<Millimes>,
    pub currency: String,
    pub balance_after: Option<Millimes>,
    pub operation_date: Option<String>,
    pub recovered: bool,
}

/// A card in the CYNOD simulator (test control), balance in exact minor units.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SimCard {
    pub numero: String,
    pub client_id: String,
    pub wallet_id: String,
    pub nom: String,
    pub prenom: String,
    pub email: String,
    pub wallet_type: String,
    /// `yyyy-mm-dd`, last valid day.
    pub fin_validite: String,
    /// `ACTIVE` or `BLOQUEE`.
    pub statut: String,
    pub solde_minor: i64,
}

/// A movement in the simulator's ledger.
#[derive(Debug, Clone, Deserialize)]
pub struct SimOperation {
    pub reference: String,
    pub statut: String,
    pub sens: Option<String>,
    pub numero: Option<String>,
    pub montant_minor: Option<i64>,
    pub solde_apres_minor: Option<i64>,
    pub commercant: Option<String>,
    pub libelle: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WalletToken {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub wallet_id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WalletCard {
    pub card_number: String,
    pub card_last4: String,
    pub wallet_type: Option<String>,
    pub balance: Millimes,
    pub currency: String,
    pub valid_until: Option<String>,
    pub status: Option<String>,
    pub usable: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WalletCards {
    pub wallet_id: String,
    pub cards: Vec<WalletCard>,
}

/// `POST /api/v1/wallet/qr`.
#[derive(Debug, Clone, Deserialize)]
pub struct EpmQr {
    pub qr_payload: String,
    pub expires_at: String,
    #[serde(default)]
    pub max_amount: Option<Millimes>,
}

/// `GET /api/v1/wallet/cards/{card_number}/history`.
#[derive(Debug, Clone, Deserialize)]
pub struct CardHistory {
    pub card_number: String,
    pub card_last4: String,
    pub currency: String,
    pub movements: Vec<CardHistoryMovement>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CardHistoryMovement {
    pub reference: String,
    /// `debit` or `credit`.
    pub direction: String,
    pub amount: Millimes,
    pub balance_after: Option<Millimes>,
    pub merchant: Option<String>,
    pub occurred_at: Option<String>,
}

/// `GET /api/v1/admin/wallets/{wallet_id}/pin-lockout` and `…/unlock`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct WalletLockout {
    pub wallet_id: String,
    /// PIN comparisons made since the last re-PIN.
    pub evaluations: i64,
    pub consecutive_failures: i64,
    pub lock_level: i64,
    pub locked: bool,
    pub locked_until: Option<String>,
    pub locked_until_re_pin: bool,
    pub window_started_at: Option<String>,
    pub window_evaluations: i64,
    pub window_budget: i64,
}

/// The seed's 200 body of `POST /api/v1/pos/payments/scan`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScanSucceeded {
    pub transaction_id: String,
    pub status: String,
    pub amount: Millimes,
    pub currency: String,
    pub wallet_type: String,
    pub confirmation_code: String,
    pub transaction_date: String,
}

/// A payment from the look-up routes.
#[derive(Debug, Clone, Deserialize)]
pub struct Payment {
    pub transaction_id: String,
    #[serde(default)]
    pub payment_request_id: Option<String>,
    pub flow: String,
    pub status: String,
    pub amount: Millimes,
    pub currency: String,
    pub pos_reference: String,
    pub channel: String,
    pub wallet_type: Option<String>,
    pub card_last4: Option<String>,
    pub confirmation_code: Option<String>,
    pub transaction_date: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// When money moved: `none`, `partially_refunded` or `refunded`.
    #[serde(default)]
    pub refund_status: Option<String>,
    #[serde(default)]
    pub cancelled_by: Option<String>,
    /// A movement whose outcome only an operator can settle (`code`, `detail`, `cynod_reference`).
    #[serde(default)]
    pub action_required: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentPage {
    pub data: Vec<Payment>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The seed's 200 body of `POST /api/v1/pos/payments/initiate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Initiated {
    pub payment_request_id: String,
    pub qr_payload: String,
    pub nfc_payload: String,
    pub amount: Millimes,
    pub currency: String,
    pub expires_at: String,
    pub status: String,
}

/// `GET /api/v1/pos/payments/{id}/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionStatus {
    pub payment_request_id: String,
    pub status: String,
    pub amount: Millimes,
    pub currency: String,
    pub pos_reference: String,
    pub expires_at: String,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub confirmation_code: Option<String>,
    #[serde(default)]
    pub wallet_type: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// `employee` or `pos`, when cancelled.
    #[serde(default)]
    pub cancelled_by: Option<String>,
    /// When confirmed: `none`, `partially_refunded` or `refunded`.
    #[serde(default)]
    pub refund_status: Option<String>,
}

/// A PPM request as the employee's wallet sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct WalletRequest {
    pub payment_request_id: String,
    pub status: String,
    pub amount: Millimes,
    pub currency: String,
    pub merchant_name: String,
    pub description: Option<String>,
    pub expires_at: String,
    pub pin_attempts_left: u32,
    #[serde(default)]
    pub confirmation_code: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryAttempt {
    pub attempt: i64,
    pub at: String,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Delivery {
    pub delivery_id: String,
    pub event: String,
    pub payment_request_id: String,
    pub status: String,
    pub attempts: Vec<DeliveryAttempt>,
    pub created_at: String,
    pub updated_at: String,
    pub body: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryPage {
    pub data: Vec<Delivery>,
}

/// The decoded `nfc_payload`.
#[derive(Debug, Clone, Deserialize)]
pub struct NfcPayload {
    #[serde(rename = "SessionId")]
    pub session_id: String,
    #[serde(rename = "Amount")]
    pub amount: String,
    #[serde(rename = "Currency")]
    pub currency: String,
    #[serde(rename = "Merchant")]
    pub merchant: String,
    #[serde(rename = "ExpiresAt")]
    pub expires_at: String,
    #[serde(rename = "Url")]
    pub url: String,
}

impl NfcPayload {
    /// The link's `sig` (the tag that proves the request id came from a genuine QR or tag).
    pub fn link_sig(&self) -> Option<String> {
        self.url
            .split(['#', '&'])
            .find_map(|part| part.strip_prefix("sig="))
            .map(str::to_string)
    }
}

/// `POST /api/v1/pos/payments/{id}/refunds` (201).
#[derive(Debug, Clone, Deserialize)]
pub struct RefundCreated {
    pub refund_id: String,
    pub transaction_id: String,
    pub status: String,
    pub amount: Millimes,
    pub currency: String,
    pub payment_status: String,
    /// `none`, `partially_refunded` or `refunded`.
    pub refund_status: String,
    pub refunded_amount: Millimes,
    pub created_at: String,
}

/// The body of `POST /api/v1/pos/payments/initiate`; an optional field is left out when `None`.
#[derive(Debug, Clone, Serialize)]
pub struct InitiateBody {
    pub amount: Millimes,
    pub pos_reference: String,
    pub channel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where this request's webhook goes instead of the client's endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Sandbox only: a lifetime shorter than 60 s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<i64>,
}

/// `GET /api/v1/pos/reports/summary`: the console's day at a glance.
#[derive(Debug, Clone, Deserialize)]
pub struct DaySummary {
    pub merchant_id: String,
    pub client_id: String,
    pub date: String,
    pub time_zone: String,
    pub from: String,
    pub to: String,
    pub currency: String,
    pub volume: SummaryVolume,
    pub outcomes: SummaryOutcomes,
    pub webhooks: WebhookHealth,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SummaryVolume {
    pub count: u64,
    pub amount: Millimes,
    /// Every local hour of the day, in order.
    pub hours: Vec<HourVolume>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HourVolume {
    pub start: String,
    pub hour: String,
    pub count: u64,
    pub amount: Millimes,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SummaryOutcomes {
    pub by_flow: OutcomesByFlow,
    pub reasons: Vec<OutcomeReason>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutcomesByFlow {
    pub epm: FlowOutcomes,
    pub ppm: FlowOutcomes,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FlowOutcomes {
    pub succeeded: u64,
    pub failed: u64,
    pub expired: u64,
    pub cancelled: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OutcomeReason {
    pub flow: String,
    pub status: String,
    pub reason: Option<String>,
    pub count: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookHealth {
    pub deliveries: DeliveryStates,
    pub latency: Option<DeliveryLatency>,
    pub recent_attempts: Vec<RecentAttempt>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DeliveryStates {
    pub delivered: u64,
    pub failed: u64,
    pub dead_lettered: u64,
    pub pending: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryLatency {
    pub attempts: u64,
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub max_ms: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecentAttempt {
    pub at: String,
    pub latency_ms: i64,
    pub http_status: Option<i64>,
    pub acknowledged: bool,
}
