//! An append's offset is durable in its blob file (one sync), and its record may be committed
//! without a sync of its own: a crash between the two loses nothing acknowledged, start-up
//! recovers the offset from the file, and bytes the file does not vouch for are never taken.
//! The crash is simulated by running the backend's append (bytes, slot, sync) without the
//! record's commit, as a process killed between the two steps leaves it.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::data::{self, blob_file, AppendLocks, BlobRecord, UploadLimits, UPLOAD_TTL_SECS};
use crate::store::blobs::header::{self, HEADER_LEN, SLOT_AT};
use crate::store::blobs::{BlobStore, LocalBlobs};
use crate::store::{RedbStore, Store, StoreExt};

const LIMITS: UploadLimits = UploadLimits {
    space_bytes: 1 << 20,
    user_bytes: 1 << 20,
    ttl_secs: UPLOAD_TTL_SECS,
};

fn data() -> Vec<u8> {
    (0..100u8).collect()
}

fn record(store: &dyn Store, id: &str) -> BlobRecord {
    data::get(store, "r", id).unwrap()
}

/// An acknowledged append through the domain (the record committed).
fn append(store: &dyn Store, blobs: &LocalBlobs, id: &str, from: usize, to: usize) -> BlobRecord {
    let body = &data()[from..to];
    let digest: [u8; 32] = Sha256::digest(body).into();
    data::append_checked(
        store,
        blobs,
        &AppendLocks::default(),
        "r",
        id,
        from as u64,
        (body, &digest),
        None,
        UPLOAD_TTL_SECS,
        10,
        None,
    )
    .unwrap()
}

/// The backend's part of an append only: bytes, slot and sync, then the "crash".
fn append_then_crash(blobs: &LocalBlobs, rec: &BlobRecord, from: usize, to: usize) {
    assert_eq!(rec.offset, from as u64);
    let body = &data()[from..to];
    let digest: [u8; 32] = Sha256::digest(body).into();
    let appended = blobs.append(&rec.upload(), body, &digest).unwrap();
    assert!(appended.offset_durable);
}

fn recover(store: &dyn Store, blobs: &LocalBlobs) -> usize {
    super::recovery::recover_offsets(store, blobs, UPLOAD_TTL_SECS, 20).unwrap()
}

/// Downloads the complete blob as the relay serves it.
fn served(blobs: &LocalBlobs, id: &str) -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut rx = blobs.read(id, 100, 0, 100).unwrap();
        let mut out = Vec::new();
        while let Some(piece) = rx.recv().await {
            out.extend_from_slice(&piece.unwrap());
        }
        out
    })
}

fn setup() -> (RedbStore, tempfile::TempDir, LocalBlobs, String) {
    let store = RedbStore::temporary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blobs = LocalBlobs::new(dir.path());
    let rec = data::create(&store, &blobs, "r", "s", 100, &LIMITS, "u", "d", 1).unwrap();
    let id = rec.blob_id;
    (store, dir, blobs, id)
}

fn overwrite(dir: &Path, id: &str, at: u64, bytes: &[u8]) {
    let (path, _) = blob_file(dir, id);
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn an_append_whose_record_commit_was_lost_is_recovered_from_its_file() {
    let (store, dir, blobs, id) = setup();
    append(&store, &blobs, &id, 0, 30);
    append_then_crash(&blobs, &record(&store, &id), 30, 60);
    assert_eq!(record(&store, &id).offset, 30, "the record commit was lost");

    assert_eq!(recover(&store, &blobs), 1);
    let rec = record(&store, &id);
    assert_eq!(rec.offset, 60, "the append's offset is back");
    assert_eq!(rec.expires_at, Some(20 + UPLOAD_TTL_SECS));
    assert_eq!(recover(&store, &blobs), 0, "nothing more to recover");
    // The upload continues from there and serves exactly what was sent.
    let done = append(&store, &blobs, &id, 60, 100);
    assert!(done.complete());
    assert_eq!(served(&blobs, &id), data());
    let (path, skip) = blob_file(dir.path(), &id);
    assert_eq!(skip, HEADER_LEN);
    assert_eq!(std::fs::metadata(path).unwrap().len(), HEADER_LEN + 100);
}

#[test]
fn bytes_the_file_does_not_vouch_for_are_not_taken() {
    let (store, dir, blobs, id) = setup();
    append(&store, &blobs, &id, 0, 30);
    // Bytes of an append whose slot never reached the disk, or whose bytes did not: both
    // look like this after a power loss, a slot saying 60 over bytes that differ.
    append_then_crash(&blobs, &record(&store, &id), 30, 60);
    overwrite(dir.path(), &id, HEADER_LEN + 45, &[0xee; 5]);
    assert_eq!(recover(&store, &blobs), 0);
    assert_eq!(
        record(&store, &id).offset,
        30,
        "the acknowledged offset stays"
    );

    // A torn slot (its check fails): the other slot's offset stands.
    append_then_crash(&blobs, &record(&store, &id), 30, 60);
    let file = std::fs::File::open(blob_file(dir.path(), &id).0).unwrap();
    let slots = header::read_slots(&file).unwrap();
    let newest = slots
        .iter()
        .position(|s| s.is_some_and(|s| s.end == 60))
        .unwrap();
    assert!(
        slots[1 - newest].is_some_and(|s| s.end == 30),
        "the acknowledged append's slot was kept"
    );
    overwrite(dir.path(), &id, SLOT_AT[newest] + 3, &[0x55; 9]);
    assert_eq!(recover(&store, &blobs), 0);
    assert_eq!(record(&store, &id).offset, 30);

    // The next append cuts the unvouched bytes and the blob is served as sent.
    append(&store, &blobs, &id, 30, 70);
    append(&store, &blobs, &id, 70, 100);
    assert_eq!(served(&blobs, &id), data());
}

#[test]
fn recovery_never_completes_an_upload() {
    let (store, _dir, blobs, id) = setup();
    append(&store, &blobs, &id, 0, 50);
    // The completing append's record (committed durably with its audit entry) was lost.
    append_then_crash(&blobs, &record(&store, &id), 50, 100);
    assert_eq!(recover(&store, &blobs), 0);
    let rec = record(&store, &id);
    assert_eq!(rec.offset, 50);
    assert!(
        !rec.complete(),
        "not served before an acknowledged completion"
    );
    // The client sends the last append again.
    assert!(append(&store, &blobs, &id, 50, 100).complete());
    assert_eq!(served(&blobs, &id), data());
}

#[test]
fn blobs_of_the_earlier_layout_keep_working() {
    let (store, dir, blobs, id) = setup();
    // A blob file as an earlier release wrote it: bytes only, under `{id}.blob`.
    let (v1, _) = blob_file(dir.path(), &id);
    std::fs::remove_file(&v1).unwrap();
    let legacy = dir.path().join(format!("{id}.blob"));
    std::fs::write(&legacy, &data()[..30]).unwrap();
    let rec = record(&store, &id);
    let moved = BlobRecord { offset: 30, ..rec };
    store.put_json(data::BLOBS, id.as_bytes(), &moved).unwrap();
    assert_eq!(blob_file(dir.path(), &id), (legacy.clone(), 0));
    assert_eq!(recover(&store, &blobs), 0, "its offset is the record's");
    append(&store, &blobs, &id, 30, 100);
    assert_eq!(served(&blobs, &id), data());
    assert_eq!(std::fs::read(&legacy).unwrap(), data());
    assert!(!v1.exists());
}

#[test]
fn a_damaged_file_keeps_its_offset_and_the_relay_starting() {
    let (store, dir, blobs, id) = setup();
    append(&store, &blobs, &id, 0, 30);
    let (path, _) = blob_file(dir.path(), &id);
    std::fs::write(&path, b"not a blob").unwrap();
    assert_eq!(recover(&store, &blobs), 0);
    assert_eq!(record(&store, &id).offset, 30);
}
