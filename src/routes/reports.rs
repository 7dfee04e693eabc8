//! `GET /api/v1/pos/reports/reconciliation`: a merchant's day of money movements, as CSV or NDJSON,
//! with totals per wallet type. Invariant: the day is the report's time zone's (Africa/Tunis by
//! default) and the answer says which zone was used.

use dyno_core::report::{report_day, to_csv, to_ndjson, Report};
use dyno_core::ErrorCode;
use serde::Deserialize;
use worker::Response;

use crate::auth::{PosCall, PosPrincipal};
use crate::error::{AppError, AppResult};
use crate::http::bytes_response;
use crate::registry;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    date: Option<String>,
    format: Option<String>,
    time_zone: Option<String>,
}

pub async fn reconciliation(call: &PosCall<'_>, principal: &PosPrincipal) -> AppResult<Response> {
    let query: ReportQuery = call.req.query().map_err(|e| {
        AppError::new(
            ErrorCode::InvalidRequest,
            format!("paramètres invalides: {e}"),
        )
    })?;
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
