//! Client secrets and PINs at rest: `HMAC-SHA256(pepper, salt ‖ ":" ‖ secret)`, compared in
//! constant time. The pepper is a Worker secret, so a leaked database alone does not allow an
//! offline guess, not even of a 4-digit PIN. Invariant: the clear value is never stored.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Hex of `HMAC-SHA256(pepper, salt ":" secret)`.
pub fn hash_secret(pepper: &[u8], salt_hex: &str, secret: &str) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(pepper).expect("HMAC takes any key length");
    mac.update(salt_hex.as_bytes());
    mac.update(b":");
    mac.update(secret.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time check of `secret` against a stored salt and hash.
pub fn verify_secret(pepper: &[u8], salt_hex: &str, stored_hash_hex: &str, secret: &str) -> bool {
    let candidate = hash_secret(pepper, salt_hex, secret);
    constant_time_eq(candidate.as_bytes(), stored_hash_hex.as_bytes())
}

/// A client's stored secrets: the current one, and the one it replaced while its grace lasts.
#[derive(Debug, Clone, Copy)]
pub struct StoredSecrets<'a> {
    pub salt: &'a str,
    pub hash: &'a str,
    /// Salt, hash and the instant (ms) until which the previous secret is still accepted.
    pub previous: Option<(&'a str, &'a str, i64)>,
}

/// Whether `secret` is the client's current secret, or its previous one before `now_ms` passes
/// the end of its grace. `None` (an unknown client) costs the same hashing and is never accepted,
/// so timing does not tell which ids exist.
pub fn verify_client_secret(
    pepper: &[u8],
    stored: Option<StoredSecrets<'_>>,
    now_ms: i64,
    secret: &str,
) -> bool {
    let Some(stored) = stored else {
        let _ = hash_secret(pepper, "0000", secret);
        return false;
    };
    verify_secret(pepper, stored.salt, stored.hash, secret)
        || stored.previous.is_some_and(|(salt, hash, until_ms)| {
            now_ms < until_ms && verify_secret(pepper, salt, hash, secret)
        })
}

/// Salt and hash a PIN is compared with when the wallet id is not enrolled: the same shape as a
/// real pair (16-byte salt, SHA-256), so the comparison costs the same, and a hash no PIN has.
const UNENROLLED_SALT: &str = "00000000000000000000000000000000";
const UNENROLLED_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Checks a PIN against a wallet's stored `(salt, hash)`, or, for an id that is not enrolled,
/// against a stand-in pair that takes the same work and never matches: the time taken does not
/// tell whether the wallet exists.
pub fn verify_pin_or_stand_in(pepper: &[u8], stored: Option<(&str, &str)>, pin: &str) -> bool {
    let (salt, hash) = stored.unwrap_or((UNENROLLED_SALT, UNENROLLED_HASH));
    verify_secret(pepper, salt, hash, pin) && stored.is_some()
}

/// Equality in time independent of where the inputs differ (lengths are not secret here).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A new client secret from 32 random bytes: `dyno_sk_` + base64url, 256 bits of entropy.
pub fn format_client_secret(random: [u8; 32]) -> String {
    use base64::Engine;
    format!(
        "dyno_sk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    )
}

/// An employee wallet id: the phone number in international form, `+` and 7 to 15 digits.
pub fn validate_wallet_id(wallet_id: &str) -> Result<(), crate::Problem> {
    let ok = (8..=16).contains(&wallet_id.len())
        && wallet_id
            .strip_prefix('+')
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some(()).ok_or_else(|| {
        crate::Problem::new(
            crate::ErrorCode::InvalidRequest,
            "wallet_id: numéro au format +216XXXXXXXX.",
        )
    })
}

/// A wallet PIN: 4 to 6 digits.
pub fn validate_pin(pin: &str) -> Result<(), crate::Problem> {
    let ok = (4..=6).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(()).ok_or_else(|| {
        crate::Problem::new(crate::ErrorCode::InvalidRequest, "pin: 4 à 6 chiffres.")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_secret_verifies_only_within_its_grace() {
        let pepper = b"pepper";
        let (current, previous) = (
            hash_secret(pepper, "aa", "new"),
            hash_secret(pepper, "bb", "old"),
        );
        let stored = StoredSecrets {
            salt: "aa",
            hash: &current,
            previous: Some(("bb", &previous, 1_000)),
        };
        assert!(verify_client_secret(pepper, Some(stored), 999, "new"));
        assert!(verify_client_secret(pepper, Some(stored), 5_000, "new"));
        assert!(verify_client_secret(pepper, Some(stored), 999, "old"));
        assert!(!verify_client_secret(pepper, Some(stored), 1_000, "old"));
        assert!(!verify_client_secret(pepper, Some(stored), 0, "guess"));
        assert!(!verify_client_secret(pepper, None, 0, "new"));
    }

    #[test]
    fn hashes_verify_only_the_right_secret_salt_and_pepper() {
        let hash = hash_secret(b"pepper", "aa11", "s3cr3t_xyz");
        assert_eq!(hash.len(), 64);
        assert!(verify_secret(b"pepper", "aa11", &hash, "s3cr3t_xyz"));
        assert!(!verify_secret(b"pepper", "aa11", &hash, "s3cr3t_xyZ"));
        assert!(!verify_secret(b"pepper", "aa12", &hash, "s3cr3t_xyz"));
        assert!(!verify_secret(b"other", "aa11", &hash, "s3cr3t_xyz"));
        assert_ne!(
            hash_secret(b"pepper", "aa11", "x"),
            hash_secret(b"pepper", "aa1", "1:x")
        );
    }

    #[test]
    fn an_unenrolled_wallet_never_verifies() {
        let hash = hash_secret(b"pepper", UNENROLLED_SALT, "1234");
        assert!(verify_pin_or_stand_in(
            b"pepper",
            Some((UNENROLLED_SALT, &hash)),
            "1234"
        ));
        assert!(!verify_pin_or_stand_in(b"pepper", None, "1234"));
        assert_eq!(UNENROLLED_SALT.len(), 32);
        assert_eq!(UNENROLLED_HASH.len(), hash.len());
    }

    #[test]
    fn client_secrets_are_long_and_url_safe() {
        let secret = format_client_secret([7u8; 32]);
        assert!(secret.starts_with("dyno_sk_"));
        assert_eq!(secret.len(), 8 + 43);
        assert!(secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    }

    #[test]
    fn wallet_ids_are_international_phone_numbers_and_pins_4_to_6_digits() {
        assert!(validate_wallet_id("+21620000001").is_ok());
        for bad in ["21620000001", "+2162000000a", "+216", "+2162000000012345"] {
            assert!(validate_wallet_id(bad).is_err(), "{bad}");
        }
        assert!(validate_pin("1234").is_ok() && validate_pin("123456").is_ok());
        for bad in ["123", "1234567", "12a4", ""] {
            assert!(validate_pin(bad).is_err(), "{bad}");
        }
    }
}
