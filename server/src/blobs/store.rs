//! Where blob bytes live: the [`BlobStore`] trait, with the local-directory backend
//! ([`LocalBlobs`], one file per blob, the embedded deployment) and the S3 backend
//! ([`super::s3::S3Blobs`], one object per blob, uploads as multipart uploads).
//!
//! The blob records and every offset stay in the relay's [`crate::store::Store`]; a backend only
//! keeps bytes. An append hands the backend the record as stored (the acknowledged offset and,
//! for S3, the multipart state) and gets back the state to store beside the new offset, so any
//! relay instance sharing the store and the bucket can continue an upload.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::data::{BlobError, BlobRecord, MultipartState};

/// Size of the pieces a download is streamed in.
pub(crate) const DOWNLOAD_PIECE: usize = 256 * 1024;

/// The receiving end of a download: pieces of the requested range in order, then the end.
pub type ByteReceiver = tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>;

/// What an append left behind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The backend state to store with the new offset (`None` for the local backend and for a
    /// finished upload).
    pub multipart: Option<MultipartState>,
    /// Objects the previous state referred to and the new one no longer does; remove them with
    /// [`BlobStore::forget`] once the new state is committed.
    pub obsolete: Vec<String>,
}

/// Storage of blob bytes.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Prepares a new upload, durably, before its record is stored.
    fn create(&self, blob_id: &str) -> Result<(), BlobError>;

    /// Undoes [`BlobStore::create`] when the record was not stored.
    fn discard(&self, blob_id: &str);

    /// Stores `body` at `record.offset` durably. `record` is the record as stored (its
    /// multipart state included); the upload is complete after this append when
    /// `record.offset + body.len() == record.length`.
    fn append(&self, record: &BlobRecord, body: &[u8]) -> Result<Appended, BlobError>;

    /// Removes objects an append made obsolete (best effort: a failure is logged).
    fn forget(&self, keys: &[String]);

    /// Streams bytes `[start, end)` of a complete blob of `length` bytes.
    fn read(
        &self,
        blob_id: &str,
        length: u64,
        start: u64,
        end: u64,
    ) -> Result<ByteReceiver, BlobError>;

    /// Removes a blob's bytes, finished or not (an unfinished S3 upload is aborted). A blob
    /// whose bytes are already gone is not an error.
    fn remove(&self, record: &BlobRecord) -> Result<(), BlobError>;

    /// The directory holding one file per blob, for backends that have one (backups copy it).
    fn local_dir(&self) -> Option<&Path>;
}

/// One file per blob, `{blob_id}.blob`, in a directory.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    dir: PathBuf,
}

impl LocalBlobs {
    /// Blobs in `dir` (created on the first upload).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

/// Path of a blob's file.
pub fn blob_path(dir: &Path, blob_id: &str) -> PathBuf {
    dir.join(format!("{blob_id}.blob"))
}

/// Makes the entries of `dir` (a file created or removed in it) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

impl BlobStore for LocalBlobs {
    fn create(&self, blob_id: &str) -> Result<(), BlobError> {
        std::fs::create_dir_all(&self.dir)?;
        File::create(blob_path(&self.dir, blob_id))?.sync_all()?;
        // The new directory entry must be durable before the record that points at it.
        if let Err(e) = sync_dir(&self.dir) {
            self.discard(blob_id);
            return Err(e.into());
        }
        Ok(())
    }

    fn discard(&self, blob_id: &str) {
        let _ = std::fs::remove_file(blob_path(&self.dir, blob_id));
    }

    fn append(&self, record: &BlobRecord, body: &[u8]) -> Result<Appended, BlobError> {
        let offset = record.offset;
        let blob_id = &record.blob_id;
        // Never created here: `create` made the file durable before its record existed, so a
        // missing file (or one shorter than the acknowledged offset) is damage to report, not
        // to paper over with zeros.
        let mut file = OpenOptions::new()
            .write(true)
            .open(blob_path(&self.dir, blob_id))?;
        if file.metadata()?.len() < offset {
            return Err(BlobError::Io(std::io::Error::other(format!(
                "blob {blob_id} is shorter than its acknowledged offset {offset}"
            ))));
        }
        // Bytes past the acknowledged offset come from an append that was never acknowledged.
        file.set_len(offset)?;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(body)?;
        file.sync_all()?;
        Ok(Appended::default())
    }

    fn forget(&self, _keys: &[String]) {}

    fn read(
        &self,
        blob_id: &str,
        _length: u64,
        start: u64,
        end: u64,
    ) -> Result<ByteReceiver, BlobError> {
        let file = File::open(blob_path(&self.dir, blob_id))?;
        file_stream(file, start, end)
    }

    fn remove(&self, record: &BlobRecord) -> Result<(), BlobError> {
        match std::fs::remove_file(blob_path(&self.dir, &record.blob_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }
}

/// Streams `[start, end)` of a file, reading on a blocking thread into a bounded channel.
fn file_stream(mut file: File, start: u64, end: u64) -> Result<ByteReceiver, BlobError> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    handle.spawn_blocking(move || {
        if let Err(e) = file.seek(SeekFrom::Start(start)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut left = end.saturating_sub(start);
        while left > 0 {
            let want = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(DOWNLOAD_PIECE);
            let mut buf = vec![0u8; want];
            if let Err(e) = file.read_exact(&mut buf) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            left -= want as u64;
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return; // client went away
            }
        }
    });
    Ok(rx)
}
