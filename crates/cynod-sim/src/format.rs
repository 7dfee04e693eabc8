//! How CYNOD writes numbers and dates: balances as floats (`142000.0`), dates as `dd-mm-yyyy
//! hh:mm:ss` and validity as `dd/mm/yyyy`. Invariant: the float text is exact for the minor units.

use chrono::{DateTime, NaiveDate, TimeZone};
use dyno_core::money::format_minor;
use dyno_core::Currency;
use serde_json::value::RawValue;

/// Minor units written the way a Java `double` prints: shortest exact form with at least one
/// decimal (`150000` → `150.0`, `12500` → `12.5`, `1` → `0.001`).
pub fn float_text(minor: i64) -> Box<RawValue> {
    let fixed = format_minor(minor, Currency::Tnd);
    let trimmed = fixed.trim_end_matches('0');
    let text = if trimmed.ends_with('.') {
        format!("{trimmed}0")
    } else {
        trimmed.to_string()
    };
    RawValue::from_string(text).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// `at` as CYNOD writes its date-times: wall-clock time of its zone, without the zone.
pub fn balance_date<Z: TimeZone>(at: DateTime<Z>) -> String
where
    Z::Offset: std::fmt::Display,
{
    at.format("%d-%m-%Y %H:%M:%S").to_string()
}

pub fn validity_date(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_look_like_the_spec() {
        assert_eq!(float_text(142_000_000).get(), "142000.0");
        assert_eq!(float_text(12_500).get(), "12.5");
        assert_eq!(float_text(1).get(), "0.001");
        assert_eq!(float_text(0).get(), "0.0");
    }
}
