//! Wire types shared between the Sealroom SDK (`sealroom-core`) and the relay (`sealroom-server`).
//!
//! Only public data lives here: identifiers, ciphertext envelopes and request/response bodies.
//! The relay depends on this crate and never on `sealroom-core`, so it cannot link a secret type.
#![forbid(unsafe_code)]

/// Version of the relay HTTP API described in `docs/api/openapi.yaml`.
pub const API_VERSION: &str = "v1";
