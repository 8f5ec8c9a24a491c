//! A lost device is cut off everywhere (issue 24), through the real relay binary, real SDK
//! clients and a real SMTP listener.
//!
//! Cara (a customer) has two devices in a space with staff: A runs the SDK; B, the lost one,
//! is a raw openmls client whose group state and room keys the test keeps ("B's saved
//! state"). B is revoked, from A or by an administrator; the relay refuses B's next request,
//! the next member online removes B's leaf by an MLS commit, and a message and a file posted
//! afterwards do not open with anything B holds, even when a colluding relay hands B every
//! byte posted to the room. Cara gets a mail that says only that a device was removed.
//! Finally a policy attack: a customer device (or a lying relay on its behalf) claims that
//! another user's device is revoked; neither the relay nor the clients remove it.
//!
//! All SDK clients talk through an honest [`HostileRelay`] proxy that records every exchange:
//! it plays the colluding relay operator's log of what members posted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use rand_core::OsRng;
use serde_json::{json, Value};

use sealroom_core::client::{
    ClientEvent, FileVersion, HttpTransport, NewFile, NewMessage, Role, SealroomClient, Transport,
};
use sealroom_core::format;
use sealroom_core::primitives::{hkdf_sha256_key, Aead};
use sealroom_core::state::{FileKv, StorageKey};
use sealroom_wire::accounts::SecurityEventKind;

use sealroom_tests::hostile::HostileRelay;
use sealroom_tests::relay::{Device, Relay};
use sealroom_tests::rooms::{b64, bytes, unb64, upload_sdk_key_packages, MlsDevice};
use sealroom_tests::runtime;
use sealroom_tests::smtp::{Mail, SmtpSink};

/// Label and info of the room content keys and file-key wrap (`docs/format.md`).
const CONTENT_KEY_LABEL: &str = "sealroom room content key v1";
const WRAP_INFO: &[u8] = b"sealroom-file-key-wrap-v1";
const CARA_MAIL: &str = "cara@example.test";
const REVOKED_SUBJECT: &str = "Sealroom: a device was removed from your account";

struct Sdk {
    client: SealroomClient,
    _dir: tempfile::TempDir,
}

fn sdk(url: &str) -> Sdk {
    let dir = tempfile::tempdir().unwrap();
    let kv = FileKv::open(dir.path()).unwrap();
    let transport: Arc<dyn Transport> = Arc::new(HttpTransport::new().unwrap());
    let client =
        SealroomClient::open(url, transport, Box::new(kv), StorageKey::generate()).unwrap();
    Sdk { client, _dir: dir }
}

impl Sdk {
    fn device_id(&self) -> String {
        self.client.account().unwrap().device_id
    }
}

/// The lost device: a raw openmls member whose state the test keeps.
struct Lost {
    mls: MlsDevice,
    group: MlsGroup,
    relay_room: String,
    /// Every room content key B holds: derived in its epochs or received as history.
    known: Vec<(u64, [u8; 32])>,
}

impl Lost {
    fn device_id(&self) -> String {
        self.mls.device.device_id.clone()
    }

    fn room_id(&self) -> String {
        String::from_utf8(self.group.group_id().as_slice().to_vec()).unwrap()
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

    /// Processes one MLS message (base64) with B's state: merges commits, keeps history keys,
    /// returns the plaintext of an application message. `None` when B's state refuses it.
    fn process(&mut self, message_b64: &str) -> Option<Vec<u8>> {
        let message = MlsMessageIn::tls_deserialize_exact(unb64(message_b64)).ok()?;
        let protocol = message.try_into_protocol_message().ok()?;
        let processed = self
            .group
            .process_message(&self.mls.provider, protocol)
            .ok()?;
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => {
                let plain = app.into_bytes();
                if let Ok(v) = serde_json::from_slice::<Value>(&plain) {
                    if v["body"]["type"] == "history" {
                        for pair in v["body"]["keys"].as_array().unwrap() {
                            let key = hex::decode(pair[1].as_str().unwrap()).unwrap();
                            self.known
                                .push((pair[0].as_u64().unwrap(), key.try_into().unwrap()));
                        }
                    }
                }
                Some(plain)
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                self.group
                    .merge_staged_commit(&self.mls.provider, *staged)
                    .unwrap();
                if self.group.is_active() {
                    let key = self.exporter_key();
                    self.known.push(key);
                }
                None
            }
            _ => None,
        }
    }

    /// Reads the room's handshakes and messages from the relay (while B is still accepted).
    fn catch_up(&mut self, relay: &Relay, after_hs: u64, after_msg: u64) -> Vec<Vec<u8>> {
        let client = relay.client(&self.mls.device);
        let r = client.get(&format!(
            "/v1/rooms/{}/handshakes?after={after_hs}&limit=500",
            self.relay_room
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        for entry in r.json()["entries"].as_array().unwrap() {
            self.process(entry["message"].as_str().unwrap());
        }
        let r = client.get(&format!(
            "/v1/rooms/{}/messages?after={after_msg}&limit=500",
            self.relay_room
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| self.process(e["message"].as_str().unwrap()))
            .collect()
    }

    /// Tries every key B holds on a wrapped file key; the key when one opens it.
    fn try_unwrap(&self, file_id: &str, wrapped: &[u8]) -> Option<Vec<u8>> {
        assert_eq!(&wrapped[..5], b"SRWK\x01", "wrap format v1");
        let (header, sealed) = wrapped.split_at(25);
        let nonce = &header[13..25];
        let aad = wrap_aad(header, &self.room_id(), file_id);
        self.known.iter().find_map(|(_, key)| {
            Aead::new(&hkdf_sha256_key(&[], key, WRAP_INFO))
                .open(nonce.try_into().unwrap(), &aad, sealed)
                .ok()
        })
    }
}

fn wrap_aad(header: &[u8], room_id: &str, file_id: &str) -> Vec<u8> {
    let mut aad = header.to_vec();
    for part in [room_id.as_bytes(), file_id.as_bytes()] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad
}

/// The manifest blob the relay stores for `file_id`: (wrapped file key, sealed manifest), read
/// from its blob storage (the data directory or the S3 bucket) as its operator could.
fn stored_manifest(relay: &Relay, file_id: &str) -> (Vec<u8>, Vec<u8>) {
    for (_, bytes) in relay.finished_blobs() {
        if bytes.len() > 38 && &bytes[..4] == b"SRMF" && &bytes[4..36] == file_id.as_bytes() {
            let wlen = u16::from_be_bytes([bytes[36], bytes[37]]) as usize;
            return (bytes[38..38 + wlen].to_vec(), bytes[38 + wlen..].to_vec());
        }
    }
    panic!("no manifest blob for {file_id} in the relay's blob storage");
}

fn upload_key_packages(relay: &Relay, mls: &MlsDevice) {
    upload_sdk_key_packages(&relay.client(&mls.device), mls);
}

async fn upload(device: &Sdk, space_id: &str, name: &str, marker: &str) -> FileVersion {
    let mut data = format!("%PDF-1.7\n% {marker}\n").into_bytes();
    data.extend(std::iter::repeat_n(b'x', 2000));
    device
        .client
        .upload_file(
            space_id,
            &NewFile {
                name: name.into(),
                ..NewFile::default()
            },
            data.len() as u64,
            data.as_slice(),
            |_, _| {},
        )
        .await
        .unwrap()
}

async fn post(device: &Sdk, space_id: &str, body: &str) {
    device
        .client
        .post_message(
            space_id,
            NewMessage {
                body: body.into(),
                ..NewMessage::default()
            },
        )
        .await
        .unwrap();
}

/// An admin, staff Sam who created a space, customer Cara with device A (SDK) and device B
/// (raw, linked by A's approval) in the space's room.
struct Scene {
    relay: Relay,
    proxy: HostileRelay,
    sink: SmtpSink,
    admin: Sdk,
    staff: Sdk,
    a: Sdk,
    b: Lost,
    space_id: String,
    cara_user: String,
}

async fn scene() -> Scene {
    let Some(sink) = SmtpSink::start() else {
        panic!("aiosmtpd is needed for this test (pip install aiosmtpd)");
    };
    let port = sink.port().to_string();
    let relay = Relay::start_with(&[
        // B's refused requests count as authentication failures from 127.0.0.1, where every
        // client of the test lives.
        ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ("SEALROOM_SMTP_HOST", "127.0.0.1"),
        ("SEALROOM_SMTP_PORT", &port),
        ("SEALROOM_PUBLIC_URL", "https://portal.example"),
    ]);
    let proxy = HostileRelay::start(relay.addr());
    let url = proxy.base_url();
    let admin = sdk(&url);
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
    let staff = sdk(&url);
    let invite = admin.client.invite(Role::Staff, None).await.unwrap();
    staff
        .client
        .register(&invite.token, "Sam Staff", None, "laptop")
        .await
        .unwrap();
    let space_id = staff
        .client
        .create_space(&org.org_id, false)
        .await
        .unwrap()
        .space_id;
    let a = sdk(&url);
    let invite = staff
        .client
        .invite(Role::Customer, Some(&space_id))
        .await
        .unwrap();
    a.client
        .register(&invite.token, "Cara Customer", Some(CARA_MAIL), "laptop")
        .await
        .unwrap();
    let account = a.client.account().unwrap();
    staff
        .client
        .add_member(&space_id, &account.user_id)
        .await
        .unwrap();
    a.client.sync().await.unwrap();

    // Device B: asks to join Cara's account; A approves it after comparing the key.
    let key = SigningKey::generate(&mut OsRng);
    let public = hex::encode(key.verifying_key().to_bytes());
    let r = relay.anon().post_json(
        "/v1/device-requests",
        &json!({"user_id": account.user_id, "device_name": "phone", "public_key": public}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let request = r.json();
    a.client
        .approve_device(request["request_id"].as_str().unwrap(), &public)
        .await
        .unwrap();
    let device = Device {
        org_id: account.org_id.clone(),
        user_id: account.user_id.clone(),
        device_id: request["device_id"].as_str().unwrap().to_owned(),
        key,
        last_ts: Arc::new(AtomicI64::new(0)),
    };
    assert_eq!(relay.client(&device).get("/v1/me").status, 200);
    let mls = MlsDevice::new(&device);
    upload_key_packages(&relay, &mls);
    // Staff add Cara's new device to the space's room.
    staff
        .client
        .add_member(&space_id, &account.user_id)
        .await
        .unwrap();
    let r = relay.client(&device).get("/v1/welcomes");
    assert_eq!(r.status, 200, "{}", r.text());
    let entries = r.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 1, "one welcome for B: {entries:?}");
    let relay_room = entries[0]["room_id"].as_str().unwrap().to_owned();
    let group = mls.join(entries[0]["welcome"].as_str().unwrap());
    let mut b = Lost {
        mls,
        group,
        relay_room,
        known: Vec::new(),
    };
    let own = b.exporter_key();
    b.known.push(own);
    b.catch_up(&relay, u64::MAX - 1, 0);
    a.client.sync().await.unwrap();
    staff.client.sync().await.unwrap();
    Scene {
        relay,
        proxy,
        sink,
        admin,
        staff,
        a,
        b,
        space_id,
        cara_user: account.user_id,
    }
}

impl Scene {
    /// Positive control while B is a member: it opens a message and a file key of now.
    async fn control(&mut self) {
        let marker = "before revocation, B may read this";
        post(&self.staff, &self.space_id, marker).await;
        let file = upload(&self.staff, &self.space_id, "before.pdf", "before").await;
        let opened = self.b.catch_up(&self.relay, u64::MAX - 1, 0);
        assert!(
            opened
                .iter()
                .any(|p| String::from_utf8_lossy(p).contains(marker)),
            "control: B's state opens a message posted while it is a member"
        );
        let (wrapped, _) = stored_manifest(&self.relay, &file.file_id);
        assert!(
            self.b.try_unwrap(&file.file_id, &wrapped).is_some(),
            "control: B unwraps a file key of its own epochs"
        );
    }

    /// B's next requests are refused on every kind of route.
    fn assert_refused(&self) {
        let client = self.relay.client(&self.b.mls.device);
        let room = &self.b.relay_room;
        for (method, path) in [
            ("GET", "/v1/me".to_owned()),
            ("GET", "/v1/welcomes".to_owned()),
            ("GET", format!("/v1/rooms/{room}")),
            ("GET", format!("/v1/rooms/{room}/handshakes?after=0")),
            ("GET", format!("/v1/rooms/{room}/messages?after=0")),
            ("GET", format!("/v1/spaces/{}", self.space_id)),
            ("POST", "/v1/keypackages".to_owned()),
        ] {
            let r = if method == "GET" {
                client.get(&path)
            } else {
                client.post_json(&path, &json!({ "key_packages": [] }))
            };
            assert_eq!(r.status, 401, "{method} {path}: {}", r.text());
        }
    }

    /// Everything SDK clients posted to B's room after exchange number `from` of the proxy
    /// log, in order: what a colluding relay could hand the lost device.
    fn posted_since(&self, from: usize) -> (Vec<String>, Vec<String>) {
        let log = self.proxy.exchanges();
        let mut handshakes = Vec::new();
        let mut messages = Vec::new();
        for e in &log[from..] {
            let accepted = e.delivered.as_ref().is_some_and(|r| r.status < 300);
            if e.request.method != "POST" || !accepted {
                continue;
            }
            let room = format!("/v1/rooms/{}/", self.b.relay_room);
            if e.request.path == format!("{room}handshakes") {
                handshakes.push(e.request.json()["message"].as_str().unwrap().to_owned());
            } else if e.request.path == format!("{room}messages") {
                messages.push(e.request.json()["message"].as_str().unwrap().to_owned());
            }
        }
        (handshakes, messages)
    }

    /// After B's removal: staff post a message and a file; B's saved state opens neither,
    /// with or without the removal commit, given every byte posted since `from`.
    async fn assert_lost_device_opens_nothing(&mut self, from: usize) {
        let marker = "after revocation: the lost device must not read this";
        post(&self.staff, &self.space_id, marker).await;
        let file = upload(&self.staff, &self.space_id, "after.pdf", "after").await;
        self.a.client.sync().await.unwrap();
        let (handshakes, messages) = self.posted_since(from);
        assert!(!handshakes.is_empty(), "the removal commit was posted");
        assert!(messages.len() >= 2, "the message and the file reference");

        // The relay withholds the commit from B: B's epoch state opens nothing newer.
        for m in &messages {
            assert!(
                self.b.process(m).is_none(),
                "ATTACK SUCCEEDED: B's old epoch opens a message posted after its removal"
            );
        }
        // The relay hands B the commits too: B processes its own removal and is out.
        assert!(self.b.group.is_active());
        for h in &handshakes {
            self.b.process(h);
        }
        assert!(
            !self.b.group.is_active(),
            "B's state saw the commit that removes it"
        );
        for m in &messages {
            let opened = self.b.process(m);
            assert!(
                opened.is_none(),
                "ATTACK SUCCEEDED: B opened {:?}",
                opened.map(|p| String::from_utf8_lossy(&p).into_owned())
            );
        }

        // The file: the wrapped key and the sealed manifest, fetched directly.
        let (wrapped, sealed) = stored_manifest(&self.relay, &file.file_id);
        let epoch = u64::from_be_bytes(wrapped[5..13].try_into().unwrap());
        assert!(
            self.b.try_unwrap(&file.file_id, &wrapped).is_none(),
            "ATTACK SUCCEEDED: the file key is wrapped under a key B holds (epoch {epoch})"
        );
        for (_, key) in &self.b.known {
            let k = format::FileKey::from_bytes(*key);
            assert!(format::open(&k, &sealed).is_err());
        }
        // Members still read it all.
        self.a.client.sync().await.unwrap();
        let texts: Vec<String> = self
            .a
            .client
            .messages(&self.space_id, None)
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert!(texts.iter().any(|t| t == marker), "{texts:?}");
    }

    /// The one revocation mail to Cara: says a device was removed, and nothing else.
    fn assert_revocation_mail(&self) {
        let revoked = |mails: &[Mail]| -> Vec<Mail> {
            mails
                .iter()
                .filter(|m| m.to.contains(CARA_MAIL) && m.subject == REVOKED_SUBJECT)
                .cloned()
                .collect()
        };
        let mails = self
            .sink
            .wait_until(Duration::from_secs(60), |m| !revoked(m).is_empty());
        let got = revoked(&mails);
        assert_eq!(got.len(), 1, "one revocation mail: {mails:?}");
        let mail = &got[0];
        assert!(mail
            .body
            .contains("A device was removed from your Sealroom account"));
        assert!(mail.body.contains("https://portal.example/"));
        for id in [
            self.b.device_id().as_str(),
            self.cara_user.as_str(),
            self.space_id.as_str(),
            self.b.relay_room.as_str(),
        ] {
            assert!(
                !mail.body.contains(id),
                "the mail carries {id:?}: {}",
                mail.raw
            );
        }
        for content in [
            "phone",
            "Kestrel",
            "before.pdf",
            "after.pdf",
            "B may read",
            "must not read",
        ] {
            assert!(
                !mail.raw.contains(content),
                "the mail carries {content:?}: {}",
                mail.raw
            );
        }
    }

    /// Cara's devices see the revocation among the account's security events.
    async fn assert_security_event(&self) {
        let events = self.a.client.security_events(0).await.unwrap().events;
        let revoked: Vec<_> = events
            .iter()
            .filter(|e| e.kind == SecurityEventKind::DeviceRevoked)
            .collect();
        assert_eq!(revoked.len(), 1, "{events:?}");
        assert_eq!(
            revoked[0].device_id.as_deref(),
            Some(self.b.device_id().as_str())
        );
    }
}

fn removed_b(events: &[ClientEvent], b: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ClientEvent::MemberRemoved { device_id, .. } if device_id == b))
}

/// Cara revokes her lost phone from her laptop: refused at once, removed by the laptop's own
/// commit, opens nothing posted afterwards, and Cara is told by a content-free mail.
#[test]
fn the_owner_revokes_a_lost_device_from_another_device() {
    runtime().block_on(async {
        let mut s = scene().await;
        s.control().await;
        let from = s.proxy.exchanges().len();
        let b = s.b.device_id();

        let rooms = s.a.client.revoke_device(&b).await.unwrap();
        assert_eq!(
            rooms, 1,
            "A removed B from the space's room by its own commit"
        );
        s.assert_refused();
        // Revoking again changes nothing (and mails nothing).
        assert_eq!(s.a.client.revoke_device(&b).await.unwrap(), 0);

        let events = s.staff.client.sync().await.unwrap();
        assert!(removed_b(&events, &b), "staff see B removed: {events:?}");
        s.assert_lost_device_opens_nothing(from).await;
        s.assert_revocation_mail();
        s.assert_security_event().await;
    });
}

/// An administrator revokes the device; the next members online (Cara's laptop and staff at
/// the same time) race to remove it: the relay takes one commit, the other finds it done.
#[test]
fn an_admin_revokes_and_the_next_member_online_removes_the_device() {
    runtime().block_on(async {
        let mut s = scene().await;
        s.control().await;
        let from = s.proxy.exchanges().len();
        let b = s.b.device_id();

        let rooms = s.admin.client.revoke_device(&b).await.unwrap();
        assert_eq!(rooms, 0, "the admin is in no room of the space");
        s.assert_refused();

        let (a_events, staff_events) = tokio::join!(s.a.client.sync(), s.staff.client.sync());
        let (mut a_events, mut staff_events) = (a_events.unwrap(), staff_events.unwrap());
        let raced = s.proxy.exchanges().len();
        // The loser's catch-up may report the winner's commit with its next sync; that sync
        // has nothing left to commit.
        a_events.extend(s.a.client.sync().await.unwrap());
        staff_events.extend(s.staff.client.sync().await.unwrap());
        assert!(
            removed_b(&a_events, &b) && removed_b(&staff_events, &b),
            "both see B removed: {a_events:?} / {staff_events:?}"
        );
        assert!(s.proxy.exchanges()[raced..]
            .iter()
            .all(|e| !(e.request.method == "POST" && e.request.path.ends_with("/handshakes"))));
        let accepted: Vec<_> = s.proxy.exchanges()[from..]
            .iter()
            .filter(|e| {
                e.request.method == "POST"
                    && e.request.path.ends_with("/handshakes")
                    && e.delivered.as_ref().is_some_and(|r| r.status < 300)
            })
            .cloned()
            .collect();
        assert_eq!(accepted.len(), 1, "exactly one removal commit was taken");

        s.assert_lost_device_opens_nothing(from).await;
        s.assert_revocation_mail();
        s.assert_security_event().await;
    });
}

/// A customer device claims that another user's device (staff) is revoked: the relay refuses
/// its removal commit, and when a lying relay both claims the revocation and delivers the
/// refused commit to Cara's laptop, the laptop neither commits a removal nor accepts it.
#[test]
fn a_customer_cannot_remove_another_users_device_by_claiming_revocation() {
    runtime().block_on(async {
        let mut s = scene().await;
        let staff_device = s.staff.device_id();
        let staff_leaf =
            s.b.group
                .members()
                .find(|m| {
                    sealroom_wire::CredentialIdentity::from_bytes(
                        BasicCredential::try_from(m.credential.clone())
                            .unwrap()
                            .identity(),
                    )
                    .unwrap()
                    .device_id
                        == staff_device
                })
                .unwrap()
                .index;

        // B (still an active customer device) commits the removal of staff: the relay says no.
        let epoch = s.b.group.epoch().as_u64();
        let (commit, _, _) =
            s.b.group
                .remove_members(&s.b.mls.provider, &s.b.mls.signer, &[staff_leaf])
                .unwrap();
        let commit = b64(&bytes(&commit));
        let r = s.relay.client(&s.b.mls.device).post_json(
            &format!("/v1/rooms/{}/handshakes", s.b.relay_room),
            &json!({ "message": commit }),
        );
        assert_eq!(r.status, 403, "ATTACK SUCCEEDED at the relay: {}", r.text());

        // A lying relay tells Cara's laptop that staff's device is revoked and hands it B's
        // commit as the next handshake.
        let a_device = s.a.device_id();
        let injected = Arc::new(AtomicBool::new(false));
        let (flag, forged, b_device) = (injected.clone(), commit.clone(), s.b.device_id());
        s.proxy
            .rewrite("GET", "/v1/rooms/*/handshakes", move |seen, reply| {
                if seen.header("x-sealroom-device") != Some(a_device.as_str()) {
                    return;
                }
                reply.edit_json(|page| {
                    page["revoked_devices"] = json!([staff_device.clone()]);
                    let next = page["next_after"].as_u64().unwrap();
                    if page["entries"].as_array().unwrap().is_empty()
                        && !flag.swap(true, Ordering::SeqCst)
                    {
                        page["entries"] = json!([{
                            "seq": next + 1, "epoch": epoch, "kind": "commit",
                            "sender_device": b_device.clone(), "message": forged.clone(),
                            "received_at": 0,
                        }]);
                        page["next_after"] = json!(next + 1);
                    }
                });
            });
        let from = s.proxy.exchanges().len();
        let events = s.a.client.sync().await.unwrap();
        assert!(
            injected.load(Ordering::SeqCst),
            "the forged commit was served"
        );
        assert!(
            events.iter().any(|e| matches!(
                e,
                ClientEvent::Refused { reason, .. } if reason == "membership_policy"
            )),
            "the laptop refuses the forged removal: {events:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ClientEvent::MemberRemoved { .. })),
            "ATTACK SUCCEEDED: {events:?}"
        );
        assert!(
            s.proxy.exchanges()[from..]
                .iter()
                .all(|e| !(e.request.method == "POST" && e.request.path.ends_with("/handshakes"))),
            "ATTACK SUCCEEDED: the laptop committed a removal on the relay's word"
        );
        s.proxy.clear_rules();

        // Staff are still in the room: their next message reaches the laptop.
        post(&s.staff, &s.space_id, "still here").await;
        let events = s.a.client.sync().await.unwrap();
        assert!(
            events.iter().any(
                |e| matches!(e, ClientEvent::NewMessage { message: m } if m.body == "still here")
            ),
            "{events:?}"
        );
    });
}
