//! The Worker layer's one error type and the one place errors become HTTP responses:
//! RFC 9457 problem+json for the API, RFC 6749 JSON for the token endpoint. Invariant: internal
//! causes are logged, never sent to clients.

use dyno_core::{ErrorCode, Problem};
use serde::Serialize;
use worker::{Headers, Response};

#[derive(Debug)]
pub enum AppError {
    /// An API error with its code, plus any headers it implies (WWW-Authenticate, Retry-After…).
    Api {
        problem: Problem,
        headers: Vec<(&'static str, String)>,
    },
    /// An OAuth2 token-endpoint error (RFC 6749 §5.2).
    OAuth {
        status: u16,
        error: &'static str,
        description: String,
        headers: Vec<(&'static str, String)>,
    },
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Problem::new(code, detail).into()
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        match &mut self {
            AppError::Api { headers, .. } | AppError::OAuth { headers, .. } => {
                headers.push((name, value.into()))
            }
        }
        self
    }

    /// A programming error: logged with its cause, answered as a bare 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        worker::console_error!("internal error: {cause}");
        Self::new(ErrorCode::InternalError, "Une erreur interne est survenue.")
    }

    /// A failure of the platform (storage, an object, a queue, D1): logged with its cause,
    /// answered as a clean 503 so the caller retries; nothing was half-done.
    pub fn platform(cause: impl std::fmt::Display) -> Self {
        worker::console_error!("platform failure: {cause}");
        Self::new(
            ErrorCode::ServiceUnavailable,
            "Service momentanément indisponible: réessayez dans quelques secondes.",
        )
    }

    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            AppError::Api { problem, .. } => Some(problem.code),
            AppError::OAuth { .. } => None,
        }
    }

    /// The single error → HTTP mapping.
    pub fn into_response(self, request_id: &str) -> Response {
        let (status, content_type, body, headers) = match self {
            AppError::Api { problem, headers } => {
                #[derive(Serialize)]
                struct ProblemBody<'a> {
                    #[serde(rename = "type")]
                    kind: String,
                    title: &'a str,
                    status: u16,
                    detail: &'a str,
                    code: &'a str,
                    request_id: &'a str,
                }
                let body = serde_json::to_vec(&ProblemBody {
                    kind: problem.code.type_uri(),
                    title: problem.code.title(),
                    status: problem.code.status(),
                    detail: &problem.detail,
                    code: problem.code.as_str(),
                    request_id,
                });
                (
                    problem.code.status(),
                    "application/problem+json",
                    body,
                    headers,
                )
            }
            AppError::OAuth {
                status,
                error,
                description,
                headers,
            } => {
                #[derive(Serialize)]
                struct OAuthBody<'a> {
                    error: &'a str,
                    error_description: &'a str,
                }
                let body = serde_json::to_vec(&OAuthBody {
                    error,
                    error_description: &description,
                });
                (status, "application/json", body, headers)
            }
        };
        let response_headers = Headers::new();
        let _ = response_headers.set("Content-Type", content_type);
        let _ = response_headers.set("Cache-Control", "no-store");
        for (name, value) in headers {
            let _ = response_headers.append(name, &value);
        }
        Response::builder()
            .with_status(status)
            .with_headers(response_headers)
            .fixed(body.unwrap_or_default())
    }
}

impl From<Problem> for AppError {
    fn from(problem: Problem) -> Self {
        AppError::Api {
            problem,
            headers: Vec::new(),
        }
    }
}

impl From<worker::Error> for AppError {
    fn from(e: worker::Error) -> Self {
        AppError::platform(e)
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::internal(e)
    }
}

/// How a POS handler ends early: with an error, or with the stored answer of an earlier request
/// that carried the same `Idempotency-Key` — a replay, which is a success, not an error.
#[derive(Debug)]
pub enum Early {
    Error(AppError),
    Replay { status: u16, body: String },
}

/// What a POS handler returns: its response, or an early end.
pub type PosResult<T = Response> = Result<T, Early>;

/// Everything that converts into an `AppError` ends a POS handler with that error.
macro_rules! early_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Early {
            fn from(e: $t) -> Self {
                Early::Error(e.into())
            }
        }
    )*};
}
early_from!(AppError, Problem, worker::Error, serde_json::Error);

impl Early {
    /// The response: a replay is the stored response, marked as such; an error is rendered.
    pub fn into_response(self, request_id: &str) -> Response {
        match self {
            Early::Error(error) => error.into_response(request_id),
            Early::Replay { status, body } => {
                let headers = Headers::new();
                let content_type = if status >= 400 {
                    "application/problem+json"
                } else {
                    "application/json"
                };
                let _ = headers.set("Content-Type", content_type);
                let _ = headers.set("Cache-Control", "no-store");
                let _ = headers.set("Idempotent-Replayed", "true");
                Response::builder()
                    .with_status(status)
                    .with_headers(headers)
                    .fixed(body.into_bytes())
            }
        }
    }
}
