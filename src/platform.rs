//! The platform's clock and randomness, the only place the Worker reads either. Invariant: the
//! domain gets `now` and random bytes from here as plain values.

use dyno_core::Millis;

/// Current time from the runtime. Inside a Worker, time only advances across I/O, which is what
/// the domain's explicit-`now` rules expect.
pub fn now() -> Millis {
    Millis(js_sys::Date::now() as i64)
}

/// Cryptographically secure random bytes from the runtime (Web Crypto via getrandom).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // getrandom only fails when the platform has no CSPRNG, which a Worker always has; a zeroed
    // buffer would be unsafe, so abort loudly rather than continue.
    if let Err(e) = getrandom::fill(&mut bytes) {
        panic!("no secure randomness available: {e}");
    }
    bytes
}

pub fn new_uuid() -> String {
    dyno_core::ids::uuid_v4(random_bytes())
}
