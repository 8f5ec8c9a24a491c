//! The local-directory backend: one file per blob, `{blob_id}.blob`, in the blob directory
//! (the embedded deployment). Every create, append and removal is synced before it returns.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{Appended, BackendError, BlobStore, ByteReceiver, Upload, DOWNLOAD_PIECE};

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
    fn create(&self, blob_id: &str) -> Result<(), BackendError> {
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

    fn append(&self, record: &Upload, body: &[u8]) -> Result<Appended, BackendError> {
        let offset = record.offset;
        let blob_id = &record.blob_id;
        // Never created here: `create` made the file durable before its record existed, so a
        // missing file (or one shorter than the acknowledged offset) is damage to report, not
        // to paper over with zeros.
        let mut file = OpenOptions::new()
            .write(true)
            .open(blob_path(&self.dir, blob_id))?;
        if file.metadata()?.len() < offset {
            return Err(BackendError::Io(std::io::Error::other(format!(
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
    ) -> Result<ByteReceiver, BackendError> {
        let file = File::open(blob_path(&self.dir, blob_id))?;
        file_stream(file, start, end)
    }

    fn remove(&self, record: &Upload) -> Result<(), BackendError> {
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
fn file_stream(mut file: File, start: u64, end: u64) -> Result<ByteReceiver, BackendError> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|e| BackendError::Io(std::io::Error::other(e.to_string())))?;
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
