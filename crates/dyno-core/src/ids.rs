//! Identifiers built from platform-supplied random bytes: request ids, UUIDs, confirmation codes.
//! Invariant: the domain never draws randomness itself; callers pass the bytes in.

/// A client-supplied `X-Request-Id` is echoed only if it is short and made of safe characters, so
/// it cannot inject anything into logs or headers.
pub fn is_acceptable_request_id(value: &str) -> bool {
    (8..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Formats 16 random bytes as a version-4 RFC 9562 UUID (lower-case, hyphenated).
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// True for a canonical lower- or upper-case hyphenated UUID.
pub fn is_uuid(value: &str) -> bool {
    value.len() == 36
        && value.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// An 8-character confirmation code over A–Z and 0–9, from 32 random bytes by rejection sampling
/// (bytes ≥ 252 are skipped so every character is equally likely).
pub fn confirmation_code(random: [u8; 32]) -> String {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut code: String = random
        .iter()
        .filter(|&&b| b < 252)
        .take(8)
        .map(|&b| ALPHABET[(b % 36) as usize] as char)
        .collect();
    // 25 of 32 bytes would have to be ≥ 252 to get here (p < 1e-50); stay total anyway.
    for &b in random.iter().rev() {
        if code.len() == 8 {
            break;
        }
        code.push(ALPHABET[(b % 36) as usize] as char);
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant() {
        let id = uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(is_uuid(&id));
        assert!(!is_uuid("ffffffff-ffff-4fff-bfff-fffffffffff"));
    }

    #[test]
    fn confirmation_codes_are_eight_uppercase_alphanumerics() {
        for seed in 0u8..=255 {
            let code = confirmation_code([seed; 32]);
            assert_eq!(code.len(), 8);
            assert!(
                code.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                "{code}"
            );
        }
        let mut bytes = [0u8; 32];
        bytes.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        assert_eq!(confirmation_code(bytes), "ABCDEFGH");
    }

    #[test]
    fn request_ids_are_filtered() {
        assert!(is_acceptable_request_id("req_0123456789"));
        assert!(!is_acceptable_request_id("short"));
        assert!(!is_acceptable_request_id("bad\r\nheader-injection"));
        assert!(!is_acceptable_request_id(&"a".repeat(65)));
    }
}
