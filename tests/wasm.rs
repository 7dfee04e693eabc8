//! wasm-bindgen-test layer: what must behave the same on wasm32 as natively — the platform clock
//! and CSPRNG, and the domain's exact-money and time formatting compiled for wasm32.
#![cfg(target_arch = "wasm32")]

use dyno_core::money::format_minor;
use dyno_core::{Amount, Currency, Millis};
use dyno_edge::platform;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn clock_reads_the_host_time() {
    let now = platform::now();
    // After 2026-01-01 and before 2100: the runtime clock, not a zero or a monotonic counter.
    assert!(now > Millis::parse_rfc3339("2026-01-01T00:00:00Z").unwrap());
    assert!(now < Millis::parse_rfc3339("2100-01-01T00:00:00Z").unwrap());
    assert!(now.to_rfc3339().ends_with('Z'));
}

#[wasm_bindgen_test]
fn randomness_is_real() {
    let a: [u8; 32] = platform::random_bytes();
    let b: [u8; 32] = platform::random_bytes();
    assert_ne!(a, [0u8; 32]);
    assert_ne!(a, b);
    let id = platform::new_uuid();
    assert!(dyno_core::ids::is_uuid(&id), "{id}");
    assert_eq!(&id[14..15], "4");
}

#[wasm_bindgen_test]
fn money_is_exact_on_wasm32() {
    let amount = Amount::parse_request("12.500", Currency::Tnd, 10_000_000).unwrap();
    assert_eq!(amount.minor(), 12_500);
    assert_eq!(amount.to_decimal_string(), "12.500");
    assert_eq!(
        format_minor(i64::MAX, Currency::Tnd),
        "9223372036854775.807"
    );
    assert!(Amount::parse_request("0.1e-3", Currency::Tnd, 10_000_000).is_err());
}
