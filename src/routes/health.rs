//! `GET /healthz`, public: `{"status":"ok"}` and nothing else, so it costs no I/O and tells a
//! stranger nothing. `GET /api/v1/admin/health`, for operators: version, environment, and a live
//! check of every binding the gateway's back depends on (D1, both Durable Object classes, both
//! queue producers, CYNOD), from the back, which answers it; the front's bindings (D1, the same
//! objects, the events queue) are a subset of those names. Invariant: the deep report is 200 only when every check passed; otherwise
//! 503 with the failing checks named.

use dyno_core::Problem;
use serde::Serialize;
use worker::{Env, Response};

use crate::config::Config;
use crate::cynod::CynodClient;
use crate::error::AppResult;
use crate::http::{json_response, RequestContext};
use crate::platform;
use crate::queues::{self, EventMessage, WebhookJob};
use crate::stubs::{GateStub, PaymentStub};

#[derive(Serialize)]
struct Check {
    ok: bool,
    latency_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Serialize)]
struct HealthReport {
    status: &'static str,
    version: &'static str,
    environment: &'static str,
    checks: Checks,
}

#[derive(Serialize)]
struct Checks {
    d1: Check,
    payment_do: Check,
    client_gate_do: Check,
    queue_events: Check,
    queue_webhooks: Check,
    cynod: Check,
}

impl Checks {
    fn all_ok(&self) -> bool {
        [
            &self.d1,
            &self.payment_do,
            &self.client_gate_do,
            &self.queue_events,
            &self.queue_webhooks,
            &self.cynod,
        ]
        .iter()
        .all(|c| c.ok)
    }
}

/// Times a probe and turns its outcome into a [`Check`].
async fn timed<F: std::future::Future<Output = Result<String, String>>>(probe: F) -> Check {
    let started = platform::now();
    let outcome = probe.await;
    let latency_ms = platform::now().0 - started.0;
    match outcome {
        Ok(detail) => Check {
            ok: true,
            latency_ms,
            detail: Some(detail),
        },
        Err(detail) => Check {
            ok: false,
            latency_ms,
            detail: Some(detail),
        },
    }
}

/// Liveness: the Worker answers and its configuration holds (parsed once per isolate). No binding
/// is touched and no internal is named: a misconfigured gateway is only `unavailable` here; the
/// operators' report says why.
pub fn healthz(env: &Env) -> AppResult<Response> {
    match Config::get(env) {
        Ok(_) => json_response(200, &serde_json::json!({ "status": "ok" })),
        Err(_) => json_response(503, &serde_json::json!({ "status": "unavailable" })),
    }
}

/// The operators' report: every dependency checked live.
pub async fn deep(env: &Env, rc: &RequestContext) -> AppResult<Response> {
    let config = Config::get(env)?;
    let (d1, payment_do, client_gate_do, queue_events, queue_webhooks, cynod) = futures_util::join!(
        timed(check_d1(env)),
        timed(check_durable_object(env, "PAYMENTS")),
        timed(check_durable_object(env, "CLIENT_GATES")),
        timed(check_queue(
            env,
            queues::EVENTS,
            EventMessage::Probe {
                request_id: rc.request_id.clone()
            }
        )),
        timed(check_queue(
            env,
            queues::WEBHOOKS,
            WebhookJob::Probe {
                request_id: rc.request_id.clone()
            }
        )),
        timed(check_cynod(env, &config)),
    );
    let checks = Checks {
        d1,
        payment_do,
        client_gate_do,
        queue_events,
        queue_webhooks,
        cynod,
    };
    let healthy = checks.all_ok();
    json_response(
        if healthy { 200 } else { 503 },
        &HealthReport {
            status: if healthy { "ok" } else { "degraded" },
            version: config.version,
            environment: config.environment.as_str(),
            checks,
        },
    )
}

async fn check_d1(env: &Env) -> Result<String, String> {
    let db = env.d1("DB").map_err(|e| e.to_string())?;
    #[derive(serde::Deserialize)]
    struct Latest {
        name: String,
    }
    let latest: Option<Latest> = db
        .prepare("SELECT name FROM d1_migrations ORDER BY id DESC LIMIT 1")
        .first(None)
        .await
        .map_err(|e| format!("migrations non appliquées? {e}"))?;
    latest
        .map(|l| format!("migration {}", l.name))
        .ok_or_else(|| "aucune migration appliquée".to_string())
}

async fn check_durable_object(env: &Env, binding: &str) -> Result<String, String> {
    let probe = match binding {
        "PAYMENTS" => {
            PaymentStub::probe(env)
                .map_err(|e| format!("{e:?}"))?
                .health()
                .await
        }
        _ => {
            GateStub::client(env, "healthz")
                .map_err(|e| format!("{e:?}"))?
                .health()
                .await
        }
    }
    .map_err(|e| format!("{e:?}"))?;
    Ok(format!("sqlite: {} tables", probe.sqlite_tables))
}

async fn check_queue<T: Serialize>(env: &Env, binding: &str, probe: T) -> Result<String, String> {
    let queue = env.queue(binding).map_err(|e| e.to_string())?;
    queue.send(probe).await.map_err(|e| e.to_string())?;
    Ok("probe enqueued".to_string())
}

async fn check_cynod(env: &Env, config: &Config) -> Result<String, String> {
    CynodClient::new(env, &config.cynod)
        .probe()
        .await
        .map_err(|p: Problem| p.detail)
}
