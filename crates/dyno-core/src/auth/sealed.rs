//! Secrets stored encrypted at rest (webhook signing secrets): XChaCha20-Poly1305 under the
//! key-encryption secret, with a random 24-byte nonce, as base64(nonce ‖ ciphertext).
//! Invariant: a sealed value can only be opened with the same key and is never altered silently.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SealError {
    #[error("valeur chiffrée illisible")]
    Malformed,
    #[error("déchiffrement refusé (clé incorrecte ou donnée altérée)")]
    Rejected,
}

/// The KEK secret as a 256-bit key: hex of 32 bytes is used as is; anything else is hashed.
fn cipher(kek: &str) -> XChaCha20Poly1305 {
    let bytes = match hex::decode(kek.trim()) {
        Ok(b) if b.len() == 32 => b,
        _ => Sha256::digest(kek.as_bytes()).to_vec(),
    };
    XChaCha20Poly1305::new(Key::from_slice(&bytes))
}

pub fn seal(kek: &str, nonce: [u8; 24], plaintext: &str) -> String {
    let ciphertext = cipher(kek)
        .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend(ciphertext);
    STANDARD.encode(out)
}

pub fn open(kek: &str, sealed: &str) -> Result<String, SealError> {
    let bytes = STANDARD
        .decode(sealed.trim())
        .map_err(|_| SealError::Malformed)?;
    if bytes.len() < 24 + 16 {
        return Err(SealError::Malformed);
    }
    let (nonce, ciphertext) = bytes.split_at(24);
    let plain = cipher(kek)
        .decrypt(XNonce::from_slice(nonce), ciphertext)
        .map_err(|_| SealError::Rejected)?;
    String::from_utf8(plain).map_err(|_| SealError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn seals_and_opens() {
        let sealed = seal(KEK, [9u8; 24], "whsec_unit_test_secret");
        assert!(!sealed.contains("whsec"));
        assert_eq!(open(KEK, &sealed).unwrap(), "whsec_unit_test_secret");
    }

    #[test]
    fn wrong_key_or_tampering_is_rejected() {
        let sealed = seal(KEK, [9u8; 24], "secret");
        assert_eq!(open("another key", &sealed), Err(SealError::Rejected));
        let mut bytes = STANDARD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(open(KEK, &STANDARD.encode(bytes)), Err(SealError::Rejected));
        assert_eq!(open(KEK, "!!"), Err(SealError::Malformed));
        assert_eq!(open(KEK, "AAAA"), Err(SealError::Malformed));
    }
}
