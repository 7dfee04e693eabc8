//! Authentication of every non-public call: the POS Bearer check (JWT verified locally, then one
//! round trip to the client's `ClientGate` for revocation and the rate limit), and the admin key.
//! Invariant: a request reaches a POS handler only with a valid, unrevoked token of this
//! environment, within its rate limit and scope.

use dyno_core::auth::credentials::constant_time_eq;
use dyno_core::auth::jwt::{AccessClaims, Audience, VerifiedToken};
use dyno_core::ErrorCode;
use worker::{Env, Request, Stub};

use crate::config::{Config, Environment};
use std::rc::Rc;

use dyno_core::idempotency;
use dyno_core::routes::{RouteDef, RouteName};
use dyno_core::sandbox::Scenario;

use crate::durable::client_gate::{
    AuthorizeOutcome, AuthorizeRequest, ClientProfile, IdempotencyCheck, IdempotencyResult,
    IndexEntry, LimitInfo, Lookup, PollOutcome, PollRequest, Reservation, ReservationResult,
};
use crate::durable::payment::PaymentView;
use crate::durable::{self};
use crate::error::{AppError, AppResult};
use crate::http::{self, RequestContext};
use crate::platform;
use crate::registry;

pub const POS_REALM: &str = "dyno-pos";

/// A POS client, authenticated for this request.
#[derive(Debug, Clone)]
pub struct PosPrincipal {
    pub token: VerifiedToken,
    pub profile: ClientProfile,
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

/// What a POS route asks of the gate beyond the authorization itself, in the same round trip.
#[derive(Debug, Default)]
pub struct GateNeeds {
    pub reserve: Option<Reservation>,
    pub lookup: Option<Lookup>,
}

/// A POS request whose token verified locally. Nothing is allowed yet: handlers get the principal
/// only from [`PosCall::authorize`], the one round trip to the client's gate.
pub struct PosCall<'a> {
    pub env: &'a Env,
    pub config: Rc<Config>,
    pub rc: &'a RequestContext,
    pub req: Request,
    /// The request body (read once, before authorization, so idempotency can fingerprint it).
    pub body: Vec<u8>,
    token: VerifiedToken,
    idempotency: Option<IdempotencyCheck>,
    counted: bool,
    scope: &'static str,
    /// The raw `X-Dyno-Simulate` header, checked once authorized.
    simulate: Option<String>,
}

/// The outcome of a successful authorization.
pub struct Authorized {
    pub principal: PosPrincipal,
    pub reservation: Option<ReservationResult>,
    pub found: Option<IndexEntry>,
    /// The sandbox scenario to play instead of touching CYNOD.
    pub simulate: Option<Scenario>,
}

impl<'a> PosCall<'a> {
    /// Verifies the token (no I/O), reads the body of a write, and parses `Idempotency-Key`.
    pub async fn open(
        mut req: Request,
        env: &'a Env,
        rc: &'a RequestContext,
        route: &RouteDef,
    ) -> AppResult<Self> {
        let config = Config::get(env)?;
        let token = verify_pos_token(&req, &config)?;
        let method = req.method().to_string();
        let body = if method == "GET" || method == "HEAD" {
            Vec::new()
        } else {
            http::read_body_bytes(&mut req).await?
        };
        let idempotency = match req.headers().get("Idempotency-Key").ok().flatten() {
            Some(key) if method == "POST" => {
                idempotency::validate_key(&key)?;
                Some(IdempotencyCheck {
                    fingerprint: idempotency::fingerprint(&method, &req.path(), &body),
                    key,
                })
            }
            _ => None,
        };
        let simulate = req.headers().get("X-Dyno-Simulate").ok().flatten();
        Ok(Self {
            env,
            config,
            rc,
            req,
            body,
            token,
            simulate,
            idempotency,
            counted: route.name != RouteName::PosPaymentStatus,
            scope: route.scope.unwrap_or("payments"),
        })
    }

    pub fn has_idempotency_key(&self) -> bool {
        self.idempotency.is_some()
    }

    /// Whether the request asks for a sandbox simulation (checked by [`Self::authorize`]).
    pub fn wants_simulation(&self) -> bool {
        self.simulate.is_some()
    }

    /// The client the token was issued to (signature verified; revocation not yet checked).
    pub fn client_id(&self) -> &str {
        &self.token.claims.sub
    }

    /// A status poll in one gate round trip: revocation, the poll ceiling, the request's own
    /// allowance and its published status. `Ok(None)`: the gate does not track that request.
    pub async fn poll(
        &self,
        payment_request_id: &str,
    ) -> AppResult<Option<(PaymentView, LimitInfo)>> {
        let token = &self.token;
        let outcome: PollOutcome = durable::call(
            &client_gate(self.env, &token.claims.sub)?,
            "poll",
            &PollRequest {
                client_id: token.claims.sub.clone(),
                jti: token.claims.jti.clone(),
                generation: token.claims.gen,
                payment_request_id: payment_request_id.to_string(),
            },
        )
        .await?;
        let result = match outcome {
            PollOutcome::Status { view, limit } => Some((view, limit)),
            PollOutcome::Untracked => None,
            PollOutcome::Limited { limit } => {
                return Err(rate_limited(
                    &limit,
                    "Trop d'interrogations de statut: 1 par seconde suffit.".into(),
                ))
            }
            PollOutcome::Revoked => {
                return Err(invalid_token(POS_REALM, "token revoked", "jeton révoqué"))
            }
            PollOutcome::UnknownClient => {
                return Err(invalid_token(POS_REALM, "unknown client", "client inconnu"))
            }
        };
        self.rc.set_client(&token.claims.sub);
        if !token.claims.has_scope(self.scope) {
            return Err(AppError::new(
                ErrorCode::InsufficientScope,
                format!("Cette opération requiert le scope « {} ».", self.scope),
            ));
        }
        self.rc.mark_authorized();
        Ok(result)
    }

    /// Revocation, rate limit, idempotency and the route's needs, in one gate round trip; then
    /// the scope.
    pub async fn authorize(&self, needs: GateNeeds) -> AppResult<Authorized> {
        let token = &self.token;
        let stub = client_gate(self.env, &token.claims.sub)?;
        let outcome: AuthorizeOutcome = durable::call(
            &stub,
            "authorize",
            &AuthorizeRequest {
                client_id: token.claims.sub.clone(),
                jti: token.claims.jti.clone(),
                generation: token.claims.gen,
                counted: self.counted,
                idempotency: self.idempotency.clone(),
                reserve: needs.reserve,
                lookup: needs.lookup,
            },
        )
        .await?;
        let (profile, limit, idempotency, reservation, found) = match outcome {
            AuthorizeOutcome::Granted {
                profile,
                limit,
                idempotency,
                reservation,
                found,
            } => (profile, limit, idempotency, reservation, found),
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
        self.rc.set_client(&token.claims.sub);
        self.rc.set_limit(limit.clone());
        if !token.claims.has_scope(self.scope) {
            return Err(AppError::new(
                ErrorCode::InsufficientScope,
                format!("Cette opération requiert le scope « {} ».", self.scope),
            )
            .with_header(
                "WWW-Authenticate",
                challenge(
                    POS_REALM,
                    Some(("insufficient_scope", "missing scope")),
                    Some(self.scope),
                ),
            ));
        }
        match idempotency {
            Some(IdempotencyResult::Replay { status, body }) => {
                return Err(AppError::Replayed { status, body })
            }
            Some(IdempotencyResult::InProgress) => {
                return Err(AppError::new(
                    ErrorCode::IdempotencyKeyInProgress,
                    "Une requête avec cette Idempotency-Key est en cours de traitement.",
                ))
            }
            Some(IdempotencyResult::Mismatch) => {
                return Err(AppError::new(
                    ErrorCode::IdempotencyKeyReused,
                    "Cette Idempotency-Key a déjà servi pour une requête différente.",
                ))
            }
            Some(IdempotencyResult::Fresh) => {
                if let Some(check) = &self.idempotency {
                    self.rc.set_idempotency_key(&check.key);
                }
            }
            None => {}
        }
        // Simulation is honoured on sandbox tokens only; a production token asking for it is refused.
        let simulate = match &self.simulate {
            None => None,
            Some(_) if !token.claims.sandbox || self.config.environment != Environment::Sandbox => {
                return Err(AppError::new(
                    ErrorCode::SimulationNotAllowed,
                    "X-Dyno-Simulate n'est accepté qu'avec des identifiants sandbox.",
                ))
            }
            Some(value) => Some(Scenario::parse(value)?),
        };
        self.rc.mark_authorized();
        Ok(Authorized {
            simulate,
            principal: PosPrincipal {
                token: token.clone(),
                profile,
            },
            reservation,
            found,
        })
    }
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

pub const WALLET_REALM: &str = "dyno-wallet";

/// An employee, authenticated by a short-lived wallet token that has not been signed out.
#[derive(Debug, Clone)]
pub struct WalletPrincipal {
    pub wallet_id: String,
}

/// Verifies the wallet token, then checks in D1 that the wallet still exists and has not been
/// signed out since the token was issued: a lost phone's token stops working at once.
pub async fn authenticate_wallet(
    req: &Request,
    env: &Env,
    config: &Config,
) -> AppResult<WalletPrincipal> {
    let token = bearer_token(req).ok_or_else(|| missing_token(WALLET_REALM))?;
    let token = config
        .jwt_keys
        .verify(
            &token,
            config.environment.issuer(),
            Audience::Wallet,
            platform::now(),
        )
        .map_err(|e| invalid_token(WALLET_REALM, e.ascii_reason(), &e.to_string()))?;
    let db = registry::db(env)?;
    match registry::find_wallet(&db, &token.claims.sub).await? {
        Some(wallet) if wallet.token_generation == token.claims.gen => Ok(WalletPrincipal {
            wallet_id: token.claims.sub,
        }),
        Some(_) => Err(invalid_token(
            WALLET_REALM,
            "token revoked",
            "session du wallet fermée: reconnectez-vous",
        )),
        None => Err(invalid_token(
            WALLET_REALM,
            "unknown wallet",
            "wallet inconnu",
        )),
    }
}
