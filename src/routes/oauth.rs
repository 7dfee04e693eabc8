//! `POST /api/v1/pos/oauth/token` (RFC 6749 client credentials, the seed's JSON as well as form and
//! Basic) and `POST /api/v1/pos/oauth/revoke` (RFC 7009). Invariant: a token is only issued to a
//! client whose secret verified in constant time, within the per-IP throttle; only failed secret
//! checks are charged to a client_id, so a stranger can never lock the real client out.

use dyno_core::auth::credentials::{verify_client_secret, StoredSecrets};
use dyno_core::auth::jwt::{AccessClaims, Audience, POS_TOKEN_TTL_SECONDS};
use dyno_core::auth::oauth::{
    grant_scope, parse_revocation_request, parse_token_request, revocation_token, OAuthError,
};
use dyno_core::ratelimit::{Policy, TOKEN_FAILURE_POLICY, TOKEN_PER_IP_POLICY};
use dyno_core::routes::RouteDef;
use serde::Serialize;
use worker::{Env, Request, Response};

use crate::auth::{self, GateNeeds, PosCall};
use crate::config::Config;
use crate::error::{AppError, AppResult, Early};
use crate::http::{self, RequestContext};
use crate::platform;
use crate::rate_limiter;
use crate::registry::{self, ClientRecord};
use crate::stubs::GateStub;
use dyno_core::gate::{LimitInfo, TokenDecision};
use dyno_core::ids::ClientId;

/// The Rate Limiting bindings of wrangler.toml: per source address, and failed secret checks per
/// client_id (their limits are `TOKEN_PER_IP_POLICY` and `TOKEN_FAILURE_POLICY`).
const TOKEN_IP_LIMITER: &str = "TOKEN_IP_LIMITER";
const TOKEN_FAILURE_LIMITER: &str = "TOKEN_FAILURE_LIMITER";

impl From<OAuthError> for AppError {
    fn from(e: OAuthError) -> Self {
        let basic = e.status == 401;
        let error = AppError::OAuth {
            status: e.status,
            error: e.error,
            description: e.description,
            headers: Vec::new(),
        };
        // RFC 6749 §5.2: a 401 invalid_client names the authentication scheme.
        if basic {
            error.with_header("WWW-Authenticate", "Basic realm=\"dyno-pos\"")
        } else {
            error
        }
    }
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
}

pub async fn token(mut req: Request, env: &Env, rc: &RequestContext) -> AppResult<Response> {
    let (config, raw) = RawCredentials::read(&mut req, env, rc).await?;
    let request = parse_token_request(raw.media_type(), &raw.body, raw.authorization())?;
    rc.set_client(&request.client_id);
    // The client's gate decides: it keeps the client's secrets with its profile (read from D1
    // only when its cache is empty or the registry changed), checks the secret, counts the
    // issuance — only for the secret's holder — and gives the generation to stamp. An id this
    // isolate has never seen is checked in D1 first, so a stranger's made-up ids create no object.
    let client = match ClientId::parse(&request.client_id) {
        Some(client) if known_client(env, &config, &client).await? => client,
        _ => return Err(wrong_credentials(env, &config, &request.client_id).await),
    };
    let (profile, generation) = match GateStub::client(env, client.as_str())?
        .issue_token(client.clone(), request.client_secret.clone())
        .await?
    {
        TokenDecision::Issue {
            profile,
            generation,
            ..
        } => (profile, generation),
        TokenDecision::Limited(limit) => return Err(throttled(&limit)),
        TokenDecision::WrongSecret | TokenDecision::UnknownClient => {
            return Err(wrong_credentials(env, &config, &request.client_id).await)
        }
    };
    let scope = grant_scope(request.scope.as_deref(), &profile.scopes)?;
    let now = platform::now();
    let claims = AccessClaims {
        iss: config.environment.issuer().to_string(),
        aud: Audience::Pos.as_str().to_string(),
        sub: profile.client_id.clone(),
        merchant_id: Some(profile.merchant_id.clone()),
        scope: scope.clone(),
        sandbox: profile.sandbox,
        jti: platform::new_uuid(),
        gen: generation,
    };
    let access_token = config.jwt_keys.issue(claims, now, POS_TOKEN_TTL_SECONDS);
    let mut response = http::json_response(
        200,
        &TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: POS_TOKEN_TTL_SECONDS,
            scope,
        },
    )?;
    let _ = response.headers_mut().set("Pragma", "no-cache");
    Ok(response)
}

/// A request to the token or revocation endpoint authenticated with client credentials, as read
/// once it passed the per-IP count: its media type, `Authorization` and body.
struct RawCredentials {
    media_type: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
}

impl RawCredentials {
    async fn read(
        req: &mut Request,
        env: &Env,
        rc: &RequestContext,
    ) -> AppResult<(std::rc::Rc<Config>, Self)> {
        let config = Config::get(env)?;
        per_ip_throttle(env, &config, rc).await?;
        let body = http::read_body_bytes(req).await.map_err(|e| {
            AppError::from(OAuthError::invalid_request(format!(
                "corps refusé ({})",
                e.code().map(|c| c.as_str()).unwrap_or("?")
            )))
        })?;
        let raw = Self {
            media_type: http::media_type(req.headers()),
            authorization: req.headers().get("Authorization").ok().flatten(),
            body,
        };
        Ok((config, raw))
    }

    fn media_type(&self) -> Option<&str> {
        self.media_type.as_deref()
    }

    fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }
}

/// Token-endpoint requests per source address, counted by the Rate Limiting binding before
/// anything is parsed: no Durable Object per address.
async fn per_ip_throttle(env: &Env, config: &Config, rc: &RequestContext) -> AppResult<()> {
    if counted(env, config, TOKEN_IP_LIMITER, &rc.client_ip).await? {
        return Ok(());
    }
    Err(throttled(&refusal(TOKEN_PER_IP_POLICY)))
}

/// Verifies a client's secret (the current one, or the previous one within its grace period).
/// Only a failure is charged, to the client_id's failure counter in the Rate Limiting binding
/// (the same for ids that do not exist, which cost no Durable Object either): a stranger who
/// knows a client_id can exhaust it, but a correct secret is never counted there nor refused by it.
async fn authenticate_client(
    env: &Env,
    config: &Config,
    client_id: &str,
    secret: &str,
) -> AppResult<ClientRecord> {
    let record = registry::find_client(&registry::db(env)?, client_id).await?;
    let stored = record.as_ref().map(|r| StoredSecrets {
        salt: &r.secret_salt,
        hash: &r.secret_hash,
        previous: match (
            &r.previous_salt,
            &r.previous_hash,
            r.previous_valid_until_ms,
        ) {
            (Some(salt), Some(hash), Some(until)) => Some((salt, hash, until)),
            _ => None,
        },
    });
    if verify_client_secret(&config.secret_pepper, stored, platform::now().0, secret) {
        if let Some(record) = record {
            return Ok(record);
        }
    }
    Err(wrong_credentials(env, config, client_id).await)
}

thread_local! {
    /// Client ids this isolate saw in the registry: their token requests go straight to their
    /// gate. Only existence is kept here, never a secret.
    static KNOWN_CLIENTS: std::cell::RefCell<std::collections::HashSet<String>> =
        std::cell::RefCell::new(std::collections::HashSet::new());
}

/// Whether `client` exists in the registry (remembered per isolate once seen).
async fn known_client(env: &Env, config: &Config, client: &ClientId) -> AppResult<bool> {
    if KNOWN_CLIENTS.with(|k| k.borrow().contains(client.as_str())) {
        return Ok(true);
    }
    let exists = registry::find_client(&registry::db(env)?, client.as_str())
        .await?
        .is_some();
    if exists {
        KNOWN_CLIENTS.with(|k| {
            let mut known = k.borrow_mut();
            // A bound on memory, not a cache policy: forgetting only costs a D1 read.
            if known.len() >= 10_000 {
                known.clear();
            }
            known.insert(client.to_string());
        });
    } else {
        // The same hashing as a real check, so timing does not tell which ids exist.
        verify_client_secret(&config.secret_pepper, None, 0, "");
    }
    Ok(exists)
}

/// A failed secret check: counted per client_id in its Rate Limiting binding (401 until it is
/// spent, then 429), never against the client's own issuance window.
async fn wrong_credentials(env: &Env, config: &Config, client_id: &str) -> AppError {
    match counted(env, config, TOKEN_FAILURE_LIMITER, client_id).await {
        Ok(true) => OAuthError::invalid_client("client_id ou client_secret invalide").into(),
        Ok(false) => throttled(&refusal(TOKEN_FAILURE_POLICY)),
        Err(error) => error,
    }
}

/// Counts one request for `key` in a Rate Limiting binding; `RATE_LIMIT_SCALE` above 1 (bench,
/// contract runs) lifts the bindings, whose limits cannot be scaled at run time.
async fn counted(env: &Env, config: &Config, binding: &str, key: &str) -> AppResult<bool> {
    Ok(config.rate_limit_scale > 1 || rate_limiter::allow(env, binding, key).await?)
}

/// A refusal by a Rate Limiting binding, which reports no count: the policy's own figures, and
/// its whole period as the wait.
fn refusal(policy: Policy) -> LimitInfo {
    LimitInfo {
        name: policy.name.to_string(),
        limit: policy.limit,
        window_secs: policy.window_ms / 1000,
        remaining: 0,
        reset_secs: policy.window_ms / 1000,
        allowed: false,
    }
}

/// RFC 6749's 429, with `Retry-After` and the IETF rate-limit headers.
fn throttled(limit: &LimitInfo) -> AppError {
    AppError::OAuth {
        status: 429,
        error: "temporarily_unavailable",
        description: "Trop de demandes de jeton: réessayez plus tard.".into(),
        headers: Vec::new(),
    }
    .with_header("Retry-After", limit.reset_secs.max(1).to_string())
    .with_header("RateLimit-Policy", limit.policy_header())
    .with_header("RateLimit", limit.limit_header())
}

/// RFC 7009: the client revokes one of its own tokens. It authenticates with its own credentials
/// (HTTP Basic or in the form, §2.1), as stock OAuth libraries send them, or with a Bearer token
/// of its own. Demo credentials may too: revoking one `jti` harms no one. Unknown, invalid or
/// foreign tokens are answered 200 too, as §2.2 requires, so nothing can be probed.
pub async fn revoke(
    mut req: Request,
    env: &Env,
    rc: &RequestContext,
    route: &RouteDef,
) -> AppResult<Response> {
    if auth::bearer_token(&req).is_some() {
        let call = PosCall::open(req, env, rc, route).await?;
        let authorized = match call.authorize(GateNeeds::default()).await {
            Ok(authorized) => authorized,
            Err(Early::Error(error)) => return Err(error),
            // A revocation's answer is always the same empty success.
            Err(Early::Replay { .. }) => return Ok(revoked()),
        };
        let media_type = http::media_type(call.req.headers());
        let token = revocation_token(media_type.as_deref(), &call.body)?;
        return revoke_own(env, &call.config, authorized.principal.client_id(), &token).await;
    }
    let (config, raw) = RawCredentials::read(&mut req, env, rc).await?;
    let request = parse_revocation_request(raw.media_type(), &raw.body, raw.authorization())?;
    rc.set_client(&request.client.client_id);
    let record = authenticate_client(
        env,
        &config,
        &request.client.client_id,
        &request.client.client_secret,
    )
    .await?;
    revoke_own(env, &config, &record.client_id, &request.token).await
}

/// Adds `token`'s `jti` to the client's denylist when it is a valid token of this client;
/// anything else (expired, foreign, garbage) needs no revocation. Answers 200 `{}` either way.
async fn revoke_own(
    env: &Env,
    config: &Config,
    client_id: &str,
    token: &str,
) -> AppResult<Response> {
    if let Ok(verified) = config.jwt_keys.verify(
        token,
        config.environment.issuer(),
        Audience::Pos,
        platform::now(),
    ) {
        if verified.claims.sub == client_id {
            GateStub::client(env, client_id)?
                .revoke(verified.claims.jti, verified.expires_at.0)
                .await?;
        }
    }
    Ok(revoked())
}

/// RFC 7009 §2.2: the same 200 whatever the token was.
fn revoked() -> Response {
    http::bytes_response(200, "application/json", b"{}".to_vec())
}
