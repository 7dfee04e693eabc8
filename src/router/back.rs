//! The back's routes (`dyno_core::routes::Part::Back`): the operator API, the wallets, the POS
//! reports, webhook settings, card look-ups and sandbox controls. The front forwards them here as
//! they came. Invariant: each is authenticated by its audience exactly as if it had been called
//! directly (the admin key, a wallet token, a POS token through the gate).

use dyno_core::cards::Direction;
use dyno_core::payment::machine::DriveAction;
use dyno_core::routes::{Audience, Matched, RouteName};
use worker::{Env, Request, Response};

use super::unrouted;
use crate::auth::{self, GateNeeds, PosCall};
use crate::config::Config;
use crate::error::{AppResult, Early, PosResult};
use crate::http::RequestContext;
use crate::routes::{
    admin, cards, cynod_sim_control, demo_seed, health, operator, reports, sessions, wallet,
    webhooks,
};
use crate::sandbox;

pub async fn answer(req: Request, env: &Env, rc: &RequestContext, matched: &Matched) -> PosResult {
    match matched.def().audience {
        Audience::Pos => pos_call(req, env, rc, matched).await,
        _ => others(req, env, rc, matched).await.map_err(Early::Error),
    }
}

async fn others(
    req: Request,
    env: &Env,
    rc: &RequestContext,
    matched: &Matched,
) -> AppResult<Response> {
    let def = matched.def();
    match def.audience {
        Audience::Public => match def.name {
            RouteName::SandboxWebhookReceiver => webhooks::sandbox_receiver(req, env).await,
            other => Err(unrouted(other)),
        },
        Audience::Token => match def.name {
            RouteName::WalletToken => wallet::login(req, env, rc).await,
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

async fn pos_call(req: Request, env: &Env, rc: &RequestContext, matched: &Matched) -> PosResult {
    let def = matched.def();
    let call = PosCall::open(req, env, rc, def).await?;
    match def.name {
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
