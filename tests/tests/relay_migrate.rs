//! `sealroom-server migrate` through the real binary: a data directory of an earlier release
//! (its state in a sled database, made here by copying a real relay's store into one with the
//! old backend) is refused by the relay with a message naming the command; migrate copies it
//! and moves the sled database aside; the relay then starts with every account, room and
//! audit entry; a second migrate is refused with a non-zero exit and leaves everything alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

use sealroom_server::store::{RedbStore, SledStore, Store};
use sealroom_tests::relay::Relay;

#[test]
fn sled_data_directory_is_refused_migrated_once_and_served() {
    if std::env::var("SEALROOM_TEST_BACKEND").as_deref() == Ok("postgres") {
        eprintln!(
            "SKIPPED: migrate moves a sled data directory into the embedded store; it has no \
             meaning with SEALROOM_TEST_BACKEND=postgres (run without it)"
        );
        return;
    }
    let mut relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let org = relay.create_customer_org(&admin, "Heron Ltd");
    let staff = relay.add_staff(&admin, "Sam");
    let space = relay.create_space(&staff, &org);
    let audit_before = relay.client(&admin).get("/v1/audit/verify").json();
    assert_eq!(audit_before["ok"], true, "{audit_before}");
    assert!(relay.stop());

    // Turn the data directory into one of an earlier release: the same records in sled.
    let data = relay.data_dir();
    let store_file = data.join("store.redb");
    let mut records = 0u64;
    {
        let redb = RedbStore::open(&store_file, 1 << 20).unwrap();
        let sled = SledStore::open(&data.join("db")).unwrap();
        redb.snapshot(&mut |tree, key, value| {
            sled.put(tree, key, value)?;
            records += 1;
            Ok(())
        })
        .unwrap();
        for _ in 0..5000 {
            sled.next_id().unwrap();
        }
        sled.flush().unwrap();
    }
    std::fs::remove_file(&store_file).unwrap();
    assert!(records > 20, "{records}");

    // The relay refuses to start on it and names the command.
    let refused = relay.run_command(&["serve"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("sealroom-server migrate"), "{stderr}");
    assert!(!store_file.exists(), "a refused start created a store");

    // Migrate: every record copied and verified, sled moved aside.
    let data_arg = data.to_str().unwrap();
    let out = relay.run_command(&["migrate", "--data-dir", data_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["records"], records, "{report}");
    assert_eq!(report["completed_earlier_run"], false);
    assert!(!data.join("db").exists());
    let moved = report["sled_moved_to"].as_str().unwrap();
    assert!(std::path::Path::new(moved).is_dir());

    // The relay starts and serves the old state: accounts sign in, the space is there, the
    // audit chain still verifies and continues.
    relay.launch();
    let me = relay.client(&staff).get("/v1/me");
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["user_id"], staff.user_id.as_str());
    let r = relay.client(&staff).get(&format!("/v1/spaces/{space}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let org2 = relay.create_customer_org(&admin, "After Ltd");
    assert_ne!(org2, org);
    let audit_after = relay.client(&admin).get("/v1/audit/verify").json();
    assert_eq!(audit_after["ok"], true, "{audit_after}");
    assert!(audit_after["head_seq"].as_u64().unwrap() > audit_before["head_seq"].as_u64().unwrap());
    assert!(relay.stop());

    // A second run is refused, with a clear message and a non-zero exit.
    let again = relay.run_command(&["migrate", "--data-dir", data_arg]);
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already migrated"), "{stderr}");
    assert!(stderr.contains(moved), "{stderr}");
    relay.launch();
    assert_eq!(relay.client(&staff).get("/v1/me").status, 200);
}
