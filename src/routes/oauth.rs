//! `POST /api/v1/pos/oauth/token` (RFC 6749 client credentials, the seed's JSON as well as form and
//! Basic) and `POST /api/v1/pos/oauth/revoke` (RFC 7009). Invariant: a token is only issued to a
//! client whose secret verified in constant time, within the per-client and per-IP throttles.

use dyno_core::auth::credentials::{hash_secret, verify_secret};
use dyno_core::auth::jwt::{AccessClaims, Audience, POS_TOKEN_TTL_SECONDS};
use dyno_core::auth::oauth::{grant_scope, parse_token_request, OAuthError};
use dyno_core::ErrorCode;
use serde::{Deserialize, Serialize};
use worker::{Env, Request, Response};

use crate::auth::{PosCall, PosPrincipal};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{self, RequestContext};
use crate::platform;
use crate::registry;
use crate::stubs::GateStub;
use dyno_core::protocol::ThrottlePolicy;

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
    let config = Config::get(env)?;
    let media_type = http::media_type(req.headers());
    let authorization = req.headers().get("Authorization").ok().flatten();
    let body = http::read_body_bytes(&mut req).await.map_err(|e| {
        OAuthError::invalid_request(format!(
            "corps refusé ({})",
            e.code().map(|c| c.as_str()).unwrap_or("?")
        ))
    })?;
    let request = parse_token_request(media_type.as_deref(), &body, authorization.as_deref())?;
    rc.set_client(&request.client_id);

    // Both throttles in one concurrent hop: per source IP and per client_id.
    let ip_gate = GateStub::ip(env, &rc.client_ip)?;
    let client_gate = GateStub::client(env, &request.client_id)?;
    let (by_ip, by_client) = futures_util::join!(
        ip_gate.throttle(ThrottlePolicy::TokenIp),
        client_gate.throttle(ThrottlePolicy::TokenClient),
    );
    let (by_ip, by_client) = (by_ip?, by_client?);
    for outcome in [&by_ip, &by_client] {
        if !outcome.limit.allowed {
            return Err(AppError::OAuth {
                status: 429,
                error: "temporarily_unavailable",
                description: "Trop de demandes de jeton: réessayez plus tard.".into(),
                headers: Vec::new(),
            }
            .with_header("Retry-After", outcome.limit.reset_secs.max(1).to_string())
            .with_header("RateLimit-Policy", outcome.limit.policy_header())
            .with_header("RateLimit", outcome.limit.limit_header()));
        }
    }

    let db = registry::db(env)?;
    let now = platform::now();
    let record = registry::find_client(&db, &request.client_id).await?;
    let authenticated = match &record {
        Some(r) => {
            verify_secret(
                &config.secret_pepper,
                &r.secret_salt,
                &r.secret_hash,
                &request.client_secret,
            ) || match (
                &r.previous_salt,
                &r.previous_hash,
                r.previous_valid_until_ms,
            ) {
                (Some(salt), Some(hash), Some(until)) if now.0 < until => {
                    verify_secret(&config.secret_pepper, salt, hash, &request.client_secret)
                }
                _ => false,
            }
        }
        None => {
            // Same work for an unknown id, so timing does not reveal which ids exist.
            let _ = hash_secret(&config.secret_pepper, "0000", &request.client_secret);
            false
        }
    };
    let record = match record {
        Some(record) if authenticated => record,
        _ => {
            let error: AppError =
                OAuthError::invalid_client("client_id ou client_secret invalide").into();
            return Err(error);
        }
    };
    let scope = grant_scope(request.scope.as_deref(), &record.scopes)?;
    let claims = AccessClaims {
        iss: config.environment.issuer().to_string(),
        aud: Audience::Pos.as_str().to_string(),
        sub: record.client_id.clone(),
        merchant_id: Some(record.merchant_id.clone()),
        scope: scope.clone(),
        sandbox: record.sandbox == 1,
        jti: platform::new_uuid(),
        gen: by_client.generation,
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

#[derive(Deserialize)]
struct RevocationRequest {
    token: Option<String>,
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// RFC 7009: the caller revokes one of its own tokens (often the one it is using). Unknown,
/// invalid or foreign tokens are answered 200 too, as §2.2 requires, so nothing can be probed.
pub async fn revoke(call: &PosCall<'_>, principal: &PosPrincipal) -> AppResult<Response> {
    let (env, config) = (call.env, &call.config);
    if principal.profile.read_only {
        return Err(AppError::new(
            ErrorCode::ReadOnlyCredentials,
            "Les identifiants de démonstration ne peuvent pas être révoqués par leur utilisateur.",
        ));
    }
    let media_type = http::media_type(call.req.headers());
    let body = &call.body;
    let request: RevocationRequest = match media_type.as_deref() {
        Some("application/x-www-form-urlencoded") => serde_urlencoded::from_bytes(body)
            .map_err(|e| AppError::new(ErrorCode::InvalidRequest, e.to_string()))?,
        Some("application/json") => http::parse_json(body)?,
        _ => {
            return Err(AppError::new(
                ErrorCode::UnsupportedMediaType,
                "Content-Type doit être application/x-www-form-urlencoded ou application/json.",
            ))
        }
    };
    let token = request
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::new(ErrorCode::InvalidRequest, "Paramètre token manquant."))?;
    // Expired tokens need no revocation; only a token of this client with a valid signature counts.
    if let Ok(verified) = config.jwt_keys.verify(
        &token,
        config.environment.issuer(),
        Audience::Pos,
        platform::now(),
    ) {
        if verified.claims.sub == principal.client_id() {
            GateStub::client(env, principal.client_id())?
                .revoke(verified.claims.jti, verified.expires_at.0)
                .await?;
        }
    }
    Ok(http::bytes_response(
        200,
        "application/json",
        b"{}".to_vec(),
    ))
}
