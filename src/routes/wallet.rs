//! The employee wallet API (what the employee app calls): PIN login, cards with balances, and the
//! EPM QR. Invariant: PINs are only compared as peppered hashes, repeated wrong PINs lock the
//! wallet for a while, and a QR is only issued for a usable card of the logged-in wallet.

use dyno_core::auth::credentials::verify_secret;
use dyno_core::auth::credentials::{validate_pin, validate_wallet_id};
use dyno_core::auth::jwt::{AccessClaims, Audience, WALLET_TOKEN_TTL_SECONDS};
use dyno_core::cynod::{card_last4, cynod_date_to_iso, CardItem};
use dyno_core::ids::PaymentId;
use dyno_core::money::DecimalNumber;
use dyno_core::payment::machine::Request as PaymentRequest;
use dyno_core::payment::Payer;
use dyno_core::qr::{EpmQr, EPM_QR_TTL_SECONDS};
use dyno_core::{Currency, ErrorCode, Millis, Problem};
use serde::{Deserialize, Serialize};
use worker::{Env, Request, Response};

use crate::auth::WalletPrincipal;
use crate::config::{Config, Environment};
use crate::cynod::CynodClient;
use crate::error::{AppError, AppResult};
use crate::http::{self, json_response, RequestContext};
use crate::platform;
use crate::registry;
use crate::stubs::PaymentStub;

/// Wrong PINs allowed before the wallet locks, and for how long.
const MAX_PIN_FAILURES: i64 = 5;
const LOCK_MS: i64 = 15 * 60_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    wallet_id: String,
    pin: String,
}

#[derive(Serialize)]
struct WalletToken {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    wallet_id: String,
    display_name: String,
}

fn locked(until: Millis, now: Millis) -> AppError {
    AppError::new(
        ErrorCode::WalletLocked,
        format!(
            "Trop de codes PIN erronés: wallet verrouillé jusqu'à {}.",
            until.to_rfc3339()
        ),
    )
    .with_header(
        "Retry-After",
        ((until.0 - now.0 + 999) / 1000).max(1).to_string(),
    )
}

/// Looks up the wallet and checks the PIN, counting failures and enforcing the lock.
pub async fn verify_pin(
    env: &Env,
    config: &Config,
    wallet_id: &str,
    pin: &str,
) -> AppResult<registry::WalletCredential> {
    let wrong = || {
        AppError::new(
            ErrorCode::InvalidPin,
            "Identifiant de wallet ou code PIN incorrect.",
        )
    };
    let db = registry::db(env)?;
    let now = platform::now();
    let Some(wallet) = registry::find_wallet(&db, wallet_id).await? else {
        return Err(wrong());
    };
    if wallet.locked_until_ms > now.0 {
        return Err(locked(Millis(wallet.locked_until_ms), now));
    }
    if !verify_secret(
        &config.secret_pepper,
        &wallet.pin_salt,
        &wallet.pin_hash,
        pin,
    ) {
        let lock_until = now.plus_ms(LOCK_MS);
        return Err(
            match registry::record_wallet_failure(&db, wallet_id, MAX_PIN_FAILURES, lock_until.0)
                .await?
            {
                Some(until) => locked(Millis(until), now),
                None => wrong(),
            },
        );
    }
    if wallet.failed_attempts > 0 {
        registry::clear_wallet_failures(&db, wallet_id).await?;
    }
    Ok(wallet)
}

/// `POST /api/v1/wallet/oauth/token`: `{wallet_id, pin}` → a 15-minute employee token.
pub async fn login(mut req: Request, env: &Env, rc: &RequestContext) -> AppResult<Response> {
    let config = Config::get(env)?;
    let body: Login = http::read_json(&mut req).await?;
    validate_wallet_id(&body.wallet_id)?;
    validate_pin(&body.pin)?;
    rc.set_actor(format!("wallet:{}", body.wallet_id));
    let wallet = verify_pin(env, &config, &body.wallet_id, &body.pin).await?;
    let claims = AccessClaims {
        iss: config.environment.issuer().to_string(),
        aud: Audience::Wallet.as_str().to_string(),
        sub: wallet.wallet_id.clone(),
        merchant_id: None,
        scope: "wallet".into(),
        sandbox: config.environment == Environment::Sandbox,
        jti: platform::new_uuid(),
        gen: wallet.token_generation,
    };
    json_response(
        200,
        &WalletToken {
            access_token: config
                .jwt_keys
                .issue(claims, platform::now(), WALLET_TOKEN_TTL_SECONDS),
            token_type: "Bearer",
            expires_in: WALLET_TOKEN_TTL_SECONDS,
            wallet_id: wallet.wallet_id,
            display_name: wallet.display_name,
        },
    )
}

/// `POST /api/v1/wallet/oauth/revoke`: signs the wallet out everywhere. Every token issued to it
/// so far, this one included, is refused from the next request; logging in again works.
pub async fn sign_out(env: &Env, principal: &WalletPrincipal) -> AppResult<Response> {
    registry::sign_out_wallet(&registry::db(env)?, &principal.wallet_id).await?;
    Ok(http::bytes_response(
        200,
        "application/json",
        b"{}".to_vec(),
    ))
}

#[derive(Serialize)]
struct WalletCard {
    card_number: String,
    card_last4: String,
    wallet_type: Option<String>,
    balance: DecimalNumber,
    currency: &'static str,
    valid_until: Option<String>,
    status: Option<String>,
    usable: bool,
}

#[derive(Serialize)]
struct WalletCards {
    wallet_id: String,
    cards: Vec<WalletCard>,
}

/// Whether CYNOD lists the card as active and not past its validity date.
fn usable(card: &CardItem, today: &str) -> bool {
    let active = card.statut.as_deref().is_none_or(|s| s == "ACTIVE");
    let valid = card
        .fin_validite
        .as_deref()
        .and_then(cynod_date_to_iso)
        .is_none_or(|until| until.as_str() >= today);
    active && valid
}

fn today(now: Millis) -> String {
    now.to_rfc3339()[..10].to_string()
}

/// `GET /api/v1/wallet/cards`.
pub async fn cards(env: &Env, principal: &WalletPrincipal) -> AppResult<Response> {
    let config = Config::get(env)?;
    let items = CynodClient::new(env, &config.cynod)
        .cards(Some(&principal.wallet_id), None)
        .await?;
    let today = today(platform::now());
    let mut cards = Vec::with_capacity(items.len());
    for item in items {
        let minor = item
            .solde_online
            .to_minor(Currency::Tnd)
            .map_err(|e| Problem::new(ErrorCode::UpstreamError, format!("soldeOnline: {e}")))?;
        cards.push(WalletCard {
            usable: usable(&item, &today),
            card_last4: card_last4(&item.numero_carte),
            card_number: item.numero_carte,
            wallet_type: item.type_wallet,
            balance: DecimalNumber::from_minor(minor, Currency::Tnd),
            currency: Currency::Tnd.code(),
            valid_until: item.fin_validite.as_deref().and_then(cynod_date_to_iso),
            status: item.statut,
        });
    }
    json_response(
        200,
        &WalletCards {
            wallet_id: principal.wallet_id.clone(),
            cards,
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QrRequest {
    card_number: String,
    /// Sandbox only: a shorter lifetime, so integrators can test QR_EXPIRED without waiting.
    ttl_seconds: Option<i64>,
}

#[derive(Serialize)]
struct QrIssued {
    qr_payload: String,
    expires_at: String,
}

/// The card of this wallet named `card_number`, if CYNOD lists it and it can pay today.
pub async fn usable_card(
    env: &Env,
    config: &Config,
    wallet_id: &str,
    card_number: &str,
) -> AppResult<CardItem> {
    let items = CynodClient::new(env, &config.cynod)
        .cards(Some(wallet_id), None)
        .await?;
    let card = items
        .into_iter()
        .find(|c| c.numero_carte == card_number)
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::CardNotFound,
                "Cette carte n'appartient pas à ce wallet.",
            )
        })?;
    if !usable(&card, &today(platform::now())) {
        let code = if card.statut.as_deref().is_some_and(|s| s != "ACTIVE") {
            ErrorCode::CardBlocked
        } else {
            ErrorCode::CardExpired
        };
        return Err(AppError::new(
            code,
            "Cette carte ne peut pas payer actuellement.",
        ));
    }
    Ok(card)
}

/// `POST /api/v1/wallet/qr`: a signed, single-use EPM QR valid 30 s.
pub async fn issue_qr(
    mut req: Request,
    env: &Env,
    principal: &WalletPrincipal,
) -> AppResult<Response> {
    let config = Config::get(env)?;
    let body: QrRequest = http::read_json(&mut req).await?;
    let ttl = match (body.ttl_seconds, config.environment) {
        (None, _) => EPM_QR_TTL_SECONDS,
        (Some(ttl), Environment::Sandbox) if (1..=EPM_QR_TTL_SECONDS).contains(&ttl) => ttl,
        (Some(_), Environment::Sandbox) => {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                "ttl_seconds: entre 1 et 30.",
            ))
        }
        (Some(_), Environment::Production) => {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                "ttl_seconds n'existe qu'en sandbox.",
            ))
        }
    };
    let card = usable_card(env, &config, &principal.wallet_id, &body.card_number).await?;
    let now = platform::now();
    let nonce = PaymentId::from_random(platform::random_bytes());
    let qr = EpmQr::issue(
        &config.qr_secret,
        nonce.as_str(),
        &principal.wallet_id,
        &card_last4(&card.numero_carte),
        now,
        ttl,
    );
    let payer = Payer {
        wallet_id: principal.wallet_id.clone(),
        card_number: card.numero_carte.clone(),
        wallet_type: card
            .type_wallet
            .clone()
            .unwrap_or_else(|| "TicketResto".into()),
    };
    PaymentStub::of(env, &nonce)?
        .run(PaymentRequest::IssueEpm {
            id: nonce.clone(),
            payer,
            expires_at: qr.expires_at(),
            max_amount: None,
        })
        .await?;
    json_response(
        200,
        &QrIssued {
            qr_payload: qr.encode(),
            expires_at: qr.expires_at().to_rfc3339(),
        },
    )
}
