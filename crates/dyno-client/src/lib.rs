//! Typed Rust client for the Dyno Edge HTTP API (POS, wallet, admin), written against the wire
//! contract independently of the gateway's own types, so tests through it catch contract drift.
//! Invariant: every call returns either the decoded success body or an [`ApiError`] carrying the
//! status, headers and problem document; nothing is hidden behind a panic.

pub mod admin;
pub mod types;
pub mod webhooks;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use admin::AdminClient;
pub use types::*;

/// An HTTP answer, before decoding.
#[derive(Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}", self.status, self.text())
    }
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::Decode {
            status: self.status,
            message: format!("{e}: {}", self.text()),
        })
    }
}

/// Why a call did not produce the expected success body.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// The server answered with an error status.
    Status(Box<StatusError>),
    /// The request never got an answer.
    Transport(String),
    /// The answer was not the JSON the contract promises.
    Decode { status: u16, message: String },
}

/// An error status with its decoded body: problem+json, or an OAuth error for the token endpoint.
#[derive(Debug, Clone)]
pub struct StatusError {
    pub status: u16,
    pub problem: Option<ProblemDocument>,
    pub oauth: Option<OAuthError>,
    pub response: RawResponse,
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status(e) => Some(e.status),
            ApiError::Decode { status, .. } => Some(*status),
            ApiError::Transport(_) => None,
        }
    }

    /// The problem `code` (`QR_EXPIRED`…), or the OAuth `error` for the token endpoint.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Status(e) => e
                .problem
                .as_ref()
                .map(|p| p.code.as_str())
                .or(e.oauth.as_ref().map(|o| o.error.as_str())),
            _ => None,
        }
    }

    pub fn response(&self) -> Option<&RawResponse> {
        match self {
            ApiError::Status(e) => Some(&e.response),
            _ => None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Status(e) => write!(f, "HTTP {}: {}", e.status, e.response.text()),
            ApiError::Transport(e) => write!(f, "transport: {e}"),
            ApiError::Decode { status, message } => {
                write!(f, "HTTP {status}, undecodable: {message}")
            }
        }
    }
}

impl std::error::Error for ApiError {}

/// The header through which a POS presents the employee's EPM QR with a card read.
pub const CARD_PRESENTATION_HEADER: &str = "X-Dyno-Card-Presentation";
/// The header naming the operator behind a direct card movement.
pub const OPERATOR_HEADER: &str = "X-Operator";

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Bearer(String),
    Admin(String),
    Basic { user: String, password: String },
}

/// One outgoing request, for the few callers that need full control (odd bodies, extra headers).
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: &'static str,
    pub path: String,
    pub auth: Auth,
    pub headers: Vec<(String, String)>,
    pub body: Option<(String, Vec<u8>)>,
}

impl RawRequest {
    pub fn new(method: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            auth: Auth::None,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn json<T: Serialize>(self, body: &T) -> Self {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.body("application/json", bytes)
    }

    pub fn body(mut self, content_type: &str, bytes: Vec<u8>) -> Self {
        self.body = Some((content_type.to_string(), bytes));
        self
    }
}

/// A connection to one Dyno Edge deployment.
#[derive(Clone)]
pub struct DynoClient {
    base_url: String,
    agent: ureq::Agent,
    /// Sent on every request (e.g. a test's own `CF-Connecting-IP`).
    default_headers: Vec<(String, String)>,
}

impl DynoClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::with_tls(base_url, ureq::tls::TlsConfig::default())
    }

    /// A client of an HTTPS deployment whose certificate is self-signed (a local
    /// `wrangler dev --local-protocol https`): the connection is encrypted, the certificate is
    /// not checked. For tests and local use only.
    pub fn with_self_signed_tls(base_url: impl Into<String>) -> Self {
        let tls = ureq::tls::TlsConfig::builder()
            .disable_verification(true)
            .build();
        Self::with_tls(base_url, tls)
    }

    fn with_tls(base_url: impl Into<String>, tls: ureq::tls::TlsConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .max_idle_connections_per_host(64)
            .tls_config(tls)
            .build()
            .into();
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            agent,
            default_headers: Vec::new(),
        }
    }

    /// The same client, adding `name: value` to every request.
    pub fn with_header(&self, name: &str, value: &str) -> Self {
        let mut client = self.clone();
        client
            .default_headers
            .push((name.to_string(), value.to_string()));
        client
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends a request and returns the raw answer, whatever its status.
    pub fn send(&self, request: RawRequest) -> Result<RawResponse, ApiError> {
        use base64::Engine;
        let url = format!("{}{}", self.base_url, request.path);
        let mut builder = ureq::http::Request::builder()
            .method(request.method)
            .uri(&url);
        match &request.auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                builder = builder.header("Authorization", format!("Bearer {token}"))
            }
            Auth::Admin(key) => builder = builder.header("Authorization", format!("Bearer {key}")),
            Auth::Basic { user, password } => {
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                builder = builder.header("Authorization", format!("Basic {encoded}"));
            }
        }
        for (name, value) in self.default_headers.iter().chain(&request.headers) {
            builder = builder.header(name, value);
        }
        let (content_type, bytes) = request.body.unwrap_or_default();
        if !content_type.is_empty() {
            builder = builder.header("Content-Type", content_type);
        }
        let http_request = builder
            .body(bytes)
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let mut response = self
            .agent
            .run(http_request)
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// Sends a request and decodes a 2xx JSON body, or returns the error document.
    pub fn call<T: DeserializeOwned>(&self, request: RawRequest) -> Result<T, ApiError> {
        let response = self.send(request)?;
        expect_success(response)?.json()
    }

    /// Client-credentials token, with the seed's JSON body.
    pub fn token(&self, client_id: &str, client_secret: &str) -> Result<TokenResponse, ApiError> {
        self.call(
            RawRequest::new("POST", "/api/v1/pos/oauth/token").json(&serde_json::json!({
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            })),
        )
    }

    /// The same, as a form with HTTP Basic client authentication (RFC 6749 §2.3.1).
    pub fn token_basic(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, ApiError> {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let body = serde_urlencoded_form(&form);
        self.call(
            RawRequest::new("POST", "/api/v1/pos/oauth/token")
                .auth(Auth::Basic {
                    user: encode_query(client_id),
                    password: encode_query(client_secret),
                })
                .body("application/x-www-form-urlencoded", body.into_bytes()),
        )
    }

    pub fn whoami(&self, token: &str) -> Result<Whoami, ApiError> {
        self.call(
            RawRequest::new("GET", "/api/v1/pos/whoami").auth(Auth::Bearer(token.to_string())),
        )
    }

    /// RFC 7009 revocation of `token_to_revoke`, authenticated with `bearer`.
    pub fn revoke(&self, bearer: &str, token_to_revoke: &str) -> Result<RawResponse, ApiError> {
        let body = serde_urlencoded_form(&[
            ("token", token_to_revoke),
            ("token_type_hint", "access_token"),
        ]);
        expect_success(
            self.send(
                RawRequest::new("POST", "/api/v1/pos/oauth/revoke")
                    .auth(Auth::Bearer(bearer.to_string()))
                    .body("application/x-www-form-urlencoded", body.into_bytes()),
            )?,
        )
    }

    /// The balance of the card the employee presents with `qr_payload` (a fresh EPM QR).
    pub fn card_balance(&self, token: &str, qr_payload: &str) -> Result<CardBalance, ApiError> {
        self.call(
            RawRequest::new("GET", "/api/v1/pos/cards/balance")
                .auth(Auth::Bearer(token.to_string()))
                .header(CARD_PRESENTATION_HEADER, qr_payload),
        )
    }

    /// Whether the card the employee presents with `qr_payload` is valid.
    pub fn card_validity(&self, token: &str, qr_payload: &str) -> Result<CardValidity, ApiError> {
        self.call(
            RawRequest::new("GET", "/api/v1/pos/cards/validity")
                .auth(Auth::Bearer(token.to_string()))
                .header(CARD_PRESENTATION_HEADER, qr_payload),
        )
    }

    /// Employee login: wallet id (phone) and PIN.
    pub fn wallet_login(&self, wallet_id: &str, pin: &str) -> Result<WalletToken, ApiError> {
        self.call(
            RawRequest::new("POST", "/api/v1/wallet/oauth/token")
                .json(&serde_json::json!({ "wallet_id": wallet_id, "pin": pin })),
        )
    }

    /// Signs the wallet out everywhere: every token issued to it so far stops working.
    pub fn wallet_sign_out(&self, wallet_token: &str) -> Result<(), ApiError> {
        expect_success(
            self.send(
                RawRequest::new("POST", "/api/v1/wallet/oauth/revoke")
                    .auth(Auth::Bearer(wallet_token.to_string())),
            )?,
        )
        .map(drop)
    }

    pub fn wallet_cards(&self, wallet_token: &str) -> Result<WalletCards, ApiError> {
        self.call(
            RawRequest::new("GET", "/api/v1/wallet/cards")
                .auth(Auth::Bearer(wallet_token.to_string())),
        )
    }

    /// The employee's EPM QR for a card; `ttl_seconds` is honoured in the sandbox only.
    pub fn wallet_qr(
        &self,
        wallet_token: &str,
        card_number: &str,
        ttl_seconds: Option<i64>,
    ) -> Result<EpmQr, ApiError> {
        self.call(
            RawRequest::new("POST", "/api/v1/wallet/qr")
                .auth(Auth::Bearer(wallet_token.to_string()))
                .json(
                    &serde_json::json!({ "card_number": card_number, "ttl_seconds": ttl_seconds }),
                ),
        )
    }

    /// An EPM QR whose scan may debit at most `max_amount`.
    pub fn wallet_qr_with_max(
        &self,
        wallet_token: &str,
        card_number: &str,
        max_amount: Millimes,
    ) -> Result<EpmQr, ApiError> {
        self.call(
            RawRequest::new("POST", "/api/v1/wallet/qr")
                .auth(Auth::Bearer(wallet_token.to_string()))
                .json(&serde_json::json!({ "card_number": card_number, "max_amount": max_amount })),
        )
    }

    /// A card's movements, newest first (only a card of the logged-in wallet).
    pub fn wallet_card_history(
        &self,
        wallet_token: &str,
        card_number: &str,
        limit: Option<u32>,
    ) -> Result<CardHistory, ApiError> {
        let query = limit.map(|l| format!("?limit={l}")).unwrap_or_default();
        self.call(
            RawRequest::new(
                "GET",
                format!("/api/v1/wallet/cards/{card_number}/history{query}"),
            )
            .auth(Auth::Bearer(wallet_token.to_string())),
        )
    }

    /// The seed's EPM scan request.
    pub fn scan_request(
        token: &str,
        qr_payload: &str,
        amount: Millimes,
        pos_reference: &str,
        channel: &str,
    ) -> RawRequest {
        RawRequest::new("POST", "/api/v1/pos/payments/scan")
            .auth(Auth::Bearer(token.to_string()))
            .json(&serde_json::json!({
                "qr_payload": qr_payload,
                "amount": amount,
                "pos_reference": pos_reference,
                "channel": channel,
            }))
    }

    pub fn scan(
        &self,
        token: &str,
        qr_payload: &str,
        amount: Millimes,
        pos_reference: &str,
    ) -> Result<ScanSucceeded, ApiError> {
        self.call(Self::scan_request(
            token,
            qr_payload,
            amount,
            pos_reference,
            "qr",
        ))
    }

    /// A payment by transaction id or payment request id.
    pub fn payment(&self, token: &str, id: &str) -> Result<Payment, ApiError> {
        self.call(
            RawRequest::new("GET", format!("/api/v1/pos/payments/{id}"))
                .auth(Auth::Bearer(token.to_string())),
        )
    }

    /// The payment of a sale, by its `pos_reference`.
    pub fn payment_by_reference(
        &self,
        token: &str,
        pos_reference: &str,
    ) -> Result<Payment, ApiError> {
        let page: PaymentPage = self.call(
            RawRequest::new(
                "GET",
                format!(
                    "/api/v1/pos/payments?pos_reference={}",
                    encode_query(pos_reference)
                ),
            )
            .auth(Auth::Bearer(token.to_string())),
        )?;
        page.data
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::Decode {
                status: 200,
                message: "page vide".into(),
            })
    }

    /// PPM: the seed's initiate request.
    pub fn initiate(
        &self,
        token: &str,
        amount: Millimes,
        pos_reference: &str,
        description: &str,
    ) -> Result<Initiated, ApiError> {
        self.call(Self::initiate_request(
            token,
            amount,
            pos_reference,
            description,
            None,
        ))
    }

    /// The initiate request; `ttl_seconds` (sandbox only) shortens the 60 s lifetime.
    pub fn initiate_request(
        token: &str,
        amount: Millimes,
        pos_reference: &str,
        description: &str,
        ttl_seconds: Option<i64>,
    ) -> RawRequest {
        let mut body = serde_json::json!({
            "amount": amount,
            "pos_reference": pos_reference,
            "description": description,
            "channel": "qr",
        });
        if let Some(ttl) = ttl_seconds {
            body["ttl_seconds"] = ttl.into();
        }
        RawRequest::new("POST", "/api/v1/pos/payments/initiate")
            .auth(Auth::Bearer(token.to_string()))
            .json(&body)
    }

    /// The initiate request with the body's optional fields (`description`, the per-request
    /// `webhook_url`…), each sent only when set.
    pub fn initiate_request_with(token: &str, body: &InitiateBody) -> RawRequest {
        RawRequest::new("POST", "/api/v1/pos/payments/initiate")
            .auth(Auth::Bearer(token.to_string()))
            .json(body)
    }

    pub fn session_status(
        &self,
        token: &str,
        payment_request_id: &str,
    ) -> Result<SessionStatus, ApiError> {
        self.call(
            RawRequest::new(
                "GET",
                format!("/api/v1/pos/payments/{payment_request_id}/status"),
            )
            .auth(Auth::Bearer(token.to_string())),
        )
    }

    pub fn cancel_session(
        &self,
        token: &str,
        payment_request_id: &str,
    ) -> Result<SessionStatus, ApiError> {
        self.call(
            RawRequest::new(
                "POST",
                format!("/api/v1/pos/payments/{payment_request_id}/cancel"),
            )
            .auth(Auth::Bearer(token.to_string())),
        )
    }

    /// The employee opens a request from its link (marks it scanned).
    pub fn wallet_request(
        &self,
        wallet_token: &str,
        payment_request_id: &str,
        sig: &str,
    ) -> Result<WalletRequest, ApiError> {
        self.call(
            RawRequest::new(
                "GET",
                format!(
                    "/api/v1/wallet/payment-requests/{payment_request_id}?sig={}",
                    encode_query(sig)
                ),
            )
            .auth(Auth::Bearer(wallet_token.to_string())),
        )
    }

    pub fn wallet_confirm(
        &self,
        wallet_token: &str,
        payment_request_id: &str,
        sig: &str,
        card_number: &str,
        pin: &str,
    ) -> Result<WalletRequest, ApiError> {
        self.call(
            RawRequest::new(
                "POST",
                format!("/api/v1/wallet/payment-requests/{payment_request_id}/confirm"),
            )
            .auth(Auth::Bearer(wallet_token.to_string()))
            .json(&serde_json::json!({ "card_number": card_number, "pin": pin, "sig": sig })),
        )
    }

    pub fn wallet_cancel(
        &self,
        wallet_token: &str,
        payment_request_id: &str,
        sig: &str,
    ) -> Result<SessionStatus, ApiError> {
        self.call(
            RawRequest::new(
                "POST",
                format!("/api/v1/wallet/payment-requests/{payment_request_id}/cancel"),
            )
            .auth(Auth::Bearer(wallet_token.to_string()))
            .json(&serde_json::json!({ "sig": sig })),
        )
    }

    pub fn webhook_deliveries(&self, token: &str) -> Result<DeliveryPage, ApiError> {
        self.call(
            RawRequest::new("GET", "/api/v1/pos/webhooks/deliveries")
                .auth(Auth::Bearer(token.to_string())),
        )
    }

    pub fn redeliver(&self, token: &str, delivery_id: &str) -> Result<serde_json::Value, ApiError> {
        self.call(
            RawRequest::new(
                "POST",
                format!("/api/v1/pos/webhooks/deliveries/{delivery_id}/redeliver"),
            )
            .auth(Auth::Bearer(token.to_string())),
        )
    }

    /// A refund request (`amount` `None`: the whole remainder); refunds require an Idempotency-Key.
    pub fn refund_request(
        token: &str,
        id: &str,
        amount: Option<Millimes>,
        idempotency_key: &str,
    ) -> RawRequest {
        let body = match amount {
            Some(amount) => serde_json::json!({ "amount": amount }),
            None => serde_json::json!({}),
        };
        RawRequest::new("POST", format!("/api/v1/pos/payments/{id}/refunds"))
            .auth(Auth::Bearer(token.to_string()))
            .header("Idempotency-Key", idempotency_key)
            .json(&body)
    }

    pub fn refund(
        &self,
        token: &str,
        id: &str,
        amount: Option<Millimes>,
        idempotency_key: &str,
    ) -> Result<RefundCreated, ApiError> {
        self.call(Self::refund_request(token, id, amount, idempotency_key))
    }

    /// `GET /api/v1/pos/payments?…` with raw query parameters.
    pub fn list_payments(
        &self,
        token: &str,
        query: &[(&str, &str)],
    ) -> Result<PaymentPage, ApiError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        self.call(
            RawRequest::new("GET", format!("/api/v1/pos/payments?{query}"))
                .auth(Auth::Bearer(token.to_string())),
        )
    }

    /// The reconciliation export of `date` (`YYYY-MM-DD`), `format` `csv` or `ndjson`.
    pub fn reconciliation(
        &self,
        token: &str,
        date: &str,
        format: &str,
    ) -> Result<RawResponse, ApiError> {
        expect_success(
            self.send(
                RawRequest::new(
                    "GET",
                    format!("/api/v1/pos/reports/reconciliation?date={date}&format={format}"),
                )
                .auth(Auth::Bearer(token.to_string())),
            )?,
        )
    }

    /// The day's summary (`date` `YYYY-MM-DD`, or today; `time_zone`, or Tunis's).
    pub fn day_summary(
        &self,
        token: &str,
        date: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<DaySummary, ApiError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(date.map(|d| ("date", d)))
            .extend_pairs(time_zone.map(|z| ("time_zone", z)))
            .finish();
        self.call(
            RawRequest::new("GET", format!("/api/v1/pos/reports/summary?{query}"))
                .auth(Auth::Bearer(token.to_string())),
        )
    }

    /// The public liveness answer (`{"status":"ok"}`); the dependency report is the admin's.
    pub fn health(&self) -> Result<HealthStatus, ApiError> {
        self.call(RawRequest::new("GET", "/healthz"))
    }

    /// RFC 7009 revocation authenticated with the client's own credentials (§2.1): HTTP Basic,
    /// or `client_id` and `client_secret` in the form, as stock OAuth libraries send them.
    pub fn revoke_with_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        token_to_revoke: &str,
        basic: bool,
    ) -> Result<RawResponse, ApiError> {
        let mut form = vec![
            ("token", token_to_revoke),
            ("token_type_hint", "access_token"),
        ];
        let mut request = RawRequest::new("POST", "/api/v1/pos/oauth/revoke");
        if basic {
            request = request.auth(Auth::Basic {
                user: encode_query(client_id),
                password: encode_query(client_secret),
            });
        } else {
            form.extend([("client_id", client_id), ("client_secret", client_secret)]);
        }
        let body = serde_urlencoded_form(&form);
        expect_success(
            self.send(request.body("application/x-www-form-urlencoded", body.into_bytes()))?,
        )
    }
}

/// Passes a 2xx response through; turns anything else into [`ApiError::Status`].
pub fn expect_success(response: RawResponse) -> Result<RawResponse, ApiError> {
    if (200..300).contains(&response.status) {
        Ok(response)
    } else {
        Err(status_error(response))
    }
}

fn status_error(response: RawResponse) -> ApiError {
    ApiError::Status(Box::new(StatusError {
        status: response.status,
        problem: serde_json::from_slice::<ProblemDocument>(&response.body).ok(),
        oauth: serde_json::from_slice::<OAuthError>(&response.body).ok(),
        response,
    }))
}

/// Decodes a base64 `nfc_payload`.
pub fn decode_nfc(payload: &str) -> Option<NfcPayload> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Percent-encodes a query or form value (`application/x-www-form-urlencoded` rules).
pub fn encode_query(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn serde_urlencoded_form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
