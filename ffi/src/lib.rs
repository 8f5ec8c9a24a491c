//! Kotlin and Swift bindings of the Sealroom SDK (uniffi proc-macros).
//!
//! Thin by design: every rule lives in `sealroom-core`; this crate converts types and maps core
//! errors to one exception type per error kind. Two parts:
//!
//! - [`SealroomClient`] (module `client`): the SDK client (accounts, spaces, messages, files,
//!   sync) with blocking calls, a file-backed encrypted state store and streaming callbacks.
//! - [`FileSealer`] / [`FileOpener`] / [`seal_bytes`]: the sealed-file format on its own.
//!
//! Objects are used from one thread at a time by apps, but uniffi requires `Send + Sync`, so
//! their state sits behind a mutex. See `docs/mobile.md`.
#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex, MutexGuard};

use sealroom_core::format::{self, FileKey, FormatError, Opener, Sealer};

/// Core's file metadata as it is (its uniffi name is `FileMetadata`).
pub use sealroom_core::format::Metadata as FileMetadata;

mod client;

pub use client::*;

uniffi::setup_scaffolding!();

/// Errors of the sealed-file API, one case per kind a caller must handle.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The bytes are not a sealed file.
    #[error("not a sealed file")]
    NotSealed,
    /// The file has a format version this SDK does not know (a newer SDK may open it).
    #[error("unsupported sealed-file version {version}")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// A header field is out of range or malformed: corrupt input.
    #[error("invalid sealed-file header")]
    InvalidHeader,
    /// The file ended before its final chunk: fetch the rest and retry.
    #[error("sealed file is truncated")]
    Truncated,
    /// Wrong key or modified bytes (deliberately not more specific).
    #[error("decryption failed")]
    Decrypt,
    /// A metadata string exceeds its limit.
    #[error("metadata too large")]
    MetadataTooLarge,
    /// The plaintext pushed differs from the declared length.
    #[error("plaintext length differs from the declared length")]
    LengthMismatch,
    /// The file key is not 32 bytes.
    #[error("a file key is exactly 32 bytes")]
    InvalidKey,
    /// The stream was already finished.
    #[error("this stream was already finished")]
    Finished,
    /// Any other failure (randomness unavailable, file too large, internal error).
    #[error("{reason}")]
    Other {
        /// What failed. (Not called `message`: that would clash with Kotlin's
        /// `Throwable.message` in the generated exception class.)
        reason: String,
    },
}

impl From<FormatError> for SealError {
    fn from(error: FormatError) -> Self {
        match error {
            FormatError::NotSealed => Self::NotSealed,
            FormatError::UnsupportedVersion(version) => Self::UnsupportedVersion { version },
            FormatError::InvalidHeader => Self::InvalidHeader,
            FormatError::Truncated => Self::Truncated,
            FormatError::Decrypt => Self::Decrypt,
            // Version 2's authenticated-payload violations (padding, end length, a size no
            // encryptor makes): corrupt input, which docs/format.md allows to merge into
            // `decrypt`. (Was `Other`, which callers cannot tell from an internal failure.)
            FormatError::InvalidPayload => Self::Decrypt,
            FormatError::MetadataTooLarge => Self::MetadataTooLarge,
            FormatError::LengthMismatch => Self::LengthMismatch,
            other => Self::Other {
                reason: other.to_string(),
            },
        }
    }
}

fn file_key(bytes: &[u8]) -> Result<FileKey, SealError> {
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| SealError::InvalidKey)?;
    Ok(FileKey::from_bytes(bytes))
}

fn lock<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>, SealError> {
    mutex.lock().map_err(|_| SealError::Other {
        reason: "internal error: a previous call panicked".into(),
    })
}

/// Draws a fresh random 256-bit file key.
#[uniffi::export]
pub fn generate_file_key() -> Result<Vec<u8>, SealError> {
    Ok(FileKey::generate()?.expose_bytes().to_vec())
}

/// Seals a whole buffer (for small files; use [`FileSealer`] for streams).
#[uniffi::export]
pub fn seal_bytes(
    key: Vec<u8>,
    metadata: FileMetadata,
    plaintext: Vec<u8>,
) -> Result<Vec<u8>, SealError> {
    Ok(format::seal(&file_key(&key)?, &metadata, &plaintext)?)
}

/// Push-style sealer: emit `header()`, then each `push()` result, then `finish()`.
#[derive(uniffi::Object)]
pub struct FileSealer {
    inner: Mutex<Option<Sealer>>,
    header: Mutex<Option<Vec<u8>>>,
}

#[uniffi::export]
impl FileSealer {
    /// Starts sealing under a 32-byte file key.
    #[uniffi::constructor]
    pub fn new(key: Vec<u8>, metadata: FileMetadata) -> Result<Arc<Self>, SealError> {
        let (sealer, header) = Sealer::new(&file_key(&key)?, &metadata)?;
        Ok(Arc::new(Self {
            inner: Mutex::new(Some(sealer)),
            header: Mutex::new(Some(header)),
        }))
    }

    /// The header bytes; returned once, empty afterwards.
    pub fn header(&self) -> Result<Vec<u8>, SealError> {
        Ok(lock(&self.header)?.take().unwrap_or_default())
    }

    /// Seals the next plaintext piece; returns the sealed bytes ready so far.
    pub fn push(&self, plaintext: Vec<u8>) -> Result<Vec<u8>, SealError> {
        let mut inner = lock(&self.inner)?;
        Ok(inner
            .as_mut()
            .ok_or(SealError::Finished)?
            .push(&plaintext)?)
    }

    /// Seals the final chunk.
    pub fn finish(&self) -> Result<Vec<u8>, SealError> {
        let sealer = lock(&self.inner)?.take().ok_or(SealError::Finished)?;
        Ok(sealer.finish()?)
    }
}

/// Push-style opener: releases plaintext only after its chunk authenticates.
#[derive(uniffi::Object)]
pub struct FileOpener {
    inner: Mutex<Option<Opener>>,
}

#[uniffi::export]
impl FileOpener {
    /// Starts opening a sealed file with its 32-byte key.
    #[uniffi::constructor]
    pub fn new(key: Vec<u8>) -> Result<Arc<Self>, SealError> {
        Ok(Arc::new(Self {
            inner: Mutex::new(Some(Opener::new(&file_key(&key)?))),
        }))
    }

    /// Feeds sealed bytes; returns authenticated plaintext (possibly empty).
    pub fn push(&self, sealed: Vec<u8>) -> Result<Vec<u8>, SealError> {
        let mut inner = lock(&self.inner)?;
        Ok(inner.as_mut().ok_or(SealError::Finished)?.push(&sealed)?)
    }

    /// The metadata, once the header has been read and authenticated.
    pub fn metadata(&self) -> Result<Option<FileMetadata>, SealError> {
        let inner = lock(&self.inner)?;
        Ok(inner.as_ref().and_then(|o| o.metadata()).cloned())
    }

    /// Ends the stream: the last plaintext, or an error if the file was cut short.
    pub fn finish(&self) -> Result<Vec<u8>, SealError> {
        let opener = lock(&self.inner)?.take().ok_or(SealError::Finished)?;
        Ok(opener.finish()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(length: Option<u64>) -> FileMetadata {
        FileMetadata {
            name: "contract.pdf".into(),
            media_type: "application/pdf".into(),
            classification: "confidential".into(),
            created: 1_700_000_000,
            length,
        }
    }

    #[test]
    fn streams_round_trip_through_the_binding_types() {
        let key = generate_file_key().unwrap();
        let plaintext: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sealer = FileSealer::new(key.clone(), meta(Some(plaintext.len() as u64))).unwrap();
        let mut sealed = sealer.header().unwrap();
        assert!(sealer.header().unwrap().is_empty());
        for piece in plaintext.chunks(10_000) {
            sealed.extend(sealer.push(piece.to_vec()).unwrap());
        }
        sealed.extend(sealer.finish().unwrap());
        assert!(matches!(sealer.finish(), Err(SealError::Finished)));

        let opener = FileOpener::new(key.clone()).unwrap();
        let mut back = Vec::new();
        for piece in sealed.chunks(777) {
            back.extend(opener.push(piece.to_vec()).unwrap());
        }
        assert_eq!(opener.metadata().unwrap().unwrap().name, "contract.pdf");
        back.extend(opener.finish().unwrap());
        assert_eq!(back, plaintext);
        let small = seal_bytes(key.clone(), meta(Some(3)), vec![1, 2, 3]).unwrap();
        let opener = FileOpener::new(key).unwrap();
        let mut back = opener.push(small).unwrap();
        back.extend(opener.finish().unwrap());
        assert_eq!(back, vec![1, 2, 3]);
    }

    #[test]
    fn errors_map_to_one_kind_each() {
        assert!(matches!(
            FileOpener::new(vec![0; 31]),
            Err(SealError::InvalidKey)
        ));
        let key = generate_file_key().unwrap();
        // Two chunks: a full one and a final one of 100 bytes (+16 tag).
        let plaintext = vec![9u8; 64 * 1024 + 100];
        let sealed =
            seal_bytes(key.clone(), meta(Some(plaintext.len() as u64)), plaintext).unwrap();
        let opener = FileOpener::new(generate_file_key().unwrap()).unwrap();
        assert!(matches!(
            opener.push(sealed.clone()),
            Err(SealError::Decrypt)
        ));
        let opener = FileOpener::new(key.clone()).unwrap();
        opener.push(sealed[..sealed.len() - 116].to_vec()).unwrap();
        assert!(matches!(opener.finish(), Err(SealError::Truncated)));
        let opener = FileOpener::new(key.clone()).unwrap();
        assert!(matches!(
            opener.push(b"this is not a sealed file, not at all".to_vec()),
            Err(SealError::NotSealed)
        ));
        // Undeclared length plus one trailing byte: the payload size is no Padmé size
        // (invalid_payload in the format), reported as corrupt input, not as `Other`.
        let mut sealed = seal_bytes(key.clone(), meta(None), vec![7; 300]).unwrap();
        sealed.push(0);
        let opener = FileOpener::new(key).unwrap();
        let result = opener.push(sealed).and_then(|_| opener.finish());
        assert!(matches!(result, Err(SealError::Decrypt)), "{result:?}");
    }
}
