//! The employee wallet API (what the employee app calls): PIN login, cards with balances and their
//! history, and the EPM QR. Invariant: a PIN comparison happens only after it was counted, in one
//! atomic D1 statement (`dyno_core::auth::lockout`), and an unknown wallet id gets the same
//! answer, writes and work as a known one; a QR is only issued for a usable card of the logged-in
//! wallet and carries no phone number.

use std::time::Duration;

use dyno_core::auth::credentials::{validate_pin, validate_wallet_id, verify_pin_or_stand_in};
use dyno_core::auth::jwt::{AccessClaims, Audience, WALLET_TOKEN_TTL_SECONDS};
use dyno_core::auth::lockout::{
    guard_key, Decision, Guard, Lock, MAX_SETTLE_WAIT_MS, OUTCOME_LOCKED,
};
use dyno_core::cynod::{
    card_last4, cynod_date_to_iso, is_valid_card_number, CardItem, HistoryEntry, MAX_HISTORY_ITEMS,
};
use dyno_core::ids::PaymentId;
use dyno_core::money::DecimalNumber;
use dyno_core::payment::machine::Request as PaymentRequest;
use dyno_core::payment::Payer;
use dyno_core::qr::{EpmQr, EPM_QR_TTL_SECONDS};
use dyno_core::ratelimit::WALLET_LOGIN_PER_IP_POLICY;
use dyno_core::routes::Matched;
use dyno_core::Minor;
use dyno_core::{Amount, Currency, ErrorCode, Millis, Problem};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::{D1Database, Delay, Env, Request, Response};

use crate::auth::{self, WalletPrincipal};
use crate::config::{Config, Environment};
use crate::cynod::CynodClient;
use crate::error::{AppError, AppResult};
use crate::http::{self, json_response, RequestContext};
use crate::platform;
use crate::rate_limiter;
use crate::registry;
use crate::stubs::PaymentStub;

/// The Rate Limiting binding that throttles logins per source IP (see `wrangler.back.toml`, the part that answers wallet logins).
const WALLET_LOGIN_IP_LIMITER: &str = "WALLET_LOGIN_IP_LIMITER";

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

fn locked(lock: Lock, now: Millis) -> AppError {
    let (detail, retry_after) = lock.answer(now);
    let error = AppError::new(ErrorCode::WalletLocked, detail);
    match retry_after {
        Some(secs) => error.with_header("Retry-After", secs.to_string()),
        None => error,
    }
}

/// Checks the PIN of `wallet_id`. The comparison is reserved first (refused while the wallet is
/// locked or its day's budget is spent), then made against the stored hash or, for an id that is
/// not enrolled, a stand-in of the same cost; only the right PIN writes again, to clear the streak.
pub async fn verify_pin(
    env: &Env,
    config: &Config,
    wallet_id: &str,
    pin: &str,
) -> AppResult<registry::WalletCredential> {
    let db = registry::db(env)?;
    let key = guard_key(&config.secret_pepper, wallet_id);
    let (now, guard, wallet) = reserve_comparison(&db, &key, wallet_id).await?;
    let (window_start_ms, lock_if_wrong) = match guard.decision(now) {
        Decision::Refused(lock) => return Err(locked(lock, now)),
        Decision::Evaluate {
            window_start_ms,
            lock_if_wrong,
        } => (window_start_ms, lock_if_wrong),
    };
    let stored = wallet
        .as_ref()
        .map(|w| (w.pin_salt.as_str(), w.pin_hash.as_str()));
    match (
        verify_pin_or_stand_in(&config.secret_pepper, stored, pin),
        wallet,
    ) {
        (true, Some(wallet)) => {
            registry::settle_pin_success(&db, &key, window_start_ms).await?;
            Ok(wallet)
        }
        _ => Err(match lock_if_wrong {
            Some(lock) => locked(lock, now),
            None => AppError::new(
                ErrorCode::InvalidPin,
                "Identifiant de wallet ou code PIN incorrect.",
            ),
        }),
    }
}

/// Reserves a comparison. A lock set a moment ago may be lifted at once by a right PIN whose
/// comparison was already running, so a refusal on such a lock is held back, watching the guard
/// with reads only, until the lock lifts (then it reserves again) or outlives `LOCK_SETTLE_MS`
/// (at most `MAX_SETTLE_WAIT_MS` in all).
async fn reserve_comparison(
    db: &D1Database,
    key: &str,
    wallet_id: &str,
) -> AppResult<(Millis, Guard, Option<registry::WalletCredential>)> {
    let started = platform::now();
    loop {
        let now = platform::now();
        let (guard, wallet) = registry::reserve_pin_attempt(db, key, wallet_id, now.0).await?;
        if guard.outcome != OUTCOME_LOCKED || !guard.lock_may_lift(now) {
            return Ok((now, guard, wallet));
        }
        let (mut watched, mut at) = (guard, now);
        while watched.lock_may_lift(at) && at.0 - started.0 < MAX_SETTLE_WAIT_MS {
            // 40 to 103 ms: spread out, so waiters do not load D1 in step.
            let jitter = u64::from(platform::random_bytes::<1>()[0] % 64);
            Delay::from(Duration::from_millis(40 + jitter)).await;
            at = platform::now();
            watched = Guard {
                outcome: OUTCOME_LOCKED,
                ..registry::pin_guard(db, key).await?
            };
        }
        if watched.lock(at).is_some() {
            return Ok((at, watched, wallet));
        }
    }
}

/// `POST /api/v1/wallet/oauth/token`: `{wallet_id, pin}` → a 15-minute employee token. The source
/// IP's throttle comes first, before the body is even read.
pub async fn login(mut req: Request, env: &Env, rc: &RequestContext) -> AppResult<Response> {
    if !rate_limiter::allow(env, WALLET_LOGIN_IP_LIMITER, &rc.client_ip).await? {
        let refusal = WALLET_LOGIN_PER_IP_POLICY.fixed_window_refusal(platform::now().0);
        return Err(auth::rate_limited(
            &(&refusal).into(),
            "Trop de connexions depuis cette adresse: réessayez dans une minute.".into(),
        ));
    }
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
    /// The most a scan of this QR may debit, a JSON number parsed like every amount.
    max_amount: Option<Box<RawValue>>,
}

#[derive(Serialize)]
struct QrIssued {
    qr_payload: String,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_amount: Option<DecimalNumber>,
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
    let max_amount_minor = body
        .max_amount
        .as_deref()
        .map(|raw| {
            Amount::parse_request(raw.get(), Currency::Tnd, config.max_amount_minor)
                .map(|amount| amount.minor())
                .map_err(|e| AppError::new(ErrorCode::InvalidAmount, format!("max_amount: {e}")))
        })
        .transpose()?;
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
            max_amount: max_amount_minor.map(Minor),
        })
        .await?;
    json_response(
        200,
        &QrIssued {
            qr_payload: qr.encode(),
            expires_at: qr.expires_at().to_rfc3339(),
            max_amount: max_amount_minor.map(|m| DecimalNumber::from_minor(m, Currency::Tnd)),
        },
    )
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<u32>,
}

#[derive(Serialize)]
struct CardHistory {
    card_number: String,
    card_last4: String,
    currency: &'static str,
    /// Newest first.
    movements: Vec<HistoryEntry>,
}

/// `GET /api/v1/wallet/cards/{card_number}/history`: the card's movements at CYNOD, every debit
/// of a payment included. Only for a card of this wallet: the wallet's card list says so first.
pub async fn card_history(
    req: &Request,
    env: &Env,
    matched: &Matched,
    principal: &WalletPrincipal,
) -> AppResult<Response> {
    let card_number = matched
        .param("card_number")
        .filter(|n| is_valid_card_number(n))
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::InvalidCardNumber,
                "Le numéro de carte doit comporter exactement 16 chiffres.",
            )
        })?;
    let limit = match req.query::<HistoryQuery>().map(|q| q.limit.unwrap_or(50)) {
        Ok(limit) if (1..=MAX_HISTORY_ITEMS).contains(&limit) => limit,
        _ => {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                format!("limit: entre 1 et {MAX_HISTORY_ITEMS}."),
            ))
        }
    };
    let config = Config::get(env)?;
    let cynod = CynodClient::new(env, &config.cynod);
    let owned = cynod.cards(Some(&principal.wallet_id), None).await?;
    if !owned.iter().any(|c| c.numero_carte == card_number) {
        return Err(AppError::new(
            ErrorCode::CardNotFound,
            "Cette carte n'appartient pas à ce wallet.",
        ));
    }
    let operations = cynod
        .card_operations(card_number, &principal.wallet_id, limit)
        .await?;
    let mut movements = Vec::with_capacity(operations.len());
    for operation in operations
        .iter()
        .filter(|op| op.numero_carte.as_deref().is_none_or(|n| n == card_number))
    {
        movements.extend(operation.to_history_entry(Currency::Tnd)?);
    }
    json_response(
        200,
        &CardHistory {
            card_number: card_number.to_string(),
            card_last4: card_last4(card_number),
            currency: Currency::Tnd.code(),
            movements,
        },
    )
}
