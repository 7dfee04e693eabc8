//! Configuration and secrets, read from the Worker environment once per isolate. Invariant: a
//! missing or malformed secret is reported as a clear 503, never half-applied, and production
//! never runs with a plain-http CYNOD or public origin.

use std::cell::RefCell;
use std::rc::Rc;

use dyno_core::auth::jwt::KeyRing;
use dyno_core::cynod::dialect::CynodDialect;
use dyno_core::edge::configured_base_url;
use dyno_core::{Currency, ErrorCode, Problem};
use worker::Env;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Sandbox,
    Production,
}

impl Environment {
    /// The `ENVIRONMENT` variable alone, readable even when the rest of the configuration is not
    /// (the HTTPS-only rule must hold before anything else is loaded).
    pub fn of(env: &Env) -> Result<Self, Problem> {
        match var(env, "ENVIRONMENT").as_deref() {
            Some("production") => Ok(Environment::Production),
            Some("sandbox") | None => Ok(Environment::Sandbox),
            Some(other) => Err(misconfigured(&format!("ENVIRONMENT={other}"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Sandbox => "sandbox",
            Environment::Production => "production",
        }
    }

    /// The JWT `iss` of this environment: a token from the other environment never verifies.
    pub fn issuer(self) -> &'static str {
        match self {
            Environment::Sandbox => "https://sandbox.dyno-motiva.com",
            Environment::Production => "https://api.dyno-motiva.com",
        }
    }
}

/// How the gateway reaches the card core: the simulator Worker through a service binding (local
/// dev and sandbox), or HTTPS to a base URL (production). Same client code for both.
#[derive(Debug, Clone)]
pub enum CynodRoute {
    ServiceBinding { binding: String },
    Https { base_url: String },
}

#[derive(Debug, Clone)]
pub struct CynodConfig {
    pub route: CynodRoute,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub timeout_ms: u32,
    /// How this CYNOD speaks (`CYNOD_AUTH`, `CYNOD_CURRENCY`, `CYNOD_SCALE`, `CYNOD_TIMEZONE`,
    /// `CYNOD_RECOVERY`); a CYNOD in another currency than the gateway's refuses to load.
    pub dialect: CynodDialect,
}

#[derive(Debug)]
pub struct Config {
    pub environment: Environment,
    pub version: &'static str,
    pub admin_api_key: String,
    pub jwt_keys: KeyRing,
    pub secret_pepper: Vec<u8>,
    pub webhook_kek: String,
    pub qr_secret: Vec<u8>,
    /// Largest amount a single payment may carry, in minor units.
    pub max_amount_minor: i64,
    /// Grace period during which a rotated client secret still works.
    pub secret_rotation_grace_seconds: i64,
    /// Largest single operator credit or debit, and the most operator movements may move in one
    /// UTC day, both in minor units (`OPERATOR_MOVEMENT_MAX_MINOR`, `OPERATOR_DAILY_MAX_MINOR`).
    pub operator_movement_max_minor: i64,
    pub operator_daily_max_minor: i64,
    /// Multiplies every rate limit (1 in production; the bench raises it to measure throughput).
    /// The Rate Limiting bindings' limits are fixed in the wrangler configs and cannot be scaled
    /// at run time, so a scale above 1 lifts them instead.
    pub rate_limit_scale: u32,
    pub cynod: CynodConfig,
    /// The origin of links people open (the PPM QR's wallet link), never taken from the request.
    /// Required, and https, in production; unset in local dev, where the request's origin serves.
    pub public_base_url: Option<String>,
}

thread_local! {
    static CONFIG: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
}

impl Config {
    /// The isolate's configuration, parsed on first use and then shared.
    pub fn get(env: &Env) -> Result<Rc<Config>, Problem> {
        if let Some(config) = CONFIG.with(|c| c.borrow().clone()) {
            return Ok(config);
        }
        let config = Rc::new(Self::load(env)?);
        CONFIG.with(|c| *c.borrow_mut() = Some(config.clone()));
        Ok(config)
    }

    fn load(env: &Env) -> Result<Self, Problem> {
        let environment = Environment::of(env)?;
        let production = environment == Environment::Production;
        let base_url = |name: &str| {
            configured_base_url(var(env, name).as_deref(), production)
                .map_err(|e| misconfigured(&format!("{name}: {e}")))
        };
        let route = match (base_url("CYNOD_BASE_URL")?, var(env, "CYNOD_BINDING")) {
            (Some(base_url), _) => CynodRoute::Https { base_url },
            (None, Some(binding)) => CynodRoute::ServiceBinding { binding },
            (None, None) => return Err(misconfigured("CYNOD_BASE_URL ou CYNOD_BINDING")),
        };
        let public_base_url = base_url("PUBLIC_BASE_URL")?;
        let timeout_ms = number(env, "CYNOD_TIMEOUT_MS")?.unwrap_or(8_000);
        let dialect = CynodDialect::from_vars(|name| var(env, name), Currency::Tnd)
            .map_err(|e| invalid(&e.to_string()))?;
        let jwt_keys = KeyRing::parse(&secret(env, "JWT_KEYS")?)
            .map_err(|e| misconfigured(&format!("JWT_KEYS: {e}")))?;
        Ok(Self {
            environment,
            version: env!("CARGO_PKG_VERSION"),
            admin_api_key: secret(env, "ADMIN_API_KEY")?,
            jwt_keys,
            secret_pepper: secret(env, "SECRET_PEPPER")?.into_bytes(),
            webhook_kek: secret(env, "WEBHOOK_KEK")?,
            qr_secret: secret(env, "QR_SECRET")?.into_bytes(),
            max_amount_minor: number(env, "MAX_AMOUNT_MINOR")?.unwrap_or(10_000_000),
            secret_rotation_grace_seconds: number(env, "SECRET_ROTATION_GRACE_SECONDS")?
                .unwrap_or(86_400),
            operator_movement_max_minor: number(env, "OPERATOR_MOVEMENT_MAX_MINOR")?
                .unwrap_or(1_000_000),
            operator_daily_max_minor: number(env, "OPERATOR_DAILY_MAX_MINOR")?
                .unwrap_or(10_000_000),
            rate_limit_scale: number(env, "RATE_LIMIT_SCALE")?.unwrap_or(1).max(1),
            cynod: CynodConfig {
                route,
                consumer_key: secret(env, "CYNOD_CONSUMER_KEY")?,
                consumer_secret: secret(env, "CYNOD_CONSUMER_SECRET")?,
                timeout_ms,
                dialect,
            },
            public_base_url,
        })
    }
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr>(env: &Env, name: &str) -> Result<Option<T>, Problem> {
    var(env, name)
        .map(|v| v.parse().map_err(|_| misconfigured(name)))
        .transpose()
}

fn secret(env: &Env, name: &str) -> Result<String, Problem> {
    env.secret(name)
        .ok()
        .map(|v| v.to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| misconfigured(name))
}

/// A value that is present but cannot be used (a CYNOD in another currency, say).
fn invalid(what: &str) -> Problem {
    Problem::new(
        ErrorCode::ServiceUnavailable,
        format!("configuration invalide: {what}"),
    )
}

fn misconfigured(what: &str) -> Problem {
    Problem::new(
        ErrorCode::ServiceUnavailable,
        format!("configuration incomplète: {what}"),
    )
}
