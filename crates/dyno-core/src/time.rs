//! Instants as the domain sees them: UTC milliseconds handed in by the platform (never read from a
//! clock here), written as RFC 3339 with a `Z` suffix and whole seconds, as in the seed.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. The platform layer supplies `now`; the domain never
/// reads a clock, so every rule about time is testable with a fixed instant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs * 1000)
    }

    pub const fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub const fn plus_ms(self, ms: i64) -> Self {
        Self(self.0 + ms)
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// `2026-06-05T10:30:00Z`: RFC 3339, UTC, whole seconds (sub-second precision is truncated).
    pub fn to_rfc3339(self) -> String {
        Utc.timestamp_opt(self.secs(), 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// The same wall-clock instant `months` calendar months earlier (clamped to the month's end).
    pub fn minus_months(self, months: u32) -> Self {
        let shifted = self
            .to_datetime()
            .checked_sub_months(chrono::Months::new(months))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Self(shifted.timestamp_millis())
    }

    /// Parses any RFC 3339 instant (any offset) back to UTC milliseconds.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| Self(t.timestamp_millis()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_seed() {
        let t = Millis::parse_rfc3339("2026-06-05T10:30:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-06-05T10:30:00Z");
        assert_eq!(t.plus_ms(60_999).to_rfc3339(), "2026-06-05T10:31:00Z");
        assert_eq!(Millis::parse_rfc3339("2026-06-05T11:30:00+01:00"), Some(t));
    }
}
