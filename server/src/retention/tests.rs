//! A sweep's deletions and their audit entries commit together: when the audit append is
//! refused (here a damaged chain head), nothing is deleted, and with a sound head both land.

use tokio::sync::watch;

use sealroom_wire::rooms::MessageEntry;

use super::*;
use crate::audit::chain::{self, HEAD_KEY, META_TREE};
use crate::blobs::data::{self as blobs, UploadLimits, UPLOAD_TTL_SECS};
use crate::config::Config;
use crate::rooms::data::{MESSAGES, MESSAGE_EXPIRY};
use crate::store::blobs::LocalBlobs;

const NOW: i64 = 1_800_000_000;

fn state(dir: &std::path::Path) -> (AppState, watch::Sender<bool>) {
    let config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    AppState::for_tests(config)
}

fn put_message(
    store: &dyn Store,
    room_id: &str,
    seq: u64,
    received_at: i64,
    expires_at: Option<u64>,
) {
    let mut key = room_id.as_bytes().to_vec();
    key.push(b'/');
    key.extend_from_slice(&seq.to_be_bytes());
    let entry = MessageEntry {
        seq,
        sender_device: "dev".to_owned(),
        message: "AAAA".to_owned(),
        received_at: received_at as u64,
        expires_at,
    };
    store.put_json(MESSAGES, &key, &entry).unwrap();
    if let Some(t) = expires_at {
        let mut expiry = t.to_be_bytes().to_vec();
        expiry.extend_from_slice(&key);
        store.put(MESSAGE_EXPIRY, &expiry, &[]).unwrap();
    }
}

fn put_room(store: &dyn Store, room_id: &str, space_id: &str) {
    let room = RoomRecord {
        room_id: room_id.to_owned(),
        space_id: space_id.to_owned(),
        epoch: 0,
        handshake_seq: 0,
        members: vec![],
        created_at: 0,
    };
    store.put_json(ROOMS, room_id.as_bytes(), &room).unwrap();
}

fn count(store: &dyn Store, tree: &str) -> usize {
    store.scan_prefix(tree, b"").unwrap().count()
}

fn new_blob(state: &AppState, room: &str, space: &str, length: u64, created: i64) -> String {
    let limits = UploadLimits {
        space_bytes: 1 << 20,
        user_bytes: 1 << 20,
        ttl_secs: UPLOAD_TTL_SECS,
    };
    let local = LocalBlobs::new(state.config.blob_dir());
    blobs::create(
        state.store.as_ref(),
        &local,
        room,
        space,
        length,
        &limits,
        "u",
        "d",
        created,
    )
    .unwrap()
    .blob_id
}

#[test]
fn expired_messages_are_not_deleted_when_their_entry_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _shutdown) = state(dir.path());
    let store = state.store.as_ref();
    put_room(store, "room-b", "space-b");
    put_message(store, "room-b", 1, NOW - 60, Some((NOW - 1) as u64));
    put_message(store, "room-b", 2, NOW - 60, Some((NOW - 2) as u64));

    store.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
    let refused = sweep(&state, NOW).unwrap_err();
    assert_eq!(refused.status(), 500, "refused: {refused:?}");
    assert_eq!(
        count(store, MESSAGES),
        2,
        "nothing deleted without its entry"
    );
    assert_eq!(count(store, MESSAGE_EXPIRY), 2);

    store.delete(META_TREE, HEAD_KEY).unwrap();
    let report = sweep(&state, NOW).unwrap();
    assert_eq!(report.expired_messages, 2);
    assert_eq!(count(store, MESSAGES), 0);
    assert_eq!(count(store, MESSAGE_EXPIRY), 0);
    // One batch, one entry, in the deletion's commit.
    let head = chain::head(store).unwrap().unwrap();
    assert_eq!(head.seq, 1);
    assert!(chain::verify(store).unwrap().ok);
}

#[test]
fn a_retention_batch_of_messages_and_blobs_is_deleted_with_its_entry_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _shutdown) = state(dir.path());
    let store = state.store.as_ref();
    put_room(store, "room-a", "space-a");
    store
        .put_json(POLICY_TREE, b"space-a", &StoredPolicy { days: 1 })
        .unwrap();
    put_message(store, "room-a", 1, NOW - 3 * DAY_SECS, None);
    put_message(store, "room-a", 2, NOW - 60, None);
    let old = new_blob(&state, "room-a", "space-a", 0, NOW - 3 * DAY_SECS);
    let young = new_blob(&state, "room-a", "space-a", 0, NOW - 60);
    let blob_dir = state.config.blob_dir();

    store.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
    assert_eq!(sweep(&state, NOW).unwrap_err().status(), 500);
    assert_eq!(
        count(store, MESSAGES),
        2,
        "no message deleted without its entry"
    );
    assert_eq!(blobs::list(store, "room-a").unwrap().len(), 2, "nor a blob");
    assert!(blobs::blob_path(&blob_dir, &old).is_file());

    store.delete(META_TREE, HEAD_KEY).unwrap();
    let report = sweep(&state, NOW).unwrap();
    assert_eq!(report.retention_messages, 1);
    assert_eq!(report.retention_blobs, 1);
    assert_eq!(count(store, MESSAGES), 1);
    let left: Vec<String> = blobs::list(store, "room-a")
        .unwrap()
        .into_iter()
        .map(|b| b.blob_id)
        .collect();
    assert_eq!(left, [young]);
    assert!(!blobs::blob_path(&blob_dir, &old).exists(), "bytes deleted");
    let head = chain::head(store).unwrap().unwrap();
    assert_eq!(head.seq, 1, "messages and blob: one batch, one entry");
    assert!(chain::verify(store).unwrap().ok);
}

#[test]
fn an_expired_upload_is_deleted_with_its_entry_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _shutdown) = state(dir.path());
    let store = state.store.as_ref();
    let blob_id = new_blob(&state, "room-a", "space-a", 10, NOW);
    let local = LocalBlobs::new(state.config.blob_dir());
    let later = NOW + UPLOAD_TTL_SECS;
    let with = |txn: &mut Txn, record: &blobs::BlobRecord| {
        let event = AuditEvent::new(AuditAction::BlobDelete).object(record.blob_id.clone());
        audit::within(&state, txn, vec![event]);
    };

    store.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
    assert!(blobs::delete_expired_uploads(store, &local, later, &with).is_err());
    assert_eq!(blobs::list(store, "room-a").unwrap().len(), 1);

    store.delete(META_TREE, HEAD_KEY).unwrap();
    let gone = blobs::delete_expired_uploads(store, &local, later, &with).unwrap();
    assert_eq!(gone, [blob_id]);
    assert!(blobs::list(store, "room-a").unwrap().is_empty());
    assert_eq!(chain::head(store).unwrap().unwrap().seq, 1);
}
