//! Access tokens: HS256 JWTs (jwt-compact) signed with a key ring, and their verification.
//! Invariant: only HS256 with a known `kid`, the expected issuer and audience, and valid time
//! claims is ever accepted; `none` and every other algorithm are refused before any key is used.

use chrono::Duration;
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, UntrustedToken, ValidationError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::time::Millis;

/// Lifetime of a POS access token (the seed's `expires_in`).
pub const POS_TOKEN_TTL_SECONDS: i64 = 3600;
/// Lifetime of an employee wallet token.
pub const WALLET_TOKEN_TTL_SECONDS: i64 = 900;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 5;

/// Who a token is for. Each audience is a distinct `aud` value, so a wallet token can never pass
/// the POS check or the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Pos,
    Wallet,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Pos => "dyno-pos",
            Audience::Wallet => "dyno-wallet",
        }
    }
}

/// The claims DESIGN.md lists, beyond the standard `iat`/`exp`/`nbf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// POS: the client_id. Wallet: the wallet id.
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    /// Space-separated scopes (RFC 6749 §3.3).
    pub scope: String,
    pub sandbox: bool,
    pub jti: String,
    /// The client's token generation when issued; an admin "revoke all" moves the generation on.
    #[serde(default)]
    pub gen: u64,
}

impl AccessClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// A verified token: its claims plus the standard time claims as plain instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub claims: AccessClaims,
    pub issued_at: Millis,
    pub expires_at: Millis,
}

/// Why a token was refused. All of these are answered 401 `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    #[error("jeton mal formé")]
    Malformed,
    #[error("algorithme {0} refusé: seul HS256 est accepté")]
    UnsupportedAlgorithm(String),
    #[error("clé de signature inconnue")]
    UnknownKeyId,
    #[error("signature invalide")]
    BadSignature,
    #[error("jeton expiré")]
    Expired,
    #[error("jeton pas encore valide")]
    NotYetValid,
    #[error("émetteur inattendu")]
    WrongIssuer,
    #[error("audience inattendue")]
    WrongAudience,
    #[error("jeton sans date d'émission ou d'expiration")]
    MissingTimeClaims,
}

impl TokenError {
    /// A short reason for the `WWW-Authenticate` challenge, whose `error_description` RFC 6750
    /// restricts to printable ASCII.
    pub fn ascii_reason(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed token",
            TokenError::UnsupportedAlgorithm(_) => "unsupported algorithm",
            TokenError::UnknownKeyId => "unknown key id",
            TokenError::BadSignature => "bad signature",
            TokenError::Expired => "token expired",
            TokenError::NotYetValid => "token not yet valid",
            TokenError::WrongIssuer => "wrong issuer",
            TokenError::WrongAudience => "wrong audience",
            TokenError::MissingTimeClaims => "missing time claims",
        }
    }
}

/// Signing keys by `kid`. The first key signs; every key verifies, so a rotation keeps tokens
/// signed with the previous key valid until they expire.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<(String, Hs256Key)>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "KeyRing({kids:?})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyRingError {
    #[error("JWT_KEYS est vide")]
    Empty,
    #[error("entrée JWT_KEYS invalide: attendu kid:hex")]
    BadEntry,
    #[error("clé {0} trop courte: 32 octets minimum")]
    ShortKey(String),
}

impl KeyRing {
    /// Parses `kid:hexkey[,kid:hexkey…]`; the first entry is the signing key.
    pub fn parse(text: &str) -> Result<Self, KeyRingError> {
        let mut keys = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, hex_key) = entry.split_once(':').ok_or(KeyRingError::BadEntry)?;
            let bytes = hex::decode(hex_key.trim()).map_err(|_| KeyRingError::BadEntry)?;
            if bytes.len() < 32 {
                return Err(KeyRingError::ShortKey(kid.to_string()));
            }
            keys.push((kid.trim().to_string(), Hs256Key::new(bytes)));
        }
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(Self { keys })
    }

    fn current(&self) -> &(String, Hs256Key) {
        &self.keys[0]
    }

    fn key(&self, kid: &str) -> Option<&Hs256Key> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
    }

    /// Signs `claims` for `ttl_seconds` from `now`.
    pub fn issue(&self, claims: AccessClaims, now: Millis, ttl_seconds: i64) -> String {
        let (kid, key) = self.current();
        let header = Header::empty()
            .with_key_id(kid.clone())
            .with_token_type("JWT");
        let now_dt = Millis::from_secs(now.secs()).to_datetime();
        let options = TimeOptions::new(Duration::seconds(LEEWAY_SECONDS), move || now_dt);
        let claims =
            Claims::new(claims).set_duration_and_issuance(&options, Duration::seconds(ttl_seconds));
        // Serialising our own plain structs cannot fail.
        Hs256.token(&header, &claims, key).unwrap_or_default()
    }

    /// Verifies a token for `audience` from `issuer` at `now`.
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: Audience,
        now: Millis,
    ) -> Result<VerifiedToken, TokenError> {
        let untrusted = UntrustedToken::new(token).map_err(|_| TokenError::Malformed)?;
        // Checked before any key is touched: this is what defeats `alg:none` and algorithm confusion.
        if untrusted.algorithm() != "HS256" {
            return Err(TokenError::UnsupportedAlgorithm(
                untrusted.algorithm().to_string(),
            ));
        }
        let kid = untrusted
            .header()
            .key_id
            .as_deref()
            .ok_or(TokenError::UnknownKeyId)?;
        let key = self.key(kid).ok_or(TokenError::UnknownKeyId)?;
        let token = Hs256
            .validator::<AccessClaims>(key)
            .validate(&untrusted)
            .map_err(|e| match e {
                ValidationError::InvalidSignature | ValidationError::InvalidSignatureLen { .. } => {
                    TokenError::BadSignature
                }
                ValidationError::AlgorithmMismatch { actual, .. } => {
                    TokenError::UnsupportedAlgorithm(actual)
                }
                _ => TokenError::Malformed,
            })?;
        let claims = token.claims();
        let now_dt = now.to_datetime();
        let options = TimeOptions::new(Duration::seconds(LEEWAY_SECONDS), move || now_dt);
        claims.validate_expiration(&options).map_err(|e| match e {
            ValidationError::Expired => TokenError::Expired,
            _ => TokenError::MissingTimeClaims,
        })?;
        if claims.not_before.is_some() {
            claims
                .validate_maturity(&options)
                .map_err(|_| TokenError::NotYetValid)?;
        }
        let issued_at = claims.issued_at.ok_or(TokenError::MissingTimeClaims)?;
        let expires_at = claims.expiration.ok_or(TokenError::MissingTimeClaims)?;
        if claims.custom.iss != issuer {
            return Err(TokenError::WrongIssuer);
        }
        if claims.custom.aud != audience.as_str() {
            return Err(TokenError::WrongAudience);
        }
        Ok(VerifiedToken {
            claims: claims.custom.clone(),
            issued_at: Millis(issued_at.timestamp_millis()),
            expires_at: Millis(expires_at.timestamp_millis()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const ISS: &str = "https://sandbox.dyno-motiva.com";
    const KEY_A: &str = "0101010101010101010101010101010101010101010101010101010101010101";
    const KEY_B: &str = "0202020202020202020202020202020202020202020202020202020202020202";

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: ISS.into(),
            aud: Audience::Pos.as_str().into(),
            sub: "pos_client_abc123".into(),
            merchant_id: Some("DEMO-CAFETERIA".into()),
            scope: "payments".into(),
            sandbox: true,
            jti: "jti-1".into(),
            gen: 0,
        }
    }

    fn now() -> Millis {
        Millis::parse_rfc3339("2026-06-05T10:30:00Z").unwrap()
    }

    fn ring(text: &str) -> KeyRing {
        KeyRing::parse(text).unwrap()
    }

    #[test]
    fn issues_and_verifies_with_the_design_claims() {
        let ring = ring(&format!("k1:{KEY_A}"));
        let token = ring.issue(claims(), now(), POS_TOKEN_TTL_SECONDS);
        let header = URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap();
        let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["kid"], "k1");
        let verified = ring.verify(&token, ISS, Audience::Pos, now()).unwrap();
        assert_eq!(verified.claims, claims());
        assert_eq!(verified.expires_at.0 - verified.issued_at.0, 3_600_000);
        assert!(verified.claims.has_scope("payments"));
        assert!(!verified.claims.has_scope("pay"));
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_unknown_kids_fail() {
        let old = ring(&format!("k1:{KEY_A}"));
        let token = old.issue(claims(), now(), 3600);
        let rotated = ring(&format!("k2:{KEY_B},k1:{KEY_A}"));
        assert!(rotated.verify(&token, ISS, Audience::Pos, now()).is_ok());
        let new_token = rotated.issue(claims(), now(), 3600);
        assert!(new_token.starts_with(&token[..10]) || !new_token.is_empty());
        assert_eq!(
            old.verify(&new_token, ISS, Audience::Pos, now()),
            Err(TokenError::UnknownKeyId)
        );
        let retired = ring(&format!("k2:{KEY_B}"));
        assert_eq!(
            retired.verify(&token, ISS, Audience::Pos, now()),
            Err(TokenError::UnknownKeyId)
        );
    }

    #[test]
    fn time_claims_are_enforced_with_leeway() {
        let ring = ring(&format!("k1:{KEY_A}"));
        let token = ring.issue(claims(), now(), 3600);
        assert!(ring
            .verify(&token, ISS, Audience::Pos, now().plus_ms(3_600_000 + 4_000))
            .is_ok());
        assert_eq!(
            ring.verify(&token, ISS, Audience::Pos, now().plus_ms(3_600_000 + 6_000)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn issuer_and_audience_separate_environments_and_apps() {
        let ring = ring(&format!("k1:{KEY_A}"));
        let token = ring.issue(claims(), now(), 3600);
        assert_eq!(
            ring.verify(&token, "https://api.dyno-motiva.com", Audience::Pos, now()),
            Err(TokenError::WrongIssuer)
        );
        assert_eq!(
            ring.verify(&token, ISS, Audience::Wallet, now()),
            Err(TokenError::WrongAudience)
        );
    }

    fn forge(header: &str, payload: &serde_json::Value, signature: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap()),
            signature
        )
    }

    #[test]
    fn alg_none_confusion_and_tampering_are_refused() {
        let ring = ring(&format!("k1:{KEY_A}"));
        let payload = serde_json::json!({
            "iss": ISS, "aud": "dyno-pos", "sub": "x", "scope": "payments", "sandbox": true,
            "jti": "j", "iat": now().secs(), "exp": now().secs() + 60
        });
        let none = forge(r#"{"alg":"none","kid":"k1"}"#, &payload, "");
        assert!(matches!(
            ring.verify(&none, ISS, Audience::Pos, now()),
            Err(TokenError::UnsupportedAlgorithm(_)) | Err(TokenError::Malformed)
        ));
        let hs512 = forge(r#"{"alg":"HS512","kid":"k1"}"#, &payload, "AAAA");
        assert_eq!(
            ring.verify(&hs512, ISS, Audience::Pos, now()),
            Err(TokenError::UnsupportedAlgorithm("HS512".into()))
        );
        let rs256 = forge(r#"{"alg":"RS256","kid":"k1"}"#, &payload, "AAAA");
        assert!(matches!(
            ring.verify(&rs256, ISS, Audience::Pos, now()),
            Err(TokenError::UnsupportedAlgorithm(_))
        ));

        let genuine = ring.issue(claims(), now(), 3600);
        let mut parts: Vec<String> = genuine.split('.').map(str::to_string).collect();
        let mut body: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        body["scope"] = "payments cards:write".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap());
        assert_eq!(
            ring.verify(&parts.join("."), ISS, Audience::Pos, now()),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            ring.verify("not.a.jwt", ISS, Audience::Pos, now()),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            ring.verify("", ISS, Audience::Pos, now()),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn future_nbf_is_refused() {
        let ring = ring(&format!("k1:{KEY_A}"));
        let (kid, key) = ring.current();
        let header = Header::empty().with_key_id(kid.clone());
        let mut c = Claims::new(claims());
        c.issued_at = Some(now().to_datetime());
        c.expiration = Some(now().plus_ms(3_600_000).to_datetime());
        c.not_before = Some(now().plus_ms(600_000).to_datetime());
        let token = Hs256.token(&header, &c, key).unwrap();
        assert_eq!(
            ring.verify(&token, ISS, Audience::Pos, now()),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn key_ring_parsing_rejects_weak_or_malformed_keys() {
        assert!(matches!(KeyRing::parse(""), Err(KeyRingError::Empty)));
        assert!(matches!(KeyRing::parse("k1"), Err(KeyRingError::BadEntry)));
        assert!(matches!(
            KeyRing::parse("k1:zz"),
            Err(KeyRingError::BadEntry)
        ));
        assert!(matches!(
            KeyRing::parse("k1:0102"),
            Err(KeyRingError::ShortKey(_))
        ));
        assert!(KeyRing::parse(&format!(" k1:{KEY_A} , k0:{KEY_B} ")).is_ok());
    }
}
