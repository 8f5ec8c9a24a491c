//! The scene of the hostile-relay attacks: SDK clients behind the proxy, raw-openmls
//! attacker devices, and helpers that forge key packages and read what the proxy saw.

use super::*;
pub(crate) use sealroom_tests::runtime;

pub(crate) struct Sdk {
    pub(crate) client: SealroomClient,
    pub(crate) _dir: tempfile::TempDir,
}

impl Sdk {
    pub(crate) fn user(&self) -> String {
        self.client.account().unwrap().user_id
    }

    pub(crate) fn device(&self) -> String {
        self.client.account().unwrap().device_id
    }
}

pub(crate) struct World {
    pub(crate) relay: Relay,
    pub(crate) proxy: HostileRelay,
    pub(crate) admin: Sdk,
    pub(crate) org_id: String,
    pub(crate) staff: Sdk,
    pub(crate) space_id: String,
    pub(crate) cara: Option<Sdk>,
}

/// Runs `test` on a fresh relay with a hostile proxy in front of it.
pub(crate) fn run<F, Fut>(with_cara: bool, internal_room: bool, test: F)
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
    pub(crate) async fn new(
        relay: Relay,
        proxy: HostileRelay,
        with_cara: bool,
        internal: bool,
    ) -> Self {
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

    pub(crate) fn cara(&self) -> &Sdk {
        self.cara.as_ref().unwrap()
    }

    pub(crate) async fn add(&self, user: &str) {
        self.staff
            .client
            .add_member(&self.space_id, user)
            .await
            .unwrap();
    }

    /// A customer of the space on the SDK (registered, not yet in the rooms).
    pub(crate) async fn sdk_customer(&self, name: &str) -> Sdk {
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
    pub(crate) async fn raw_customer(&self, name: &str) -> MlsDevice {
        let invite = self
            .staff
            .client
            .invite(Role::Customer, Some(&self.space_id))
            .await
            .unwrap();
        let device = self.relay.register(&invite.token, name);
        // A malicious member is a member like any other: its user vouches for its device, so
        // the honest clients add it.
        self.relay.certify_with_new_identity(&device);
        let mls = MlsDevice::new(&device);
        upload_sealroom_key_packages(&self.relay, &mls, 3);
        mls
    }

    /// A provider staff member with raw openmls and three key packages on the relay.
    pub(crate) async fn raw_staff(&self, name: &str) -> MlsDevice {
        let invite = self.admin.client.invite(Role::Staff, None).await.unwrap();
        let device = self.relay.register(&invite.token, name);
        // Devices join rooms only when their user vouches for them.
        self.relay.certify_with_new_identity(&device);
        let mls = MlsDevice::new(&device);
        upload_sealroom_key_packages(&self.relay, &mls, 3);
        mls
    }

    /// The relay ids of the space's customer room and internal room (from the registrations
    /// that passed through the proxy).
    pub(crate) fn rooms(&self) -> (String, Option<String>) {
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
    pub(crate) fn registration(&self, room: &str) -> Value {
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
    pub(crate) fn epoch(&self, room: &str) -> u64 {
        self.proxy
            .exchanges_for("POST", &format!("/v1/rooms/{room}/handshakes"))
            .iter()
            .filter_map(|e| e.upstream.as_ref().filter(|r| r.status == 201))
            .filter_map(|r| r.body_json()["epoch"].as_u64())
            .max()
            .unwrap_or(0)
    }

    /// Handshakes the SDK clients posted to `room` (through the proxy).
    pub(crate) fn posted_handshakes(&self) -> usize {
        self.proxy
            .exchanges_for("POST", "/v1/rooms/*/handshakes")
            .len()
    }

    /// The welcome mailbox of a raw device on the real relay.
    pub(crate) fn welcomes(&self, device: &MlsDevice) -> Vec<Value> {
        let r = self.relay.client(&device.device).get("/v1/welcomes");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["entries"].as_array().unwrap().clone()
    }

    /// Joins `room` with a raw device from its mailbox.
    pub(crate) fn raw_join(&self, device: &MlsDevice, room: &str) -> MlsGroup {
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
    pub(crate) fn inject(&self, room: &str, kind: &'static str, sender: &str, message: &[u8]) {
        self.proxy.inject_handshake(room, kind, sender, message);
    }

    /// Staff posts, every other SDK device reads it; then each of them posts and staff reads.
    pub(crate) async fn room_still_usable(&self, others: &[&Sdk], marker: &str) {
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

pub(crate) fn sdk(proxy: &HostileRelay) -> Sdk {
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

pub(crate) fn text(body: &str) -> NewMessage {
    NewMessage {
        body: body.to_owned(),
        ..NewMessage::default()
    }
}

pub(crate) fn refused_in(events: &[ClientEvent], room: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ClientEvent::Refused { room: r, .. } if r == room))
}

/// Recipients of every Welcome the SDK clients posted.
pub(crate) fn welcome_recipients(proxy: &HostileRelay) -> Vec<usize> {
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
pub(crate) const PROVIDER_EXTENSION: u16 = 0xF5A1;

/// Leaf capabilities of a Sealroom leaf: the one ciphersuite and the provider extension.
pub(crate) fn sealroom_capabilities() -> Capabilities {
    Capabilities::builder()
        .ciphersuites(vec![suite()])
        .extensions(vec![ExtensionType::Unknown(PROVIDER_EXTENSION)])
        .build()
}

/// A fresh key package of a raw device that an SDK room accepts.
pub(crate) fn sealroom_key_package(device: &MlsDevice) -> Vec<u8> {
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
pub(crate) fn upload_sealroom_key_packages(relay: &Relay, device: &MlsDevice, count: usize) {
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
pub(crate) fn forged_key_package(org: &str, user: &str, device: &str) -> Vec<u8> {
    forged_key_package_and_key(org, user, device).0
}

/// A valid key package for `device` of `user` in `org` under a signature key the attacker
/// made, with that key's public half (hex): what a relay that makes up a device needs to list
/// it consistently.
pub(crate) fn forged_key_package_and_key(org: &str, user: &str, device: &str) -> (Vec<u8>, String) {
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
    (
        bytes(&MlsMessageOut::from(bundle.key_package().clone())),
        hex::encode(signer.public()),
    )
}

pub(crate) fn leaf_of(group: &MlsGroup, user: &str) -> LeafNodeIndex {
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

pub(crate) type Storage = <OpenMlsRustCrypto as OpenMlsProvider>::StorageProvider;
