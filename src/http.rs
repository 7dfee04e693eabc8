//! HTTP plumbing shared by all routes: the per-request context, bounded JSON body reading and JSON
//! responses. Invariant: a body is read at most once, never beyond `MAX_BODY_BYTES`, and bad input
//! becomes a precise 4xx before any handler logic runs.

use std::cell::{Cell, RefCell};

use dyno_core::edge::{self, CappedBody, MAX_BODY_BYTES};
use dyno_core::ErrorCode;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Env, Headers, Request, Response};

use crate::error::{AppError, AppResult};
use dyno_core::gate::LimitInfo;

/// What every handler knows about the request it serves, and what the audit log will record.
#[derive(Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub client_ip: String,
    /// The client the call acted for, once known (set by authentication).
    client_id: RefCell<Option<String>>,
    /// `pos:<client_id>`, `wallet:<id>`, `admin` or `anonymous`.
    actor: RefCell<String>,
    /// Set once the client's gate granted the call.
    authorized: Cell<bool>,
    /// The client's rate-limit window after this call, for the response headers.
    limit: RefCell<Option<LimitInfo>>,
    /// A fresh `Idempotency-Key` whose response must be stored.
    idempotency_key: RefCell<Option<String>>,
}

/// A request id of our own, for a request that brought none we accept.
pub(crate) fn new_request_id() -> String {
    format!("req_{}", crate::platform::new_uuid().replace('-', ""))
}

impl RequestContext {
    pub fn from_request(req: &Request) -> Self {
        let request_id = req
            .headers()
            .get("X-Request-Id")
            .ok()
            .flatten()
            .filter(|id| dyno_core::ids::is_acceptable_request_id(id))
            .unwrap_or_else(new_request_id);
        let client_ip = req
            .headers()
            .get("CF-Connecting-IP")
            .ok()
            .flatten()
            .unwrap_or_else(|| "127.0.0.1".to_string());
        Self {
            request_id,
            client_ip,
            client_id: RefCell::new(None),
            actor: RefCell::new("anonymous".to_string()),
            authorized: Cell::new(false),
            limit: RefCell::new(None),
            idempotency_key: RefCell::new(None),
        }
    }

    pub fn mark_authorized(&self) {
        self.authorized.set(true);
    }

    pub fn is_authorized(&self) -> bool {
        self.authorized.get()
    }

    pub fn set_limit(&self, limit: Option<LimitInfo>) {
        *self.limit.borrow_mut() = limit;
    }

    pub fn limit(&self) -> Option<LimitInfo> {
        self.limit.borrow().clone()
    }

    pub fn set_idempotency_key(&self, key: &str) {
        *self.idempotency_key.borrow_mut() = Some(key.to_string());
    }

    pub fn idempotency_key(&self) -> Option<String> {
        self.idempotency_key.borrow().clone()
    }

    /// Records the POS client this request acts for.
    pub fn set_client(&self, client_id: &str) {
        *self.client_id.borrow_mut() = Some(client_id.to_string());
        *self.actor.borrow_mut() = format!("pos:{client_id}");
    }

    pub fn set_actor(&self, actor: impl Into<String>) {
        *self.actor.borrow_mut() = actor.into();
    }

    pub fn client_id(&self) -> Option<String> {
        self.client_id.borrow().clone()
    }

    pub fn actor(&self) -> String {
        self.actor.borrow().clone()
    }
}

/// Reads the raw body, refusing anything over the limit with 400 BODY_TOO_LARGE (413 belongs to
/// INSUFFICIENT_FUNDS in the seed). A declared length over the limit is refused before any byte
/// is read; a body without one (chunked) is read chunk by chunk and dropped at the first chunk past
/// the limit, so no upload is ever buffered whole before its size is known.
pub async fn read_body_bytes(req: &mut Request) -> AppResult<Vec<u8>> {
    let too_large = |_| {
        AppError::new(
            ErrorCode::BodyTooLarge,
            format!("Le corps de la requête dépasse {MAX_BODY_BYTES} octets."),
        )
    };
    let unreadable = |_| AppError::new(ErrorCode::InvalidRequest, "Corps de requête illisible.");
    let declared = req.headers().get("Content-Length").ok().flatten();
    edge::declared_length_fits(declared.as_deref()).map_err(too_large)?;
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let mut stream = req.stream().map_err(unreadable)?;
    let mut body = CappedBody::default();
    while let Some(chunk) = stream.next().await {
        body.push(&chunk.map_err(unreadable)?).map_err(too_large)?;
    }
    Ok(body.into_bytes())
}

/// In production, an `/api/*` request that came over plain http: 403 HTTPS_REQUIRED, before
/// anything else is read (see [`edge::plain_http_refusal`]).
pub fn plain_http_refusal(req: &Request, production: bool) -> Option<AppError> {
    let header = |name| req.headers().get(name).ok().flatten();
    let scheme = req
        .url()
        .map(|u| u.scheme().to_string())
        .unwrap_or_default();
    edge::plain_http_refusal(
        production,
        &req.path(),
        &scheme,
        header("X-Forwarded-Proto").as_deref(),
        header("CF-Visitor").as_deref(),
    )
    .map(AppError::from)
}

/// True when the request declares a JSON body (`application/json`, any parameters).
pub fn is_json(headers: &Headers) -> bool {
    media_type(headers).as_deref() == Some("application/json")
}

/// The media type of the body, lower-cased, without parameters.
pub fn media_type(headers: &Headers) -> Option<String> {
    headers.get("Content-Type").ok().flatten().map(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// Parses a JSON request body into `T`, which should `deny_unknown_fields`: unknown fields are
/// refused so that a misspelt field can never be silently ignored on a payment.
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> AppResult<T> {
    if !is_json(req.headers()) {
        return Err(AppError::new(
            ErrorCode::UnsupportedMediaType,
            "Content-Type doit être application/json.",
        ));
    }
    let bytes = read_body_bytes(req).await?;
    parse_json(&bytes)
}

/// The query string as `T`, or 400 naming what is wrong with it.
pub fn query<T: DeserializeOwned>(req: &Request) -> AppResult<T> {
    req.query().map_err(|e| {
        AppError::new(
            ErrorCode::InvalidRequest,
            format!("paramètres invalides: {e}"),
        )
    })
}

/// Parses an already-read JSON body, checking its declared content type first.
pub fn json_body<T: DeserializeOwned>(headers: &Headers, bytes: &[u8]) -> AppResult<T> {
    if !is_json(headers) {
        return Err(AppError::new(
            ErrorCode::UnsupportedMediaType,
            "Content-Type doit être application/json.",
        ));
    }
    parse_json(bytes)
}

/// Parses JSON bytes with the API's error vocabulary.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> AppResult<T> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        AppError::new(
            ErrorCode::InvalidJson,
            "Le corps n'est pas de l'UTF-8 valide.",
        )
    })?;
    // serde also fills a struct from a JSON array, positionally (`[null, null]`): every request
    // body of this API is an object, so anything else is refused before it can be read that way.
    if !text.trim_start().starts_with('{') {
        return Err(AppError::new(
            ErrorCode::InvalidRequest,
            "Le corps doit être un objet JSON.",
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        let code = if message.starts_with("unknown field") {
            ErrorCode::UnknownField
        } else if e.is_data() {
            ErrorCode::InvalidRequest
        } else {
            ErrorCode::InvalidJson
        };
        AppError::new(code, message)
    })
}

/// A JSON response with the given status.
pub fn json_response<T: Serialize>(status: u16, value: &T) -> AppResult<Response> {
    let body = serde_json::to_vec(value)?;
    Ok(bytes_response(status, "application/json", body))
}

pub fn bytes_response(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", content_type);
    let _ = headers.set("Cache-Control", "no-store");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body)
}

/// A request another Worker answers, through this Worker's service `binding`: its answer as it
/// is (that Worker's headers and status). The other Worker unreachable is a platform failure that
/// names `what` in the log only.
pub async fn forward(binding: &str, what: &str, req: Request, env: &Env) -> AppResult<Response> {
    let unreachable = |e: worker::Error| AppError::platform(format!("{what}: {e}"));
    env.service(binding)
        .map_err(unreachable)?
        .fetch_request(req)
        .await
        .map_err(unreachable)
}
