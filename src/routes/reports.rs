//! The merchant's reports: `GET /api/v1/pos/reports/reconciliation`, a day of money movements as
//! CSV or NDJSON with totals per wallet type, and `GET /api/v1/pos/reports/summary`, the console's
//! day at a glance. Invariant: the day is the report's time zone's (Africa/Tunis by default) and
//! the answer says which zone was used.

use dyno_core::report::{report_day, to_csv, to_ndjson, Report};
use dyno_core::summary::{summary_day, Summary};
use dyno_core::ErrorCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::Response;

use crate::auth::{PosCall, PosPrincipal};
use crate::error::{AppError, AppResult};
use crate::http::{bytes_response, json_response};
use crate::{platform, registry};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    date: Option<String>,
    format: Option<String>,
    time_zone: Option<String>,
}

/// The query string, or 400 naming what is wrong with it.
fn query<T: DeserializeOwned>(call: &PosCall<'_>) -> AppResult<T> {
    call.req.query().map_err(|e| {
        AppError::new(
            ErrorCode::InvalidRequest,
            format!("paramètres invalides: {e}"),
        )
    })
}

pub async fn reconciliation(call: &PosCall<'_>, principal: &PosPrincipal) -> AppResult<Response> {
    let query: ReportQuery = query(call)?;
    let date = query
        .date
        .ok_or_else(|| AppError::new(ErrorCode::InvalidRequest, "date requise (AAAA-MM-JJ)."))?;
    let csv = match query.format.as_deref() {
        None | Some("csv") => true,
        Some("ndjson") => false,
        Some(other) => {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                format!("format « {other} »: csv ou ndjson."),
            ))
        }
    };
    let day = report_day(&date, query.time_zone.as_deref())?;
    let merchant_id = principal.profile.merchant_id.clone();
    let movements =
        registry::merchant_movements(&registry::db(call.env)?, &merchant_id, day.from.0, day.to.0)
            .await?;
    let zone = day.time_zone.name().to_string();
    let report = Report::new(&merchant_id, day, movements);
    let (content_type, body, extension) = if csv {
        (
            "text/csv; charset=utf-8; header=present",
            to_csv(&report),
            "csv",
        )
    } else {
        (
            "application/x-ndjson; charset=utf-8",
            to_ndjson(&report),
            "ndjson",
        )
    };
    let mut response = bytes_response(200, content_type, body.into_bytes());
    let headers = response.headers_mut();
    let _ = headers.set(
        "Content-Disposition",
        &format!("attachment; filename=\"reconciliation-{merchant_id}-{date}.{extension}\""),
    );
    let _ = headers.set("Dyno-Report-Time-Zone", &zone);
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryQuery {
    date: Option<String>,
    time_zone: Option<String>,
}

/// `GET /api/v1/pos/reports/summary`: the merchant's payments by local hour and outcomes by flow,
/// and this client's webhook health, for one day (today by default).
pub async fn summary(call: &PosCall<'_>, principal: &PosPrincipal) -> AppResult<Response> {
    let query: SummaryQuery = query(call)?;
    let day = summary_day(
        query.date.as_deref(),
        query.time_zone.as_deref(),
        platform::now(),
    )?;
    let (merchant_id, client_id) = (&principal.profile.merchant_id, principal.client_id());
    let figures = registry::day_figures(
        &registry::db(call.env)?,
        merchant_id,
        client_id,
        day.from.0,
        day.to.0,
    )
    .await?;
    json_response(200, &Summary::new(merchant_id, client_id, &day, figures))
}
