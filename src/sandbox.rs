//! Sandbox-only features: the test helpers that drive a PPM request without a phone (as Stripe's
//! `present_payment_method` does), and the daily reset. Invariant: nothing here runs outside the
//! sandbox environment, and nothing here moves money.

use dyno_core::api::SessionStatus;
use dyno_core::ids::PaymentId;
use dyno_core::payment::machine::{DriveAction, Request};
use dyno_core::protocol::Faults;
use dyno_core::routes::Matched;
use dyno_core::ErrorCode;
use serde::Deserialize;
use worker::Env;

use crate::auth::{GateNeeds, PosCall};
use crate::config::{Config, Environment};
use crate::cynod::transport::{self, OutgoingRequest};
use crate::error::{AppError, AppResult, PosResult};
use crate::http::{self, json_response};
use crate::platform;
use crate::registry;
use crate::routes::demo_seed::{self, DEMO_CLIENT_ID, UNAFFILIATED_CLIENT_ID};
use crate::stubs::{GateStub, PaymentStub};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DriveBody {
    reason: Option<String>,
}

/// `POST /api/v1/pos/sandbox/payment-requests/{id}/{scan|confirm|fail|cancel}`.
pub async fn drive(call: &PosCall<'_>, matched: &Matched, action: DriveAction) -> PosResult {
    let authorized = call.authorize(GateNeeds::default()).await?;
    if !authorized.principal.claims().sandbox || call.config.environment != Environment::Sandbox {
        return Err(AppError::new(
            ErrorCode::SimulationNotAllowed,
            "Les aides de test n'existent qu'en sandbox, avec des identifiants sandbox.",
        )
        .into());
    }
    let body: DriveBody = if call.body.is_empty() {
        DriveBody::default()
    } else {
        http::json_body(call.req.headers(), &call.body)?
    };
    let id = matched
        .param("id")
        .and_then(PaymentId::parse)
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "Demande de paiement introuvable."))?;
    let view = PaymentStub::of(call.env, &id)?
        .view(Request::Drive {
            client: call.client().clone(),
            action,
            reason: body.reason,
        })
        .await?;
    // The same body as a status poll, so integrators parse one shape.
    Ok(json_response(200, &SessionStatus::of(&view))?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    payment_id: Option<String>,
    #[serde(default)]
    webhook_send_failures: u32,
    #[serde(default)]
    transaction_send_failures: u32,
    #[serde(default)]
    alarm_failures: u32,
    client_id: Option<String>,
    #[serde(default)]
    corrupt_gate_state: bool,
}

/// `POST /api/v1/admin/sandbox/faults`: the fault switch, sandbox only and off by default. It makes
/// one payment's next queue sends or alarms fail, or one client's gate storage unreadable, so tests
/// can show effects are retried and the gate fails closed.
pub async fn inject_faults(mut req: worker::Request, env: &Env) -> AppResult<worker::Response> {
    let config = Config::get(env)?;
    if config.environment != Environment::Sandbox {
        return Err(AppError::new(
            ErrorCode::RouteNotFound,
            "Les pannes simulées n'existent qu'en sandbox.",
        ));
    }
    let body: FaultBody = http::read_json(&mut req).await?;
    if let Some(id) = &body.payment_id {
        let id = PaymentId::parse(id)
            .ok_or_else(|| AppError::new(ErrorCode::InvalidRequest, "payment_id: un UUID."))?;
        PaymentStub::of(env, &id)?
            .inject_faults(Faults {
                webhook_send_failures: body.webhook_send_failures,
                transaction_send_failures: body.transaction_send_failures,
                alarm_failures: body.alarm_failures,
            })
            .await?;
    }
    match (&body.client_id, body.corrupt_gate_state) {
        (Some(client_id), true) => GateStub::client(env, client_id)?.corrupt_state().await?,
        (None, true) => {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                "corrupt_gate_state exige client_id.",
            ))
        }
        _ => {}
    }
    json_response(200, &serde_json::json!({ "status": "armed" }))
}

/// The daily job's sandbox part: forget the day's sandbox activity, restore the simulator's cards
/// and the demo credentials (which keep working, unchanged, afterwards).
pub async fn daily_reset(env: &Env) -> AppResult<()> {
    let config = Config::get(env)?;
    if config.environment != Environment::Sandbox {
        return Ok(());
    }
    let db = registry::db(env)?;
    registry::reset_sandbox_activity(&db).await?;
    demo_seed::seed_demo_data(env, None).await?;
    for client_id in [DEMO_CLIENT_ID, UNAFFILIATED_CLIENT_ID] {
        GateStub::client(env, client_id)?.reset().await?;
    }
    let reply = transport::send(
        env,
        &config.cynod,
        OutgoingRequest {
            method: "POST",
            path_and_query: "/__sim/reset",
            headers: vec![],
            body: None,
        },
    )
    .await
    .map_err(|e| AppError::internal(format!("simulator reset: {e:?}")))?;
    if reply.status != 200 {
        return Err(AppError::internal(format!(
            "simulator reset: HTTP {}",
            reply.status
        )));
    }
    worker::console_log!("sandbox reset at {}", platform::now().to_rfc3339());
    Ok(())
}
