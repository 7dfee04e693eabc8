//! The merchant console's day at a glance: money taken by local hour, how payments ended by flow,
//! and how the client's webhooks fared. Invariant: every hour slot of the day is present (23, 24
//! or 25 of them, as the zone's calendar has it) and every figure comes from the stored rows as
//! exact integers — amounts in millimes, latencies in milliseconds.

use chrono::{SecondsFormat, TimeZone, Timelike, Utc};
use serde::Serialize;

use crate::money::{Currency, DecimalNumber};
use crate::problem::Problem;
use crate::report::{report_day, ReportDay, DEFAULT_TIME_ZONE};
use crate::time::Millis;

/// One hour slot: the day is cut into hours counted from its local midnight, so a slot's index is
/// `(instant - day.from) / HOUR_MS` (what the D1 aggregate groups by).
pub const HOUR_MS: i64 = 3_600_000;

/// How many of the latest attempts the latency figures describe.
pub const LATENCY_SAMPLE: i64 = 100;

/// How many of the latest attempts the console draws one by one.
const RECENT_ATTEMPTS: usize = 20;

/// The day a summary describes: `date` in `time_zone` (Tunis by default); no date means the
/// zone's today at `now`.
pub fn summary_day(
    date: Option<&str>,
    time_zone: Option<&str>,
    now: Millis,
) -> Result<ReportDay, Problem> {
    match date {
        Some(date) => report_day(date, time_zone),
        None => {
            // The zone is checked by report_day; an unknown one falls back here only to name a
            // date, and is refused there.
            let zone: chrono_tz::Tz = time_zone
                .unwrap_or(DEFAULT_TIME_ZONE)
                .parse()
                .unwrap_or(chrono_tz::UTC);
            let today = now.to_datetime().with_timezone(&zone).date_naive();
            report_day(&today.to_string(), time_zone)
        }
    }
}

/// Payments of one hour slot, as D1 sums them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct HourTotal {
    pub slot: i64,
    pub count: u64,
    pub amount_minor: i64,
}

/// Payments that ended one way, as D1 counts them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct OutcomeCount {
    pub flow: String,
    pub status: String,
    pub reason: Option<String>,
    pub count: u64,
}

/// Deliveries in one state, as D1 counts them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct DeliveryCount {
    pub status: String,
    pub count: u64,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AttemptSample {
    pub at_ms: i64,
    pub latency_ms: i64,
    pub http_status: Option<i64>,
}

impl AttemptSample {
    fn acknowledged(&self) -> bool {
        self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What the stored rows say about a day, before it is shaped for the console.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFigures {
    pub hours: Vec<HourTotal>,
    pub outcomes: Vec<OutcomeCount>,
    pub deliveries: Vec<DeliveryCount>,
    /// The latest attempts first, at most [`LATENCY_SAMPLE`].
    pub attempts: Vec<AttemptSample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HourSlot {
    /// The slot's first instant in the zone's local time, with its offset.
    pub start: String,
    /// `HH:MM`, local: what the chart's axis reads (twice the same on a day the clocks go back).
    pub hour: String,
    pub count: u64,
    pub amount: DecimalNumber,
}

#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    pub count: u64,
    pub amount: DecimalNumber,
    pub hours: Vec<HourSlot>,
}

/// How one flow's payments ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlowOutcomes {
    pub succeeded: u64,
    pub failed: u64,
    pub expired: u64,
    pub cancelled: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByFlow {
    pub epm: FlowOutcomes,
    pub ppm: FlowOutcomes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    pub flow: String,
    pub status: String,
    pub reason: Option<String>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    pub by_flow: ByFlow,
    /// Why payments did not succeed, most frequent first.
    pub reasons: Vec<ReasonCount>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStates {
    pub delivered: u64,
    pub failed: u64,
    pub dead_lettered: u64,
    pub pending: u64,
}

/// Latency of the latest attempts (nearest-rank percentiles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub attempts: u64,
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub max_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecentAttempt {
    pub at: String,
    pub latency_ms: i64,
    pub http_status: Option<i64>,
    pub acknowledged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookHealth {
    pub deliveries: DeliveryStates,
    /// `null` when no attempt was made that day.
    pub latency: Option<Latency>,
    /// The latest attempts, oldest first.
    pub recent_attempts: Vec<RecentAttempt>,
}

/// `GET /api/v1/pos/reports/summary`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub merchant_id: String,
    pub client_id: String,
    pub date: String,
    pub time_zone: String,
    pub from: String,
    pub to: String,
    pub currency: &'static str,
    /// The merchant's payments (money that moved), by local hour.
    pub volume: Volume,
    /// How the merchant's payments ended, by flow.
    pub outcomes: Outcomes,
    /// The calling client's webhook deliveries (each client has its own endpoint).
    pub webhooks: WebhookHealth,
}

impl Summary {
    pub fn new(merchant_id: &str, client_id: &str, day: &ReportDay, figures: DayFigures) -> Self {
        let currency = Currency::Tnd;
        Self {
            merchant_id: merchant_id.into(),
            client_id: client_id.into(),
            date: day.date.to_string(),
            time_zone: day.time_zone.name().into(),
            from: day.from.to_rfc3339(),
            to: day.to.to_rfc3339(),
            currency: currency.code(),
            volume: volume(day, &figures.hours, currency),
            outcomes: outcomes(&figures.outcomes),
            webhooks: webhook_health(&figures.deliveries, &figures.attempts),
        }
    }
}

/// Every hour slot of the day, with the totals D1 found (slots out of the day are ignored).
fn volume(day: &ReportDay, totals: &[HourTotal], currency: Currency) -> Volume {
    let slots = (day.to.0 - day.from.0 + HOUR_MS - 1).div_euclid(HOUR_MS);
    let hours = (0..slots)
        .map(|slot| {
            let local = Utc
                .timestamp_millis_opt(day.from.0 + slot * HOUR_MS)
                .single()
                .unwrap_or_default()
                .with_timezone(&day.time_zone);
            let found = totals.iter().filter(|t| t.slot == slot);
            HourSlot {
                start: local.to_rfc3339_opts(SecondsFormat::Secs, true),
                hour: format!("{:02}:{:02}", local.hour(), local.minute()),
                count: found.clone().map(|t| t.count).sum(),
                amount: DecimalNumber::from_minor(found.map(|t| t.amount_minor).sum(), currency),
            }
        })
        .collect();
    let in_day = totals.iter().filter(|t| (0..slots).contains(&t.slot));
    Volume {
        count: in_day.clone().map(|t| t.count).sum(),
        amount: DecimalNumber::from_minor(in_day.map(|t| t.amount_minor).sum(), currency),
        hours,
    }
}

/// Counts per flow, and the reasons of the endings that were not a success (D1 groups the rows by
/// flow, status and reason, so each reason comes once).
fn outcomes(counts: &[OutcomeCount]) -> Outcomes {
    let mut by_flow = ByFlow {
        epm: FlowOutcomes::default(),
        ppm: FlowOutcomes::default(),
    };
    let mut reasons = Vec::new();
    for c in counts {
        let flow = match c.flow.as_str() {
            "epm" => &mut by_flow.epm,
            "ppm" => &mut by_flow.ppm,
            _ => continue,
        };
        let slot = match c.status.as_str() {
            "succeeded" => &mut flow.succeeded,
            "failed" => &mut flow.failed,
            "expired" => &mut flow.expired,
            "cancelled" => &mut flow.cancelled,
            _ => continue,
        };
        *slot += c.count;
        if c.status != "succeeded" {
            reasons.push(ReasonCount {
                flow: c.flow.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                count: c.count,
            });
        }
    }
    // Most frequent first, then by flow, status and reason: the same rows give the same order.
    reasons.sort_unstable_by(|a, b| {
        (b.count, &a.flow, &a.status, &a.reason).cmp(&(a.count, &b.flow, &b.status, &b.reason))
    });
    Outcomes { by_flow, reasons }
}

fn webhook_health(deliveries: &[DeliveryCount], latest_first: &[AttemptSample]) -> WebhookHealth {
    let mut states = DeliveryStates::default();
    for d in deliveries {
        match d.status.as_str() {
            "delivered" => states.delivered += d.count,
            "failed" => states.failed += d.count,
            "dead_lettered" => states.dead_lettered += d.count,
            "pending" => states.pending += d.count,
            _ => {}
        }
    }
    let mut latencies: Vec<i64> = latest_first.iter().map(|a| a.latency_ms).collect();
    latencies.sort_unstable();
    let latency = (!latencies.is_empty()).then(|| Latency {
        attempts: latencies.len() as u64,
        p50_ms: nearest_rank(&latencies, 50),
        p95_ms: nearest_rank(&latencies, 95),
        max_ms: latencies[latencies.len() - 1],
    });
    let recent_attempts = latest_first
        .iter()
        .take(RECENT_ATTEMPTS)
        .rev()
        .map(|a| RecentAttempt {
            at: Millis(a.at_ms).to_rfc3339(),
            latency_ms: a.latency_ms,
            http_status: a.http_status,
            acknowledged: a.acknowledged(),
        })
        .collect();
    WebhookHealth {
        deliveries: states,
        latency,
        recent_attempts,
    }
}

/// The nearest-rank `percent`-th percentile of sorted, non-empty `values`.
fn nearest_rank(sorted: &[i64], percent: usize) -> i64 {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> Millis {
        Millis::parse_rfc3339(text).unwrap()
    }

    fn json(summary: &Summary) -> serde_json::Value {
        serde_json::from_str(&serde_json::to_string(summary).unwrap()).unwrap()
    }

    #[test]
    fn no_date_means_today_in_the_zone() {
        // 23:30 UTC on the 4th is already the 5th in Tunis, still the 4th in UTC.
        let now = at("2026-06-04T23:30:00Z");
        assert_eq!(
            summary_day(None, None, now).unwrap().date.to_string(),
            "2026-06-05"
        );
        assert_eq!(
            summary_day(None, Some("UTC"), now)
                .unwrap()
                .date
                .to_string(),
            "2026-06-04"
        );
        assert_eq!(
            summary_day(Some("2026-01-02"), None, now)
                .unwrap()
                .date
                .to_string(),
            "2026-01-02"
        );
        assert!(summary_day(None, Some("Mars/Olympus"), now).is_err());
        assert!(summary_day(Some("05/06/2026"), None, now).is_err());
    }

    #[test]
    fn the_day_has_every_local_hour_with_its_payments() {
        let day = report_day("2026-06-05", None).unwrap();
        let summary = Summary::new(
            "M",
            "C",
            &day,
            DayFigures {
                hours: vec![
                    HourTotal {
                        slot: 0,
                        count: 1,
                        amount_minor: 2_750,
                    },
                    HourTotal {
                        slot: 13,
                        count: 2,
                        amount_minor: 19_750,
                    },
                    // Outside the day: never shown, never counted.
                    HourTotal {
                        slot: 24,
                        count: 9,
                        amount_minor: 9_000,
                    },
                ],
                ..DayFigures::default()
            },
        );
        let hours = &summary.volume.hours;
        assert_eq!(hours.len(), 24);
        assert_eq!(hours[0].start, "2026-06-05T00:00:00+01:00");
        assert_eq!(hours[0].hour, "00:00");
        assert_eq!(hours[13].hour, "13:00");
        assert_eq!((hours[13].count, hours[13].amount.text()), (2, "19.750"));
        assert_eq!((hours[1].count, hours[1].amount.text()), (0, "0.000"));
        assert_eq!(
            (summary.volume.count, summary.volume.amount.text()),
            (3, "22.500")
        );
        let text = serde_json::to_string(&summary).unwrap();
        assert!(
            text.contains(r#""count":3,"amount":22.500,"hours""#),
            "{text}"
        );
        let body = json(&summary);
        assert_eq!(body["time_zone"], "Africa/Tunis");
        assert_eq!(body["from"], "2026-06-04T23:00:00Z");
        assert_eq!(body["webhooks"]["latency"], serde_json::Value::Null);
    }

    #[test]
    fn a_dst_day_has_23_or_25_slots_labelled_in_local_time() {
        let spring = report_day("2026-03-29", Some("Europe/Paris")).unwrap();
        let hours = volume(&spring, &[], Currency::Tnd).hours;
        assert_eq!(hours.len(), 23);
        let labels: Vec<&str> = hours.iter().map(|h| h.hour.as_str()).collect();
        assert_eq!(&labels[..4], ["00:00", "01:00", "03:00", "04:00"]);
        let autumn = report_day("2026-10-25", Some("Europe/Paris")).unwrap();
        let hours = volume(&autumn, &[], Currency::Tnd).hours;
        assert_eq!(hours.len(), 25);
        let labels: Vec<&str> = hours.iter().map(|h| h.hour.as_str()).collect();
        assert_eq!(&labels[..4], ["00:00", "01:00", "02:00", "02:00"]);
        assert_eq!(hours[2].start, "2026-10-25T02:00:00+02:00");
        assert_eq!(hours[3].start, "2026-10-25T02:00:00+01:00");
    }

    #[test]
    fn outcomes_count_by_flow_and_reasons_rank_by_frequency() {
        let count = |flow: &str, status: &str, reason: Option<&str>, count| OutcomeCount {
            flow: flow.into(),
            status: status.into(),
            reason: reason.map(str::to_string),
            count,
        };
        let outcomes = outcomes(&[
            count("epm", "succeeded", None, 4),
            count("epm", "failed", Some("insufficient_funds"), 1),
            count("ppm", "succeeded", None, 2),
            count("ppm", "failed", Some("insufficient_funds"), 2),
            count("ppm", "failed", Some("card_blocked"), 1),
            count("ppm", "cancelled", Some("cancelled_by_pos"), 1),
            count("ppm", "expired", Some("expired"), 3),
            count("xyz", "failed", None, 7),
        ]);
        assert_eq!(
            outcomes.by_flow.epm,
            FlowOutcomes {
                succeeded: 4,
                failed: 1,
                expired: 0,
                cancelled: 0
            }
        );
        assert_eq!(
            outcomes.by_flow.ppm,
            FlowOutcomes {
                succeeded: 2,
                failed: 3,
                expired: 3,
                cancelled: 1
            }
        );
        let ranked: Vec<(&str, Option<&str>, u64)> = outcomes
            .reasons
            .iter()
            .map(|r| (r.flow.as_str(), r.reason.as_deref(), r.count))
            .collect();
        assert_eq!(
            ranked,
            [
                ("ppm", Some("expired"), 3),
                ("ppm", Some("insufficient_funds"), 2),
                ("epm", Some("insufficient_funds"), 1),
                ("ppm", Some("cancelled_by_pos"), 1),
                ("ppm", Some("card_blocked"), 1),
            ]
        );
    }

    #[test]
    fn webhook_health_counts_states_and_describes_latency() {
        let attempt = |i: i64, latency_ms, http_status| AttemptSample {
            at_ms: at("2026-06-05T10:00:00Z").0 - i * 1_000,
            latency_ms,
            http_status,
        };
        // Latest first, as D1 returns them.
        let latest_first: Vec<AttemptSample> = (0..30)
            .map(|i| attempt(i, 10 + i, if i == 0 { None } else { Some(200) }))
            .collect();
        let health = webhook_health(
            &[
                DeliveryCount {
                    status: "delivered".into(),
                    count: 28,
                },
                DeliveryCount {
                    status: "dead_lettered".into(),
                    count: 1,
                },
                DeliveryCount {
                    status: "pending".into(),
                    count: 1,
                },
            ],
            &latest_first,
        );
        assert_eq!(
            health.deliveries,
            DeliveryStates {
                delivered: 28,
                failed: 0,
                dead_lettered: 1,
                pending: 1
            }
        );
        assert_eq!(
            health.latency,
            Some(Latency {
                attempts: 30,
                p50_ms: 24,
                p95_ms: 38,
                max_ms: 39
            })
        );
        assert_eq!(health.recent_attempts.len(), RECENT_ATTEMPTS);
        let last = health.recent_attempts.last().unwrap();
        assert_eq!(
            last.at, "2026-06-05T10:00:00Z",
            "oldest first, the latest last"
        );
        assert!(!last.acknowledged, "no answer is not an acknowledgement");
        assert!(health.recent_attempts[0].acknowledged);
    }

    proptest! {
        #[test]
        fn percentiles_are_ordered_members_of_the_sample(mut values in proptest::collection::vec(0i64..60_000, 1..200)) {
            values.sort_unstable();
            let (p50, p95) = (nearest_rank(&values, 50), nearest_rank(&values, 95));
            prop_assert!(values.contains(&p50) && values.contains(&p95));
            prop_assert!(values[0] <= p50 && p50 <= p95 && p95 <= values[values.len() - 1]);
            // At least half the sample is at or under the median.
            prop_assert!(values.iter().filter(|v| **v <= p50).count() * 2 >= values.len());
        }

        #[test]
        fn the_hours_add_up_to_the_day(amounts in proptest::collection::vec((0i64..24, 1i64..1_000_000), 0..50)) {
            let day = report_day("2026-06-05", None).unwrap();
            let totals: Vec<HourTotal> = amounts.iter().map(|(slot, minor)| HourTotal { slot: *slot, count: 1, amount_minor: *minor }).collect();
            let volume = volume(&day, &totals, Currency::Tnd);
            let hours_minor: i64 = volume.hours.iter().map(|h| h.amount.to_minor(Currency::Tnd).unwrap()).sum();
            prop_assert_eq!(hours_minor, amounts.iter().map(|(_, m)| m).sum::<i64>());
            prop_assert_eq!(volume.count, amounts.len() as u64);
        }
    }
}
