//! Dispatch: resolves the path against `dyno_core::routes::ROUTES`, tells `fetch` when the route
//! is the other part's (`elsewhere`, `hand_over`), authenticates by the route's audience, calls
//! the part's handler (`front`, `back`), then finishes every response in one place (rate-limit
//! headers, idempotent response storage, audit). Invariant: no POS handler can act without the
//! gate's authorization, and unknown paths and methods get problem+json 404/405.

use dyno_core::routes::{resolve, Audience, Part, Resolution, RouteName};
use dyno_core::ErrorCode;
use worker::{Context, Env, Request, Response};

#[cfg(feature = "back")]
mod back;
#[cfg(feature = "front")]
mod front;

use crate::audit;
use crate::http;

use crate::error::{AppError, AppResult, Early};
use crate::http::RequestContext;
use crate::stubs::GateStub;

/// The route a request names, read once: `fetch` asks it whether this Worker answers the route
/// (`elsewhere`), then hands it to `dispatch`.
pub fn route(req: &Request) -> Resolution {
    // The method as sent: `worker::Method` folds methods it does not know (QUERY, …) into GET,
    // which would answer them as if they were reads instead of 405.
    resolve(&req.inner().method(), &req.path())
}

/// The part that answers a resolved route when this Worker was built without it
/// (`Cargo.toml`'s features): the front's build hands the back's routes over.
pub fn elsewhere(resolution: &Resolution) -> Option<Part> {
    let Resolution::Found(matched) = resolution else {
        return None;
    };
    match matched.def().name.part() {
        Part::Front if cfg!(feature = "front") => None,
        Part::Back if cfg!(feature = "back") => None,
        part => Some(part),
    }
}

/// Hands a request to the part that answers it, as it came: the back authenticates, limits,
/// audits and finishes it itself. The back never receives the front's routes, so one reaching it
/// is a programming error.
pub async fn hand_over(part: Part, req: Request, env: &Env) -> AppResult<Response> {
    match part {
        Part::Back => http::forward(crate::BACK_BINDING, "the back", req, env).await,
        Part::Front => Err(AppError::internal("a front route reached the back")),
    }
}

/// Handles a request end to end; errors are already rendered.
pub async fn dispatch(
    req: Request,
    resolution: Resolution,
    env: &Env,
    ctx: &Context,
    rc: &RequestContext,
) -> Response {
    let matched = match resolution {
        Resolution::Found(matched) => matched,
        Resolution::MethodNotAllowed(allowed) => {
            let method = req.inner().method();
            return AppError::new(
                ErrorCode::MethodNotAllowed,
                format!("{method} n'est pas accepté sur {}.", req.path()),
            )
            .with_header("Allow", allowed.join(", "))
            .into_response(&rc.request_id);
        }
        Resolution::NotFound => {
            return AppError::new(
                ErrorCode::RouteNotFound,
                format!("Aucune route {}.", req.path()),
            )
            .into_response(&rc.request_id)
        }
    };
    let def = matched.def();
    let result = match def.name.part() {
        #[cfg(feature = "front")]
        Part::Front => front::answer(req, env, rc, &matched).await,
        #[cfg(feature = "back")]
        Part::Back => back::answer(req, env, rc, &matched).await,
        // `fetch` hands these over before dispatching (`elsewhere`).
        #[allow(unreachable_patterns)]
        part => Err(Early::Error(AppError::internal(format!(
            "{:?} dispatched in a Worker without the {part:?}",
            def.name
        )))),
    };
    let result = match result {
        Ok(_) if def.audience == Audience::Pos && !rc.is_authorized() => Err(Early::Error(
            AppError::internal(format!("{:?} answered without authorizing", def.name)),
        )),
        other => other,
    };
    let mut response = match result {
        Ok(response) => response,
        // A replay is the first answer again; an error is rendered here, in one place.
        Err(early) => early.into_response(&rc.request_id),
    };
    finish(env, ctx, rc, &mut response).await;
    if def.audience != Audience::Public {
        let resource = matched.params.first().map(|(_, v)| v.clone());
        audit::record(env, ctx, rc, def, resource, response.status_code());
    }
    response
}

/// Rate-limit headers on every answer of a counted call, and the stored answer of a fresh
/// `Idempotency-Key` (a 5xx frees the key instead, so a retry runs again).
async fn finish(env: &Env, ctx: &Context, rc: &RequestContext, response: &mut Response) {
    if let Some(limit) = rc.limit() {
        let headers = response.headers_mut();
        if !headers.has("RateLimit").unwrap_or(false) {
            let _ = headers.set("RateLimit-Policy", &limit.policy_header());
            let _ = headers.set("RateLimit", &limit.limit_header());
        }
    }
    let (Some(key), Some(client_id)) = (rc.idempotency_key(), rc.client_id()) else {
        return;
    };
    let status = response.status_code();
    let stored = if status >= 500 {
        None
    } else {
        match response.cloned() {
            Ok(mut copy) => copy.text().await.ok().map(|body| (status, body)),
            Err(_) => None,
        }
    };
    let env = env.clone();
    ctx.wait_until(async move {
        let result = match GateStub::client(&env, &client_id) {
            Ok(gate) => gate.store_response(key, stored).await,
            Err(e) => Err(e),
        };
        // The key then stays "in progress" until it expires (a minute): a retry is told to wait,
        // never run twice.
        if let Err(e) = result {
            worker::console_error!("idempotency: response not stored: {e:?}");
        }
    });
}

/// A route in the table without a handler for its audience: a programming error, reported as 500.
pub(crate) fn unrouted(name: RouteName) -> AppError {
    AppError::internal(format!("no handler for {name:?}"))
}
