//! The POS-facing CYNOD proxy: balance, validity (by card and for a member), a member's cards, and
//! the credit/debit operations (scope `cards:write`). Invariant: parameters are validated before
//! anything reaches CYNOD, amounts cross in exact minor units, and a movement whose answer was lost
//! is reported as applied, not applied, or unknown, never guessed.

use dyno_core::cynod::{
    cynod_date_to_iso, cynod_datetime_to_rfc3339, is_valid_card_number, MovementRequest,
    OperationItem,
};
use dyno_core::money::DecimalNumber;
use dyno_core::routes::Matched;
use dyno_core::text::optional_text_within;
use dyno_core::{Currency, ErrorCode, Problem};
use serde::{Deserialize, Serialize};
use worker::{Request, Response};

use crate::auth::{PosCall, PosPrincipal};
use crate::cynod::client::WriteOutcome;
use crate::cynod::CynodClient;
use crate::error::{AppError, AppResult};
use crate::http::{self, json_response};

fn card_number(matched: &Matched) -> AppResult<&str> {
    let numero = matched.param("card_number").unwrap_or("");
    if is_valid_card_number(numero) {
        Ok(numero)
    } else {
        Err(AppError::new(
            ErrorCode::InvalidCardNumber,
            "Le numéro de carte doit comporter exactement 16 chiffres.",
        ))
    }
}

/// CYNOD member (client) ids and wallet ids: short and printable; `+` allowed for phone numbers.
fn identifier<'a>(what: &str, value: Option<&'a str>) -> AppResult<Option<&'a str>> {
    match value {
        None => Ok(None),
        Some(v)
            if (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-_.".contains(&b)) =>
        {
            Ok(Some(v))
        }
        Some(_) => Err(AppError::new(
            ErrorCode::InvalidRequest,
            format!("{what} invalide."),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerQuery {
    wallet_id: Option<String>,
    client_id: Option<String>,
}

fn owner_query(req: &Request) -> AppResult<OwnerQuery> {
    req.query().map_err(|e| {
        AppError::new(
            ErrorCode::InvalidRequest,
            format!("paramètres de requête invalides: {e}"),
        )
    })
}

#[derive(Serialize)]
struct BalanceView {
    card_number: String,
    balance: DecimalNumber,
    currency: &'static str,
    wallet_type: Option<String>,
    as_of: Option<String>,
}

pub async fn balance(call: &PosCall<'_>, matched: &Matched) -> AppResult<Response> {
    let (env, config, req) = (call.env, &call.config, &call.req);
    let numero = card_number(matched)?;
    let owner = owner_query(req)?;
    let wallet = identifier("wallet_id", owner.wallet_id.as_deref())?;
    let client = identifier("client_id", owner.client_id.as_deref())?;
    let balance = CynodClient::new(env, &config.cynod)
        .balance(numero, wallet, client)
        .await?;
    json_response(
        200,
        &BalanceView {
            card_number: balance.card_number,
            balance: DecimalNumber::from_minor(balance.balance_minor, Currency::Tnd),
            currency: Currency::Tnd.code(),
            wallet_type: balance.wallet_type,
            as_of: balance.as_of.as_deref().and_then(cynod_datetime_to_rfc3339),
        },
    )
}

#[derive(Serialize)]
struct ValidityView {
    card_number: String,
    valid: bool,
    valid_until: Option<String>,
    holder_first_name: Option<String>,
    holder_last_name: Option<String>,
    wallet_type: Option<String>,
    /// Why the card is not valid (`card_expired`, `card_blocked`); absent on a valid card.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// A validity question answered "no" is a 200 with `valid: false`, not an error: the POS asked
/// whether the card is valid, and an expired or blocked card is a legitimate answer.
fn validity_response(
    numero: &str,
    answer: Result<dyno_core::cynod::ValidityItem, Problem>,
) -> AppResult<Response> {
    let view = match answer {
        Ok(item) => validity_view(item),
        Err(problem) => match problem.code {
            code @ (ErrorCode::CardExpired | ErrorCode::CardBlocked) => ValidityView {
                card_number: numero.to_string(),
                valid: false,
                valid_until: None,
                holder_first_name: None,
                holder_last_name: None,
                wallet_type: None,
                reason: Some(dyno_core::payment::failure_reason(code)),
            },
            _ => return Err(problem.into()),
        },
    };
    json_response(200, &view)
}

fn validity_view(item: dyno_core::cynod::ValidityItem) -> ValidityView {
    ValidityView {
        reason: None,
        valid: true,
        valid_until: cynod_date_to_iso(&item.fin_validite),
        card_number: item.numero_carte,
        holder_first_name: item.prenom,
        holder_last_name: item.nom,
        wallet_type: item.type_wallet,
    }
}

pub async fn validity(call: &PosCall<'_>, matched: &Matched) -> AppResult<Response> {
    let (env, config, req) = (call.env, &call.config, &call.req);
    let numero = card_number(matched)?;
    let owner = owner_query(req)?;
    let wallet = identifier("wallet_id", owner.wallet_id.as_deref())?;
    let client = identifier("client_id", owner.client_id.as_deref())?;
    let answer = CynodClient::new(env, &config.cynod)
        .validity(numero, wallet, client)
        .await;
    validity_response(numero, answer)
}

pub async fn member_validity(call: &PosCall<'_>, matched: &Matched) -> AppResult<Response> {
    let (env, config) = (call.env, &call.config);
    let numero = card_number(matched)?;
    let member = identifier("client_id", matched.param("client_id"))?.unwrap_or_default();
    let answer = CynodClient::new(env, &config.cynod)
        .member_validity(member, numero)
        .await;
    validity_response(numero, answer)
}

#[derive(Serialize)]
struct MemberCardView {
    card_number: String,
    wallet_type: Option<String>,
    valid_until: Option<String>,
    status: Option<String>,
    balance: DecimalNumber,
    currency: &'static str,
}

#[derive(Serialize)]
struct MemberCards {
    client_id: String,
    cards: Vec<MemberCardView>,
}

pub async fn member_cards(call: &PosCall<'_>, matched: &Matched) -> AppResult<Response> {
    let (env, config) = (call.env, &call.config);
    let member = identifier("client_id", matched.param("client_id"))?.unwrap_or_default();
    let items = CynodClient::new(env, &config.cynod)
        .cards(None, Some(member))
        .await?;
    let mut cards = Vec::with_capacity(items.len());
    for item in items {
        let minor = item.solde_online.to_minor(Currency::Tnd).map_err(|e| {
            Problem::new(
                ErrorCode::UpstreamError,
                format!("soldeOnline {}: {e}", item.solde_online.text()),
            )
        })?;
        cards.push(MemberCardView {
            card_number: item.numero_carte,
            wallet_type: item.type_wallet,
            valid_until: item.fin_validite.as_deref().and_then(cynod_date_to_iso),
            status: item.statut,
            balance: DecimalNumber::from_minor(minor, Currency::Tnd),
            currency: Currency::Tnd.code(),
        });
    }
    json_response(
        200,
        &MemberCards {
            client_id: member.to_string(),
            cards,
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MovementBody {
    /// Kept as JSON text: parsed exactly, and a non-number is INVALID_AMOUNT.
    amount: Box<serde_json::value::RawValue>,
    /// The caller's unique reference for this movement; replaying it is idempotent.
    reference: String,
    wallet_id: Option<String>,
    client_id: Option<String>,
    description: Option<String>,
}

#[derive(Serialize)]
struct MovementView {
    reference: String,
    status: &'static str,
    direction: &'static str,
    card_number: Option<String>,
    amount: Option<DecimalNumber>,
    currency: &'static str,
    balance_after: Option<DecimalNumber>,
    operation_date: Option<String>,
    /// True when the first answer was lost and the outcome was recovered by reference.
    recovered: bool,
}

#[derive(Clone, Copy)]
pub enum Direction {
    Credit,
    Debit,
}

/// `POST /api/v1/pos/cards/{card_number}/credit` and `…/debit`.
pub async fn movement(
    call: &PosCall<'_>,
    principal: &PosPrincipal,
    matched: &Matched,
    direction: Direction,
) -> AppResult<Response> {
    let (env, config) = (call.env, &call.config);
    let numero = card_number(matched)?.to_string();
    let body: MovementBody = http::json_body(call.req.headers(), &call.body)?;
    let amount =
        dyno_core::Amount::parse_request(body.amount.get(), Currency::Tnd, config.max_amount_minor)
            .map_err(|e| AppError::new(ErrorCode::InvalidAmount, e.to_string()))?;
    let reference_ok = (1..=64).contains(&body.reference.len())
        && body
            .reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if !reference_ok {
        return Err(AppError::new(
            ErrorCode::InvalidRequest,
            "reference: 1 à 64 caractères parmi A-Z a-z 0-9 - _ . :",
        ));
    }
    let wallet = identifier("wallet_id", body.wallet_id.as_deref())?.map(str::to_string);
    let member = identifier("client_id", body.client_id.as_deref())?.map(str::to_string);
    optional_text_within("description", body.description.as_deref(), 140)?;
    // Namespaced by client, so two POS clients can never collide on a CYNOD reference.
    let cynod_reference = format!("pos:{}:{}", principal.client_id(), body.reference);
    let request = MovementRequest {
        numero_carte: numero,
        montant: amount.into(),
        reference: cynod_reference,
        wallet_id: wallet,
        client_id: member,
        commercant: Some(principal.profile.merchant_id.clone()),
        libelle: body.description,
    };
    let client = CynodClient::new(env, &config.cynod);
    let outcome = match direction {
        Direction::Credit => client.credit(&request).await,
        Direction::Debit => client.debit(&request).await,
    };
    let direction_name = match direction {
        Direction::Credit => "credit",
        Direction::Debit => "debit",
    };
    let reference = &body.reference;
    match outcome {
        WriteOutcome::Applied {
            operation,
            recovered,
        } => json_response(
            200,
            &movement_view(reference, direction_name, operation, recovered),
        ),
        WriteOutcome::Refused(problem) => Err(problem.into()),
        // Both texts tell the POS what to do next with its reference, which is what it needs.
        WriteOutcome::NotApplied { cause } => Err(AppError::new(
            cause.code,
            format!(
                "{} Aucun mouvement n'a été effectué et la référence {reference} est désormais \
                 annulée: utilisez une nouvelle référence.",
                cause.detail
            ),
        )
        .with_header("Dyno-Movement-Status", "not_applied")),
        WriteOutcome::Unknown { cause } => Err(AppError::new(
            cause.code,
            format!(
                "{} Issue inconnue: rejouez la même requête avec la référence {reference} pour \
                 connaître le résultat.",
                cause.detail
            ),
        )
        .with_header("Dyno-Movement-Status", "unknown")),
    }
}

fn movement_view(
    reference: &str,
    direction: &'static str,
    operation: OperationItem,
    recovered: bool,
) -> MovementView {
    let exact = |n: Option<DecimalNumber>| {
        n.and_then(|n| n.to_minor(Currency::Tnd).ok())
            .map(|m| DecimalNumber::from_minor(m, Currency::Tnd))
    };
    MovementView {
        reference: reference.to_string(),
        status: "applied",
        direction,
        card_number: operation.numero_carte,
        amount: exact(operation.montant),
        currency: Currency::Tnd.code(),
        balance_after: exact(operation.solde_online),
        operation_date: operation
            .date_operation
            .as_deref()
            .and_then(cynod_datetime_to_rfc3339),
        recovered,
    }
}
