//! Crash safety: the store fails at every write position of a commit (create + confirm) and of
//! a join (welcome + history), and torn writes are simulated at byte positions across the file
//! log; after reopening, the room always works.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod rooms_common;

use std::sync::{Arc, Mutex};

use rooms_common::{dev, Dev};
use sealroom_core::identity::CredentialIdentity;
use sealroom_core::room::{
    Client, Content, ErrorKind, Label, RoomEvent, RoomId, RoomKind, TextMessage,
};
use sealroom_core::state::{BatchEntry, FileKv, KvStore, MemoryKv, StateError, StorageKey};

/// A store that fails the n-th batch commit (counting from when it is armed), applying nothing.
#[derive(Clone)]
struct FailingKv {
    inner: MemoryKv,
    countdown: Arc<Mutex<Option<usize>>>,
    failed: Arc<Mutex<bool>>,
}

impl KvStore for FailingKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.inner.get(key)
    }
    fn keys(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        self.inner.keys(prefix)
    }
    fn commit(&mut self, batch: Vec<BatchEntry>) -> Result<(), StateError> {
        let mut c = self.countdown.lock().unwrap();
        if let Some(n) = c.as_mut() {
            if *n == 0 {
                *c = None;
                *self.failed.lock().unwrap() = true;
                return Err(StateError::Host("injected failure".into()));
            }
            *n -= 1;
        }
        self.inner.commit(batch)
    }
}

const KEY: [u8; 32] = [42; 32];

fn failing_client(user: &str) -> (Client, FailingKv) {
    let kv = FailingKv {
        inner: MemoryKv::new(),
        countdown: Arc::new(Mutex::new(None)),
        failed: Arc::new(Mutex::new(false)),
    };
    let id = CredentialIdentity::new("acme", user, "d1").unwrap();
    let c = Client::create(Box::new(kv.clone()), &StorageKey::from_bytes(KEY), id).unwrap();
    (c, kv)
}

fn reopen(kv: &FailingKv) -> Client {
    Client::open(Box::new(kv.clone()), &StorageKey::from_bytes(KEY)).unwrap()
}

fn text(body: &str) -> Content {
    Content::Text(TextMessage {
        thread_id: "t".into(),
        message_id: body.into(),
        reply_to: None,
        body: body.into(),
        expires_at: None,
        sent_at: None,
    })
}

fn read_text(events: &[RoomEvent]) -> Option<String> {
    events.iter().find_map(|e| match e {
        RoomEvent::Content {
            content: Content::Text(t),
            ..
        } => Some(t.body.clone()),
        _ => None,
    })
}

/// Both directions of messaging work and the two agree on the epoch.
fn check_talk(a: &mut Client, b: &mut Client, room: &RoomId) {
    assert_eq!(
        a.epoch_authenticator(room).unwrap(),
        b.epoch_authenticator(room).unwrap()
    );
    let m = a.post(room, Label::Customer, text("ping")).unwrap();
    assert_eq!(
        read_text(&b.process(room, &m).unwrap()).as_deref(),
        Some("ping")
    );
    let m = b.post(room, Label::Customer, text("pong")).unwrap();
    assert_eq!(
        read_text(&a.process(room, &m).unwrap()).as_deref(),
        Some("pong")
    );
    // And a further commit goes through.
    let out = b.self_update(room).unwrap();
    b.confirm_commit(room).unwrap();
    a.process(room, &out.commit).unwrap();
    assert_eq!(
        a.epoch_authenticator(room).unwrap(),
        b.epoch_authenticator(room).unwrap()
    );
}

#[test]
fn failure_at_every_write_of_a_commit() {
    let mut positions = 0;
    for fail_at in 0.. {
        let (mut alice, kv) = failing_client("alice");
        let mut bob = dev("bob", "b1");
        let room = alice
            .create_room("case", RoomKind::Customer)
            .unwrap()
            .room_id;
        let kp = bob.kp();
        *kv.countdown.lock().unwrap() = Some(fail_at);
        let mut sent = None;
        let result = (|| {
            let out = alice.add_members(&room, std::slice::from_ref(&kp))?;
            sent = Some(out.clone()); // the host hands the commit to the relay, which accepts it
            alice.confirm_commit(&room)
        })();
        if !*kv.failed.lock().unwrap() {
            result.unwrap();
            break;
        }
        positions += 1;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Storage);
        // The in-memory client refuses further work; the host reopens it.
        assert_eq!(
            alice
                .post(&room, Label::Customer, text("x"))
                .unwrap_err()
                .kind(),
            ErrorKind::Storage
        );
        let mut alice = reopen(&kv);
        let out = match sent {
            None => {
                // The commit never left the device: just do it again.
                let out = alice.add_members(&room, std::slice::from_ref(&kp)).unwrap();
                alice.confirm_commit(&room).unwrap();
                out
            }
            Some(out) => {
                // The relay accepted it and echoes it back: that confirms the pending commit.
                let ev = alice.process(&room, &out.commit).unwrap();
                assert!(
                    ev.iter()
                        .any(|e| matches!(e, RoomEvent::OwnCommitConfirmed { .. })),
                    "{ev:?}"
                );
                out
            }
        };
        bob.client.join(out.welcome.as_ref().unwrap()).unwrap();
        for h in alice.outbox(&room).unwrap() {
            bob.client.process(&room, &h).unwrap();
        }
        assert_eq!(bob.client.content_key_count(&room).unwrap(), 2);
        check_talk(&mut alice, &mut bob.client, &room);
    }
    assert!(positions >= 2, "commit has {positions} write positions");
}

#[test]
fn failure_at_every_write_of_a_join() {
    let mut positions = 0;
    for fail_at in 0.. {
        let mut alice = dev("alice", "a1");
        let (mut bob, kv) = failing_client("bob");
        let room = alice
            .client
            .create_room("case", RoomKind::Customer)
            .unwrap()
            .room_id;
        let kp = bob.generate_key_packages(1).unwrap().remove(0);
        let out = alice.client.add_members(&room, &[kp]).unwrap();
        let confirmed = alice.client.confirm_commit(&room).unwrap();
        *kv.countdown.lock().unwrap() = Some(fail_at);
        let result = (|| {
            bob.join(out.welcome.as_ref().unwrap())?;
            for h in &confirmed.outgoing {
                bob.process(&room, h)?;
            }
            Ok::<_, sealroom_core::room::RoomError>(())
        })();
        if !*kv.failed.lock().unwrap() {
            result.unwrap();
            break;
        }
        positions += 1;
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Storage);
        let mut bob = reopen(&kv);
        if !bob.rooms().contains(&room) {
            // The join never reached the store, so the key package is still there: join again.
            bob.join(out.welcome.as_ref().unwrap()).unwrap();
        }
        for h in &confirmed.outgoing {
            bob.process(&room, h).unwrap();
        }
        assert_eq!(bob.content_key_count(&room).unwrap(), 2);
        check_talk(&mut alice.client, &mut bob, &room);
    }
    assert!(positions >= 2, "join has {positions} write positions");
}

fn open_file(dir: &std::path::Path) -> Client {
    Client::open(
        Box::new(FileKv::open(dir).unwrap()),
        &StorageKey::from_bytes(KEY),
    )
    .unwrap()
}

/// Torn writes: the file log is cut at byte positions across the records a commit appended
/// (every byte near record edges, a stride in between); the reopened device always recovers.
#[test]
fn torn_file_writes_during_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("alice").join("state.log");
    let id = CredentialIdentity::new("acme", "alice", "a1").unwrap();
    let mut alice = Client::create(
        Box::new(FileKv::open(dir.path().join("alice")).unwrap()),
        &StorageKey::from_bytes(KEY),
        id,
    )
    .unwrap();
    let mut bob: Dev = dev("bob", "b1");
    let room = alice
        .create_room("case", RoomKind::Customer)
        .unwrap()
        .room_id;
    let kp = bob.kp();
    let bob_before = bob.kv.snapshot().unwrap();
    let before = std::fs::read(&log).unwrap();
    let out = alice.add_members(&room, std::slice::from_ref(&kp)).unwrap();
    let mid = std::fs::read(&log).unwrap().len();
    alice.confirm_commit(&room).unwrap();
    drop(alice);
    let after = std::fs::read(&log).unwrap();
    assert!(before.len() < mid && mid < after.len());

    let mut cuts: Vec<usize> = Vec::new();
    for edge in [before.len(), mid, after.len()] {
        for d in 0..48 {
            cuts.extend([edge.saturating_sub(d), edge + d]);
        }
    }
    cuts.extend((before.len()..after.len()).step_by(331));
    cuts.retain(|c| *c >= before.len() && *c <= after.len());
    cuts.sort_unstable();
    cuts.dedup();
    for cut in cuts {
        let case = tempfile::tempdir().unwrap();
        std::fs::write(case.path().join("state.log"), &after[..cut]).unwrap();
        let mut alice = open_file(case.path());
        let mut bob = Client::open(
            Box::new(bob_before.snapshot().unwrap()),
            &StorageKey::from_bytes(bob.key),
        )
        .unwrap();
        let welcome = if cut < mid {
            assert!(!alice.has_pending_commit(&room).unwrap(), "cut {cut}");
            let out = alice.add_members(&room, std::slice::from_ref(&kp)).unwrap();
            alice.confirm_commit(&room).unwrap();
            out.welcome.unwrap()
        } else {
            if cut < after.len() {
                assert!(alice.has_pending_commit(&room).unwrap(), "cut {cut}");
            }
            let ev = alice.process(&room, &out.commit).unwrap();
            assert!(
                ev.iter().any(|e| matches!(
                    e,
                    RoomEvent::OwnCommitConfirmed { .. } | RoomEvent::Duplicate
                )),
                "cut {cut}: {ev:?}"
            );
            out.welcome.clone().unwrap()
        };
        bob.join(&welcome).unwrap();
        for h in alice.outbox(&room).unwrap() {
            bob.process(&room, &h).unwrap();
        }
        check_talk(&mut alice, &mut bob, &room);
        // Reopen after the work: the repaired log keeps accepting batches.
        drop(alice);
        let alice = open_file(case.path());
        assert_eq!(alice.epoch(&room).unwrap(), bob.epoch(&room).unwrap());
    }
}
