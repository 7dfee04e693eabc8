//! Dispatch: resolves the path against `dyno_core::routes::ROUTES` and calls the handler.
//! Invariant: unknown paths and methods get problem+json 404/405, never a Worker exception.

use dyno_core::routes::{resolve, Resolution, RouteName};
use dyno_core::ErrorCode;
use worker::{Context, Env, Request, Response};

use crate::error::{AppError, AppResult};
use crate::http::RequestContext;
use crate::routes;

pub async fn dispatch(
    req: Request,
    env: &Env,
    _ctx: &Context,
    rc: &RequestContext,
) -> AppResult<Response> {
    let method = req.method().to_string();
    let path = req.path();
    let matched = match resolve(&method, &path) {
        Resolution::Found(matched) => matched,
        Resolution::MethodNotAllowed(allowed) => {
            return Err(AppError::new(
                ErrorCode::MethodNotAllowed,
                format!("{method} n'est pas accepté sur {path}."),
            )
            .with_header("Allow", allowed.join(", ")))
        }
        Resolution::NotFound => {
            return Err(AppError::new(
                ErrorCode::RouteNotFound,
                format!("Aucune route {path}."),
            ))
        }
    };
    match matched.def().name {
        RouteName::Health => routes::health::healthz(env, rc).await,
    }
}
