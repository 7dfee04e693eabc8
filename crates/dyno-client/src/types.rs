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

/// `POST /api/v1/pos/oauth/token` success body (the seed's shape).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Whoami {
    pub client_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub scope: String,
    pub sandbox: bool,
    pub token_expires_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Merchant {
    pub merchant_id: String,
    pub name: String,
    pub affiliated: bool,
    pub active: bool,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClientCreated {
    pub client_id: String,
    pub client_secret: String,
    pub merchant_id: String,
    pub sandbox: bool,
    pub scopes: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SecretRotated {
    pub client_id: String,
    pub client_secret: String,
    pub previous_secret_valid_until: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookConfigured {
    pub client_id: String,
    pub url: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TokensRevoked {
    pub client_id: String,
    pub token_generation: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditEntry {
    pub event_id: String,
    pub at: String,
    pub client_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub resource: Option<String>,
    pub outcome: String,
    pub status: i64,
    pub request_id: String,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DemoSeeded {
    pub merchants: Vec<String>,
    pub clients: Vec<String>,
    pub wallets: Vec<String>,
    pub webhook_url: String,
}
