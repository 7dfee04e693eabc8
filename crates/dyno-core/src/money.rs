//! Money: exact integer minor units, parsed from and written to JSON number text without ever going
//! through `f64`. Invariant: an [`Amount`] is always strictly positive and within the configured cap.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

/// Currencies the gateway settles in. TND has three decimals (millimes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Currency {
    Tnd,
}

impl Currency {
    pub const fn code(self) -> &'static str {
        match self {
            Currency::Tnd => "TND",
        }
    }

    /// Number of decimal places of one minor unit.
    pub const fn decimals(self) -> u32 {
        match self {
            Currency::Tnd => 3,
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        (code == "TND").then_some(Currency::Tnd)
    }
}

/// Why a piece of JSON number text is not an acceptable amount.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmountError {
    #[error("le montant doit être un nombre JSON")]
    NotANumber,
    #[error("le montant a plus de {0} décimales")]
    TooManyDecimals(u32),
    #[error("le montant doit être strictement positif")]
    NotPositive,
    #[error("le montant dépasse le maximum autorisé ({0})")]
    AboveMaximum(String),
    #[error("la valeur ne peut pas être convertie sans perte de précision")]
    Inexact,
}

/// A strictly positive amount in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    minor: i64,
    currency: Currency,
}

impl Amount {
    /// Builds an amount from minor units that were already validated (e.g. read back from storage).
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Self, AmountError> {
        if minor <= 0 {
            return Err(AmountError::NotPositive);
        }
        Ok(Self { minor, currency })
    }

    pub const fn minor(self) -> i64 {
        self.minor
    }

    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// Parses an amount sent by a client: JSON number text, at most `currency.decimals()` decimal
    /// places as written, strictly positive and at most `max_minor`.
    pub fn parse_request(
        text: &str,
        currency: Currency,
        max_minor: i64,
    ) -> Result<Self, AmountError> {
        let decimal = Decimal::parse(text.trim())?;
        if decimal.written_fraction_digits > currency.decimals() {
            return Err(AmountError::TooManyDecimals(currency.decimals()));
        }
        let minor = decimal.to_minor(currency.decimals())?;
        if minor <= 0 {
            return Err(AmountError::NotPositive);
        }
        if minor > max_minor {
            return Err(AmountError::AboveMaximum(format_minor(max_minor, currency)));
        }
        Ok(Self { minor, currency })
    }

    /// The amount as JSON number text with exactly the currency's decimals (`12.500`).
    pub fn to_decimal_string(self) -> String {
        format_minor(self.minor, self.currency)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency.code())
    }
}

/// Writes signed minor units with exactly the currency's decimals: `-1500` → `-1.500`.
pub fn format_minor(minor: i64, currency: Currency) -> String {
    format_scaled(minor, currency.decimals())
}

/// Writes signed units of `10^-decimals` with exactly `decimals` decimals (none, and no point,
/// for 0): `(-1500, 3)` → `-1.500`, `(12, 0)` → `12`.
pub fn format_scaled(units: i64, decimals: u32) -> String {
    let scale = 10u64.pow(decimals);
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.unsigned_abs();
    if decimals == 0 {
        return format!("{sign}{abs}");
    }
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = decimals as usize
    )
}

/// Converts a number the card core sent as a float (`142000.0`, `12.5`, `1.25E2`) into minor units,
/// refusing any value that has a non-zero digit beyond the currency's precision. Zero and negative
/// balances are legitimate here, unlike request amounts.
pub fn minor_from_upstream_decimal(text: &str, currency: Currency) -> Result<i64, AmountError> {
    Decimal::parse(text.trim())?.to_minor(currency.decimals())
}

/// A sum of money in minor units (millimes for TND): a payment's amount, a refund, a balance.
/// It cannot be confused with any other integer, and it is never a float.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Minor(pub i64);

impl Minor {
    pub const ZERO: Minor = Minor(0);

    pub const fn get(self) -> i64 {
        self.0
    }

    /// The amount as JSON number text with the currency's decimals.
    pub fn number(self, currency: Currency) -> DecimalNumber {
        DecimalNumber::from_minor(self.0, currency)
    }
}

impl std::ops::Add for Minor {
    type Output = Minor;
    fn add(self, other: Minor) -> Minor {
        Minor(self.0.saturating_add(other.0))
    }
}

impl std::ops::Sub for Minor {
    type Output = Minor;
    fn sub(self, other: Minor) -> Minor {
        Minor(self.0.saturating_sub(other.0))
    }
}

impl std::iter::Sum for Minor {
    fn sum<I: Iterator<Item = Minor>>(iter: I) -> Minor {
        iter.fold(Minor::ZERO, |a, b| a + b)
    }
}

impl From<Amount> for Minor {
    fn from(amount: Amount) -> Minor {
        Minor(amount.minor())
    }
}

/// A JSON number carried as its exact text, both ways: written from minor units with the
/// currency's decimals (`12.500`), and read without ever becoming an `f64`.
#[derive(Debug, Clone)]
pub struct DecimalNumber(Box<RawValue>);

impl DecimalNumber {
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Self::from_scaled(minor, currency.decimals())
    }

    /// Units of `10^-decimals`, written with exactly `decimals` decimals (`(12, 0)` → `12`).
    pub fn from_scaled(units: i64, decimals: u32) -> Self {
        let text = format_scaled(units, decimals);
        // A formatted decimal is always valid JSON number text.
        Self(RawValue::from_string(text).unwrap_or_else(|_| RawValue::NULL.to_owned()))
    }

    /// The number's text as received.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// Minor units, refusing any non-zero digit beyond the currency's precision.
    pub fn to_minor(&self, currency: Currency) -> Result<i64, AmountError> {
        minor_from_upstream_decimal(self.0.get(), currency)
    }

    /// A request amount: strictly positive, at most the currency's decimals, at most `max_minor`.
    pub fn to_amount(&self, currency: Currency, max_minor: i64) -> Result<Amount, AmountError> {
        Amount::parse_request(self.0.get(), currency, max_minor)
    }
}

impl Serialize for DecimalNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for DecimalNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        if !raw
            .get()
            .trim_start()
            .starts_with(|c: char| c == '-' || c.is_ascii_digit())
        {
            return Err(serde::de::Error::custom("nombre attendu"));
        }
        Ok(Self(raw))
    }
}

impl From<Amount> for DecimalNumber {
    fn from(amount: Amount) -> Self {
        Self::from_minor(amount.minor(), amount.currency())
    }
}

/// The most significant digits an amount may have in any unit, so that it always fits an `i64`.
pub(crate) const MAX_DIGITS: usize = 18;

/// An amount of more than `MAX_DIGITS` digits: refused before any arithmetic could overflow.
pub(crate) fn too_many_digits() -> AmountError {
    AmountError::AboveMaximum(format!("{MAX_DIGITS} chiffres"))
}

/// Exact decimal view of JSON number text: `digits × 10^exponent`, with the sign apart.
#[derive(Debug)]
pub(crate) struct Decimal {
    pub(crate) negative: bool,
    /// Significant digits without leading or trailing zeros (empty for zero).
    pub(crate) digits: String,
    pub(crate) exponent: i64,
    /// Digits after the point as written, before any exponent is applied.
    pub(crate) written_fraction_digits: u32,
}

impl Decimal {
    /// Accepts exactly the JSON number grammar (RFC 8259 §6).
    pub(crate) fn parse(text: &str) -> Result<Self, AmountError> {
        let bytes = text.as_bytes();
        let mut i = 0;
        let negative = bytes.first() == Some(&b'-');
        if negative {
            i += 1;
        }
        let int_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_part = &text[int_start..i];
        if int_part.is_empty() || (int_part.len() > 1 && int_part.starts_with('0')) {
            return Err(AmountError::NotANumber);
        }
        let mut frac_part = "";
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac_part = &text[start..i];
            if frac_part.is_empty() {
                return Err(AmountError::NotANumber);
            }
        }
        let mut exponent: i64 = 0;
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            i += 1;
            let mut exp_negative = false;
            if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
                exp_negative = bytes[i] == b'-';
                i += 1;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let exp_text = &text[start..i];
            if exp_text.is_empty() {
                return Err(AmountError::NotANumber);
            }
            // Exponents beyond a few digits can only describe values we refuse anyway.
            let magnitude: i64 = if exp_text.len() > 6 {
                1_000_000
            } else {
                exp_text.parse().map_err(|_| AmountError::NotANumber)?
            };
            exponent = if exp_negative { -magnitude } else { magnitude };
        }
        if i != bytes.len() {
            return Err(AmountError::NotANumber);
        }
        let written_fraction_digits = u32::try_from(frac_part.len()).unwrap_or(u32::MAX);
        let mut digits = format!("{int_part}{frac_part}");
        let mut exponent = exponent - i64::from(written_fraction_digits);
        // Normalise: drop trailing zeros (they only shift the exponent) and leading zeros.
        while digits.len() > 1 && digits.ends_with('0') {
            digits.pop();
            exponent += 1;
        }
        let digits = digits.trim_start_matches('0').to_string();
        Ok(Self {
            negative,
            digits,
            exponent,
            written_fraction_digits,
        })
    }

    /// The value in units of `10^-decimals`, if it is an integer there and fits an `i64`.
    fn to_minor(&self, decimals: u32) -> Result<i64, AmountError> {
        if self.digits.is_empty() {
            return Ok(0);
        }
        let shift = self.exponent + i64::from(decimals);
        if shift < 0 {
            // A non-zero digit lies beyond the currency's precision (trailing zeros were stripped).
            return Err(AmountError::Inexact);
        }
        if self.digits.len() as i64 + shift > MAX_DIGITS as i64 {
            return Err(too_many_digits());
        }
        let mantissa: i64 = self.digits.parse().map_err(|_| AmountError::NotANumber)?;
        let value = mantissa
            .checked_mul(10i64.pow(shift as u32))
            .ok_or_else(|| AmountError::AboveMaximum("i64".into()))?;
        Ok(if self.negative { -value } else { value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: i64 = 10_000_000; // 10 000.000 TND

    fn parse(text: &str) -> Result<i64, AmountError> {
        Amount::parse_request(text, Currency::Tnd, MAX).map(Amount::minor)
    }

    #[test]
    fn parses_seed_amounts_exactly() {
        assert_eq!(parse("12.500"), Ok(12_500));
        assert_eq!(parse("45.000"), Ok(45_000));
        assert_eq!(parse("45"), Ok(45_000));
        assert_eq!(parse("0.001"), Ok(1));
        assert_eq!(parse("1.25e1"), Ok(12_500));
        assert_eq!(parse("125E-1"), Ok(12_500));
        assert_eq!(parse("10000"), Ok(MAX));
    }

    #[test]
    fn rejects_what_design_md_lists() {
        assert_eq!(parse("12.5001"), Err(AmountError::TooManyDecimals(3)));
        assert_eq!(parse("12.5000"), Err(AmountError::TooManyDecimals(3)));
        assert_eq!(parse("0"), Err(AmountError::NotPositive));
        assert_eq!(parse("0.000"), Err(AmountError::NotPositive));
        assert_eq!(parse("-1.000"), Err(AmountError::NotPositive));
        assert!(matches!(
            parse("10000.001"),
            Err(AmountError::AboveMaximum(_))
        ));
        assert!(matches!(parse("1e400"), Err(AmountError::AboveMaximum(_))));
        assert_eq!(parse("1e-4"), Err(AmountError::Inexact));
        for bad in [
            "", "\"12.5\"", "12.", ".5", "01.5", "1e", "+1", "NaN", "1_000", "12,5", "true", "null",
        ] {
            assert_eq!(parse(bad), Err(AmountError::NotANumber), "{bad}");
        }
    }

    #[test]
    fn formats_with_exact_decimals() {
        assert_eq!(format_minor(12_500, Currency::Tnd), "12.500");
        assert_eq!(format_minor(1, Currency::Tnd), "0.001");
        assert_eq!(format_minor(0, Currency::Tnd), "0.000");
        assert_eq!(format_minor(-1_500, Currency::Tnd), "-1.500");
        assert_eq!(format_scaled(12, 0), "12");
        assert_eq!(format_scaled(-5, 2), "-0.05");
        assert_eq!(
            format_minor(i64::MIN, Currency::Tnd),
            "-9223372036854775.808"
        );
    }

    #[test]
    fn upstream_floats_convert_exactly_or_not_at_all() {
        assert_eq!(
            minor_from_upstream_decimal("142000.0", Currency::Tnd),
            Ok(142_000_000)
        );
        assert_eq!(
            minor_from_upstream_decimal("150.0", Currency::Tnd),
            Ok(150_000)
        );
        assert_eq!(
            minor_from_upstream_decimal("12.5000000", Currency::Tnd),
            Ok(12_500)
        );
        assert_eq!(minor_from_upstream_decimal("0", Currency::Tnd), Ok(0));
        assert_eq!(
            minor_from_upstream_decimal("-2.5", Currency::Tnd),
            Ok(-2_500)
        );
        assert_eq!(
            minor_from_upstream_decimal("1.4200E5", Currency::Tnd),
            Ok(142_000_000)
        );
        assert_eq!(
            minor_from_upstream_decimal("0.1234", Currency::Tnd),
            Err(AmountError::Inexact)
        );
        assert_eq!(
            minor_from_upstream_decimal("0.30000000000000004", Currency::Tnd),
            Err(AmountError::Inexact)
        );
    }

    #[test]
    fn decimal_numbers_keep_their_text() {
        let n: DecimalNumber = serde_json::from_str("12.5").unwrap();
        assert_eq!(n.to_minor(Currency::Tnd), Ok(12_500));
        assert_eq!(
            n.to_amount(Currency::Tnd, MAX).map(Amount::minor),
            Ok(12_500)
        );
        assert_eq!(
            serde_json::to_string(&DecimalNumber::from_minor(45_000, Currency::Tnd)).unwrap(),
            "45.000"
        );
        assert!(serde_json::from_str::<DecimalNumber>("\"12.5\"").is_err());
        assert!(serde_json::from_str::<DecimalNumber>("true").is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(minor in 1i64..=MAX) {
            let text = format_minor(minor, Currency::Tnd);
            prop_assert_eq!(parse(&text), Ok(minor));
        }

        #[test]
        fn parse_never_panics_and_never_accepts_out_of_range(text in "\\PC{0,24}") {
            if let Ok(minor) = parse(&text) {
                prop_assert!(minor > 0 && minor <= MAX);
            }
        }

        #[test]
        fn exponent_forms_agree_with_plain_forms(minor in 1i64..=MAX, shift in 0u32..6) {
            // minor × 10^-3 written as (minor × 10^shift) e -(3 + shift)
            let text = format!("{}e-{}", minor as i128 * 10i128.pow(shift), 3 + shift);
            prop_assert_eq!(parse(&text), Ok(minor));
        }
    }
}
