//! The reconciliation report: one row per money movement (payment or refund) of a merchant's day,
//! totals per wallet type and overall, as RFC 4180 CSV or NDJSON. Invariant: every amount is an
//! exact integer of millimes summed as such, so the totals balance to the millime; the day's
//! boundaries are those of the report's time zone.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::cynod::mask_card_number;
use crate::money::{format_minor, Currency, DecimalNumber};
use crate::problem::{ErrorCode, Problem};
use crate::time::Millis;

/// Merchants are in Tunisia: the default day is Tunis's.
pub const DEFAULT_TIME_ZONE: &str = "Africa/Tunis";

/// One money movement as D1 `transactions` records it (and as its rows decode). Refunds are
/// positive amounts of kind `refund`; the report writes them negative.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Movement {
    pub movement_id: String,
    pub kind: String,
    pub transaction_id: String,
    pub payment_request_id: Option<String>,
    pub pos_reference: String,
    pub flow: String,
    pub cynod_reference: String,
    pub amount_minor: i64,
    pub wallet_type: Option<String>,
    pub card_last4: Option<String>,
    #[serde(rename = "occurred_at_ms")]
    pub occurred_at: Millis,
}

impl Movement {
    /// Positive for a payment (money to the merchant), negative for a refund.
    pub fn signed_minor(&self) -> i64 {
        if self.kind == "refund" {
            -self.amount_minor
        } else {
            self.amount_minor
        }
    }

    fn wallet(&self) -> &str {
        self.wallet_type.as_deref().unwrap_or("inconnu")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Total {
    pub count: u64,
    pub payments_minor: i64,
    pub refunds_minor: i64,
    pub net_minor: i64,
}

impl Total {
    fn add(&mut self, m: &Movement) {
        self.count += 1;
        if m.kind == "refund" {
            self.refunds_minor += m.amount_minor;
        } else {
            self.payments_minor += m.amount_minor;
        }
        self.net_minor += m.signed_minor();
    }
}

/// Which day, in which zone, as UTC instants `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportDay {
    pub date: NaiveDate,
    pub time_zone: Tz,
    pub from: Millis,
    pub to: Millis,
}

/// Parses `YYYY-MM-DD` and an IANA zone name into the day's UTC window.
pub fn report_day(date: &str, time_zone: Option<&str>) -> Result<ReportDay, Problem> {
    let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| {
        Problem::new(
            ErrorCode::InvalidRequest,
            "date: format AAAA-MM-JJ attendu.",
        )
    })?;
    let zone_name = time_zone.unwrap_or(DEFAULT_TIME_ZONE);
    let time_zone: Tz = zone_name.parse().map_err(|_| {
        Problem::new(
            ErrorCode::InvalidRequest,
            format!("time_zone inconnu: {zone_name}"),
        )
    })?;
    let start = |d: NaiveDate| -> Result<Millis, Problem> {
        let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        // A day can start in a DST gap; the earliest valid instant is then its start.
        let instant = time_zone
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                time_zone
                    .from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
            })
            .ok_or_else(|| Problem::new(ErrorCode::InvalidRequest, "date hors du fuseau"))?;
        Ok(Millis(instant.timestamp_millis()))
    };
    let next = date
        .succ_opt()
        .ok_or_else(|| Problem::new(ErrorCode::InvalidRequest, "date hors limites"))?;
    Ok(ReportDay {
        date,
        time_zone,
        from: start(date)?,
        to: start(next)?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub merchant_id: String,
    pub day: ReportDay,
    pub movements: Vec<Movement>,
    pub by_wallet: BTreeMap<String, Total>,
    pub overall: Total,
}

impl Report {
    pub fn new(merchant_id: &str, day: ReportDay, mut movements: Vec<Movement>) -> Self {
        movements
            .sort_by(|a, b| (a.occurred_at, &a.movement_id).cmp(&(b.occurred_at, &b.movement_id)));
        let mut by_wallet: BTreeMap<String, Total> = BTreeMap::new();
        let mut overall = Total::default();
        for m in &movements {
            by_wallet.entry(m.wallet().to_string()).or_default().add(m);
            overall.add(m);
        }
        Self {
            merchant_id: merchant_id.to_string(),
            day,
            movements,
            by_wallet,
            overall,
        }
    }
}

const CSV_HEADER: [&str; 14] = [
    "record_type",
    "movement_id",
    "kind",
    "transaction_id",
    "payment_request_id",
    "pos_reference",
    "flow",
    "cynod_reference",
    "amount",
    "currency",
    "wallet_type",
    "card",
    "occurred_at_utc",
    "count",
];

/// One RFC 4180 field: quoted when it holds a comma, a quote or a line break (quotes doubled).
/// Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) is prefixed with `'`.
fn csv_text(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn csv_line(fields: &[String]) -> String {
    let mut line = fields.join(",");
    line.push_str("\r\n");
    line
}

/// The report as CSV: a UTF-8 byte-order mark (so spreadsheets read the accents), a header, one
/// line per movement, then one `total` line per wallet type and one for `ALL`.
pub fn to_csv(report: &Report) -> String {
    let currency = Currency::Tnd;
    let mut out = String::from("\u{feff}");
    out.push_str(&csv_line(&CSV_HEADER.map(String::from)));
    for m in &report.movements {
        out.push_str(&csv_line(&[
            "movement".into(),
            csv_text(&m.movement_id),
            csv_text(&m.kind),
            csv_text(&m.transaction_id),
            csv_text(m.payment_request_id.as_deref().unwrap_or("")),
            csv_text(&m.pos_reference),
            csv_text(&m.flow),
            csv_text(&m.cynod_reference),
            format_minor(m.signed_minor(), currency),
            currency.code().into(),
            csv_text(m.wallet()),
            m.card_last4
                .as_deref()
                .map(mask_card_number)
                .unwrap_or_default(),
            m.occurred_at.to_rfc3339(),
            String::new(),
        ]));
    }
    let totals = report
        .by_wallet
        .iter()
        .map(|(w, t)| (w.as_str(), t))
        .chain(std::iter::once(("ALL", &report.overall)));
    for (wallet, total) in totals {
        let mut fields = vec![String::new(); CSV_HEADER.len()];
        fields[0] = "total".into();
        fields[8] = format_minor(total.net_minor, currency);
        fields[9] = currency.code().into();
        fields[10] = csv_text(wallet);
        fields[13] = total.count.to_string();
        out.push_str(&csv_line(&fields));
    }
    out
}

#[derive(Serialize)]
struct NdjsonMovement<'a> {
    record_type: &'static str,
    movement_id: &'a str,
    kind: &'a str,
    transaction_id: &'a str,
    payment_request_id: Option<&'a str>,
    pos_reference: &'a str,
    flow: &'a str,
    cynod_reference: &'a str,
    amount: DecimalNumber,
    currency: &'static str,
    wallet_type: &'a str,
    card: Option<String>,
    occurred_at: String,
}

#[derive(Serialize)]
struct NdjsonTotal<'a> {
    record_type: &'static str,
    wallet_type: &'a str,
    count: u64,
    payments: DecimalNumber,
    refunds: DecimalNumber,
    net: DecimalNumber,
    currency: &'static str,
}

#[derive(Serialize)]
struct NdjsonHeader<'a> {
    record_type: &'static str,
    merchant_id: &'a str,
    date: String,
    time_zone: &'a str,
    from: String,
    to: String,
}

/// The report as NDJSON: a `report` line, one `movement` line each, then the `total` lines.
pub fn to_ndjson(report: &Report) -> String {
    let currency = Currency::Tnd;
    let mut lines = Vec::with_capacity(report.movements.len() + report.by_wallet.len() + 2);
    lines.push(line(&NdjsonHeader {
        record_type: "report",
        merchant_id: &report.merchant_id,
        date: report.day.date.to_string(),
        time_zone: report.day.time_zone.name(),
        from: report.day.from.to_rfc3339(),
        to: report.day.to.to_rfc3339(),
    }));
    for m in &report.movements {
        lines.push(line(&NdjsonMovement {
            record_type: "movement",
            movement_id: &m.movement_id,
            kind: &m.kind,
            transaction_id: &m.transaction_id,
            payment_request_id: m.payment_request_id.as_deref(),
            pos_reference: &m.pos_reference,
            flow: &m.flow,
            cynod_reference: &m.cynod_reference,
            amount: DecimalNumber::from_minor(m.signed_minor(), currency),
            currency: currency.code(),
            wallet_type: m.wallet(),
            card: m.card_last4.as_deref().map(mask_card_number),
            occurred_at: m.occurred_at.to_rfc3339(),
        }));
    }
    let totals = report
        .by_wallet
        .iter()
        .map(|(w, t)| (w.as_str(), t))
        .chain(std::iter::once(("ALL", &report.overall)));
    for (wallet, total) in totals {
        lines.push(line(&NdjsonTotal {
            record_type: "total",
            wallet_type: wallet,
            count: total.count,
            payments: DecimalNumber::from_minor(total.payments_minor, currency),
            refunds: DecimalNumber::from_minor(total.refunds_minor, currency),
            net: DecimalNumber::from_minor(total.net_minor, currency),
            currency: currency.code(),
        }));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// How a report is written: RFC 4180 CSV (the default) or NDJSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Csv,
    Ndjson,
}

impl ReportFormat {
    /// The `format` query parameter: absent means CSV.
    pub fn parse(format: Option<&str>) -> Result<Self, Problem> {
        match format {
            None | Some("csv") => Ok(Self::Csv),
            Some("ndjson") => Ok(Self::Ndjson),
            Some(other) => Err(Problem::new(
                ErrorCode::InvalidRequest,
                format!("format « {other} »: csv ou ndjson."),
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8; header=present",
            Self::Ndjson => "application/x-ndjson; charset=utf-8",
        }
    }

    pub fn render(self, report: &Report) -> String {
        match self {
            Self::Csv => to_csv(report),
            Self::Ndjson => to_ndjson(report),
        }
    }

    /// `reconciliation-<merchant>-<date>.<csv|ndjson>`.
    pub fn file_name(self, report: &Report) -> String {
        let extension = match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        };
        format!(
            "reconciliation-{}-{}.{extension}",
            report.merchant_id, report.day.date
        )
    }
}

/// One NDJSON line.
fn line<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn movement(id: &str, kind: &str, minor: i64, wallet: &str, at: Millis) -> Movement {
        Movement {
            movement_id: id.into(),
            kind: kind.into(),
            transaction_id: format!("tx-{id}"),
            payment_request_id: None,
            pos_reference: format!("REF-{id}"),
            flow: "epm".into(),
            cynod_reference: format!("epm:{id}:1"),
            amount_minor: minor,
            wallet_type: Some(wallet.into()),
            card_last4: Some("9569".into()),
            occurred_at: at,
        }
    }

    #[test]
    fn the_tunis_day_is_utc_plus_one() {
        let day = report_day("2026-06-05", None).unwrap();
        assert_eq!(day.time_zone.name(), "Africa/Tunis");
        assert_eq!(day.from.to_rfc3339(), "2026-06-04T23:00:00Z");
        assert_eq!(day.to.to_rfc3339(), "2026-06-05T23:00:00Z");
        let utc = report_day("2026-06-05", Some("UTC")).unwrap();
        assert_eq!(utc.from.to_rfc3339(), "2026-06-05T00:00:00Z");
        let paris = report_day("2026-03-29", Some("Europe/Paris")).unwrap();
        assert_eq!(
            paris.to.0 - paris.from.0,
            23 * 3_600_000,
            "a DST day has 23 hours"
        );
        assert!(report_day("2026-13-01", None).is_err());
        assert!(report_day("2026-06-05", Some("Mars/Olympus")).is_err());
        // Only the zones of .cargo/config.toml are compiled in.
        assert!(report_day("2026-06-05", Some("Asia/Tokyo")).is_err());
    }

    #[test]
    fn totals_balance_per_wallet_and_overall() {
        let day = report_day("2026-06-05", None).unwrap();
        let at = day.from.plus_ms(3_600_000);
        let report = Report::new(
            "M",
            day,
            vec![
                movement("a", "payment", 12_500, "TicketResto", at),
                movement("b", "payment", 45_000, "TicketResto", at),
                movement("c", "refund", 5_000, "TicketResto", at),
                movement("d", "payment", 7_001, "CarteCadeau", at),
            ],
        );
        assert_eq!(report.by_wallet["TicketResto"].net_minor, 52_500);
        assert_eq!(report.by_wallet["CarteCadeau"].net_minor, 7_001);
        assert_eq!(
            report.overall,
            Total {
                count: 4,
                payments_minor: 64_501,
                refunds_minor: 5_000,
                net_minor: 59_501
            }
        );
        let csv = to_csv(&report);
        assert!(csv.starts_with("\u{feff}record_type,movement_id,"));
        assert!(csv.contains(
            "movement,c,refund,tx-c,,REF-c,epm,epm:c:1,-5.000,TND,TicketResto,************9569,"
        ));
        assert!(csv.ends_with("total,,,,,,,,59.501,TND,ALL,,,4\r\n"));
        assert!(
            csv.lines().all(|l| l.matches(',').count() == 13),
            "every record has 14 fields"
        );
        let ndjson = to_ndjson(&report);
        let last: serde_json::Value = serde_json::from_str(ndjson.lines().last().unwrap()).unwrap();
        assert_eq!(last["net"].to_string(), "59.501");
        assert!(ndjson.starts_with(r#"{"record_type":"report","merchant_id":"M","date":"2026-06-05","time_zone":"Africa/Tunis""#));
    }

    #[test]
    fn the_format_decides_type_body_and_file_name() {
        let report = Report::new("M-1", report_day("2026-06-05", None).unwrap(), vec![]);
        let csv = ReportFormat::parse(None).unwrap();
        assert_eq!(csv, ReportFormat::parse(Some("csv")).unwrap());
        assert!(csv.content_type().starts_with("text/csv"));
        assert_eq!(csv.file_name(&report), "reconciliation-M-1-2026-06-05.csv");
        assert!(csv.render(&report).starts_with("\u{feff}record_type,"));
        let ndjson = ReportFormat::parse(Some("ndjson")).unwrap();
        assert_eq!(
            ndjson.file_name(&report),
            "reconciliation-M-1-2026-06-05.ndjson"
        );
        assert!(ndjson
            .render(&report)
            .starts_with(r#"{"record_type":"report""#));
        let refused = ReportFormat::parse(Some("xlsx")).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_text("plain"), "plain");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_text("+1"), "'+1");
    }

    proptest! {
        #[test]
        fn any_text_round_trips_through_rfc_4180(text in "\\PC{0,30}") {
            let field = csv_text(&text);
            // Parse the field back per RFC 4180.
            let parsed = if let Some(inner) = field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
                inner.replace("\"\"", "\"")
            } else {
                prop_assert!(!field.contains([',', '"', '\n', '\r']));
                field.clone()
            };
            let expected = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.clone() };
            prop_assert_eq!(parsed, expected);
        }
    }
}
