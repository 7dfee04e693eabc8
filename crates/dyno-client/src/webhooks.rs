//! Webhook signatures as a receiver sees them: the seed's `X-Dyno-Webhook-Signature` and the
//! Standard Webhooks `webhook-signature`, written from the published contract rather than from
//! the gateway's code, so checking real deliveries with it catches drift on either side.
//! Invariant: a signature covers the exact body bytes, the secret is the given string's bytes,
//! and every comparison runs in constant time (`Mac::verify_slice`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The seed's header: `sha256=` + hex HMAC-SHA256 of the raw body.
pub const SEED_SIGNATURE_HEADER: &str = "X-Dyno-Webhook-Signature";
/// The header naming the event (`payment.confirmed`…).
pub const EVENT_HEADER: &str = "X-Dyno-Event";

fn keyed(secret: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// The Standard Webhooks signed content: `id.timestamp.body`.
fn standard_mac(secret: &[u8], webhook_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = keyed(secret);
    mac.update(format!("{webhook_id}.{timestamp}.").as_bytes());
    mac.update(body);
    mac
}

/// The value of `X-Dyno-Webhook-Signature` for `body`.
pub fn seed_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = keyed(secret.as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The value of `webhook-signature` (one `v1,` signature) for a delivery.
pub fn standard_signature(secret: &str, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = standard_mac(secret.as_bytes(), webhook_id, timestamp, body).finalize();
    format!("v1,{}", STANDARD.encode(tag.into_bytes()))
}

/// Every header a Dyno delivery carries, signed with `secret` at `timestamp` (Unix seconds).
/// `webhook-id` is the delivery id, the same on every attempt, so receivers can deduplicate.
pub fn delivery_headers(
    secret: &str,
    delivery_id: &str,
    event: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", "application/json".into()),
        (SEED_SIGNATURE_HEADER, seed_signature(secret, body)),
        ("webhook-id", delivery_id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            standard_signature(secret, delivery_id, timestamp, body),
        ),
        (EVENT_HEADER, event.to_string()),
    ]
}

/// Checks an `X-Dyno-Webhook-Signature` value against `body`.
pub fn verify_seed_signature(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(tag) = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex_tag| hex::decode(hex_tag).ok())
    else {
        return false;
    };
    let mut mac = keyed(secret.as_bytes());
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

/// Checks a `webhook-signature` value: valid when any of its space-separated `v1,` signatures
/// matches (senders list several while they rotate secrets).
pub fn verify_standard_signature(
    secret: &str,
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    header.split_whitespace().any(|candidate| {
        candidate
            .strip_prefix("v1,")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .is_some_and(|tag| {
                standard_mac(secret.as_bytes(), webhook_id, timestamp, body)
                    .verify_slice(&tag)
                    .is_ok()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks specification's published example. Its secret is base64 there
    // (Dyno uses the secret's own bytes), so the decoded key goes in directly: the expected value
    // pins the `id.timestamp.body` layout.
    #[test]
    fn standard_layout_matches_the_published_example() {
        let key = STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("example key");
        let mac = standard_mac(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            STANDARD.encode(mac.finalize().into_bytes()),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn seed_signature_is_hex_of_the_body_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            seed_signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verification_accepts_the_exact_body_only() {
        let body = br#"{"event":"payment.confirmed","amount":45.000}"#;
        let seed = seed_signature("whsec_test", body);
        assert!(verify_seed_signature("whsec_test", body, &seed));
        assert!(verify_seed_signature(
            "whsec_test",
            body,
            &format!(" {seed}\n")
        ));
        assert!(!verify_seed_signature(
            "whsec_test",
            b"{\"amount\":45}",
            &seed
        ));
        assert!(!verify_seed_signature("other", body, &seed));
        assert!(!verify_seed_signature("whsec_test", body, "sha256=zz"));
        assert!(!verify_seed_signature("whsec_test", body, &seed[7..]));

        let standard = standard_signature("whsec_test", "dlv_1", 1_780_000_000, body);
        assert!(verify_standard_signature(
            "whsec_test",
            "dlv_1",
            1_780_000_000,
            body,
            &standard
        ));
        assert!(verify_standard_signature(
            "whsec_test",
            "dlv_1",
            1_780_000_000,
            body,
            &format!("v1,AAAA {standard}")
        ));
        for (id, ts, b) in [
            ("dlv_2", 1_780_000_000, &body[..]),
            ("dlv_1", 1_780_000_001, &body[..]),
            ("dlv_1", 1_780_000_000, &b"{}"[..]),
        ] {
            assert!(!verify_standard_signature(
                "whsec_test",
                id,
                ts,
                b,
                &standard
            ));
        }
    }

    #[test]
    fn delivery_headers_sign_what_they_announce() {
        let body = br#"{"event":"payment.confirmed"}"#;
        let headers = delivery_headers("s", "dlv_9", "payment.confirmed", 1_780_000_000, body);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .expect(name)
        };
        assert!(verify_seed_signature(
            "s",
            body,
            &get("x-dyno-webhook-signature")
        ));
        assert_eq!(get("webhook-id"), "dlv_9");
        assert_eq!(get("x-dyno-event"), "payment.confirmed");
        assert!(verify_standard_signature(
            "s",
            &get("webhook-id"),
            get("webhook-timestamp").parse().expect("seconds"),
            body,
            &get("webhook-signature")
        ));
    }
}
