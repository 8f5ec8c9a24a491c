//! Room lifecycle tests: create, add (all devices of a user), post and read, remove with key
//! rotation, history for newcomers, leave, self-update, conflicts, held and duplicate messages,
//! policy (internal content, document rollback) and reopening from storage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod rooms_common;

use rooms_common::{deliver, dev, run_commit, Dev};
use sealroom_core::room::{
    Content, DocumentVersion, ErrorKind, FileAnnouncement, FileKey, Label, RefusalReason,
    RoomError, RoomEvent, RoomId, RoomKind, TextMessage,
};

fn text(body: &str) -> Content {
    Content::Text(TextMessage {
        thread_id: "t1".into(),
        message_id: format!("m-{body}"),
        reply_to: None,
        body: body.into(),
        expires_at: Some(1_900_000_000),
        sent_at: None,
    })
}

fn texts(events: &[RoomEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::Content {
                content: Content::Text(t),
                ..
            } => Some(t.body.clone()),
            _ => None,
        })
        .collect()
}

/// Alice creates a customer room and adds the given devices in one commit.
fn room_with(alice: &mut Dev, others: &mut [&mut Dev]) -> RoomId {
    let created = alice
        .client
        .create_room("case-1", RoomKind::Customer)
        .unwrap();
    assert!(!created.group_info.is_empty());
    let room = created.room_id;
    let kps: Vec<Vec<u8>> = others.iter_mut().map(|d| d.kp()).collect();
    let out = alice.client.add_members(&room, &kps).unwrap();
    assert_eq!(out.added.len(), others.len());
    assert!(out.welcome.is_some());
    run_commit(&room, out, alice, others);
    room
}

#[test]
fn create_add_all_devices_post_and_read() {
    let mut alice = dev("alice", "a1");
    let mut bob1 = dev("bob", "b1");
    let mut bob2 = dev("bob", "b2");
    let mut carol = dev("carol", "c1");
    let room = room_with(&mut alice, &mut [&mut bob1, &mut bob2, &mut carol]);

    let auth = alice.client.epoch_authenticator(&room).unwrap();
    for d in [&bob1, &bob2, &carol] {
        assert_eq!(d.client.epoch_authenticator(&room).unwrap(), auth);
        assert_eq!(d.client.members(&room).unwrap().len(), 4);
        // Epoch 0's key from the history, the join epoch's key derived by the device itself.
        assert_eq!(d.client.content_key_count(&room).unwrap(), 2);
    }
    let msg = alice
        .client
        .post(&room, Label::Customer, text("hello"))
        .unwrap();
    let got = deliver(&room, &msg, &mut [&mut bob1, &mut bob2, &mut carol]);
    for events in got {
        assert_eq!(texts(&events), vec!["hello".to_string()]);
    }
    // Alice's own message echoed back by the relay is recognised.
    assert!(matches!(
        alice.client.process(&room, &msg).unwrap()[..],
        [RoomEvent::Duplicate]
    ));
    let reply = bob2
        .client
        .post(&room, Label::Customer, text("hi alice"))
        .unwrap();
    let got = deliver(&room, &reply, &mut [&mut alice, &mut bob1, &mut carol]);
    assert!(got.iter().all(|e| texts(e) == vec!["hi alice".to_string()]));
}

#[test]
fn removal_rotates_keys_newcomer_reads_history_removed_reads_nothing_new() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let mut carol = dev("carol", "c1");
    let room = room_with(&mut alice, &mut [&mut bob, &mut carol]);

    // Files posted before the removal, by different members.
    let mut wrapped = Vec::new();
    for (i, poster) in [0usize, 1, 2].iter().enumerate() {
        let key = FileKey::from_bytes([i as u8 + 1; 32]);
        let id = format!("file-{i}");
        let d: &mut Dev = match poster {
            0 => &mut alice,
            1 => &mut bob,
            _ => &mut carol,
        };
        wrapped.push((
            id.clone(),
            d.client.wrap_file_key(&room, &id, &key).unwrap(),
            [i as u8 + 1; 32],
        ));
    }

    // Alice removes carol: content key rotates.
    let out = alice.client.remove_users(&room, &["carol"]).unwrap();
    assert_eq!(out.removed.len(), 1);
    let c_events = carol.client.process(&room, &out.commit).unwrap();
    assert!(c_events.iter().any(|e| matches!(e, RoomEvent::Removed)));
    run_commit(&room, out, &mut alice, &mut [&mut bob]);
    // Keys of epoch 0 (creation), 1 (bob and carol added) and 2 (carol removed).
    assert_eq!(alice.client.content_key_count(&room).unwrap(), 3);
    assert_eq!(bob.client.content_key_count(&room).unwrap(), 3);

    // Posted after the removal.
    let late_key = FileKey::from_bytes([99; 32]);
    let late = bob
        .client
        .wrap_file_key(&room, "file-late", &late_key)
        .unwrap();
    let ann = bob
        .client
        .post(
            &room,
            Label::Customer,
            Content::File(FileAnnouncement {
                file_id: "file-late".into(),
                file_key: late_key.clone(),
                metadata_ref: "meta-late".into(),
                thread_id: None,
            }),
        )
        .unwrap();
    wrapped.push(("file-late".into(), late.clone(), [99; 32]));
    let ev = alice.client.process(&room, &ann).unwrap();
    assert!(
        matches!(&ev[..], [RoomEvent::Content { content: Content::File(f), .. }] if f.file_key.expose_bytes() == [99; 32])
    );

    // The removed member opens nothing posted after removal: neither the wrapped key nor the message.
    let Err(err) = carol.client.unwrap_file_key(&room, "file-late", &late) else {
        panic!("removed member unwrapped a later key");
    };
    assert!(matches!(err, RoomError::KeyUnavailable));
    let err = carol.client.process(&room, &ann).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Removed);
    assert!(carol
        .client
        .post(&room, Label::Customer, text("x"))
        .is_err());
    // ...but still has what it was given before.
    assert_eq!(
        carol
            .client
            .unwrap_file_key(&room, "file-0", &wrapped[0].1)
            .unwrap()
            .expose_bytes(),
        [1; 32]
    );

    // A newcomer opens every file the room holds.
    let mut dave = dev("dave", "d1");
    let kp = dave.kp();
    let out = alice.client.add_members(&room, &[kp]).unwrap();
    run_commit(&room, out, &mut alice, &mut [&mut bob, &mut dave]);
    // Epochs 0-2 from the history, epoch 3 (dave's join) derived by dave.
    assert_eq!(dave.client.content_key_count(&room).unwrap(), 4);
    for (id, w, expect) in &wrapped {
        assert_eq!(
            dave.client
                .unwrap_file_key(&room, id, w)
                .unwrap()
                .expose_bytes(),
            *expect
        );
    }
    // Binding: a wrapped key does not open under another file id.
    assert!(matches!(
        dave.client.unwrap_file_key(&room, "file-1", &wrapped[0].1),
        Err(RoomError::Decrypt)
    ));
}

#[test]
fn internal_content_never_reaches_customer_room() {
    let mut alice = dev("alice", "a1");
    let customer = alice
        .client
        .create_room("case-7", RoomKind::Customer)
        .unwrap()
        .room_id;
    let internal = alice
        .client
        .create_room("case-7", RoomKind::Internal)
        .unwrap()
        .room_id;
    assert_eq!(customer.space_id(), Some("case-7"));
    assert_eq!(internal.kind(), RoomKind::Internal);
    let err = alice
        .client
        .post(&customer, Label::Internal, text("secret"))
        .unwrap_err();
    assert!(matches!(err, RoomError::InternalInCustomerRoom));
    assert_eq!(err.kind(), ErrorKind::Rejected);
    alice
        .client
        .post(&internal, Label::Internal, text("secret"))
        .unwrap();
    alice
        .client
        .post(&internal, Label::Customer, text("fine"))
        .unwrap();
    alice
        .client
        .post(&customer, Label::Customer, text("fine"))
        .unwrap();
    assert!(RoomId::parse(customer.as_str()).is_ok());
    assert!(RoomId::parse("case.secret.00").is_err());
}

fn doc(version: u64) -> Content {
    Content::Document(DocumentVersion {
        document_id: "contract".into(),
        version,
        content_digest: [version as u8; 32],
        file_id: Some(format!("f{version}")),
        author_signature: Vec::new(),
        classification: None,
    })
}

#[test]
fn document_versions_cannot_roll_back() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let mut carol = dev("carol", "c1");
    let room = room_with(&mut alice, &mut [&mut bob, &mut carol]);
    let v1 = alice.client.post(&room, Label::Customer, doc(1)).unwrap();
    let v2 = alice.client.post(&room, Label::Customer, doc(2)).unwrap();
    assert!(matches!(
        alice.client.post(&room, Label::Customer, doc(2)),
        Err(RoomError::DocumentRollback {
            current: 2,
            offered: 2,
            ..
        })
    ));
    for m in [&v1, &v2] {
        bob.client.process(&room, m).unwrap();
    }
    assert_eq!(
        bob.client.document_version(&room, "contract").unwrap(),
        Some(2)
    );
    // Carol has not seen v2 yet and posts version 1: bob refuses it (a typed event; the
    // room goes on).
    let stale = carol.client.post(&room, Label::Customer, doc(1)).unwrap();
    let events = bob.client.process(&room, &stale).unwrap();
    assert!(matches!(
        events[..],
        [RoomEvent::Refused {
            reason: RefusalReason::DocumentVersion,
            ..
        }]
    ));
    // Replaying v1 (the relay trying to roll back) is recognised as a duplicate, not applied.
    assert!(matches!(
        bob.client.process(&room, &v1).unwrap()[..],
        [RoomEvent::Duplicate]
    ));
    assert_eq!(
        bob.client.document_version(&room, "contract").unwrap(),
        Some(2)
    );
}

#[test]
fn future_epoch_messages_are_held_and_duplicates_recognised() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let room = room_with(&mut alice, &mut [&mut bob]);
    let c1 = alice.client.self_update(&room).unwrap();
    alice.client.confirm_commit(&room).unwrap();
    let m1 = alice
        .client
        .post(&room, Label::Customer, text("in epoch 2"))
        .unwrap();
    let c2 = alice.client.self_update(&room).unwrap();
    alice.client.confirm_commit(&room).unwrap();
    let m2 = alice
        .client
        .post(&room, Label::Customer, text("in epoch 3"))
        .unwrap();

    // Out of order: m2, c2, m1 arrive before c1.
    assert!(matches!(
        bob.client.process(&room, &m2).unwrap()[..],
        [RoomEvent::Held { epoch: 3 }]
    ));
    assert!(matches!(
        bob.client.process(&room, &c2.commit).unwrap()[..],
        [RoomEvent::Held { epoch: 2 }]
    ));
    assert!(matches!(
        bob.client.process(&room, &m1).unwrap()[..],
        [RoomEvent::Held { epoch: 2 }]
    ));
    // Held messages survive a restart.
    bob.reopen();
    let events = bob.client.process(&room, &c1.commit).unwrap();
    let commits = events
        .iter()
        .filter(|e| matches!(e, RoomEvent::Commit { .. }))
        .count();
    assert_eq!(commits, 2);
    assert_eq!(
        texts(&events),
        vec!["in epoch 2".to_string(), "in epoch 3".to_string()]
    );
    assert_eq!(
        bob.client.epoch_authenticator(&room).unwrap(),
        alice.client.epoch_authenticator(&room).unwrap()
    );
    // Every one of them again: duplicates or stale, never an error.
    for m in [&c1.commit, &c2.commit, &m1, &m2] {
        let ev = bob.client.process(&room, m).unwrap();
        assert!(
            matches!(ev[..], [RoomEvent::Duplicate] | [RoomEvent::Stale]),
            "{ev:?}"
        );
    }
    // Garbage is corrupt, not a panic.
    let err = bob.client.process(&room, b"\x00\x01garbage").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
}

#[test]
fn conflicting_commits_are_discarded_cleanly() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let room = room_with(&mut alice, &mut [&mut bob]);

    // Both commit in the same epoch; the relay takes alice's.
    let a = alice.client.self_update(&room).unwrap();
    let b = bob.client.self_update(&room).unwrap();
    assert_eq!(a.epoch, b.epoch);
    assert!(matches!(
        bob.client.post(&room, Label::Customer, text("x")),
        Err(RoomError::PendingCommit)
    ));
    assert_eq!(
        bob.client.self_update(&room).unwrap_err().kind(),
        ErrorKind::Retry
    );
    alice.client.confirm_commit(&room).unwrap();
    // Bob is told by the relay: discard, sync, retry.
    bob.client.discard_commit(&room).unwrap();
    assert!(matches!(
        bob.client.discard_commit(&room),
        Err(RoomError::NoPendingCommit)
    ));
    bob.client.process(&room, &a.commit).unwrap();
    // Bob's losing commit, if the relay echoed it, is stale.
    assert!(matches!(
        alice.client.process(&room, &b.commit).unwrap()[..],
        [RoomEvent::Stale]
    ));
    let b2 = bob.client.self_update(&room).unwrap();
    bob.client.confirm_commit(&room).unwrap();
    alice.client.process(&room, &b2.commit).unwrap();
    assert_eq!(
        bob.client.epoch_authenticator(&room).unwrap(),
        alice.client.epoch_authenticator(&room).unwrap()
    );

    // Same race, but bob learns of his loss by receiving alice's commit.
    let _a = alice.client.self_update(&room).unwrap();
    let _b = bob.client.self_update(&room).unwrap();
    alice.client.confirm_commit(&room).unwrap();
    let ev = bob.client.process(&room, &_a.commit).unwrap();
    assert!(matches!(ev[0], RoomEvent::OwnCommitDiscarded));
    assert!(!bob.client.has_pending_commit(&room).unwrap());
    // And his own commit coming back from the relay confirms it.
    let b3 = bob.client.self_update(&room).unwrap();
    let ev = bob.client.process(&room, &b3.commit).unwrap();
    assert!(ev
        .iter()
        .any(|e| matches!(e, RoomEvent::OwnCommitConfirmed { .. })));
    alice.client.process(&room, &b3.commit).unwrap();
    let m = alice
        .client
        .post(&room, Label::Customer, text("synced"))
        .unwrap();
    assert_eq!(
        texts(&bob.client.process(&room, &m).unwrap()),
        vec!["synced".to_string()]
    );
}

#[test]
fn leave_add_device_and_key_change_events() {
    let mut alice = dev("alice", "a1");
    let mut bob1 = dev("bob", "b1");
    let mut carol = dev("carol", "c1");
    let room = room_with(&mut alice, &mut [&mut bob1, &mut carol]);
    let before = carol.client.directory().safety_number("bob").unwrap();

    // Bob adds his second device himself (a device of an existing member).
    let mut bob2 = dev("bob", "b2");
    let kp = bob2.kp();
    let out = bob1.client.add_members(&room, &[kp]).unwrap();
    let ev = carol.client.process(&room, &out.commit).unwrap();
    let change = ev
        .iter()
        .find_map(|e| match e {
            RoomEvent::KeyChanged(c) => Some(c.clone()),
            _ => None,
        })
        .expect("key change event");
    assert_eq!(change.user_id, "bob");
    assert_eq!(change.added.len(), 1);
    assert_eq!(change.old_safety_number, before);
    bob1.client.confirm_commit(&room).unwrap();
    let hist = bob1.client.outbox(&room).unwrap();
    alice.client.process(&room, &out.commit).unwrap();
    bob2.client.join(out.welcome.as_ref().unwrap()).unwrap();
    for m in &hist {
        deliver(&room, m, &mut [&mut alice, &mut carol, &mut bob2]);
    }
    // Every earlier add epoch's key from the history, plus bob2's own join-epoch key.
    assert_eq!(bob2.client.content_key_count(&room).unwrap(), 3);

    // Carol leaves: a proposal, committed by alice.
    let proposal = carol.client.leave(&room).unwrap();
    let ev = alice.client.process(&room, &proposal).unwrap();
    assert!(
        matches!(&ev[..], [RoomEvent::Proposal { removes, .. }] if removes[0].user_id == "carol")
    );
    bob1.client.process(&room, &proposal).unwrap();
    bob2.client.process(&room, &proposal).unwrap();
    let out = alice.client.commit_pending_proposals(&room).unwrap();
    assert_eq!(out.removed[0].user_id, "carol");
    let ev = carol.client.process(&room, &out.commit).unwrap();
    assert!(ev.iter().any(|e| matches!(e, RoomEvent::Removed)));
    run_commit(&room, out, &mut alice, &mut [&mut bob1, &mut bob2]);
    // One more key, derived at carol's removal.
    assert_eq!(bob2.client.content_key_count(&room).unwrap(), 4);
    assert_eq!(alice.client.members(&room).unwrap().len(), 3);
}

#[test]
fn key_packages_are_single_use_except_last_resort_and_state_reopens() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let kps = bob.client.generate_key_packages(2).unwrap();
    let last = bob.client.last_resort_key_package().unwrap();
    let r1 = alice
        .client
        .create_room("s1", RoomKind::Customer)
        .unwrap()
        .room_id;
    let out = alice.client.add_members(&r1, &[kps[0].clone()]).unwrap();
    alice.client.confirm_commit(&r1).unwrap();
    bob.client.join(out.welcome.as_ref().unwrap()).unwrap();
    // Joining again with the same welcome is refused.
    assert!(bob.client.join(out.welcome.as_ref().unwrap()).is_err());
    // The used key package is gone: a second room using it cannot be joined.
    let r2 = alice
        .client
        .create_room("s2", RoomKind::Customer)
        .unwrap()
        .room_id;
    let out2 = alice.client.add_members(&r2, &[kps[0].clone()]).unwrap();
    alice.client.confirm_commit(&r2).unwrap();
    bob.reopen();
    assert!(matches!(
        bob.client.join(out2.welcome.as_ref().unwrap()),
        Err(RoomError::NoMatchingKeyPackage)
    ));
    // The last-resort package works twice.
    for space in ["s3", "s4"] {
        let r = alice
            .client
            .create_room(space, RoomKind::Customer)
            .unwrap()
            .room_id;
        let out = alice
            .client
            .add_members(&r, std::slice::from_ref(&last))
            .unwrap();
        alice.client.confirm_commit(&r).unwrap();
        bob.client.join(out.welcome.as_ref().unwrap()).unwrap();
        bob.reopen();
    }
    // Malformed key packages are corrupt input.
    let r5 = alice
        .client
        .create_room("s5", RoomKind::Customer)
        .unwrap()
        .room_id;
    let err = alice
        .client
        .add_members(&r5, &[b"junk".to_vec()])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);

    // Everything survives a reopen: alice's rooms, bob's membership, and messaging.
    alice.reopen();
    bob.reopen();
    let m = alice
        .client
        .post(&r1, Label::Customer, text("after restart"))
        .unwrap();
    let ev = bob.client.process(&r1, &m).unwrap();
    assert_eq!(texts(&ev), vec!["after restart".to_string()]);
    assert_eq!(alice.client.rooms().len(), 5);
}
