//! Relay secrets sealed at rest, against the real relay binary: a TOTP secret appears in no
//! form (raw bytes, base32, hex, or the JSON array of an unsealed record) in any file of the
//! data directory, in any record of the store (redb or PostgreSQL, read through
//! `sealroom_tests::backend`) nor in a backup file; TOTP keeps working after a restart and after
//! `rotate-key`; the relay refuses a key file with loose permissions or the wrong length; a
//! client detects a store rolled back to an older copy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use serde_json::json;

use sealroom_tests::relay::{base32_decode, now, Device, Relay};

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The forms in which a TOTP secret could sit in a file.
fn forms(secret: &[u8], b32: &str) -> Vec<(String, Vec<u8>)> {
    let json_array = serde_json::to_string(&secret.to_vec()).unwrap();
    vec![
        ("raw".to_owned(), secret.to_vec()),
        ("base32".to_owned(), b32.as_bytes().to_vec()),
        ("hex".to_owned(), hex::encode(secret).into_bytes()),
        (
            "json array".to_owned(),
            json_array.trim_matches(['[', ']']).as_bytes().to_vec(),
        ),
    ]
}

fn assert_absent(files: &[PathBuf], secret: &[u8], b32: &str) {
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(file).unwrap_or_default();
        for (name, needle) in forms(secret, b32) {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "the TOTP secret ({name}) is in {}",
                file.display()
            );
        }
    }
}

/// The same check over every record of the relay's store (stop an embedded relay first): on
/// PostgreSQL the records are not in the data directory.
fn assert_absent_in_store(relay: &Relay, secret: &[u8], b32: &str) {
    let records = relay.store_records();
    assert!(!records.is_empty());
    for (tree, key, value) in &records {
        for (name, needle) in forms(secret, b32) {
            for bytes in [key, value] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "the TOTP secret ({name}) is in a record of tree {tree}"
                );
            }
        }
    }
}

fn enrol(relay: &Relay, device: &Device) -> (Vec<u8>, String) {
    let c = relay.client(device);
    let r = c.post_json("/v1/me/totp", &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    let b32 = r.json()["secret"].as_str().unwrap().to_owned();
    let secret = base32_decode(&b32);
    // Confirmed with the previous step's code (accepted as clock drift), so the current and the
    // next step's codes remain for two approvals (a code's step is never accepted twice).
    let code = sealroom_server::totp::code(&secret, now() - 30, 6);
    let r = c.post_json("/v1/me/totp/confirm", &json!({ "code": code }));
    assert_eq!(r.status, 204, "{}", r.text());
    (secret, b32)
}

/// Approves a new device of `user_id` with a code of the step `offset` steps from now.
fn approve_new_device(relay: &Relay, user_id: &str, secret: &[u8], offset: i64) -> u16 {
    let key = SigningKey::generate(&mut OsRng);
    let r = relay.anon().post_json(
        "/v1/device-requests",
        &json!({"user_id": user_id, "device_name": "phone",
                "public_key": hex::encode(key.verifying_key().to_bytes())}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let code = sealroom_server::totp::code(secret, now() + offset * 30, 6);
    relay
        .anon()
        .post_json(
            &format!(
                "/v1/device-requests/{}/totp",
                r.json()["request_id"].as_str().unwrap()
            ),
            &json!({ "code": code }),
        )
        .status
}

#[test]
fn totp_secret_is_in_no_file_nor_backup_and_survives_restart_and_rotation() {
    let mut relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let staff = relay.add_staff(&admin, "Sam");
    let (secret, b32) = enrol(&relay, &admin);
    let (staff_secret, staff_b32) = enrol(&relay, &staff);
    assert_eq!(approve_new_device(&relay, &admin.user_id, &secret, 0), 204);

    // The key file sits beside the data directory, mode 0600.
    let key_file = relay.data_dir().with_file_name("data.relay-key");
    assert!(key_file.is_file(), "no key file at {}", key_file.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // A backup of the running relay.
    let backup = relay.data_dir().with_file_name("backup.srb");
    let out = relay.run_command(&["backup", "--out", backup.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    relay.stop();
    let mut files = files_under(&relay.data_dir());
    files.push(backup.clone());
    files.push(relay.log_path());
    assert_absent(&files, &secret, &b32);
    assert_absent(&files, &staff_secret, &staff_b32);
    assert_absent_in_store(&relay, &secret, &b32);
    assert_absent_in_store(&relay, &staff_secret, &staff_b32);

    // After a restart the sealed secret still opens: a fresh code approves a device.
    relay.launch();
    assert_eq!(approve_new_device(&relay, &admin.user_id, &secret, 1), 204);

    // Rotation (relay stopped): every secret is re-sealed under the new key.
    relay.stop();
    let new_key = relay.data_dir().with_file_name("new.relay-key");
    let out = relay.run_command(&["rotate-key", "--new", new_key.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Two TOTP secrets and the audit signing key.
    assert_eq!(report["resealed"], 3, "{report}");
    assert_ne!(report["old_key_id"], report["new_key_id"]);
    assert!(!new_key.exists(), "the new key moved into place");
    relay.launch();
    assert_eq!(
        approve_new_device(&relay, &staff.user_id, &staff_secret, 0),
        204
    );
    let mut files = files_under(&relay.data_dir());
    files.push(relay.log_path());
    assert_absent(&files, &secret, &b32);
    assert_absent(&files, &staff_secret, &staff_b32);
    relay.stop();
    assert_absent_in_store(&relay, &secret, &b32);
    assert_absent_in_store(&relay, &staff_secret, &staff_b32);
}

#[test]
fn relay_refuses_a_loose_or_malformed_key_file() {
    let relay = Relay::unstarted(&[]);
    let key_file = relay.data_dir().with_file_name("data.relay-key");
    std::fs::create_dir_all(relay.data_dir()).unwrap();
    std::fs::write(&key_file, format!("{}\n", "ab".repeat(32))).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = relay.run_command(&[]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("0600"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&key_file, "abcd\n").unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = relay.run_command(&[]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("64 hex"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The audit chain a client checks itself: an admin's device verifies the relay-signed head and
/// every link, and remembers the head. The relay's store is then rolled back to an older copy
/// of its records, as its operator could do on either deployment (redb or PostgreSQL, through
/// `sealroom_tests::backend`; the relay key file, outside the store, is unchanged, so the head
/// is still validly signed): the client reports a rolled-back history. The restored relay then
/// writes new entries past the remembered head, a consistent chain that forks from the one the
/// client saw: the client reports a rewritten history.
#[test]
fn client_detects_rolled_back_and_forked_audit_history() {
    use std::sync::Arc;

    use sealroom_core::client::{AuditCheckError, ClientError, HttpTransport, SealroomClient};
    use sealroom_core::state::{MemoryKv, StorageKey};

    let mut relay = Relay::start();
    let rt = sealroom_tests::runtime();
    let admin = SealroomClient::open(
        &relay.base_url(),
        Arc::new(HttpTransport::new().unwrap()),
        Box::new(MemoryKv::new()),
        StorageKey::generate(),
    )
    .unwrap();
    rt.block_on(async {
        admin
            .bootstrap(&relay.setup_token(), "Provider", "Ada", None, "laptop")
            .await
            .unwrap();
        admin.create_customer_org("Heron GmbH").await.unwrap();
        let first = admin.check_audit().await.unwrap();
        assert!(first.head_seq >= 3, "{first:?}");
        assert_eq!(first.entries_verified, first.head_seq);
    });
    // The operator's older copy of the store (taken with the relay stopped: redb is locked
    // while it runs).
    assert!(relay.stop());
    let old_copy = relay.store_records();
    relay.launch();
    let seen = rt.block_on(async {
        admin.create_customer_org("Kestrel AG").await.unwrap();
        admin.create_customer_org("Plover SA").await.unwrap();
        admin.check_audit().await.unwrap()
    });

    // Roll the store back to the older copy.
    assert!(relay.stop());
    relay.replace_store_records(&old_copy);
    relay.launch();
    rt.block_on(async {
        match admin.check_audit().await {
            Err(ClientError::AuditHistory(AuditCheckError::RolledBack { head_seq, seen_seq })) => {
                assert_eq!(seen_seq, seen.head_seq);
                assert!(head_seq < seen_seq);
            }
            other => panic!("rollback not detected: {other:?}"),
        }
        // The restored relay goes on writing: a different history past the remembered head.
        for name in ["Avocet BV", "Curlew AB", "Dunlin Oy", "Egret SpA"] {
            admin.create_customer_org(name).await.unwrap();
        }
        match admin.check_audit().await {
            Err(e @ ClientError::AuditHistory(AuditCheckError::Rewritten { .. })) => {
                assert_eq!(e.code(), "audit_rewritten");
            }
            other => panic!("fork not detected: {other:?}"),
        }
    });
}
