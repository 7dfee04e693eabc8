//! Fuzzes the QR codecs: the EPM payload decoder and the PPM link tag. Invariant: arbitrary
//! payloads and tags are refused unless genuinely signed; a genuine payload with one byte changed
//! is refused or decodes to exactly the original; nothing panics.
#![no_main]

use dyno_core::qr::{ppm_link_tag, verify_ppm_link_tag, EpmQr};
use dyno_core::Millis;
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz-qr-key-0123456789abcdef0123";
const REQUEST_ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(qr) = EpmQr::decode(KEY, text) {
            // Only a correctly signed payload decodes, and it round-trips.
            assert_eq!(EpmQr::decode(KEY, &qr.encode()).as_ref(), Ok(&qr));
        }
        if verify_ppm_link_tag(KEY, REQUEST_ID, text) {
            assert_eq!(text.trim(), ppm_link_tag(KEY, REQUEST_ID));
        }
    }
    // One byte of a genuine payload replaced (where and by what chosen by the fuzzer).
    if let [hi, lo, value, ..] = *data {
        let genuine = EpmQr::issue(
            KEY,
            "6f1c2a9e-8b3d-4e5f-a6b7-c8d9e0f1a2b3",
            "+21620000001",
            "9569",
            Millis(1_800_000_000_000),
            30,
        );
        let mut bytes = genuine.encode().into_bytes();
        let at = usize::from(u16::from_be_bytes([hi, lo])) % bytes.len();
        bytes[at] = value;
        if let Ok(text) = String::from_utf8(bytes) {
            if let Ok(decoded) = EpmQr::decode(KEY, &text) {
                assert_eq!(decoded, genuine, "a tampered payload decoded differently");
            }
        }
    }
});
