//! A 50-device scenario: seeded random adds, removes and self-updates by random committers,
//! with every device reopened from its encrypted store several times ("process restarts").
//! At the end all 50 devices are members, agree on the epoch authenticator, read each other's
//! messages and open every file ever posted in the room.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod rooms_common;

use rooms_common::{dev, Dev};
use sealroom_core::room::{Content, FileKey, Label, RoomEvent, RoomId, RoomKind, TextMessage};

const DEVICES: usize = 50;

/// xorshift64*: deterministic, seeded.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn is_member(d: &Dev, room: &RoomId) -> bool {
    d.client.rooms().contains(room) && !d.client.is_removed(room).unwrap()
}

/// Committer `c` makes a commit with `op`, the relay accepts it, everyone gets it.
fn commit(
    devs: &mut [Dev],
    room: &RoomId,
    c: usize,
    op: impl FnOnce(&mut Dev) -> sealroom_core::room::CommitOutput,
) {
    let out = op(&mut devs[c]);
    let confirmed = devs[c].client.confirm_commit(room).unwrap();
    for (i, d) in devs.iter_mut().enumerate() {
        if i == c {
            continue;
        }
        let me = d.client.device().identity().clone();
        if out.added.contains(&me) {
            d.client.join(out.welcome.as_ref().unwrap()).unwrap();
        } else if is_member(d, room) {
            let ev = d.client.process(room, &out.commit).unwrap();
            if out.removed.contains(&me) {
                assert!(ev.iter().any(|e| matches!(e, RoomEvent::Removed)));
            }
        }
    }
    for m in &confirmed.outgoing {
        for (i, d) in devs.iter_mut().enumerate() {
            if i != c && is_member(d, room) {
                d.client.process(room, m).unwrap();
            }
        }
    }
    devs[c].client.clear_outbox(room).unwrap();
}

#[test]
fn fifty_members_random_membership_with_restarts() {
    let mut rng = Rng(0x5ea1_2000_cafe_f00d);
    let mut devs: Vec<Dev> = (0..DEVICES)
        .map(|i| dev(&format!("user{}", i % 40), &format!("dev{i}")))
        .collect();
    let room = devs[0]
        .client
        .create_room("scenario", RoomKind::Customer)
        .unwrap()
        .room_id;
    let kps: Vec<Vec<u8>> = (1..12).map(|i| devs[i].kp()).collect();
    commit(&mut devs, &room, 0, |d| {
        d.client.add_members(&room, &kps).unwrap()
    });

    let mut files: Vec<(String, Vec<u8>, [u8; 32])> = Vec::new();
    for step in 0..45 {
        if step % 12 == 11 {
            for d in devs.iter_mut() {
                d.reopen();
            }
        }
        let members: Vec<usize> = (0..DEVICES)
            .filter(|&i| is_member(&devs[i], &room))
            .collect();
        let outsiders: Vec<usize> = (0..DEVICES)
            .filter(|&i| !is_member(&devs[i], &room))
            .collect();
        let c = members[rng.below(members.len())];
        match rng.below(3) {
            0 if !outsiders.is_empty() => {
                let n = 1 + rng.below(4.min(outsiders.len()));
                let mut kps = Vec::new();
                let mut picked = Vec::new();
                while picked.len() < n {
                    let o = outsiders[rng.below(outsiders.len())];
                    if !picked.contains(&o) {
                        picked.push(o);
                        kps.push(devs[o].kp());
                    }
                }
                commit(&mut devs, &room, c, |d| {
                    d.client.add_members(&room, &kps).unwrap()
                });
            }
            1 if members.len() > 3 => {
                let me = devs[c].user();
                let victim = loop {
                    let v = members[rng.below(members.len())];
                    if devs[v].user() != me {
                        break devs[v].user();
                    }
                };
                commit(&mut devs, &room, c, |d| {
                    d.client.remove_users(&room, &[victim.as_str()]).unwrap()
                });
            }
            _ => commit(&mut devs, &room, c, |d| {
                d.client.self_update(&room).unwrap()
            }),
        }
        // A random member stores a file under the current room content key.
        let members: Vec<usize> = (0..DEVICES)
            .filter(|&i| is_member(&devs[i], &room))
            .collect();
        let poster = members[rng.below(members.len())];
        let key = [step as u8; 32];
        let id = format!("file-{step}");
        let w = devs[poster]
            .client
            .wrap_file_key(&room, &id, &FileKey::from_bytes(key))
            .unwrap();
        files.push((id, w, key));
    }

    // Finally everyone outside joins, in one commit.
    let members: Vec<usize> = (0..DEVICES)
        .filter(|&i| is_member(&devs[i], &room))
        .collect();
    let outsiders: Vec<usize> = (0..DEVICES)
        .filter(|&i| !is_member(&devs[i], &room))
        .collect();
    if !outsiders.is_empty() {
        let kps: Vec<Vec<u8>> = outsiders.iter().map(|&o| devs[o].kp()).collect();
        commit(&mut devs, &room, members[0], |d| {
            d.client.add_members(&room, &kps).unwrap()
        });
    }
    for d in devs.iter_mut() {
        d.reopen();
    }
    let auth = devs[0].client.epoch_authenticator(&room).unwrap();
    for d in &devs {
        assert!(is_member(d, &room));
        assert_eq!(d.client.epoch_authenticator(&room).unwrap(), auth);
        assert_eq!(d.client.members(&room).unwrap().len(), DEVICES);
        for (id, w, key) in &files {
            assert_eq!(
                d.client
                    .unwrap_file_key(&room, id, w)
                    .unwrap()
                    .expose_bytes(),
                *key
            );
        }
    }
    // Everyone reads everyone.
    for s in 0..DEVICES {
        let msg = devs[s]
            .client
            .post(
                &room,
                Label::Customer,
                Content::Text(TextMessage {
                    thread_id: "all".into(),
                    message_id: format!("m{s}"),
                    reply_to: None,
                    body: format!("from {s}"),
                    expires_at: None,
                    sent_at: None,
                }),
            )
            .unwrap();
        for (r, d) in devs.iter_mut().enumerate() {
            if r == s {
                continue;
            }
            let ev = d.client.process(&room, &msg).unwrap();
            assert!(
                matches!(&ev[..], [RoomEvent::Content { content: Content::Text(t), .. }] if t.body == format!("from {s}")),
                "{r} reading {s}: {ev:?}"
            );
        }
    }
}
