//! A malicious member against the SDK, through the real relay binary with real SDK clients
//! (issue 25, attacks c and d). The attacker, Mallory, is a customer device that joined the
//! space's room from its own Welcome with raw openmls and writes its application messages and
//! manifest blobs by hand: it is a member, so the relay accepts everything it posts, and only
//! the other clients' checks stand between it and the room.
//!
//! * c: Mallory sends room history keys for future epochs (up to `u64::MAX`) and for epochs it
//!   cannot know, and pushes a document's version to `u64::MAX`; staff then remove it. A file
//!   posted afterwards must be wrapped under a key Mallory does not hold (given the wrapped key
//!   and the sealed blob from the relay, it opens nothing), and the document is not stuck.
//! * d: Mallory posts document versions ahead of the next one and versions of a document it
//!   did not start, and manifest blobs claiming another author, another document's id or a
//!   version ahead of the next: every other client refuses them and "latest" only advances by
//!   a version of a device allowed to publish it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::Signer as _;
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use sealroom_core::client::{FileVersion, NewFile, Role};
use sealroom_core::format::{self, Metadata};
use sealroom_core::primitives::{hkdf_sha256_key, Aead};
use sealroom_core::room::DocumentVersion;

use sealroom_tests::relay::Relay;
use sealroom_tests::rooms::{b64, bytes, suite, unb64, MlsDevice};
use sealroom_tests::runtime;
use sealroom_tests::sdk::SdkDevice as Device;

/// Label and info of the room content keys and file-key wrap (`docs/format.md`).
const CONTENT_KEY_LABEL: &str = "sealroom room content key v1";
const WRAP_INFO: &[u8] = b"sealroom-file-key-wrap-v1";

fn new_device(relay: &Relay) -> Device {
    Device::new(&relay.base_url())
}

/// A PDF-looking document with a marker.
fn pdf(marker: &str) -> Vec<u8> {
    let mut out = format!("%PDF-1.7\n% {marker}\n").into_bytes();
    out.extend(std::iter::repeat_n(b'x', 2000));
    out
}

async fn upload(
    device: &Device,
    space_id: &str,
    name: &str,
    document_id: Option<&str>,
    marker: &str,
) -> FileVersion {
    let data = pdf(marker);
    device
        .client
        .upload_file(
            space_id,
            &NewFile {
                name: name.into(),
                document_id: document_id.map(str::to_owned),
                ..NewFile::default()
            },
            data.len() as u64,
            data.as_slice(),
            |_, _| {},
        )
        .await
        .unwrap()
}

/// The malicious member: a registered customer device with its own openmls group state.
struct Mallory {
    mls: MlsDevice,
    group: MlsGroup,
    /// The relay's id of the room.
    relay_room: String,
    /// Every room content key Mallory holds: received as history, derived itself, or made up.
    known: Vec<(u64, [u8; 32])>,
}

impl Mallory {
    fn client(&self, relay: &Relay) -> sealroom_tests::relay::Client {
        relay.client(&self.mls.device)
    }

    /// The room id (MLS group id) as the SDK writes it.
    fn room_id(&self) -> String {
        String::from_utf8(self.group.group_id().as_slice().to_vec()).unwrap()
    }

    /// Joins from the Welcome in its mailbox and reads the room's messages (the history keys
    /// the adder sent it among them).
    fn join(relay: &Relay, mls: MlsDevice) -> Self {
        let client = relay.client(&mls.device);
        let r = client.get("/v1/welcomes");
        assert_eq!(r.status, 200, "{}", r.text());
        let entries = r.json()["entries"].as_array().unwrap().clone();
        assert_eq!(entries.len(), 1, "one welcome for Mallory: {entries:?}");
        let relay_room = entries[0]["room_id"].as_str().unwrap().to_owned();
        let group = mls.join(entries[0]["welcome"].as_str().unwrap());
        let mut mallory = Self {
            mls,
            group,
            relay_room,
            known: Vec::new(),
        };
        // The content key of its join epoch, which it can derive itself.
        let own = mallory.exporter_key();
        mallory.known.push(own);
        mallory.read_messages(relay);
        assert!(
            mallory.known.len() > 1,
            "Mallory received the room's history keys"
        );
        mallory
    }

    fn exporter_key(&self) -> (u64, [u8; 32]) {
        let epoch = self.group.epoch().as_u64();
        let mut context = self.room_id().into_bytes();
        context.extend_from_slice(&epoch.to_be_bytes());
        let secret = self
            .group
            .export_secret(self.mls.provider.crypto(), CONTENT_KEY_LABEL, &context, 32)
            .unwrap();
        (epoch, secret.try_into().unwrap())
    }

    /// Reads the room's message log; keeps the keys of every history envelope it can open.
    fn read_messages(&mut self, relay: &Relay) {
        let r = self.client(relay).get(&format!(
            "/v1/rooms/{}/messages?after=0&limit=500",
            self.relay_room
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        for entry in r.json()["entries"].as_array().unwrap() {
            let bytes = unb64(entry["message"].as_str().unwrap());
            let Ok(message) = MlsMessageIn::tls_deserialize_exact(bytes) else {
                continue;
            };
            let Ok(protocol) = message.try_into_protocol_message() else {
                continue;
            };
            // Messages of epochs before its join do not open: skip them.
            let Ok(processed) = self.group.process_message(&self.mls.provider, protocol) else {
                continue;
            };
            if let ProcessedMessageContent::ApplicationMessage(app) = processed.into_content() {
                let v: Value = serde_json::from_slice(&app.into_bytes()).unwrap();
                if v["body"]["type"] == "history" {
                    for pair in v["body"]["keys"].as_array().unwrap() {
                        let epoch = pair[0].as_u64().unwrap();
                        let key: [u8; 32] = hex::decode(pair[1].as_str().unwrap())
                            .unwrap()
                            .try_into()
                            .unwrap();
                        self.known.push((epoch, key));
                    }
                }
            }
        }
    }

    /// Encrypts `envelope` as an MLS application message and posts it through the relay.
    fn post(&mut self, relay: &Relay, envelope: &Value) {
        let plain = serde_json::to_vec(envelope).unwrap();
        let message = self
            .group
            .create_message(&self.mls.provider, &self.mls.signer, &plain)
            .unwrap();
        let r = self.client(relay).post_json(
            &format!("/v1/rooms/{}/messages", self.relay_room),
            &json!({ "message": b64(&bytes(&message)) }),
        );
        assert!(
            r.status < 300,
            "the relay takes a member's message: {}",
            r.text()
        );
    }

    /// Posts a `Content::Document` signed with Mallory's own device key (valid for its leaf).
    fn post_document(&mut self, relay: &Relay, document_id: &str, version: u64, file_id: &str) {
        let mut doc = DocumentVersion {
            document_id: document_id.into(),
            version,
            content_digest: Sha256::digest(b"forged content").into(),
            file_id: Some(file_id.into()),
            author_signature: Vec::new(),
            classification: None,
        };
        doc.author_signature = self
            .mls
            .device
            .key
            .sign(&doc.signed_bytes(&self.room_id()))
            .to_bytes()
            .to_vec();
        let envelope = json!({
            "v": 1,
            "label": "customer",
            "body": {
                "type": "document",
                "document_id": doc.document_id,
                "version": doc.version,
                "content_digest": hex::encode(doc.content_digest),
                "file_id": doc.file_id,
                "author_signature": hex::encode(&doc.author_signature),
            }
        });
        self.post(relay, &envelope);
    }

    /// Uploads `data` as a complete blob of the room; returns its id.
    fn put_blob(&self, relay: &Relay, data: &[u8]) -> String {
        let client = self.client(relay);
        let r = client.post_json(
            &format!("/v1/rooms/{}/blobs", self.relay_room),
            &json!({ "length": data.len() }),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let blob_id = r.json()["blob_id"].as_str().unwrap().to_owned();
        let sum = format!("sha256 {}", b64(&Sha256::digest(data)));
        let r = client.request(
            "PATCH",
            &format!("/v1/rooms/{}/blobs/{blob_id}", self.relay_room),
            &[
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", "0"),
                ("upload-checksum", &sum),
            ],
            data,
        );
        assert!(r.status < 300, "{}", r.text());
        blob_id
    }

    /// Wraps `file_key` under the newest room content key Mallory received as history, in the
    /// SDK's wrap format, for the file `file_id`.
    fn wrap(&self, file_id: &str, file_key: &[u8; 32]) -> Vec<u8> {
        let (epoch, key) = self
            .known
            .iter()
            .filter(|(e, _)| *e < self.group.epoch().as_u64())
            .max_by_key(|(e, _)| *e)
            .copied()
            .unwrap();
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let mut header = b"SRWK".to_vec();
        header.push(1);
        header.extend_from_slice(&epoch.to_be_bytes());
        header.extend_from_slice(&nonce);
        let aad = wrap_aad(&header, &self.room_id(), file_id);
        let sealed = Aead::new(&hkdf_sha256_key(&[], &key, WRAP_INFO))
            .seal(&nonce, &aad, file_key)
            .unwrap();
        header.extend_from_slice(&sealed);
        header
    }

    /// Uploads a sealed file and, beside it, a manifest blob in the SDK's manifest layout
    /// claiming `claims` (document id, version, author, ...), unsigned. Returns the file id.
    fn forge_manifest(&self, relay: &Relay, claims: &Value) -> String {
        let mut file_key = [0u8; 32];
        OsRng.fill_bytes(&mut file_key);
        let key = format::FileKey::from_bytes(file_key);
        let sealed_file =
            format::seal(&key, &Metadata::default(), &pdf("forged by Mallory")).unwrap();
        let file_id = self.put_blob(relay, &sealed_file);
        let wrapped = self.wrap(&file_id, &file_key);
        let sealed_manifest = format::seal(
            &key,
            &Metadata::default(),
            &serde_json::to_vec(claims).unwrap(),
        )
        .unwrap();
        let mut blob = b"SRMF".to_vec();
        blob.extend_from_slice(file_id.as_bytes());
        blob.extend_from_slice(&(wrapped.len() as u16).to_be_bytes());
        blob.extend_from_slice(&wrapped);
        blob.extend_from_slice(&sealed_manifest);
        self.put_blob(relay, &blob);
        file_id
    }

    /// Tries every key Mallory holds on a wrapped file key; returns the key when one opens it.
    fn try_unwrap(&self, room_id: &str, file_id: &str, wrapped: &[u8]) -> Option<Vec<u8>> {
        assert_eq!(&wrapped[..5], b"SRWK\x01", "wrap format v1");
        let (header, sealed) = wrapped.split_at(25);
        let nonce = &header[13..25];
        let aad = wrap_aad(header, room_id, file_id);
        self.known.iter().find_map(|(_, key)| {
            Aead::new(&hkdf_sha256_key(&[], key, WRAP_INFO))
                .open(nonce.try_into().unwrap(), &aad, sealed)
                .ok()
        })
    }
}

/// The GroupContext extension type of Sealroom rooms that names the provider organisation;
/// every leaf must support it (`docs/rooms.md`).
const PROVIDER_EXTENSION: u16 = 0xF5A1;

/// Uploads key packages of Mallory's device with the capabilities a Sealroom room requires.
fn upload_key_packages(relay: &Relay, mls: &MlsDevice) {
    let packages: Vec<String> = (0..3)
        .map(|_| {
            let bundle = KeyPackage::builder()
                .leaf_node_capabilities(
                    Capabilities::builder()
                        .ciphersuites(vec![suite()])
                        .extensions(vec![ExtensionType::Unknown(PROVIDER_EXTENSION)])
                        .build(),
                )
                .build(suite(), &mls.provider, &mls.signer, mls.credential.clone())
                .unwrap();
            b64(&sealroom_tests::rooms::bytes(&MlsMessageOut::from(
                bundle.key_package().clone(),
            )))
        })
        .collect();
    let r = relay
        .client(&mls.device)
        .post_json("/v1/keypackages", &json!({ "key_packages": packages }));
    assert_eq!(r.status, 200, "upload key packages: {}", r.text());
}

fn wrap_aad(header: &[u8], room_id: &str, file_id: &str) -> Vec<u8> {
    let mut aad = header.to_vec();
    for part in [room_id.as_bytes(), file_id.as_bytes()] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad
}

/// The manifest blob the relay stores for `file_id` (what a removed member could get from a
/// colluding relay operator, out of the blob directory or the S3 bucket): (wrapped file key,
/// sealed manifest).
fn stored_manifest(relay: &Relay, file_id: &str) -> (Vec<u8>, Vec<u8>) {
    for (_, bytes) in relay.finished_blobs() {
        if bytes.len() > 38 && &bytes[..4] == b"SRMF" && &bytes[4..36] == file_id.as_bytes() {
            let wlen = u16::from_be_bytes([bytes[36], bytes[37]]) as usize;
            return (bytes[38..38 + wlen].to_vec(), bytes[38 + wlen..].to_vec());
        }
    }
    panic!("no manifest blob for {file_id} in the relay's blob storage");
}

/// An admin, a staff member who created a space, and an honest customer (Cara) in its room.
struct Scene {
    relay: Relay,
    staff: Device,
    cara: Device,
    space_id: String,
    staff_user: String,
}

async fn scene(relay: Relay) -> Scene {
    let admin = new_device(&relay);
    admin
        .client
        .bootstrap(
            &relay.setup_token(),
            "Provider",
            "Ada Admin",
            None,
            "laptop",
        )
        .await
        .unwrap();
    let org = admin
        .client
        .create_customer_org("Kestrel Ltd")
        .await
        .unwrap();
    let staff = new_device(&relay);
    let invite = admin.client.invite(Role::Staff, None).await.unwrap();
    staff
        .client
        .register(&invite.token, "Sam Staff", None, "laptop")
        .await
        .unwrap();
    let staff_user = staff.client.account().unwrap().user_id;
    let space_id = staff
        .client
        .create_space(&org.org_id, false)
        .await
        .unwrap()
        .space_id;
    let cara = new_device(&relay);
    let invite = staff
        .client
        .invite(Role::Customer, Some(&space_id))
        .await
        .unwrap();
    cara.client
        .register(&invite.token, "Cara Customer", None, "phone")
        .await
        .unwrap();
    let cara_user = cara.client.account().unwrap().user_id;
    staff
        .client
        .add_member(&space_id, &cara_user)
        .await
        .unwrap();
    cara.client.sync().await.unwrap();
    Scene {
        relay,
        staff,
        cara,
        space_id,
        staff_user,
    }
}

impl Scene {
    /// Registers Mallory (a customer of the space, raw openmls) and has staff add it.
    async fn add_mallory(&self) -> Mallory {
        let invite = self
            .staff
            .client
            .invite(Role::Customer, Some(&self.space_id))
            .await
            .unwrap();
        let device = self.relay.register(&invite.token, "Mallory");
        // A malicious member is a member like any other: its user vouches for its device.
        self.relay.certify_with_new_identity(&device);
        let mls = MlsDevice::new(&device);
        upload_key_packages(&self.relay, &mls);
        self.staff
            .client
            .add_member(&self.space_id, &device.user_id)
            .await
            .unwrap();
        Mallory::join(&self.relay, mls)
    }

    /// A new honest customer added now.
    async fn add_customer(&self, name: &str) -> Device {
        let device = new_device(&self.relay);
        let invite = self
            .staff
            .client
            .invite(Role::Customer, Some(&self.space_id))
            .await
            .unwrap();
        device
            .client
            .register(&invite.token, name, None, "phone")
            .await
            .unwrap();
        let user = device.client.account().unwrap().user_id;
        self.staff
            .client
            .add_member(&self.space_id, &user)
            .await
            .unwrap();
        device.client.sync().await.unwrap();
        device
    }

    /// `(version, file id, author)` of every version of `document_id` a device knows.
    fn versions(&self, device: &Device, document_id: &str) -> Vec<(u64, String, String)> {
        device
            .client
            .files(&self.space_id)
            .unwrap()
            .into_iter()
            .filter(|f| f.document_id == document_id)
            .map(|f| (f.version, f.file_id, f.sender_user_id))
            .collect()
    }
}

/// Attack c: poisoned history keys and a document pushed to `u64::MAX`, then removal.
#[test]
fn poisoned_history_is_not_used_and_the_removed_member_opens_nothing_later() {
    let rt = runtime();
    rt.block_on(async {
        let s = scene(Relay::start()).await;
        let before = upload(
            &s.staff,
            &s.space_id,
            "contract-v1.pdf",
            None,
            "contract v1",
        )
        .await;
        let doc = before.document_id.clone();
        let mut mallory = s.add_mallory().await;

        // Keys for epochs in the future, far in the future, and before anyone could know them,
        // all of which Mallory knows; the document pushed to u64::MAX.
        let now = mallory.group.epoch().as_u64();
        let mut evil = Vec::new();
        for epoch in [u64::MAX, u64::MAX - 1, now + 1, now + 2, now + 50, 0, now] {
            let mut key = [0u8; 32];
            OsRng.fill_bytes(&mut key);
            mallory.known.push((epoch, key));
            evil.push(json!([epoch, hex::encode(key)]));
        }
        let history = json!({
            "v": 1,
            "body": {
                "type": "history",
                "keys": evil,
                "documents": [[doc, u64::MAX], ["doc-from-nowhere", u64::MAX]],
            }
        });
        mallory.post(&s.relay, &history);
        s.staff.client.sync().await.unwrap();
        s.cara.client.sync().await.unwrap();

        // Positive control: Mallory's unwrap reproduces the SDK's format, so a file key wrapped
        // while Mallory was entitled to the history does open with what it holds.
        let (wrapped, _) = stored_manifest(&s.relay, &before.file_id);
        assert!(
            mallory
                .try_unwrap(&mallory.room_id(), &before.file_id, &wrapped)
                .is_some(),
            "control: Mallory opens a file key wrapped before its removal"
        );

        // Staff remove Mallory, then post a new file.
        let mallory_user = mallory.mls.device.user_id.clone();
        s.staff
            .client
            .remove_member(&s.space_id, &mallory_user)
            .await
            .unwrap();
        let after = upload(
            &s.staff,
            &s.space_id,
            "after-removal.pdf",
            None,
            "after removal",
        )
        .await;

        // Given the wrapped key and the sealed manifest from the relay, Mallory opens nothing.
        let (wrapped, sealed) = stored_manifest(&s.relay, &after.file_id);
        let epoch = u64::from_be_bytes(wrapped[5..13].try_into().unwrap());
        let opened = mallory.try_unwrap(&mallory.room_id(), &after.file_id, &wrapped);
        assert!(
            opened.is_none(),
            "ATTACK SUCCEEDED: a file posted after Mallory's removal is wrapped under a key \
             Mallory holds (wrap epoch {epoch})"
        );
        for (_, key) in &mallory.known {
            let k = format::FileKey::from_bytes(*key);
            assert!(format::open(&k, &sealed).is_err());
        }

        // The document is not stuck at u64::MAX: staff publish version 2 and everyone sees it
        // as the latest.
        let v2 = upload(
            &s.staff,
            &s.space_id,
            "contract-v2.pdf",
            Some(&doc),
            "contract v2",
        )
        .await;
        assert_eq!(v2.version, 2, "the next version after 1 is 2");
        s.cara.client.sync().await.unwrap();
        let docs = s.cara.client.documents(&s.space_id).unwrap();
        let d = docs.iter().find(|d| d.document_id == doc).unwrap();
        assert_eq!((d.latest.version, &d.latest.file_id), (2, &v2.file_id));

        // A customer added later sees both versions and nothing of Mallory's.
        let dan = s.add_customer("Dan Customer").await;
        dan.client.refresh_files(&s.space_id).await.unwrap();
        let got = s.versions(&dan, &doc);
        assert_eq!(
            got.iter().map(|v| v.0).collect::<Vec<_>>(),
            vec![1, 2],
            "the newcomer's versions: {got:?}"
        );
        assert!(dan
            .client
            .files(&s.space_id)
            .unwrap()
            .iter()
            .all(|f| f.document_id != "doc-from-nowhere"));
    });
}

/// Attack d, room part: document versions ahead of the next one, and versions of a document
/// Mallory did not start.
#[test]
fn version_jumps_and_versions_of_another_authors_document_are_refused() {
    let rt = runtime();
    rt.block_on(async {
        let s = scene(Relay::start()).await;
        let v1 = upload(&s.staff, &s.space_id, "policy.pdf", None, "policy v1").await;
        let doc = v1.document_id.clone();
        let mut mallory = s.add_mallory().await;
        s.cara.client.sync().await.unwrap();

        // A jump ahead (5 after 1), the "next" version of staff's document, and a jump to the
        // end of the number space.
        mallory.post_document(&s.relay, &doc, 5, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        mallory.post_document(&s.relay, &doc, 2, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        mallory.post_document(&s.relay, &doc, u64::MAX, "cccccccccccccccccccccccccccccccc");
        s.staff.client.sync().await.unwrap();
        s.cara.client.sync().await.unwrap();

        for (who, device) in [("staff", &s.staff), ("cara", &s.cara)] {
            let got = s.versions(device, &doc);
            assert_eq!(
                got,
                vec![(1, v1.file_id.clone(), s.staff_user.clone())],
                "ATTACK SUCCEEDED if {who} lists a version of Mallory's: {got:?}"
            );
        }

        // "latest" advances only by staff's own next version.
        let v2 = upload(
            &s.staff,
            &s.space_id,
            "policy-2.pdf",
            Some(&doc),
            "policy v2",
        )
        .await;
        assert_eq!(v2.version, 2);
        s.cara.client.sync().await.unwrap();
        let docs = s.cara.client.documents(&s.space_id).unwrap();
        let d = docs.iter().find(|d| d.document_id == doc).unwrap();
        assert_eq!((d.latest.version, &d.latest.file_id), (2, &v2.file_id));
    });
}

/// Attack d, manifest part: manifests claiming another author, another document's id, or a
/// version ahead of the next one are never imported, by existing members or by newcomers.
#[test]
fn forged_manifests_are_not_imported() {
    let rt = runtime();
    rt.block_on(async {
        let s = scene(Relay::start()).await;
        let v1 = upload(&s.staff, &s.space_id, "offer.pdf", None, "offer v1").await;
        let doc = v1.document_id.clone();
        let mallory = s.add_mallory().await;
        let mallory_user = mallory.mls.device.user_id.clone();

        let claims = |document_id: &str, version: u64, author: &str| {
            json!({
                "document_id": document_id,
                "version": version,
                "name": "offer-final.pdf",
                "media_type": "application/pdf",
                "size": 2024,
                "digest": hex::encode(Sha256::digest(b"forged")),
                "sender_user_id": author,
            })
        };
        let forged = [
            // Staff's next version, with staff as the author.
            mallory.forge_manifest(&s.relay, &claims(&doc, 2, &s.staff_user)),
            // Staff's document, a version far ahead, Mallory as author.
            mallory.forge_manifest(&s.relay, &claims(&doc, 9, &mallory_user)),
            // A new document of "staff".
            mallory.forge_manifest(&s.relay, &claims("fresh-document-id", 1, &s.staff_user)),
            // A version ahead of the next one of a document nobody started.
            mallory.forge_manifest(&s.relay, &claims("another-document", 7, &mallory_user)),
        ];

        let dan = s.add_customer("Dan Customer").await;
        for (who, device) in [("staff", &s.staff), ("cara", &s.cara), ("dan", &dan)] {
            device.client.sync().await.unwrap();
            let events = device.client.refresh_files(&s.space_id).await.unwrap();
            let files = device.client.files(&s.space_id).unwrap();
            let imported: Vec<_> = files
                .iter()
                .filter(|f| forged.contains(&f.file_id))
                .map(|f| (f.document_id.clone(), f.version, f.sender_user_id.clone()))
                .collect();
            assert!(
                imported.is_empty(),
                "ATTACK SUCCEEDED: {who} imported forged manifests {imported:?} (events {events:?})"
            );
            let got = s.versions(device, &doc);
            assert_eq!(
                got,
                vec![(1, v1.file_id.clone(), s.staff_user.clone())],
                "{who}'s versions of the document"
            );
        }
    });
}
