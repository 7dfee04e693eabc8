//! The load generator: closed-loop threads over loopback, a warm-up that is not counted, then a
//! measured window. Invariant: only requests that complete inside the measured window are
//! counted, so req/s is completions over the window's length; every answer the route's judge
//! refuses is an error, warm-up included.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dyno_client::{DynoClient, RawRequest};

/// How each route is driven.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub threads: usize,
    pub warmup: Duration,
    pub measured: Duration,
}

impl Shape {
    pub fn span(&self) -> Duration {
        self.warmup + self.measured
    }
}

/// One measured window of one route.
#[derive(Debug, Clone)]
pub struct Window {
    pub requests: usize,
    /// Refused answers and transport failures, warm-up included.
    pub errors: usize,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// Threads that ran out of prepared requests before the window closed.
    pub ended_early: usize,
    pub measured: Duration,
    /// Sorted.
    pub latencies_us: Vec<u64>,
}

impl Window {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.measured.as_secs_f64()
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies_us, p)
    }
}

/// The `p` quantile (0..=1) of sorted microsecond latencies, in milliseconds.
pub fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let index = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[index] as f64 / 1000.0
}

/// Runs `request(thread, n)` from `shape.threads` threads, each with its own source address;
/// `None` ends that thread early. `ok` judges each answer's status.
pub fn run(
    shape: Shape,
    client: &DynoClient,
    request: impl Fn(usize, usize) -> Option<RawRequest> + Sync,
    ok: impl Fn(u16) -> bool + Sync,
) -> Window {
    let latencies = Mutex::new(Vec::new());
    let errors = AtomicUsize::new(0);
    let ended_early = AtomicUsize::new(0);
    let first_error = Mutex::new(None);
    let started = Instant::now();
    let measure_from = started + shape.warmup;
    let end = measure_from + shape.measured;
    std::thread::scope(|scope| {
        for thread in 0..shape.threads {
            let (latencies, errors, ended_early, first_error, request, ok) = (
                &latencies,
                &errors,
                &ended_early,
                &first_error,
                &request,
                &ok,
            );
            let client = client.with_header("CF-Connecting-IP", &format!("10.99.0.{thread}"));
            scope.spawn(move || {
                let mut mine = Vec::new();
                let mut n = 0;
                while Instant::now() < end {
                    let Some(req) = request(thread, n) else {
                        ended_early.fetch_add(1, Ordering::Relaxed);
                        break;
                    };
                    n += 1;
                    let sent = Instant::now();
                    let answer = client.send(req);
                    let done = Instant::now();
                    if done >= measure_from && done <= end {
                        mine.push((done - sent).as_micros() as u64);
                    }
                    let refused = match answer {
                        Ok(r) if ok(r.status) => None,
                        Ok(r) => Some(format!("HTTP {} {}", r.status, clip(&r.text()))),
                        Err(e) => Some(format!("transport: {e:?}")),
                    };
                    if let Some(what) = refused {
                        errors.fetch_add(1, Ordering::Relaxed);
                        let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert(what);
                    }
                }
                latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(mine);
            });
        }
    });
    let mut latencies_us = latencies.into_inner().unwrap_or_else(|p| p.into_inner());
    latencies_us.sort_unstable();
    Window {
        requests: latencies_us.len(),
        errors: errors.into_inner(),
        first_error: first_error.into_inner().unwrap_or_else(|p| p.into_inner()),
        ended_early: ended_early.into_inner(),
        measured: shape.measured,
        latencies_us,
    }
}

fn clip(text: &str) -> String {
    text.chars().take(160).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&sorted, 0.5), 51.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 99.0);
        assert_eq!(percentile_ms(&sorted, 1.0), 100.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }
}
