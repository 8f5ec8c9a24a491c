//! Backup and restore against the real relay binary: `sealroom-server backup` takes a
//! consistent snapshot of a RUNNING relay (through its admin socket) while a client keeps
//! posting messages; the snapshot is restored into a fresh data directory, a fresh relay serves
//! it, and everything that existed at backup time reads back (accounts sign in, room info,
//! messages, complete and unfinished blobs) while later writes are absent. Corrupt and truncated
//! backups are refused without touching the target, restore never overwrites a running relay,
//! and a stopped relay is backed up by opening its store directly.
//!
//! With `SEALROOM_TEST_BACKEND=postgres` the online and offline backups run on PostgreSQL (with
//! `SEALROOM_TEST_BLOBS=s3` they hold the records only: the bucket keeps the bytes), and
//! `restore`, which rebuilds the embedded deployment only, must refuse with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use openmls::prelude::MlsGroup;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use sealroom_tests::backend::{BlobLocation, StoreLocation};
use sealroom_tests::relay::{Client, Relay};
use sealroom_tests::rooms::{b64, bytes, MlsDevice};

fn upload(client: &Client, room_id: &str, data: &[u8], send: usize) -> String {
    let r = client.post_json(
        &format!("/v1/rooms/{room_id}/blobs"),
        &json!({ "length": data.len() }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let blob_id = r.json()["blob_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/rooms/{room_id}/blobs/{blob_id}");
    let mut at = 0;
    while at < send {
        let end = (at + 64 * 1024).min(send);
        let r = client.append_blob(&path, at, &data[at..end]);
        assert_eq!(r.status, 204, "{}", r.text());
        at = end;
    }
    blob_id
}

fn post(staff: &MlsDevice, group: &mut MlsGroup, client: &Client, room_id: &str, i: u32) {
    let m = group
        .create_message(&staff.provider, &staff.signer, &i.to_be_bytes())
        .unwrap();
    let r = client.post_json(
        &format!("/v1/rooms/{room_id}/messages"),
        &json!({ "message": b64(&bytes(&m)) }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

fn messages(client: &Client, room_id: &str) -> Vec<Value> {
    let r = client.get(&format!("/v1/rooms/{room_id}/messages?after=0&limit=1000"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["entries"].as_array().unwrap().clone()
}

fn seqs(entries: &[Value]) -> Vec<u64> {
    entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

fn on(relay: &Relay, client: &Client) -> Client {
    Client {
        addr: relay.addr(),
        device: client.device.clone(),
    }
}

fn run_ok(relay: &Relay, args: &[&str]) -> Value {
    let out = relay.run_command(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn no_leftovers(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".backup-staging") && !name.contains(".restore-"),
            "left behind: {name}"
        );
    }
}

/// Copies `from`'s relay key file (beside its data directory) to `to`'s.
fn copy_relay_key(from: &Relay, to: &Relay) {
    let key = |r: &Relay| r.data_dir().with_file_name("data.relay-key");
    let _ = std::fs::remove_file(key(to));
    std::fs::copy(key(from), key(to)).unwrap();
}

#[test]
fn online_backup_restores_into_a_fresh_relay() {
    let mut relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let org = relay.create_customer_org(&admin, "Backup Ltd");
    let staff_dev = relay.add_staff(&admin, "Sam");
    let space_id = relay.create_space(&staff_dev, &org);
    let customer = relay.add_customer(&staff_dev, &space_id, "Cleo");
    let staff = MlsDevice::new(&staff_dev);
    let http = relay.client(&staff_dev);
    let mut group = staff.create_group();
    let r = http.post_json("/v1/rooms", &staff.create_room_body(&group, &space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    let room_id = r.json()["room_id"].as_str().unwrap().to_owned();

    for i in 0..3 {
        post(&staff, &mut group, &http, &room_id, i);
    }
    // One complete blob and one unfinished upload (300 KB of 1 MB sent).
    let done: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    let done_id = upload(&http, &room_id, &done, done.len());
    let partial: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(40_503) >> 5) as u8)
        .collect();
    let partial_id = upload(&http, &room_id, &partial, 300_000);

    // Back up the RUNNING relay while a writer keeps posting messages.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(relay.data_dir().join("admin.sock"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "admin socket mode");
    }
    let backup_dir = tempfile::tempdir().unwrap();
    let backup = backup_dir.path().join("relay.backup");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let client = relay.client(&staff_dev);
        let room_id = room_id.clone();
        std::thread::spawn(move || {
            let mut posted = 0u32;
            while !stop.load(Ordering::SeqCst) || posted < 5 {
                post(&staff, &mut group, &client, &room_id, 1000 + posted);
                posted += 1;
            }
            (staff, group, posted)
        })
    };
    let summary = run_ok(&relay, &["backup", "--out", backup.to_str().unwrap()]);
    stop.store(true, Ordering::SeqCst);
    let (staff, mut group, concurrent) = writer.join().unwrap();
    assert_eq!(summary["action"], "backup");
    if let BlobLocation::S3 { .. } = relay.blob_location() {
        // Blobs in S3: the backup holds the records; the bucket keeps the bytes.
        assert_eq!(summary["blobs"], 0);
        assert_eq!(summary["blob_bytes"], 0);
    } else {
        assert_eq!(summary["blobs"], 2);
        assert_eq!(summary["blob_bytes"], 500_000);
    }
    assert!(summary["sha256"].as_str().unwrap().len() == 64);
    assert!(relay.log_contents().contains("online backup streamed"));
    no_leftovers(&relay.data_dir());
    no_leftovers(backup_dir.path());

    // What existed at backup time, read after the writer stopped (it posts after, too).
    let room_info = http.get(&format!("/v1/rooms/{room_id}")).json();
    let all_messages = messages(&http, &room_id);
    assert_eq!(all_messages.len() as u32, 3 + concurrent);
    let blob_list = http.get(&format!("/v1/rooms/{room_id}/blobs")).json();

    // Later writes: a message, a blob and a user that the restored relay must not know.
    post(&staff, &mut group, &http, &room_id, 99);
    let later_blob = upload(&http, &room_id, b"later", 5);
    let later_user = relay.add_staff(&admin, "Late");
    assert_eq!(relay.client(&later_user).get("/v1/me").status, 200);

    if let StoreLocation::Postgres { .. } = relay.store_location() {
        // Restore rebuilds the embedded deployment only. On PostgreSQL it is refused before
        // anything is written (the relay would ignore a restored data directory and serve its
        // database as it was), into a fresh relay as over the running one, which keeps serving.
        for target in [&relay, &Relay::unstarted(&[])] {
            let out = target.run_command(&["restore", "--from", backup.to_str().unwrap()]);
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!out.status.success(), "restore on PostgreSQL succeeded");
            assert!(
                err.contains("restore refused") && err.contains("PostgreSQL"),
                "{err}"
            );
        }
        assert_eq!(http.get("/v1/me").status, 200);
        // A stopped relay is backed up by opening its database directly; the later writes are in.
        assert!(relay.stop());
        let offline = backup_dir.path().join("offline.backup");
        let summary2 = run_ok(&relay, &["backup", "--out", offline.to_str().unwrap()]);
        assert!(summary2["records"].as_u64().unwrap() > summary["records"].as_u64().unwrap());
        no_leftovers(&relay.data_dir());
        return;
    }

    // Restore over the running relay is refused, and the relay keeps serving.
    let out = relay.run_command(&["restore", "--from", backup.to_str().unwrap(), "--force"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("running"));
    assert_eq!(http.get("/v1/me").status, 200);

    // Restore into a fresh data directory and start a fresh relay on it.
    let mut fresh = Relay::unstarted(&[("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000")]);
    let restored = run_ok(&fresh, &["restore", "--from", backup.to_str().unwrap()]);
    assert_eq!(restored["sha256"], summary["sha256"]);
    // Relay secrets in the backup are sealed under the relay key, which lives outside the data
    // directory and is not in the backup: the operator brings it along.
    copy_relay_key(&relay, &fresh);
    fresh.launch();
    no_leftovers(fresh.data_dir().parent().unwrap());
    for device in [&admin, &staff_dev, &customer] {
        let me = fresh.client(device).get("/v1/me");
        assert_eq!(me.status, 200, "{}", me.text());
    }
    assert_eq!(fresh.client(&later_user).get("/v1/me").status, 401);
    let http2 = on(&fresh, &http);
    assert_eq!(http2.get(&format!("/v1/rooms/{room_id}")).json(), room_info);

    // The snapshot is one point in time: a gap-free prefix of the messages, with at least
    // those posted before the backup started, byte for byte as they were.
    let restored_messages = messages(&http2, &room_id);
    let n = restored_messages.len();
    assert!(n >= 3 && n <= all_messages.len(), "{n} messages restored");
    eprintln!(
        "restored {n} of {} messages ({concurrent} posted while the backup ran)",
        all_messages.len()
    );
    assert_eq!(seqs(&restored_messages), (1..=n as u64).collect::<Vec<_>>());
    assert_eq!(restored_messages[..], all_messages[..n]);
    assert_eq!(
        http2.get(&format!("/v1/rooms/{room_id}/blobs")).json(),
        blob_list
    );

    // Blob bytes: the complete one downloads identically; the unfinished one resumes at its
    // acknowledged offset and completes; the later one does not exist.
    let r = http2.get(&format!("/v1/rooms/{room_id}/blobs/{done_id}"));
    assert_eq!(r.status, 200);
    assert_eq!(Sha256::digest(&r.body), Sha256::digest(&done));
    let ppath = format!("/v1/rooms/{room_id}/blobs/{partial_id}");
    let head = http2.request("HEAD", &ppath, &[], b"");
    assert_eq!(head.header("upload-offset"), Some("300000"));
    let mut at = 300_000;
    while at < partial.len() {
        let end = (at + 256 * 1024).min(partial.len());
        assert_eq!(http2.append_blob(&ppath, at, &partial[at..end]).status, 204);
        at = end;
    }
    let r = http2.get(&ppath);
    assert_eq!(Sha256::digest(&r.body), Sha256::digest(&partial));
    assert_eq!(
        http2
            .get(&format!("/v1/rooms/{room_id}/blobs/{later_blob}"))
            .status,
        404
    );
    // New writes on the restored relay get fresh ids and sequence numbers.
    let second = staff.create_group();
    let r = http2.post_json("/v1/rooms", &staff.create_room_body(&second, &space_id));
    assert_eq!(r.status, 201, "{}", r.text());

    // A stopped relay is backed up by opening its store directly.
    assert!(fresh.stop());
    let offline = backup_dir.path().join("offline.backup");
    let summary2 = run_ok(&fresh, &["backup", "--out", offline.to_str().unwrap()]);
    assert_eq!(summary2["blobs"], 2);
    assert!(summary2["records"].as_u64().unwrap() > summary["records"].as_u64().unwrap());
    relay.stop();
}

#[test]
fn corrupt_or_truncated_backup_is_refused_without_touching_the_target() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    relay.create_customer_org(&admin, "Corrupt Ltd");
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.backup");
    run_ok(&relay, &["backup", "--out", good.to_str().unwrap()]);
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.path().join("bad.backup");

    let target = Relay::unstarted(&[]);
    let refused = |content: &[u8], why: &str| {
        std::fs::write(&bad, content).unwrap();
        let out = target.run_command(&["restore", "--from", bad.to_str().unwrap()]);
        assert!(!out.status.success(), "{why}: restore succeeded");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains("restore refused"), "{why}: {err}");
        assert!(!target.data_dir().exists(), "{why}: target touched");
        err
    };
    let mut flipped = bytes.clone();
    let mid = bytes.len() / 2;
    flipped[mid] ^= 0x01;
    let err = refused(&flipped, "flipped byte");
    assert!(err.contains("corrupt"), "{err}");
    let err = refused(&bytes[..bytes.len() - 10], "truncated");
    assert!(err.contains("corrupt or truncated"), "{err}");
    let err = refused(b"not a backup at all", "garbage");
    assert!(err.contains("not a Sealroom backup"), "{err}");

    let mut existing = Relay::start();
    if let StoreLocation::Postgres { .. } = existing.store_location() {
        // Restore rebuilds the embedded deployment only: on PostgreSQL even a good file is
        // refused, with or without --force, stopped or running, and the relay's data stays.
        assert!(existing.stop());
        for force in [false, true] {
            let mut args = vec!["restore", "--from", good.to_str().unwrap()];
            if force {
                args.push("--force");
            }
            let out = existing.run_command(&args);
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!out.status.success(), "restore on PostgreSQL succeeded");
            assert!(
                err.contains("restore refused") && err.contains("PostgreSQL"),
                "{err}"
            );
        }
        existing.launch();
        assert_eq!(existing.anon().get("/healthz").status, 200);
        assert!(!existing.data_dir().join("store.redb").exists());
        return;
    }
    // An existing, non-empty target is not replaced without --force, even by a good file.
    let out = existing.run_command(&["restore", "--from", good.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    // Stopped: --force replaces it, and the relay starts on the restored data once it has the
    // relay key the backup was sealed under (with its own key it refuses to start).
    assert!(existing.stop());
    run_ok(
        &existing,
        &["restore", "--from", good.to_str().unwrap(), "--force"],
    );
    let out = existing.run_command(&[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("relay key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    copy_relay_key(&relay, &existing);
    existing.launch();
    assert_eq!(existing.client(&admin).get("/v1/me").status, 200);
}
