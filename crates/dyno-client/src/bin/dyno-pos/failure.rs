//! How `dyno-pos` fails: one sentence for a person, carrying the API's `code` and `request_id`
//! when the API answered, and a non-zero exit status. Invariant: every error path of the
//! command line ends here; nothing panics on a server's answer.

use dyno_client::ApiError;

/// A command that did not do what was asked.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure::new(describe(&error))
    }
}

/// What went wrong, as a sentence: `HTTP 410 QR_EXPIRED : title — detail (request_id …)`.
pub fn describe(error: &ApiError) -> String {
    match error {
        ApiError::Status(status) => {
            let request_id = status
                .problem
                .as_ref()
                .map(|p| p.request_id.clone())
                .or_else(|| status.response.header("X-Request-Id").map(str::to_string))
                .map(|id| format!(" (request_id {id})"))
                .unwrap_or_default();
            let what = match (&status.problem, &status.oauth) {
                (Some(problem), _) => {
                    format!("{} : {} — {}", problem.code, problem.title, problem.detail)
                }
                (None, Some(oauth)) => format!(
                    "{} : {}",
                    oauth.error,
                    oauth.error_description.as_deref().unwrap_or("refusé")
                ),
                (None, None) => shorten(&status.response.text()),
            };
            let hint = if status.status == 401 {
                " Lancez `dyno-pos login` pour obtenir un nouveau jeton."
            } else {
                ""
            };
            format!("HTTP {} {what}{request_id}.{hint}", status.status)
        }
        ApiError::Transport(e) => format!("le serveur ne répond pas : {e}"),
        ApiError::Decode { status, message } => {
            format!(
                "réponse inattendue du serveur (HTTP {status}) : {}",
                shorten(message)
            )
        }
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dyno_client::{RawResponse, StatusError};

    fn answered(status: u16, body: &str, headers: Vec<(String, String)>) -> ApiError {
        ApiError::Status(Box::new(StatusError {
            status,
            problem: serde_json::from_str(body).ok(),
            oauth: serde_json::from_str(body).ok(),
            response: RawResponse {
                status,
                headers,
                body: body.as_bytes().to_vec(),
            },
        }))
    }

    #[test]
    fn a_problem_becomes_a_sentence_with_its_code_and_request_id() {
        let error = answered(
            410,
            r#"{"type":"about:blank","title":"QR expiré","status":410,"detail":"Le QR a plus de 30 secondes.","code":"QR_EXPIRED","request_id":"req_123"}"#,
            vec![],
        );
        assert_eq!(
            describe(&error),
            "HTTP 410 QR_EXPIRED : QR expiré — Le QR a plus de 30 secondes. (request_id req_123)."
        );
    }

    #[test]
    fn an_oauth_refusal_takes_the_request_id_from_the_header_and_says_what_to_do() {
        let error = answered(
            401,
            r#"{"error":"invalid_client","error_description":"Identifiants invalides."}"#,
            vec![("x-request-id".into(), "req_9".into())],
        );
        let sentence = describe(&error);
        assert!(
            sentence.starts_with(
                "HTTP 401 invalid_client : Identifiants invalides. (request_id req_9)."
            ),
            "{sentence}"
        );
        assert!(sentence.contains("dyno-pos login"));
    }

    #[test]
    fn an_unknown_body_is_quoted_briefly() {
        let error = answered(502, &"x".repeat(1_000), vec![]);
        assert!(describe(&error).chars().count() < 330);
    }
}
