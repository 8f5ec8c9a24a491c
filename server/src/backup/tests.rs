//! Backup round trips, corruption and restore.

use super::*;
use crate::store::StoreExt;

fn blob_record(id: &str, length: u64, offset: u64) -> BlobRecord {
    BlobRecord {
        blob_id: id.to_owned(),
        room_id: "r".into(),
        space_id: "s".into(),
        length,
        offset,
        created_at: 1,
        expires_at: None,
        uploader_user: "u".into(),
        uploader_device: "d".into(),
        multipart: None,
    }
}

#[test]
fn round_trip_and_corruption_is_refused() {
    let src = tempfile::tempdir().unwrap();
    let data = src.path().join("data");
    let config = Config {
        data_dir: data.clone(),
        ..Config::default()
    };
    std::fs::create_dir_all(config.blob_dir()).unwrap();
    let id_done = "a".repeat(32);
    let id_part = "b".repeat(32);
    {
        let store = RedbStore::open(&config.store_path(), 1 << 20).unwrap();
        store.put("t1", b"k", b"v").unwrap();
        store.put("t2", b"", b"empty key").unwrap();
        store
            .put_json(BLOBS, id_done.as_bytes(), &blob_record(&id_done, 5, 5))
            .unwrap();
        store
            .put_json(BLOBS, id_part.as_bytes(), &blob_record(&id_part, 10, 3))
            .unwrap();
        // The partial upload's file holds unacknowledged bytes past its offset.
        std::fs::write(blob_path(&config.blob_dir(), &id_done), b"hello").unwrap();
        std::fs::write(blob_path(&config.blob_dir(), &id_part), b"abcXYZ").unwrap();
        for _ in 0..10 {
            store.next_id().unwrap();
        }
        store.flush().unwrap();
    }
    let out = src.path().join("snap.backup");
    let summary = backup_command(&config, &out).unwrap();
    assert_eq!(summary.meta.kv_records, 4);
    assert_eq!(summary.meta.blobs, 2);
    assert_eq!(summary.blob_bytes, 8);
    assert!(summary.meta.next_id > 10);
    // No staging directory is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".backup"))
        .collect();
    assert!(leftovers.is_empty());

    let dst = tempfile::tempdir().unwrap();
    let restored = Config {
        data_dir: dst.path().join("data"),
        ..Config::default()
    };
    restore_command(&restored, &out, false).unwrap();
    {
        let store = RedbStore::open(&restored.store_path(), 1 << 20).unwrap();
        assert_eq!(store.get("t1", b"k").unwrap().unwrap(), b"v");
        assert_eq!(store.get("t2", b"").unwrap().unwrap(), b"empty key");
        assert!(store.next_id().unwrap() >= summary.meta.next_id);
    }
    assert_eq!(
        std::fs::read(blob_path(&restored.blob_dir(), &id_done)).unwrap(),
        b"hello"
    );
    assert_eq!(
        std::fs::read(blob_path(&restored.blob_dir(), &id_part)).unwrap(),
        b"abc"
    );
    // Not empty now: refused without --force, accepted with it.
    assert!(matches!(
        restore_command(&restored, &out, false),
        Err(BackupError::TargetNotEmpty(_))
    ));
    restore_command(&restored, &out, true).unwrap();

    // Every single-byte flip and every truncation is refused, and the target is untouched.
    let bytes = std::fs::read(&out).unwrap();
    let bad = src.path().join("bad.backup");
    let fresh = Config {
        data_dir: dst.path().join("never"),
        ..Config::default()
    };
    for i in (0..bytes.len()).step_by(7) {
        let mut copy = bytes.clone();
        copy[i] ^= 0x40;
        std::fs::write(&bad, &copy).unwrap();
        assert!(restore_command(&fresh, &bad, false).is_err(), "flip at {i}");
        std::fs::write(&bad, &bytes[..i]).unwrap();
        assert!(
            matches!(
                restore_command(&fresh, &bad, false),
                Err(BackupError::Corrupt(_))
            ),
            "truncated at {i}"
        );
    }
    assert!(!fresh.data_dir.exists());
    let mut longer = bytes.clone();
    longer.push(0);
    std::fs::write(&bad, &longer).unwrap();
    assert!(matches!(verify_file(&bad), Err(BackupError::Corrupt(_))));
}
