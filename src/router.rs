//! Dispatch: resolves the path against `dyno_core::routes::ROUTES`, authenticates by the route's
//! audience, calls the handler and records the audit entry. Invariant: no handler runs before its
//! authentication passed, and unknown paths and methods get problem+json 404/405.

use dyno_core::routes::{resolve, Audience, Matched, Resolution, RouteName};
use dyno_core::ErrorCode;
use worker::{Context, Env, Request, Response};

use crate::audit;
use crate::auth;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::RequestContext;
use crate::routes::cards::{self, Direction};
use crate::routes::{admin, cynod_sim_control, demo_seed, health, oauth, pos};

pub async fn dispatch(
    req: Request,
    env: &Env,
    ctx: &Context,
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
    let def = matched.def();
    let result = handle(req, env, rc, &matched).await;
    if def.audience != Audience::Public {
        let status = match &result {
            Ok(response) => response.status_code(),
            Err(error) => error.status(),
        };
        let resource = matched.params.first().map(|(_, v)| v.clone());
        audit::record(env, ctx, rc, def, resource, status);
    }
    result
}

async fn handle(
    req: Request,
    env: &Env,
    rc: &RequestContext,
    matched: &Matched,
) -> AppResult<Response> {
    let def = matched.def();
    match def.audience {
        Audience::Public => match def.name {
            RouteName::Health => health::healthz(env, rc).await,
            other => Err(unrouted(other)),
        },
        Audience::Token => oauth::token(req, env, rc).await,
        Audience::Admin => {
            let config = Config::get(env)?;
            rc.set_actor("admin");
            auth::authenticate_admin(&req, &config)?;
            match def.name {
                RouteName::AdminCreateMerchant => admin::create_merchant(req, env).await,
                RouteName::AdminGetMerchant => admin::get_merchant(env, matched).await,
                RouteName::AdminUpdateMerchant => admin::update_merchant(req, env, matched).await,
                RouteName::AdminCreateClient => admin::create_client(req, env).await,
                RouteName::AdminRotateSecret => admin::rotate_secret(req, env, matched).await,
                RouteName::AdminSetWebhook => admin::set_webhook(req, env, matched).await,
                RouteName::AdminRevokeTokens => admin::revoke_all_tokens(env, matched).await,
                RouteName::AdminAudit => admin::list_audit(&req, env).await,
                RouteName::AdminDemoSeed => demo_seed::seed(&req, env).await,
                RouteName::AdminCynodSim => cynod_sim_control::forward(req, env).await,
                other => Err(unrouted(other)),
            }
        }
        Audience::Pos => {
            let config = Config::get(env)?;
            let scope = def.scope.unwrap_or("payments");
            let principal = auth::authenticate_pos(&req, env, &config, true, scope).await?;
            rc.set_client(principal.client_id());
            let mut response = match def.name {
                RouteName::PosRevoke => oauth::revoke(req, env, &principal).await,
                RouteName::PosWhoami => pos::whoami(&principal),
                RouteName::PosCardBalance => cards::balance(&req, env, matched).await,
                RouteName::PosCardValidity => cards::validity(&req, env, matched).await,
                RouteName::PosMemberCards => cards::member_cards(env, matched).await,
                RouteName::PosMemberCardValidity => cards::member_validity(env, matched).await,
                RouteName::PosCardCredit => {
                    cards::movement(req, env, matched, &principal, Direction::Credit).await
                }
                RouteName::PosCardDebit => {
                    cards::movement(req, env, matched, &principal, Direction::Debit).await
                }
                other => Err(unrouted(other)),
            }?;
            if let Some(limit) = &principal.limit {
                let headers = response.headers_mut();
                let _ = headers.set("RateLimit-Policy", &limit.policy_header());
                let _ = headers.set("RateLimit", &limit.limit_header());
            }
            Ok(response)
        }
        Audience::Wallet => Err(unrouted(def.name)),
    }
}

/// A route in the table without a handler for its audience: a programming error, reported as 500.
fn unrouted(name: RouteName) -> AppError {
    AppError::internal(format!("no handler for {name:?}"))
}
