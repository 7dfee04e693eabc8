//! `/api/v1/admin/cynod-sim/*`: the operator's (and the tests') window on the CYNOD simulator —
//! its ledger, call counters, test cards and fault injection. Invariant: it exists only in the
//! sandbox, where CYNOD is the simulator; production answers 404 and never forwards anything.

use dyno_core::ErrorCode;
use worker::{Env, Request, Response};

use crate::config::{Config, CynodRoute, Environment};
use crate::cynod::transport::{self, OutgoingRequest, TransportError};
use crate::error::{AppError, AppResult};
use crate::http::{self, bytes_response};

const PREFIX: &str = "/api/v1/admin/cynod-sim/";

pub async fn forward(mut req: Request, env: &Env) -> AppResult<Response> {
    let config = Config::get(env)?;
    if config.environment != Environment::Sandbox
        || !matches!(config.cynod.route, CynodRoute::ServiceBinding { .. })
    {
        return Err(AppError::new(
            ErrorCode::RouteNotFound,
            "Le simulateur CYNOD n'existe qu'en sandbox.",
        ));
    }
    let url = req.url()?;
    let rest = url.path().strip_prefix(PREFIX).unwrap_or("");
    let path_and_query = match url.query() {
        Some(q) => format!("/__sim/{rest}?{q}"),
        None => format!("/__sim/{rest}"),
    };
    let method = req.method().to_string();
    let body = http::read_body_bytes(&mut req).await?;
    let body = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
    let reply = transport::send(
        env,
        &config.cynod,
        OutgoingRequest {
            method: &method,
            path_and_query: &path_and_query,
            headers: vec![("Content-Type", "application/json".to_string())],
            body,
        },
    )
    .await
    .map_err(|e| match e {
        TransportError::Timeout => {
            AppError::new(ErrorCode::UpstreamTimeout, "simulateur: délai dépassé")
        }
        TransportError::Network(e) => {
            AppError::new(ErrorCode::UpstreamError, format!("simulateur: {e}"))
        }
    })?;
    Ok(bytes_response(reply.status, "application/json", reply.body))
}
