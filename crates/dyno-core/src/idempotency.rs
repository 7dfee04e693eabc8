//! `Idempotency-Key` rules: what a valid key is and how a request is fingerprinted, so the same key
//! with a different request can be told apart. Invariant: the fingerprint covers method, path and
//! the exact body bytes.

use sha2::{Digest, Sha256};

use crate::problem::{ErrorCode, Problem};

/// A key is 1–255 printable ASCII characters (UUIDs recommended).
pub fn validate_key(key: &str) -> Result<(), Problem> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(Problem::new(
            ErrorCode::InvalidRequest,
            "Idempotency-Key: 1 à 255 caractères ASCII imprimables.",
        ))
    }
}

/// Hex SHA-256 of `method \n path \n body`.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_fingerprints() {
        assert!(validate_key("6f1c0c52-0f6e-4d61-9b7e-1c2b3a4d5e6f").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
        let a = fingerprint("POST", "/api/v1/pos/payments/scan", b"{\"amount\":1}");
        assert_eq!(
            a,
            fingerprint("POST", "/api/v1/pos/payments/scan", b"{\"amount\":1}")
        );
        assert_ne!(
            a,
            fingerprint("POST", "/api/v1/pos/payments/scan", b"{\"amount\":2}")
        );
        assert_ne!(
            a,
            fingerprint("POST", "/api/v1/pos/payments/initiate", b"{\"amount\":1}")
        );
    }
}
