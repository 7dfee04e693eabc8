//! Identifiers: one type per kind of id (payment, client, sale reference, transaction, refund), each
//! with a `parse` at the edge, plus request ids, UUIDs and confirmation codes built from
//! platform-supplied random bytes. Invariant: the domain never draws randomness itself, and an id
//! that exists as one of these types has passed its `parse`.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::problem::{ErrorCode, Problem};

/// Defines a string id newtype: transparent on the wire, comparable, displayable.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A payment: the PPM payment request id, or the EPM QR's nonce. Always a lower-case UUID; it
    /// names the payment's Durable Object.
    PaymentId
);
string_id!(
    /// A POS client (`client_id` of the OAuth2 credentials).
    ClientId
);
string_id!(
    /// The POS's own reference for a sale: unique per client.
    PosReference
);
string_id!(
    /// The transaction id a POS sees for a sale (a UUID assigned when its reference is reserved).
    TransactionId
);
string_id!(
    /// A refund of a payment; derived from the client and its `Idempotency-Key` when there is one,
    /// so a retried refund is the same refund.
    RefundId
);

impl PaymentId {
    /// A canonical UUID, in either case; stored lower-case so one payment has one object.
    pub fn parse(text: &str) -> Option<Self> {
        parse_uuid(text).map(Self)
    }

    /// A fresh id from 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(uuid_v4(bytes))
    }
}

impl TransactionId {
    pub fn parse(text: &str) -> Option<Self> {
        parse_uuid(text).map(Self)
    }

    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(uuid_v4(bytes))
    }
}

impl RefundId {
    pub fn parse(text: &str) -> Option<Self> {
        parse_uuid(text).map(Self)
    }

    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(uuid_v4(bytes))
    }

    /// The refund an `Idempotency-Key` stands for: a name-based UUID of the client and the key, so
    /// the same request retried (even after its key was freed) names the same refund.
    pub fn for_key(client: &ClientId, key: &str) -> Self {
        Self(name_uuid(&["refund", client.as_str(), key]))
    }
}

impl ClientId {
    /// Client ids are what the registry issued: 1–64 characters of `[A-Za-z0-9_.-]`.
    pub fn parse(text: &str) -> Option<Self> {
        ((1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
        .then(|| Self(text.to_string()))
    }
}

impl PosReference {
    /// A sale's POS reference: 1 to 64 printable ASCII characters without spaces.
    pub fn parse(text: &str) -> Result<Self, Problem> {
        if (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(text.to_string()))
        } else {
            Err(Problem::new(
                ErrorCode::InvalidRequest,
                "pos_reference: 1 à 64 caractères imprimables, sans espace.",
            ))
        }
    }
}

/// A client-supplied `X-Request-Id` is echoed only if it is short and made of safe characters, so
/// it cannot inject anything into logs or headers.
pub fn is_acceptable_request_id(value: &str) -> bool {
    (8..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// 16 random bytes as a version-4 RFC 9562 UUID (lower-case, hyphenated).
pub fn uuid_v4(bytes: [u8; 16]) -> String {
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A name-based UUID: the same `parts` always give the same id, different parts (as a sequence)
/// never collide in practice. Used for ids that a retry must find again.
pub fn name_uuid(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hasher.finalize()[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A canonical hyphenated UUID (either case), lower-cased; `None` for anything else, including
/// the braced, URN and unhyphenated forms `Uuid::parse_str` would also take.
fn parse_uuid(text: &str) -> Option<String> {
    if text.len() != 36 {
        return None;
    }
    Uuid::parse_str(text)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// True for a canonical lower- or upper-case hyphenated UUID.
pub fn is_uuid(value: &str) -> bool {
    parse_uuid(value).is_some()
}

/// An 8-character confirmation code over A–Z and 0–9, from 32 random bytes by rejection sampling
/// (bytes ≥ 252 are skipped so every character is equally likely).
pub fn confirmation_code(random: [u8; 32]) -> String {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut code: String = random
        .iter()
        .filter(|&&b| b < 252)
        .take(8)
        .map(|&b| ALPHABET[(b % 36) as usize] as char)
        .collect();
    // 25 of 32 bytes would have to be ≥ 252 to get here (p < 1e-50); stay total anyway.
    for &b in random.iter().rev() {
        if code.len() == 8 {
            break;
        }
        code.push(ALPHABET[(b % 36) as usize] as char);
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant() {
        let id = uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(is_uuid(&id));
        assert!(!is_uuid("ffffffff-ffff-4fff-bfff-fffffffffff"));
        assert!(!is_uuid("{ffffffff-ffff-4fff-bfff-ffffffffffff}"));
        assert!(!is_uuid("ffffffffffff4fffbfffffffffffffffffff"));
    }

    #[test]
    fn payment_ids_are_lower_case_uuids() {
        let id = PaymentId::parse("7C9E6679-7425-40DE-944B-E07FC1F90AE7").unwrap();
        assert_eq!(id.as_str(), "7c9e6679-7425-40de-944b-e07fc1f90ae7");
        assert!(PaymentId::parse("not-a-uuid").is_none());
        assert!(PaymentId::parse("").is_none());
    }

    #[test]
    fn refund_ids_follow_the_client_and_key() {
        let a = ClientId::parse("pos_a").unwrap();
        let b = ClientId::parse("pos_b").unwrap();
        assert_eq!(RefundId::for_key(&a, "k1"), RefundId::for_key(&a, "k1"));
        assert_ne!(RefundId::for_key(&a, "k1"), RefundId::for_key(&a, "k2"));
        assert_ne!(RefundId::for_key(&a, "k1"), RefundId::for_key(&b, "k1"));
        // No ambiguity from concatenation.
        let ab = ClientId::parse("pos_ab").unwrap();
        assert_ne!(RefundId::for_key(&a, "bk"), RefundId::for_key(&ab, "k"));
        assert!(is_uuid(RefundId::for_key(&a, "k1").as_str()));
    }

    #[test]
    fn client_ids_and_references_are_checked() {
        assert!(ClientId::parse("pos_sandbox_demo").is_some());
        assert!(ClientId::parse("").is_none());
        assert!(ClientId::parse("a b").is_none());
        assert!(ClientId::parse(&"x".repeat(65)).is_none());
        assert!(PosReference::parse("CAISSE-01-TXN-20260604-001").is_ok());
        assert!(PosReference::parse("").is_err());
        assert!(PosReference::parse("has space").is_err());
        assert!(PosReference::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn confirmation_codes_are_eight_uppercase_alphanumerics() {
        for seed in 0u8..=255 {
            let code = confirmation_code([seed; 32]);
            assert_eq!(code.len(), 8);
            assert!(
                code.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                "{code}"
            );
        }
        let mut bytes = [0u8; 32];
        bytes.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        assert_eq!(confirmation_code(bytes), "ABCDEFGH");
    }

    #[test]
    fn request_ids_are_filtered() {
        assert!(is_acceptable_request_id("req_0123456789"));
        assert!(!is_acceptable_request_id("short"));
        assert!(!is_acceptable_request_id("bad\r\nheader-injection"));
        assert!(!is_acceptable_request_id(&"a".repeat(65)));
    }
}
