//! TOTP (RFC 6238) with HMAC-SHA1, 30-second steps and 6 digits, the parameters every
//! authenticator app uses. A user enrols a secret; a code approves a new device.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Seconds per time step.
pub const STEP: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;

/// The HOTP value (RFC 4226) of `counter` with `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail for HMAC-SHA1.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bin = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    bin % 10u32.pow(digits)
}

/// The TOTP code for Unix time `now` as a zero-padded string.
pub fn code(secret: &[u8], now: i64, digits: u32) -> String {
    let counter = u64::try_from(now.div_euclid(STEP)).unwrap_or(0);
    format!(
        "{:0width$}",
        hotp(secret, counter, digits),
        width = digits as usize
    )
}

/// Checks a 6-digit code against the current step and one step either side (clock drift), in
/// constant time per comparison. Returns the matching step so callers can refuse its reuse.
pub fn verify(secret: &[u8], candidate: &str, now: i64) -> Option<i64> {
    let step = now.div_euclid(STEP);
    let mut found = None;
    for s in [step - 1, step, step + 1] {
        let expected = Zeroizing::new(code(secret, s * STEP, DIGITS));
        if expected.as_bytes().ct_eq(candidate.as_bytes()).into() {
            found = Some(s);
        }
    }
    found
}

/// RFC 4648 base32 without padding (what `otpauth://` URIs carry).
pub fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8 digits, key "12345678901234567890").
    #[test]
    fn rfc6238_sha1_vectors() {
        let secret = b"12345678901234567890";
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (t, expected) in vectors {
            assert_eq!(code(secret, t, 8), expected, "t={t}");
        }
    }

    /// RFC 4226 appendix D HOTP values.
    #[test]
    fn rfc4226_hotp_vectors() {
        let secret = b"12345678901234567890";
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(hotp(secret, i as u64, 6), *e);
        }
    }

    #[test]
    fn verify_accepts_adjacent_steps_only() {
        let secret = b"abcdefghijabcdefghij";
        let now = 1_700_000_000;
        assert!(verify(secret, &code(secret, now, 6), now).is_some());
        assert!(verify(secret, &code(secret, now - 30, 6), now).is_some());
        assert!(verify(secret, &code(secret, now - 90, 6), now).is_none());
        assert!(verify(secret, "000000x", now).is_none());
    }

    #[test]
    fn base32_rfc4648_vectors() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }
}
