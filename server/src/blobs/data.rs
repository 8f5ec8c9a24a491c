//! Blob storage: records in the store, bytes in a [`BlobStore`] (one file per blob under the
//! blob directory, or one object per blob in an S3 bucket).
//!
//! An append verifies the checksum, has the backend store its bytes at the stored offset
//! durably (the local backend first cuts the file back to that offset, so bytes of an append
//! that never completed are discarded), then advances the stored offset (with the backend's
//! multipart state) with a compare-and-swap, durably, or, when the backend recorded the new
//! offset durably itself (a blob file with a header), without waiting for a sync: start-up
//! then recovers it from the file ([`super::recovery`]). Only then is it acknowledged, so an
//! acknowledged offset survives a crash and a resumed upload continues from it.
//!
//! Layout: [`BLOBS`]: blob id -> [`BlobRecord`] (JSON); [`SPACE_USAGE`]: space id -> bytes
//! reserved by the announced lengths of its live blobs (u64 BE); [`USER_USAGE`]: user id ->
//! the same for the blobs the user uploads (u64 BE).
//!
//! Every upload, of any length, is unfinished until an append brings it to its announced
//! length (an empty append for a zero-length upload), and an unfinished upload expires
//! [`UploadLimits::ttl_secs`] after its creation or last append.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use sealroom_wire::blobs::BlobStatus;

use crate::contention::{backoff, Stripes, RETRIES};
pub use crate::store::blobs::{blob_file, blob_path, MultipartState};
use crate::store::blobs::{BackendError, BlobStore, Upload};
use crate::store::{decode_json, Store, StoreError, StoreExt, Txn, TxnError};

/// Tree: blob id -> [`BlobRecord`].
pub const BLOBS: &str = "blob_blobs";
/// Tree: space id -> reserved bytes (u64 BE).
pub const SPACE_USAGE: &str = "blob_space_usage";
/// Tree: user id -> bytes reserved by the user's uploads (u64 BE).
pub const USER_USAGE: &str = "blob_user_usage";
/// Default lifetime of an unfinished upload after its creation or last append.
pub const UPLOAD_TTL_SECS: i64 = 24 * 60 * 60;

/// What an upload may reserve, and how long it lives unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest total of announced bytes in one space.
    pub space_bytes: u64,
    /// Largest total of announced bytes of one uploading user (all spaces).
    pub user_bytes: u64,
    /// Seconds an unfinished upload lives after its creation or last append.
    pub ttl_secs: i64,
}

/// Stripes serialising this instance's changes of the same usage counter (space or user):
/// concurrent creates and deletes in one space queue here instead of failing each other's
/// compare-and-swap (see [`crate::contention`]).
static USAGE_LOCKS: Stripes = Stripes::new();

/// The usage-counter names of `space_id` and `user`, for [`USAGE_LOCKS`].
fn usage_names(space_id: &str, user: &str) -> [String; 2] {
    [format!("space:{space_id}"), format!("user:{user}")]
}

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
    /// Where an unfinished upload stands in an S3 backend (absent for the local backend and
    /// once the upload is complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipart: Option<MultipartState>,
}

impl BlobRecord {
    /// What the blob backend needs of this record.
    pub fn upload(&self) -> Upload {
        Upload {
            blob_id: self.blob_id.clone(),
            length: self.length,
            offset: self.offset,
            multipart: self.multipart.clone(),
        }
    }

    /// Whether every byte arrived (a zero-length upload once its empty append arrived).
    pub fn complete(&self) -> bool {
        self.offset == self.length && self.expires_at.is_none()
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
    /// The announced length exceeds what the uploading user may still store.
    #[error("the upload exceeds the user's storage quota ({limit} bytes, {used} in use)")]
    UserQuota {
        /// The user's quota.
        limit: u64,
        /// Bytes already reserved by the user.
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
    /// The relay is busy: a usage counter other requests (on other instances) kept changing
    /// through every retry, or the object storage did not answer in time. Nothing was
    /// changed; the request may be sent again (503 with `Retry-After`).
    #[error("busy: {0}")]
    Busy(String),
    /// File I/O failed.
    #[error("blob file I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The object storage (S3) failed or refused a request.
    #[error("blob object storage: {0}")]
    Backend(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<BackendError> for BlobError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Io(e) => Self::Io(e),
            BackendError::Busy(what) => Self::Busy(what),
            BackendError::TooLarge { limit } => Self::TooLarge { limit, used: 0 },
            BackendError::Backend(message) => Self::Backend(message),
        }
    }
}

fn txn_store_error(e: TxnError) -> BlobError {
    match e {
        TxnError::Store(e) => BlobError::Store(e),
        other => BlobError::Store(StoreError::Backend(other.to_string())),
    }
}

/// Whether `blob_id` has the shape of a blob id.
pub fn valid_blob_id(blob_id: &str) -> bool {
    blob_id.len() == 32
        && blob_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn usage(store: &dyn Store, tree: &str, key: &str) -> Result<(Option<Vec<u8>>, u64), StoreError> {
    let raw = store.get(tree, key.as_bytes())?;
    let used = match &raw {
        Some(b) => u64::from_be_bytes(
            b.as_slice()
                .try_into()
                .map_err(|_| StoreError::Backend("blob usage is not 8 bytes".into()))?,
        ),
        None => 0,
    };
    Ok((raw, used))
}

/// Announces an upload of `length` bytes, reserving them against the space's and the user's
/// limits. The upload expires unfinished after `limits.ttl_secs`, whatever its length.
#[allow(clippy::too_many_arguments)]
pub fn create(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    room_id: &str,
    space_id: &str,
    length: u64,
    limits: &UploadLimits,
    uploader_user: &str,
    uploader_device: &str,
    now: i64,
) -> Result<BlobRecord, BlobError> {
    create_with(
        store,
        blobs,
        room_id,
        space_id,
        length,
        limits,
        uploader_user,
        uploader_device,
        now,
        &|_, _| Ok(()),
    )
}

/// [`create`] with more writes in the same transaction as the record (`with` adds them: the
/// blob's scan holds, the `blob.upload_create` entry), so that they land all or not at all.
/// A refused transaction (a derive refused it) stores nothing and discards the blob's bytes.
#[allow(clippy::too_many_arguments)]
pub fn create_with(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    room_id: &str,
    space_id: &str,
    length: u64,
    limits: &UploadLimits,
    uploader_user: &str,
    uploader_device: &str,
    now: i64,
    with: &dyn Fn(&mut Txn, &BlobRecord) -> Result<(), StoreError>,
) -> Result<BlobRecord, BlobError> {
    if length > limits.space_bytes {
        return Err(BlobError::TooLarge {
            limit: limits.space_bytes,
            used: 0,
        });
    }
    if length > limits.user_bytes {
        return Err(BlobError::UserQuota {
            limit: limits.user_bytes,
            used: 0,
        });
    }
    let record = BlobRecord {
        blob_id: crate::ids::random_id(),
        room_id: room_id.to_owned(),
        space_id: space_id.to_owned(),
        length,
        offset: 0,
        created_at: now,
        expires_at: Some(now.saturating_add(limits.ttl_secs)),
        uploader_user: uploader_user.to_owned(),
        uploader_device: uploader_device.to_owned(),
        multipart: None,
    };
    blobs.create(&record.blob_id)?;
    let refuse = |e: BlobError| {
        blobs.discard(&record.blob_id);
        Err(e)
    };
    // Runs on a blocking thread: waiting for the stripes holds no executor thread.
    let names = usage_names(space_id, uploader_user);
    let _guards = USAGE_LOCKS.lock(&[&names[0], &names[1]]);
    for attempt in 0..RETRIES {
        if attempt > 0 {
            std::thread::sleep(backoff(attempt));
        }
        let (raw, used) = usage(store, SPACE_USAGE, space_id)?;
        let total = used.saturating_add(length);
        if total > limits.space_bytes {
            return refuse(BlobError::TooLarge {
                limit: limits.space_bytes,
                used,
            });
        }
        let (user_raw, user_used) = usage(store, USER_USAGE, uploader_user)?;
        let user_total = user_used.saturating_add(length);
        if user_total > limits.user_bytes {
            return refuse(BlobError::UserQuota {
                limit: limits.user_bytes,
                used: user_used,
            });
        }
        let mut txn = Txn::new();
        txn.check(SPACE_USAGE, space_id.as_bytes(), raw.as_deref());
        txn.put(SPACE_USAGE, space_id.as_bytes(), &total.to_be_bytes());
        txn.check(USER_USAGE, uploader_user.as_bytes(), user_raw.as_deref());
        txn.put(
            USER_USAGE,
            uploader_user.as_bytes(),
            &user_total.to_be_bytes(),
        );
        txn.check(BLOBS, record.blob_id.as_bytes(), None);
        txn.put_json(BLOBS, record.blob_id.as_bytes(), &record)?;
        if let Err(e) = with(&mut txn, &record) {
            return refuse(e.into());
        }
        match store.commit(&txn) {
            Ok(()) => return Ok(record),
            Err(TxnError::Conflict { .. }) => continue,
            // Refused: nothing was written, the file goes too. Any other failure may have
            // committed after all (a lost connection): the file stays for the record.
            Err(e @ TxnError::Refused(_)) => return refuse(txn_store_error(e)),
            Err(e) => return Err(txn_store_error(e)),
        }
    }
    refuse(BlobError::Busy(
        "blob usage counters stayed contended".into(),
    ))
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

/// Appends `body` at `offset` (which must be the stored offset). Returns the record after it;
/// an upload still unfinished then expires `ttl_secs` later. An empty append at the announced
/// length finishes a zero-length upload.
#[allow(clippy::too_many_arguments)]
pub fn append(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    locks: &AppendLocks,
    room_id: &str,
    blob_id: &str,
    offset: u64,
    body: &[u8],
    checksum: Option<[u8; 32]>,
    ttl_secs: i64,
    now: i64,
) -> Result<BlobRecord, BlobError> {
    let digest: [u8; 32] = Sha256::digest(body).into();
    let checked = checksum.map(|expected| Checksum {
        expected,
        body: digest,
    });
    append_checked(
        store,
        blobs,
        locks,
        room_id,
        blob_id,
        offset,
        (body, &digest),
        checked,
        ttl_secs,
        now,
        None,
    )
}

/// An append's `Upload-Checksum` and the SHA-256 of its body, computed once by whoever read
/// the body (the relay's signature check hashes every body).
#[derive(Debug, Clone, Copy)]
pub struct Checksum {
    /// What the client announced.
    pub expected: [u8; 32],
    /// SHA-256 of the body as received.
    pub body: [u8; 32],
}

/// [`append`] with the body's SHA-256 already computed (`body` is the body and that digest,
/// which the local backend records with the new offset). `on_complete` is committed in the
/// same transaction as the record when this append completes the upload (its audit entry).
///
/// When the backend recorded the new offset durably itself (`Appended::offset_durable`) and
/// the upload is not complete, the record is committed without waiting for a sync of the
/// store (`Store::commit_lazy`): a crash may lose that commit, and start-up recovers the
/// offset from the backend ([`super::recovery::recover_offsets`]). The append completing an
/// upload is always committed durably, with its audit entry.
#[allow(clippy::too_many_arguments)]
pub fn append_checked(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    locks: &AppendLocks,
    room_id: &str,
    blob_id: &str,
    offset: u64,
    (body, body_sha256): (&[u8], &[u8; 32]),
    checksum: Option<Checksum>,
    ttl_secs: i64,
    now: i64,
    on_complete: Option<&dyn Fn(&BlobRecord) -> crate::store::SharedDerive>,
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
    if record.complete() && offset == record.offset && body.is_empty() {
        return Ok(record);
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
    if checksum.is_some_and(|c| c.body != c.expected) {
        return Err(BlobError::ChecksumMismatch);
    }
    let appended = blobs.append(&record.upload(), body, body_sha256)?;
    let updated = BlobRecord {
        multipart: appended.multipart,
        offset: end,
        expires_at: if end == record.length {
            None
        } else {
            Some(now.saturating_add(ttl_secs))
        },
        ..record
    };
    let mut txn = Txn::new();
    txn.check(BLOBS, blob_id.as_bytes(), Some(&raw));
    txn.put_json(BLOBS, blob_id.as_bytes(), &updated)?;
    if let Some(derive) = on_complete.filter(|_| updated.complete()) {
        txn.derive(derive(&updated));
    }
    let lazy = appended.offset_durable && !updated.complete();
    let committed = if lazy {
        store.commit_lazy(&txn)
    } else {
        store.commit(&txn)
    };
    match committed {
        Ok(()) => {}
        Err(TxnError::Conflict { .. }) => return Err(BlobError::Locked),
        Err(e) => return Err(txn_store_error(e)),
    }
    if !lazy {
        store.flush()?;
    }
    blobs.forget(&appended.obsolete);
    Ok(updated)
}

/// Deletes a blob: its record, its bytes, and its reservations in the space and for its
/// uploader.
pub fn delete_blob(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    blob_id: &str,
) -> Result<(), BlobError> {
    delete_blob_with(store, blobs, blob_id, &|_| {})
}

/// [`delete_blob`] with more writes in the same transaction (`with` adds them: the relay's
/// audit entry of the deletion, the blob's scan holds), so that they happen all or not at all.
pub fn delete_blob_with(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    blob_id: &str,
    with: &dyn Fn(&mut Txn),
) -> Result<(), BlobError> {
    // The counters are known once the record is read; a record's space and uploader never
    // change, so the stripes taken here stay the right ones through the retries.
    let first = store
        .get_json::<BlobRecord>(BLOBS, blob_id.as_bytes())?
        .ok_or(BlobError::NotFound)?;
    let names = usage_names(&first.space_id, &first.uploader_user);
    let _guards = USAGE_LOCKS.lock(&[&names[0], &names[1]]);
    for attempt in 0..RETRIES {
        if attempt > 0 {
            std::thread::sleep(backoff(attempt));
        }
        let raw = store
            .get(BLOBS, blob_id.as_bytes())?
            .ok_or(BlobError::NotFound)?;
        let record: BlobRecord = decode_json(BLOBS, &raw)?;
        let (usage_raw, used) = usage(store, SPACE_USAGE, &record.space_id)?;
        let (user_raw, user_used) = usage(store, USER_USAGE, &record.uploader_user)?;
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
        txn.check(
            USER_USAGE,
            record.uploader_user.as_bytes(),
            user_raw.as_deref(),
        );
        txn.put(
            USER_USAGE,
            record.uploader_user.as_bytes(),
            &user_used.saturating_sub(record.length).to_be_bytes(),
        );
        with(&mut txn);
        match store.commit(&txn) {
            Ok(()) => return Ok(blobs.remove(&record.upload())?),
            Err(TxnError::Conflict { .. }) => continue,
            Err(e) => return Err(txn_store_error(e)),
        }
    }
    Err(BlobError::Busy(
        "blob usage counters stayed contended".into(),
    ))
}

/// Deletes unfinished uploads whose expiry passed, each in one transaction with the writes
/// `with` adds for it (its audit entry). Returns the deleted blob ids.
pub fn delete_expired_uploads(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    now: i64,
    with: &dyn Fn(&mut Txn, &BlobRecord),
) -> Result<Vec<String>, BlobError> {
    let all: Vec<BlobRecord> = store.scan_json(BLOBS, b"")?;
    let mut deleted = Vec::new();
    for record in all {
        if record.expires_at.is_some_and(|t| t <= now) {
            match delete_blob_with(store, blobs, &record.blob_id, &|txn| with(txn, &record)) {
                Ok(()) | Err(BlobError::NotFound) => deleted.push(record.blob_id),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}

/// The ids of a room's blobs created at or before `before` (per-space retention).
pub fn room_blobs_before(
    store: &dyn Store,
    room_id: &str,
    before: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(list(store, room_id)?
        .into_iter()
        .filter(|r| r.created_at <= before)
        .map(|r| r.blob_id)
        .collect())
}

/// Deletes the blobs `blob_ids` (those still there) in one transaction with the writes `with`
/// adds for the ids it deletes (a retention batch's message deletions and audit entry): their
/// records, their reservations in their spaces and for their uploaders, then their bytes.
/// Returns the deleted ids.
pub fn delete_blobs_with(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    blob_ids: &[String],
    with: &dyn Fn(&mut Txn, &[String]),
) -> Result<Vec<String>, BlobError> {
    let mut names = Vec::new();
    for blob_id in blob_ids {
        if let Some(r) = store.get_json::<BlobRecord>(BLOBS, blob_id.as_bytes())? {
            names.extend(usage_names(&r.space_id, &r.uploader_user));
        }
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let _guards = USAGE_LOCKS.lock(&names);
    for attempt in 0..RETRIES {
        if attempt > 0 {
            std::thread::sleep(backoff(attempt));
        }
        let mut txn = Txn::new();
        let mut deleted = Vec::new();
        let mut freed: BTreeMap<(&str, String), u64> = BTreeMap::new();
        for blob_id in blob_ids {
            let Some(raw) = store.get(BLOBS, blob_id.as_bytes())? else {
                continue;
            };
            let record: BlobRecord = decode_json(BLOBS, &raw)?;
            txn.check(BLOBS, blob_id.as_bytes(), Some(&raw));
            txn.delete(BLOBS, blob_id.as_bytes());
            *freed
                .entry((SPACE_USAGE, record.space_id.clone()))
                .or_default() += record.length;
            *freed
                .entry((USER_USAGE, record.uploader_user.clone()))
                .or_default() += record.length;
            deleted.push(record);
        }
        for ((tree, key), bytes) in &freed {
            let (raw, used) = usage(store, tree, key)?;
            txn.check(tree, key.as_bytes(), raw.as_deref());
            txn.put(
                tree,
                key.as_bytes(),
                &used.saturating_sub(*bytes).to_be_bytes(),
            );
        }
        let ids: Vec<String> = deleted.iter().map(|r| r.blob_id.clone()).collect();
        with(&mut txn, &ids);
        match store.commit(&txn) {
            Ok(()) => {
                for record in &deleted {
                    blobs.remove(&record.upload())?;
                }
                return Ok(ids);
            }
            Err(TxnError::Conflict { .. }) => continue,
            Err(e) => return Err(txn_store_error(e)),
        }
    }
    Err(BlobError::Busy(
        "blob usage counters stayed contended".into(),
    ))
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
#[path = "data_tests.rs"]
mod tests;
