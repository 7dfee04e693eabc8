//! The answer of CYNOD's access-token call, in either shape a real server may give: CYNOD's
//! envelope around the token, or a plain RFC 6749 §5.1 response (with §5.2 errors). Invariant: a
//! token is only accepted from a 2xx answer, as a Bearer token of visible ASCII that can go into
//! a header as it is; anything else is a refusal or an unreadable answer, never a token.

use serde_json::{Map, Value};

use super::{parse_envelope, EnvelopeOutcome};
use crate::problem::{ErrorCode, Problem};

/// Lifetime assumed when the answer states none (`expires_in` is only RECOMMENDED by RFC 6749):
/// short, so an unstated lifetime costs a token call every few minutes rather than a string of
/// 401s. A 401 refreshes the token anyway.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 300;

/// A token CYNOD granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub access_token: String,
    pub expires_in_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// CYNOD said no (bad consumer credentials, unknown client…).
    #[error("authentification CYNOD refusée ({code}): {message}")]
    Refused { code: String, message: String },
    /// CYNOD answered something that is neither a token nor a refusal.
    #[error("réponse de jeton CYNOD illisible: {0}")]
    Malformed(String),
}

impl TokenError {
    pub fn to_problem(&self) -> Problem {
        Problem::new(ErrorCode::UpstreamError, self.to_string())
    }
}

fn refused(code: impl Into<String>, message: impl Into<String>) -> TokenError {
    TokenError::Refused {
        code: code.into(),
        message: message.into(),
    }
}

fn malformed(detail: impl Into<String>) -> TokenError {
    TokenError::Malformed(detail.into())
}

/// Reads a token answer: `{"access_token": …}` at the top level (RFC 6749), the same inside
/// CYNOD's envelope `data` (an object or a one-element list), or a refusal in either shape.
pub fn parse_token_response(http_status: u16, body: &[u8]) -> Result<TokenGrant, TokenError> {
    let fields = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => fields,
        _ if http_status >= 400 => return Err(refused(format!("HTTP {http_status}"), "")),
        Ok(_) => return Err(malformed("objet JSON attendu")),
        Err(e) => return Err(malformed(e.to_string())),
    };
    // RFC 6749 §5.2.
    if let Some(error) = fields.get("error").and_then(Value::as_str) {
        let description = fields
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(refused(error, description));
    }
    if fields.contains_key("access_token") {
        if !(200..300).contains(&http_status) {
            return Err(malformed(format!("jeton reçu avec HTTP {http_status}")));
        }
        return grant(&fields);
    }
    match parse_envelope(http_status, body).map_err(|e| malformed(e.to_string()))? {
        EnvelopeOutcome::Success { data, .. } => match data {
            Value::Object(fields) => grant(&fields),
            Value::Array(mut items) if items.len() == 1 => match items.remove(0) {
                Value::Object(fields) => grant(&fields),
                _ => Err(malformed("data: objet attendu")),
            },
            _ => Err(malformed("data: objet attendu")),
        },
        EnvelopeOutcome::Failure(failure) => {
            Err(refused(failure.code.number().to_string(), failure.message))
        }
    }
}

fn grant(fields: &Map<String, Value>) -> Result<TokenGrant, TokenError> {
    let access_token = fields
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| (0x21..=0x7e).contains(&b)))
        .ok_or_else(|| malformed("access_token absent ou non imprimable"))?;
    match fields.get("token_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(other) => return Err(malformed(format!("token_type {other} non pris en charge"))),
    }
    let expires_in_secs = match fields.get("expires_in") {
        None | Some(Value::Null) => DEFAULT_TOKEN_LIFETIME_SECS,
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| malformed(format!("expires_in {n}")))?,
        // Some servers quote it.
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| malformed(format!("expires_in {s:?}")))?,
        Some(other) => return Err(malformed(format!("expires_in {other}"))),
    };
    Ok(TokenGrant {
        access_token: access_token.to_string(),
        expires_in_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(token: &str, secs: u64) -> Result<TokenGrant, TokenError> {
        Ok(TokenGrant {
            access_token: token.into(),
            expires_in_secs: secs,
        })
    }

    #[test]
    fn accepts_the_envelope_and_the_plain_rfc_6749_shape() {
        for body in [
            &br#"{"success":true,"code":200,"message":"ok","data":{"access_token":"cyn_1","token_type":"Bearer","expires_in":3600}}"#[..],
            br#"{"success":true,"code":"200","data":[{"access_token":"cyn_1","token_type":"bearer","expires_in":3600}]}"#,
            br#"{"access_token":"cyn_1","token_type":"Bearer","expires_in":3600}"#,
            br#"{"access_token":"cyn_1","token_type":"Bearer","expires_in":"3600","scope":"x"}"#,
        ] {
            assert_eq!(parse_token_response(200, body), grant("cyn_1", 3600));
        }
        assert_eq!(
            parse_token_response(200, br#"{"access_token":"cyn_2"}"#),
            grant("cyn_2", DEFAULT_TOKEN_LIFETIME_SECS)
        );
    }

    #[test]
    fn refusals_in_either_shape_are_refusals() {
        assert_eq!(
            parse_token_response(
                401,
                br#"{"error":"invalid_client","error_description":"unknown client"}"#
            ),
            Err(refused("invalid_client", "unknown client"))
        );
        assert_eq!(
            parse_token_response(
                401,
                br#"{"success":false,"code":"401","message":"Identifiants partenaire invalides"}"#
            ),
            Err(refused("401", "Identifiants partenaire invalides"))
        );
        assert_eq!(
            parse_token_response(404, b"<html>Not Found</html>"),
            Err(refused("HTTP 404", ""))
        );
    }

    #[test]
    fn anything_else_is_unreadable_never_a_token() {
        for (status, body) in [
            (200, &b"<html>"[..]),
            (200, b"[]"),
            (200, br#"{"access_token":""}"#),
            (200, br#"{"access_token":"a b"}"#),
            (200, br#"{"access_token":"a\r\nX-Evil: 1"}"#),
            (200, br#"{"access_token":42}"#),
            (200, br#"{"access_token":"t","token_type":"mac"}"#),
            (200, br#"{"access_token":"t","expires_in":-5}"#),
            (200, br#"{"access_token":"t","expires_in":"soon"}"#),
            (500, br#"{"access_token":"t"}"#),
            // An envelope's success with an informational 1xx status is no success.
            (199, br#"{"access_token":"t"}"#),
            (
                100,
                br#"{"success":true,"code":200,"data":{"access_token":"t"}}"#,
            ),
            (200, br#"{"success":true,"code":200,"data":null}"#),
            (
                200,
                br#"{"success":true,"code":200,"data":[{"a":1},{"b":2}]}"#,
            ),
            (200, br#"{"unrelated":true}"#),
        ] {
            assert!(
                matches!(
                    parse_token_response(status, body),
                    Err(TokenError::Malformed(_))
                ),
                "{status} {}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            parse_token_response(200, b"{}")
                .unwrap_err()
                .to_problem()
                .code,
            ErrorCode::UpstreamError
        );
    }
}
