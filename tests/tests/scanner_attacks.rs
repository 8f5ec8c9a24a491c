//! The scanner as an attacker (issue 23): the space's scanner is a machine, not a second member
//! of staff. Its own device, the one the real `sealroom-scanner` binary registered and the
//! space designated, tries to lift a four-eyes hold on a file staff uploaded and to override
//! its own infected verdict: through the relay (signed releases sent directly) and in the room
//! (approvals posted with the scanner's own MLS state, past every check of the SDK). The relay
//! refuses both (`403 scanner_not_staff`) and every client ignores both.
//!
//! The scene, the scanner process and clamd are those of [`super::scanner`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::json;

use sealroom_core::client::{Classification, FileAccess, FileVersion, LabelRule, NewFile, Role};
use sealroom_core::room::{self, version_digest, Content, DocumentVersion, Label, ReleaseApproval};
use sealroom_core::state::{EncryptedStore, FileKv, StorageKey};

use sealroom_tests::relay::{Device, Relay, Response};
use sealroom_tests::rooms::b64;

use super::scanner::{
    download, eicar, file, runtime, scene, upload, verdict_line, Scene, EICAR_NAME,
};

/// The key of the scanner's state directory (written by the scanner binary).
fn storage_key(state: &Path) -> [u8; 32] {
    let text = std::fs::read_to_string(state.join("storage.key")).unwrap();
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key).unwrap();
    key
}

/// The scanner's device, out of the state directory the scanner binary keeps: its relay
/// identity with its Ed25519 key, and its room state (MLS groups). The scanner process must
/// not be running.
struct ScannerDevice {
    device: Device,
    rooms: room::Client,
}

impl ScannerDevice {
    fn open(state: &Path) -> Self {
        let key = storage_key(state);
        let store = EncryptedStore::new(
            Box::new(FileKv::open(state.join("store")).unwrap()),
            &StorageKey::from_bytes(key),
        );
        let stored: serde_json::Value =
            serde_json::from_slice(&store.get("device").unwrap().unwrap()).unwrap();
        drop(store);
        let mut secret = [0u8; 32];
        hex::decode_to_slice(stored["key"].as_str().unwrap(), &mut secret).unwrap();
        let device = Device {
            org_id: stored["org"].as_str().unwrap().to_owned(),
            user_id: stored["user"].as_str().unwrap().to_owned(),
            device_id: stored["device"].as_str().unwrap().to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(&secret),
            last_ts: Default::default(),
        };
        let rooms = room::Client::open(
            Box::new(FileKv::open(state.join("store")).unwrap()),
            &StorageKey::from_bytes(key),
        )
        .unwrap();
        Self { device, rooms }
    }

    /// Signs the relay's release statement of `kind` and posts it (what the SDK's
    /// `approve_release` / `override_scan` send, without the SDK's own checks).
    fn relay_release(&self, relay: &Relay, room: &str, blob_id: &str, kind: &str) -> Response {
        use ed25519_dalek::Signer as _;
        let statement = sealroom_wire::blobs::release_statement(room, blob_id, kind);
        relay.client(&self.device).post_json(
            &format!("/v1/rooms/{room}/blobs/{blob_id}/release"),
            &json!({
                "kind": kind,
                "signature": hex::encode(self.device.key.sign(&statement).to_bytes()),
            }),
        )
    }

    /// Posts a [`ReleaseApproval`] of `kind` for `f` into the customer room `room` (relay id),
    /// naming the right file, version and digest: what a lying relay would deliver.
    fn room_release(&mut self, relay: &Relay, room: &str, f: &FileVersion, kind: &str) {
        let core_id = String::from_utf8(hex::decode(room).unwrap()).unwrap();
        let room_id = self
            .rooms
            .rooms()
            .into_iter()
            .find(|r| r.as_str() == core_id)
            .unwrap();
        let mut content_digest = [0u8; 32];
        hex::decode_to_slice(&f.digest, &mut content_digest).unwrap();
        let signed = DocumentVersion {
            document_id: f.document_id.clone(),
            version: f.version,
            content_digest,
            file_id: Some(f.file_id.clone()),
            author_signature: Vec::new(),
            classification: f.classification.clone(),
        }
        .signed_bytes(&core_id);
        let approval = ReleaseApproval {
            file_id: f.file_id.clone(),
            document_id: f.document_id.clone(),
            version: f.version,
            version_digest: version_digest(&signed),
            kind: kind.to_owned(),
        };
        let message = self
            .rooms
            .post(&room_id, Label::Customer, Content::Release(approval))
            .unwrap();
        let r = relay.client(&self.device).post_json(
            &format!("/v1/rooms/{room}/messages"),
            &json!({ "message": b64(&message) }),
        );
        assert!(r.status < 300, "{}", r.text());
    }
}

/// The scene's policy plus `restricted`: customers may download it after a four-eyes release.
async fn add_four_eyes_label(s: &Scene) {
    let mut policy = s.sam.client.space_policy(&s.space_id).unwrap();
    assert_eq!(policy.scanner.as_deref(), Some(s.scanner_user.as_str()));
    policy.labels.push(LabelRule {
        classification: Classification::Restricted,
        customer_download: true,
        scan_required: false,
        four_eyes: true,
    });
    s.sam
        .client
        .set_space_policy(&s.space_id, &policy)
        .await
        .unwrap();
    s.sync_all().await;
}

fn assert_scanner_refused(r: &Response, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", r.text());
    assert_eq!(
        r.json()["code"],
        "scanner_not_staff",
        "{what}: {}",
        r.text()
    );
}

/// The scanner's device gives neither a four-eyes release of a file staff uploaded nor a scan
/// override of an infected file: the relay refuses both releases and keeps serving neither
/// blob to those it held it from, and every client ignores both approvals in the room, while a
/// second member of staff still releases the file.
#[test]
fn scanner_neither_releases_four_eyes_nor_overrides() {
    runtime().block_on(async {
        let s = scene().await;
        add_four_eyes_label(&s).await;
        // Rita (customer) and Olga (staff) read blobs straight from the relay.
        let rita = s.add_raw(Role::Customer, "Rita").await;
        let olga = s.add_raw(Role::Staff, "Olga").await;
        let room = rita.room.clone();

        // Sue (staff) uploads a restricted file; Cara the EICAR file. The real scanner scans
        // both and stops.
        let data = b"%PDF-1.7\n% restricted contract\n".to_vec();
        let restricted = s
            .sue
            .client
            .upload_file(
                &s.space_id,
                &NewFile {
                    name: "contract.pdf".into(),
                    classification: Some(Classification::Restricted),
                    ..NewFile::default()
                },
                data.len() as u64,
                &data[..],
                |_, _| {},
            )
            .await
            .unwrap();
        let infected = upload(&s.cara, &s.space_id, "c.txt", &eicar()).await;
        let mut scanner = s.scanner();
        let mut lines: Vec<String> = Vec::new();
        for id in [&restricted.file_id, &infected.file_id] {
            if !lines.iter().any(|l| verdict_line(id)(l.as_str())) {
                lines.extend(scanner.read_until(verdict_line(id)));
            }
        }
        scanner.read_until(|l| l == "idle");
        scanner.kill();
        s.sync_all().await;
        assert_eq!(
            file(&s.carl, &s.space_id, &restricted.file_id).access,
            FileAccess::AwaitingRelease
        );
        assert_eq!(
            file(&s.sam, &s.space_id, &infected.file_id).scan.code(),
            "infected",
            "{EICAR_NAME}"
        );
        assert_eq!(rita.get_blob(&s.relay, &restricted.file_id).status, 403);
        assert_eq!(olga.get_blob(&s.relay, &infected.file_id).status, 403);

        let mut machine = ScannerDevice::open(s.scanner_state.path());
        assert_eq!(machine.device.user_id, s.scanner_user);

        // (a) A four-eyes release by the scanner, on the relay: refused; the customer still
        //     gets nothing.
        let r = machine.relay_release(&s.relay, &room, &restricted.file_id, "four_eyes");
        assert_scanner_refused(&r, "four-eyes release by the scanner");
        let r = rita.get_blob(&s.relay, &restricted.file_id);
        assert_eq!(r.status, 403, "served to a customer: {}", r.text());
        assert_eq!(r.json()["code"], "awaiting_release");

        // (b) A scan override by the scanner, on the relay: refused; staff still get nothing.
        let r = machine.relay_release(&s.relay, &room, &infected.file_id, "scan_override");
        assert_scanner_refused(&r, "scan override by the scanner");
        assert_eq!(olga.get_blob(&s.relay, &infected.file_id).status, 403);

        // Neither refusal is audited as a release.
        let page = s
            .admin
            .client
            .audit(&sealroom_wire::audit::AuditQuery {
                action: Some("blob.release".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            !page.entries.iter().any(|e| {
                let o = e.entry.object_id.as_deref();
                e.entry.actor_user.as_deref() == Some(s.scanner_user.as_str())
                    && (o == Some(restricted.file_id.as_str())
                        || o == Some(infected.file_id.as_str()))
            }),
            "{page:?}"
        );

        // In the room: the scanner's approvals of both, which the relay carries (it cannot
        // read them), are ignored by every client.
        machine.room_release(&s.relay, &room, &restricted, "four_eyes");
        machine.room_release(&s.relay, &room, &infected, "scan_override");
        s.sync_all().await;
        for d in [&s.cara, &s.carl] {
            let f = file(d, &s.space_id, &restricted.file_id);
            assert!(f.released_by.is_empty(), "{:?}", f.released_by);
            assert_eq!(f.access, FileAccess::AwaitingRelease);
            assert_eq!(
                download(d, &s.space_id, &restricted.file_id)
                    .await
                    .unwrap_err(),
                "awaiting_release"
            );
        }
        for d in [&s.sam, &s.sue] {
            let f = file(d, &s.space_id, &restricted.file_id);
            assert!(f.released_by.is_empty(), "{:?}", f.released_by);
            let f = file(d, &s.space_id, &infected.file_id);
            assert_eq!(f.access, FileAccess::Infected);
            assert_eq!(
                download(d, &s.space_id, &infected.file_id)
                    .await
                    .unwrap_err(),
                "infected"
            );
        }

        // The scanner's SDK refuses both before sending anything.
        let sdk = sealroom_tests::sdk::open_at(
            &s.relay.base_url(),
            &s.scanner_state.path().join("store"),
            storage_key(s.scanner_state.path()),
        );
        drop(machine);
        sdk.sync().await.unwrap();
        for e in [
            sdk.approve_release(&s.space_id, &restricted.file_id)
                .await
                .unwrap_err(),
            sdk.override_scan(&s.space_id, &infected.file_id)
                .await
                .unwrap_err(),
        ] {
            assert_eq!(e.code(), "not_staff");
        }

        // A second member of staff still releases the file: Sam, not the uploader Sue.
        s.sam
            .client
            .approve_release(&s.space_id, &restricted.file_id)
            .await
            .unwrap();
        s.sync_all().await;
        let f = file(&s.carl, &s.space_id, &restricted.file_id);
        assert_eq!(f.released_by, vec![s.sam.client.account().unwrap().user_id]);
        assert_eq!(
            download(&s.carl, &s.space_id, &restricted.file_id)
                .await
                .unwrap(),
            data
        );
        assert_eq!(rita.get_blob(&s.relay, &restricted.file_id).status, 200);
    });
}
