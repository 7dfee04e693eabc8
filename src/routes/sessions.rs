//! PPM (the seed's Flux B), both sides. POS: initiate (QR PNG + NFC payload, 60 s), poll the
//! status, cancel. Employee: open the request from its signed link (marks it scanned), confirm
//! with a card and the PIN, or cancel. Invariant: one PaymentDO per request decides every
//! transition; a status poll is one round trip to the client's gate.

use dyno_core::api::{Initiated, SessionStatus, WalletRequestView};
use dyno_core::gate::{Lookup, Reservation, ReservationResult};
use dyno_core::ids::{PaymentId, PosReference};
use dyno_core::payment::machine::{Answer, Canceller, Request};
use dyno_core::payment::view::PaymentView;
use dyno_core::payment::{failure_reason, Channel, Flow, Payer, Status};
use dyno_core::qr::{ppm_wallet_link, verify_ppm_link_tag, NfcPayload, PPM_TTL_SECONDS};
use dyno_core::qr_png::render_png_base64;
use dyno_core::routes::Matched;
use dyno_core::sandbox::Scenario;
use dyno_core::text::optional_text_within;
use dyno_core::webhook::{same_host, validate_webhook_url};
use dyno_core::{Currency, ErrorCode, Minor};
use serde::Deserialize;
use serde_json::value::RawValue;
use worker::{Env, Request as HttpRequest, Response};

use crate::auth::{rate_limited, Authorized, GateNeeds, PosCall, WalletPrincipal};
use crate::config::{Config, Environment};
use crate::error::{AppError, AppResult, PosResult};
use crate::http::{self, json_response};
use crate::platform;
use crate::registry;
use crate::routes::payments::{amount, order_for};
use crate::routes::wallet::{usable_card, verify_pin};
use crate::stubs::{unexpected, GateStub, PaymentStub};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InitiateBody {
    amount: Box<RawValue>,
    pos_reference: String,
    description: Option<String>,
    channel: String,
    /// Sandbox only: a shorter lifetime, so integrators can test expiry without waiting 60 s.
    ttl_seconds: Option<i64>,
    /// This request's webhooks go here rather than to the client's endpoint.
    webhook_url: Option<String>,
}

struct ValidInitiate {
    ttl_seconds: i64,
    amount: Minor,
    pos_reference: PosReference,
    description: Option<String>,
    channel: Channel,
    webhook_url: Option<String>,
}

fn validate_initiate(call: &PosCall<'_>) -> AppResult<ValidInitiate> {
    let body: InitiateBody = http::json_body(call.req.headers(), &call.body)?;
    let amount = amount(&body.amount, call.config.max_amount_minor)?;
    let pos_reference = PosReference::parse(&body.pos_reference)?;
    let channel = Channel::parse(&body.channel)?;
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
    let production = call.config.environment == Environment::Production;
    let webhook_url = match body.webhook_url {
        Some(url) => Some(
            validate_webhook_url(&url, production)
                .map_err(|e| AppError::new(ErrorCode::InvalidRequest, format!("webhook_url: {e}")))?
                .to_string(),
        ),
        None => None,
    };
    Ok(ValidInitiate {
        ttl_seconds,
        amount,
        pos_reference,
        description,
        channel,
        webhook_url,
    })
}

/// A request's own webhook URL needs the client's endpoint: its secret signs the deliveries, and in
/// production the URL's host must be the endpoint's (the host the client registered).
async fn check_webhook_url(call: &PosCall<'_>, url: &str) -> AppResult<()> {
    let endpoint = registry::webhook_endpoint(&registry::db(call.env)?, call.client().as_str())
        .await?
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::InvalidRequest,
                "webhook_url: configurez d'abord l'endpoint du client (PUT /api/v1/pos/webhooks/endpoint), dont le secret signe les livraisons.",
            )
        })?;
    if call.config.environment == Environment::Production && !same_host(url, &endpoint.url) {
        return Err(AppError::new(
            ErrorCode::InvalidRequest,
            "webhook_url: en production, l'hôte doit être celui de l'endpoint enregistré.",
        ));
    }
    Ok(())
}

/// The answer to `initiate` for a request: QR PNG of the signed wallet link, and the NFC payload.
fn initiated(call: &PosCall<'_>, view: &PaymentView, merchant_name: &str) -> AppResult<Response> {
    let link = ppm_wallet_link(
        &origin(call)?,
        &call.config.qr_secret,
        view.payment_id.as_str(),
    );
    let qr_payload = render_png_base64(&link).map_err(AppError::internal)?;
    let nfc = NfcPayload {
        session_id: view.payment_id.to_string(),
        amount: view.amount.number(Currency::Tnd).text().to_string(),
        currency: Currency::Tnd.code().into(),
        merchant: merchant_name.to_string(),
        expires_at: view.expires_at.to_rfc3339(),
        url: link,
    };
    json_response(200, &Initiated::of(view, qr_payload, nfc.encode()))
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
pub async fn initiate(call: &PosCall<'_>) -> PosResult {
    let valid = match validate_initiate(call) {
        Ok(valid) => valid,
        Err(error) => return call.refuse(error).await,
    };
    if let Some(url) = &valid.webhook_url {
        if let Err(error) = check_webhook_url(call, url).await {
            return call.refuse(error).await;
        }
    }
    let id = PaymentId::from_random(platform::random_bytes());
    let reservation = Reservation {
        pos_reference: valid.pos_reference.clone(),
        payment: id.clone(),
    };
    let Authorized {
        principal,
        reservation: reserved,
        found,
        simulate,
    } = call
        .authorize(GateNeeds {
            reserve: Some(reservation.clone()),
            lookup: Some(Lookup::PosReference(valid.pos_reference.clone())),
        })
        .await?;
    if let Some(problem) = simulate.and_then(Scenario::initiate_error) {
        if let Some(ReservationResult::Reserved { .. }) = &reserved {
            GateStub::client(call.env, principal.client_id())?
                .release(reservation)
                .await?;
        }
        return Err(AppError::from(problem).into());
    }
    let merchant_name = principal.profile.merchant_name.clone();
    if let (Some(ReservationResult::Conflict), Some(entry)) = (&reserved, found) {
        // A retried initiate (same sale, same amount, still open) gets its request back.
        let existing = PaymentStub::of(call.env, &entry.payment)?
            .view(Request::Get {
                client: call.client().clone(),
            })
            .await;
        if let Ok(view) = existing {
            if view.flow == Flow::Ppm && view.amount == valid.amount && !view.status.is_final() {
                return Ok(initiated(call, &view, &merchant_name)?);
            }
        }
    }
    let mut order = order_for(
        &principal,
        call,
        valid.pos_reference,
        valid.amount,
        valid.channel,
        reserved,
        valid.description,
    )?;
    order.webhook_url = valid.webhook_url;
    let now = platform::now();
    let view = PaymentStub::of(call.env, &id)?
        .view(Request::Initiate {
            id,
            order,
            expires_at: now.plus_ms(valid.ttl_seconds * 1000),
            simulation: simulate,
        })
        .await?;
    Ok(initiated(call, &view, &merchant_name)?)
}

fn session_id(matched: &Matched) -> AppResult<PaymentId> {
    matched
        .param("id")
        .and_then(PaymentId::parse)
        .ok_or_else(not_found)
}

fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "Demande de paiement introuvable.")
}

/// A not-found from the request's object, in this route family's words.
fn or_not_found(error: AppError) -> AppError {
    match error.code() {
        Some(ErrorCode::NotFound) => not_found(),
        _ => error,
    }
}

/// `GET /api/v1/pos/payments/{id}/status`: one round trip to the client's gate, which holds the
/// status every request publishes; a request the gate does not track is asked directly.
pub async fn status(call: &PosCall<'_>, matched: &Matched) -> PosResult {
    let id = match session_id(matched) {
        Ok(id) => id,
        Err(error) => return call.refuse(error).await,
    };
    // The gate holds a copy of every published request; only one it does not track is asked of
    // its own object.
    let (view, limit) = match call.poll(&id).await? {
        Some(tracked) => tracked,
        None => {
            let answer = PaymentStub::of(call.env, &id)?
                .poll(call.client())
                .await
                .map_err(or_not_found)?;
            match answer.view {
                Some(view) if view.flow == Flow::Ppm => (view, answer.limit),
                Some(_) => return Err(not_found().into()),
                None => {
                    return Err(rate_limited(
                        &answer.limit,
                        "Trop d'interrogations de statut: 1 par seconde suffit.".into(),
                    )
                    .into())
                }
            }
        }
    };
    let body = serde_json::to_string(&SessionStatus::of(&view))?;
    let mut response = http::bytes_response(200, "application/json", body.into_bytes());
    let headers = response.headers_mut();
    headers.set("RateLimit-Policy", &limit.policy_header())?;
    headers.set("RateLimit", &limit.limit_header())?;
    Ok(response)
}

/// `POST /api/v1/pos/payments/{id}/cancel`: only while the request is pending or scanned.
pub async fn cancel(call: &PosCall<'_>, matched: &Matched) -> PosResult {
    call.authorize(GateNeeds::default()).await?;
    let view = PaymentStub::of(call.env, &session_id(matched)?)?
        .view(Request::Cancel {
            by: Canceller::Pos(call.client().clone()),
        })
        .await
        .map_err(or_not_found)?;
    Ok(json_response(200, &SessionStatus::of(&view))?)
}

#[derive(Deserialize)]
struct SigQuery {
    sig: Option<String>,
}

/// The request id of a wallet route, checked against the tag of its link so that a made-up id
/// never reaches a Durable Object.
fn signed_request_id(
    req: &HttpRequest,
    matched: &Matched,
    config: &Config,
    body_sig: Option<&str>,
) -> AppResult<PaymentId> {
    let id = session_id(matched)?;
    let query_sig = req.query::<SigQuery>().ok().and_then(|q| q.sig);
    let sig = body_sig
        .map(str::to_string)
        .or(query_sig)
        .unwrap_or_default();
    if verify_ppm_link_tag(&config.qr_secret, id.as_str(), &sig) {
        Ok(id)
    } else {
        Err(AppError::new(
            ErrorCode::InvalidQr,
            "Lien de paiement invalide ou altéré.",
        ))
    }
}

/// Runs an employee's request against the PPM request's object; its answer is the employee's view.
async fn wallet_run(env: &Env, id: &PaymentId, request: Request) -> AppResult<Response> {
    match PaymentStub::of(env, id)?
        .run(request)
        .await
        .map_err(or_not_found)?
    {
        Answer::Wallet(view) => json_response(200, &WalletRequestView::of(&view)),
        other => Err(unexpected(other)),
    }
}

/// `GET /api/v1/wallet/payment-requests/{id}?sig=…`: shows the request and marks it scanned.
pub async fn wallet_view(req: &HttpRequest, env: &Env, matched: &Matched) -> AppResult<Response> {
    let config = Config::get(env)?;
    let id = signed_request_id(req, matched, &config, None)?;
    wallet_run(env, &id, Request::Open).await
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
    mut req: HttpRequest,
    env: &Env,
    matched: &Matched,
    principal: &WalletPrincipal,
) -> AppResult<Response> {
    let config = Config::get(env)?;
    let body: ConfirmBody = http::read_json(&mut req).await?;
    let id = signed_request_id(&req, matched, &config, body.sig.as_deref())?;
    let stub = PaymentStub::of(env, &id)?;
    if let Err(error) = verify_pin(env, &config, &principal.wallet_id, &body.pin).await {
        if error.code() != Some(ErrorCode::InvalidPin) {
            return Err(error);
        }
        let Answer::Wallet(view) = stub.run(Request::PinFailed).await.map_err(or_not_found)? else {
            return Err(AppError::internal("pin_failed answered no wallet view"));
        };
        return Err(if view.status == Status::Failed {
            AppError::new(
                ErrorCode::InvalidPin,
                "Trois codes PIN erronés: la demande de paiement a échoué.",
            )
        } else {
            AppError::new(
                ErrorCode::InvalidPin,
                format!(
                    "Code PIN incorrect: {} essai(s) restant(s).",
                    view.pin_attempts_left
                ),
            )
        });
    }
    let card = match usable_card(env, &config, &principal.wallet_id, &body.card_number).await {
        Ok(card) => card,
        Err(error) => {
            if let Some(
                code @ (ErrorCode::CardNotFound | ErrorCode::CardExpired | ErrorCode::CardBlocked),
            ) = error.code()
            {
                let reason = failure_reason(code).to_string();
                stub.run(Request::Fail { reason }).await?;
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
    wallet_run(env, &id, Request::Confirm { payer }).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    sig: Option<String>,
}

/// `POST /api/v1/wallet/payment-requests/{id}/cancel`.
pub async fn wallet_cancel(
    mut req: HttpRequest,
    env: &Env,
    matched: &Matched,
) -> AppResult<Response> {
    let config = Config::get(env)?;
    let bytes = http::read_body_bytes(&mut req).await?;
    let body: CancelBody = if bytes.is_empty() {
        CancelBody::default()
    } else {
        http::parse_json(&bytes)?
    };
    let id = signed_request_id(&req, matched, &config, body.sig.as_deref())?;
    let view = PaymentStub::of(env, &id)?
        .view(Request::Cancel {
            by: Canceller::Employee,
        })
        .await
        .map_err(or_not_found)?;
    json_response(200, &SessionStatus::of(&view))
}
