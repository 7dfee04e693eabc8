//! The wire types of the Dyno Edge API as an integrator sees them. Amounts stay exact: they are
//! decoded from the JSON number text into minor units, never through `f64`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// RFC 9457 problem document with Dyno's extensions.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProblemDocument {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    pub request_id: String,
}

/// RFC 6749 §5.2 error body of the token endpoint.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OAuthError {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HealthCheck {
    pub ok: bool,
    pub latency_ms: i64,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HealthReport {
    pub status: String,
    pub version: String,
    pub environment: String,
    pub checks: BTreeMap<String, HealthCheck>,
}
