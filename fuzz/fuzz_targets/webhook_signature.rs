//! Fuzzes webhook signature verification as the seed tells receivers to do it. Invariant: a
//! header verifies exactly when it is the seed's `sha256=<hex HMAC>` of the body (surrounding
//! whitespace aside); nothing panics.
#![no_main]

use dyno_core::webhook::{signature_header, verify_signature_header};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"sandbox_webhook_secret";

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input into a body and a header.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (body, header) = rest.split_at(usize::from(split).min(rest.len()));
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let expected = signature_header(SECRET, body);
    assert_eq!(
        verify_signature_header(SECRET, body, header),
        header.trim() == expected,
        "{header:?}"
    );
    assert!(verify_signature_header(SECRET, body, &expected));
});
