//! How one CYNOD installation speaks, as configured: how partners authenticate, the currency and
//! decimal scale of its amounts, the time zone of its zone-less dates, and whether it offers the
//! two recovery calls. Invariant: an amount crosses between CYNOD's scale and the gateway's minor
//! units exactly — a float is only ever snapped to a unit it lies within 1e-6 of — or not at all;
//! and a CYNOD that counts in another currency than the gateway is refused at configuration time.

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::money::{too_many_digits, AmountError, Currency, Decimal, DecimalNumber, MAX_DIGITS};
use crate::time::Millis;

/// The most decimals a CYNOD amount may be configured with. Up to 5, a unit is larger than twice
/// the float tolerance, so snapping a float to "its" unit is never ambiguous.
pub const MAX_SCALE: u32 = 5;
/// A float CYNOD writes is read as the unit it lies within `10^-FLOAT_TOLERANCE_EXP` major units
/// of: `137.49999999999997` is 137.500. Anything farther from every unit is not representable.
const FLOAT_TOLERANCE_EXP: u32 = 6;
/// The zone CYNOD's dates are read in when `CYNOD_TIMEZONE` is not set.
pub const DEFAULT_ZONE: &str = "Africa/Tunis";

/// How the gateway authenticates to CYNOD (`CYNOD_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CynodAuth {
    /// OAuth2 client credentials, then `Authorization: Bearer` (the document's default).
    OAuth2,
    /// `Authorization: Basic` with the consumer key and secret on every call (the document allows
    /// it for partners who ask, without recommending it).
    Basic,
}

/// Whether CYNOD offers the two calls that settle a write whose answer was lost
/// (`CYNOD_RECOVERY`): `get-operation` and `annuler-reference`, which its document does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CynodRecovery {
    /// `annuler-reference` (lookup-or-fence) settles every lost answer for certain.
    Lookup,
    /// No recovery call: a lost answer stays unknown until an operator settles it.
    None,
}

/// `Authorization` of a call with `CYNOD_AUTH=basic`: `Basic base64(consumer-key:consumer-secret)`.
pub fn basic_authorization(consumer_key: &str, consumer_secret: &str) -> String {
    use base64::Engine;
    let pair = format!("{consumer_key}:{consumer_secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A configuration value that cannot be used; its text names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {detail}")]
pub struct DialectError {
    pub variable: &'static str,
    pub detail: String,
}

fn dialect_error(variable: &'static str, detail: impl Into<String>) -> DialectError {
    DialectError {
        variable,
        detail: detail.into(),
    }
}

/// CYNOD's amounts: JSON numbers in the gateway's currency with `scale` decimals (TND: 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CynodAmounts {
    scale: u32,
    gateway: Currency,
}

impl CynodAmounts {
    /// Refuses a CYNOD that counts in another currency: no exchange rate is ever applied, so a
    /// CYNOD in XOF behind a TND gateway is a misconfiguration, not something to convert.
    pub fn new(currency: &str, scale: u32, gateway: Currency) -> Result<Self, DialectError> {
        let currency = currency.trim().to_ascii_uppercase();
        if currency != gateway.code() {
            return Err(dialect_error(
                "CYNOD_CURRENCY",
                format!(
                    "CYNOD compte en {currency} et la passerelle en {}; aucune conversion de \
                     devise n'est faite",
                    gateway.code()
                ),
            ));
        }
        if scale > MAX_SCALE {
            return Err(dialect_error(
                "CYNOD_SCALE",
                format!("{scale} décimales (au plus {MAX_SCALE})"),
            ));
        }
        Ok(Self { scale, gateway })
    }

    /// The gateway's own currency and precision (TND with 3 decimals, as the simulator speaks).
    pub const fn native(gateway: Currency) -> Self {
        Self {
            scale: gateway.decimals(),
            gateway,
        }
    }

    pub const fn scale(self) -> u32 {
        self.scale
    }

    /// The gateway's currency, whose minor units the conversions produce.
    pub const fn gateway(self) -> Currency {
        self.gateway
    }

    /// A number CYNOD wrote (`142000.0`, `137.49999999999997`) as the gateway's minor units:
    /// snapped to CYNOD's unit when within the float tolerance, then rescaled exactly.
    pub fn to_gateway_minor(self, text: &str) -> Result<i64, AmountError> {
        let units = snap_to_units(&Decimal::parse(text.trim())?, self.scale)?;
        rescale(units, self.scale, self.gateway.decimals())
    }

    /// The same, as a number written with the gateway's decimals (`12.500`).
    pub fn to_gateway(self, number: &DecimalNumber) -> Result<DecimalNumber, AmountError> {
        self.to_gateway_minor(number.text())
            .map(|minor| DecimalNumber::from_minor(minor, self.gateway))
    }

    /// Gateway minor units as CYNOD's number, with exactly its scale (`12500` → `12.500`, or `12`
    /// with scale 0); refused when CYNOD's scale cannot hold the amount (12.500 with scale 0).
    pub fn from_gateway_minor(self, minor: i64) -> Result<DecimalNumber, AmountError> {
        let units = rescale(minor, self.gateway.decimals(), self.scale)?;
        Ok(DecimalNumber::from_scaled(units, self.scale))
    }
}

/// `units` of `10^-from` as units of `10^-to`, exactly or not at all.
fn rescale(units: i64, from: u32, to: u32) -> Result<i64, AmountError> {
    if to >= from {
        units
            .checked_mul(10i64.pow(to - from))
            .ok_or_else(|| AmountError::AboveMaximum("i64".into()))
    } else {
        let factor = 10i64.pow(from - to);
        if units % factor == 0 {
            Ok(units / factor)
        } else {
            Err(AmountError::Inexact)
        }
    }
}

/// The exact value as a whole number of `10^-scale` units, when it lies within the float
/// tolerance of one. Compares digit strings, so no value is ever approximated on the way.
fn snap_to_units(decimal: &Decimal, scale: u32) -> Result<i64, AmountError> {
    if decimal.digits.is_empty() {
        return Ok(0);
    }
    // The value is `digits × 10^shift` units.
    let shift = decimal.exponent + i64::from(scale);
    let units = if shift >= 0 {
        if decimal.digits.len() as i64 + shift > MAX_DIGITS as i64 {
            return Err(too_many_digits());
        }
        let mantissa: i64 = decimal.digits.parse().map_err(|_| too_many_digits())?;
        mantissa * 10i64.pow(shift as u32)
    } else {
        // `below` digits lie under the unit; the tolerance is `10^-tolerance` of a unit.
        let below = shift.unsigned_abs() as usize;
        let tolerance = (FLOAT_TOLERANCE_EXP - scale) as usize;
        let len = decimal.digits.len();
        let (whole, fraction) = decimal.digits.split_at(len.saturating_sub(below));
        let leading_zeros = below - fraction.len();
        if whole.len() > MAX_DIGITS {
            return Err(too_many_digits());
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_many_digits())?
        };
        // The fraction's last digit is non-zero (trailing zeros were stripped), so it is > 0.
        let round_down = leading_zeros >= tolerance || {
            // Same-length digit strings compare as their numbers do.
            let padded = format!("{}{fraction}", "0".repeat(leading_zeros));
            below >= tolerance && padded <= threshold("0", "1", tolerance, below)
        };
        let round_up = !round_down
            && leading_zeros == 0
            && below >= tolerance
            && fraction >= threshold("9", "9", tolerance, below).as_str();
        match (round_down, round_up) {
            (true, _) => whole,
            // At most `MAX_DIGITS` whichever way the value was written: a fraction that rounds up
            // to 10^18 units would be refused when the same amount is written back without it.
            (_, true) => whole
                .checked_add(1)
                .filter(|units| *units < 10i64.pow(MAX_DIGITS as u32))
                .ok_or_else(too_many_digits)?,
            _ => return Err(AmountError::Inexact),
        }
    };
    Ok(if decimal.negative { -units } else { units })
}

/// `below` digits: `tolerance - 1` times `fill`, then `last`, then zeros. With `0`/`1` it is the
/// tolerance itself (`0.001` for 3 of 3); with `9`/`9` it is one unit minus the tolerance.
fn threshold(fill: &str, last: &str, tolerance: usize, below: usize) -> String {
    format!(
        "{}{last}{}",
        fill.repeat(tolerance - 1),
        "0".repeat(below - tolerance)
    )
}

/// The zone CYNOD's zone-less dates (`dateSolde`, `dateOperation`) and its "today" are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CynodZone(Tz);

impl CynodZone {
    /// A zone compiled into the Worker (see `CHRONO_TZ_TIMEZONE_FILTER` in `.cargo/config.toml`).
    pub fn parse(name: &str) -> Result<Self, DialectError> {
        name.trim().parse::<Tz>().map(Self).map_err(|_| {
            dialect_error(
                "CYNOD_TIMEZONE",
                format!("fuseau {name} inconnu de la passerelle"),
            )
        })
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The calendar date in this zone at `now`.
    pub fn today(self, now: Millis) -> NaiveDate {
        now.to_datetime().with_timezone(&self.0).date_naive()
    }

    /// A CYNOD date-time as an instant. Zone-less forms (`23-08-2021 10:11:42`, also with `/` or
    /// ISO `2021-08-23T10:11:42`) are wall-clock time in this zone; an RFC 3339 text carries its own
    /// offset. A wall-clock time repeated by a DST change is the earlier instant; one skipped by
    /// it is read with the offset in force before the change.
    pub fn read_datetime(self, text: &str) -> Option<DateTime<Utc>> {
        let text = text.trim();
        if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
            return Some(instant.with_timezone(&Utc));
        }
        let local = [
            "%d-%m-%Y %H:%M:%S",
            "%d/%m/%Y %H:%M:%S",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
        ]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())?;
        match self.0.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
            LocalResult::None => {
                // A day earlier is before the change, whatever the zone's offset.
                let before = local.checked_sub_signed(chrono::TimeDelta::days(1))?;
                let offset = self.0.offset_from_utc_datetime(&before);
                let offset = chrono::Offset::fix(&offset);
                local
                    .checked_sub_signed(chrono::TimeDelta::seconds(i64::from(
                        offset.local_minus_utc(),
                    )))
                    .map(|t| t.and_utc())
            }
        }
    }

    /// A CYNOD date-time rewritten in CYNOD's format but in UTC (`23-08-2021 09:11:42` for the
    /// spec's example read in Tunis), which is what `cynod_datetime_to_rfc3339` reads.
    pub fn to_utc_text(self, text: &str) -> Option<String> {
        self.read_datetime(text)
            .map(|t| t.format("%d-%m-%Y %H:%M:%S").to_string())
    }
}

impl Default for CynodZone {
    fn default() -> Self {
        Self(Tz::Africa__Tunis)
    }
}

/// Everything that differs between one CYNOD and another, read once from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CynodDialect {
    pub auth: CynodAuth,
    pub amounts: CynodAmounts,
    pub zone: CynodZone,
    pub recovery: CynodRecovery,
}

impl CynodDialect {
    /// The simulator's dialect: OAuth2, the gateway's currency and decimals, Tunis, recovery calls.
    pub fn native(gateway: Currency) -> Self {
        Self {
            auth: CynodAuth::OAuth2,
            amounts: CynodAmounts::native(gateway),
            zone: CynodZone::default(),
            recovery: CynodRecovery::Lookup,
        }
    }

    /// Reads `CYNOD_AUTH` (`oauth2`|`basic`), `CYNOD_CURRENCY`, `CYNOD_SCALE`, `CYNOD_TIMEZONE`
    /// and `CYNOD_RECOVERY` (`lookup`|`none`) through `var`; an absent variable keeps the
    /// simulator's value. Any value that cannot be used is an error naming the variable.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        gateway: Currency,
    ) -> Result<Self, DialectError> {
        let native = Self::native(gateway);
        let auth = match var("CYNOD_AUTH").as_deref().map(str::trim) {
            None | Some("oauth2") => CynodAuth::OAuth2,
            Some("basic") => CynodAuth::Basic,
            Some(other) => {
                return Err(dialect_error(
                    "CYNOD_AUTH",
                    format!("{other} (oauth2 ou basic)"),
                ))
            }
        };
        let scale = match var("CYNOD_SCALE") {
            None => native.amounts.scale,
            Some(text) => text.trim().parse::<u32>().map_err(|_| {
                dialect_error(
                    "CYNOD_SCALE",
                    format!("{text}: nombre de décimales attendu"),
                )
            })?,
        };
        let currency = var("CYNOD_CURRENCY").unwrap_or_else(|| gateway.code().to_string());
        let amounts = CynodAmounts::new(&currency, scale, gateway)?;
        let zone = match var("CYNOD_TIMEZONE") {
            None => native.zone,
            Some(name) => CynodZone::parse(&name)?,
        };
        let recovery = match var("CYNOD_RECOVERY").as_deref().map(str::trim) {
            None | Some("lookup") => CynodRecovery::Lookup,
            Some("none") => CynodRecovery::None,
            Some(other) => {
                return Err(dialect_error(
                    "CYNOD_RECOVERY",
                    format!("{other} (lookup ou none)"),
                ))
            }
        };
        Ok(Self {
            auth,
            amounts,
            zone,
            recovery,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn amounts(scale: u32) -> CynodAmounts {
        CynodAmounts::new("TND", scale, Currency::Tnd).unwrap()
    }

    fn dialect(vars: &[(&str, &str)]) -> Result<CynodDialect, DialectError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CynodDialect::from_vars(|name| vars.get(name).cloned(), Currency::Tnd)
    }

    #[test]
    fn defaults_are_the_simulator_and_every_variable_is_checked() {
        assert_eq!(dialect(&[]), Ok(CynodDialect::native(Currency::Tnd)));
        let configured = dialect(&[
            ("CYNOD_AUTH", "basic"),
            ("CYNOD_CURRENCY", "tnd"),
            ("CYNOD_SCALE", "0"),
            ("CYNOD_TIMEZONE", "Europe/Paris"),
            ("CYNOD_RECOVERY", "none"),
        ])
        .unwrap();
        assert_eq!(configured.auth, CynodAuth::Basic);
        assert_eq!(configured.amounts.scale(), 0);
        assert_eq!(configured.zone.name(), "Europe/Paris");
        assert_eq!(configured.recovery, CynodRecovery::None);
        for (vars, variable) in [
            (&[("CYNOD_AUTH", "digest")][..], "CYNOD_AUTH"),
            (&[("CYNOD_CURRENCY", "XOF")][..], "CYNOD_CURRENCY"),
            (&[("CYNOD_SCALE", "6")][..], "CYNOD_SCALE"),
            (&[("CYNOD_SCALE", "deux")][..], "CYNOD_SCALE"),
            (&[("CYNOD_TIMEZONE", "Mars/Olympus")][..], "CYNOD_TIMEZONE"),
            (&[("CYNOD_RECOVERY", "maybe")][..], "CYNOD_RECOVERY"),
        ] {
            let error = dialect(vars).unwrap_err();
            assert_eq!(error.variable, variable, "{vars:?}");
        }
        // The message says what is wrong, for the 503 an operator will read.
        let xof = dialect(&[("CYNOD_CURRENCY", "XOF"), ("CYNOD_SCALE", "0")]).unwrap_err();
        assert!(xof.to_string().contains("XOF") && xof.to_string().contains("TND"));
    }

    #[test]
    fn floats_within_a_millionth_of_a_unit_snap_to_it() {
        let tnd = amounts(3);
        assert_eq!(tnd.to_gateway_minor("137.49999999999997"), Ok(137_500));
        assert_eq!(tnd.to_gateway_minor("137.50000000000003"), Ok(137_500));
        assert_eq!(tnd.to_gateway_minor("142000.0"), Ok(142_000_000));
        assert_eq!(tnd.to_gateway_minor("0.30000000000000004"), Ok(300));
        assert_eq!(tnd.to_gateway_minor("12.5"), Ok(12_500));
        assert_eq!(tnd.to_gateway_minor("1.4200E5"), Ok(142_000_000));
        assert_eq!(tnd.to_gateway_minor("-2.4999999999"), Ok(-2_500));
        assert_eq!(tnd.to_gateway_minor("0"), Ok(0));
        assert_eq!(tnd.to_gateway_minor("1e-400"), Ok(0));
        // Exactly at the tolerance still snaps; just past it does not.
        assert_eq!(tnd.to_gateway_minor("1.000001"), Ok(1_000));
        assert_eq!(tnd.to_gateway_minor("1.000999"), Ok(1_001));
        assert_eq!(
            tnd.to_gateway_minor("1.0000010001"),
            Err(AmountError::Inexact)
        );
        assert_eq!(
            tnd.to_gateway_minor("1.0009989999"),
            Err(AmountError::Inexact)
        );
        // Really between two millimes: not representable.
        for text in ["0.1234", "137.4995", "12.00001", "0.0005"] {
            assert_eq!(
                tnd.to_gateway_minor(text),
                Err(AmountError::Inexact),
                "{text}"
            );
        }
        assert!(matches!(
            tnd.to_gateway_minor("1e30"),
            Err(AmountError::AboveMaximum(_))
        ));
        assert_eq!(tnd.to_gateway_minor("\"12\""), Err(AmountError::NotANumber));
    }

    #[test]
    fn other_scales_convert_exactly_or_refuse() {
        let whole = amounts(0);
        assert_eq!(whole.to_gateway_minor("142000.0"), Ok(142_000_000));
        assert_eq!(whole.to_gateway_minor("11.999999999999998"), Ok(12_000));
        assert_eq!(whole.to_gateway_minor("12.5"), Err(AmountError::Inexact));
        assert_eq!(whole.from_gateway_minor(12_000).unwrap().text(), "12");
        assert_eq!(
            whole.from_gateway_minor(12_500).unwrap_err(),
            AmountError::Inexact
        );
        let cents = amounts(2);
        assert_eq!(cents.to_gateway_minor("12.34"), Ok(12_340));
        assert_eq!(cents.from_gateway_minor(12_340).unwrap().text(), "12.34");
        assert_eq!(
            cents.from_gateway_minor(12_345).unwrap_err(),
            AmountError::Inexact
        );
        let fine = amounts(5);
        assert_eq!(fine.to_gateway_minor("12.34500"), Ok(12_345));
        assert_eq!(fine.to_gateway_minor("12.34501"), Err(AmountError::Inexact));
        assert_eq!(fine.from_gateway_minor(12_345).unwrap().text(), "12.34500");
        assert_eq!(
            amounts(3).from_gateway_minor(12_500).unwrap().text(),
            "12.500"
        );
        assert_eq!(
            amounts(3)
                .to_gateway(&serde_json::from_str("137.49999999999997").unwrap())
                .unwrap()
                .text(),
            "137.500"
        );
    }

    #[test]
    fn a_float_rounding_up_past_eighteen_digits_is_refused_as_its_written_form_is() {
        // The `cynod_envelope` fuzz target's round trip: 18 nines and a fraction of nines used to
        // round up to 10^18 units, which written back at the same scale read as too large.
        for scale in 0..=MAX_SCALE {
            let whole = "9".repeat(18 - scale as usize);
            let nines = "9".repeat(scale as usize + 7);
            assert!(matches!(
                amounts(scale).to_gateway_minor(&format!("{whole}.{nines}")),
                Err(AmountError::AboveMaximum(_))
            ));
        }
        // The largest 18-digit amount still reads, float noise below it included.
        assert_eq!(
            amounts(3).to_gateway_minor("999999999999999.9990000001"),
            Ok(999_999_999_999_999_999)
        );
    }

    #[test]
    fn dates_are_read_in_the_configured_zone() {
        let tunis = CynodZone::default();
        // The spec's example: 10:11:42 in Tunis (UTC+1, no DST) is 09:11:42 UTC.
        assert_eq!(
            tunis.to_utc_text("23-08-2021 10:11:42").as_deref(),
            Some("23-08-2021 09:11:42")
        );
        assert_eq!(
            tunis.read_datetime("23/08/2021 10:11:42"),
            tunis.read_datetime("2021-08-23T10:11:42")
        );
        assert_eq!(
            tunis
                .read_datetime("2021-08-23T10:11:42+02:00")
                .map(|t| t.to_rfc3339()),
            Some("2021-08-23T08:11:42+00:00".into())
        );
        assert_eq!(tunis.read_datetime("hier"), None);
        let paris = CynodZone::parse("Europe/Paris").unwrap();
        // Summer and winter offsets.
        assert_eq!(
            paris.to_utc_text("01-07-2026 12:00:00").as_deref(),
            Some("01-07-2026 10:00:00")
        );
        assert_eq!(
            paris.to_utc_text("01-01-2026 12:00:00").as_deref(),
            Some("01-01-2026 11:00:00")
        );
        // 02:30 on 29 March 2026 does not exist in Paris: read with the winter offset.
        assert_eq!(
            paris.to_utc_text("29-03-2026 02:30:00").as_deref(),
            Some("29-03-2026 01:30:00")
        );
        // 02:30 on 25 October 2026 happens twice: the earlier (summer) instant.
        assert_eq!(
            paris.to_utc_text("25-10-2026 02:30:00").as_deref(),
            Some("25-10-2026 00:30:00")
        );
    }

    #[test]
    fn basic_authorization_encodes_the_consumer_pair() {
        // RFC 7617's own example.
        assert_eq!(
            basic_authorization("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn today_is_the_zone_s_calendar_date() {
        // 23:30 UTC on 31 December is already 1 January in Tunis.
        let late = Millis::parse_rfc3339("2026-12-31T23:30:00Z").unwrap();
        assert_eq!(
            CynodZone::default().today(late),
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
        );
        assert_eq!(
            CynodZone::parse("UTC").unwrap().today(late),
            NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()
        );
    }

    /// The double closest to `units × 10^-scale`, printed as Java or Rust print doubles.
    fn double_text(units: i64, scale: u32) -> (f64, String) {
        let exact = DecimalNumber::from_scaled(units, scale);
        let value: f64 = exact.text().parse().unwrap();
        (value, format!("{value:?}"))
    }

    proptest! {
        #[test]
        fn gateway_amounts_round_trip_through_every_scale(
            units in -1_000_000_000i64..=1_000_000_000,
            scale in 0u32..=MAX_SCALE,
        ) {
            let cynod = amounts(scale);
            // Millimes CYNOD's scale can hold: whole units of its own.
            let minor = if scale >= 3 { units } else { units * 10i64.pow(3 - scale) };
            let wire = cynod.from_gateway_minor(minor).unwrap();
            prop_assert_eq!(cynod.to_gateway_minor(wire.text()), Ok(minor));
            // Whatever CYNOD's scale, a gateway amount it cannot hold is refused, never rounded.
            if scale < 3 {
                prop_assert_eq!(cynod.from_gateway_minor(minor + 1).err(), Some(AmountError::Inexact));
            }
        }

        #[test]
        fn doubles_a_step_off_the_exact_value_read_as_that_value(
            units in -1_000_000_000i64..=1_000_000_000,
            scale in 0u32..=MAX_SCALE,
            steps in 1u64..=3,
        ) {
            let cynod = amounts(scale);
            let (value, text) = double_text(units, scale);
            let expected = cynod.to_gateway_minor(&text);
            for noisy in [
                f64::from_bits(value.to_bits() + steps),
                f64::from_bits(value.to_bits().saturating_sub(steps)),
            ] {
                prop_assert_eq!(cynod.to_gateway_minor(&format!("{noisy:?}")), expected.clone());
            }
        }

        #[test]
        fn a_value_between_units_is_never_accepted(
            units in 0i64..=1_000_000_000,
            scale in 0u32..=MAX_SCALE,
            off in 2i64..=8,
        ) {
            // `off` tenths of a unit past a unit: farther than the tolerance from both neighbours.
            let base = DecimalNumber::from_scaled(units, scale);
            let point = if scale == 0 { "." } else { "" };
            let text = format!("{}{point}{off}", base.text());
            prop_assert_eq!(amounts(scale).to_gateway_minor(&text), Err(AmountError::Inexact));
        }

        #[test]
        fn conversion_never_panics(text in "\\PC{0,40}", scale in 0u32..=MAX_SCALE) {
            let _ = amounts(scale).to_gateway_minor(&text);
        }
    }
}
