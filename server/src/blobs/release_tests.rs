//! A scan verdict (the scanner's release) and its audit entry commit together: with a damaged
//! audit chain head the release is not stored, with a sound one both land.

use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};

use sealroom_wire::audit::AuditAction;

use super::*;
use crate::accounts::{SpaceMember, SPACE_MEMBERS};
use crate::audit::chain::{self, HEAD_KEY, META_TREE};
use crate::blobs::data::{self as blobs, UploadLimits, UPLOAD_TTL_SECS};
use crate::directory::{DeviceRecord, DeviceStatus, Role, UserRecord, DEVICES, USERS};
use crate::state::AppState;
use crate::store::blobs::LocalBlobs;

#[test]
fn a_scan_verdict_and_its_entry_are_one_commit() {
    let (_dir, state, _tx) = AppState::for_tests_in_temp_dir();
    let store = Arc::clone(&state.store);
    let s = store.as_ref();
    let key = SigningKey::from_bytes(&[7; 32]);
    // The scanner: a staff member of the space, designated, with an active device.
    let user = UserRecord {
        user_id: "scan".into(),
        org_id: "p".into(),
        name: "Scanner".into(),
        email: None,
        role: Role::Staff,
        created_at: 0,
    };
    s.put_json(USERS, b"scan", &user).unwrap();
    let device = DeviceRecord {
        device_id: "scan-device".into(),
        user_id: "scan".into(),
        org_id: "p".into(),
        name: "scanner".into(),
        public_key: key.verifying_key().to_bytes(),
        status: DeviceStatus::Active,
        created_at: 0,
    };
    s.put_json(DEVICES, b"scan-device", &device).unwrap();
    let member = SpaceMember {
        space_id: "s1".into(),
        user_id: "scan".into(),
        role: SpaceRole::Staff,
        added_at: 0,
    };
    s.put_json(SPACE_MEMBERS, b"s1/scan", &member).unwrap();
    let designation = scanner::StoredScanner {
        user_id: "scan".into(),
        set_by: "owner".into(),
        set_at: 0,
    };
    s.put_json(scanner::SCANNERS, b"s1", &designation).unwrap();
    assert!(accounts::space_member(s, "s1", "scan").unwrap().is_some());

    let room = RoomRecord {
        room_id: "r1".into(),
        space_id: "s1".into(),
        epoch: 0,
        handshake_seq: 0,
        members: vec![],
        created_at: 0,
    };
    let limits = UploadLimits {
        space_bytes: 1 << 20,
        user_bytes: 1 << 20,
        ttl_secs: UPLOAD_TTL_SECS,
    };
    let local = LocalBlobs::new(state.config.blob_dir());
    let record = blobs::create(s, &local, "r1", "s1", 0, &limits, "cust", "cust-d", 0).unwrap();
    set_hold(s, &record, &[HOLD_SCAN.to_owned()]).unwrap();
    let statement = release_statement("r1", &record.blob_id, HOLD_SCAN);
    let req = ReleaseRequest {
        kind: HOLD_SCAN.to_owned(),
        signature: hex::encode(key.sign(&statement).to_bytes()),
    };
    let authed =
        AuthedDevice::for_tests("p", "scan", "scan-device", Role::Staff, bytes::Bytes::new());
    let with = |txn: &mut Txn, _: &HoldRecord| {
        let event = crate::audit::event_by(AuditAction::BlobRelease, &authed)
            .object(record.blob_id.clone());
        crate::audit::within(&state, txn, vec![event]);
    };

    s.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
    let refused = release(s, &room, &record, &authed, &req, 1, &with).unwrap_err();
    assert_eq!(refused.status(), 500, "refused: {refused:?}");
    let stored = hold(s, &record.blob_id).unwrap().unwrap();
    assert!(!stored.released(), "no verdict without its entry");

    s.delete(META_TREE, HEAD_KEY).unwrap();
    let (_, new) = release(s, &room, &record, &authed, &req, 1, &with).unwrap();
    assert!(new);
    assert!(hold(s, &record.blob_id).unwrap().unwrap().released());
    assert_eq!(chain::head(s).unwrap().unwrap().seq, 1);
}
