//! Request authentication shared by the SDK and the relay: every request to a protected route is
//! signed by the sending device's Ed25519 key.
//!
//! # Canonical signing string
//!
//! The signature covers the UTF-8 bytes of
//!
//! ```text
//! SEALROOM-V1\n{METHOD}\n{path}\n{query}\n{timestamp}\n{nonce}\n{hex sha256(body)}
//! ```
//!
//! - `METHOD` is the upper-case HTTP method (`GET`, `POST`, ...).
//! - `path` is the request path exactly as sent on the request line (percent-encoding included),
//!   without the query, e.g. `/v1/rooms/r1/messages`.
//! - `query` is the raw query string without the leading `?`, empty when there is none.
//! - `timestamp` is the decimal Unix time in seconds, also sent in [`HEADER_TIMESTAMP`].
//! - `nonce` is a fresh random value per request (at least 16 random bytes, lower-case hex; see
//!   [`nonce_from_bytes`] and [`valid_nonce`]), also sent in [`HEADER_NONCE`]. It makes two
//!   otherwise identical requests signed within the same second distinct, so a client may repeat
//!   a request legitimately while an attacker still cannot replay a captured one.
//! - the last line is the lower-case hex SHA-256 of the exact body bytes (of the empty string
//!   for a request without body).
//!
//! The signature travels as 128 lower-case hex characters in [`HEADER_SIGNATURE`], the device id
//! in [`HEADER_DEVICE`]. The relay refuses a timestamp further than [`MAX_CLOCK_SKEW_SECS`] from
//! its clock, a malformed nonce, and any signature it has already accepted (replay).
//!
//! ```
//! use ed25519_dalek::{Signer, SigningKey};
//! use sealroom_wire::auth::{sign_request, verify_request, RequestParts};
//!
//! let key = SigningKey::from_bytes(&[7u8; 32]);
//! let nonce = sealroom_wire::auth::nonce_from_bytes(&[1u8; 16]); // use 16 random bytes
//! let parts = RequestParts {
//!     method: "POST", path: "/v1/me", query: "", timestamp: 1_700_000_000, nonce: &nonce, body: b"{}",
//! };
//! let headers = sign_request("dev1", &parts, |msg| key.sign(msg).to_bytes());
//! let public = key.verifying_key().to_bytes();
//! let signature = sealroom_wire::auth::decode_signature(&headers.signature).unwrap();
//! assert!(verify_request(&public, &parts, &signature).is_ok());
//! ```

use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

/// Header carrying the id of the signing device.
pub const HEADER_DEVICE: &str = "x-sealroom-device";
/// Header carrying the decimal Unix time (seconds) the request was signed at.
pub const HEADER_TIMESTAMP: &str = "x-sealroom-timestamp";
/// Header carrying the per-request random nonce (see [`valid_nonce`]).
pub const HEADER_NONCE: &str = "x-sealroom-nonce";
/// Shortest accepted nonce, in characters (16 bytes as hex).
pub const MIN_NONCE_LEN: usize = 32;
/// Longest accepted nonce, in characters.
pub const MAX_NONCE_LEN: usize = 64;
/// Header carrying the Ed25519 signature, 128 lower-case hex characters.
pub const HEADER_SIGNATURE: &str = "x-sealroom-signature";
/// First line of the canonical signing string; names the scheme version.
pub const SIGNING_PREFIX: &str = "SEALROOM-V1";
/// Largest accepted distance in seconds between a request's timestamp and the relay's clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Why a signature or its encoding was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The signature header is not 128 hex characters.
    SignatureEncoding,
    /// The public key is not a valid Ed25519 point.
    PublicKey,
    /// The signature does not verify for this key and request.
    BadSignature,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SignatureEncoding => write!(f, "signature must be 128 hex characters"),
            Self::PublicKey => write!(f, "invalid Ed25519 public key"),
            Self::BadSignature => write!(f, "signature does not verify"),
        }
    }
}

impl std::error::Error for AuthError {}

/// The parts of an HTTP request that the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method; upper-cased when building the signing string.
    pub method: &'a str,
    /// Request path as sent, without the query.
    pub path: &'a str,
    /// Raw query string without the leading `?`; empty when there is none.
    pub query: &'a str,
    /// Unix time in seconds.
    pub timestamp: i64,
    /// Per-request random nonce, [`MIN_NONCE_LEN`]..=[`MAX_NONCE_LEN`] lower-case hex characters.
    pub nonce: &'a str,
    /// Exact body bytes.
    pub body: &'a [u8],
}

/// Lower-case hex SHA-256 of `body`.
pub fn body_digest_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The nonce text for `bytes` (lower-case hex). Pass 16 bytes from a cryptographic RNG.
pub fn nonce_from_bytes(bytes: &[u8; 16]) -> String {
    hex::encode(bytes)
}

/// Whether `nonce` has the accepted shape: [`MIN_NONCE_LEN`]..=[`MAX_NONCE_LEN`] lower-case hex
/// characters.
pub fn valid_nonce(nonce: &str) -> bool {
    (MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The canonical signing string of a request (see the module documentation).
pub fn signing_string(parts: &RequestParts<'_>) -> Vec<u8> {
    format!(
        "{SIGNING_PREFIX}\n{}\n{}\n{}\n{}\n{}\n{}",
        parts.method.to_ascii_uppercase(),
        parts.path,
        parts.query,
        parts.timestamp,
        parts.nonce,
        body_digest_hex(parts.body)
    )
    .into_bytes()
}

/// The four authentication headers of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// Value of [`HEADER_DEVICE`].
    pub device: String,
    /// Value of [`HEADER_TIMESTAMP`].
    pub timestamp: String,
    /// Value of [`HEADER_NONCE`].
    pub nonce: String,
    /// Value of [`HEADER_SIGNATURE`].
    pub signature: String,
}

impl SignedHeaders {
    /// `(name, value)` pairs ready to put on a request.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            (HEADER_DEVICE, self.device.as_str()),
            (HEADER_TIMESTAMP, self.timestamp.as_str()),
            (HEADER_NONCE, self.nonce.as_str()),
            (HEADER_SIGNATURE, self.signature.as_str()),
        ]
    }
}

/// Signs a request on the client side. `sign` receives the canonical signing string and returns
/// the Ed25519 signature; the secret key stays with the caller.
pub fn sign_request<F>(device_id: &str, parts: &RequestParts<'_>, sign: F) -> SignedHeaders
where
    F: FnOnce(&[u8]) -> [u8; 64],
{
    let signature = sign(&signing_string(parts));
    SignedHeaders {
        device: device_id.to_owned(),
        timestamp: parts.timestamp.to_string(),
        nonce: parts.nonce.to_owned(),
        signature: hex::encode(signature),
    }
}

/// Decodes the hex signature header.
pub fn decode_signature(text: &str) -> Result<[u8; 64], AuthError> {
    let mut out = [0u8; 64];
    hex::decode_to_slice(text, &mut out).map_err(|_| AuthError::SignatureEncoding)?;
    Ok(out)
}

/// Checks that `public_key` is a valid Ed25519 public key.
pub fn check_public_key(public_key: &[u8; 32]) -> Result<(), AuthError> {
    VerifyingKey::from_bytes(public_key)
        .map(|_| ())
        .map_err(|_| AuthError::PublicKey)
}

/// Verifies a request signature (strict Ed25519 verification: no malleable signatures, no weak
/// keys).
pub fn verify_request(
    public_key: &[u8; 32],
    parts: &RequestParts<'_>,
    signature: &[u8; 64],
) -> Result<(), AuthError> {
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| AuthError::PublicKey)?;
    let signature = Signature::from_bytes(signature);
    key.verify_strict(&signing_string(parts), &signature)
        .map_err(|_| AuthError::BadSignature)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    fn parts(body: &[u8]) -> RequestParts<'_> {
        RequestParts {
            method: "post",
            path: "/v1/rooms/r1/messages",
            query: "after=3",
            timestamp: 1_700_000_000,
            nonce: "000102030405060708090a0b0c0d0e0f",
            body,
        }
    }

    #[test]
    fn signing_string_is_canonical() {
        let s = String::from_utf8(signing_string(&parts(b""))).unwrap();
        assert_eq!(
            s,
            "SEALROOM-V1\nPOST\n/v1/rooms/r1/messages\nafter=3\n1700000000\n\
             000102030405060708090a0b0c0d0e0f\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn sign_and_verify_round_trip_and_tamper() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let public = key.verifying_key().to_bytes();
        let p = parts(b"hello");
        let headers = sign_request("d1", &p, |m| key.sign(m).to_bytes());
        assert_eq!(headers.device, "d1");
        assert_eq!(headers.timestamp, "1700000000");
        let sig = decode_signature(&headers.signature).unwrap();
        verify_request(&public, &p, &sig).unwrap();
        let tampered = [
            RequestParts {
                body: b"hellO",
                ..p
            },
            RequestParts { method: "PUT", ..p },
            RequestParts {
                path: "/v1/rooms/r2/messages",
                ..p
            },
            RequestParts {
                query: "after=4",
                ..p
            },
            RequestParts {
                timestamp: 1_700_000_001,
                ..p
            },
            RequestParts {
                nonce: "000102030405060708090a0b0c0d0e1f",
                ..p
            },
        ];
        for t in tampered {
            assert_eq!(
                verify_request(&public, &t, &sig),
                Err(AuthError::BadSignature)
            );
        }
        assert_eq!(decode_signature("zz"), Err(AuthError::SignatureEncoding));
    }

    #[test]
    fn nonce_shape() {
        assert!(valid_nonce(&nonce_from_bytes(&[0xab; 16])));
        assert!(valid_nonce(&"f".repeat(MAX_NONCE_LEN)));
        assert!(!valid_nonce(&"f".repeat(MIN_NONCE_LEN - 1)));
        assert!(!valid_nonce(&"f".repeat(MAX_NONCE_LEN + 1)));
        assert!(!valid_nonce(&"F".repeat(MIN_NONCE_LEN)));
        assert!(!valid_nonce(&"\n".repeat(MIN_NONCE_LEN)));
    }
}
