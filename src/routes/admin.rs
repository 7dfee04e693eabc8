//! `/api/v1/admin/*`, for operators holding the admin key: merchants, POS clients and their secrets,
//! webhook endpoints, token revocation and the audit log. Invariant: every change to the registry
//! is followed by an invalidation of the affected gates, so it applies on the very next request.

use dyno_core::auth::credentials::{format_client_secret, hash_secret};
use dyno_core::auth::credentials::{validate_pin, validate_wallet_id};
use dyno_core::auth::lockout::{guard_key, GuardView};
use dyno_core::auth::oauth::KNOWN_SCOPES;
use dyno_core::auth::sealed;
use dyno_core::routes::Matched;
use dyno_core::text::{char_count_within, display_text};
use dyno_core::webhook::{self, validate_webhook_url};
use dyno_core::{ErrorCode, Millis};
use serde::{Deserialize, Serialize};
use worker::{Env, Request, Response};

use crate::config::{Config, Environment};
use crate::error::{AppError, AppResult};
use crate::http::{self, json_response};
use crate::platform;
use crate::registry::{self, Merchant, NewClient};
use crate::stubs::GateStub;

fn path_param<'a>(matched: &'a Matched, name: &str) -> AppResult<&'a str> {
    matched
        .param(name)
        .ok_or_else(|| AppError::internal(format!("route without {name}")))
}

/// Ids chosen by operators: short, printable, no separators that would break URLs or gate names.
fn validate_id(kind: &str, id: &str) -> AppResult<()> {
    let ok = (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorCode::InvalidRequest,
            format!("{kind} invalide: 3 à 64 caractères parmi A-Z a-z 0-9 - _ ."),
        ))
    }
}

/// Tells every gate of a merchant's clients to reload the registry on their next call.
async fn invalidate_gates(env: &Env, client_ids: &[String]) -> AppResult<()> {
    for client_id in client_ids {
        GateStub::client(env, client_id)?.invalidate().await?;
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMerchant {
    merchant_id: Option<String>,
    name: String,
    #[serde(default = "yes")]
    affiliated: bool,
}

fn yes() -> bool {
    true
}

pub async fn create_merchant(mut req: Request, env: &Env) -> AppResult<Response> {
    let body: CreateMerchant = http::read_json(&mut req).await?;
    let merchant_id = body
        .merchant_id
        .unwrap_or_else(|| format!("MER-{}", &platform::new_uuid()[..8].to_ascii_uppercase()));
    validate_id("merchant_id", &merchant_id)?;
    let name = display_text("name", &body.name, 200)?;
    let merchant = Merchant {
        merchant_id,
        name: name.to_string(),
        affiliated: body.affiliated,
        active: true,
        created_at_ms: platform::now().0,
    };
    if !registry::insert_merchant(&registry::db(env)?, &merchant).await? {
        return Err(AppError::new(
            ErrorCode::AlreadyExists,
            format!("Le commerçant {} existe déjà.", merchant.merchant_id),
        ));
    }
    json_response(201, &merchant)
}

pub async fn get_merchant(env: &Env, matched: &Matched) -> AppResult<Response> {
    let id = path_param(matched, "merchant_id")?;
    let merchant = registry::find_merchant(&registry::db(env)?, id)
        .await?
        .ok_or_else(|| {
            AppError::new(ErrorCode::NotFound, format!("Commerçant {id} introuvable."))
        })?;
    json_response(200, &merchant)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMerchant {
    active: Option<bool>,
    affiliated: Option<bool>,
}

/// Activates, deactivates or (dis)affiliates a merchant; its clients see it on their next call.
pub async fn update_merchant(
    mut req: Request,
    env: &Env,
    matched: &Matched,
) -> AppResult<Response> {
    let id = path_param(matched, "merchant_id")?;
    let body: UpdateMerchant = http::read_json(&mut req).await?;
    let db = registry::db(env)?;
    if !registry::update_merchant(&db, id, body.affiliated, body.active).await? {
        return Err(AppError::new(
            ErrorCode::NotFound,
            format!("Commerçant {id} introuvable."),
        ));
    }
    invalidate_gates(env, &registry::client_ids_of_merchant(&db, id).await?).await?;
    let merchant = registry::find_merchant(&db, id).await?.ok_or_else(|| {
        AppError::new(ErrorCode::NotFound, format!("Commerçant {id} introuvable."))
    })?;
    json_response(200, &merchant)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateClient {
    merchant_id: String,
    client_id: Option<String>,
    scopes: Option<String>,
}

#[derive(Serialize)]
struct ClientCreated {
    client_id: String,
    /// Shown once; only its hash is stored.
    client_secret: String,
    merchant_id: String,
    sandbox: bool,
    scopes: String,
}

fn validate_scopes(scopes: &str) -> AppResult<()> {
    match scopes
        .split_whitespace()
        .find(|s| !KNOWN_SCOPES.contains(s))
    {
        Some(unknown) => Err(AppError::new(
            ErrorCode::InvalidRequest,
            format!("scope inconnu: {unknown}"),
        )),
        None if scopes.trim().is_empty() => {
            Err(AppError::new(ErrorCode::InvalidRequest, "scopes vide"))
        }
        None => Ok(()),
    }
}

/// A fresh salt and the hash of `secret` under it.
pub fn hashed(config: &Config, secret: &str) -> (String, String) {
    let salt = hex::encode(platform::random_bytes::<16>());
    let hash = hash_secret(&config.secret_pepper, &salt, secret);
    (salt, hash)
}

pub async fn create_client(mut req: Request, env: &Env) -> AppResult<Response> {
    let config = Config::get(env)?;
    let body: CreateClient = http::read_json(&mut req).await?;
    let db = registry::db(env)?;
    if registry::find_merchant(&db, &body.merchant_id)
        .await?
        .is_none()
    {
        return Err(AppError::new(
            ErrorCode::NotFound,
            format!("Commerçant {} introuvable.", body.merchant_id),
        ));
    }
    let client_id = body
        .client_id
        .unwrap_or_else(|| format!("pos_{}", &platform::new_uuid().replace('-', "")[..16]));
    validate_id("client_id", &client_id)?;
    let scopes = body.scopes.unwrap_or_else(|| "payments".to_string());
    validate_scopes(&scopes)?;
    let secret = format_client_secret(platform::random_bytes());
    let (salt, hash) = hashed(&config, &secret);
    let sandbox = config.environment == Environment::Sandbox;
    let inserted = registry::insert_client(
        &db,
        &NewClient {
            client_id: &client_id,
            merchant_id: &body.merchant_id,
            secret_salt: &salt,
            secret_hash: &hash,
            sandbox,
            scopes: &scopes,
            read_only: false,
            now_ms: platform::now().0,
        },
        false,
    )
    .await?;
    if !inserted {
        return Err(AppError::new(
            ErrorCode::AlreadyExists,
            format!("Le client {client_id} existe déjà."),
        ));
    }
    // A gate may hold a stale "unknown client" answer from before; make it reload.
    invalidate_gates(env, std::slice::from_ref(&client_id)).await?;
    json_response(
        201,
        &ClientCreated {
            client_id,
            client_secret: secret,
            merchant_id: body.merchant_id,
            sandbox,
            scopes,
        },
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateSecret {
    grace_seconds: Option<i64>,
    /// The old secret leaked: it stops at once (no grace) and every token issued so far is revoked.
    #[serde(default)]
    compromised: bool,
}

#[derive(Serialize)]
struct SecretRotated {
    client_id: String,
    client_secret: String,
    previous_secret_valid_until: String,
    /// After a compromised rotation: the generation every earlier token now falls below.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_generation: Option<u64>,
}

/// Issues a new secret; the previous one keeps working for the stated grace period. A
/// `compromised` rotation has no grace and revokes every token the client holds, since whoever
/// has the old secret may have minted some.
pub async fn rotate_secret(mut req: Request, env: &Env, matched: &Matched) -> AppResult<Response> {
    let config = Config::get(env)?;
    let client_id = path_param(matched, "client_id")?;
    let bytes = http::read_body_bytes(&mut req).await?;
    let body: RotateSecret = if bytes.is_empty() {
        RotateSecret::default()
    } else {
        http::parse_json(&bytes)?
    };
    let grace = match (body.compromised, body.grace_seconds) {
        (true, None | Some(0)) => 0,
        (true, Some(_)) => {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                "grace_seconds: un secret compromis n'a pas de délai de grâce (0).",
            ))
        }
        (false, grace) => grace.unwrap_or(config.secret_rotation_grace_seconds),
    };
    if !(0..=30 * 86_400).contains(&grace) {
        return Err(AppError::new(
            ErrorCode::InvalidRequest,
            "grace_seconds: entre 0 et 2592000.",
        ));
    }
    let secret = format_client_secret(platform::random_bytes());
    let (salt, hash) = hashed(&config, &secret);
    let until = platform::now().plus_ms(grace * 1000);
    if !registry::rotate_client_secret(&registry::db(env)?, client_id, &salt, &hash, until.0)
        .await?
    {
        return Err(AppError::new(
            ErrorCode::NotFound,
            format!("Client {client_id} introuvable."),
        ));
    }
    // The gate checks token requests against the secrets it caches: it forgets them now.
    invalidate_gates(env, &[client_id.to_string()]).await?;
    // After the rotation, so a token minted with the old secret meanwhile is revoked as well.
    let token_generation = if body.compromised {
        Some(GateStub::client(env, client_id)?.revoke_all().await?)
    } else {
        None
    };
    json_response(
        200,
        &SecretRotated {
            client_id: client_id.to_string(),
            client_secret: secret,
            previous_secret_valid_until: until.to_rfc3339(),
            token_generation,
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetWebhook {
    url: String,
    secret: String,
    /// The events to receive; absent: the seed's `payment.confirmed` only.
    events: Option<Vec<String>>,
}

#[derive(Serialize)]
struct WebhookConfigured {
    client_id: String,
    url: String,
    events: Vec<String>,
    updated_at: String,
}

/// Stores the webhook URL and the signing secret (sealed under the KEK).
pub async fn set_webhook(mut req: Request, env: &Env, matched: &Matched) -> AppResult<Response> {
    let config = Config::get(env)?;
    let client_id = path_param(matched, "client_id")?;
    let body: SetWebhook = http::read_json(&mut req).await?;
    let url = validate_webhook_url(&body.url, config.environment == Environment::Production)
        .map_err(|e| AppError::new(ErrorCode::InvalidRequest, format!("url: {e}")))?;
    if !char_count_within(&body.secret, 16, 256) {
        return Err(AppError::new(
            ErrorCode::InvalidRequest,
            "secret: 16 à 256 caractères.",
        ));
    }
    let events = webhook::validate_events(body.events)
        .map_err(|e| AppError::new(ErrorCode::InvalidRequest, e))?;
    let db = registry::db(env)?;
    if registry::find_client(&db, client_id).await?.is_none() {
        return Err(AppError::new(
            ErrorCode::NotFound,
            format!("Client {client_id} introuvable."),
        ));
    }
    let now = platform::now();
    let sealed_secret = sealed::seal(&config.webhook_kek, platform::random_bytes(), &body.secret);
    registry::upsert_webhook_endpoint(&db, client_id, url.as_str(), &sealed_secret, &events, now.0)
        .await?;
    json_response(
        200,
        &WebhookConfigured {
            client_id: client_id.to_string(),
            url: url.to_string(),
            events,
            updated_at: now.to_rfc3339(),
        },
    )
}

#[derive(Serialize)]
struct TokensRevoked {
    client_id: String,
    token_generation: u64,
}

/// Revokes every token issued so far to a client, effective on the next request.
pub async fn revoke_all_tokens(env: &Env, matched: &Matched) -> AppResult<Response> {
    let client_id = path_param(matched, "client_id")?;
    if registry::find_client(&registry::db(env)?, client_id)
        .await?
        .is_none()
    {
        return Err(AppError::new(
            ErrorCode::NotFound,
            format!("Client {client_id} introuvable."),
        ));
    }
    let generation = GateStub::client(env, client_id)?.revoke_all().await?;
    json_response(
        200,
        &TokensRevoked {
            client_id: client_id.to_string(),
            token_generation: generation,
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    client_id: Option<String>,
    before: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize)]
struct AuditPage {
    entries: Vec<AuditView>,
}

#[derive(Serialize)]
struct AuditView {
    event_id: String,
    at: String,
    client_id: Option<String>,
    actor: String,
    action: String,
    resource: Option<String>,
    outcome: String,
    status: i64,
    request_id: String,
    ip: Option<String>,
    /// How many calls the entry stands for (repeated status polls are counted in one entry).
    count: u32,
    /// The last counted call, when the entry counts more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_at: Option<String>,
}

/// Lists audit entries, newest first; `before` (RFC 3339) pages back in time.
pub async fn list_audit(req: &Request, env: &Env) -> AppResult<Response> {
    let query: AuditQuery = http::query(req)?;
    let before = match query.before.as_deref() {
        Some(text) => Millis::parse_rfc3339(text).ok_or_else(|| {
            AppError::new(ErrorCode::InvalidRequest, "before: date RFC 3339 attendue.")
        })?,
        None => platform::now().plus_ms(1),
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::new(
            ErrorCode::InvalidRequest,
            "limit: entre 1 et 500.",
        ));
    }
    let entries = registry::list_audit(
        &registry::db(env)?,
        query.client_id.as_deref(),
        before.0,
        limit,
    )
    .await?
    .into_iter()
    .map(|e| AuditView {
        event_id: e.event_id,
        at: Millis(e.at_ms).to_rfc3339(),
        client_id: e.client_id,
        actor: e.actor,
        action: e.action,
        resource: e.resource,
        outcome: e.outcome,
        status: e.status,
        request_id: e.request_id,
        ip: e.ip,
        count: e.count,
        last_at: e.last_at_ms.map(|at| Millis(at).to_rfc3339()),
    })
    .collect();
    json_response(200, &AuditPage { entries })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollWallet {
    pin: String,
    display_name: String,
    /// The employee's member id at CYNOD.
    client_id: String,
}

#[derive(Serialize)]
struct WalletEnrolled {
    wallet_id: String,
    display_name: String,
}

/// `PUT /api/v1/admin/wallets/{wallet_id}`: enrolls (or resets) an employee's wallet login. A
/// reset also signs the wallet out everywhere: whoever held a token under the old PIN loses it.
pub async fn enroll_wallet(mut req: Request, env: &Env, matched: &Matched) -> AppResult<Response> {
    let config = Config::get(env)?;
    let wallet_id = path_param(matched, "wallet_id")?;
    let body: EnrollWallet = http::read_json(&mut req).await?;
    validate_wallet_id(wallet_id)?;
    validate_pin(&body.pin)?;
    let display_name = display_text("display_name", &body.display_name, 100)?;
    validate_id("client_id", &body.client_id)?;
    registry::upsert_wallet(
        &registry::db(env)?,
        wallet_id,
        &body.client_id,
        display_name,
        &hashed(&config, &body.pin),
        true,
        &guard_key(&config.secret_pepper, wallet_id),
    )
    .await?;
    json_response(
        200,
        &WalletEnrolled {
            wallet_id: wallet_id.to_string(),
            display_name: display_name.to_string(),
        },
    )
}

#[derive(Serialize)]
struct WalletLockout {
    wallet_id: String,
    #[serde(flatten)]
    guard: GuardView,
}

/// The PIN guard of a wallet id, enrolled or not: `wallet_id` validated, and its guard key.
fn guard_of(env: &Env, matched: &Matched) -> AppResult<(String, String)> {
    let wallet_id = path_param(matched, "wallet_id")?;
    validate_wallet_id(wallet_id)?;
    let key = guard_key(&Config::get(env)?.secret_pepper, wallet_id);
    Ok((wallet_id.to_string(), key))
}

/// `GET /api/v1/admin/wallets/{wallet_id}/pin-lockout`: PIN comparisons made, streak, lock.
pub async fn wallet_lockout(env: &Env, matched: &Matched) -> AppResult<Response> {
    let (wallet_id, key) = guard_of(env, matched)?;
    let guard = registry::pin_guard(&registry::db(env)?, &key).await?;
    json_response(
        200,
        &WalletLockout {
            wallet_id,
            guard: guard.view(platform::now()),
        },
    )
}

/// `POST /api/v1/admin/wallets/{wallet_id}/unlock`: lifts a temporary lock once the operator has
/// identified the employee. The ladder and the day's count stay, so guessing does not restart;
/// a wallet locked until a re-PIN needs one (`PUT /api/v1/admin/wallets/{wallet_id}`).
pub async fn unlock_wallet(env: &Env, matched: &Matched) -> AppResult<Response> {
    let (wallet_id, key) = guard_of(env, matched)?;
    let guard = registry::unlock_pin_guard(&registry::db(env)?, &key)
        .await?
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::InvalidState,
                "Wallet verrouillé jusqu'à un nouveau code PIN: utilisez l'enrôlement (PUT).",
            )
        })?;
    json_response(
        200,
        &WalletLockout {
            wallet_id,
            guard: guard.view(platform::now()),
        },
    )
}
