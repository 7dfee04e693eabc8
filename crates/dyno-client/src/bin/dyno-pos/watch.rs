//! `dyno-pos status ID --watch`: follows a PPM request with a live line until it ends. Invariant:
//! it polls at most once a second (the seed's rhythm, within the documented allowance: bursts of
//! 5, refilled at 2/s), waits as long as a 429's `Retry-After` asks, and prints every status
//! change exactly once.

use std::time::{Duration, Instant};

use dyno_client::{expect_success, Auth, DynoClient, RawRequest, RawResponse, SessionStatus};
use indicatif::{ProgressBar, ProgressStyle};

use crate::failure::Failure;
use crate::{print_json, status_details, utc_now_hms};

/// The seed's polling rhythm.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// The seed's terminal statuses: once there, a request never changes again.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "confirmed" | "failed" | "expired" | "cancelled")
}

/// How long a 429 asks to wait: its `Retry-After` in seconds, kept within 1 to 60 s (an HTTP date
/// or a missing header waits 1 s).
pub fn retry_after(response: &RawResponse) -> Duration {
    let seconds = response
        .header("Retry-After")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds.clamp(1, 60))
}

/// Polls until a terminal status and returns the last answer; gives up after `timeout`.
pub fn watch(
    client: &DynoClient,
    token: &str,
    id: &str,
    json: bool,
    timeout: Duration,
) -> Result<SessionStatus, Failure> {
    let line = ProgressBar::new_spinner();
    line.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    line.enable_steady_tick(Duration::from_millis(120));
    line.set_message(format!("{id} : interrogation…"));
    let started = Instant::now();
    let mut last_status: Option<String> = None;
    let result = loop {
        let request = RawRequest::new("GET", format!("/api/v1/pos/payments/{id}/status"))
            .auth(Auth::Bearer(token.to_string()));
        let response = match client.send(request) {
            Ok(response) => response,
            Err(e) => break Err(Failure::from(e)),
        };
        if response.status == 429 {
            let wait = retry_after(&response);
            line.set_message(format!(
                "{id} : limite d'interrogation atteinte, reprise dans {} s",
                wait.as_secs()
            ));
            std::thread::sleep(wait);
            continue;
        }
        let response = match expect_success(response) {
            Ok(response) => response,
            Err(e) => break Err(Failure::from(e)),
        };
        let status: SessionStatus = match response.json() {
            Ok(status) => status,
            Err(e) => break Err(Failure::from(e)),
        };
        if last_status.as_deref() != Some(status.status.as_str()) {
            line.suspend(|| {
                if json {
                    print_json(&response.body);
                } else {
                    println!(
                        "{}  {}{}",
                        utc_now_hms(),
                        status.status,
                        status_details(&status)
                    );
                }
            });
            last_status = Some(status.status.clone());
        }
        if is_terminal(&status.status) {
            break Ok(status);
        }
        if started.elapsed() >= timeout {
            break Err(Failure::new(format!(
                "la demande {id} est toujours « {} » après {} s ; relancez `dyno-pos status {id} --watch` pour continuer.",
                status.status,
                timeout.as_secs()
            )));
        }
        line.set_message(format!("{id} : {}", status.status));
        std::thread::sleep(POLL_EVERY);
    };
    line.finish_and_clear();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(value: Option<&str>) -> RawResponse {
        RawResponse {
            status: 429,
            headers: value
                .map(|v| vec![("retry-after".to_string(), v.to_string())])
                .unwrap_or_default(),
            body: Vec::new(),
        }
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        assert_eq!(retry_after(&with_header(Some("3"))), Duration::from_secs(3));
        assert_eq!(
            retry_after(&with_header(Some(" 0 "))),
            Duration::from_secs(1)
        );
        assert_eq!(
            retry_after(&with_header(Some("3600"))),
            Duration::from_secs(60)
        );
        assert_eq!(
            retry_after(&with_header(Some("Wed, 21 Oct 2026 07:28:00 GMT"))),
            Duration::from_secs(1)
        );
        assert_eq!(retry_after(&with_header(None)), Duration::from_secs(1));
    }

    #[test]
    fn the_seed_statuses_split_into_open_and_terminal() {
        for open in ["pending", "scanned"] {
            assert!(!is_terminal(open));
        }
        for done in ["confirmed", "failed", "expired", "cancelled"] {
            assert!(is_terminal(done));
        }
    }
}
