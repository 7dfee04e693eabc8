//! Deferred work the bench itself causes: the expiry alarms of the PPM requests it creates, the
//! safety alarms its scans leave, and the queued events after each phase. Invariant: a measured
//! phase (warm-up included) starts only when no such window overlaps its whole span, so each
//! route is measured alone on the machine.

use std::time::{Duration, Instant};

/// Added to every window: an alarm fires a little after its time, and its work (expiring a
/// request, publishing it to the gate) takes a moment more.
pub const ALARM_SLACK: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Busy {
    from: Instant,
    until: Instant,
    what: String,
}

/// The windows in which the stack will be busy with work the bench caused earlier.
#[derive(Debug, Default)]
pub struct Calendar {
    windows: Vec<Busy>,
    /// Total time spent waiting for quiet, for the report.
    pub waited: Duration,
}

impl Calendar {
    /// Work created between `first` and `last` that runs `delay` later.
    pub fn deferred(&mut self, what: &str, first: Instant, last: Instant, delay: Duration) {
        self.windows.push(Busy {
            from: first + delay,
            until: last + delay + ALARM_SLACK,
            what: what.to_string(),
        });
    }

    /// Keeps the next `span` for work the last phase left queued.
    pub fn settle(&mut self, span: Duration) {
        let now = Instant::now();
        self.windows.push(Busy {
            from: now,
            until: now + span,
            what: "the last phase's queued work".into(),
        });
    }

    /// The first instant from `now` at which `span` fits between the windows, and the windows
    /// that push it back.
    fn next_quiet(&self, now: Instant, span: Duration) -> (Instant, Vec<&Busy>) {
        let mut start = now;
        let mut pushed_by = Vec::new();
        loop {
            let blocking = self
                .windows
                .iter()
                .filter(|w| w.until > start && w.from < start + span)
                .max_by_key(|w| w.until);
            match blocking {
                Some(w) => {
                    start = w.until;
                    pushed_by.push(w);
                }
                None => return (start, pushed_by),
            }
        }
    }

    /// Sleeps until `span` from now overlaps no window; says why when it waits.
    pub fn wait_for_quiet(&mut self, span: Duration, before: &str) {
        let now = Instant::now();
        let (start, pushed_by) = self.next_quiet(now, span);
        // Short settles pass silently; waits for alarms are worth a line.
        if start > now + Duration::from_secs(3) {
            let mut reasons: Vec<&str> = pushed_by.iter().map(|w| w.what.as_str()).collect();
            reasons.dedup();
            eprintln!(
                "[bench] waiting {:.0} s before {before}: {}",
                (start - now).as_secs_f64(),
                reasons.join(", ")
            );
        }
        if start > now {
            std::thread::sleep(start - now);
            self.waited += start - now;
        }
        self.windows.retain(|w| w.until > start);
    }

    /// When the next window starts (or started, if it is still open).
    pub fn next_start(&self) -> Option<Instant> {
        let now = Instant::now();
        self.windows
            .iter()
            .filter(|w| w.until > now)
            .map(|w| w.from)
            .min()
    }

    /// Whether anything is due within `span` from now (a phase that cannot wait, such as polls of
    /// requests that would expire meanwhile, reports it instead).
    pub fn overlaps(&self, span: Duration) -> Option<String> {
        let now = Instant::now();
        self.windows
            .iter()
            .find(|w| w.until > now && w.from < now + span)
            .map(|w| w.what.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_is_pushed_past_every_window_it_would_touch() {
        let t0 = Instant::now() + Duration::from_secs(1000);
        let mut calendar = Calendar::default();
        // Busy [t0+10, t0+20+slack] and [t0+22, t0+30+slack].
        calendar.deferred(
            "a",
            t0,
            t0 + Duration::from_secs(10),
            Duration::from_secs(10),
        );
        calendar.deferred(
            "b",
            t0 + Duration::from_secs(2),
            t0 + Duration::from_secs(5),
            Duration::from_secs(20),
        );
        let s = Duration::from_secs(1);
        // Fits before the first window.
        assert_eq!(calendar.next_quiet(t0, 5 * s).0, t0);
        // Would touch both: starts after the second.
        let (start, by) = calendar.next_quiet(t0, 15 * s);
        assert_eq!(start, t0 + 25 * s + ALARM_SLACK);
        assert_eq!(by.len(), 2);
        // Inside the first window: starts when the chain of windows ends.
        assert_eq!(
            calendar.next_quiet(t0 + 12 * s, s).0,
            t0 + 25 * s + ALARM_SLACK
        );
    }
}
