//! The merchant's reports: `GET /api/v1/pos/reports/reconciliation`, a day of money movements as
//! CSV or NDJSON with totals per wallet type, and `GET /api/v1/pos/reports/summary`, the console's
//! day at a glance. Invariant: the day is the report's time zone's (Africa/Tunis by default) and
//! the answer says which zone was used.

use dyno_core::report::{report_day, Report, ReportFormat};
use dyno_core::summary::{summary_day, Summary};
use dyno_core::ErrorCode;
use serde::Deserialize;
use worker::Response;

use crate::auth::{PosCall, PosPrincipal};
use crate::error::{AppError, AppResult};
use crate::http::{self, bytes_response, json_response};
use crate::{platform, registry};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    date: Option<String>,
    format: Option<String>,
    time_zone: Option<String>,
}

pub async fn reconciliation(call: &PosCall<'_>, principal: &PosPrincipal) -> AppResult<Response> {
    let query: ReportQuery = http::query(&call.req)?;
    let date = query
        .date
        .ok_or_else(|| AppError::new(ErrorCode::InvalidRequest, "date requise (AAAA-MM-JJ)."))?;
    let format = ReportFormat::parse(query.format.as_deref())?;
    let day = report_day(&date, query.time_zone.as_deref())?;
    let merchant_id = &principal.profile.merchant_id;
    let movements =
        registry::merchant_movements(&registry::db(call.env)?, merchant_id, day.from.0, day.to.0)
            .await?;
    let report = Report::new(merchant_id, day, movements);
    let body = format.render(&report).into_bytes();
    let mut response = bytes_response(200, format.content_type(), body);
    let headers = response.headers_mut();
    let disposition = format!("attachment; filename=\"{}\"", format.file_name(&report));
    let _ = headers.set("Content-Disposition", &disposition);
    let _ = headers.set("Dyno-Report-Time-Zone", report.day.time_zone.name());
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
    let query: SummaryQuery = http::query(&call.req)?;
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
