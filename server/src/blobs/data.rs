//! Blob storage: records in the store, bytes in one file per blob under the blob directory.
//!
//! An append writes its bytes at the stored offset (after cutting the file back to that
//! offset, so bytes of an append that never completed are discarded), verifies the checksum,
//! `fsync`s the file, then advances the stored offset with a compare-and-swap and flushes the
//! store. Only then is it acknowledged, so an acknowledged offset survives a crash and a
//! resumed upload continues from it.
//!
//! Layout: [`BLOBS`]: blob id -> [`BlobRecord`] (JSON); [`SPACE_USAGE`]: space id -> bytes
//! reserved by the announced lengths of its live blobs (u64 BE).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use sealroom_wire::blobs::BlobStatus;

use crate::store::{decode_json, Store, StoreError, StoreExt, Txn, TxnError};

/// Tree: blob id -> [`BlobRecord`].
pub const BLOBS: &str = "blob_blobs";
/// Tree: space id -> reserved bytes (u64 BE).
pub const SPACE_USAGE: &str = "blob_space_usage";
/// How long an unfinished upload lives after its last append.
pub const UPLOAD_TTL_SECS: i64 = 24 * 60 * 60;

const RETRIES: usize = 16;

/// A stored blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// Blob id (32 lowercase hex characters).
    pub blob_id: String,
    /// The room it belongs to.
    pub room_id: String,
    /// The room's space (for the size limit and retention).
    pub space_id: String,
    /// Announced length.
    pub length: u64,
    /// Durably stored bytes.
    pub offset: u64,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// When an unfinished upload expires (`None` once complete).
    pub expires_at: Option<i64>,
    /// Uploading user.
    pub uploader_user: String,
    /// Uploading device.
    pub uploader_device: String,
}

impl BlobRecord {
    /// Whether every byte arrived.
    pub fn complete(&self) -> bool {
        self.offset == self.length
    }

    /// The public view.
    pub fn status(&self) -> BlobStatus {
        BlobStatus {
            blob_id: self.blob_id.clone(),
            room_id: self.room_id.clone(),
            length: self.length,
            offset: self.offset,
            complete: self.complete(),
            expires_at: self.expires_at.and_then(|t| u64::try_from(t).ok()),
            uploader_device: self.uploader_device.clone(),
        }
    }
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// No such blob (or it belongs to another room).
    #[error("no such blob")]
    NotFound,
    /// The announced length exceeds what the space may still store.
    #[error("the upload exceeds the space's size limit ({limit} bytes, {used} in use)")]
    TooLarge {
        /// The space's limit.
        limit: u64,
        /// Bytes already reserved.
        used: u64,
    },
    /// The append does not start at the stored offset.
    #[error("the upload is at offset {offset}")]
    OffsetMismatch {
        /// The stored offset.
        offset: u64,
    },
    /// The append goes past the announced length.
    #[error("the append goes past the announced length {length}")]
    PastEnd {
        /// The announced length.
        length: u64,
    },
    /// The body does not match its checksum; nothing was stored.
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// The checksum header does not parse or names an unsupported algorithm.
    #[error("bad checksum header: expected `sha256 <base64>`")]
    BadChecksum,
    /// Another append to the same upload is in progress.
    #[error("another append to this upload is in progress")]
    Locked,
    /// The upload is not complete yet (download refused).
    #[error("the upload is not complete")]
    Incomplete,
    /// The unfinished upload expired.
    #[error("the upload expired")]
    Expired,
    /// File I/O failed.
    #[error("blob file I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn txn_store_error(e: TxnError) -> BlobError {
    match e {
        TxnError::Store(e) => BlobError::Store(e),
        other => BlobError::Store(StoreError::Backend(other.to_string())),
    }
}

/// Path of a blob's file.
pub fn blob_path(dir: &Path, blob_id: &str) -> PathBuf {
    dir.join(format!("{blob_id}.blob"))
}

/// Whether `blob_id` has the shape of a blob id.
pub fn valid_blob_id(blob_id: &str) -> bool {
    blob_id.len() == 32
        && blob_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn usage(store: &dyn Store, space_id: &str) -> Result<(Option<Vec<u8>>, u64), StoreError> {
    let raw = store.get(SPACE_USAGE, space_id.as_bytes())?;
    let used = match &raw {
        Some(b) => u64::from_be_bytes(
            b.as_slice()
                .try_into()
                .map_err(|_| StoreError::Backend("space usage is not 8 bytes".into()))?,
        ),
        None => 0,
    };
    Ok((raw, used))
}

/// Announces an upload of `length` bytes, reserving them against the space's `limit`.
#[allow(clippy::too_many_arguments)]
pub fn create(
    store: &dyn Store,
    dir: &Path,
    room_id: &str,
    space_id: &str,
    length: u64,
    limit: u64,
    uploader_user: &str,
    uploader_device: &str,
    now: i64,
) -> Result<BlobRecord, BlobError> {
    if length > limit {
        return Err(BlobError::TooLarge { limit, used: 0 });
    }
    std::fs::create_dir_all(dir)?;
    let record = BlobRecord {
        blob_id: crate::ids::random_id(),
        room_id: room_id.to_owned(),
        space_id: space_id.to_owned(),
        length,
        offset: 0,
        created_at: now,
        expires_at: if length == 0 {
            None
        } else {
            Some(now + UPLOAD_TTL_SECS)
        },
        uploader_user: uploader_user.to_owned(),
        uploader_device: uploader_device.to_owned(),
    };
    File::create(blob_path(dir, &record.blob_id))?.sync_all()?;
    // The new directory entry must be durable before the record that points at it.
    if let Err(e) = sync_dir(dir) {
        let _ = std::fs::remove_file(blob_path(dir, &record.blob_id));
        return Err(e.into());
    }
    for _ in 0..RETRIES {
        let (raw, used) = usage(store, space_id)?;
        let total = used.saturating_add(length);
        if total > limit {
            let _ = std::fs::remove_file(blob_path(dir, &record.blob_id));
            return Err(BlobError::TooLarge { limit, used });
        }
        let mut txn = Txn::new();
        txn.check(SPACE_USAGE, space_id.as_bytes(), raw.as_deref());
        txn.put(SPACE_USAGE, space_id.as_bytes(), &total.to_be_bytes());
        txn.check(BLOBS, record.blob_id.as_bytes(), None);
        txn.put_json(BLOBS, record.blob_id.as_bytes(), &record)?;
        match store.commit(&txn) {
            Ok(()) => return Ok(record),
            Err(TxnError::Conflict { .. }) => continue,
            Err(e) => return Err(txn_store_error(e)),
        }
    }
    let _ = std::fs::remove_file(blob_path(dir, &record.blob_id));
    Err(BlobError::Locked)
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

/// The blob `blob_id` of room `room_id`.
pub fn get(store: &dyn Store, room_id: &str, blob_id: &str) -> Result<BlobRecord, BlobError> {
    let record = store
        .get_json::<BlobRecord>(BLOBS, blob_id.as_bytes())?
        .ok_or(BlobError::NotFound)?;
    if record.room_id != room_id {
        return Err(BlobError::NotFound);
    }
    Ok(record)
}

/// The blobs of a room.
pub fn list(store: &dyn Store, room_id: &str) -> Result<Vec<BlobRecord>, StoreError> {
    let all: Vec<BlobRecord> = store.scan_json(BLOBS, b"")?;
    Ok(all.into_iter().filter(|b| b.room_id == room_id).collect())
}

/// Uploads with an append in progress (one append at a time per upload).
#[derive(Debug, Default)]
pub struct AppendLocks(Mutex<HashSet<String>>);

struct AppendGuard<'a> {
    locks: &'a AppendLocks,
    blob_id: String,
}

impl Drop for AppendGuard<'_> {
    fn drop(&mut self) {
        let mut set = self.locks.0.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(&self.blob_id);
    }
}

impl AppendLocks {
    fn try_lock(&self, blob_id: &str) -> Option<AppendGuard<'_>> {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(blob_id.to_owned()) {
            return None;
        }
        Some(AppendGuard {
            locks: self,
            blob_id: blob_id.to_owned(),
        })
    }
}

/// Parses an `Upload-Checksum` value: `sha256 <base64 digest>`.
pub fn parse_checksum(value: &str) -> Result<[u8; 32], BlobError> {
    use base64::Engine as _;
    let (algo, digest) = value.trim().split_once(' ').ok_or(BlobError::BadChecksum)?;
    if !algo.eq_ignore_ascii_case("sha256") {
        return Err(BlobError::BadChecksum);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| BlobError::BadChecksum)?;
    bytes.try_into().map_err(|_| BlobError::BadChecksum)
}

/// Appends `body` at `offset` (which must be the stored offset). Returns the record after it.
#[allow(clippy::too_many_arguments)]
pub fn append(
    store: &dyn Store,
    dir: &Path,
    locks: &AppendLocks,
    room_id: &str,
    blob_id: &str,
    offset: u64,
    body: &[u8],
    checksum: Option<[u8; 32]>,
    now: i64,
) -> Result<BlobRecord, BlobError> {
    let _guard = locks.try_lock(blob_id).ok_or(BlobError::Locked)?;
    let raw = store
        .get(BLOBS, blob_id.as_bytes())?
        .ok_or(BlobError::NotFound)?;
    let record: BlobRecord = decode_json(BLOBS, &raw)?;
    if record.room_id != room_id {
        return Err(BlobError::NotFound);
    }
    if record.expires_at.is_some_and(|t| t <= now) {
        return Err(BlobError::Expired);
    }
    if offset != record.offset {
        return Err(BlobError::OffsetMismatch {
            offset: record.offset,
        });
    }
    let end = offset
        .checked_add(body.len() as u64)
        .filter(|end| *end <= record.length)
        .ok_or(BlobError::PastEnd {
            length: record.length,
        })?;
    if let Some(expected) = checksum {
        let actual: [u8; 32] = Sha256::digest(body).into();
        if actual != expected {
            return Err(BlobError::ChecksumMismatch);
        }
    }
    let path = blob_path(dir, blob_id);
    // Never created here: `create` made the file durable before its record existed, so a missing
    // file (or one shorter than the acknowledged offset) is damage to report, not to paper over
    // with zeros.
    let mut file = OpenOptions::new().write(true).open(&path)?;
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
    let updated = BlobRecord {
        offset: end,
        expires_at: if end == record.length {
            None
        } else {
            Some(now + UPLOAD_TTL_SECS)
        },
        ..record
    };
    let mut txn = Txn::new();
    txn.check(BLOBS, blob_id.as_bytes(), Some(&raw));
    txn.put_json(BLOBS, blob_id.as_bytes(), &updated)?;
    match store.commit(&txn) {
        Ok(()) => {}
        Err(TxnError::Conflict { .. }) => return Err(BlobError::Locked),
        Err(e) => return Err(txn_store_error(e)),
    }
    store.flush()?;
    Ok(updated)
}

/// Deletes a blob: its record, its bytes, and its reservation in the space.
pub fn delete_blob(store: &dyn Store, dir: &Path, blob_id: &str) -> Result<(), BlobError> {
    for _ in 0..RETRIES {
        let raw = store
            .get(BLOBS, blob_id.as_bytes())?
            .ok_or(BlobError::NotFound)?;
        let record: BlobRecord = decode_json(BLOBS, &raw)?;
        let (usage_raw, used) = usage(store, &record.space_id)?;
        let mut txn = Txn::new();
        txn.check(BLOBS, blob_id.as_bytes(), Some(&raw));
        txn.delete(BLOBS, blob_id.as_bytes());
        txn.check(
            SPACE_USAGE,
            record.space_id.as_bytes(),
            usage_raw.as_deref(),
        );
        txn.put(
            SPACE_USAGE,
            record.space_id.as_bytes(),
            &used.saturating_sub(record.length).to_be_bytes(),
        );
        match store.commit(&txn) {
            Ok(()) => {
                match std::fs::remove_file(blob_path(dir, blob_id)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
                return Ok(());
            }
            Err(TxnError::Conflict { .. }) => continue,
            Err(e) => return Err(txn_store_error(e)),
        }
    }
    Err(BlobError::Locked)
}

/// Deletes unfinished uploads whose expiry passed. Returns the deleted blob ids.
pub fn delete_expired_uploads(
    store: &dyn Store,
    dir: &Path,
    now: i64,
) -> Result<Vec<String>, BlobError> {
    let all: Vec<BlobRecord> = store.scan_json(BLOBS, b"")?;
    let mut deleted = Vec::new();
    for record in all {
        if record.expires_at.is_some_and(|t| t <= now) {
            match delete_blob(store, dir, &record.blob_id) {
                Ok(()) | Err(BlobError::NotFound) => deleted.push(record.blob_id),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}

/// Deletes every blob of a room created at or before `before` (per-space retention). Returns
/// the deleted blob ids.
pub fn delete_room_blobs_before(
    store: &dyn Store,
    dir: &Path,
    room_id: &str,
    before: i64,
) -> Result<Vec<String>, BlobError> {
    let mut deleted = Vec::new();
    for record in list(store, room_id)? {
        if record.created_at <= before {
            match delete_blob(store, dir, &record.blob_id) {
                Ok(()) | Err(BlobError::NotFound) => deleted.push(record.blob_id),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}

/// A byte range to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// Parses a `Range` header against a blob of `length` bytes: `Ok(None)` when absent or not a
/// single `bytes` range we understand (the whole blob is sent, as RFC 9110 allows), `Err(())`
/// when unsatisfiable (416).
#[allow(clippy::result_unit_err)]
pub fn parse_range(header: Option<&str>, length: u64) -> Result<Option<ByteRange>, ()> {
    let Some(value) = header else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let Ok(suffix) = last.parse::<u64>() else {
            return Ok(None);
        };
        if suffix == 0 || length == 0 {
            return Err(());
        }
        ByteRange {
            start: length.saturating_sub(suffix),
            end: length,
        }
    } else {
        let Ok(start) = first.parse::<u64>() else {
            return Ok(None);
        };
        let end = if last.is_empty() {
            length
        } else {
            let Ok(last) = last.parse::<u64>() else {
                return Ok(None);
            };
            if last < start {
                return Ok(None);
            }
            last.saturating_add(1).min(length)
        };
        if start >= length {
            return Err(());
        }
        ByteRange { start, end }
    };
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use base64::Engine as _;

    use super::*;
    use crate::store::SledStore;

    fn setup() -> (Arc<SledStore>, tempfile::TempDir) {
        (
            Arc::new(SledStore::temporary().unwrap()),
            tempfile::tempdir().unwrap(),
        )
    }

    #[test]
    fn a_lost_or_short_blob_file_is_an_error_not_zeros() {
        let (store, dir) = setup();
        let (store, dir) = (store.as_ref(), dir.path());
        let locks = AppendLocks::default();
        let rec = create(store, dir, "r1", "s1", 100, 1 << 20, "u", "d", 1).unwrap();
        let id = rec.blob_id.clone();
        let path = blob_path(dir, &id);
        let put =
            |offset, body: &[u8]| append(store, dir, &locks, "r1", &id, offset, body, None, 2);
        put(0, &[7; 40]).unwrap();
        // Damage: the file lost its tail.
        std::fs::write(&path, [7u8; 10]).unwrap();
        let err = put(40, &[8; 10]);
        assert!(matches!(err, Err(BlobError::Io(_))), "{err:?}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            [7u8; 10],
            "file left as found"
        );
        assert_eq!(
            get(store, "r1", &id).unwrap().offset,
            40,
            "record unchanged"
        );
        // Damage: the file is gone. It is not recreated.
        std::fs::remove_file(&path).unwrap();
        let err = put(40, &[8; 10]);
        assert!(matches!(err, Err(BlobError::Io(_))), "{err:?}");
        assert!(!path.exists());
        assert_eq!(get(store, "r1", &id).unwrap().offset, 40);
    }

    #[test]
    fn upload_in_appends_resumes_and_checks_offsets() {
        let (store, dir) = setup();
        let locks = AppendLocks::default();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let rec = create(
            store.as_ref(),
            dir.path(),
            "r1",
            "s1",
            10_000,
            1 << 20,
            "u",
            "d",
            100,
        )
        .unwrap();
        assert_eq!(rec.offset, 0);
        assert!(!rec.complete());
        let id = rec.blob_id.clone();
        let r = append(
            store.as_ref(),
            dir.path(),
            &locks,
            "r1",
            &id,
            0,
            &data[..4000],
            None,
            101,
        )
        .unwrap();
        assert_eq!(r.offset, 4000);
        // Wrong offset: 409-style error with the stored offset.
        assert!(matches!(
            append(
                store.as_ref(),
                dir.path(),
                &locks,
                "r1",
                &id,
                3000,
                &data[3000..5000],
                None,
                102
            ),
            Err(BlobError::OffsetMismatch { offset: 4000 })
        ));
        // Bad checksum: nothing stored.
        assert!(matches!(
            append(
                store.as_ref(),
                dir.path(),
                &locks,
                "r1",
                &id,
                4000,
                &data[4000..6000],
                Some([0; 32]),
                102
            ),
            Err(BlobError::ChecksumMismatch)
        ));
        // Simulate an unacknowledged partial write left in the file by a crash.
        {
            let mut f = OpenOptions::new()
                .append(true)
                .open(blob_path(dir.path(), &id))
                .unwrap();
            f.write_all(b"garbage from a dead append").unwrap();
        }
        let sum: [u8; 32] = Sha256::digest(&data[4000..]).into();
        let r = append(
            store.as_ref(),
            dir.path(),
            &locks,
            "r1",
            &id,
            4000,
            &data[4000..],
            Some(sum),
            103,
        )
        .unwrap();
        assert!(r.complete());
        assert_eq!(r.expires_at, None);
        assert_eq!(std::fs::read(blob_path(dir.path(), &id)).unwrap(), data);
        // Past the end.
        assert!(matches!(
            append(
                store.as_ref(),
                dir.path(),
                &locks,
                "r1",
                &id,
                10_000,
                b"x",
                None,
                104
            ),
            Err(BlobError::PastEnd { .. })
        ));
        // Another room cannot see it.
        assert!(matches!(
            get(store.as_ref(), "r2", &id),
            Err(BlobError::NotFound)
        ));
        delete_blob(store.as_ref(), dir.path(), &id).unwrap();
        assert!(!blob_path(dir.path(), &id).exists());
        assert!(matches!(
            get(store.as_ref(), "r1", &id),
            Err(BlobError::NotFound)
        ));
    }

    #[test]
    fn space_limit_counts_announced_lengths() {
        let (store, dir) = setup();
        let a = create(store.as_ref(), dir.path(), "r", "s", 600, 1000, "u", "d", 0).unwrap();
        assert!(matches!(
            create(store.as_ref(), dir.path(), "r", "s", 500, 1000, "u", "d", 0),
            Err(BlobError::TooLarge {
                limit: 1000,
                used: 600
            })
        ));
        assert!(matches!(
            create(
                store.as_ref(),
                dir.path(),
                "r",
                "s",
                1001,
                1000,
                "u",
                "d",
                0
            ),
            Err(BlobError::TooLarge { .. })
        ));
        // Another space has its own budget; deleting frees the reservation.
        create(
            store.as_ref(),
            dir.path(),
            "r",
            "other",
            900,
            1000,
            "u",
            "d",
            0,
        )
        .unwrap();
        delete_blob(store.as_ref(), dir.path(), &a.blob_id).unwrap();
        create(
            store.as_ref(),
            dir.path(),
            "r",
            "s",
            1000,
            1000,
            "u",
            "d",
            0,
        )
        .unwrap();
    }

    #[test]
    fn unfinished_uploads_expire() {
        let (store, dir) = setup();
        let locks = AppendLocks::default();
        let a = create(store.as_ref(), dir.path(), "r", "s", 10, 1000, "u", "d", 0).unwrap();
        let b = create(store.as_ref(), dir.path(), "r", "s", 3, 1000, "u", "d", 0).unwrap();
        append(
            store.as_ref(),
            dir.path(),
            &locks,
            "r",
            &b.blob_id,
            0,
            b"abc",
            None,
            1,
        )
        .unwrap();
        assert!(
            delete_expired_uploads(store.as_ref(), dir.path(), UPLOAD_TTL_SECS - 1)
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            append(
                store.as_ref(),
                dir.path(),
                &locks,
                "r",
                &a.blob_id,
                0,
                b"x",
                None,
                UPLOAD_TTL_SECS
            ),
            Err(BlobError::Expired)
        ));
        let gone = delete_expired_uploads(store.as_ref(), dir.path(), UPLOAD_TTL_SECS).unwrap();
        assert_eq!(gone, vec![a.blob_id.clone()]);
        assert!(!blob_path(dir.path(), &a.blob_id).exists());
        assert!(get(store.as_ref(), "r", &b.blob_id).unwrap().complete());
    }

    #[test]
    fn ranges_and_checksums_parse() {
        let r = |s: &str| parse_range(Some(s), 100);
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(r("bytes=0-9"), Ok(Some(ByteRange { start: 0, end: 10 })));
        assert_eq!(
            r("bytes=90-"),
            Ok(Some(ByteRange {
                start: 90,
                end: 100
            }))
        );
        assert_eq!(
            r("bytes=-5"),
            Ok(Some(ByteRange {
                start: 95,
                end: 100
            }))
        );
        assert_eq!(
            r("bytes=50-500"),
            Ok(Some(ByteRange {
                start: 50,
                end: 100
            }))
        );
        assert_eq!(r("bytes=100-"), Err(()));
        assert_eq!(r("bytes=-0"), Err(()));
        assert_eq!(r("bytes=5-1"), Ok(None));
        assert_eq!(r("bytes=0-1,5-6"), Ok(None));
        assert_eq!(r("items=0-1"), Ok(None));
        let digest: [u8; 32] = Sha256::digest(b"abc").into();
        let header = format!(
            "sha256 {}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        assert_eq!(parse_checksum(&header).unwrap(), digest);
        assert!(parse_checksum("md5 AAAA").is_err());
        assert!(parse_checksum("sha256 !!!").is_err());
        assert!(parse_checksum("sha256").is_err());
    }
}
