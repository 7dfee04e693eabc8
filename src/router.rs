//! Dispatch: resolves the path against `dyno_core::routes::ROUTES`, authenticates by the route's
//! audience, calls the handler, then finishes every response in one place (rate-limit headers,
//! idempotent response storage, audit). Invariant: no POS handler can act without the gate's
//! authorization, and unknown paths and methods get problem+json 404/405.

use dyno_core::routes::{resolve, Audience, Matched, Resolution, RouteName};
use dyno_core::ErrorCode;
use worker::{Context, Env, Request, Response};

use crate::audit;
use crate::auth::{self, GateNeeds, PosCall};
use crate::config::Config;
use dyno_core::payment::machine::DriveAction;

use crate::error::{AppError, AppResult, Early, PosResult};
use crate::http::RequestContext;
use crate::routes::cards;
use crate::routes::{
    admin, contract, cynod_sim_control, demo_seed, health, oauth, operator, payments, pos, reports,
    sessions, wallet, webhooks,
};
use crate::sandbox;
use crate::stubs::GateStub;
use dyno_core::cards::Direction;

/// Handles a request end to end; errors are already rendered.
pub async fn dispatch(req: Request, env: &Env, ctx: &Context, rc: &RequestContext) -> Response {
    // The method as sent: `worker::Method` folds methods it does not know (QUERY, …) into GET,
    // which would answer them as if they were reads instead of 405.
    let method = req.inner().method();
    let path = req.path();
    let matched = match resolve(&method, &path) {
        Resolution::Found(matched) => matched,
        Resolution::MethodNotAllowed(allowed) => {
            return AppError::new(
                ErrorCode::MethodNotAllowed,
                format!("{method} n'est pas accepté sur {path}."),
            )
            .with_header("Allow", allowed.join(", "))
            .into_response(&rc.request_id)
        }
        Resolution::NotFound => {
            return AppError::new(ErrorCode::RouteNotFound, format!("Aucune route {path}."))
                .into_response(&rc.request_id)
        }
    };
    let def = matched.def();
    let result = match def.audience {
        Audience::Pos => handle_pos(req, env, rc, &matched).await,
        _ => handle(req, env, rc, &matched).await.map_err(Early::Error),
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

async fn handle(
    req: Request,
    env: &Env,
    rc: &RequestContext,
    matched: &Matched,
) -> AppResult<Response> {
    let def = matched.def();
    match def.audience {
        Audience::Public => match def.name {
            RouteName::Health => health::healthz(env),
            RouteName::OpenApi => contract::openapi(env).await,
            RouteName::SandboxWebhookReceiver => webhooks::sandbox_receiver(req, env).await,
            other => Err(unrouted(other)),
        },
        Audience::Token => match def.name {
            RouteName::PosToken => oauth::token(req, env, rc).await,
            RouteName::WalletToken => wallet::login(req, env, rc).await,
            RouteName::PosRevoke => oauth::revoke(req, env, rc, def).await,
            other => Err(unrouted(other)),
        },
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
                RouteName::AdminEnrollWallet => admin::enroll_wallet(req, env, matched).await,
                RouteName::AdminDemoSeed => demo_seed::seed(&req, env).await,
                RouteName::AdminCynodSim => cynod_sim_control::forward(req, env).await,
                RouteName::AdminSandboxFaults => sandbox::inject_faults(req, env).await,
                RouteName::AdminSettlePayment => operator::settle(req, env, matched).await,
                RouteName::AdminHealth => health::deep(env, rc).await,
                RouteName::AdminWalletLockout => admin::wallet_lockout(env, matched).await,
                RouteName::AdminUnlockWallet => admin::unlock_wallet(env, matched).await,
                RouteName::AdminMemberCards => cards::member_cards(env, matched).await,
                RouteName::AdminCardCredit => {
                    cards::operator_movement(req, env, rc, matched, Direction::Credit).await
                }
                RouteName::AdminCardDebit => {
                    cards::operator_movement(req, env, rc, matched, Direction::Debit).await
                }
                other => Err(unrouted(other)),
            }
        }
        Audience::Wallet => {
            let config = Config::get(env)?;
            let principal = auth::authenticate_wallet(&req, env, &config).await?;
            rc.set_actor(format!("wallet:{}", principal.wallet_id));
            match def.name {
                RouteName::WalletCards => wallet::cards(env, &principal).await,
                RouteName::WalletSignOut => wallet::sign_out(env, &principal).await,
                RouteName::WalletQr => wallet::issue_qr(req, env, &principal).await,
                RouteName::WalletPaymentRequest => sessions::wallet_view(&req, env, matched).await,
                RouteName::WalletPaymentConfirm => {
                    sessions::wallet_confirm(req, env, matched, &principal).await
                }
                RouteName::WalletPaymentCancel => sessions::wallet_cancel(req, env, matched).await,
                RouteName::WalletCardHistory => {
                    wallet::card_history(&req, env, matched, &principal).await
                }
                other => Err(unrouted(other)),
            }
        }
        Audience::Pos => Err(unrouted(def.name)),
    }
}

async fn handle_pos(req: Request, env: &Env, rc: &RequestContext, matched: &Matched) -> PosResult {
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
        RouteName::PosSandboxScan => sandbox::drive(&call, matched, DriveAction::Scan).await,
        RouteName::PosSandboxConfirm => sandbox::drive(&call, matched, DriveAction::Confirm).await,
        RouteName::PosSandboxFail => sandbox::drive(&call, matched, DriveAction::Fail).await,
        RouteName::PosSandboxCancel => sandbox::drive(&call, matched, DriveAction::Cancel).await,
        RouteName::PosCardBalance => cards::presented_balance(&call).await,
        RouteName::PosCardValidity => cards::presented_validity(&call).await,
        name => {
            // Routes without gate needs: authorize here, then run.
            let authorized = call.authorize(GateNeeds::default()).await?;
            let principal = &authorized.principal;
            Ok(match name {
                RouteName::PosWhoami => pos::whoami(principal),
                RouteName::PosReconciliation => reports::reconciliation(&call, principal).await,
                RouteName::PosReportSummary => reports::summary(&call, principal).await,
                RouteName::PosWebhookDeliveries => webhooks::deliveries(&call, principal).await,
                RouteName::PosWebhookEndpoint => webhooks::endpoint(&call, principal).await,
                RouteName::PosSetWebhookEndpoint => webhooks::set_endpoint(&call, principal).await,
                RouteName::PosSandboxReceipts => webhooks::sandbox_receipts(&call, principal).await,
                RouteName::PosWebhookRedeliver => {
                    let id = matched.param("delivery_id").unwrap_or_default();
                    webhooks::redeliver(&call, principal, id).await
                }
                other => Err(unrouted(other)),
            }?)
        }
    }
}

/// A route in the table without a handler for its audience: a programming error, reported as 500.
fn unrouted(name: RouteName) -> AppError {
    AppError::internal(format!("no handler for {name:?}"))
}
