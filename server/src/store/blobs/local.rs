//! The local-directory backend: one file per blob in the blob directory (the embedded
//! deployment). Every create, append and removal is synced before it returns.
//!
//! Two layouts: a blob created by this release is `{blob_id}.v1.blob`, whose header records
//! its durable offset ([`super::header`]): an append writes its bytes and that offset and
//! syncs the file once, and the offset in the blob's record may then be committed without a
//! sync of its own (start-up recovers it from the file, [`BlobStore::recover_offset`]). A blob
//! of an earlier release is `{blob_id}.blob`, only bytes: its appends sync the file and then
//! commit the record durably, as before.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::header::{self, Slot, HEADER_LEN};
use super::{Appended, BackendError, BlobStore, ByteReceiver, Upload, DOWNLOAD_PIECE};

/// One file per blob in a directory.
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

/// Path of a blob's file of layout 1 (with the header).
fn v1_path(dir: &Path, blob_id: &str) -> PathBuf {
    dir.join(format!("{blob_id}.v1.blob"))
}

/// Path of a blob's file of the earlier layout (bytes only).
fn legacy_path(dir: &Path, blob_id: &str) -> PathBuf {
    dir.join(format!("{blob_id}.blob"))
}

/// Path of a blob's file: the layout-1 file when there is one, else the earlier layout's
/// (also the name a restore writes, bytes only).
pub fn blob_path(dir: &Path, blob_id: &str) -> PathBuf {
    blob_file(dir, blob_id).0
}

/// Path of a blob's file and where its bytes begin in it ([`HEADER_LEN`] for layout 1, 0 for
/// the earlier layout).
pub fn blob_file(dir: &Path, blob_id: &str) -> (PathBuf, u64) {
    let v1 = v1_path(dir, blob_id);
    if v1.is_file() {
        (v1, HEADER_LEN)
    } else {
        (legacy_path(dir, blob_id), 0)
    }
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
        let mut file = File::create(v1_path(&self.dir, blob_id))?;
        let written = file
            .write_all(&header::new_header())
            .and_then(|()| file.sync_all())
            // The new directory entry must be durable before the record that points at it.
            .and_then(|()| sync_dir(&self.dir));
        if let Err(e) = written {
            self.discard(blob_id);
            return Err(e.into());
        }
        Ok(())
    }

    fn discard(&self, blob_id: &str) {
        let _ = std::fs::remove_file(v1_path(&self.dir, blob_id));
        let _ = std::fs::remove_file(legacy_path(&self.dir, blob_id));
    }

    fn append(
        &self,
        record: &Upload,
        body: &[u8],
        body_sha256: &[u8; 32],
    ) -> Result<Appended, BackendError> {
        let offset = record.offset;
        let blob_id = &record.blob_id;
        // Never created here: `create` made the file durable before its record existed, so a
        // missing file (or one shorter than the acknowledged offset) is damage to report, not
        // to paper over with zeros.
        let (path, skip) = blob_file(&self.dir, blob_id);
        let mut file = OpenOptions::new().read(skip > 0).write(true).open(path)?;
        let start = skip + offset;
        let len = file.metadata()?.len();
        if len < start {
            return Err(BackendError::Io(std::io::Error::other(format!(
                "blob {blob_id} is shorter than its acknowledged offset {offset}"
            ))));
        }
        if skip == 0 {
            // Bytes past the acknowledged offset come from an append that was never
            // acknowledged.
            file.set_len(start)?;
            file.seek(SeekFrom::Start(start))?;
            file.write_all(body)?;
            file.sync_all()?;
            return Ok(Appended::default());
        }
        if body.is_empty() {
            return Ok(Appended::default());
        }
        let slots = header::read_slots(&file)?;
        if len > start {
            // Bytes of an append that was never acknowledged (its slot, if written, is the
            // one overwritten now, or says less than it was recovered to).
            file.set_len(start)?;
        }
        file.seek(SeekFrom::Start(start))?;
        file.write_all(body)?;
        let slot = Slot {
            end: offset + body.len() as u64,
            start: offset,
            digest: *body_sha256,
        };
        header::write_slot(&file, header::next_slot(&slots, offset), &slot)?;
        // One sync for the bytes, the file's length and the slot that says they are there.
        file.sync_data()?;
        Ok(Appended {
            offset_durable: true,
            ..Appended::default()
        })
    }

    fn recover_offset(&self, upload: &Upload) -> Result<Option<u64>, BackendError> {
        let path = v1_path(&self.dir, &upload.blob_id);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(header::durable_end(&file, upload.offset, upload.length)?)
    }

    fn forget(&self, _keys: &[String]) {}

    fn read(
        &self,
        blob_id: &str,
        _length: u64,
        start: u64,
        end: u64,
    ) -> Result<ByteReceiver, BackendError> {
        let (path, skip) = blob_file(&self.dir, blob_id);
        let file = File::open(path)?;
        file_stream(file, skip + start, skip + end)
    }

    fn remove(&self, record: &Upload) -> Result<(), BackendError> {
        for path in [
            v1_path(&self.dir, &record.blob_id),
            legacy_path(&self.dir, &record.blob_id),
        ] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
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
