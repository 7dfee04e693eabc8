//! Fuzzes Bearer token verification. Invariant: arbitrary text is never accepted, and a genuine
//! token with one byte changed is refused or verifies to exactly the original claims; nothing
//! panics (a panic in WASM would reset the isolate).
#![no_main]

use dyno_core::auth::jwt::{AccessClaims, Audience, KeyRing};
use dyno_core::Millis;
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://sandbox.dyno-motiva.com";
const NOW: Millis = Millis(1_800_000_000_000);

fn ring() -> KeyRing {
    KeyRing::parse("k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
        .expect("a valid ring")
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISSUER.into(),
        aud: Audience::Pos.as_str().into(),
        sub: "pos_fuzz".into(),
        merchant_id: Some("MER-FUZZ".into()),
        scope: "payments".into(),
        sandbox: true,
        jti: "jti-fuzz".into(),
        gen: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let ring = ring();
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(
            ring.verify(text, ISSUER, Audience::Pos, NOW).is_err(),
            "arbitrary text verified: {text:?}"
        );
    }
    if let [hi, lo, value, ..] = *data {
        let genuine = ring.issue(claims(), NOW, 3600);
        let mut bytes = genuine.into_bytes();
        let at = usize::from(u16::from_be_bytes([hi, lo])) % bytes.len();
        bytes[at] = value;
        if let Ok(text) = String::from_utf8(bytes) {
            if let Ok(verified) = ring.verify(&text, ISSUER, Audience::Pos, NOW) {
                assert_eq!(
                    verified.claims,
                    claims(),
                    "a tampered token verified differently"
                );
            }
        }
    }
});
