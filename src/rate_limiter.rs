//! The Workers Rate Limiting binding, for limits keyed by something other than a client (a source
//! address, a client_id that may not exist): counted by Cloudflare per location, with no Durable
//! Object and no storage per key. Invariant: a binding that cannot answer refuses, never admits.

use worker::Env;

use crate::error::{AppError, AppResult};

/// Counts one request for `key` in the limiter bound as `binding`; `false` once its limit for the
/// period (wrangler.toml `[[ratelimits]]`) is reached.
pub async fn allow(env: &Env, binding: &str, key: &str) -> AppResult<bool> {
    let limiter = env
        .rate_limiter(binding)
        .map_err(|e| AppError::internal(format!("rate limiter {binding}: {e}")))?;
    let outcome = limiter
        .limit(key.to_string())
        .await
        .map_err(|e| AppError::internal(format!("rate limiter {binding}: {e}")))?;
    Ok(outcome.success)
}
