//! Sandbox-only features: the test helpers that drive a PPM request without a phone (as Stripe's
//! `present_payment_method` does), and the daily reset. Invariant: nothing here runs outside the
//! sandbox environment, and nothing here moves money.

use dyno_core::routes::Matched;
use dyno_core::ErrorCode;
use serde::Deserialize;
use worker::{Env, Response};

use crate::auth::{self, GateNeeds, PosCall};
use crate::config::{Config, Environment};
use crate::cynod::transport::{self, OutgoingRequest};
use crate::durable::payment::{DriveRequest, PaymentView};
use crate::durable::{self, payment};
use crate::error::{AppError, AppResult};
use crate::http::{self, json_response};
use crate::platform;
use crate::registry;
use crate::routes::demo_seed::{self, DEMO_CLIENT_ID, UNAFFILIATED_CLIENT_ID};
use crate::routes::sessions::SessionStatus;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DriveBody {
    reason: Option<String>,
}

/// `POST /api/v1/pos/sandbox/payment-requests/{id}/{scan|confirm|fail|cancel}`.
pub async fn drive(call: &PosCall<'_>, matched: &Matched, action: &str) -> AppResult<Response> {
    let authorized = call.authorize(GateNeeds::default()).await?;
    if !authorized.principal.claims().sandbox || call.config.environment != Environment::Sandbox {
        return Err(AppError::new(
            ErrorCode::SimulationNotAllowed,
            "Les aides de test n'existent qu'en sandbox, avec des identifiants sandbox.",
        ));
    }
    let body: DriveBody = if call.body.is_empty() {
        DriveBody::default()
    } else {
        http::json_body(call.req.headers(), &call.body)?
    };
    let id = matched
        .param("id")
        .filter(|id| dyno_core::ids::is_uuid(id))
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "Demande de paiement introuvable."))?;
    let view: PaymentView = durable::call(
        &payment::stub(call.env, id)?,
        "sandbox_drive",
        &DriveRequest {
            client_id: authorized.principal.client_id().to_string(),
            action: action.to_string(),
            reason: body.reason,
        },
    )
    .await?;
    // The same body as a status poll, so integrators parse one shape.
    json_response(200, &SessionStatus::from(view))
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
        durable::call::<_, ()>(&auth::client_gate(env, client_id)?, "reset", &()).await?;
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
