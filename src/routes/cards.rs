//! Card routes. POS: the balance and validity of the card presented to the terminal now (the
//! employee's fresh EPM QR in `X-Dyno-Card-Presentation`). Operators: a member's cards, and
//! direct credit and debit, capped per call and per day and journaled with the operator's name.
//! Invariant: a POS learns nothing of a card it was not shown, and never a holder's name; a
//! movement is counted against the day's cap before it reaches CYNOD, and one whose answer was
//! lost is reported as applied, not applied, or unknown, never guessed.

use dyno_core::cards::{
    self, admission, card_number, daily_limit_exceeded, identifier, not_presented, Admission,
    Direction, JournalStatus, MemberCards, MovementBody, MovementView, Operator, PresentedBalance,
    PresentedValidity, OPERATOR_HEADER, PRESENTATION_HEADER,
};
use dyno_core::cynod::cynod_datetime_to_rfc3339;
use dyno_core::ids::PaymentId;
use dyno_core::payment::Payer;
use dyno_core::qr::EpmQr;
use dyno_core::routes::Matched;
use dyno_core::{ErrorCode, Minor, Problem};
use worker::{D1Database, Env, Request, Response};

use crate::auth::{GateNeeds, PosCall};
use crate::config::Config;
use crate::cynod::client::WriteOutcome;
use crate::cynod::CynodClient;
use crate::error::{AppError, AppResult, PosResult};
use crate::http::{self, json_response, RequestContext};
use crate::platform;
use crate::registry::{self, OperatorMovement};
use crate::stubs::PaymentStub;

/// The card this request presents. The QR is verified (signature, freshness) before any I/O,
/// then the gate admits the call (in the card-read window), then the QR's payment object names
/// the card, only while the QR is unused.
async fn presented(call: &PosCall<'_>) -> PosResult<Payer> {
    let header = call.req.headers().get(PRESENTATION_HEADER).ok().flatten();
    let id = match header {
        None => Err(not_presented()),
        Some(payload) => EpmQr::verify_fresh(&call.config.qr_secret, &payload, platform::now())
            .and_then(|qr| {
                PaymentId::parse(&qr.nonce)
                    .ok_or_else(|| Problem::new(ErrorCode::InvalidQr, "QR code invalide."))
            }),
    };
    let id = match id {
        Ok(id) => id,
        Err(problem) => return call.refuse(problem.into()).await,
    };
    call.authorize(GateNeeds::default()).await?;
    Ok(PaymentStub::of(call.env, &id)?.presented().await?)
}

/// `GET /api/v1/pos/cards/balance`: the presented card's balance.
pub async fn presented_balance(call: &PosCall<'_>) -> PosResult {
    let payer = presented(call).await?;
    let balance = CynodClient::new(call.env, &call.config.cynod)
        .balance(&payer.card_number, Some(&payer.wallet_id), None)
        .await?;
    let view = PresentedBalance::new(
        &payer.card_number,
        Minor(balance.balance_minor),
        balance.wallet_type,
        balance.as_of.as_deref().and_then(cynod_datetime_to_rfc3339),
    );
    Ok(json_response(200, &view)?)
}

/// `GET /api/v1/pos/cards/validity`: whether the presented card is valid, and until when.
pub async fn presented_validity(call: &PosCall<'_>) -> PosResult {
    let payer = presented(call).await?;
    let answer = CynodClient::new(call.env, &call.config.cynod)
        .validity(&payer.card_number, Some(&payer.wallet_id), None)
        .await;
    let view = PresentedValidity::of(&payer.card_number, answer)?;
    Ok(json_response(200, &view)?)
}

/// `GET /api/v1/admin/members/{client_id}/cards`: a member's cards with balances (operators).
pub async fn member_cards(env: &Env, matched: &Matched) -> AppResult<Response> {
    let config = Config::get(env)?;
    let member = identifier("client_id", matched.param("client_id"))?.unwrap_or_default();
    let items = CynodClient::new(env, &config.cynod)
        .cards(None, Some(member))
        .await?;
    json_response(200, &MemberCards::of(member, items)?)
}

/// Counts `movement` against its day's cap, unless its reference is already counted.
async fn count_against_day(
    db: &D1Database,
    movement: &OperatorMovement<'_>,
    direction: Direction,
    operator_reference: &str,
    daily_max: i64,
) -> AppResult<()> {
    let decide = |existing: Option<cards::JournalEntry>| {
        admission(
            existing.as_ref(),
            direction,
            movement.card_number,
            Minor(movement.amount_minor),
        )
    };
    let existing = registry::find_operator_movement(db, movement.reference).await?;
    match decide(existing) {
        Admission::Counted => return Ok(()),
        Admission::Conflict => return Err(cards::reference_conflict(operator_reference).into()),
        Admission::Reserve => {}
    }
    if registry::reserve_operator_movement(db, movement, daily_max).await? {
        return Ok(());
    }
    // Over the cap — unless a concurrent request for the same movement reserved it meanwhile.
    let now_there = registry::find_operator_movement(db, movement.reference).await?;
    match decide(now_there) {
        Admission::Counted => Ok(()),
        Admission::Conflict => Err(cards::reference_conflict(operator_reference).into()),
        Admission::Reserve => Err(daily_limit_exceeded(Minor(daily_max)).into()),
    }
}

/// `POST /api/v1/admin/cards/{card_number}/credit` and `…/debit`: an operator's direct movement.
pub async fn operator_movement(
    mut req: Request,
    env: &Env,
    rc: &RequestContext,
    matched: &Matched,
    direction: Direction,
) -> AppResult<Response> {
    let config = Config::get(env)?;
    let operator = Operator::parse(req.headers().get(OPERATOR_HEADER).ok().flatten().as_deref())?;
    rc.set_actor(format!("operator:{}", operator.as_str()));
    let numero = card_number(matched.param("card_number"))?.to_string();
    let body: MovementBody = http::read_json(&mut req).await?;
    let per_call_max = config
        .operator_movement_max_minor
        .min(config.max_amount_minor);
    let movement = body.validate(per_call_max)?;
    let request = movement.cynod_request(&numero, &operator);
    let now = platform::now();
    let db = registry::db(env)?;
    let day = cards::utc_day(now);
    let journaled = OperatorMovement {
        reference: &request.reference,
        day: &day,
        direction: direction.as_str(),
        card_number: &numero,
        amount_minor: Minor::from(movement.amount).get(),
        operator: operator.as_str(),
        request_id: &rc.request_id,
        at_ms: now.0,
    };
    count_against_day(
        &db,
        &journaled,
        direction,
        &movement.reference,
        config.operator_daily_max_minor,
    )
    .await?;
    let client = CynodClient::new(env, &config.cynod);
    let outcome = match direction {
        Direction::Credit => client.credit(&request).await,
        Direction::Debit => client.debit(&request).await,
    };
    let settled = match &outcome {
        WriteOutcome::Applied { .. } => JournalStatus::Applied,
        WriteOutcome::Refused(_) | WriteOutcome::NotApplied { .. } => JournalStatus::Released,
        WriteOutcome::Unknown { .. } => JournalStatus::Unknown,
    };
    // The answer must reach the operator whatever happens here: a row left `reserved` keeps
    // counting, which errs on the side of the cap.
    let at_ms = platform::now().0;
    if let Err(e) =
        registry::settle_operator_movement(&db, &request.reference, settled, at_ms).await
    {
        worker::console_error!(
            "operator movement {}: not settled: {e:?}",
            request.reference
        );
    }
    let reference = &movement.reference;
    match outcome {
        WriteOutcome::Applied {
            operation,
            recovered,
        } => json_response(
            200,
            &MovementView::applied(reference, direction, operation, recovered),
        ),
        WriteOutcome::Refused(problem) => Err(problem.into()),
        WriteOutcome::NotApplied { cause } => {
            Err(AppError::from(cards::not_applied(cause, reference))
                .with_header("Dyno-Movement-Status", "not_applied"))
        }
        WriteOutcome::Unknown { cause } => {
            Err(AppError::from(cards::outcome_unknown(cause, reference))
                .with_header("Dyno-Movement-Status", "unknown"))
        }
    }
}
