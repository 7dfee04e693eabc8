//! Typed calls of the operator API (`/api/v1/admin/*`), authenticated with the admin key.

use serde_json::json;

use crate::{
    ApiError, AuditPage, Auth, CardMovement, ClientCreated, DemoSeeded, DynoClient, HealthReport,
    MemberCards, Merchant, Millimes, RawRequest, SecretRotated, TokensRevoked, WebhookConfigured,
    OPERATOR_HEADER,
};

/// The operator's view of a deployment.
#[derive(Clone)]
pub struct AdminClient {
    client: DynoClient,
    key: String,
}

impl AdminClient {
    pub fn new(client: DynoClient, key: impl Into<String>) -> Self {
        Self {
            client,
            key: key.into(),
        }
    }

    fn request(&self, method: &'static str, path: impl Into<String>) -> RawRequest {
        RawRequest::new(method, path).auth(Auth::Admin(self.key.clone()))
    }

    /// A member's cards with balances (CYNOD member id).
    pub fn member_cards(&self, member_id: &str) -> Result<MemberCards, ApiError> {
        self.client.call(self.request(
            "GET",
            format!(
                "/api/v1/admin/members/{}/cards",
                crate::encode_query(member_id)
            ),
        ))
    }

    /// A direct `credit` or `debit` of a card by `operator`, idempotent by `reference`.
    pub fn card_movement(
        &self,
        operator: &str,
        card_number: &str,
        direction: &str,
        amount: Millimes,
        reference: &str,
    ) -> Result<CardMovement, ApiError> {
        self.client.call(self.card_movement_request(
            Some(operator),
            card_number,
            direction,
            amount,
            reference,
        ))
    }

    /// The request of [`Self::card_movement`]; without an operator, to see it refused.
    pub fn card_movement_request(
        &self,
        operator: Option<&str>,
        card_number: &str,
        direction: &str,
        amount: Millimes,
        reference: &str,
    ) -> RawRequest {
        let request = self.request(
            "POST",
            format!("/api/v1/admin/cards/{card_number}/{direction}"),
        );
        match operator {
            Some(operator) => request.header(OPERATOR_HEADER, operator),
            None => request,
        }
        .json(&json!({ "amount": amount, "reference": reference }))
    }

    pub fn create_merchant(
        &self,
        merchant_id: Option<&str>,
        name: &str,
        affiliated: bool,
    ) -> Result<Merchant, ApiError> {
        self.client.call(
            self.request("POST", "/api/v1/admin/merchants")
                .json(&json!({
                    "merchant_id": merchant_id, "name": name, "affiliated": affiliated
                })),
        )
    }

    pub fn merchant(&self, merchant_id: &str) -> Result<Merchant, ApiError> {
        self.client
            .call(self.request("GET", format!("/api/v1/admin/merchants/{merchant_id}")))
    }

    pub fn update_merchant(
        &self,
        merchant_id: &str,
        active: Option<bool>,
        affiliated: Option<bool>,
    ) -> Result<Merchant, ApiError> {
        self.client.call(
            self.request("PATCH", format!("/api/v1/admin/merchants/{merchant_id}"))
                .json(&json!({ "active": active, "affiliated": affiliated })),
        )
    }

    pub fn create_client(
        &self,
        merchant_id: &str,
        client_id: Option<&str>,
        scopes: Option<&str>,
    ) -> Result<ClientCreated, ApiError> {
        self.client
            .call(self.request("POST", "/api/v1/admin/clients").json(&json!({
                "merchant_id": merchant_id, "client_id": client_id, "scopes": scopes
            })))
    }

    pub fn rotate_secret(
        &self,
        client_id: &str,
        grace_seconds: Option<i64>,
    ) -> Result<SecretRotated, ApiError> {
        self.client.call(
            self.request(
                "POST",
                format!("/api/v1/admin/clients/{client_id}/rotate-secret"),
            )
            .json(&json!({ "grace_seconds": grace_seconds })),
        )
    }

    /// Rotation after a leak: no grace for the old secret, and every token revoked.
    pub fn rotate_compromised_secret(&self, client_id: &str) -> Result<SecretRotated, ApiError> {
        self.client.call(
            self.request(
                "POST",
                format!("/api/v1/admin/clients/{client_id}/rotate-secret"),
            )
            .json(&json!({ "compromised": true })),
        )
    }

    /// The dependency report (D1, Durable Objects, queues, CYNOD); a 503 still carries it.
    pub fn health(&self) -> Result<HealthReport, ApiError> {
        let response = self
            .client
            .send(self.request("GET", "/api/v1/admin/health"))?;
        if response.status == 200 || response.status == 503 {
            response.json()
        } else {
            Err(crate::status_error(response))
        }
    }

    pub fn set_webhook(
        &self,
        client_id: &str,
        url: &str,
        secret: &str,
    ) -> Result<WebhookConfigured, ApiError> {
        self.client.call(
            self.request("PUT", format!("/api/v1/admin/clients/{client_id}/webhook"))
                .json(&json!({ "url": url, "secret": secret })),
        )
    }

    /// The endpoint, subscribed to `events` (by default it gets `payment.confirmed` only).
    pub fn set_webhook_events(
        &self,
        client_id: &str,
        url: &str,
        secret: &str,
        events: &[&str],
    ) -> Result<WebhookConfigured, ApiError> {
        self.client.call(
            self.request("PUT", format!("/api/v1/admin/clients/{client_id}/webhook"))
                .json(&json!({ "url": url, "secret": secret, "events": events })),
        )
    }

    /// Settles a movement whose outcome is unknown: the debit, or `refund_id`.
    pub fn settle_payment(
        &self,
        payment_id: &str,
        applied: bool,
        refund_id: Option<&str>,
    ) -> Result<serde_json::Value, ApiError> {
        self.client.call(
            self.request(
                "POST",
                format!("/api/v1/admin/payments/{payment_id}/settle"),
            )
            .json(&json!({ "applied": applied, "refund_id": refund_id })),
        )
    }

    pub fn revoke_tokens(&self, client_id: &str) -> Result<TokensRevoked, ApiError> {
        self.client.call(self.request(
            "POST",
            format!("/api/v1/admin/clients/{client_id}/revoke-tokens"),
        ))
    }

    pub fn audit(
        &self,
        client_id: Option<&str>,
        limit: Option<u32>,
    ) -> Result<AuditPage, ApiError> {
        let mut query = Vec::new();
        if let Some(c) = client_id {
            query.push(format!("client_id={}", crate::encode_query(c)));
        }
        if let Some(l) = limit {
            query.push(format!("limit={l}"));
        }
        let path = if query.is_empty() {
            "/api/v1/admin/audit".to_string()
        } else {
            format!("/api/v1/admin/audit?{}", query.join("&"))
        };
        self.client.call(self.request("GET", path))
    }

    /// Enrolls (or resets) an employee wallet login.
    pub fn enroll_wallet(
        &self,
        wallet_id: &str,
        pin: &str,
        display_name: &str,
        member_id: &str,
    ) -> Result<serde_json::Value, ApiError> {
        self.client.call(
            self.request(
                "PUT",
                format!("/api/v1/admin/wallets/{}", crate::encode_query(wallet_id)),
            )
            .json(&json!({ "pin": pin, "display_name": display_name, "client_id": member_id })),
        )
    }

    /// A wallet id's PIN guard: comparisons made, streak, lock.
    pub fn wallet_lockout(&self, wallet_id: &str) -> Result<crate::WalletLockout, ApiError> {
        self.client.call(self.request(
            "GET",
            format!(
                "/api/v1/admin/wallets/{}/pin-lockout",
                crate::encode_query(wallet_id)
            ),
        ))
    }

    /// Lifts a temporary PIN lock (the ladder and the day's count stay).
    pub fn unlock_wallet(&self, wallet_id: &str) -> Result<crate::WalletLockout, ApiError> {
        self.client.call(self.request(
            "POST",
            format!(
                "/api/v1/admin/wallets/{}/unlock",
                crate::encode_query(wallet_id)
            ),
        ))
    }

    pub fn seed_demo(&self) -> Result<DemoSeeded, ApiError> {
        self.client
            .call(self.request("POST", "/api/v1/admin/demo/seed"))
    }

    /// A fresh affiliated merchant with one client: what most tests and onboarding start from.
    pub fn onboard(
        &self,
        name: &str,
        scopes: Option<&str>,
    ) -> Result<(Merchant, ClientCreated), ApiError> {
        let merchant = self.create_merchant(None, name, true)?;
        let client = self.create_client(&merchant.merchant_id, None, scopes)?;
        Ok((merchant, client))
    }
}

/// The CYNOD simulator's test controls, through `/api/v1/admin/cynod-sim/*` (sandbox only).
impl AdminClient {
    pub fn sim_create_card(&self, card: &crate::SimCard) -> Result<crate::SimCard, ApiError> {
        self.client.call(
            self.request("POST", "/api/v1/admin/cynod-sim/cards")
                .json(card),
        )
    }

    pub fn sim_card(&self, numero: &str) -> Result<Option<crate::SimCard>, ApiError> {
        self.client
            .call(self.request("GET", format!("/api/v1/admin/cynod-sim/cards/{numero}")))
    }

    /// Applied movements, optionally for one card or merchant and from an instant (ms).
    pub fn sim_ledger(
        &self,
        numero: Option<&str>,
        commercant: Option<&str>,
        since_ms: Option<i64>,
    ) -> Result<Vec<crate::SimOperation>, ApiError> {
        let mut query = Vec::new();
        if let Some(n) = numero {
            query.push(format!("numeroCarte={}", crate::encode_query(n)));
        }
        if let Some(c) = commercant {
            query.push(format!("commercant={}", crate::encode_query(c)));
        }
        if let Some(s) = since_ms {
            query.push(format!("since_ms={s}"));
        }
        self.client.call(self.request(
            "GET",
            format!("/api/v1/admin/cynod-sim/ledger?{}", query.join("&")),
        ))
    }

    /// Arms a fault for `count` calls of `endpoint` (`get-solde-carte`, `debiter-carte`, `*`…).
    /// `mode`: `latency`, `hang`, `status_500`, `status_503`, `malformed`. With `apply_first`, the
    /// operation is applied before the fault shows (a lost answer).
    pub fn sim_fault(
        &self,
        endpoint: &str,
        mode: &str,
        latency_ms: i64,
        apply_first: bool,
        count: i64,
    ) -> Result<serde_json::Value, ApiError> {
        self.client.call(self.request("POST", "/api/v1/admin/cynod-sim/faults").json(&json!({
            "endpoint": endpoint, "mode": mode, "latency_ms": latency_ms, "apply_first": apply_first, "count": count
        })))
    }

    /// Sandbox fault switch: one payment's next webhook sends, ledger-row sends and alarms fail
    /// (`[webhooks, rows, alarms]` times).
    pub fn payment_faults(
        &self,
        payment_id: &str,
        [webhooks, rows, alarms]: [u32; 3],
    ) -> Result<serde_json::Value, ApiError> {
        self.client.call(
            self.request("POST", "/api/v1/admin/sandbox/faults")
                .json(&json!({
                    "payment_id": payment_id,
                    "webhook_send_failures": webhooks,
                    "transaction_send_failures": rows,
                    "alarm_failures": alarms,
                })),
        )
    }

    /// Sandbox fault switch: the client's gate storage becomes unreadable.
    pub fn corrupt_gate(&self, client_id: &str) -> Result<serde_json::Value, ApiError> {
        self.client.call(
            self.request("POST", "/api/v1/admin/sandbox/faults")
                .json(&json!({
                    "client_id": client_id,
                    "corrupt_gate_state": true,
                })),
        )
    }

    pub fn sim_clear_faults(&self) -> Result<serde_json::Value, ApiError> {
        self.client
            .call(self.request("DELETE", "/api/v1/admin/cynod-sim/faults"))
    }

    /// Call counters: `tokens_issued`, `calls:<endpoint>`.
    pub fn sim_stats(&self) -> Result<std::collections::BTreeMap<String, i64>, ApiError> {
        self.client
            .call(self.request("GET", "/api/v1/admin/cynod-sim/stats"))
    }

    /// Invalidates every simulator access token (the gateway must refresh on its next call).
    pub fn sim_revoke_tokens(&self) -> Result<serde_json::Value, ApiError> {
        self.client
            .call(self.request("POST", "/api/v1/admin/cynod-sim/revoke-tokens"))
    }

    /// Switches how the simulator speaks (a partial object: `token_format` `envelope|plain`,
    /// `auth` `oauth2|basic`, `currency`, `scale`, `recovery`, `float_noise`, `timezone`,
    /// `expired_cards` `refuse|report`); answers the whole mode now in force.
    pub fn sim_set_mode(&self, patch: &serde_json::Value) -> Result<serde_json::Value, ApiError> {
        self.client.call(
            self.request("POST", "/api/v1/admin/cynod-sim/mode")
                .json(patch),
        )
    }

    /// The simulator's current mode.
    pub fn sim_mode(&self) -> Result<serde_json::Value, ApiError> {
        self.client
            .call(self.request("GET", "/api/v1/admin/cynod-sim/mode"))
    }
}
