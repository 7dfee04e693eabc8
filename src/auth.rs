//! Authentication of every non-public call: the POS Bearer check (JWT verified locally, then one
//! round trip to the client's `ClientGate` for revocation and the rate limit), and the admin key.
//! Invariant: a request reaches a POS handler only with a valid, unrevoked token of this
//! environment, within its rate limit and scope.

use std::rc::Rc;

use dyno_core::auth::credentials::constant_time_eq;
use dyno_core::auth::jwt::{AccessClaims, Audience, VerifiedToken};
use dyno_core::gate::{
    ClientProfile, IdempotencyCheck, IdempotencyResult, IndexEntry, LimitInfo, Lookup, PollOutcome,
    Refusal, Reservation, ReservationResult, TokenRef,
};
use dyno_core::idempotency;
use dyno_core::ids::{ClientId, PaymentId};
use dyno_core::payment::view::PaymentView;
use dyno_core::protocol::{AuthorizeOutcome, AuthorizeRequest};
use dyno_core::ratelimit::{RouteWindow, CARD_READ_POLICY};
use dyno_core::routes::{RouteDef, RouteName};
use dyno_core::sandbox::Scenario;
use dyno_core::ErrorCode;
use worker::{Env, Request};

use crate::config::{Config, Environment};
use crate::error::{AppError, AppResult, Early, PosResult};
use crate::http::{self, RequestContext};
use crate::platform;
use crate::registry;
use crate::stubs::GateStub;

pub const POS_REALM: &str = "dyno-pos";

/// A POS client, authenticated for this request.
#[derive(Debug, Clone)]
pub struct PosPrincipal {
    pub token: VerifiedToken,
    pub profile: ClientProfile,
    client: ClientId,
}

impl PosPrincipal {
    pub fn claims(&self) -> &AccessClaims {
        &self.token.claims
    }

    pub fn client_id(&self) -> &str {
        &self.token.claims.sub
    }

    pub fn client(&self) -> &ClientId {
        &self.client
    }
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
    client: ClientId,
    idempotency: Option<IdempotencyCheck>,
    counted: bool,
    /// The route's own window besides the client's (card reads).
    window: Option<RouteWindow>,
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
        let client = ClientId::parse(&token.claims.sub)
            .ok_or_else(|| invalid_token(POS_REALM, "unknown client", "client inconnu"))?;
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
            client,
            simulate,
            idempotency,
            counted: route.name != RouteName::PosPaymentStatus,
            window: RouteWindow::for_route(route.name),
            scope: route.scope.unwrap_or("payments"),
        })
    }

    /// Whether the request asks for a sandbox simulation (checked by [`Self::authorize`]).
    pub fn wants_simulation(&self) -> bool {
        self.simulate.is_some()
    }

    /// The client the token was issued to (signature verified; revocation not yet checked).
    pub fn client(&self) -> &ClientId {
        &self.client
    }

    fn token_ref(&self) -> TokenRef {
        TokenRef {
            jti: self.token.claims.jti.clone(),
            generation: self.token.claims.gen,
        }
    }

    fn gate(&self) -> AppResult<GateStub> {
        GateStub::client(self.env, self.client.as_str())
    }

    /// A status poll in one gate round trip: revocation, the poll ceiling, the request's own
    /// allowance and its published status. `Ok(None)`: the gate does not track that request.
    pub async fn poll(&self, payment: &PaymentId) -> PosResult<Option<(PaymentView, LimitInfo)>> {
        let outcome = self
            .gate()?
            .poll(self.client.clone(), self.token_ref(), payment.clone())
            .await?;
        let result = match outcome {
            PollOutcome::Status { view, limit } => Some((*view, limit)),
            PollOutcome::Untracked => None,
            PollOutcome::Refused(refusal) => return Err(refused(refusal).into()),
        };
        self.rc.set_client(self.client.as_str());
        self.check_scope()?;
        self.rc.mark_authorized();
        Ok(result)
    }

    fn check_scope(&self) -> AppResult<()> {
        if self.token.claims.has_scope(self.scope) {
            return Ok(());
        }
        Err(AppError::new(
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
        ))
    }

    /// Revocation, rate limit, idempotency and the route's needs, in one gate round trip; then
    /// the scope. A replayed `Idempotency-Key` ends the call early with the stored answer.
    pub async fn authorize(&self, needs: GateNeeds) -> PosResult<Authorized> {
        let outcome = self
            .gate()?
            .authorize(AuthorizeRequest {
                client: self.client.clone(),
                token: self.token_ref(),
                counted: self.counted,
                idempotency: self.idempotency.clone(),
                reserve: needs.reserve,
                lookup: needs.lookup,
                window: self.window,
            })
            .await?;
        let granted = match outcome {
            AuthorizeOutcome::Granted(granted) => *granted,
            AuthorizeOutcome::Refused(refusal) => return Err(refused(refusal).into()),
        };
        self.rc.set_client(self.client.as_str());
        self.rc.set_limit(granted.limit.clone());
        self.check_scope()?;
        match granted.idempotency {
            Some(IdempotencyResult::Replay { status, body }) => {
                return Err(Early::Replay { status, body })
            }
            Some(IdempotencyResult::InProgress) => {
                return Err(AppError::new(
                    ErrorCode::IdempotencyKeyInProgress,
                    "Une requête avec cette Idempotency-Key est en cours de traitement.",
                )
                .into())
            }
            Some(IdempotencyResult::Mismatch) => {
                return Err(AppError::new(
                    ErrorCode::IdempotencyKeyReused,
                    "Cette Idempotency-Key a déjà servi pour une requête différente.",
                )
                .into())
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
            Some(_)
                if !self.token.claims.sandbox
                    || self.config.environment != Environment::Sandbox =>
            {
                return Err(AppError::new(
                    ErrorCode::SimulationNotAllowed,
                    "X-Dyno-Simulate n'est accepté qu'avec des identifiants sandbox.",
                )
                .into())
            }
            Some(value) => Some(Scenario::parse(value)?),
        };
        self.rc.mark_authorized();
        Ok(Authorized {
            simulate,
            principal: PosPrincipal {
                token: self.token.clone(),
                profile: granted.profile,
                client: self.client.clone(),
            },
            reservation: granted.reservation,
            found: granted.found,
        })
    }

    /// Refuses an invalid request, after authentication and the rate limit (which still come
    /// first); the refused request claims nothing.
    pub async fn refuse<T>(&self, error: AppError) -> PosResult<T> {
        self.authorize(GateNeeds::default()).await?;
        Err(error.into())
    }

    /// The `Idempotency-Key` of this call, if any.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency.as_ref().map(|check| check.key.as_str())
    }
}

/// Why the gate did not admit a call, as the API says it.
fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::Limited(limit) if limit.name.starts_with("poll") => rate_limited(
            &limit,
            "Trop d'interrogations de statut: 1 par seconde suffit.".into(),
        ),
        Refusal::Limited(limit) if limit.name == CARD_READ_POLICY.name => rate_limited(
            &limit,
            format!(
                "Limite de {} lectures de carte par minute atteinte pour ce client.",
                limit.limit
            ),
        ),
        Refusal::Limited(limit) => rate_limited(
            &limit,
            format!(
                "Limite de {} requêtes par minute atteinte pour ce client.",
                limit.limit
            ),
        ),
        Refusal::Revoked => invalid_token(POS_REALM, "token revoked", "jeton révoqué"),
        Refusal::UnknownClient => invalid_token(POS_REALM, "unknown client", "client inconnu"),
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
