//! `dyno-pos listen --forward-to URL`: follows the client's webhook deliveries and forwards each
//! new one to a local receiver, signed as Dyno signs it. Invariant: a delivery is forwarded at
//! most once per run (a seen-set keyed by `delivery_id`), with its exact body bytes, and the log
//! endpoint is polled at a pace the client's rate limit allows.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use dyno_client::webhooks::delivery_headers;
use dyno_client::{expect_success, Auth, Delivery, DeliveryPage, DynoClient, RawRequest};

use crate::failure::Failure;
use crate::watch::retry_after;
use crate::{now_secs, utc_now_hms};

/// Dyno gives up on an attempt after this long; a forward does the same.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// The most deliveries the log returns in one page.
const PAGE: u32 = 100;

/// What a run forwards first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Since {
    /// Only deliveries made after `listen` started.
    Now,
    /// Also the deliveries already in the log (the latest 100).
    All,
}

pub struct Listener<'a> {
    pub client: &'a DynoClient,
    pub token: &'a str,
    pub forward_to: &'a str,
    pub secret: &'a str,
    pub interval: Duration,
    pub json: bool,
    /// Whether the stored token still holds; checked before each poll.
    pub token_valid: &'a dyn Fn() -> Result<(), Failure>,
}

impl Listener<'_> {
    /// Runs until interrupted (Ctrl-C), or until the token can no longer be used.
    pub fn run(&self, since: Since) -> Result<(), Failure> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(FORWARD_TIMEOUT))
            .build()
            .into();
        let mut seen = HashSet::new();
        let first = self.fetch()?.unwrap_or_default();
        if since == Since::Now {
            seen.extend(first.iter().map(|d| d.delivery_id.clone()));
        }
        eprintln!(
            "Prêt : les nouvelles livraisons sont transmises à {} (Ctrl-C pour arrêter).",
            self.forward_to
        );
        let mut pending = first;
        loop {
            for delivery in new_deliveries(pending, &mut seen) {
                self.forward(&agent, &delivery);
            }
            std::thread::sleep(self.interval);
            (self.token_valid)()?;
            pending = match self.fetch() {
                Ok(Some(page)) => page,
                Ok(None) => Vec::new(),
                Err(failure) => {
                    // A passing network fault must not end a long listen; the next poll retries.
                    eprintln!("{}  {}", utc_now_hms(), failure.message);
                    Vec::new()
                }
            };
        }
    }

    /// The latest deliveries; `Ok(None)` when rate-limited (after waiting as asked).
    fn fetch(&self) -> Result<Option<Vec<Delivery>>, Failure> {
        let response = self.client.send(
            RawRequest::new(
                "GET",
                format!("/api/v1/pos/webhooks/deliveries?limit={PAGE}"),
            )
            .auth(Auth::Bearer(self.token.to_string())),
        )?;
        if response.status == 429 {
            std::thread::sleep(retry_after(&response));
            return Ok(None);
        }
        let page: DeliveryPage = expect_success(response)?.json()?;
        Ok(Some(page.data))
    }

    fn forward(&self, agent: &ureq::Agent, delivery: &Delivery) {
        let body = delivery.body.as_bytes();
        let mut request = ureq::http::Request::builder()
            .method("POST")
            .uri(self.forward_to)
            .header("User-Agent", "DynoEdge-Webhooks/1.0 (dyno-pos listen)");
        for (name, value) in delivery_headers(
            self.secret,
            &delivery.delivery_id,
            &delivery.event,
            now_secs(),
            body,
        ) {
            request = request.header(name, value);
        }
        let started = Instant::now();
        let outcome = request
            .body(body.to_vec())
            .map_err(|e| e.to_string())
            .and_then(|r| agent.run(r).map_err(|e| e.to_string()))
            .map(|response| response.status().as_u16());
        let latency_ms = started.elapsed().as_millis();
        if self.json {
            let line = serde_json::json!({
                "delivery_id": delivery.delivery_id,
                "event": delivery.event,
                "payment_request_id": delivery.payment_request_id,
                "forwarded_to": self.forward_to,
                "status": outcome.as_ref().ok(),
                "error": outcome.as_ref().err(),
                "latency_ms": latency_ms,
            });
            println!("{line}");
        } else {
            let answer = match &outcome {
                Ok(status) => format!("HTTP {status}"),
                Err(e) => format!("échec : {e}"),
            };
            println!(
                "{}  {}  {}  {}  → {answer} ({latency_ms} ms)",
                utc_now_hms(),
                delivery.event,
                delivery.payment_request_id,
                delivery.delivery_id,
            );
        }
    }
}

/// The deliveries not seen yet, oldest first (the log lists the newest first), marked seen.
fn new_deliveries(page: Vec<Delivery>, seen: &mut HashSet<String>) -> Vec<Delivery> {
    let mut fresh: Vec<Delivery> = page
        .into_iter()
        .filter(|d| seen.insert(d.delivery_id.clone()))
        .collect();
    fresh.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: &str, created_at: &str) -> Delivery {
        Delivery {
            delivery_id: id.into(),
            event: "payment.confirmed".into(),
            payment_request_id: "pr".into(),
            status: "delivered".into(),
            attempts: Vec::new(),
            created_at: created_at.into(),
            updated_at: created_at.into(),
            body: "{}".into(),
        }
    }

    #[test]
    fn each_delivery_is_forwarded_once_oldest_first() {
        let mut seen = HashSet::new();
        let first = new_deliveries(
            vec![
                delivery("b", "2026-11-30T10:00:02Z"),
                delivery("a", "2026-11-30T10:00:01Z"),
            ],
            &mut seen,
        );
        assert_eq!(
            first
                .iter()
                .map(|d| d.delivery_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        // The next page still lists them (with a new attempt, say): only `c` is new.
        let next = new_deliveries(
            vec![
                delivery("c", "2026-11-30T10:00:03Z"),
                delivery("b", "2026-11-30T10:00:02Z"),
                delivery("a", "2026-11-30T10:00:01Z"),
            ],
            &mut seen,
        );
        assert_eq!(
            next.iter()
                .map(|d| d.delivery_id.as_str())
                .collect::<Vec<_>>(),
            ["c"]
        );
    }
}
