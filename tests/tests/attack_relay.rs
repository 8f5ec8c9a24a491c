//! A hostile relay and a malicious customer against the SDK (issue 25, attacks a, b, e, f),
//! through the real relay binary with real SDK clients. The SDK clients talk to the relay
//! through [`HostileRelay`], a proxy that forwards every request unchanged and lets the test
//! rewrite the answers: that is exactly the power of whoever runs or breaks into the relay.
//! Raw-openmls devices (the attacker's) talk to the relay directly.
//!
//! * a: the relay injects into a room's handshake log an external join proposal for a device
//!   it controls, and an external commit built from the GroupInfo the room was registered
//!   with. Every client refuses it, no Welcome for the attacker's device is produced, the
//!   room stays usable, and the app gets a `ClientEvent::Refused`.
//! * b: the relay answers a key-package claim with a package of another user, of another
//!   organisation, of a device it made up, or with another key: `add_member` fails with
//!   `ClientError::KeyPackageMismatch` and nothing is committed.
//! * e: a customer device commits the removal of staff or the addition of a device, and a
//!   staff device commits a customer device into the internal room: the relay refuses each
//!   (403), and every client refuses it when the relay hands it out anyway.
//! * f: the relay hides a member from the space's member list and device list: the client
//!   still shows every user in the MLS tree with a safety number, flagged as not listed by
//!   the relay, and sync reports every membership change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use serde_json::{json, Value};

use sealroom_core::client::{
    ClientError, ClientEvent, HttpTransport, NewMessage, Role, SealroomClient, Transport,
};
use sealroom_core::state::{FileKv, StorageKey};
use sealroom_wire::CredentialIdentity;

use sealroom_tests::hostile::{HostileRelay, Reply};
use sealroom_tests::relay::Relay;
use sealroom_tests::rooms::{
    b64, bytes, group_config, post_handshake, suite, unb64, validated_key_package, MlsDevice,
};

struct Sdk {
    client: SealroomClient,
    _dir: tempfile::TempDir,
}

impl Sdk {
    fn user(&self) -> String {
        self.client.account().unwrap().user_id
    }

    fn device(&self) -> String {
        self.client.account().unwrap().device_id
    }
}

struct World {
    relay: Relay,
    proxy: HostileRelay,
    admin: Sdk,
    org_id: String,
    staff: Sdk,
    space_id: String,
    cara: Option<Sdk>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `test` on a fresh relay with a hostile proxy in front of it.
fn run<F, Fut>(with_cara: bool, internal_room: bool, test: F)
where
    F: FnOnce(World) -> Fut,
    Fut: Future<Output = ()>,
{
    let relay = Relay::start();
    let proxy = HostileRelay::start(relay.addr());
    let rt = runtime();
    rt.block_on(async move {
        let world = World::new(relay, proxy, with_cara, internal_room).await;
        test(world).await;
    });
}

impl World {
    async fn new(relay: Relay, proxy: HostileRelay, with_cara: bool, internal: bool) -> Self {
        let admin = sdk(&proxy);
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
        let org_id = admin
            .client
            .create_customer_org("Kestrel Ltd")
            .await
            .unwrap()
            .org_id;
        let staff = sdk(&proxy);
        let invite = admin.client.invite(Role::Staff, None).await.unwrap();
        staff
            .client
            .register(&invite.token, "Sam Staff", None, "laptop")
            .await
            .unwrap();
        let space_id = staff
            .client
            .create_space(&org_id, internal)
            .await
            .unwrap()
            .space_id;
        let mut world = Self {
            relay,
            proxy,
            admin,
            org_id,
            staff,
            space_id,
            cara: None,
        };
        if with_cara {
            let cara = world.sdk_customer("Cara Customer").await;
            world.add(&cara.user()).await;
            let events = cara.client.sync().await.unwrap();
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e, ClientEvent::JoinedSpace { .. })),
                "{events:?}"
            );
            world.cara = Some(cara);
        }
        world
    }

    fn cara(&self) -> &Sdk {
        self.cara.as_ref().unwrap()
    }

    async fn add(&self, user: &str) {
        self.staff
            .client
            .add_member(&self.space_id, user)
            .await
            .unwrap();
    }

    /// A customer of the space on the SDK (registered, not yet in the rooms).
    async fn sdk_customer(&self, name: &str) -> Sdk {
        let device = sdk(&self.proxy);
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
        device
    }

    /// A customer of the space with raw openmls and three key packages on the relay.
    async fn raw_customer(&self, name: &str) -> MlsDevice {
        let invite = self
            .staff
            .client
            .invite(Role::Customer, Some(&self.space_id))
            .await
            .unwrap();
        let device = self.relay.register(&invite.token, name);
        let mls = MlsDevice::new(&device);
        upload_sealroom_key_packages(&self.relay, &mls, 3);
        mls
    }

    /// A provider staff member with raw openmls and three key packages on the relay.
    async fn raw_staff(&self, name: &str) -> MlsDevice {
        let invite = self.admin.client.invite(Role::Staff, None).await.unwrap();
        let device = self.relay.register(&invite.token, name);
        let mls = MlsDevice::new(&device);
        upload_sealroom_key_packages(&self.relay, &mls, 3);
        mls
    }

    /// The relay ids of the space's customer room and internal room (from the registrations
    /// that passed through the proxy).
    fn rooms(&self) -> (String, Option<String>) {
        let mut customer = None;
        let mut internal = None;
        for e in self.proxy.exchanges_for("POST", "/v1/rooms") {
            if e.request.json()["space_id"] != json!(self.space_id) {
                continue;
            }
            let Some(reply) = e.delivered.filter(|r| r.status == 201) else {
                continue;
            };
            let id = reply.body_json()["room_id"].as_str().unwrap().to_owned();
            let name = String::from_utf8(hex::decode(&id).unwrap()).unwrap();
            if name.contains(".internal.") {
                internal = Some(id);
            } else {
                customer = Some(id);
            }
        }
        (customer.unwrap(), internal)
    }

    /// The `POST /v1/rooms` body the room `room` was registered with.
    fn registration(&self, room: &str) -> Value {
        self.proxy
            .exchanges_for("POST", "/v1/rooms")
            .into_iter()
            .find(|e| {
                e.delivered
                    .as_ref()
                    .is_some_and(|r| r.status == 201 && r.body_json()["room_id"] == json!(room))
            })
            .unwrap()
            .request
            .json()
    }

    /// The room's epoch after the last commit that the relay accepted through the proxy.
    fn epoch(&self, room: &str) -> u64 {
        self.proxy
            .exchanges_for("POST", &format!("/v1/rooms/{room}/handshakes"))
            .iter()
            .filter_map(|e| e.upstream.as_ref().filter(|r| r.status == 201))
            .filter_map(|r| r.body_json()["epoch"].as_u64())
            .max()
            .unwrap_or(0)
    }

    /// Handshakes the SDK clients posted to `room` (through the proxy).
    fn posted_handshakes(&self) -> usize {
        self.proxy
            .exchanges_for("POST", "/v1/rooms/*/handshakes")
            .len()
    }

    /// The welcome mailbox of a raw device on the real relay.
    fn welcomes(&self, device: &MlsDevice) -> Vec<Value> {
        let r = self.relay.client(&device.device).get("/v1/welcomes");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["entries"].as_array().unwrap().clone()
    }

    /// Joins `room` with a raw device from its mailbox.
    fn raw_join(&self, device: &MlsDevice, room: &str) -> MlsGroup {
        let welcome = self
            .welcomes(device)
            .into_iter()
            .find(|w| w["room_id"] == json!(room))
            .expect("a welcome for the room");
        device.join(welcome["welcome"].as_str().unwrap())
    }

    /// The hostile relay hands `message` to every device that reads `room`'s handshake log,
    /// once per device, at the end of the log (when it has nothing newer), as if `sender`
    /// had posted it.
    fn inject(&self, room: &str, kind: &'static str, sender: &str, message: &[u8]) {
        let served: Arc<Mutex<HashSet<String>>> = Arc::default();
        let sender = sender.to_owned();
        let message = b64(message);
        self.proxy.rewrite(
            "GET",
            &format!("/v1/rooms/{room}/handshakes"),
            move |seen, reply| {
                if reply.status != 200 {
                    return;
                }
                let mut body = reply.body_json();
                if !body["entries"].as_array().is_some_and(|e| e.is_empty()) {
                    return;
                }
                let device = seen.header("x-sealroom-device").unwrap_or("").to_owned();
                if !served.lock().unwrap().insert(device) {
                    return;
                }
                let after: u64 = seen
                    .query
                    .as_deref()
                    .unwrap_or("")
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("after="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                body["entries"] = json!([{
                    "seq": after,
                    "epoch": 0,
                    "kind": kind,
                    "sender_device": sender,
                    "message": message,
                    "received_at": 0,
                }]);
                reply.set_json(&body);
            },
        );
    }

    /// Staff posts, every other SDK device reads it; then each of them posts and staff reads.
    async fn room_still_usable(&self, others: &[&Sdk], marker: &str) {
        let body = format!("staff after the attack {marker}");
        self.staff
            .client
            .post_message(&self.space_id, text(&body))
            .await
            .unwrap();
        for (i, other) in others.iter().enumerate() {
            other.client.sync().await.unwrap();
            let seen = other.client.messages(&self.space_id, None).unwrap();
            assert!(
                seen.iter().any(|m| m.body == body),
                "member {i} does not read the staff post after the attack"
            );
            let reply = format!("member {i} after the attack {marker}");
            other
                .client
                .post_message(&self.space_id, text(&reply))
                .await
                .unwrap();
            self.staff.client.sync().await.unwrap();
            let seen = self.staff.client.messages(&self.space_id, None).unwrap();
            assert!(
                seen.iter().any(|m| m.body == reply),
                "staff does not read member {i}'s post after the attack"
            );
        }
    }
}

fn sdk(proxy: &HostileRelay) -> Sdk {
    let dir = tempfile::tempdir().unwrap();
    let key = StorageKey::generate().expose_bytes();
    let kv = FileKv::open(dir.path()).unwrap();
    let transport: Arc<dyn Transport> = Arc::new(HttpTransport::new().unwrap());
    let client = SealroomClient::open(
        &proxy.base_url(),
        transport,
        Box::new(kv),
        StorageKey::from_bytes(key),
    )
    .unwrap();
    Sdk { client, _dir: dir }
}

fn text(body: &str) -> NewMessage {
    NewMessage {
        body: body.to_owned(),
        ..NewMessage::default()
    }
}

fn refused_in(events: &[ClientEvent], room: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ClientEvent::Refused { room: r, .. } if r == room))
}

/// Recipients of every Welcome the SDK clients posted.
fn welcome_recipients(proxy: &HostileRelay) -> Vec<usize> {
    proxy
        .exchanges_for("POST", "/v1/rooms/*/handshakes")
        .iter()
        .filter_map(|e| e.request.json()["welcome"].as_str().map(str::to_owned))
        .map(|w| {
            match MlsMessageIn::tls_deserialize_exact(unb64(&w))
                .unwrap()
                .extract()
            {
                MlsMessageBodyIn::Welcome(w) => w.secrets().len(),
                _ => panic!("not a welcome"),
            }
        })
        .collect()
}

/// The custom GroupContext extension of Sealroom rooms (the provider org) that every leaf
/// must support (`core/src/room/policy.rs`).
const PROVIDER_EXTENSION: u16 = 0xF5A1;

/// Leaf capabilities of a Sealroom leaf: the one ciphersuite and the provider extension.
fn sealroom_capabilities() -> Capabilities {
    Capabilities::builder()
        .ciphersuites(vec![suite()])
        .extensions(vec![ExtensionType::Unknown(PROVIDER_EXTENSION)])
        .build()
}

/// A fresh key package of a raw device that an SDK room accepts.
fn sealroom_key_package(device: &MlsDevice) -> Vec<u8> {
    let bundle = KeyPackage::builder()
        .leaf_node_capabilities(sealroom_capabilities())
        .build(
            suite(),
            &device.provider,
            &device.signer,
            device.credential.clone(),
        )
        .unwrap();
    bytes(&MlsMessageOut::from(bundle.key_package().clone()))
}

/// Uploads `count` key packages of a raw device.
fn upload_sealroom_key_packages(relay: &Relay, device: &MlsDevice, count: usize) {
    let packages: Vec<String> = (0..count)
        .map(|_| b64(&sealroom_key_package(device)))
        .collect();
    let r = relay
        .client(&device.device)
        .post_json("/v1/keypackages", &json!({ "key_packages": packages }));
    assert_eq!(r.status, 200, "upload key packages: {}", r.text());
}

/// A key package whose credential says `(org, user, device)`, signed by a fresh key the
/// relay holds.
fn forged_key_package(org: &str, user: &str, device: &str) -> Vec<u8> {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
    signer.store(provider.storage()).unwrap();
    let id = CredentialIdentity::new(org, user, device).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(id.to_bytes()).into(),
        signature_key: signer.public().to_vec().into(),
    };
    let bundle = KeyPackage::builder()
        .leaf_node_capabilities(sealroom_capabilities())
        .build(suite(), &provider, &signer, credential)
        .unwrap();
    bytes(&MlsMessageOut::from(bundle.key_package().clone()))
}

fn leaf_of(group: &MlsGroup, user: &str) -> LeafNodeIndex {
    group
        .members()
        .find(|m| {
            let basic = BasicCredential::try_from(m.credential.clone()).unwrap();
            CredentialIdentity::from_bytes(basic.identity())
                .unwrap()
                .user_id
                == user
        })
        .unwrap()
        .index
}

type Storage = <OpenMlsRustCrypto as OpenMlsProvider>::StorageProvider;

/// Attack a (i): an external join proposal for the relay's device rides into the next honest
/// commit unless every client refuses it.
#[test]
fn injected_external_join_proposal_is_refused() {
    run(true, false, |w| async move {
        let (room, _) = w.rooms();
        let mallory = w.raw_customer("Mallory").await;
        let kp = validated_key_package(&mallory.provider, &sealroom_key_package(&mallory));
        let proposal = JoinProposal::new::<Storage>(
            kp,
            GroupId::from_slice(&hex::decode(&room).unwrap()),
            GroupEpoch::from(w.epoch(&room)),
            &mallory.signer,
        )
        .unwrap();
        w.inject(
            &room,
            "proposal",
            &mallory.device.device_id,
            &bytes(&proposal),
        );

        let cara_events = w.cara().client.sync().await.unwrap();
        let dan = w.sdk_customer("Dan Customer").await;
        let added = w.staff.client.add_member(&w.space_id, &dan.user()).await;
        assert!(
            added.is_ok(),
            "the honest add failed after the injection: {added:?}"
        );
        assert!(
            w.welcomes(&mallory).is_empty(),
            "the relay's device got a Welcome"
        );
        assert!(
            welcome_recipients(&w.proxy).iter().all(|&n| n == 1),
            "a commit welcomed more devices than the one added: {:?}",
            welcome_recipients(&w.proxy)
        );
        let staff_events = w.staff.client.sync().await.unwrap();
        assert!(
            refused_in(&cara_events, &room),
            "cara: no Refused event: {cara_events:?}"
        );
        assert!(
            refused_in(&staff_events, &room),
            "staff: no Refused event: {staff_events:?}"
        );
        let joined = dan.client.sync().await.unwrap();
        assert!(
            joined
                .iter()
                .any(|e| matches!(e, ClientEvent::JoinedSpace { .. })),
            "{joined:?}"
        );
        w.proxy.clear_rules();
        w.room_still_usable(&[w.cara(), &dan], "a1").await;
        let space = w.staff.client.space(&w.space_id).await.unwrap();
        assert!(
            space
                .members
                .iter()
                .all(|m| m.user_id != mallory.device.user_id || m.devices.is_empty()),
            "the relay's device is in the tree: {:?}",
            space.members
        );
    });
}

/// Attack a (ii): an external commit built from the GroupInfo the room was registered with.
#[test]
fn injected_external_commit_is_refused() {
    run(false, false, |w| async move {
        let (room, _) = w.rooms();
        let mallory = w.raw_customer("Mallory").await;
        let registration = w.registration(&room);
        let info = match MlsMessageIn::tls_deserialize_exact(unb64(
            registration["group_info"].as_str().unwrap(),
        ))
        .unwrap()
        .extract()
        {
            MlsMessageBodyIn::GroupInfo(info) => info,
            _ => panic!("not a group info"),
        };
        let tree = RatchetTreeIn::tls_deserialize_exact(unb64(
            registration["ratchet_tree"].as_str().unwrap(),
        ))
        .unwrap();
        #[allow(deprecated)]
        let built = MlsGroup::join_by_external_commit(
            &mallory.provider,
            &mallory.signer,
            Some(tree),
            info,
            group_config().join_config(),
            None,
            None,
            &[],
            mallory.credential.clone(),
        );
        let injected = match built {
            Ok((_group, commit, _)) => {
                w.inject(&room, "commit", &mallory.device.device_id, &bytes(&commit));
                true
            }
            // No `external_pub` in what the client uploads: the attack cannot even be built.
            Err(ExternalCommitError::MissingExternalPub) => false,
            Err(e) => panic!("building the external commit failed otherwise: {e:?}"),
        };
        // An honest member adds someone: the commit must not build on the injected one.
        let cara = w.sdk_customer("Cara Customer").await;
        let added = w.staff.client.add_member(&w.space_id, &cara.user()).await;
        assert!(
            added.is_ok(),
            "the honest add failed after the injection: {added:?}"
        );
        let staff_events = w.staff.client.sync().await.unwrap();
        if injected {
            assert!(
                refused_in(&staff_events, &room),
                "staff: no Refused event: {staff_events:?}"
            );
        }
        let joined = cara.client.sync().await.unwrap();
        assert!(
            joined
                .iter()
                .any(|e| matches!(e, ClientEvent::JoinedSpace { .. })),
            "{joined:?}"
        );
        w.proxy.clear_rules();
        w.room_still_usable(&[&cara], "a2").await;
        let space = w.staff.client.space(&w.space_id).await.unwrap();
        assert!(
            space
                .members
                .iter()
                .all(|m| m.user_id != mallory.device.user_id || m.devices.is_empty()),
            "the relay's device is in the tree: {:?}",
            space.members
        );
    });
}

/// Attack b: the relay answers a key-package claim with packages that are not the user's.
#[test]
fn substituted_key_packages_are_refused() {
    run(true, false, |w| async move {
        let (room, _) = w.rooms();
        let mallory = w.raw_customer("Mallory").await;
        let other_org = w
            .admin
            .client
            .create_customer_org("Other Ltd")
            .await
            .unwrap()
            .org_id;
        let dan = w.sdk_customer("Dan Customer").await;
        let (dan_user, dan_device) = (dan.user(), dan.device());
        let made_up = format!(
            "{}{}",
            &dan_device[..dan_device.len() - 1],
            if dan_device.ends_with('0') { '1' } else { '0' }
        );
        let cases: Vec<(&str, String, Vec<u8>)> = vec![
            (
                "another user's package",
                dan_device.clone(),
                sealroom_key_package(&mallory),
            ),
            (
                "another organisation",
                dan_device.clone(),
                forged_key_package(&other_org, &dan_user, &dan_device),
            ),
            (
                "a device the relay made up",
                made_up.clone(),
                forged_key_package(&w.org_id, &dan_user, &made_up),
            ),
            (
                "the user's device with the relay's key",
                dan_device.clone(),
                forged_key_package(&w.org_id, &dan_user, &dan_device),
            ),
        ];
        for (case, device_id, package) in cases {
            w.proxy.clear_rules();
            let answer = json!({
                "user_id": dan_user,
                "key_packages": [{ "device_id": device_id, "key_package": b64(&package) }],
                "missing": [],
            });
            w.proxy.respond(
                "POST",
                &format!("/v1/users/{dan_user}/keypackages/claim"),
                move |_| Reply::json(200, &answer),
            );
            let posted = w.posted_handshakes();
            let epoch = w.epoch(&room);
            let result = w.staff.client.add_member(&w.space_id, &dan_user).await;
            assert!(
                matches!(result, Err(ClientError::KeyPackageMismatch { .. })),
                "{case}: add_member gave {result:?}"
            );
            assert_eq!(w.posted_handshakes(), posted, "{case}: a commit was sent");
            assert_eq!(w.epoch(&room), epoch, "{case}: the room moved on");
        }
        assert!(w.welcomes(&mallory).is_empty(), "Mallory got a Welcome");
        // The honest relay again: the add goes through.
        w.proxy.clear_rules();
        w.add(&dan_user).await;
        let joined = dan.client.sync().await.unwrap();
        assert!(
            joined
                .iter()
                .any(|e| matches!(e, ClientEvent::JoinedSpace { .. })),
            "{joined:?}"
        );
        w.room_still_usable(&[w.cara(), &dan], "b").await;
    });
}

/// The forbidden-commit scene of attack e: a raw customer (Mallory) in the customer room and
/// a raw staff member (Steve) in both rooms.
async fn e_scene(w: &World) -> (String, String, MlsDevice, MlsGroup, MlsDevice, MlsGroup) {
    let (room, internal) = w.rooms();
    let internal = internal.unwrap();
    let steve = w.raw_staff("Steve").await;
    w.add(&steve.device.user_id).await;
    let steve_internal = w.raw_join(&steve, &internal);
    let mallory = w.raw_customer("Mallory").await;
    w.add(&mallory.device.user_id).await;
    let mallory_group = w.raw_join(&mallory, &room);
    w.cara().client.sync().await.unwrap();
    w.staff.client.sync().await.unwrap();
    (
        room,
        internal,
        mallory,
        mallory_group,
        steve,
        steve_internal,
    )
}

/// Posts `commit` as `device` to the real relay: it must refuse with 403 and keep nothing.
fn relay_refuses(
    w: &World,
    device: &MlsDevice,
    room: &str,
    commit: &MlsMessageOut,
    welcome: Option<&MlsMessageOut>,
    case: &str,
) {
    let before = w
        .relay
        .client(&device.device)
        .get(&format!("/v1/rooms/{room}"));
    let r = post_handshake(&w.relay.client(&device.device), room, commit, welcome);
    assert_eq!(r.status, 403, "{case}: the relay accepted it: {}", r.text());
    assert!(!r.code().is_empty(), "{case}: no JSON error code");
    let after = w
        .relay
        .client(&device.device)
        .get(&format!("/v1/rooms/{room}"));
    assert_eq!(
        before.json()["epoch"],
        after.json()["epoch"],
        "{case}: the room moved on"
    );
}

/// Attack e (1): a customer commits the removal of staff.
#[test]
fn customer_commit_removing_staff_is_refused() {
    run(true, true, |w| async move {
        let (room, _internal, mallory, mut group, _steve, _) = e_scene(&w).await;
        let staff_leaf = leaf_of(&group, &w.staff.user());
        let (commit, _, _) = group
            .remove_members(&mallory.provider, &mallory.signer, &[staff_leaf])
            .unwrap();
        relay_refuses(&w, &mallory, &room, &commit, None, "customer removes staff");
        w.inject(&room, "commit", &mallory.device.device_id, &bytes(&commit));
        let staff_events = w.staff.client.sync().await.unwrap();
        let cara_events = w.cara().client.sync().await.unwrap();
        assert!(refused_in(&staff_events, &room), "staff: {staff_events:?}");
        assert!(refused_in(&cara_events, &room), "cara: {cara_events:?}");
        w.proxy.clear_rules();
        w.room_still_usable(&[w.cara()], "e1").await;
    });
}

/// Attack e (2): a customer commits the addition of a device.
#[test]
fn customer_commit_adding_a_device_is_refused() {
    run(true, true, |w| async move {
        let (room, _internal, mallory, mut group, _steve, _) = e_scene(&w).await;
        let nina = w.raw_customer("Nina").await;
        let kp = validated_key_package(&nina.provider, &sealroom_key_package(&nina));
        let (commit, welcome, _) = group
            .add_members(&mallory.provider, &mallory.signer, &[kp])
            .unwrap();
        relay_refuses(
            &w,
            &mallory,
            &room,
            &commit,
            Some(&welcome),
            "customer adds a device",
        );
        assert!(w.welcomes(&nina).is_empty(), "Nina got a Welcome");
        w.inject(&room, "commit", &mallory.device.device_id, &bytes(&commit));
        let staff_events = w.staff.client.sync().await.unwrap();
        let cara_events = w.cara().client.sync().await.unwrap();
        assert!(refused_in(&staff_events, &room), "staff: {staff_events:?}");
        assert!(refused_in(&cara_events, &room), "cara: {cara_events:?}");
        w.proxy.clear_rules();
        w.room_still_usable(&[w.cara()], "e2").await;
    });
}

/// Attack e (3): a staff device commits a customer device into the internal room.
#[test]
fn customer_device_in_the_internal_room_is_refused() {
    run(true, true, |w| async move {
        let (_room, internal, _mallory, _group, steve, mut steve_internal) = e_scene(&w).await;
        let nina = w.raw_customer("Nina").await;
        let kp = validated_key_package(&nina.provider, &sealroom_key_package(&nina));
        let (commit, welcome, _) = steve_internal
            .add_members(&steve.provider, &steve.signer, &[kp])
            .unwrap();
        relay_refuses(
            &w,
            &steve,
            &internal,
            &commit,
            Some(&welcome),
            "customer device into the internal room",
        );
        assert!(w.welcomes(&nina).is_empty(), "Nina got a Welcome");
        w.inject(
            &internal,
            "commit",
            &steve.device.device_id,
            &bytes(&commit),
        );
        let staff_events = w.staff.client.sync().await.unwrap();
        assert!(
            refused_in(&staff_events, &internal),
            "staff: {staff_events:?}"
        );
        w.proxy.clear_rules();
        let note = "internal note after the attack e3";
        w.staff
            .client
            .post_message(
                &w.space_id,
                NewMessage {
                    body: note.into(),
                    internal: true,
                    ..NewMessage::default()
                },
            )
            .await
            .unwrap();
        assert!(w.welcomes(&nina).is_empty(), "Nina got a Welcome");
    });
}

/// Attack f: the relay hides a member; sync reports every membership change.
#[test]
fn a_member_the_relay_hides_is_still_shown() {
    run(true, false, |w| async move {
        let cara_user = w.cara().user();
        let space_id = w.space_id.clone();
        let hide = cara_user.clone();
        let strip = move |v: &mut Value| {
            if let Some(members) = v["members"].as_array_mut() {
                members.retain(|m| m["user_id"] != json!(hide));
            }
        };
        let strip2 = strip.clone();
        w.proxy
            .rewrite("GET", &format!("/v1/spaces/{space_id}"), move |_, r| {
                r.edit_json(&strip)
            });
        w.proxy.rewrite("GET", "/v1/spaces", move |_, r| {
            r.edit_json(|v| {
                if let Some(spaces) = v["spaces"].as_array_mut() {
                    spaces.iter_mut().for_each(&strip2);
                }
            })
        });
        w.proxy
            .respond("GET", &format!("/v1/users/{cara_user}/devices"), |_| {
                Reply::json(200, &json!({ "devices": [] }))
            });
        for space in [
            w.staff.client.space(&w.space_id).await.unwrap(),
            w.staff
                .client
                .spaces()
                .await
                .unwrap()
                .into_iter()
                .find(|s| s.space_id == w.space_id)
                .unwrap(),
        ] {
            let cara = space
                .members
                .iter()
                .find(|m| m.user_id == cara_user)
                .unwrap_or_else(|| panic!("the hidden member is not shown: {:?}", space.members));
            assert!(!cara.listed_by_relay, "{cara:?}");
            assert!(cara.safety_number.is_some(), "{cara:?}");
            assert_eq!(cara.devices, vec![w.cara().device()]);
            assert_eq!(cara.org_id.as_deref(), Some(w.org_id.as_str()));
            assert!(!cara.provider_staff);
            let staff = space
                .members
                .iter()
                .find(|m| m.user_id == w.staff.user())
                .unwrap();
            assert!(staff.listed_by_relay && staff.provider_staff, "{staff:?}");
            assert!(staff.safety_number.is_some());
        }
        // Every membership change reaches the other members as events.
        w.proxy.clear_rules();
        let dan = w.sdk_customer("Dan Customer").await;
        w.add(&dan.user()).await;
        dan.client.sync().await.unwrap();
        let events = w.cara().client.sync().await.unwrap();
        assert!(
            events.iter().any(|e| matches!(e,
                ClientEvent::MemberAdded { user_id, device_id, .. }
                    if *user_id == dan.user() && *device_id == dan.device())),
            "{events:?}"
        );
        w.staff
            .client
            .remove_member(&w.space_id, &dan.user())
            .await
            .unwrap();
        let events = w.cara().client.sync().await.unwrap();
        assert!(
            events.iter().any(|e| matches!(e,
                ClientEvent::MemberRemoved { user_id, device_id, .. }
                    if *user_id == dan.user() && *device_id == dan.device())),
            "{events:?}"
        );
    });
}
