//! The relay under test: process control, a minimal HTTP/1.1 client over `std::net`, signed
//! requests and account helpers.
//!
//! The HTTP client is deliberately small and dependency-free so tests can also send raw,
//! malformed or truncated requests ([`http_raw`], [`send_partial`]).
//!
//! Split by concern: [`backends`] (which store and blob storage a relay uses), [`process`]
//! (starting, stopping and killing the binary), [`accounts`] (bootstrap, invitations, spaces),
//! [`device`] (signing keys), [`client`] (signed requests, responses), [`http`] (the raw
//! HTTP/1.1 client). Everything is re-exported here: `sealroom_tests::relay::Relay` etc.
//!
//! ```no_run
//! use sealroom_tests::relay::Relay;
//! let relay = Relay::start();
//! let admin = relay.bootstrap_admin();
//! let me = relay.client(&admin).get("/v1/me");
//! assert_eq!(me.status, 200);
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

pub mod accounts;
pub mod backends;
pub mod client;
pub mod device;
pub mod http;
pub mod process;

pub use accounts::registration;
pub use backends::{
    binary_path, blob_backend_env, s3_relay_env, store_backend_env, test_database_url,
};
pub use client::{Client, Response};
pub use device::Device;
pub use http::{http, http_from, http_raw, request_bytes, send_partial};
pub use process::{files_under, read_file, Relay};

/// Decodes RFC 4648 base32 (upper case, optional padding), as TOTP secrets are shown.
pub fn base32_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// Unix time in seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
