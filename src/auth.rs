//! Authentication of every non-public call: the POS Bearer check (JWT verified locally, then one
//! round trip to the client's `ClientGate` for revocation and the rate limit), and the admin key.
//! Invariant: a request reaches a POS handler only with a valid, unrevoked token of this
//! environment, within its rate limit and scope.

use dyno_core::auth::credentials::constant_time_eq;
use dyno_core::auth::jwt::{AccessClaims, Audience, VerifiedToken};
use dyno_core::ErrorCode;
use worker::{Env, Request, Stub};

use crate::config::Config;
use crate::durable::client_gate::{AuthorizeOutcome, AuthorizeRequest, ClientProfile, LimitInfo};
use crate::durable::{self};
use crate::error::{AppError, AppResult};
use crate::platform;

pub const POS_REALM: &str = "dyno-pos";

/// A POS client, authenticated for this request.
#[derive(Debug, Clone)]
pub struct PosPrincipal {
    pub token: VerifiedToken,
    pub profile: ClientProfile,
    /// The client window after this call (absent for calls that do not count, such as polls).
    pub limit: Option<LimitInfo>,
}

impl PosPrincipal {
    pub fn claims(&self) -> &AccessClaims {
        &self.token.claims
    }

    pub fn client_id(&self) -> &str {
        &self.token.claims.sub
    }
}

/// The stub of the gate named `name` (`client:<id>` or `ip:<addr>`).
pub fn gate(env: &Env, name: &str) -> AppResult<Stub> {
    Ok(env.durable_object("CLIENT_GATES")?.get_by_name(name)?)
}

pub fn client_gate(env: &Env, client_id: &str) -> AppResult<Stub> {
    gate(env, &format!("client:{client_id}"))
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer_token(req: &Request) -> Option<String> {
    let header = req.headers().get("Authorization").ok().flatten()?;
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// RFC 6750 §3 challenge for a 401/403.
fn challenge(realm: &str, error: Option<(&str, &str)>, scope: Option<&str>) -> String {
    let mut value = format!("Bearer realm=\"{realm}\"");
    if let Some((code, description)) = error {
        value.push_str(&format!(
            ", error=\"{code}\", error_description=\"{}\"",
            description.replace('"', "'")
        ));
    }
    if let Some(scope) = scope {
        value.push_str(&format!(", scope=\"{scope}\""));
    }
    value
}

pub fn missing_token(realm: &str) -> AppError {
    AppError::new(
        ErrorCode::Unauthorized,
        "Jeton Bearer absent: ajoutez Authorization: Bearer <token>.",
    )
    .with_header("WWW-Authenticate", challenge(realm, None, None))
}

/// 401 invalid_token: `detail` (French) in the body, `reason` (ASCII, RFC 6750) in the challenge.
pub fn invalid_token(realm: &str, reason: &str, detail: &str) -> AppError {
    AppError::new(ErrorCode::InvalidToken, format!("Jeton refusé: {detail}.")).with_header(
        "WWW-Authenticate",
        challenge(realm, Some(("invalid_token", reason)), None),
    )
}

/// A 429 with `Retry-After` and the IETF rate-limit headers.
pub fn rate_limited(limit: &LimitInfo, detail: String) -> AppError {
    AppError::new(ErrorCode::RateLimited, detail)
        .with_header("Retry-After", limit.reset_secs.max(1).to_string())
        .with_header("RateLimit-Policy", limit.policy_header())
        .with_header("RateLimit", limit.limit_header())
}

/// Verifies a POS Bearer token (signature, issuer, audience, time) without any I/O.
pub fn verify_pos_token(req: &Request, config: &Config) -> AppResult<VerifiedToken> {
    let token = bearer_token(req).ok_or_else(|| missing_token(POS_REALM))?;
    config
        .jwt_keys
        .verify(
            &token,
            config.environment.issuer(),
            Audience::Pos,
            platform::now(),
        )
        .map_err(|e| invalid_token(POS_REALM, e.ascii_reason(), &e.to_string()))
}

/// The full POS check: token, then one round trip to the client's gate, then the scope.
pub async fn authenticate_pos(
    req: &Request,
    env: &Env,
    config: &Config,
    counted: bool,
    scope: &str,
) -> AppResult<PosPrincipal> {
    let token = verify_pos_token(req, config)?;
    let stub = client_gate(env, &token.claims.sub)?;
    let outcome: AuthorizeOutcome = durable::call(
        &stub,
        "authorize",
        &AuthorizeRequest {
            client_id: token.claims.sub.clone(),
            jti: token.claims.jti.clone(),
            generation: token.claims.gen,
            counted,
        },
    )
    .await?;
    let (profile, limit) = match outcome {
        AuthorizeOutcome::Granted { profile, limit } => (profile, limit),
        AuthorizeOutcome::Limited { limit } => {
            return Err(rate_limited(
                &limit,
                format!(
                    "Limite de {} requêtes par minute atteinte pour ce client.",
                    limit.limit
                ),
            ))
        }
        AuthorizeOutcome::Revoked => {
            return Err(invalid_token(POS_REALM, "token revoked", "jeton révoqué"))
        }
        AuthorizeOutcome::UnknownClient => {
            return Err(invalid_token(POS_REALM, "unknown client", "client inconnu"))
        }
    };
    if !token.claims.has_scope(scope) {
        return Err(AppError::new(
            ErrorCode::InsufficientScope,
            format!("Cette opération requiert le scope « {scope} »."),
        )
        .with_header(
            "WWW-Authenticate",
            challenge(
                POS_REALM,
                Some(("insufficient_scope", "missing scope")),
                Some(scope),
            ),
        ));
    }
    Ok(PosPrincipal {
        token,
        profile,
        limit,
    })
}

/// The operator key check for `/api/v1/admin/*`, in constant time.
pub fn authenticate_admin(req: &Request, config: &Config) -> AppResult<()> {
    const REALM: &str = "dyno-admin";
    let token = bearer_token(req).ok_or_else(|| missing_token(REALM))?;
    if constant_time_eq(token.as_bytes(), config.admin_api_key.as_bytes()) {
        Ok(())
    } else {
        Err(invalid_token(
            REALM,
            "invalid admin key",
            "clé d'administration invalide",
        ))
    }
}
