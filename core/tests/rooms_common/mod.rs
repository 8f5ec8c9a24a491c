//! Shared helpers for the room tests: devices over in-memory stores and a tiny in-test "relay"
//! that fans messages out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use sealroom_core::identity::CredentialIdentity;
use sealroom_core::room::{Client, CommitOutput, Confirmed, RoomEvent, RoomId};
use sealroom_core::state::{KvStore, MemoryKv, StorageKey};

/// A device with its store and storage key, so it can be reopened.
pub struct Dev {
    pub client: Client,
    pub kv: MemoryKv,
    pub key: [u8; 32],
}

pub fn dev(user: &str, device: &str) -> Dev {
    let kv = MemoryKv::new();
    let key = [user.len() as u8 ^ 0x5a; 32];
    let id = CredentialIdentity::new("acme", user, device).unwrap();
    let client = Client::create(Box::new(kv.clone()), &StorageKey::from_bytes(key), id).unwrap();
    Dev { client, kv, key }
}

impl Dev {
    /// Drops the in-memory client and reopens it from its store ("process restart").
    pub fn reopen(&mut self) {
        self.client = Client::open(
            Box::new(self.kv.clone()) as Box<dyn KvStore>,
            &StorageKey::from_bytes(self.key),
        )
        .unwrap();
    }

    pub fn kp(&mut self) -> Vec<u8> {
        self.client.generate_key_packages(1).unwrap().remove(0)
    }

    pub fn user(&self) -> String {
        self.client.device().identity().user_id.clone()
    }
}

/// Commits on `committer`, confirms, and delivers commit + welcome + history to `others`
/// (members process the commit, newcomers join).
pub fn run_commit(
    room: &RoomId,
    out: CommitOutput,
    committer: &mut Dev,
    others: &mut [&mut Dev],
) -> Confirmed {
    let confirmed = committer.client.confirm_commit(room).unwrap();
    let added: Vec<_> = out.added.clone();
    for o in others.iter_mut() {
        let me = o.client.device().identity().clone();
        if added.contains(&me) {
            let j = o.client.join(out.welcome.as_ref().unwrap()).unwrap();
            assert_eq!(&j.room_id, room);
        } else if o.client.rooms().contains(room) && !o.client.is_removed(room).unwrap() {
            o.client.process(room, &out.commit).unwrap();
        }
    }
    for m in &confirmed.outgoing {
        deliver(room, m, others);
    }
    committer.client.clear_outbox(room).unwrap();
    confirmed
}

/// Delivers an application/handshake message to every device that is an active member.
pub fn deliver(room: &RoomId, msg: &[u8], to: &mut [&mut Dev]) -> Vec<Vec<RoomEvent>> {
    let mut all = Vec::new();
    for d in to.iter_mut() {
        if d.client.rooms().contains(room) && !d.client.is_removed(room).unwrap() {
            all.push(d.client.process(room, msg).unwrap());
        }
    }
    all
}
