//! Fuzzes the parsing of CYNOD answers, which come from another system and may be anything.
//! Invariant: every body and status gives a success, a functional failure or a malformed-answer
//! error, never a panic; a success only ever comes with a 2xx status.
#![no_main]

use dyno_core::cynod::{data_items, parse_envelope, EnvelopeOutcome, ValidityItem};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = 100 + u16::from_be_bytes(*status) % 500;
    if let Ok(outcome) = parse_envelope(status, body) {
        match outcome {
            EnvelopeOutcome::Success { data, .. } => {
                assert!(status < 300, "success with HTTP {status}");
                let _ = data_items::<ValidityItem>(data);
            }
            EnvelopeOutcome::Failure(failure) => {
                let _ = failure.to_problem();
            }
        }
    }
});
