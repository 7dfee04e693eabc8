//! Fuzzes the parsing of CYNOD answers, which come from another system and may be anything.
//! Invariant: every body and status gives a success, a functional failure or a malformed-answer
//! error, never a panic; a success only ever comes with a 2xx status (never a 1xx); a token only
//! ever comes from a 2xx answer and can go into a header as it is; an amount is read exactly or
//! refused.
#![no_main]

use dyno_core::cynod::dialect::{CynodAmounts, MAX_SCALE};
use dyno_core::cynod::token::parse_token_response;
use dyno_core::cynod::{data_items, parse_envelope, EnvelopeOutcome, ValidityItem};
use dyno_core::Currency;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = 100 + u16::from_be_bytes(*status) % 500;
    if let Ok(outcome) = parse_envelope(status, body) {
        match outcome {
            EnvelopeOutcome::Success { data, .. } => {
                assert!((200..300).contains(&status), "success with HTTP {status}");
                let _ = data_items::<ValidityItem>(data);
            }
            EnvelopeOutcome::Failure(failure) => {
                let _ = failure.to_problem();
            }
        }
    }
    if let Ok(grant) = parse_token_response(status, body) {
        assert!((200..300).contains(&status), "token with HTTP {status}");
        assert!(!grant.access_token.is_empty());
        assert!(grant
            .access_token
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b)));
    }
    // The body read as an amount CYNOD wrote, at every scale: what is accepted written back at
    // that scale reads the same again.
    if let Ok(text) = std::str::from_utf8(body) {
        for scale in 0..=MAX_SCALE {
            let Ok(amounts) = CynodAmounts::new("TND", scale, Currency::Tnd) else {
                continue;
            };
            if let Ok(minor) = amounts.to_gateway_minor(text) {
                if let Ok(wire) = amounts.from_gateway_minor(minor) {
                    assert_eq!(amounts.to_gateway_minor(wire.text()), Ok(minor));
                }
            }
        }
    }
});
