//! Unit tests of blob storage (beside `data.rs`, split off to keep that file short).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;

use super::*;
use crate::store::blobs::LocalBlobs;
use crate::store::RedbStore;

/// The limits of most tests: `space_bytes` for the space, no user quota, the default expiry.
fn lim(space_bytes: u64) -> UploadLimits {
    UploadLimits {
        space_bytes,
        user_bytes: u64::MAX,
        ttl_secs: UPLOAD_TTL_SECS,
    }
}

/// [`super::create`] with [`lim`]`(limit)`.
#[allow(clippy::too_many_arguments)]
fn create(
    store: &dyn Store,
    dir: &Path,
    room_id: &str,
    space_id: &str,
    length: u64,
    limit: u64,
    user: &str,
    device: &str,
    now: i64,
) -> Result<BlobRecord, BlobError> {
    super::create(
        store,
        &LocalBlobs::new(dir),
        room_id,
        space_id,
        length,
        &lim(limit),
        user,
        device,
        now,
    )
}

/// [`super::append`] with the default expiry.
#[allow(clippy::too_many_arguments)]
fn append(
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
    super::append(
        store,
        &LocalBlobs::new(dir),
        locks,
        room_id,
        blob_id,
        offset,
        body,
        checksum,
        UPLOAD_TTL_SECS,
        now,
    )
}

/// The bytes of blob `id` in its file in `dir` (after the header, when it has one).
fn stored_bytes(dir: &Path, id: &str) -> Vec<u8> {
    let (path, skip) = blob_file(dir, id);
    let bytes = std::fs::read(path).unwrap();
    bytes[skip as usize..].to_vec()
}

/// [`super::delete_blob`] on the local backend in `dir`.
fn delete_blob(store: &dyn Store, dir: &Path, blob_id: &str) -> Result<(), BlobError> {
    super::delete_blob(store, &LocalBlobs::new(dir), blob_id)
}

/// [`super::delete_expired_uploads`] on the local backend in `dir`.
fn delete_expired_uploads(
    store: &dyn Store,
    dir: &Path,
    now: i64,
) -> Result<Vec<String>, BlobError> {
    super::delete_expired_uploads(store, &LocalBlobs::new(dir), now, &|_, _| {})
}

fn setup() -> (Arc<RedbStore>, tempfile::TempDir) {
    (
        Arc::new(RedbStore::temporary().unwrap()),
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
    let put = |offset, body: &[u8]| append(store, dir, &locks, "r1", &id, offset, body, None, 2);
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
    assert_eq!(stored_bytes(dir.path(), &id), data);
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

#[test]
fn zero_length_uploads_expire_unless_finished_by_an_empty_append() {
    let (store, dir) = setup();
    let locks = AppendLocks::default();
    let abandoned = create(store.as_ref(), dir.path(), "r", "s", 0, 1000, "u", "d", 0).unwrap();
    let finished = create(store.as_ref(), dir.path(), "r", "s", 0, 1000, "u", "d", 0).unwrap();
    assert!(!abandoned.complete());
    assert_eq!(abandoned.expires_at, Some(UPLOAD_TTL_SECS));
    let done = append(
        store.as_ref(),
        dir.path(),
        &locks,
        "r",
        &finished.blob_id,
        0,
        b"",
        None,
        1,
    )
    .unwrap();
    assert!(done.complete());
    let gone = delete_expired_uploads(store.as_ref(), dir.path(), UPLOAD_TTL_SECS).unwrap();
    assert_eq!(gone, vec![abandoned.blob_id.clone()]);
    assert!(get(store.as_ref(), "r", &finished.blob_id)
        .unwrap()
        .complete());
}

#[test]
fn user_quota_counts_announced_lengths_across_spaces() {
    let (store, dir) = setup();
    let limits = UploadLimits {
        space_bytes: 1000,
        user_bytes: 700,
        ttl_secs: UPLOAD_TTL_SECS,
    };
    let mk = |space: &str, user: &str, length: u64| {
        super::create(
            store.as_ref(),
            &LocalBlobs::new(dir.path()),
            "r",
            space,
            length,
            &limits,
            user,
            "d",
            0,
        )
    };
    let a = mk("s1", "u", 400).unwrap();
    assert!(matches!(
        mk("s2", "u", 301),
        Err(BlobError::UserQuota {
            limit: 700,
            used: 400
        })
    ));
    mk("s2", "other", 600).unwrap();
    mk("s2", "u", 300).unwrap();
    delete_blob(store.as_ref(), dir.path(), &a.blob_id).unwrap();
    mk("s3", "u", 400).unwrap();
}

/// Many uploads created and deleted at once in one space, by one shared and several own
/// users: every create and delete goes through (none refused as contended or locked) and
/// the usage counters end where they started.
#[test]
fn concurrent_creates_and_deletes_in_one_space_all_count_and_none_fail() {
    let (store, dir) = setup();
    let threads: Vec<_> = (0..16)
        .map(|n| {
            let store = Arc::clone(&store);
            let dir = dir.path().to_owned();
            std::thread::spawn(move || {
                let user = if n % 2 == 0 {
                    "shared".to_owned()
                } else {
                    format!("user-{n}")
                };
                let mut created = Vec::new();
                for i in 0..25u64 {
                    let record = create(
                        store.as_ref(),
                        &dir,
                        "r",
                        "space",
                        10 + i,
                        1 << 30,
                        &user,
                        "d",
                        0,
                    )
                    .unwrap_or_else(|e| panic!("create {n}/{i} refused: {e}"));
                    created.push(record);
                    // Delete every other one right away: creates and deletes interleave.
                    if i % 2 == 1 {
                        let gone = created.remove(0);
                        delete_blob(store.as_ref(), &dir, &gone.blob_id)
                            .unwrap_or_else(|e| panic!("delete {n}/{i} refused: {e}"));
                    }
                }
                created
            })
        })
        .collect();
    let mut left = Vec::new();
    for thread in threads {
        left.extend(thread.join().unwrap());
    }
    let counted = |tree: &str, key: &str| usage(store.as_ref(), tree, key).unwrap().1;
    let expected: u64 = left.iter().map(|r| r.length).sum();
    assert_eq!(counted(SPACE_USAGE, "space"), expected);
    let shared: u64 = left
        .iter()
        .filter(|r| r.uploader_user == "shared")
        .map(|r| r.length)
        .sum();
    assert_eq!(counted(USER_USAGE, "shared"), shared);
    for record in &left {
        delete_blob(store.as_ref(), dir.path(), &record.blob_id).unwrap();
    }
    assert_eq!(counted(SPACE_USAGE, "space"), 0);
    assert_eq!(counted(USER_USAGE, "shared"), 0);
}
