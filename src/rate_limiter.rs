//! The Workers Rate Limiting binding behind one call, for any throttle keyed by a string (source IP,
//! client id). Invariant: a binding that is missing or fails refuses the request with a 503; it
//! never lets it through unthrottled.

use dyno_core::ErrorCode;
use worker::Env;

use crate::error::AppError;

/// Counts one request for `key` in the limiter bound as `binding_name`; whether it is allowed.
pub async fn allow(env: &Env, binding_name: &str, key: &str) -> Result<bool, AppError> {
    let unavailable = |e: worker::Error| {
        worker::console_error!("rate limiter {binding_name}: {e}");
        AppError::new(
            ErrorCode::ServiceUnavailable,
            "Service momentanément indisponible: réessayez plus tard.",
        )
    };
    let limiter = env.rate_limiter(binding_name).map_err(unavailable)?;
    let outcome = limiter.limit(key.to_string()).await.map_err(unavailable)?;
    Ok(outcome.success)
}
