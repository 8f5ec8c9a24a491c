//! Where blob bytes live: the [`BlobStore`] trait the blob domain (`crate::blobs`) uses, and its
//! backends, which only this storage layer names: the local directory ([`local`], one file per
//! blob, the embedded deployment) and S3-compatible object storage ([`s3`], one object per blob,
//! uploads as multipart uploads). [`open`] picks one from the configuration.
//!
//! The blob records and every offset stay in the relay's [`crate::store::Store`]; a backend only
//! keeps bytes. An append hands the backend the upload as stored ([`Upload`]: the acknowledged
//! offset and, for S3, the multipart state) and gets back the state to store beside the new
//! offset, so any relay instance sharing the store and the bucket can continue an upload.

pub mod header;
pub mod local;
pub mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::S3Config;

pub use local::{blob_file, blob_path, LocalBlobs};

/// Size of the pieces a download is streamed in.
pub const DOWNLOAD_PIECE: usize = 256 * 1024;

/// The receiving end of a download: pieces of the requested range in order, then the end.
pub type ByteReceiver = tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>;

/// An unfinished upload's S3 state, kept in its record so that any relay instance continues it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartState {
    /// The multipart upload id (created with the first full part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// ETags of the uploaded parts, in part order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
    /// Object holding the bytes after the last full part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_key: Option<String>,
    /// Length of those bytes.
    #[serde(default)]
    pub tail_len: u64,
}

/// What a backend needs of an upload's record: which blob, how long, how far it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Blob id (32 lowercase hex characters).
    pub blob_id: String,
    /// Announced length.
    pub length: u64,
    /// Durably stored (acknowledged) bytes.
    pub offset: u64,
    /// The backend's multipart state as stored (S3 only).
    pub multipart: Option<MultipartState>,
}

/// What an append left behind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The backend state to store with the new offset (`None` for the local backend and for a
    /// finished upload).
    pub multipart: Option<MultipartState>,
    /// Objects the previous state referred to and the new one no longer does; remove them with
    /// [`BlobStore::forget`] once the new state is committed.
    pub obsolete: Vec<String>,
    /// Whether the backend recorded the new offset durably itself (the local backend's
    /// layout 1): the record's new offset may then be committed without waiting for a sync of
    /// the store, as start-up recovers it ([`BlobStore::recover_offset`]).
    pub offset_durable: bool,
}

/// Why a backend failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// File I/O failed.
    #[error("blob file I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The object storage failed or refused a request.
    #[error("blob object storage: {0}")]
    Backend(String),
    /// The object storage did not answer in time; nothing acknowledged changed (503).
    #[error("busy: {0}")]
    Busy(String),
    /// The upload is larger than the backend stores.
    #[error("the upload exceeds the largest blob this storage keeps ({limit} bytes)")]
    TooLarge {
        /// The largest blob.
        limit: u64,
    },
}

/// Storage of blob bytes.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Prepares a new upload, durably, before its record is stored.
    fn create(&self, blob_id: &str) -> Result<(), BackendError>;

    /// Undoes [`BlobStore::create`] when the record was not stored.
    fn discard(&self, blob_id: &str);

    /// Stores `body` (whose SHA-256 is `body_sha256`) at `upload.offset` durably. `upload` is
    /// the upload as stored (its multipart state included); it is complete after this append
    /// when `upload.offset + body.len() == upload.length`.
    fn append(
        &self,
        upload: &Upload,
        body: &[u8],
        body_sha256: &[u8; 32],
    ) -> Result<Appended, BackendError>;

    /// The offset the backend holds durably for the unfinished `upload` when it is past the
    /// recorded one and short of its length (appends whose record commits a crash lost; see
    /// [`Appended::offset_durable`]); `None` otherwise and for backends that keep no offset.
    fn recover_offset(&self, _upload: &Upload) -> Result<Option<u64>, BackendError> {
        Ok(None)
    }

    /// Removes objects an append made obsolete (best effort: a failure is logged).
    fn forget(&self, keys: &[String]);

    /// Streams bytes `[start, end)` of a complete blob of `length` bytes.
    fn read(
        &self,
        blob_id: &str,
        length: u64,
        start: u64,
        end: u64,
    ) -> Result<ByteReceiver, BackendError>;

    /// Removes a blob's bytes, finished or not (an unfinished S3 upload is aborted). A blob
    /// whose bytes are already gone is not an error.
    fn remove(&self, upload: &Upload) -> Result<(), BackendError>;

    /// The directory holding one file per blob, for backends that have one (backups copy it).
    fn local_dir(&self) -> Option<&Path>;
}

/// Opens the backend the configuration selects: S3 when `s3.bucket` is set, else one file per
/// blob in `blob_dir`.
pub fn open(s3: &S3Config, blob_dir: PathBuf) -> Result<Arc<dyn BlobStore>, BackendError> {
    if s3.bucket.is_some() {
        Ok(Arc::new(s3::S3Blobs::open(s3)?))
    } else {
        Ok(Arc::new(LocalBlobs::new(blob_dir)))
    }
}
