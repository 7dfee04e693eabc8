//! QR payloads. EPM: the employee's code, `base64(JSON)` starting with `{"QrType":"transaction",` as
//! in the seed, carrying a random nonce, an opaque wallet reference, the card's last four digits,
//! `iat`/`exp` and an HMAC-SHA256 tag. Invariant: a payload verifies only if every signed field is
//! exactly as issued; it never carries the wallet id (the employee's phone number); decoding never
//! panics on any input.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

use crate::auth::credentials::constant_time_eq;
use crate::problem::{ErrorCode, Problem};
use crate::time::Millis;

type HmacSha256 = Hmac<Sha256>;

/// Lifetime of an EPM QR (the seed: "TTL 30 secondes").
pub const EPM_QR_TTL_SECONDS: i64 = 30;
/// Clock skew tolerated after `exp`: covers the time between the phone showing the code and the
/// POS submitting it, and small clock differences between gateway instances.
pub const EPM_SKEW_TOLERANCE_MS: i64 = 2_000;
/// Format version of the EPM payload: 2 carries `wallet_ref` where 1 carried the wallet id.
pub const EPM_QR_VERSION: u8 = 2;
/// Longest payload accepted (a genuine one is about 300 characters).
pub const MAX_QR_PAYLOAD_LEN: usize = 1_024;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QrError {
    #[error("QR code illisible (base64 invalide)")]
    NotBase64,
    #[error("QR code tronqué ou mal formé")]
    Malformed,
    #[error("ce QR code n'est pas un QR de transaction")]
    WrongType,
    #[error("signature du QR code invalide")]
    BadSignature,
    #[error("QR code trop long")]
    TooLong,
}

/// The signed content of an EPM QR. Field order matters: the JSON must start with `QrType`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpmQr {
    #[serde(rename = "QrType")]
    pub qr_type: String,
    pub v: u8,
    /// Random 128-bit nonce (UUID form); names the payment and makes the QR single-use.
    pub nonce: String,
    /// [`wallet_ref`]: opaque to a POS, different on every QR, so a cashier can neither read the
    /// employee's phone number nor link two visits. The grant behind the nonce holds the wallet.
    pub wallet_ref: String,
    pub card_last4: String,
    pub iat: i64,
    pub exp: i64,
    pub sig: String,
}

impl EpmQr {
    fn signing_input(
        qr_type: &str,
        v: u8,
        nonce: &str,
        wallet_ref: &str,
        card_last4: &str,
        iat: i64,
        exp: i64,
    ) -> String {
        format!("{qr_type}\n{v}\n{nonce}\n{wallet_ref}\n{card_last4}\n{iat}\n{exp}")
    }

    fn tag(key: &[u8], input: &str) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(input.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Issues a QR valid `ttl_seconds` from `now`.
    pub fn issue(
        key: &[u8],
        nonce: &str,
        wallet_id: &str,
        card_last4: &str,
        now: Millis,
        ttl_seconds: i64,
    ) -> Self {
        let iat = now.secs();
        let exp = iat + ttl_seconds;
        let wallet_ref = wallet_ref(key, nonce, wallet_id);
        let sig = Self::tag(
            key,
            &Self::signing_input(
                "transaction",
                EPM_QR_VERSION,
                nonce,
                &wallet_ref,
                card_last4,
                iat,
                exp,
            ),
        );
        Self {
            qr_type: "transaction".into(),
            v: EPM_QR_VERSION,
            nonce: nonce.into(),
            wallet_ref,
            card_last4: card_last4.into(),
            iat,
            exp,
            sig,
        }
    }

    /// The payload shown as a QR code: standard base64 of compact JSON.
    pub fn encode(&self) -> String {
        STANDARD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes and verifies a payload (any base64 alphabet, padded or not). Expiry is checked
    /// separately, because an expired QR must be told apart from a forged one.
    pub fn decode(key: &[u8], payload: &str) -> Result<Self, QrError> {
        let payload = payload.trim();
        if payload.len() > MAX_QR_PAYLOAD_LEN {
            return Err(QrError::TooLong);
        }
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(payload).ok())
            .ok_or(QrError::NotBase64)?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| QrError::Malformed)?;
        if value.get("QrType").and_then(|t| t.as_str()) != Some("transaction") {
            return Err(if value.is_object() {
                QrError::WrongType
            } else {
                QrError::Malformed
            });
        }
        let qr: EpmQr = serde_json::from_value(value).map_err(|_| QrError::Malformed)?;
        if qr.v != EPM_QR_VERSION {
            return Err(QrError::WrongType);
        }
        let expected = Self::tag(
            key,
            &Self::signing_input(
                &qr.qr_type,
                qr.v,
                &qr.nonce,
                &qr.wallet_ref,
                &qr.card_last4,
                qr.iat,
                qr.exp,
            ),
        );
        if !constant_time_eq(expected.as_bytes(), qr.sig.as_bytes()) {
            return Err(QrError::BadSignature);
        }
        if !crate::ids::is_uuid(&qr.nonce) {
            return Err(QrError::Malformed);
        }
        Ok(qr)
    }

    /// Whether this QR was issued for `wallet_id` (the reference is recomputed, never reversed).
    pub fn is_for_wallet(&self, key: &[u8], wallet_id: &str) -> bool {
        constant_time_eq(
            wallet_ref(key, &self.nonce, wallet_id).as_bytes(),
            self.wallet_ref.as_bytes(),
        )
    }

    pub fn expires_at(&self) -> Millis {
        Millis::from_secs(self.exp)
    }

    /// Expired once `now` is past `exp` plus the skew tolerance.
    pub fn is_expired(&self, now: Millis) -> bool {
        now.0 > self.expires_at().0 + EPM_SKEW_TOLERANCE_MS
    }

    /// [`Self::decode`], then freshness, as API errors: INVALID_QR for a forged or malformed
    /// payload, QR_EXPIRED past its lifetime (with the skew tolerance).
    pub fn verify_fresh(key: &[u8], payload: &str, now: Millis) -> Result<Self, Problem> {
        let qr = Self::decode(key, payload)
            .map_err(|e| Problem::new(ErrorCode::InvalidQr, e.to_string()))?;
        if qr.is_expired(now) {
            return Err(Problem::new(
                ErrorCode::QrExpired,
                "QR code présenté après 30 secondes: demandez un nouveau QR code à l'employé.",
            ));
        }
        Ok(qr)
    }
}

/// The opaque wallet reference of an EPM QR: 128 bits of `HMAC-SHA256(key, "wallet-ref" ‖ nonce ‖
/// wallet_id)`, base64url. Without the QR key it cannot be tied to a phone number, and the nonce
/// makes it differ on every QR.
pub fn wallet_ref(key: &[u8], nonce: &str, wallet_id: &str) -> String {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"wallet-ref\n");
    mac.update(nonce.as_bytes());
    mac.update(b"\n");
    mac.update(wallet_id.as_bytes());
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
}

/// Lifetime of a PPM request (the seed: "TTL 60s").
pub const PPM_TTL_SECONDS: i64 = 60;

/// The tag that makes a PPM request id in a link unforgeable: 128 bits of HMAC, base64url.
pub fn ppm_link_tag(key: &[u8], payment_request_id: &str) -> String {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"ppm\n");
    mac.update(payment_request_id.as_bytes());
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
}

pub fn verify_ppm_link_tag(key: &[u8], payment_request_id: &str, tag: &str) -> bool {
    constant_time_eq(
        ppm_link_tag(key, payment_request_id).as_bytes(),
        tag.as_bytes(),
    )
}

/// The link a PPM QR encodes: the wallet page, opened on this request.
pub fn ppm_wallet_link(origin: &str, key: &[u8], payment_request_id: &str) -> String {
    format!(
        "{}/wallet.html#pr={payment_request_id}&sig={}",
        origin.trim_end_matches('/'),
        ppm_link_tag(key, payment_request_id)
    )
}

/// The PPM `nfc_payload`: base64 of JSON that starts with `{"SessionId":` as the seed's sample.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NfcPayload {
    #[serde(rename = "SessionId")]
    pub session_id: String,
    #[serde(rename = "Amount")]
    pub amount: String,
    #[serde(rename = "Currency")]
    pub currency: String,
    #[serde(rename = "Merchant")]
    pub merchant: String,
    #[serde(rename = "ExpiresAt")]
    pub expires_at: String,
    #[serde(rename = "Url")]
    pub url: String,
}

impl NfcPayload {
    pub fn encode(&self) -> String {
        STANDARD.encode(serde_json::to_vec(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"qr-secret-for-tests";
    const NONCE: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

    fn now() -> Millis {
        Millis::parse_rfc3339("2026-06-05T10:30:00Z").unwrap()
    }

    fn issued() -> EpmQr {
        EpmQr::issue(
            KEY,
            NONCE,
            "+21620000001",
            "9569",
            now(),
            EPM_QR_TTL_SECONDS,
        )
    }

    #[test]
    fn payload_starts_like_the_seed_sample() {
        let payload = issued().encode();
        assert!(
            payload.starts_with("eyJRclR5cGUiOiJ0cmFuc2FjdGlvbiIs"),
            "{payload}"
        );
        assert!(payload.len() < 400);
    }

    #[test]
    fn round_trips_and_expires_after_thirty_seconds_plus_skew() {
        let qr = issued();
        let decoded = EpmQr::decode(KEY, &qr.encode()).unwrap();
        assert_eq!(decoded, qr);
        assert_eq!(decoded.exp - decoded.iat, 30);
        assert!(!decoded.is_expired(now().plus_ms(30_000)));
        assert!(!decoded.is_expired(now().plus_ms(32_000)));
        assert!(decoded.is_expired(now().plus_ms(32_001)));
        let url_safe = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&qr).unwrap());
        assert_eq!(EpmQr::decode(KEY, &url_safe).unwrap(), qr);
    }

    #[test]
    fn verify_fresh_tells_forged_from_expired() {
        let payload = issued().encode();
        assert!(EpmQr::verify_fresh(KEY, &payload, now().plus_ms(32_000)).is_ok());
        let late = EpmQr::verify_fresh(KEY, &payload, now().plus_ms(32_001)).unwrap_err();
        assert_eq!(late.code, ErrorCode::QrExpired);
        let forged = EpmQr::verify_fresh(b"another key", &payload, now()).unwrap_err();
        assert_eq!(forged.code, ErrorCode::InvalidQr);
    }

    #[test]
    fn tampering_truncation_and_other_types_are_refused() {
        let qr = issued();
        let payload = qr.encode();
        let mut longer = qr.clone();
        longer.exp += 3600;
        assert_eq!(
            EpmQr::decode(KEY, &longer.encode()),
            Err(QrError::BadSignature)
        );
        let mut other_wallet = qr.clone();
        other_wallet.wallet_ref = wallet_ref(KEY, NONCE, "+21620000002");
        assert_eq!(
            EpmQr::decode(KEY, &other_wallet.encode()),
            Err(QrError::BadSignature)
        );
        assert_eq!(
            EpmQr::decode(b"another key", &payload),
            Err(QrError::BadSignature)
        );
        assert!(matches!(
            EpmQr::decode(KEY, &payload[..payload.len() - 12]),
            Err(QrError::Malformed | QrError::NotBase64)
        ));
        assert_eq!(
            EpmQr::decode(KEY, "%%%not base64%%%"),
            Err(QrError::NotBase64)
        );
        let session = STANDARD.encode(br#"{"SessionId":"x"}"#);
        assert_eq!(EpmQr::decode(KEY, &session), Err(QrError::WrongType));
        let wrong_type = STANDARD.encode(br#"{"QrType":"payment","nonce":"x"}"#);
        assert_eq!(EpmQr::decode(KEY, &wrong_type), Err(QrError::WrongType));
        assert_eq!(
            EpmQr::decode(KEY, &STANDARD.encode(b"[1,2]")),
            Err(QrError::Malformed)
        );
        assert_eq!(
            EpmQr::decode(KEY, &"A".repeat(2_000)),
            Err(QrError::TooLong)
        );
        let mut extra: serde_json::Value = serde_json::to_value(&qr).unwrap();
        extra["amount"] = 1.into();
        assert_eq!(
            EpmQr::decode(KEY, &STANDARD.encode(serde_json::to_vec(&extra).unwrap())),
            Err(QrError::Malformed)
        );
    }

    #[test]
    fn the_payload_carries_an_opaque_wallet_reference_never_the_phone_number() {
        let qr = issued();
        let json = String::from_utf8(STANDARD.decode(qr.encode()).unwrap()).unwrap();
        assert!(
            !json.contains("21620000001") && !json.contains("wallet_id"),
            "{json}"
        );
        assert!(
            json.starts_with(r#"{"QrType":"transaction","v":2,"nonce":"#),
            "{json}"
        );
        assert!(qr.is_for_wallet(KEY, "+21620000001"));
        assert!(!qr.is_for_wallet(KEY, "+21620000002"));
        assert!(!qr.is_for_wallet(b"another key", "+21620000001"));
        // Another QR of the same wallet cannot be linked to this one.
        let next = EpmQr::issue(
            KEY,
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "+21620000001",
            "9569",
            now(),
            EPM_QR_TTL_SECONDS,
        );
        assert_ne!(next.wallet_ref, qr.wallet_ref);
        // A version-1 payload (it carried the phone number) is no longer accepted.
        let mut v1: serde_json::Value = serde_json::from_str(&json).unwrap();
        v1["v"] = 1.into();
        assert_eq!(
            EpmQr::decode(KEY, &STANDARD.encode(v1.to_string())),
            Err(QrError::WrongType)
        );
    }

    #[test]
    fn ppm_links_are_tagged_and_nfc_starts_like_the_seed() {
        let id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        let link = ppm_wallet_link("https://sandbox.dyno-motiva.com/", KEY, id);
        assert!(link.starts_with("https://sandbox.dyno-motiva.com/wallet.html#pr=7c9e6679"));
        let tag = link.rsplit("sig=").next().unwrap();
        assert!(verify_ppm_link_tag(KEY, id, tag));
        assert!(!verify_ppm_link_tag(
            KEY,
            "7c9e6679-7425-40de-944b-e07fc1f90ae8",
            tag
        ));
        assert!(!verify_ppm_link_tag(b"other", id, tag));
        let nfc = NfcPayload {
            session_id: id.into(),
            amount: "45.000".into(),
            currency: "TND".into(),
            merchant: "Cafétéria".into(),
            expires_at: "2026-06-05T10:31:00Z".into(),
            url: link,
        };
        assert!(nfc.encode().starts_with("eyJTZXNzaW9uSWQi"));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_input_never_panics(input in "\\PC{0,600}") {
            let _ = EpmQr::decode(KEY, &input);
        }

        #[test]
        fn any_single_byte_flip_is_detected(index in 0usize..200, bit in 0u8..8) {
            let qr = issued();
            let mut json = serde_json::to_vec(&qr).unwrap();
            let i = index % json.len();
            json[i] ^= 1 << bit;
            let decoded = EpmQr::decode(KEY, &STANDARD.encode(&json));
            prop_assert!(decoded.is_err() || decoded.as_ref().ok() == Some(&qr));
        }
    }
}
