//! `POST /api/v1/admin/payments/{payment_id}/settle`: an operator who checked CYNOD settles a
//! movement whose outcome nobody could learn (CYNOD offers no look-up). Invariant: only a movement
//! waiting for an operator can be settled, once; everything else is refused and changes nothing.

use dyno_core::api::{PaymentResource, RefundCreated};
use dyno_core::ids::{PaymentId, RefundId};
use dyno_core::payment::machine::{Answer, Request as PaymentRequest};
use dyno_core::routes::Matched;
use dyno_core::ErrorCode;
use serde::Deserialize;
use worker::{Env, Request, Response};

use crate::error::{AppError, AppResult};
use crate::http::{self, json_response};
use crate::stubs::{unexpected, PaymentStub};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settlement {
    /// What CYNOD's own records say: the movement was applied, or it was not.
    applied: bool,
    /// A refund of the payment, rather than its debit.
    refund_id: Option<String>,
}

pub async fn settle(mut req: Request, env: &Env, matched: &Matched) -> AppResult<Response> {
    let id = matched
        .param("payment_id")
        .and_then(PaymentId::parse)
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "Paiement introuvable."))?;
    let body: Settlement = http::read_json(&mut req).await?;
    let refund_id = match body.refund_id {
        Some(text) => Some(
            RefundId::parse(&text)
                .ok_or_else(|| AppError::new(ErrorCode::InvalidRequest, "refund_id: un UUID."))?,
        ),
        None => None,
    };
    let answer = PaymentStub::of(env, &id)?
        .run(PaymentRequest::Settle {
            refund_id,
            applied: body.applied,
        })
        .await?;
    match answer {
        Answer::Payment(view) => json_response(200, &PaymentResource::of(&view)),
        Answer::Refund { refund, payment } => {
            json_response(200, &RefundCreated::of(&refund, &payment))
        }
        other => Err(unexpected(other)),
    }
}
