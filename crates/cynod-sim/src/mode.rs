//! The simulator's behaviour switches, so the gateway can be tested against each way a real CYNOD
//! may differ from the document's example: the token answer's shape, Basic-only authentication,
//! the currency and scale of amounts, doubles with representation noise, the zone of dates, an
//! expired card described rather than refused, and the absence of the recovery calls. Invariant:
//! a mode changes only how CYNOD speaks, never the ledger: balances stay exact minor units.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use dyno_core::money::DecimalNumber;
use dyno_core::Currency;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::format::float_text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// `{success, code, message, data: {access_token, …}}`, as every other CYNOD answer.
    Envelope,
    /// `{access_token, token_type, expires_in}`, and RFC 6749 §5.2 errors.
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimAuth {
    /// A token endpoint; calls take the Bearer token (or Basic, which the document also allows).
    Oauth2,
    /// No token endpoint: every call must carry the consumer pair as Basic.
    Basic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpiredCards {
    /// `check-card-validity` answers 415 for an expired card.
    Refuse,
    /// It answers success with the past `finValidite`, leaving the comparison to the partner.
    Report,
}

/// How the simulator speaks now. Set through `POST /__sim/mode` (a partial object), restored to
/// these defaults by `POST /__sim/reset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimMode {
    pub token_format: TokenFormat,
    pub auth: SimAuth,
    /// The currency CYNOD counts in (`TND`, or `XOF` like the document's example).
    pub currency: String,
    /// Decimals CYNOD accepts in a `montant`: more written decimals are refused with 405.
    pub scale: u32,
    /// Whether `get-operation` and `annuler-reference` exist.
    pub recovery: bool,
    /// Amounts written as the double one step below their value (`137.49999999999997`).
    pub float_noise: bool,
    /// The zone of `dateSolde`/`dateOperation` and of "today" for validity.
    pub timezone: String,
    pub expired_cards: ExpiredCards,
}

impl Default for SimMode {
    fn default() -> Self {
        Self {
            token_format: TokenFormat::Envelope,
            auth: SimAuth::Oauth2,
            currency: Currency::Tnd.code().to_string(),
            scale: Currency::Tnd.decimals(),
            recovery: true,
            float_noise: false,
            timezone: "Africa/Tunis".to_string(),
            expired_cards: ExpiredCards::Refuse,
        }
    }
}

impl SimMode {
    /// This mode with the fields of `patch` replaced; unknown fields and bad values are refused.
    pub fn patched(&self, patch: &[u8]) -> Result<Self, String> {
        let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(patch) else {
            return Err("objet JSON attendu".into());
        };
        let mut merged = serde_json::to_value(self).map_err(|e| e.to_string())?;
        for (field, value) in patch {
            merged[field] = value;
        }
        let mode: SimMode = serde_json::from_value(merged).map_err(|e| e.to_string())?;
        if mode.scale > 5 {
            return Err("scale: au plus 5 décimales".into());
        }
        if mode.currency.len() != 3 || !mode.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err("currency: code ISO 4217 attendu".into());
        }
        mode.zone()?;
        Ok(mode)
    }

    pub fn zone(&self) -> Result<Tz, String> {
        self.timezone
            .parse()
            .map_err(|_| format!("timezone: {} inconnu", self.timezone))
    }

    /// `at` as CYNOD writes it: wall-clock time in its zone, without the zone.
    pub fn local_time(&self, at: DateTime<Utc>) -> DateTime<Tz> {
        at.with_timezone(&self.zone().unwrap_or(Tz::Africa__Tunis))
    }

    /// How messages name the currency: the document's `FCFA` for XOF.
    pub fn currency_label(&self) -> &str {
        if self.currency == "XOF" {
            "FCFA"
        } else {
            &self.currency
        }
    }

    /// A balance or amount as this CYNOD writes it.
    pub fn amount(&self, minor: i64) -> Box<RawValue> {
        let exact = float_text(minor);
        if !self.float_noise || minor == 0 {
            return exact;
        }
        // Simulating the upstream's own doubles: the value one representable step below.
        let value: f64 = exact.get().parse().unwrap_or_default();
        let noisy = f64::from_bits(value.to_bits() - 1);
        RawValue::from_string(format!("{noisy:?}")).unwrap_or(exact)
    }

    /// A `montant` as this CYNOD reads it, in the ledger's minor units: at most `scale` written
    /// decimals, exact, strictly positive.
    pub fn read_amount(&self, montant: &DecimalNumber) -> Option<i64> {
        let text = montant.text();
        let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
        let written = mantissa.split_once('.').map_or(0, |(_, f)| f.len());
        if written > self.scale as usize {
            return None;
        }
        montant.to_minor(Currency::Tnd).ok().filter(|m| *m > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_merge_and_are_checked() {
        let mode = SimMode::default()
            .patched(br#"{"scale":0,"currency":"XOF","token_format":"plain"}"#)
            .unwrap();
        assert_eq!(
            (mode.scale, mode.currency_label(), mode.token_format),
            (0, "FCFA", TokenFormat::Plain)
        );
        assert_eq!(
            mode.auth,
            SimAuth::Oauth2,
            "untouched fields keep their value"
        );
        for bad in [
            &br#"{"scale":9}"#[..],
            br#"{"sclae":0}"#,
            br#"{"auth":"kerberos"}"#,
            br#"{"timezone":"Mars/Olympus"}"#,
            br#"{"currency":"dinar"}"#,
            b"[]",
        ] {
            assert!(SimMode::default().patched(bad).is_err());
        }
    }

    #[test]
    fn amounts_are_written_and_read_as_the_mode_says() {
        let noisy = SimMode {
            float_noise: true,
            ..SimMode::default()
        };
        assert_eq!(noisy.amount(137_500).get(), "137.49999999999997");
        assert_eq!(noisy.amount(0).get(), "0.0");
        assert_eq!(SimMode::default().amount(137_500).get(), "137.5");
        let whole = SimMode {
            scale: 0,
            ..SimMode::default()
        };
        let number = |t: &str| serde_json::from_str::<DecimalNumber>(t).unwrap();
        assert_eq!(whole.read_amount(&number("12")), Some(12_000));
        assert_eq!(whole.read_amount(&number("12.000")), None);
        assert_eq!(
            SimMode::default().read_amount(&number("12.500")),
            Some(12_500)
        );
        assert_eq!(SimMode::default().read_amount(&number("12.5001")), None);
        assert_eq!(SimMode::default().read_amount(&number("0")), None);
    }
}
