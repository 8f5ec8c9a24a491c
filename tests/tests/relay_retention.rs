//! Retention and erasure.
//!
//! - The retention sweep on a real store: disappearing messages are deleted once expired;
//!   a space's retention policy deletes its rooms' messages and blobs (bytes included) older
//!   than N days and keeps younger ones and other spaces' ciphertext; every batch is audited.
//! - Against the real relay binary: policies are set and read over HTTP (admins and staff
//!   only, validated), and erasing a user removes their devices (their signatures no longer
//!   authenticate), preferences and user record, and is recorded in the audit trail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use serde_json::json;
use tokio::sync::watch;

use sealroom_server::audit::chain::{self, Scope};
use sealroom_server::blobs::data as blobs;
use sealroom_server::config::Config;
use sealroom_server::notify::engine::{PENDING_TREE, PREFS_TREE};
use sealroom_server::retention::{self, StoredPolicy, POLICY_TREE};
use sealroom_server::rooms::data::{self as rooms, RoomRecord, MESSAGES, MESSAGE_EXPIRY, ROOMS};
use sealroom_server::state::{AppState, SystemClock};
use sealroom_server::store::{RedbStore, SharedStore, StoreExt};
use sealroom_tests::relay::Relay;
use sealroom_wire::audit::{AuditAction, AuditQuery};
use sealroom_wire::rooms::MessageEntry;

const DAY: i64 = 86_400;

fn msg_key(room_id: &str, seq: u64) -> Vec<u8> {
    let mut key = room_id.as_bytes().to_vec();
    key.push(b'/');
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Stores a message as the rooms module does (ciphertext is opaque to retention).
fn put_message(
    store: &SharedStore,
    room_id: &str,
    seq: u64,
    received_at: i64,
    expires_at: Option<u64>,
) {
    let entry = MessageEntry {
        seq,
        sender_device: "dev".to_owned(),
        message: "AAAA".to_owned(),
        received_at: received_at as u64,
        expires_at,
    };
    store
        .put_json(MESSAGES, &msg_key(room_id, seq), &entry)
        .unwrap();
    if let Some(t) = expires_at {
        let mut key = t.to_be_bytes().to_vec();
        key.extend_from_slice(&msg_key(room_id, seq));
        store.put(MESSAGE_EXPIRY, &key, &[]).unwrap();
    }
}

fn put_room(store: &SharedStore, room_id: &str, space_id: &str) {
    store
        .put_json(
            ROOMS,
            room_id.as_bytes(),
            &RoomRecord {
                room_id: room_id.to_owned(),
                space_id: space_id.to_owned(),
                epoch: 0,
                handshake_seq: 0,
                members: vec![],
                created_at: 0,
            },
        )
        .unwrap();
}

fn seqs(store: &SharedStore, room_id: &str) -> Vec<u64> {
    let mut prefix = room_id.as_bytes().to_vec();
    prefix.push(b'/');
    store
        .scan_json::<MessageEntry>(MESSAGES, &prefix)
        .unwrap()
        .into_iter()
        .map(|m| m.seq)
        .collect()
}

#[test]
fn sweep_expires_messages_and_enforces_space_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(RedbStore::temporary().unwrap());
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let (_tx, rx) = watch::channel(false);
    let state = AppState::new(config, Arc::clone(&store), Arc::new(SystemClock), rx);
    let now: i64 = 1_800_000_000;

    // space-a keeps 1 day, space-c keeps 5 days, space-b has no policy.
    put_room(&store, "room-a", "space-a");
    put_room(&store, "room-b", "space-b");
    put_room(&store, "room-c", "space-c");
    for (space, days) in [("space-a", 1), ("space-c", 5)] {
        store
            .put_json(POLICY_TREE, space.as_bytes(), &StoredPolicy { days })
            .unwrap();
    }
    for room in ["room-a", "room-b", "room-c"] {
        put_message(&store, room, 1, now - 3 * DAY, None);
        put_message(&store, room, 2, now - 60, None);
    }
    // Disappearing messages: one expired, one not yet.
    put_message(&store, "room-b", 3, now - 60, Some((now - 1) as u64));
    put_message(&store, "room-b", 4, now - 60, Some((now + 3600) as u64));

    // Blobs: an old and a new one in room-a, an old one in room-b.
    let blob_dir = state.config.blob_dir();
    let blob = |room: &str, space: &str, created: i64| {
        blobs::create(
            store.as_ref(),
            &sealroom_server::store::blobs::LocalBlobs::new(&blob_dir),
            room,
            space,
            0,
            &blobs::UploadLimits {
                space_bytes: 1 << 20,
                user_bytes: 1 << 20,
                ttl_secs: blobs::UPLOAD_TTL_SECS,
            },
            "u",
            "d",
            created,
        )
        .unwrap()
        .blob_id
    };
    let old_a = blob("room-a", "space-a", now - 3 * DAY);
    let new_a = blob("room-a", "space-a", now - 60);
    let old_b = blob("room-b", "space-b", now - 3 * DAY);
    assert!(blobs::blob_path(&blob_dir, &old_a).is_file());

    let report = retention::sweep(&state, now).unwrap();
    assert_eq!(report.expired_messages, 1);
    assert_eq!(report.retention_messages, 1);
    assert_eq!(report.retention_blobs, 1);

    assert_eq!(seqs(&store, "room-a"), [2]);
    assert_eq!(seqs(&store, "room-b"), [1, 2, 4]);
    assert_eq!(seqs(&store, "room-c"), [1, 2]);
    let left: Vec<String> = blobs::list(store.as_ref(), "room-a")
        .unwrap()
        .into_iter()
        .map(|b| b.blob_id)
        .collect();
    assert_eq!(left, std::slice::from_ref(&new_a));
    assert!(
        !blobs::blob_path(&blob_dir, &old_a).exists(),
        "bytes deleted"
    );
    assert!(blobs::blob_path(&blob_dir, &new_a).is_file());
    assert_eq!(blobs::list(store.as_ref(), "room-b").unwrap().len(), 1);
    assert!(blobs::blob_path(&blob_dir, &old_b).is_file());

    // Later the 4th message expires too, and space-c's old message passes 5 days.
    let later = now + 3 * DAY;
    let report = retention::sweep(&state, later).unwrap();
    assert_eq!(report.expired_messages, 1);
    assert_eq!(seqs(&store, "room-b"), [1, 2]);
    assert_eq!(seqs(&store, "room-c"), [2]);
    assert_eq!(
        rooms::messages(
            store.as_ref(),
            "room-b",
            0,
            rooms::PageLimit {
                count: 100,
                bytes: 1 << 20,
            },
            later,
        )
        .unwrap()
        .0
        .len(),
        2
    );

    // Audited: two expiry batches and three retention batches (room-a; room-a again for the
    // new message now 3 days old; room-c), chain intact.
    let q = |a: AuditAction| AuditQuery {
        action: Some(a.as_str().to_owned()),
        ..Default::default()
    };
    let expired = chain::query(
        store.as_ref(),
        &Scope::All,
        &q(AuditAction::MessageExpire),
        100,
    )
    .unwrap();
    assert_eq!(expired.entries.len(), 2);
    let retained = chain::query(
        store.as_ref(),
        &Scope::All,
        &q(AuditAction::RetentionDelete),
        100,
    )
    .unwrap();
    let objects: Vec<String> = retained
        .entries
        .iter()
        .map(|r| r.entry.object_id.clone().unwrap())
        .collect();
    assert_eq!(objects, ["room-a", "room-a", "room-c"]);
    assert_eq!(
        retained.entries[0].entry.detail.as_deref(),
        Some("space=space-a days=1 messages=1 blobs=1")
    );
    assert!(chain::verify(store.as_ref()).unwrap().ok);
}

#[test]
fn retention_policy_routes_and_user_erasure_over_http() {
    let mut relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let staff = relay.add_staff(&admin, "Sam");
    let other = relay.add_staff(&admin, "Olga");
    let a = relay.client(&admin);
    let s = relay.client(&staff);
    let org = relay.create_customer_org(&admin, "Kestrel Ltd");
    let space = relay.create_space(&staff, &org);
    let customer = relay.add_customer(&staff, &space, "Cleo");
    let policy_path = format!("/v1/spaces/{space}/retention");

    // Who manages a space's policy: its staff members and the provider's admins. Staff who are not
    // members of the space, and anyone asking about a space that does not exist, get 404 (no
    // existence oracle); customers get 403.
    let o = relay.client(&other);
    assert_eq!(o.get(&policy_path).status, 404);
    assert_eq!(o.put_json(&policy_path, &json!({"days": 1})).status, 404);
    assert_eq!(s.get("/v1/spaces/space-1/retention").status, 404);
    assert_eq!(a.get("/v1/spaces/space-1/retention").status, 404);
    assert_eq!(
        a.put_json("/v1/spaces/space-1/retention", &json!({"days": 1}))
            .status,
        404
    );
    let c = relay.client(&customer);
    assert_eq!(c.get(&policy_path).status, 403);
    assert_eq!(c.put_json(&policy_path, &json!({"days": 1})).status, 403);

    // Policies: staff may set, validated, readable.
    assert_eq!(s.get(&policy_path).json()["days"], serde_json::Value::Null);
    let r = s.put_json(&policy_path, &json!({"days": 30}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(a.get(&policy_path).json()["days"], 30);
    assert_eq!(s.put_json(&policy_path, &json!({"days": 0})).status, 400);
    assert_eq!(
        s.put_json(&policy_path, &json!({"days": 36501})).status,
        400
    );
    assert_eq!(s.put_json(&policy_path, &json!({"weeks": 1})).status, 400);
    assert_eq!(
        s.put_json("/v1/spaces/bad%20id/retention", &json!({"days": 1}))
            .status,
        400
    );
    let r = s.put_json(&policy_path, &json!({"days": null}));
    assert_eq!(r.status, 200);
    assert_eq!(a.get(&policy_path).json()["days"], serde_json::Value::Null);

    // The staff user has a preference; erasing needs an admin, never oneself.
    assert_eq!(
        s.put_json("/v1/me/notifications", &json!({"mode": "hourly"}))
            .status,
        200
    );
    assert_eq!(s.get("/v1/me/notifications").json()["mode"], "hourly");
    let path = format!("/v1/users/{}/erase", staff.user_id);
    assert_eq!(
        relay.client(&other).post_json(&path, &json!({})).status,
        403
    );
    assert_eq!(
        a.post_json(&format!("/v1/users/{}/erase", admin.user_id), &json!({}))
            .status,
        400
    );
    assert_eq!(
        a.post_json("/v1/users/nobody/erase", &json!({})).status,
        404
    );

    let r = a.post_json(&path, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(report["user_id"], staff.user_id.as_str());
    assert_eq!(report["devices"], json!([staff.device_id]));

    // The erased device no longer authenticates; erasing again finds nobody.
    assert_eq!(s.get("/v1/me").status, 401);
    assert_eq!(s.get("/v1/me/notifications").status, 401);
    assert_eq!(a.post_json(&path, &json!({})).status, 404);
    // Others are untouched.
    assert_eq!(relay.client(&other).get("/v1/me").status, 200);

    // Audited with the admin as actor and the erased user as object.
    let entries = a
        .get(&format!(
            "/v1/audit?action=user.erase&object={}",
            staff.user_id
        ))
        .json();
    let entries = entries["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["actor_user"], admin.user_id.as_str());
    assert_eq!(entries[0]["size"], 1);

    // Offline: nothing of the user is left in the store (redb or PostgreSQL).
    assert!(relay.stop());
    let store = relay.open_store();
    assert!(store
        .get(PREFS_TREE, staff.user_id.as_bytes())
        .unwrap()
        .is_none());
    assert!(store
        .get(PENDING_TREE, staff.user_id.as_bytes())
        .unwrap()
        .is_none());
    assert!(store
        .get(sealroom_server::accounts::USERS, staff.user_id.as_bytes())
        .unwrap()
        .is_none());
    assert!(store
        .get(
            sealroom_server::accounts::DEVICES,
            staff.device_id.as_bytes()
        )
        .unwrap()
        .is_none());
    assert!(store
        .get(
            sealroom_server::accounts::DEVICES,
            other.device_id.as_bytes()
        )
        .unwrap()
        .is_some());
}
