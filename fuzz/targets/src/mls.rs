//! Target `mls_incoming`: every function that takes MLS bytes from the network, on both sides.
//!
//! Client side (`sealroom_core::room::Client`): processing an incoming handshake or application
//! message as a member, joining from a Welcome, adding a member from a claimed key package,
//! reading a message's epoch from its clear header, parsing room ids. Relay side
//! (`sealroom_server::rooms::mls`): creating a room from a GroupInfo and ratchet tree,
//! processing a handshake (with an optional Welcome), validating a key package, checking an
//! application message.
//!
//! The states come from a real room built once per process (Alice creates it and adds Bob;
//! Carol has a key package waiting). Input: `selector (1) | bytes`; for the two-part relay
//! calls, `len (2, BE) | first | second`.
//!
//! Invariants: no panic; after any call that succeeded or failed, a client's state still opens
//! from its store with the same rooms and epochs it reports in memory.

use std::sync::OnceLock;

use sealroom_core::identity::CredentialIdentity;
use sealroom_core::room::{self, Client, RoomId, RoomKind};
use sealroom_core::state::{KvStore, MemoryKv, StorageKey};
use sealroom_server::rooms::mls::{self as relay_mls, DeviceDirectory, DeviceKey, GroupState};
use sealroom_server::store::StoreError;

/// Number of operations the selector chooses from.
pub const OPS: u8 = 7;

/// The states and messages of the room built once per process.
pub struct Fixture {
    /// Bob's store after joining (member side of `process`).
    pub bob: MemoryKv,
    /// Carol's store with a key package published (joiner side).
    pub carol: MemoryKv,
    /// Alice's store (committer side of `add_members`).
    pub alice: MemoryKv,
    /// The room.
    pub room: RoomId,
    /// Keys of the three devices as the relay knows them.
    pub devices: Vec<DeviceKey>,
    /// The relay's state of the room at epoch 0.
    pub relay_state: GroupState,
    /// Seeds: (name, selector, bytes).
    pub seeds: Vec<(&'static str, u8, Vec<u8>)>,
}

fn key(user: &str) -> StorageKey {
    StorageKey::from_bytes([user.len() as u8 ^ 0x5a; 32])
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

fn build() -> Fixture {
    let new = |user: &str, device: &str| {
        let kv = MemoryKv::new();
        let id = CredentialIdentity::new("acme", user, device).expect("id");
        let client = Client::create(Box::new(kv.clone()), &key(user), id).expect("device");
        (kv, client)
    };
    let (alice_kv, mut alice) = new("alice", "a1");
    let (bob_kv, mut bob) = new("bob", "b1");
    let (carol_kv, mut carol) = new("carol", "c1");
    let devices: Vec<DeviceKey> = [&alice, &bob, &carol]
        .iter()
        .map(|c| {
            let id = c.device().identity();
            DeviceKey {
                org_id: id.org_id.clone(),
                user_id: id.user_id.clone(),
                device_id: id.device_id.clone(),
                public_key: c.device().public_key(),
            }
        })
        .collect();
    let created = alice
        .create_room("case-1", RoomKind::Customer)
        .expect("room");
    let room = created.room_id.clone();
    let tree0 = alice.ratchet_tree(&room).expect("tree");
    let relay_state =
        relay_mls::create_room(&created.group_info, &tree0, "a1", &Directory(&devices))
            .expect("relay accepts the room")
            .state;
    let bob_kp = bob.generate_key_packages(1).expect("kp").remove(0);
    let add_bob = alice
        .add_members(&room, std::slice::from_ref(&bob_kp))
        .expect("add bob");
    let confirmed = alice.confirm_commit(&room).expect("confirm");
    let welcome_bob = add_bob.welcome.clone().expect("welcome");
    bob.join(&welcome_bob).expect("bob joins");
    for m in &confirmed.outgoing {
        let _ = bob.process(&room, m);
    }
    alice.clear_outbox(&room).expect("outbox");
    let text = room::Content::Text(room::TextMessage {
        thread_id: "t1".into(),
        message_id: "m1".into(),
        reply_to: None,
        body: "hello bob".into(),
        expires_at: None,
        sent_at: None,
    });
    let message = alice
        .post(&room, room::Label::Customer, text)
        .expect("post");
    // Bob's state before any of the following arrives: the member side of the target.
    let bob_snapshot = bob_kv.snapshot().expect("snapshot");
    let alice_snapshot = alice_kv.snapshot().expect("snapshot");
    let carol_kp = carol.generate_key_packages(1).expect("kp").remove(0);
    let carol_snapshot = carol_kv.snapshot().expect("snapshot");
    let add_carol = alice
        .add_members(&room, std::slice::from_ref(&carol_kp))
        .expect("add carol");
    let welcome_carol = add_carol.welcome.clone().expect("welcome");
    let two_part = |a: &[u8], b: &[u8]| {
        let mut out = (a.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        out
    };
    let seeds = vec![
        ("app-message", 0, message.clone()),
        ("commit-add-carol", 0, add_carol.commit.clone()),
        ("welcome-carol", 1, welcome_carol.clone()),
        ("key-package", 2, carol_kp.clone()),
        ("message-epoch", 3, message.clone()),
        (
            "relay-create-room",
            4,
            two_part(&created.group_info, &tree0),
        ),
        (
            "relay-handshake-add-bob",
            5,
            two_part(&add_bob.commit, &welcome_bob),
        ),
        ("relay-key-package", 6, carol_kp),
        ("relay-group-info-epoch1", 4, add_bob.group_info.clone()),
    ];
    drop((alice, bob, carol));
    Fixture {
        bob: bob_snapshot,
        carol: carol_snapshot,
        alice: alice_snapshot,
        room,
        devices,
        relay_state,
        seeds,
    }
}

/// The relay's view of registered devices.
struct Directory<'a>(&'a [DeviceKey]);

impl DeviceDirectory for Directory<'_> {
    fn device(&self, device_id: &str) -> Result<Option<DeviceKey>, StoreError> {
        Ok(self.0.iter().find(|d| d.device_id == device_id).cloned())
    }

    /// Every fixture device belongs to the one organisation that created the room.
    fn provider_org_id(&self) -> Result<Option<String>, StoreError> {
        Ok(self.0.first().map(|d| d.org_id.clone()))
    }
}

fn split_two(data: &[u8]) -> (&[u8], &[u8]) {
    match data {
        [a, b, rest @ ..] => {
            let n = usize::from(u16::from_be_bytes([*a, *b])).min(rest.len());
            rest.split_at(n)
        }
        _ => (data, &[]),
    }
}

/// Reopens `kv` and checks that the stored state matches what `live` reports.
fn check_reopens(live: &Client, kv: &MemoryKv, user: &str) {
    let reopened = Client::open(Box::new(kv.clone()) as Box<dyn KvStore>, &key(user))
        .expect("a client's state must open after processing any incoming bytes");
    assert_eq!(reopened.rooms(), live.rooms(), "stored rooms differ");
    for room in live.rooms() {
        assert_eq!(
            reopened.epoch(&room).ok(),
            live.epoch(&room).ok(),
            "stored epoch differs from the live one"
        );
    }
}

/// The target body.
pub fn mls_incoming(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match selector % OPS {
        0 => {
            let kv = f.bob.snapshot().expect("snapshot");
            let mut bob = Client::open(Box::new(kv.clone()) as Box<dyn KvStore>, &key("bob"))
                .expect("bob opens");
            let _ = bob.process(&f.room, bytes);
            check_reopens(&bob, &kv, "bob");
        }
        1 => {
            let kv = f.carol.snapshot().expect("snapshot");
            let mut carol = Client::open(Box::new(kv.clone()) as Box<dyn KvStore>, &key("carol"))
                .expect("carol opens");
            if let Ok(joined) = carol.join(bytes) {
                assert!(carol.rooms().contains(&joined.room_id));
            }
            check_reopens(&carol, &kv, "carol");
        }
        2 => {
            let kv = f.alice.snapshot().expect("snapshot");
            let mut alice = Client::open(Box::new(kv.clone()) as Box<dyn KvStore>, &key("alice"))
                .expect("alice opens");
            let before = alice.epoch(&f.room).ok();
            if alice.add_members(&f.room, &[bytes.to_vec()]).is_ok() {
                // Nothing is merged before the relay accepts the commit.
                assert_eq!(alice.epoch(&f.room).ok(), before);
                let _ = alice.discard_commit(&f.room);
            }
            check_reopens(&alice, &kv, "alice");
        }
        3 => {
            let _ = room::message_epoch(bytes);
            if let Ok(text) = std::str::from_utf8(bytes) {
                if let Ok(id) = RoomId::parse(text) {
                    assert_eq!(id.as_str(), text);
                    let _ = (id.kind(), id.space_id());
                }
            }
        }
        4 => {
            let (info, tree) = split_two(bytes);
            if let Ok(new) = relay_mls::create_room(info, tree, "a1", &Directory(&f.devices)) {
                let again = GroupState::from_bytes(&new.state.to_bytes())
                    .expect("a stored group state decodes");
                assert_eq!(again, new.state);
                assert_eq!(relay_mls::epoch(&new.state).ok(), Some(new.epoch));
            }
        }
        5 => {
            let (message, welcome) = split_two(bytes);
            let welcome = (!welcome.is_empty()).then_some(welcome);
            for sender in ["a1", "b1"] {
                let _ = relay_mls::process_handshake(
                    &f.relay_state,
                    message,
                    welcome,
                    sender,
                    &Directory(&f.devices),
                );
            }
        }
        _ => {
            for device in &f.devices {
                let _ = relay_mls::validate_key_package(bytes, device);
            }
            let _ = relay_mls::check_application_message(f.room.as_str().as_bytes(), bytes);
            let _ = GroupState::from_bytes(bytes);
        }
    }
}
