//! Request authentication shared by the SDK and the relay: every request to a protected route is
//! signed by the sending device's Ed25519 key.
//!
//! # Canonical signing string (scheme `SEALROOM-V2`)
//!
//! The signature covers the UTF-8 bytes of these lines, joined by `\n` (no trailing newline):
//!
//! ```text
//! SEALROOM-V2
//! {METHOD}
//! {authority}
//! {path}
//! {query}
//! {timestamp}
//! {nonce}
//! {name}:{value}        one line per covered header present, in the order of SIGNED_HEADERS
//! {hex sha256(body)}
//! ```
//!
//! - `SEALROOM-V2` names the scheme; a signature made under another scheme (`SEALROOM-V1`
//!   covered neither the authority nor any header) never verifies under this one.
//! - `METHOD` is the upper-case HTTP method (`GET`, `POST`, ...).
//! - `authority` is the host the request is addressed to, lower-case, as in the `Host` header:
//!   `host` or `host:port`, the port omitted when it is the scheme's default (80 for `http`,
//!   443 for `https`); see [`authority_of_url`]. The relay compares it with its configured
//!   public host, or else with the `Host` header it was reached by.
//! - `path` is the request path exactly as sent on the request line (percent-encoding included),
//!   without the query, e.g. `/v1/rooms/r1/messages`.
//! - `query` is the raw query string without the leading `?`, empty when there is none.
//! - `timestamp` is the decimal Unix time in seconds, also sent in [`HEADER_TIMESTAMP`].
//! - `nonce` is a fresh random value per request (at least 16 random bytes, lower-case hex; see
//!   [`nonce_from_bytes`] and [`valid_nonce`]), also sent in [`HEADER_NONCE`]. It makes two
//!   otherwise identical requests signed within the same second distinct, so a client may repeat
//!   a request legitimately while an attacker still cannot replay a captured one.
//! - then, for each header of [`SIGNED_HEADERS`] (`content-type`, `range`, `upload-offset`,
//!   `upload-checksum`, in this order) that the request carries, a line `name:value`: the
//!   lower-case name, a colon, and the value with leading and trailing spaces and tabs removed
//!   (no space after the colon). An absent header has no line. A request may carry each of
//!   these headers at most once; the relay refuses a repeated one.
//! - the last line is the lower-case hex SHA-256 of the exact body bytes (of the empty string
//!   for a request without body).
//!
//! The signature travels as 128 lower-case hex characters in [`HEADER_SIGNATURE`], the device id
//! in [`HEADER_DEVICE`]. The relay refuses a timestamp further than [`MAX_CLOCK_SKEW_SECS`] from
//! its clock, a malformed nonce, and any nonce of the device it has already accepted (replay).
//! `docs/api/signing.md` describes the same scheme with a worked example.
//!
//! ```
//! use ed25519_dalek::{Signer, SigningKey};
//! use sealroom_wire::auth::{sign_request, verify_request, RequestParts};
//!
//! let key = SigningKey::from_bytes(&[7u8; 32]);
//! let nonce = sealroom_wire::auth::nonce_from_bytes(&[1u8; 16]); // use 16 random bytes
//! let headers = [("Content-Type", "application/json")];
//! let parts = RequestParts {
//!     method: "POST",
//!     authority: "relay.example",
//!     path: "/v1/me",
//!     query: "",
//!     headers: &headers,
//!     timestamp: 1_700_000_000,
//!     nonce: &nonce,
//!     body: b"{}",
//! };
//! let signed = sign_request("dev1", &parts, |msg| key.sign(msg).to_bytes());
//! let public = key.verifying_key().to_bytes();
//! let signature = sealroom_wire::auth::decode_signature(&signed.signature).unwrap();
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
pub const SIGNING_PREFIX: &str = "SEALROOM-V2";
/// The request headers the signature covers, in signing-string order: every header whose value
/// changes what the relay does with a request.
pub const SIGNED_HEADERS: [&str; 4] = ["content-type", "range", "upload-offset", "upload-checksum"];
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
    /// The authority (`host` or `host:port`, see [`authority_of_url`]); lower-cased when
    /// building the signing string.
    pub authority: &'a str,
    /// Request path as sent, without the query.
    pub path: &'a str,
    /// Raw query string without the leading `?`; empty when there is none.
    pub query: &'a str,
    /// The request's headers as `(name, value)` (names in any case). Only those named in
    /// [`SIGNED_HEADERS`] are signed (the first of each name); others are ignored.
    pub headers: &'a [(&'a str, &'a str)],
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
    signing_string_with_digest(parts, &body_digest_hex(parts.body))
}

/// [`signing_string`] with the body's digest computed by the caller: `body_digest_hex` must be
/// the lower-case hex SHA-256 of the bytes sent (a client whose platform hashes faster than
/// this crate, e.g. WebCrypto in a browser). `parts.body` is not read.
pub fn signing_string_with_digest(parts: &RequestParts<'_>, body_digest_hex: &str) -> Vec<u8> {
    let mut out = format!(
        "{SIGNING_PREFIX}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        parts.method.to_ascii_uppercase(),
        parts.authority.to_ascii_lowercase(),
        parts.path,
        parts.query,
        parts.timestamp,
        parts.nonce,
    );
    for name in SIGNED_HEADERS {
        if let Some((_, value)) = parts
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            out.push_str(name);
            out.push(':');
            out.push_str(value.trim_matches(|c| c == ' ' || c == '\t'));
            out.push('\n');
        }
    }
    out.push_str(body_digest_hex);
    out.into_bytes()
}

/// The authority a client signs for a request to `url` (`http://` or `https://` only):
/// the host in lower case, followed by `:port` unless the port is the scheme's default, exactly
/// what HTTP clients put in the `Host` header. User information (`user@`) is dropped. `None`
/// for another scheme or an empty host.
///
/// ```
/// use sealroom_wire::auth::authority_of_url;
/// assert_eq!(authority_of_url("https://Relay.Example:443/v1").as_deref(), Some("relay.example"));
/// assert_eq!(authority_of_url("http://127.0.0.1:8080").as_deref(), Some("127.0.0.1:8080"));
/// assert_eq!(authority_of_url("http://[::1]:80/").as_deref(), Some("[::1]"));
/// ```
pub fn authority_of_url(url: &str) -> Option<String> {
    let (rest, default_port) = if let Some(rest) = strip_prefix_ci(url, "https://") {
        (rest, "443")
    } else if let Some(rest) = strip_prefix_ci(url, "http://") {
        (rest, "80")
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let authority = authority.to_ascii_lowercase();
    // A port follows the last ':' outside an IPv6 literal's brackets.
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    let (host, port) = match authority[host_end..].rfind(':') {
        Some(i) => (
            &authority[..host_end + i],
            Some(&authority[host_end + i + 1..]),
        ),
        None => (authority.as_str(), None),
    };
    if host.is_empty() {
        return None;
    }
    match port {
        None | Some("") => Some(host.to_owned()),
        Some(p) if p == default_port => Some(host.to_owned()),
        Some(p) => Some(format!("{host}:{p}")),
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
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
    sign_request_with_digest(device_id, parts, &body_digest_hex(parts.body), sign)
}

/// [`sign_request`] with the body's digest computed by the caller (see
/// [`signing_string_with_digest`]).
pub fn sign_request_with_digest<F>(
    device_id: &str,
    parts: &RequestParts<'_>,
    body_digest_hex: &str,
    sign: F,
) -> SignedHeaders
where
    F: FnOnce(&[u8]) -> [u8; 64],
{
    let signature = sign(&signing_string_with_digest(parts, body_digest_hex));
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
    verify_request_with_digest(public_key, parts, &body_digest_hex(parts.body), signature)
}

/// [`verify_request`] with the body's digest computed by the caller (the lower-case hex
/// SHA-256 of the exact body bytes; `parts.body` is not read), so that a relay hashes each
/// body once and uses the same digest for its own checks.
pub fn verify_request_with_digest(
    public_key: &[u8; 32],
    parts: &RequestParts<'_>,
    body_digest_hex: &str,
    signature: &[u8; 64],
) -> Result<(), AuthError> {
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| AuthError::PublicKey)?;
    let signature = Signature::from_bytes(signature);
    key.verify_strict(
        &signing_string_with_digest(parts, body_digest_hex),
        &signature,
    )
    .map_err(|_| AuthError::BadSignature)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    fn parts(body: &[u8]) -> RequestParts<'_> {
        RequestParts {
            method: "post",
            authority: "Relay.Example:8443",
            path: "/v1/rooms/r1/messages",
            query: "after=3",
            headers: &[
                ("Upload-Offset", " 42 "),
                ("X-Other", "ignored"),
                ("content-type", "application/offset+octet-stream"),
            ],
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
            "SEALROOM-V2\nPOST\nrelay.example:8443\n/v1/rooms/r1/messages\nafter=3\n\
             1700000000\n000102030405060708090a0b0c0d0e0f\n\
             content-type:application/offset+octet-stream\nupload-offset:42\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_digest_given_by_the_caller_signs_the_same_string() {
        let body = b"sealed chunk bytes";
        assert_eq!(
            signing_string_with_digest(&parts(b"ignored"), &body_digest_hex(body)),
            signing_string(&parts(body))
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
            RequestParts {
                authority: "relay.example",
                ..p
            },
            RequestParts {
                headers: &[
                    ("upload-offset", "43"),
                    ("content-type", "application/offset+octet-stream"),
                ],
                ..p
            },
            RequestParts {
                headers: &[("upload-offset", "42")],
                ..p
            },
            RequestParts {
                headers: &[
                    ("upload-offset", "42"),
                    ("content-type", "application/offset+octet-stream"),
                    ("range", "bytes=0-1"),
                ],
                ..p
            },
            RequestParts {
                headers: &[
                    ("upload-offset", "42"),
                    ("content-type", "application/offset+octet-stream"),
                    ("upload-checksum", "sha256 AAAA"),
                ],
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

    /// The worked example of `docs/api/signing.md`.
    #[test]
    fn documented_example() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        assert_eq!(
            hex::encode(key.verifying_key().to_bytes()),
            "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
        );
        let headers = [
            ("Content-Type", "application/offset+octet-stream"),
            ("Upload-Offset", "0"),
        ];
        let parts = RequestParts {
            method: "PATCH",
            authority: "relay.example",
            path: "/v1/rooms/ab12/blobs/00112233445566778899aabbccddeeff",
            query: "",
            headers: &headers,
            timestamp: 1_700_000_000,
            nonce: "000102030405060708090a0b0c0d0e0f",
            body: b"0123456789",
        };
        let signed = sign_request("d", &parts, |m| key.sign(m).to_bytes());
        assert_eq!(
            signed.signature,
            "7178057fccfb66ace41ffb9c23c47e127c9e33e67ae87c1ba2d3d90635c4dbad\
             4eac8784d1dd0a6dac8b9d976eaba7afa85e56df88afe06ad3ffad3dbc823802"
        );
    }

    #[test]
    fn unsigned_headers_do_not_change_the_string() {
        let base = parts(b"");
        let more = RequestParts {
            headers: &[
                ("upload-offset", "42"),
                ("user-agent", "x"),
                ("content-type", "application/offset+octet-stream"),
            ],
            ..base
        };
        assert_eq!(signing_string(&base), signing_string(&more));
    }

    #[test]
    fn authority_rules() {
        for (url, want) in [
            ("https://relay.example", Some("relay.example")),
            ("HTTPS://Relay.EXAMPLE:443/x?y", Some("relay.example")),
            ("https://relay.example:8443/", Some("relay.example:8443")),
            ("http://relay.example:80", Some("relay.example")),
            ("http://relay.example:443", Some("relay.example:443")),
            ("http://user:pw@127.0.0.1:9000/v1", Some("127.0.0.1:9000")),
            ("http://[::1]:8080", Some("[::1]:8080")),
            ("http://[::1]", Some("[::1]")),
            ("http://host:", Some("host")),
            ("ftp://relay.example", None),
            ("https://", None),
            ("https://:443", None),
            ("relay.example", None),
        ] {
            assert_eq!(authority_of_url(url).as_deref(), want, "{url}");
        }
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
