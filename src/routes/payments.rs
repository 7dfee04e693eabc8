//! POS payment routes: the EPM scan (`POST /api/v1/pos/payments/scan`, the seed's Flux A), the
//! look-ups by transaction id, payment id or `pos_reference`, the listing and refunds.
//! Invariant: a scan changes nothing unless it debits; a client only ever sees its own payments
//! (others' ids answer 404).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dyno_core::api::{LedgerPayment, PaymentResource, RefundCreated, ScanSucceeded};
use dyno_core::gate::{IndexEntry, Lookup, Reservation, ReservationResult};
use dyno_core::ids::{PaymentId, PosReference, RefundId};
use dyno_core::money::Minor;
use dyno_core::payment::machine::{Answer, Request};
use dyno_core::payment::view::PaymentView;
use dyno_core::payment::{Channel, Flow, Order, RefundStatus};
use dyno_core::qr::EpmQr;
use dyno_core::routes::Matched;
use dyno_core::sandbox::{Scenario, SANDBOX_CONFIRMATION_CODE};
use dyno_core::text::optional_text_within;
use dyno_core::{Amount, Currency, ErrorCode, Millis};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::Response;

use crate::auth::{Authorized, GateNeeds, PosCall, PosPrincipal};
use crate::error::{AppError, AppResult, PosResult};
use crate::http::{self, json_response};
use crate::platform;
use crate::registry;
use crate::stubs::{unexpected, PaymentStub};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBody {
    qr_payload: String,
    /// Kept as JSON text: parsed exactly, and a non-number is INVALID_AMOUNT, not a shape error.
    amount: Box<RawValue>,
    pos_reference: String,
    channel: String,
}

/// An amount sent by the POS, parsed exactly.
pub fn amount(text: &RawValue, max_minor: i64) -> AppResult<Minor> {
    Amount::parse_request(text.get(), Currency::Tnd, max_minor)
        .map(Minor::from)
        .map_err(|e| AppError::new(ErrorCode::InvalidAmount, e.to_string()))
}

/// Everything checkable before the gate: the body, the amount and the QR's signature.
struct ValidScan {
    /// Absent when simulating: in the sandbox, integrators test without a phone.
    qr: Option<EpmQr>,
    amount: Minor,
    pos_reference: PosReference,
    channel: Channel,
}

fn validate_scan(call: &PosCall<'_>) -> AppResult<ValidScan> {
    let body: ScanBody = http::json_body(call.req.headers(), &call.body)?;
    let amount = amount(&body.amount, call.config.max_amount_minor)?;
    let pos_reference = PosReference::parse(&body.pos_reference)?;
    let channel = Channel::parse(&body.channel)?;
    let qr = if call.wants_simulation() {
        if body.qr_payload.trim().is_empty() {
            return Err(AppError::new(ErrorCode::InvalidQr, "qr_payload vide."));
        }
        None
    } else {
        let qr = EpmQr::decode(&call.config.qr_secret, &body.qr_payload)
            .map_err(|e| AppError::new(ErrorCode::InvalidQr, e.to_string()))?;
        if qr.is_expired(platform::now()) {
            return Err(AppError::new(
                ErrorCode::QrExpired,
                "QR code scanné après 30 secondes: demandez un nouveau QR code à l'employé.",
            ));
        }
        Some(qr)
    };
    Ok(ValidScan {
        qr,
        amount,
        pos_reference,
        channel,
    })
}

/// The order a POS places: its sale, for its merchant, under the transaction id the gate gave it.
pub fn order_for(
    principal: &PosPrincipal,
    call: &PosCall<'_>,
    pos_reference: PosReference,
    amount: Minor,
    channel: Channel,
    reserved: Option<ReservationResult>,
    description: Option<String>,
) -> AppResult<Order> {
    let transaction_id = match reserved {
        Some(ReservationResult::Reserved { transaction_id }) => transaction_id,
        Some(ReservationResult::Conflict) => return Err(duplicate_reference(&pos_reference)),
        // The gate reserves nothing for a merchant that cannot take payments.
        None => return Err(merchant_not_found()),
    };
    Ok(Order {
        client_id: principal.client().clone(),
        merchant_id: principal.profile.merchant_id.clone(),
        merchant_name: principal.profile.merchant_name.clone(),
        pos_reference,
        amount,
        channel,
        transaction_id,
        description,
        sandbox: call.config.environment == crate::config::Environment::Sandbox,
        webhook_url: None,
    })
}

pub fn duplicate_reference(reference: &PosReference) -> AppError {
    AppError::new(
        ErrorCode::DuplicatePosReference,
        format!(
            "La pos_reference {reference} est déjà utilisée par un autre paiement de ce client."
        ),
    )
}

/// `POST /api/v1/pos/payments/scan`.
pub async fn scan(call: &PosCall<'_>) -> PosResult {
    let scan = match validate_scan(call) {
        Ok(scan) => scan,
        // Authentication and the rate limit still come first; the invalid request claims nothing.
        Err(error) => return call.refuse(error).await,
    };
    let Some(qr) = scan.qr else {
        let authorized = call.authorize(GateNeeds::default()).await?;
        return Ok(simulated_scan(authorized.simulate, scan.amount)?);
    };
    let id = PaymentId::parse(&qr.nonce)
        .ok_or_else(|| AppError::new(ErrorCode::InvalidQr, "QR code invalide."))?;
    let Authorized {
        principal,
        reservation,
        ..
    } = call
        .authorize(GateNeeds {
            reserve: Some(Reservation {
                pos_reference: scan.pos_reference.clone(),
                payment: id.clone(),
            }),
            lookup: None,
        })
        .await?;
    let order = order_for(
        &principal,
        call,
        scan.pos_reference,
        scan.amount,
        scan.channel,
        reservation,
        None,
    )?;
    let view = PaymentStub::of(call.env, &id)?
        .view(Request::Scan { id, order })
        .await?;
    Ok(json_response(200, &ScanSucceeded::of(&view))?)
}

/// A sandbox scan: the scenario's answer, and never a call to CYNOD.
fn simulated_scan(scenario: Option<Scenario>, amount: Minor) -> AppResult<Response> {
    let scenario = scenario.unwrap_or(Scenario::Success);
    if let Some(problem) = scenario.scan_error() {
        return Err(problem.into());
    }
    let now = platform::now();
    json_response(
        200,
        &ScanSucceeded {
            transaction_id: platform::new_uuid(),
            status: "succeeded",
            amount: amount.number(Currency::Tnd),
            currency: Currency::Tnd.code(),
            wallet_type: "TicketResto".into(),
            confirmation_code: SANDBOX_CONFIRMATION_CODE.into(),
            transaction_date: now.to_rfc3339(),
        },
    )
}

pub fn merchant_not_found() -> AppError {
    AppError::new(
        ErrorCode::MerchantNotFound,
        "Commerçant non affilié ou désactivé: ce terminal ne peut pas encaisser.",
    )
}

fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "Paiement introuvable.")
}

/// The payment an index entry points at, as this client sees it.
pub async fn fetch_payment(
    call: &PosCall<'_>,
    entry: Option<IndexEntry>,
) -> AppResult<PaymentView> {
    let entry = entry.ok_or_else(not_found)?;
    PaymentStub::of(call.env, &entry.payment)?
        .view(Request::Get {
            client: call.client().clone(),
        })
        .await
}

/// A payment id, a transaction id or a payment request id from the path, as the index knows it.
fn id_lookup(matched: &Matched) -> Option<Lookup> {
    matched
        .param("id")
        .and_then(PaymentId::parse)
        .map(|id| Lookup::Id(id.into_string()))
}

/// `GET /api/v1/pos/payments/{id}`: by transaction id or payment request id.
pub async fn get(call: &PosCall<'_>, matched: &Matched) -> PosResult {
    let needs = GateNeeds {
        reserve: None,
        lookup: id_lookup(matched),
    };
    let authorized = call.authorize(needs).await?;
    let view = fetch_payment(call, authorized.found).await?;
    Ok(json_response(200, &PaymentResource::of(&view))?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    pos_reference: Option<String>,
    from: Option<String>,
    to: Option<String>,
    status: Option<String>,
    refund_status: Option<String>,
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
pub async fn list(call: &PosCall<'_>) -> PosResult {
    let query: ListQuery = match call.req.query() {
        Ok(query) => query,
        Err(e) => {
            return call
                .refuse(invalid(format!("paramètres invalides: {e}")))
                .await
        }
    };
    let only_reference = query.from.is_none()
        && query.to.is_none()
        && query.status.is_none()
        && query.refund_status.is_none()
        && query.limit.is_none()
        && query.cursor.is_none();
    if let (Some(reference), true) = (&query.pos_reference, only_reference) {
        let Ok(reference) = PosReference::parse(reference) else {
            return call.refuse(invalid("pos_reference invalide.")).await;
        };
        let authorized = call
            .authorize(GateNeeds {
                reserve: None,
                lookup: Some(Lookup::PosReference(reference)),
            })
            .await?;
        let view = fetch_payment(call, authorized.found).await?;
        let page = Page {
            data: vec![PaymentResource::of(&view)],
            next_cursor: None,
        };
        return Ok(json_response(200, &page)?);
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
    // The ledger lists payments that moved money: `succeeded` (EPM) or `confirmed` (PPM).
    let flow = match query.status.as_deref() {
        None => None,
        Some("succeeded") => Some("epm"),
        Some("confirmed") => Some("ppm"),
        Some(other) => {
            return Err(invalid(format!("status « {other} »: succeeded ou confirmed.")).into())
        }
    };
    let refund_status = match query.refund_status.as_deref() {
        None => None,
        Some(s @ ("none" | "partially_refunded" | "refunded")) => Some(s),
        Some(other) => {
            return Err(invalid(format!(
                "refund_status « {other} »: none, partially_refunded ou refunded."
            ))
            .into())
        }
    };
    let limit = query.limit.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return Err(invalid("limit: entre 1 et 100.").into());
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
            flow,
            refund_status,
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
            PaymentResource::of_ledger(LedgerPayment {
                transaction_id: r.transaction_id,
                payment_request_id: r.payment_request_id,
                flow: if r.flow == "ppm" {
                    Flow::Ppm
                } else {
                    Flow::Epm
                },
                pos_reference: r.pos_reference,
                amount: Minor(r.amount_minor),
                refunded: Minor(r.refunded_minor),
                wallet_type: r.wallet_type,
                card_last4: r.card_last4,
                confirmation_code: r.confirmation_code,
                occurred_at: Millis(r.occurred_at_ms),
            })
        })
        .collect();
    Ok(json_response(200, &Page { data, next_cursor })?)
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

/// `POST /api/v1/pos/payments/{id}/refunds`: a full or partial refund, `Idempotency-Key` required.
/// The refund's id is derived from the client and the key, so a retried request — even one whose
/// key was freed — names the same refund and can never credit twice.
pub async fn refund(call: &PosCall<'_>, matched: &Matched) -> PosResult {
    let Some(key) = call.idempotency_key() else {
        return call
            .refuse(AppError::new(
                ErrorCode::IdempotencyKeyRequired,
                "Un remboursement exige l'en-tête Idempotency-Key.",
            ))
            .await;
    };
    let body: AppResult<RefundBody> = if call.body.is_empty() {
        Ok(RefundBody::default())
    } else {
        http::json_body(call.req.headers(), &call.body)
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => return call.refuse(e).await,
    };
    let authorized = call
        .authorize(GateNeeds {
            reserve: None,
            lookup: id_lookup(matched),
        })
        .await?;
    let amount = match &body.amount {
        Some(raw) => Some(amount(raw, call.config.max_amount_minor)?),
        None => None,
    };
    optional_text_within("reason", body.reason.as_deref(), 140)?;
    let entry = authorized.found.ok_or_else(not_found)?;
    let answer = PaymentStub::of(call.env, &entry.payment)?
        .run(Request::Refund {
            client: call.client().clone(),
            refund_id: RefundId::for_key(call.client(), key),
            amount,
            reason: body.reason,
        })
        .await?;
    let Answer::Refund { refund, payment } = answer else {
        return Err(unexpected(answer).into());
    };
    let status = if refund.status == RefundStatus::Pending {
        202
    } else {
        201
    };
    Ok(json_response(
        status,
        &RefundCreated::of(&refund, &payment),
    )?)
}
