//! The front's routes (`dyno_core::routes::Part::Front`): the calls a till makes in a sale, and
//! the token and liveness probe they need. Invariant: nothing here reaches CYNOD, the reports or
//! the operator API, so the front's WASM stays what a sale needs.

use dyno_core::routes::{Audience, Matched, RouteName};
use worker::{Env, Request};

use super::unrouted;
use crate::auth::{GateNeeds, PosCall};
use crate::error::{Early, PosResult};
use crate::http::RequestContext;
use crate::routes::{contract, health, oauth, payments, pos, sessions};

pub async fn answer(req: Request, env: &Env, rc: &RequestContext, matched: &Matched) -> PosResult {
    let def = matched.def();
    if def.audience == Audience::Pos {
        return pos_call(req, env, rc, matched).await;
    }
    match def.name {
        RouteName::Health => health::healthz(env),
        RouteName::OpenApi => contract::openapi(env).await,
        RouteName::PosToken => oauth::token(req, env, rc).await,
        RouteName::PosRevoke => oauth::revoke(req, env, rc, def).await,
        other => Err(unrouted(other)),
    }
    .map_err(Early::Error)
}

async fn pos_call(req: Request, env: &Env, rc: &RequestContext, matched: &Matched) -> PosResult {
    let def = matched.def();
    let call = PosCall::open(req, env, rc, def).await?;
    match def.name {
        RouteName::PosPaymentScan => payments::scan(&call).await,
        RouteName::PosPaymentGet => payments::get(&call, matched).await,
        RouteName::PosPaymentList => payments::list(&call).await,
        RouteName::PosPaymentInitiate => sessions::initiate(&call).await,
        RouteName::PosPaymentStatus => sessions::status(&call, matched).await,
        RouteName::PosPaymentCancel => sessions::cancel(&call, matched).await,
        RouteName::PosPaymentRefund => payments::refund(&call, matched).await,
        RouteName::PosWhoami => {
            // No gate needs: authorize here, then answer.
            let authorized = call.authorize(GateNeeds::default()).await?;
            Ok(pos::whoami(&authorized.principal)?)
        }
        other => Err(Early::Error(unrouted(other))),
    }
}
