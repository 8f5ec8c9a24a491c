//! The state-format marker: a new device records `STATE_FORMAT`; opening a store written in
//! another format fails with `StateError::UnsupportedFormat` (never "corrupt", never a misread),
//! a store without the marker counts as format 1, and a damaged marker is corruption; a damaged
//! openmls value is corruption too (typed, never a panic).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod rooms_common;

use rooms_common::dev;
use sealroom_core::room::{Client, ErrorKind, RoomError};
use sealroom_core::state::{
    Batch, EncryptedStore, KvStore, StateError, StorageKey, STATE_FORMAT, STATE_FORMAT_KEY,
};

fn open(kv: &sealroom_core::state::MemoryKv, key: [u8; 32]) -> Result<Client, RoomError> {
    Client::open(
        Box::new(kv.clone()) as Box<dyn KvStore>,
        &StorageKey::from_bytes(key),
    )
}

/// Rewrites (or with `None` removes) the marker of a device's store, encrypted like any value.
fn set_marker(kv: &sealroom_core::state::MemoryKv, key: [u8; 32], marker: Option<Vec<u8>>) {
    let mut store = EncryptedStore::new(Box::new(kv.clone()), &StorageKey::from_bytes(key));
    let mut batch = Batch::new();
    match marker {
        Some(v) => batch.put(STATE_FORMAT_KEY, v),
        None => batch.delete(STATE_FORMAT_KEY),
    }
    store.commit(batch).unwrap();
}

#[test]
fn a_new_device_records_the_current_format_and_reopens() {
    let d = dev("alice", "laptop");
    let store = EncryptedStore::new(Box::new(d.kv.clone()), &StorageKey::from_bytes(d.key));
    let marker = store
        .get(STATE_FORMAT_KEY)
        .unwrap()
        .expect("marker written at creation");
    assert_eq!(marker.as_slice(), STATE_FORMAT.to_le_bytes());
    let reopened = open(&d.kv, d.key).unwrap();
    assert_eq!(
        reopened.device().public_key(),
        d.client.device().public_key()
    );
}

#[test]
fn another_format_is_refused_with_a_clear_error() {
    let d = dev("bob", "phone");
    for found in [STATE_FORMAT + 1, 0, u32::MAX] {
        set_marker(&d.kv, d.key, Some(found.to_le_bytes().to_vec()));
        let err = open(&d.kv, d.key).unwrap_err();
        match &err {
            RoomError::Storage(StateError::UnsupportedFormat {
                found: f,
                supported,
            }) => {
                assert_eq!(*f, found);
                assert_eq!(*supported, STATE_FORMAT);
            }
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        }
        assert_eq!(err.kind(), ErrorKind::Storage);
        let text = err.to_string();
        assert!(text.contains(&format!("format {found}")), "{text}");
        assert!(text.contains("link the device again"), "{text}");
    }
    // Putting the right marker back makes the same store open again: nothing was touched.
    set_marker(&d.kv, d.key, Some(STATE_FORMAT.to_le_bytes().to_vec()));
    open(&d.kv, d.key).unwrap();
}

#[test]
fn a_store_without_marker_is_format_1() {
    let d = dev("carol", "tablet");
    set_marker(&d.kv, d.key, None);
    let result = open(&d.kv, d.key);
    if STATE_FORMAT == 1 {
        result.unwrap();
    } else {
        match result.unwrap_err() {
            RoomError::Storage(StateError::UnsupportedFormat { found, supported }) => {
                assert_eq!(found, 1);
                assert_eq!(supported, STATE_FORMAT);
            }
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        }
    }
}

#[test]
fn a_damaged_marker_is_corruption() {
    let d = dev("dave", "desk");
    for bad in [vec![], vec![1, 0, 0], vec![1, 0, 0, 0, 0]] {
        set_marker(&d.kv, d.key, Some(bad));
        match open(&d.kv, d.key).unwrap_err() {
            RoomError::Storage(StateError::Corrupt) => {}
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}

/// A damaged openmls value in the store makes `open` fail with a typed error: never a panic,
/// never a half-loaded room.
#[test]
fn a_damaged_openmls_value_is_a_typed_error() {
    use sealroom_core::room::RoomKind;
    let mut d = dev("erin", "laptop");
    d.client
        .create_room("space1", RoomKind::Customer)
        .expect("room");
    let names = d.kv.keys("mls/").unwrap();
    assert!(!names.is_empty());
    let mut damaged = 0;
    for name in names {
        let original = {
            let store = EncryptedStore::new(Box::new(d.kv.clone()), &StorageKey::from_bytes(d.key));
            store.get(&name).unwrap().unwrap().to_vec()
        };
        let mut store = EncryptedStore::new(Box::new(d.kv.clone()), &StorageKey::from_bytes(d.key));
        let mut batch = Batch::new();
        batch.put(name.clone(), vec![0xff, 0xff, 0xff]);
        store.commit(batch).unwrap();
        match open(&d.kv, d.key) {
            Ok(_) => {} // an entry openmls does not read on load (key packages, epoch key pairs)
            Err(e) => {
                assert!(
                    matches!(e, RoomError::Storage(StateError::Corrupt)),
                    "{name}: {e:?}"
                );
                damaged += 1;
            }
        }
        let mut batch = Batch::new();
        batch.put(name.clone(), original);
        store.commit(batch).unwrap();
    }
    assert!(
        damaged > 0,
        "damaging the group's own state must be noticed on open"
    );
    open(&d.kv, d.key).expect("restored store opens");
}
