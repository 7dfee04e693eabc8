//! Fuzzes the amount parsers. Invariant: any text is either refused or parsed to an amount in
//! range whose canonical form parses back to the same millimes; nothing panics.
#![no_main]

use dyno_core::money::minor_from_upstream_decimal;
use dyno_core::{Amount, Currency};
use libfuzzer_sys::fuzz_target;

const MAX_MINOR: i64 = 10_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(amount) = Amount::parse_request(text, Currency::Tnd, MAX_MINOR) {
        assert!((1..=MAX_MINOR).contains(&amount.minor()), "{text:?}");
        let canonical = amount.to_decimal_string();
        let again = Amount::parse_request(&canonical, Currency::Tnd, MAX_MINOR)
            .expect("the canonical form of an accepted amount parses");
        assert_eq!(again.minor(), amount.minor(), "{text:?} → {canonical}");
    }
    // Upstream balances may be zero or negative, but never inexact.
    let _ = minor_from_upstream_decimal(text, Currency::Tnd);
});
