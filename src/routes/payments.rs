//! POS payment routes: the EPM scan (`POST /api/v1/pos/payments/scan`, the seed's Flux A) and the
//! look-ups by transaction id, payment id or `pos_reference`. Invariant: a scan changes nothing
//! unless it debits; a client only ever sees its own payments (others' ids answer 404).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dyno_core::money::DecimalNumber;
use dyno_core::payment::{
    validate_channel, validate_pos_reference, Flow, Order, RefundStatus, Status,
};
use dyno_core::qr::EpmQr;
use dyno_core::routes::Matched;
use dyno_core::sandbox::{Scenario, SANDBOX_CONFIRMATION_CODE};
use dyno_core::text::optional_text_within;
use dyno_core::Millis;
use dyno_core::{Amount, Currency, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::Response;

use crate::auth::{self, Authorized, GateNeeds, PosCall};
use crate::durable::client_gate::{IndexEntry, Lookup, Reservation, ReservationResult};
use crate::durable::payment::{
    self, GetRequest, PaymentView, RefundReply, RefundRequest, ScanReply, ScanRequest,
};
use crate::durable::{self};
use crate::error::{AppError, AppResult};
use crate::http::{self, json_response};
use crate::platform;
use crate::registry;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBody {
    qr_payload: String,
    /// Kept as JSON text: parsed exactly, and a non-number is INVALID_AMOUNT, not a shape error.
    amount: Box<RawValue>,
    pos_reference: String,
    channel: String,
}

/// The seed's 200 body, field for field.
#[derive(Serialize)]
struct ScanSucceeded {
    transaction_id: String,
    status: &'static str,
    amount: DecimalNumber,
    currency: &'static str,
    wallet_type: String,
    confirmation_code: String,
    transaction_date: String,
}

/// Everything checkable before the gate: the body, the amount and the QR's signature.
struct ValidScan {
    /// Absent when simulating: in the sandbox, integrators test without a phone.
    qr: Option<EpmQr>,
    amount_minor: i64,
    pos_reference: String,
    channel: String,
}

fn validate_scan(call: &PosCall<'_>, simulating: bool) -> AppResult<ValidScan> {
    let body: ScanBody = http::json_body(call.req.headers(), &call.body)?;
    let amount = Amount::parse_request(
        body.amount.get(),
        Currency::Tnd,
        call.config.max_amount_minor,
    )
    .map_err(|e| AppError::new(ErrorCode::InvalidAmount, e.to_string()))?;
    validate_pos_reference(&body.pos_reference)?;
    validate_channel(&body.channel)?;
    if simulating {
        if body.qr_payload.trim().is_empty() {
            return Err(AppError::new(ErrorCode::InvalidQr, "qr_payload vide."));
        }
        return Ok(ValidScan {
            qr: None,
            amount_minor: amount.minor(),
            pos_reference: body.pos_reference,
            channel: body.channel,
        });
    }
    let qr = EpmQr::decode(&call.config.qr_secret, &body.qr_payload)
        .map_err(|e| AppError::new(ErrorCode::InvalidQr, e.to_string()))?;
    if qr.is_expired(platform::now()) {
        return Err(AppError::new(
            ErrorCode::QrExpired,
            "QR code scanné après 30 secondes: demandez un nouveau QR code à l'employé.",
        ));
    }
    let qr = Some(qr);
    Ok(ValidScan {
        qr,
        amount_minor: amount.minor(),
        pos_reference: body.pos_reference,
        channel: body.channel,
    })
}

/// `POST /api/v1/pos/payments/scan`.
pub async fn scan(call: &PosCall<'_>) -> AppResult<Response> {
    let scan = match validate_scan(call, call.wants_simulation()) {
        Ok(scan) => scan,
        Err(error) => {
            // Authentication and the rate limit still come first; the invalid request claims nothing.
            call.authorize(GateNeeds::default()).await?;
            return Err(error);
        }
    };
    let Some(qr) = scan.qr else {
        let authorized = call.authorize(GateNeeds::default()).await?;
        return simulated_scan(authorized.simulate, scan.amount_minor);
    };
    let reservation = Reservation {
        pos_reference: scan.pos_reference.clone(),
        payment_key: qr.nonce.clone(),
    };
    let Authorized {
        principal,
        reservation: reserved,
        ..
    } = call
        .authorize(GateNeeds {
            reserve: Some(reservation.clone()),
            lookup: None,
        })
        .await?;
    let transaction_id = match reserved {
        Some(ReservationResult::Reserved { transaction_id }) => transaction_id,
        Some(ReservationResult::Conflict) => {
            return Err(AppError::new(
                ErrorCode::DuplicatePosReference,
                format!(
                    "La pos_reference {} est déjà utilisée par un autre paiement de ce client.",
                    scan.pos_reference
                ),
            ))
        }
        // The gate reserves nothing for a merchant that cannot take payments.
        None => return Err(merchant_not_found()),
    };
    let order = Order {
        client_id: principal.client_id().to_string(),
        merchant_id: principal.profile.merchant_id.clone(),
        merchant_name: principal.profile.merchant_name.clone(),
        pos_reference: scan.pos_reference,
        amount_minor: scan.amount_minor,
        channel: scan.channel,
        transaction_id,
        description: None,
    };
    let reply: ScanReply = durable::call(
        &payment::stub(call.env, &qr.nonce)?,
        "scan",
        &ScanRequest { order },
    )
    .await?;
    if reply.release {
        durable::call::<_, ()>(
            &auth::client_gate(call.env, principal.client_id())?,
            "release",
            &reservation,
        )
        .await?;
    }
    let view = reply.result?;
    json_response(
        200,
        &ScanSucceeded {
            transaction_id: view.transaction_id,
            status: "succeeded",
            amount: DecimalNumber::from_minor(view.amount_minor, Currency::Tnd),
            currency: Currency::Tnd.code(),
            wallet_type: view.wallet_type.unwrap_or_default(),
            confirmation_code: view.confirmation_code.unwrap_or_default(),
            transaction_date: view
                .transaction_date
                .unwrap_or(view.created_at)
                .to_rfc3339(),
        },
    )
}

/// A sandbox scan: the scenario's answer, and never a call to CYNOD.
fn simulated_scan(scenario: Option<Scenario>, amount_minor: i64) -> AppResult<Response> {
    let scenario = scenario.unwrap_or(Scenario::Success);
    if let Some(problem) = scenario.scan_error() {
        return Err(problem.into());
    }
    json_response(
        200,
        &ScanSucceeded {
            transaction_id: platform::new_uuid(),
            status: "succeeded",
            amount: DecimalNumber::from_minor(amount_minor, Currency::Tnd),
            currency: Currency::Tnd.code(),
            wallet_type: "TicketResto".into(),
            confirmation_code: SANDBOX_CONFIRMATION_CODE.into(),
            transaction_date: platform::now().to_rfc3339(),
        },
    )
}

pub fn merchant_not_found() -> AppError {
    AppError::new(
        ErrorCode::MerchantNotFound,
        "Commerçant non affilié ou désactivé: ce terminal ne peut pas encaisser.",
    )
}

/// A payment as the look-up routes return it.
#[derive(Serialize)]
pub struct PaymentResource {
    transaction_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_request_id: Option<String>,
    flow: Flow,
    status: &'static str,
    amount: DecimalNumber,
    currency: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refunded_amount: Option<DecimalNumber>,
    pos_reference: String,
    channel: String,
    wallet_type: Option<String>,
    card_last4: Option<String>,
    confirmation_code: Option<String>,
    transaction_date: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
}

/// The status word a POS sees: the seed's for PPM sessions, `succeeded`/`processing`/`failed` for EPM.
pub fn status_word(flow: Flow, status: Status) -> &'static str {
    match (flow, status) {
        (Flow::Epm, Status::Succeeded) => "succeeded",
        (Flow::Epm, Status::Processing | Status::Unresolved) => "processing",
        (Flow::Epm, _) => "failed",
        (Flow::Ppm, Status::Pending | Status::Issued) => "pending",
        (Flow::Ppm, Status::Scanned | Status::Processing | Status::Unresolved) => "scanned",
        (Flow::Ppm, Status::Succeeded) => "confirmed",
        (Flow::Ppm, Status::Failed) => "failed",
        (Flow::Ppm, Status::Expired) => "expired",
        (Flow::Ppm, Status::Cancelled) => "cancelled",
    }
}

impl From<PaymentView> for PaymentResource {
    fn from(v: PaymentView) -> Self {
        Self {
            transaction_id: v.transaction_id,
            payment_request_id: (v.flow == Flow::Ppm).then(|| v.payment_id.clone()),
            flow: v.flow,
            status: v
                .refund_state
                .as_deref()
                .map(refund_word)
                .unwrap_or_else(|| status_word(v.flow, v.status)),
            amount: DecimalNumber::from_minor(v.amount_minor, Currency::Tnd),
            currency: Currency::Tnd.code(),
            refunded_amount: (v.refunded_minor > 0)
                .then(|| DecimalNumber::from_minor(v.refunded_minor, Currency::Tnd)),
            pos_reference: v.pos_reference,
            channel: v.channel,
            wallet_type: v.wallet_type,
            card_last4: v.card_last4,
            confirmation_code: v.confirmation_code,
            transaction_date: v.transaction_date.map(|t| t.to_rfc3339()),
            created_at: v.created_at.to_rfc3339(),
            failure_reason: v.failure_reason,
        }
    }
}

/// The static word of a refund state.
pub fn refund_word(state: &str) -> &'static str {
    if state == "refunded" {
        "refunded"
    } else {
        "partially_refunded"
    }
}

fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "Paiement introuvable.")
}

/// The payment an index entry points at, as this client sees it.
pub async fn fetch_payment(
    call: &PosCall<'_>,
    client_id: &str,
    entry: Option<IndexEntry>,
) -> AppResult<PaymentView> {
    let entry = entry.ok_or_else(not_found)?;
    let result: Result<PaymentView, AppError> = durable::call(
        &payment::stub(call.env, &entry.payment_key)?,
        "get",
        &GetRequest {
            client_id: client_id.to_string(),
        },
    )
    .await;
    result.map_err(|e| match e.code() {
        Some(ErrorCode::NotFound) => not_found(),
        _ => e,
    })
}

/// `GET /api/v1/pos/payments/{id}`: by transaction id or payment request id.
pub async fn get(call: &PosCall<'_>, matched: &Matched) -> AppResult<Response> {
    let id = matched.param("id").unwrap_or_default().to_string();
    let needs = GateNeeds {
        reserve: None,
        lookup: dyno_core::ids::is_uuid(&id).then(|| Lookup::Id(id.to_ascii_lowercase())),
    };
    let authorized = call.authorize(needs).await?;
    let view = fetch_payment(call, authorized.principal.client_id(), authorized.found).await?;
    json_response(200, &PaymentResource::from(view))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    pos_reference: Option<String>,
    from: Option<String>,
    to: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct Page {
    data: Vec<PaymentResource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

fn invalid(detail: impl Into<String>) -> AppError {
    AppError::new(ErrorCode::InvalidRequest, detail)
}

/// `GET /api/v1/pos/payments`. With `pos_reference` alone, the sale's payment from the gate's
/// index (consistent at once: how a POS that lost a scan's answer learns what happened, without
/// ever paying twice). Otherwise the completed payments from D1, newest first, filtered by
/// `from`/`to` (RFC 3339), `status` and `pos_reference`, with a keyset `cursor`.
pub async fn list(call: &PosCall<'_>) -> AppResult<Response> {
    let query: ListQuery = match call.req.query() {
        Ok(query) => query,
        Err(e) => {
            call.authorize(GateNeeds::default()).await?;
            return Err(invalid(format!("paramètres invalides: {e}")));
        }
    };
    let only_reference = query.from.is_none()
        && query.to.is_none()
        && query.status.is_none()
        && query.limit.is_none()
        && query.cursor.is_none();
    if let (Some(reference), true) = (&query.pos_reference, only_reference) {
        if validate_pos_reference(reference).is_err() {
            call.authorize(GateNeeds::default()).await?;
            return Err(invalid("pos_reference invalide."));
        }
        let authorized = call
            .authorize(GateNeeds {
                reserve: None,
                lookup: Some(Lookup::PosReference(reference.clone())),
            })
            .await?;
        let view = fetch_payment(call, authorized.principal.client_id(), authorized.found).await?;
        return json_response(
            200,
            &Page {
                data: vec![PaymentResource::from(view)],
                next_cursor: None,
            },
        );
    }
    let authorized = call.authorize(GateNeeds::default()).await?;
    let instant = |text: &Option<String>, name: &str, default: i64| -> AppResult<i64> {
        match text {
            Some(t) => Millis::parse_rfc3339(t)
                .map(|m| m.0)
                .ok_or_else(|| invalid(format!("{name}: date RFC 3339 attendue."))),
            None => Ok(default),
        }
    };
    let from_ms = instant(&query.from, "from", 0)?;
    let to_ms = instant(&query.to, "to", i64::MAX / 2)?;
    let status = match query.status.as_deref() {
        None => None,
        Some(s @ ("succeeded" | "partially_refunded" | "refunded")) => Some(s),
        Some(other) => {
            return Err(invalid(format!(
                "status « {other} »: succeeded, partially_refunded ou refunded."
            )))
        }
    };
    let limit = query.limit.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return Err(invalid("limit: entre 1 et 100."));
    }
    let before = match &query.cursor {
        Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| invalid("cursor invalide."))?),
        None => None,
    };
    let rows = registry::list_payments(
        &registry::db(call.env)?,
        &registry::PaymentFilter {
            client_id: authorized.principal.client_id(),
            from_ms,
            to_ms,
            pos_reference: query.pos_reference.as_deref(),
            status,
            before,
            limit: limit + 1,
        },
    )
    .await?;
    let more = rows.len() as i64 > limit;
    let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
    let next_cursor = more
        .then(|| {
            rows.last()
                .map(|r| encode_cursor(r.occurred_at_ms, &r.movement_id))
        })
        .flatten();
    let data = rows
        .into_iter()
        .map(|r| {
            let state = match r.refunded_minor {
                0 => None,
                x if x >= r.amount_minor => Some("refunded"),
                _ => Some("partially_refunded"),
            };
            let flow = if r.flow == "ppm" {
                Flow::Ppm
            } else {
                Flow::Epm
            };
            PaymentResource {
                transaction_id: r.transaction_id,
                payment_request_id: r.payment_request_id,
                flow,
                status: state.unwrap_or(if flow == Flow::Ppm {
                    "confirmed"
                } else {
                    "succeeded"
                }),
                amount: DecimalNumber::from_minor(r.amount_minor, Currency::Tnd),
                currency: Currency::Tnd.code(),
                refunded_amount: (r.refunded_minor > 0)
                    .then(|| DecimalNumber::from_minor(r.refunded_minor, Currency::Tnd)),
                pos_reference: r.pos_reference,
                channel: String::new(),
                wallet_type: r.wallet_type,
                card_last4: r.card_last4,
                confirmation_code: r.confirmation_code,
                transaction_date: Some(Millis(r.occurred_at_ms).to_rfc3339()),
                created_at: Millis(r.occurred_at_ms).to_rfc3339(),
                failure_reason: None,
            }
        })
        .collect();
    json_response(200, &Page { data, next_cursor })
}

fn encode_cursor(at_ms: i64, movement_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at_ms}:{movement_id}"))
}

fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (at, id) = text.split_once(':')?;
    Some((at.parse().ok()?, id.to_string()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    /// Kept as JSON text; absent means the whole refundable remainder.
    amount: Option<Box<RawValue>>,
    reason: Option<String>,
}

#[derive(Serialize)]
struct RefundCreated {
    refund_id: String,
    transaction_id: String,
    status: RefundStatus,
    amount: DecimalNumber,
    currency: &'static str,
    payment_status: &'static str,
    refunded_amount: DecimalNumber,
    created_at: String,
}

/// `POST /api/v1/pos/payments/{id}/refunds`: a full or partial refund, `Idempotency-Key` required.
pub async fn refund(call: &PosCall<'_>, matched: &Matched) -> AppResult<Response> {
    let id = matched.param("id").unwrap_or_default().to_ascii_lowercase();
    if !call.has_idempotency_key() {
        call.authorize(GateNeeds::default()).await?;
        return Err(AppError::new(
            ErrorCode::IdempotencyKeyRequired,
            "Un remboursement exige l'en-tête Idempotency-Key.",
        ));
    }
    let body: Result<RefundBody, AppError> = if call.body.is_empty() {
        Ok(RefundBody::default())
    } else {
        http::json_body(call.req.headers(), &call.body)
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            call.authorize(GateNeeds::default()).await?;
            return Err(e);
        }
    };
    let authorized = call
        .authorize(GateNeeds {
            reserve: None,
            lookup: dyno_core::ids::is_uuid(&id).then(|| Lookup::Id(id.clone())),
        })
        .await?;
    let amount_minor = match &body.amount {
        Some(raw) => Some(
            Amount::parse_request(raw.get(), Currency::Tnd, call.config.max_amount_minor)
                .map_err(|e| AppError::new(ErrorCode::InvalidAmount, e.to_string()))?
                .minor(),
        ),
        None => None,
    };
    optional_text_within("reason", body.reason.as_deref(), 140)?;
    let entry = authorized.found.ok_or_else(not_found)?;
    let reply: RefundReply = durable::call(
        &payment::stub(call.env, &entry.payment_key)?,
        "refund",
        &RefundRequest {
            client_id: authorized.principal.client_id().to_string(),
            refund_id: platform::new_uuid(),
            amount_minor,
            reason: body.reason,
        },
    )
    .await
    .map_err(|e| match e.code() {
        Some(ErrorCode::NotFound) => not_found(),
        _ => e,
    })?;
    json_response(
        201,
        &RefundCreated {
            refund_id: reply.refund.refund_id,
            transaction_id: reply.payment.transaction_id,
            status: reply.refund.status,
            amount: DecimalNumber::from_minor(reply.refund.amount_minor, Currency::Tnd),
            currency: Currency::Tnd.code(),
            payment_status: reply
                .payment
                .refund_state
                .as_deref()
                .map(refund_word)
                .unwrap_or("succeeded"),
            refunded_amount: DecimalNumber::from_minor(reply.payment.refunded_minor, Currency::Tnd),
            created_at: reply.refund.created_at.to_rfc3339(),
        },
    )
}
