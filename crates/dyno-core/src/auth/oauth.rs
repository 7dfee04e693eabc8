//! The OAuth2 client-credentials token request (RFC 6749 §4.4), accepted as the seed's JSON body,
//! as `application/x-www-form-urlencoded`, and with HTTP Basic client authentication (§2.3.1).
//! Invariant: every malformed request maps to exactly one RFC 6749 error, never to a 5xx.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::{ErrorCode, Problem};

/// Longest client_id accepted; registry ids are far shorter.
pub const MAX_CLIENT_ID_LEN: usize = 128;
pub const MAX_SECRET_LEN: usize = 256;

/// The scope a token gets when the request names none: least privilege.
pub const DEFAULT_SCOPE: &str = "payments";
/// Every scope the gateway knows.
pub const KNOWN_SCOPES: &[&str] = &["payments", "cards:write"];

/// An RFC 6749 §5.2 error with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            status: 400,
            error: "invalid_request",
            description: description.into(),
        }
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self {
            status: 401,
            error: "invalid_client",
            description: description.into(),
        }
    }

    pub fn unsupported_grant_type(grant: &str) -> Self {
        Self {
            status: 400,
            error: "unsupported_grant_type",
            description: format!(
                "grant_type « {grant} » non pris en charge: utilisez client_credentials"
            ),
        }
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self {
            status: 400,
            error: "invalid_scope",
            description: description.into(),
        }
    }
}

/// A well-formed client-credentials request, not yet authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub client_id: String,
    pub client_secret: String,
    /// `None` when the request named no scope.
    pub scope: Option<String>,
    /// Whether the client authenticated with HTTP Basic (the 401 then names that scheme).
    pub used_basic: bool,
}

/// Parses a token request. `media_type` is the lower-cased Content-Type without parameters.
pub fn parse_token_request(
    media_type: Option<&str>,
    body: &[u8],
    authorization: Option<&str>,
) -> Result<TokenRequest, OAuthError> {
    let params = body_params(media_type, body)?;
    let grant = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type manquant"))?;
    if grant != "client_credentials" {
        return Err(OAuthError::unsupported_grant_type(grant));
    }
    let credentials = client_credentials(&params, authorization)?;
    let scope = params
        .get("scope")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    Ok(TokenRequest {
        client_id: credentials.client_id,
        client_secret: credentials.client_secret,
        scope,
        used_basic: credentials.used_basic,
    })
}

/// A client's own credentials (RFC 6749 §2.3.1), well formed but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
    /// Whether they came in HTTP Basic (the 401 then names that scheme).
    pub used_basic: bool,
}

/// The client authentication of a request to the token or the revocation endpoint: HTTP Basic, or
/// `client_id` and `client_secret` in the body, never both.
fn client_credentials(
    params: &HashMap<String, String>,
    authorization: Option<&str>,
) -> Result<ClientCredentials, OAuthError> {
    let basic = authorization
        .map(|h| h.trim())
        .filter(|h| h.len() > 6 && h[..6].eq_ignore_ascii_case("basic "))
        .map(|h| parse_basic(&h[6..]))
        .transpose()?;
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let (client_id, client_secret, used_basic) = match (basic, body_id, body_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "une seule méthode d'authentification client est permise (Basic ou corps)",
            ))
        }
        (Some((id, secret)), None, None) => (id, secret, true),
        (None, Some(id), secret) => (
            id.clone(),
            secret
                .cloned()
                .ok_or_else(|| OAuthError::invalid_client("client_secret manquant"))?,
            false,
        ),
        (None, None, _) => {
            return Err(OAuthError::invalid_client(
                "authentification client absente",
            ))
        }
    };
    validate_client_id(&client_id)?;
    if client_secret.is_empty() || client_secret.len() > MAX_SECRET_LEN {
        return Err(OAuthError::invalid_client("client_secret invalide"));
    }
    Ok(ClientCredentials {
        client_id,
        client_secret,
        used_basic,
    })
}

/// An RFC 7009 revocation request authenticated with the client's own credentials (§2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRequest {
    pub token: String,
    pub client: ClientCredentials,
}

/// Parses a revocation request that carries client credentials: the form of RFC 7009 §2.1 (or
/// the same members as JSON), with HTTP Basic or `client_id`/`client_secret` in the body.
/// `token_type_hint` is accepted and ignored, as §2.1 allows.
pub fn parse_revocation_request(
    media_type: Option<&str>,
    body: &[u8],
    authorization: Option<&str>,
) -> Result<RevocationRequest, OAuthError> {
    let params = body_params(media_type, body)?;
    let client = client_credentials(&params, authorization)?;
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .cloned()
        .ok_or_else(|| OAuthError::invalid_request("paramètre token manquant"))?;
    Ok(RevocationRequest { token, client })
}

/// The `token` of a revocation request whose client authenticated with a Bearer of its own:
/// the same body, with the API's problem codes (the Bearer path answers problem+json).
pub fn revocation_token(media_type: Option<&str>, body: &[u8]) -> Result<String, Problem> {
    if !matches!(
        media_type,
        Some("application/json" | "application/x-www-form-urlencoded")
    ) {
        return Err(Problem::new(
            ErrorCode::UnsupportedMediaType,
            "Content-Type doit être application/x-www-form-urlencoded ou application/json.",
        ));
    }
    let params = body_params(media_type, body)
        .map_err(|e| Problem::new(ErrorCode::InvalidRequest, e.description))?;
    params
        .get("token")
        .filter(|t| !t.is_empty())
        .cloned()
        .ok_or_else(|| Problem::new(ErrorCode::InvalidRequest, "Paramètre token manquant."))
}

/// The members of a JSON or form body. `media_type` is lower-cased, without parameters.
fn body_params(
    media_type: Option<&str>,
    body: &[u8],
) -> Result<HashMap<String, String>, OAuthError> {
    match media_type {
        Some("application/json") => json_params(body),
        Some("application/x-www-form-urlencoded") => form_params(body),
        Some(other) => Err(OAuthError::invalid_request(format!(
            "Content-Type {other} non pris en charge: application/json ou application/x-www-form-urlencoded"
        ))),
        None => Err(OAuthError::invalid_request("Content-Type manquant")),
    }
}

fn validate_client_id(client_id: &str) -> Result<(), OAuthError> {
    if client_id.is_empty() {
        return Err(OAuthError::invalid_request("client_id vide"));
    }
    if client_id.len() > MAX_CLIENT_ID_LEN {
        return Err(OAuthError::invalid_request(format!(
            "client_id trop long ({} caractères, maximum {MAX_CLIENT_ID_LEN})",
            client_id.chars().count()
        )));
    }
    if client_id.chars().any(|c| c.is_control()) {
        return Err(OAuthError::invalid_request(
            "client_id contient des caractères de contrôle",
        ));
    }
    Ok(())
}

/// The parameters both endpoints define (RFC 6749 §4.4 and §2.3.1, RFC 7009 §2.1); any other is
/// ignored (RFC 6749 §3.2).
const KNOWN_PARAMS: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "token",
    "token_type_hint",
];
/// The known parameters that may be `null` in JSON, as if absent (the others must be strings).
const NULLABLE_PARAMS: &[&str] = &["scope", "token_type_hint"];

/// JSON object with string members; unknown members are ignored (RFC 6749 §3.2).
fn json_params(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| OAuthError::invalid_request(format!("JSON invalide: {e}")))?;
    let Value::Object(map) = value else {
        return Err(OAuthError::invalid_request(
            "le corps doit être un objet JSON",
        ));
    };
    let mut params = HashMap::new();
    for (key, value) in map {
        match value {
            Value::String(s) => {
                params.insert(key, s);
            }
            Value::Null if NULLABLE_PARAMS.contains(&key.as_str()) => {}
            _ if KNOWN_PARAMS.contains(&key.as_str()) => {
                return Err(OAuthError::invalid_request(format!(
                    "{key} doit être une chaîne"
                )));
            }
            _ => {}
        }
    }
    Ok(params)
}

/// Form parameters; a known parameter given twice is an error (RFC 6749 §3.1), an unknown one is
/// ignored like any unknown parameter.
fn form_params(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("corps de formulaire invalide"))?;
    let mut params = HashMap::new();
    for (key, value) in pairs {
        if !KNOWN_PARAMS.contains(&key.as_str()) {
            continue;
        }
        if params.insert(key.clone(), value).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "paramètre {key} répété"
            )));
        }
    }
    Ok(params)
}

/// `base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(encoded: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("en-tête Authorization Basic illisible");
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| -> Result<String, OAuthError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&format!("v={s}")).map_err(|_| bad())?;
        Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
    };
    Ok((decode(id)?, decode(secret)?))
}

/// The scope to grant: the request's (each must be known and allowed to the client) or the default.
pub fn grant_scope(requested: Option<&str>, allowed: &str) -> Result<String, OAuthError> {
    let allowed: Vec<&str> = allowed.split_whitespace().collect();
    let Some(requested) = requested else {
        return if allowed.contains(&DEFAULT_SCOPE) {
            Ok(DEFAULT_SCOPE.to_string())
        } else {
            Err(OAuthError::invalid_scope(
                "aucun scope par défaut pour ce client",
            ))
        };
    };
    let mut granted: Vec<&str> = Vec::new();
    for scope in requested.split_whitespace() {
        if !KNOWN_SCOPES.contains(&scope) {
            return Err(OAuthError::invalid_scope(format!("scope inconnu: {scope}")));
        }
        if !allowed.contains(&scope) {
            return Err(OAuthError::invalid_scope(format!(
                "scope non autorisé pour ce client: {scope}"
            )));
        }
        if !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    Ok(granted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&str> = Some("application/json");
    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn accepts_the_seed_json_body() {
        let body = br#"{"grant_type":"client_credentials","client_id":"pos_client_abc123","client_secret":"s3cr3t_xyz"}"#;
        let request = parse_token_request(JSON, body, None).unwrap();
        assert_eq!(request.client_id, "pos_client_abc123");
        assert_eq!(request.client_secret, "s3cr3t_xyz");
        assert_eq!(request.scope, None);
        assert!(!request.used_basic);
    }

    #[test]
    fn accepts_form_and_basic() {
        let form =
            b"grant_type=client_credentials&client_id=pos_a&client_secret=s%26x&scope=payments";
        let request = parse_token_request(FORM, form, None).unwrap();
        assert_eq!(request.client_secret, "s&x");
        assert_eq!(request.scope.as_deref(), Some("payments"));
        let request = parse_token_request(
            FORM,
            b"grant_type=client_credentials",
            Some(&basic("pos_a", "s%3Ax")),
        )
        .unwrap();
        assert_eq!(
            (
                request.client_id.as_str(),
                request.client_secret.as_str(),
                request.used_basic
            ),
            ("pos_a", "s:x", true)
        );
    }

    #[test]
    fn revocation_takes_the_clients_own_credentials_as_rfc_7009_sends_them() {
        // Basic, with the form body of RFC 7009 §2.1.
        let request = parse_revocation_request(
            FORM,
            b"token=eyJ.a.b&token_type_hint=access_token",
            Some(&basic("pos_a", "s%3Ax")),
        )
        .unwrap();
        assert_eq!(request.token, "eyJ.a.b");
        assert_eq!(
            request.client,
            ClientCredentials {
                client_id: "pos_a".into(),
                client_secret: "s:x".into(),
                used_basic: true
            }
        );
        // The credentials in the form.
        let request =
            parse_revocation_request(FORM, b"token=t&client_id=pos_a&client_secret=s%26x", None)
                .unwrap();
        assert_eq!(
            (
                request.token.as_str(),
                request.client.client_secret.as_str()
            ),
            ("t", "s&x")
        );
        assert!(!request.client.used_basic);
        // And the same members as JSON.
        let request = parse_revocation_request(
            JSON,
            br#"{"token":"t","client_id":"pos_a","client_secret":"x"}"#,
            None,
        )
        .unwrap();
        assert_eq!(request.client.client_id, "pos_a");
    }

    #[test]
    fn revocation_without_token_or_credentials_gets_its_rfc_error() {
        let err = |media: Option<&str>, body: &[u8], auth: Option<&str>| {
            parse_revocation_request(media, body, auth).unwrap_err()
        };
        let e = err(FORM, b"client_id=a&client_secret=b", None);
        assert_eq!((e.status, e.error), (400, "invalid_request"));
        let e = err(FORM, b"token=", Some(&basic("a", "b")));
        assert_eq!((e.status, e.error), (400, "invalid_request"));
        let e = err(FORM, b"token=t", None);
        assert_eq!((e.status, e.error), (401, "invalid_client"));
        let e = err(FORM, b"token=t&client_id=a", None);
        assert_eq!((e.status, e.error), (401, "invalid_client"));
        let e = err(FORM, b"token=t&client_id=a", Some(&basic("a", "b")));
        assert_eq!((e.status, e.error), (400, "invalid_request"));
        let e = err(FORM, b"token=t&token=u", Some(&basic("a", "b")));
        assert_eq!((e.status, e.error), (400, "invalid_request"));
        let e = err(Some("text/plain"), b"token=t", Some(&basic("a", "b")));
        assert_eq!((e.status, e.error), (400, "invalid_request"));
        let e = err(JSON, br#"{"token":5}"#, Some(&basic("a", "b")));
        assert_eq!((e.status, e.error), (400, "invalid_request"));
    }

    #[test]
    fn unknown_parameters_are_ignored_even_repeated_known_ones_are_typed() {
        let request = parse_revocation_request(
            FORM,
            b"x=1&x=2&=3&=4&token=t&client_id=a&client_secret=b",
            None,
        )
        .unwrap();
        assert_eq!(request.token, "t");
        // A known member must be a string; only scope and token_type_hint may be null.
        let e = parse_revocation_request(
            JSON,
            br#"{"token":"t","client_id":"a","client_secret":null}"#,
            None,
        )
        .unwrap_err();
        assert_eq!((e.status, e.error), (400, "invalid_request"));
        let e = revocation_token(JSON, br#"{"token":"t","token_type_hint":5}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(
            revocation_token(JSON, br#"{"token":"t","token_type_hint":null,"extra":[1]}"#)
                .as_deref(),
            Ok("t")
        );
    }

    #[test]
    fn a_bearer_revocation_names_its_token_or_gets_a_problem() {
        assert_eq!(
            revocation_token(FORM, b"token=t&token_type_hint=x").as_deref(),
            Ok("t")
        );
        assert_eq!(
            revocation_token(JSON, br#"{"token":"t"}"#).as_deref(),
            Ok("t")
        );
        let code = |media, body: &[u8]| revocation_token(media, body).unwrap_err().code;
        assert_eq!(
            code(Some("text/plain"), b"token=t"),
            ErrorCode::UnsupportedMediaType
        );
        assert_eq!(code(None, b"token=t"), ErrorCode::UnsupportedMediaType);
        assert_eq!(code(FORM, b"token="), ErrorCode::InvalidRequest);
        assert_eq!(code(JSON, br#"{"token":1}"#), ErrorCode::InvalidRequest);
        assert_eq!(code(JSON, b"[]"), ErrorCode::InvalidRequest);
    }

    #[test]
    fn maps_every_bad_request_to_its_rfc_error() {
        let err = |media: Option<&str>, body: &[u8], auth: Option<&str>| {
            parse_token_request(media, body, auth).unwrap_err().error
        };
        assert_eq!(err(Some("text/plain"), b"x", None), "invalid_request");
        assert_eq!(err(None, b"{}", None), "invalid_request");
        assert_eq!(err(JSON, b"{not json", None), "invalid_request");
        assert_eq!(err(JSON, b"[]", None), "invalid_request");
        assert_eq!(
            err(JSON, br#"{"client_id":"a","client_secret":"b"}"#, None),
            "invalid_request"
        );
        assert_eq!(
            err(
                JSON,
                br#"{"grant_type":"password","client_id":"a","client_secret":"b"}"#,
                None
            ),
            "unsupported_grant_type"
        );
        assert_eq!(
            err(
                JSON,
                br#"{"grant_type":"client_credentials","client_id":"","client_secret":"b"}"#,
                None
            ),
            "invalid_request"
        );
        let long = format!(
            r#"{{"grant_type":"client_credentials","client_id":"{}","client_secret":"b"}}"#,
            "x".repeat(10_240)
        );
        assert_eq!(err(JSON, long.as_bytes(), None), "invalid_request");
        assert_eq!(
            err(
                JSON,
                br#"{"grant_type":"client_credentials","client_id":5,"client_secret":"b"}"#,
                None
            ),
            "invalid_request"
        );
        assert_eq!(
            err(JSON, br#"{"grant_type":"client_credentials"}"#, None),
            "invalid_client"
        );
        assert_eq!(
            err(
                JSON,
                br#"{"grant_type":"client_credentials","client_id":"a"}"#,
                None
            ),
            "invalid_client"
        );
        assert_eq!(
            err(
                FORM,
                b"grant_type=client_credentials&client_id=a&client_id=b&client_secret=c",
                None
            ),
            "invalid_request"
        );
        assert_eq!(
            err(
                JSON,
                br#"{"grant_type":"client_credentials","client_id":"a","client_secret":"b"}"#,
                Some(&basic("a", "b"))
            ),
            "invalid_request"
        );
        assert_eq!(
            err(FORM, b"grant_type=client_credentials", Some("Basic !!!")),
            "invalid_client"
        );
        let status = parse_token_request(JSON, br#"{"grant_type":"client_credentials"}"#, None)
            .unwrap_err()
            .status;
        assert_eq!(status, 401);
    }

    #[test]
    fn scopes_are_least_privilege_and_bounded() {
        assert_eq!(
            grant_scope(None, "payments cards:write").unwrap(),
            "payments"
        );
        assert_eq!(
            grant_scope(
                Some("cards:write payments payments"),
                "payments cards:write"
            )
            .unwrap(),
            "cards:write payments"
        );
        assert_eq!(
            grant_scope(Some("cards:write"), "payments")
                .unwrap_err()
                .error,
            "invalid_scope"
        );
        assert_eq!(
            grant_scope(Some("admin"), "payments").unwrap_err().error,
            "invalid_scope"
        );
        assert_eq!(
            grant_scope(None, "cards:write").unwrap_err().error,
            "invalid_scope"
        );
    }
}
