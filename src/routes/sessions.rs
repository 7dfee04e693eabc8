//! PPM (the seed's Flux B), both sides. POS: initiate (QR PNG + NFC payload, 60 s), poll the
//! status, cancel. Employee: open the request from its signed link (marks it scanned), confirm
//! with a card and the PIN, or cancel. Invariant: one PaymentDO per request decides every
//! transition; a status poll costs one round trip's latency (gate and session in parallel).

use dyno_core::money::DecimalNumber;
use dyno_core::payment::{
    failure_reason, validate_channel, validate_pos_reference, Flow, Order, Payer, Payment, Status,
};
use dyno_core::qr::{ppm_wallet_link, verify_ppm_link_tag, NfcPayload, PPM_TTL_SECONDS};
use dyno_core::qr_png::render_png_base64;
use dyno_core::routes::Matched;
use dyno_core::sandbox::Scenario;
use dyno_core::text::optional_text_within;
use dyno_core::{Amount, Currency, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::{Env, Request, Response};

use crate::auth::{self, Authorized, GateNeeds, PosCall, WalletPrincipal};
use crate::config::{Config, Environment};
use crate::durable::client_gate::{Lookup, Reservation, ReservationResult};
use crate::durable::payment::{
    self, CancelRequest, ConfirmRequest, FailRequest, GetRequest, InitiateRequest, PaymentView,
    StatusReply, WalletView,
};
use crate::durable::{self};
use crate::error::{AppError, AppResult};
use crate::http::{self, json_response};
use crate::platform;
use crate::routes::payments::{merchant_not_found, status_word};
use crate::routes::wallet::{usable_card, verify_pin};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InitiateBody {
    amount: Box<RawValue>,
    pos_reference: String,
    description: Option<String>,
    channel: String,
    /// Sandbox only: a shorter lifetime, so integrators can test expiry without waiting 60 s.
    ttl_seconds: Option<i64>,
}

/// The seed's 200 body of `initiate`.
#[derive(Serialize)]
struct Initiated {
    payment_request_id: String,
    qr_payload: String,
    nfc_payload: String,
    amount: DecimalNumber,
    currency: &'static str,
    expires_at: String,
    status: &'static str,
}

struct ValidInitiate {
    ttl_seconds: i64,
    amount: Amount,
    pos_reference: String,
    description: Option<String>,
    channel: String,
}

fn validate_initiate(call: &PosCall<'_>) -> AppResult<ValidInitiate> {
    let body: InitiateBody = http::json_body(call.req.headers(), &call.body)?;
    let amount = Amount::parse_request(
        body.amount.get(),
        Currency::Tnd,
        call.config.max_amount_minor,
    )
    .map_err(|e| AppError::new(ErrorCode::InvalidAmount, e.to_string()))?;
    validate_pos_reference(&body.pos_reference)?;
    validate_channel(&body.channel)?;
    // A blank description is no description.
    optional_text_within("description", body.description.as_deref(), 140)?;
    let description = body
        .description
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty());
    let ttl_seconds = match (body.ttl_seconds, call.config.environment) {
        (None, _) => PPM_TTL_SECONDS,
        (Some(ttl), Environment::Sandbox) if (1..=PPM_TTL_SECONDS).contains(&ttl) => ttl,
        (Some(_), Environment::Sandbox) => {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                "ttl_seconds: entre 1 et 60.",
            ))
        }
        (Some(_), Environment::Production) => {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                "ttl_seconds n'existe qu'en sandbox.",
            ))
        }
    };
    Ok(ValidInitiate {
        ttl_seconds,
        amount,
        pos_reference: body.pos_reference,
        description,
        channel: body.channel,
    })
}

/// The answer to `initiate` for a request: QR PNG of the signed wallet link, and the NFC payload.
fn initiated(
    view: &PaymentView,
    merchant_name: &str,
    origin: &str,
    qr_key: &[u8],
) -> AppResult<Response> {
    let link = ppm_wallet_link(origin, qr_key, &view.payment_id);
    let qr_payload = render_png_base64(&link).map_err(AppError::internal)?;
    let amount = DecimalNumber::from_minor(view.amount_minor, Currency::Tnd);
    let nfc = NfcPayload {
        session_id: view.payment_id.clone(),
        amount: amount.text().to_string(),
        currency: Currency::Tnd.code().into(),
        merchant: merchant_name.to_string(),
        expires_at: view.expires_at.to_rfc3339(),
        url: link,
    };
    json_response(
        200,
        &Initiated {
            payment_request_id: view.payment_id.clone(),
            qr_payload,
            nfc_payload: nfc.encode(),
            amount,
            currency: Currency::Tnd.code(),
            expires_at: view.expires_at.to_rfc3339(),
            status: status_word(Flow::Ppm, view.status),
        },
    )
}

/// The origin of the PPM QR's wallet link: the configured `PUBLIC_BASE_URL` (https, and required
/// in production), never the request's Host; local dev without it uses the request's origin.
fn origin(call: &PosCall<'_>) -> AppResult<String> {
    match &call.config.public_base_url {
        Some(base_url) => Ok(base_url.clone()),
        None => Ok(call.req.url()?.origin().ascii_serialization()),
    }
}

/// `POST /api/v1/pos/payments/initiate`.
pub async fn initiate(call: &PosCall<'_>) -> AppResult<Response> {
    let valid = match validate_initiate(call) {
        Ok(valid) => valid,
        Err(error) => {
            call.authorize(GateNeeds::default()).await?;
            return Err(error);
        }
    };
    let id = platform::new_uuid();
    let Authorized {
        principal,
        reservation,
        found,
        simulate,
    } = call
        .authorize(GateNeeds {
            reserve: Some(Reservation {
                pos_reference: valid.pos_reference.clone(),
                payment_key: id.clone(),
            }),
            lookup: Some(Lookup::PosReference(valid.pos_reference.clone())),
        })
        .await?;
    if let Some(problem) = simulate.and_then(Scenario::immediate_error) {
        if let Some(ReservationResult::Reserved { .. }) = &reservation {
            let stub = auth::client_gate(call.env, principal.client_id())?;
            let release = Reservation {
                pos_reference: valid.pos_reference.clone(),
                payment_key: id.clone(),
            };
            durable::call::<_, ()>(&stub, "release", &release).await?;
        }
        return Err(problem.into());
    }
    let origin = origin(call)?;
    let transaction_id = match reservation {
        Some(ReservationResult::Reserved { transaction_id }) => transaction_id,
        Some(ReservationResult::Conflict) => {
            // A retried initiate (same sale, same amount, still open) gets its request back.
            if let Some(entry) = found {
                let existing: Result<PaymentView, AppError> = durable::call(
                    &payment::stub(call.env, &entry.payment_key)?,
                    "get",
                    &GetRequest {
                        client_id: principal.client_id().to_string(),
                    },
                )
                .await;
                if let Ok(view) = existing {
                    if view.flow == Flow::Ppm
                        && view.amount_minor == valid.amount.minor()
                        && !view.status.is_final()
                    {
                        return initiated(
                            &view,
                            &principal.profile.merchant_name,
                            &origin,
                            &call.config.qr_secret,
                        );
                    }
                }
            }
            return Err(AppError::new(
                ErrorCode::DuplicatePosReference,
                format!(
                    "La pos_reference {} est déjà utilisée par un autre paiement de ce client.",
                    valid.pos_reference
                ),
            ));
        }
        None => return Err(merchant_not_found()),
    };
    let now = platform::now();
    let order = Order {
        client_id: principal.client_id().to_string(),
        merchant_id: principal.profile.merchant_id.clone(),
        merchant_name: principal.profile.merchant_name.clone(),
        pos_reference: valid.pos_reference,
        amount_minor: valid.amount.minor(),
        channel: valid.channel,
        transaction_id,
        description: valid.description,
    };
    let mut session = Payment::initiate_ppm(&id, order, now, now.plus_ms(valid.ttl_seconds * 1000));
    session.simulation = simulate;
    let view: PaymentView = durable::call(
        &payment::stub(call.env, &id)?,
        "initiate",
        &InitiateRequest { payment: session },
    )
    .await?;
    initiated(
        &view,
        &principal.profile.merchant_name,
        &origin,
        &call.config.qr_secret,
    )
}

/// The status a POS polls.
#[derive(Serialize)]
pub struct SessionStatus {
    payment_request_id: String,
    status: &'static str,
    amount: DecimalNumber,
    currency: &'static str,
    pos_reference: String,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmation_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wallet_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl From<PaymentView> for SessionStatus {
    fn from(v: PaymentView) -> Self {
        let confirmed = v.status == Status::Succeeded;
        Self {
            status: v
                .refund_state
                .as_deref()
                .map(crate::routes::payments::refund_word)
                .unwrap_or_else(|| status_word(Flow::Ppm, v.status)),
            amount: DecimalNumber::from_minor(v.amount_minor, Currency::Tnd),
            currency: Currency::Tnd.code(),
            pos_reference: v.pos_reference,
            expires_at: v.expires_at.to_rfc3339(),
            transaction_id: confirmed.then_some(v.transaction_id),
            confirmation_code: v.confirmation_code.filter(|_| confirmed),
            wallet_type: v.wallet_type.filter(|_| confirmed),
            reason: v
                .failure_reason
                .filter(|_| v.status.is_final() && !confirmed),
            payment_request_id: v.payment_id,
        }
    }
}

fn session_id(matched: &Matched) -> Option<String> {
    matched
        .param("id")
        .filter(|id| dyno_core::ids::is_uuid(id))
        .map(str::to_ascii_lowercase)
}

fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "Demande de paiement introuvable.")
}

/// `GET /api/v1/pos/payments/{id}/status`: one round trip to the client's gate, which holds the
/// status every request publishes; a request the gate does not track is asked directly.
pub async fn status(call: &PosCall<'_>, matched: &Matched) -> AppResult<Response> {
    let id = session_id(matched);
    let (view, limit) = match call.poll(id.as_deref().unwrap_or("-")).await? {
        Some(tracked) => tracked,
        None => {
            let id = id.ok_or_else(not_found)?;
            let request = GetRequest {
                client_id: call.client_id().to_string(),
            };
            let reply: StatusReply =
                durable::call(&payment::stub(call.env, &id)?, "status", &request).await?;
            match reply.result {
                Ok(view) => (view, reply.limit),
                Err(problem) if problem.code == ErrorCode::RateLimited => {
                    return Err(auth::rate_limited(&reply.limit, problem.detail))
                }
                Err(problem) if problem.code == ErrorCode::NotFound => return Err(not_found()),
                Err(problem) => return Err(problem.into()),
            }
        }
    };
    if view.flow != Flow::Ppm {
        return Err(not_found());
    }
    let mut response = json_response(200, &SessionStatus::from(view))?;
    let headers = response.headers_mut();
    let _ = headers.set("RateLimit-Policy", &limit.policy_header());
    let _ = headers.set("RateLimit", &limit.limit_header());
    Ok(response)
}

/// `POST /api/v1/pos/payments/{id}/cancel`: only while the request is pending or scanned.
pub async fn cancel(call: &PosCall<'_>, matched: &Matched) -> AppResult<Response> {
    let authorized = call.authorize(GateNeeds::default()).await?;
    let id = session_id(matched).ok_or_else(not_found)?;
    let result: Result<PaymentView, AppError> = durable::call(
        &payment::stub(call.env, &id)?,
        "cancel",
        &CancelRequest {
            client_id: Some(authorized.principal.client_id().to_string()),
        },
    )
    .await;
    match result {
        Ok(view) => json_response(200, &SessionStatus::from(view)),
        Err(e) if e.code() == Some(ErrorCode::NotFound) => Err(not_found()),
        Err(e) => Err(e),
    }
}

/// What the employee sees of a request.
#[derive(Serialize)]
struct WalletRequestView {
    payment_request_id: String,
    status: &'static str,
    amount: DecimalNumber,
    currency: &'static str,
    merchant_name: String,
    description: Option<String>,
    expires_at: String,
    pin_attempts_left: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmation_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl From<WalletView> for WalletRequestView {
    fn from(v: WalletView) -> Self {
        Self {
            status: status_word(Flow::Ppm, v.status),
            amount: DecimalNumber::from_minor(v.amount_minor, Currency::Tnd),
            currency: Currency::Tnd.code(),
            merchant_name: v.merchant_name,
            description: v.description,
            expires_at: v.expires_at.to_rfc3339(),
            pin_attempts_left: v.pin_attempts_left,
            confirmation_code: v.confirmation_code,
            reason: v
                .failure_reason
                .filter(|_| v.status.is_final() && v.status != Status::Succeeded),
            payment_request_id: v.payment_request_id,
        }
    }
}

#[derive(Deserialize)]
struct SigQuery {
    sig: Option<String>,
}

/// The request id of a wallet route, checked against the tag of its link so that a made-up id
/// never reaches a Durable Object.
fn signed_request_id(
    req: &Request,
    matched: &Matched,
    config: &Config,
    body_sig: Option<&str>,
) -> AppResult<String> {
    let id = session_id(matched).ok_or_else(not_found)?;
    let query_sig = req.query::<SigQuery>().ok().and_then(|q| q.sig);
    let sig = body_sig
        .map(str::to_string)
        .or(query_sig)
        .unwrap_or_default();
    if verify_ppm_link_tag(&config.qr_secret, &id, &sig) {
        Ok(id)
    } else {
        Err(AppError::new(
            ErrorCode::InvalidQr,
            "Lien de paiement invalide ou altéré.",
        ))
    }
}

async fn wallet_call<Req: Serialize>(
    env: &Env,
    id: &str,
    op: &str,
    body: &Req,
) -> AppResult<Response> {
    let view: WalletView = durable::call(&payment::stub(env, id)?, op, body)
        .await
        .map_err(|e| match e.code() {
            Some(ErrorCode::NotFound) => not_found(),
            _ => e,
        })?;
    json_response(200, &WalletRequestView::from(view))
}

/// `GET /api/v1/wallet/payment-requests/{id}?sig=…`: shows the request and marks it scanned.
pub async fn wallet_view(req: &Request, env: &Env, matched: &Matched) -> AppResult<Response> {
    let config = Config::get(env)?;
    let id = signed_request_id(req, matched, &config, None)?;
    wallet_call(env, &id, "wallet_view", &()).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    card_number: String,
    pin: String,
    sig: Option<String>,
}

/// `POST /api/v1/wallet/payment-requests/{id}/confirm`: PIN, then card, then the one debit.
pub async fn wallet_confirm(
    mut req: Request,
    env: &Env,
    matched: &Matched,
    principal: &WalletPrincipal,
) -> AppResult<Response> {
    let config = Config::get(env)?;
    let body: ConfirmBody = http::read_json(&mut req).await?;
    let id = signed_request_id(&req, matched, &config, body.sig.as_deref())?;
    let stub = payment::stub(env, &id)?;
    if let Err(error) = verify_pin(env, &config, &principal.wallet_id, &body.pin).await {
        if error.code() == Some(ErrorCode::InvalidPin) {
            let view: WalletView = durable::call(&stub, "pin_failed", &()).await?;
            if view.status == Status::Failed {
                return Err(AppError::new(
                    ErrorCode::InvalidPin,
                    "Trois codes PIN erronés: la demande de paiement a échoué.",
                ));
            }
            return Err(AppError::new(
                ErrorCode::InvalidPin,
                format!(
                    "Code PIN incorrect: {} essai(s) restant(s).",
                    view.pin_attempts_left
                ),
            ));
        }
        return Err(error);
    }
    let card = match usable_card(env, &config, &principal.wallet_id, &body.card_number).await {
        Ok(card) => card,
        Err(error) => {
            if let Some(
                code @ (ErrorCode::CardNotFound | ErrorCode::CardExpired | ErrorCode::CardBlocked),
            ) = error.code()
            {
                let _: WalletView = durable::call(
                    &stub,
                    "fail",
                    &FailRequest {
                        reason: failure_reason(code).to_string(),
                    },
                )
                .await?;
            }
            return Err(error);
        }
    };
    let payer = Payer {
        wallet_id: principal.wallet_id.clone(),
        wallet_type: card
            .type_wallet
            .clone()
            .unwrap_or_else(|| "TicketResto".into()),
        card_number: card.numero_carte,
    };
    wallet_call(env, &id, "confirm", &ConfirmRequest { payer }).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    sig: Option<String>,
}

/// `POST /api/v1/wallet/payment-requests/{id}/cancel`.
pub async fn wallet_cancel(mut req: Request, env: &Env, matched: &Matched) -> AppResult<Response> {
    let config = Config::get(env)?;
    let bytes = http::read_body_bytes(&mut req).await?;
    let body: CancelBody = if bytes.is_empty() {
        CancelBody::default()
    } else {
        http::parse_json(&bytes)?
    };
    let id = signed_request_id(&req, matched, &config, body.sig.as_deref())?;
    let view: PaymentView = durable::call(
        &payment::stub(env, &id)?,
        "cancel",
        &CancelRequest { client_id: None },
    )
    .await
    .map_err(|e| match e.code() {
        Some(ErrorCode::NotFound) => not_found(),
        _ => e,
    })?;
    json_response(200, &SessionStatus::from(view))
}
