//! Browser and Node bindings of the Sealroom SDK (wasm-bindgen).
//!
//! Thin by design: every rule of the format lives in `sealroom-core`; this crate only converts
//! types and maps errors to JS `Error`s that carry a stable `code` property.
//!
//! ```js
//! import init, { FileSealer, FileOpener, generateFileKey } from "@sealroom/sdk";
//! await init();
//! const key = generateFileKey();
//! const sealer = new FileSealer(key, "report.pdf", "application/pdf", "confidential", Date.now() / 1000, 11);
//! const sealed = [sealer.header(), sealer.push(new TextEncoder().encode("hello world")), sealer.finish()];
//! ```
#![forbid(unsafe_code)]

use sealroom_core::format::{FileKey, FormatError, Metadata, Opener, Sealer};
use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
mod audit;
// Benchmark exports (scripts/bench.sh builds them in with `--features bench`); not shipped.
#[cfg(feature = "bench")]
mod bench;
#[cfg(target_arch = "wasm32")]
mod client;
// `SealroomClient` methods split by concern.
#[cfg(target_arch = "wasm32")]
mod client_admin;
#[cfg(target_arch = "wasm32")]
mod client_files;
// Used by the client (wasm32 only); compiled natively too so their unit tests run there.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod convert;
#[cfg(target_arch = "wasm32")]
mod download;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod error;
#[cfg(target_arch = "wasm32")]
mod invitations;
#[cfg(target_arch = "wasm32")]
mod labels;
#[cfg(target_arch = "wasm32")]
mod live;
#[cfg(target_arch = "wasm32")]
mod profiles;
#[cfg(target_arch = "wasm32")]
mod revoke;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod store;
#[cfg(target_arch = "wasm32")]
mod transport;
#[cfg(target_arch = "wasm32")]
mod types;
#[cfg(target_arch = "wasm32")]
mod vouching;

#[cfg(feature = "bench")]
pub use bench::{
    bench_chacha20, bench_poly1305, bench_raw_aead, bench_sdk_aead, bench_sdk_chacha20,
    bench_seal_in_wasm, BenchCommitter,
};
#[cfg(target_arch = "wasm32")]
pub use client::{indexed_db_store, memory_store, Client};
#[cfg(target_arch = "wasm32")]
pub use error::SealroomError;

/// Builds a JS `Error` with a stable machine-readable `code` property.
fn js_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    // Setting a plain data property on a fresh Error object cannot fail; if it ever did, the
    // error would still carry its message.
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("code"), &JsValue::from_str(code));
    error.into()
}

/// Stable codes of format errors, shared with the documentation of the JS API.
fn format_error(error: FormatError) -> JsValue {
    let code = match &error {
        FormatError::NotSealed => "not_sealed",
        FormatError::UnsupportedVersion(_) => "unsupported_version",
        FormatError::InvalidHeader => "invalid_header",
        FormatError::Truncated => "truncated",
        FormatError::Decrypt => "decrypt",
        FormatError::InvalidPayload => "invalid_payload",
        FormatError::MetadataTooLarge => "metadata_too_large",
        FormatError::LengthMismatch => "length_mismatch",
        FormatError::RangeOutOfBounds => "range_out_of_bounds",
        FormatError::TooLarge => "too_large",
        FormatError::Random => "random",
        FormatError::Io(_) => "io",
        _ => "internal",
    };
    js_error(code, &error.to_string())
}

fn file_key(bytes: &[u8]) -> Result<FileKey, JsValue> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| js_error("invalid_key", "a file key is exactly 32 bytes"))?;
    Ok(FileKey::from_bytes(bytes))
}

fn finished() -> JsValue {
    js_error("finished", "this stream was already finished")
}

/// Whole seconds or bytes from a JS number: finite, non-negative, at most 2^53.
pub(crate) fn whole_number(value: f64, what: &str) -> Result<u64, JsValue> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if (0.0..=MAX_SAFE).contains(&value) && value.fract() == 0.0 {
        // Checked above: a non-negative integer below 2^53 converts exactly.
        Ok(value as u64)
    } else {
        Err(js_error(
            "invalid_argument",
            &format!("{what} must be a whole number ≥ 0"),
        ))
    }
}

/// Draws a fresh random 256-bit file key.
#[wasm_bindgen(js_name = generateFileKey)]
pub fn generate_file_key() -> Result<Vec<u8>, JsValue> {
    let key = FileKey::generate().map_err(format_error)?;
    Ok(key.expose_bytes().to_vec())
}

/// Push-style sealer. Emit `header()`, then each `push()` result, then `finish()`.
#[wasm_bindgen]
pub struct FileSealer {
    inner: Option<Sealer>,
    header: Option<Vec<u8>>,
}

#[wasm_bindgen]
impl FileSealer {
    /// Starts sealing under a 32-byte file key. `length` may be `undefined` for a stream of
    /// unknown length; a declared length is enforced.
    #[wasm_bindgen(constructor)]
    pub fn new(
        key: &[u8],
        name: &str,
        media_type: &str,
        classification: &str,
        created: f64,
        length: Option<f64>,
    ) -> Result<FileSealer, JsValue> {
        let metadata = Metadata {
            name: name.to_owned(),
            media_type: media_type.to_owned(),
            classification: classification.to_owned(),
            created: whole_number(created.floor(), "created")?,
            length: length.map(|l| whole_number(l, "length")).transpose()?,
        };
        let (sealer, header) = Sealer::new(&file_key(key)?, &metadata).map_err(format_error)?;
        Ok(FileSealer {
            inner: Some(sealer),
            header: Some(header),
        })
    }

    /// The header bytes; returned once, empty on later calls.
    pub fn header(&mut self) -> Vec<u8> {
        self.header.take().unwrap_or_default()
    }

    /// Seals the next plaintext piece (any size); returns the sealed bytes ready so far.
    pub fn push(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, JsValue> {
        self.inner
            .as_mut()
            .ok_or_else(finished)?
            .push(plaintext)
            .map_err(format_error)
    }

    /// Plaintext bytes sealed so far.
    #[wasm_bindgen(getter, js_name = bytesDone)]
    pub fn bytes_done(&self) -> f64 {
        self.inner.as_ref().map_or(0.0, |s| s.bytes_done() as f64)
    }

    /// Seals the final chunk. The sealer cannot be used afterwards.
    pub fn finish(&mut self) -> Result<Vec<u8>, JsValue> {
        self.inner
            .take()
            .ok_or_else(finished)?
            .finish()
            .map_err(format_error)
    }
}

/// Push-style opener: feed sealed bytes in pieces of any size; each `push()` returns only
/// plaintext whose chunk has authenticated. `finish()` fails if the final chunk is missing.
#[wasm_bindgen]
pub struct FileOpener {
    inner: Option<Opener>,
}

#[wasm_bindgen]
impl FileOpener {
    /// Starts opening a sealed file with its 32-byte key.
    #[wasm_bindgen(constructor)]
    pub fn new(key: &[u8]) -> Result<FileOpener, JsValue> {
        Ok(FileOpener {
            inner: Some(Opener::new(&file_key(key)?)),
        })
    }

    /// Feeds sealed bytes; returns authenticated plaintext (possibly empty).
    pub fn push(&mut self, sealed: &[u8]) -> Result<Vec<u8>, JsValue> {
        self.inner
            .as_mut()
            .ok_or_else(finished)?
            .push(sealed)
            .map_err(format_error)
    }

    /// The metadata, once the header has been read and authenticated (core's record,
    /// `FileMetadata`; `undefined` before).
    #[wasm_bindgen(unchecked_return_type = "FileMetadata | undefined")]
    pub fn metadata(&self) -> Result<JsValue, JsValue> {
        match self.inner.as_ref().and_then(|o| o.metadata()) {
            Some(m) => crate::convert::to_js(m),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Plaintext bytes released so far.
    #[wasm_bindgen(getter, js_name = bytesDone)]
    pub fn bytes_done(&self) -> f64 {
        self.inner.as_ref().map_or(0.0, |o| o.bytes_done() as f64)
    }

    /// Ends the stream: returns the last plaintext, or fails if the file was cut short.
    pub fn finish(&mut self) -> Result<Vec<u8>, JsValue> {
        self.inner
            .take()
            .ok_or_else(finished)?
            .finish()
            .map_err(format_error)
    }
}
