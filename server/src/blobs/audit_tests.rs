//! An upload's creation (with its holds) and the completion of a zero-length upload commit
//! with their audit entries: with a damaged audit chain head nothing is stored, with a sound
//! one both land.

use sealroom_wire::audit::AuditAction;

use super::*;
use crate::audit::chain::{self, HEAD_KEY, META_TREE};
use crate::directory::Role;
use crate::store::StoreExt;

fn authed() -> AuthedDevice {
    AuthedDevice::for_tests("p", "cust", "cust-d", Role::Customer, bytes::Bytes::new())
}

fn room() -> RoomRecord {
    RoomRecord {
        room_id: "r1".into(),
        space_id: "s1".into(),
        epoch: 0,
        handshake_seq: 0,
        members: vec![],
        created_at: 0,
    }
}

/// The action of the newest entry of the chain.
fn last_action(state: &AppState) -> AuditAction {
    let q = sealroom_wire::audit::AuditQuery::default();
    let page = chain::query(
        state.store.as_ref(),
        &chain::Scope::All,
        &q,
        chain::QUERY_MAX,
    )
    .unwrap();
    page.entries.last().unwrap().entry.action
}

#[test]
fn an_upload_and_its_holds_are_created_with_their_entry() {
    let (_dir, state, _tx) = AppState::for_tests_in_temp_dir();
    let s = state.store.as_ref();
    let kinds = vec![sealroom_wire::blobs::HOLD_SCAN.to_owned()];

    s.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
    let refused = create_upload(&state, &room(), 10, &kinds, &authed()).unwrap_err();
    assert_eq!(refused.status(), 500, "refused: {refused:?}");
    let stored: Vec<BlobRecord> = s.scan_json(data::BLOBS, b"").unwrap();
    assert!(stored.is_empty(), "no upload without its entry: {stored:?}");
    assert_eq!(s.get(data::SPACE_USAGE, b"s1").unwrap(), None);
    assert_eq!(s.get(data::USER_USAGE, b"cust").unwrap(), None);
    let holds: Vec<release::HoldRecord> = s.scan_json(release::HOLDS, b"").unwrap();
    assert!(holds.is_empty(), "no holds without their upload");
    let files = std::fs::read_dir(state.config.blob_dir()).unwrap().count();
    assert_eq!(files, 0, "the refused upload's file is gone");

    s.delete(META_TREE, HEAD_KEY).unwrap();
    let record = create_upload(&state, &room(), 10, &kinds, &authed()).unwrap();
    assert_eq!(data::get(s, "r1", &record.blob_id).unwrap(), record);
    let hold = release::hold(s, &record.blob_id).unwrap().unwrap();
    assert_eq!(hold.holds.len(), 1);
    assert_eq!(chain::head(s).unwrap().unwrap().seq, 1);
    assert_eq!(last_action(&state), AuditAction::BlobUploadCreate);
}

#[test]
fn a_zero_length_upload_completes_with_its_entry() {
    let (_dir, state, _tx) = AppState::for_tests_in_temp_dir();
    let s = state.store.as_ref();
    let who = authed();
    let record = create_upload(&state, &room(), 0, &[], &who).unwrap();
    let local = backend(&state).unwrap();
    let locks = AppendLocks::default();
    let finish = || {
        data::append_checked(
            s,
            local.as_ref(),
            &locks,
            "r1",
            &record.blob_id,
            0,
            (b"", &[0; 32]),
            None,
            data::UPLOAD_TTL_SECS,
            state.now(),
            Some(&|done: &BlobRecord| upload_entry(&state, &who, done)),
        )
    };

    let sound = s.get(META_TREE, HEAD_KEY).unwrap().unwrap();
    s.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
    finish().unwrap_err();
    assert!(!data::get(s, "r1", &record.blob_id).unwrap().complete());

    s.put(META_TREE, HEAD_KEY, &sound).unwrap();
    assert_eq!(
        chain::head(s).unwrap().unwrap().seq,
        1,
        "the creation's entry"
    );
    let done = finish().unwrap();
    assert!(done.complete());
    assert_eq!(chain::head(s).unwrap().unwrap().seq, 2);
    assert_eq!(last_action(&state), AuditAction::BlobUpload);
    // An empty append repeated on the complete upload changes nothing and records nothing.
    finish().unwrap();
    assert_eq!(chain::head(s).unwrap().unwrap().seq, 2);
}
