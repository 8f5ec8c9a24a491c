//! Fault injection against the real relay binary: concurrent workers keep uploading blobs
//! (resumable appends), racing MLS commits for the same epoch and posting application messages
//! while the harness kills the relay with SIGKILL after a random delay, restarts it on the same
//! data directory and port, and checks after every restart that:
//! - the store opens: the process starts and `/healthz` answers (otherwise the test fails with
//!   the relay's log);
//! - nothing acknowledged is lost: every message that got a 201 is at its seq with identical
//!   bytes, each poster's messages in posting order, and the message log has no gaps; every
//!   append that got a 204 is covered by the stored offset, the offset is never past the bytes
//!   sent, and the stored bytes up to it hash like the sent ones; every commit that got a 201 is
//!   at its seq in the room's handshake log with identical bytes;
//! - no epoch has two commits: the handshake log is one chain (seqs contiguous, one commit per
//!   epoch, epochs consecutive, the room's epoch right after the last one), and real openmls
//!   clients that process the log (the racers, and an observer that never commits) all end in
//!   the room's epoch with the same epoch authenticator;
//! - the audit hash chain verifies.
//!
//! Requests in flight at the kill may or may not have been applied: only acknowledged ones are
//! checked. Afterwards the clients resume from what the relay has: uploads continue from its
//! offset, committers learn from the log whether their unanswered commit won.
//!
//! The loop runs on either deployment: by default on the embedded one (redb and the blob
//! directory); with `SEALROOM_TEST_BACKEND=postgres SEALROOM_TEST_BLOBS=s3` the relay keeps its
//! records in its own PostgreSQL schema and its blobs in the test S3 bucket, and every check
//! above, the stored upload bytes included (then the S3 upload's pending tail), is made there.
//!
//! `SEALROOM_FAULT_CYCLES` (default 50) sets the number of kill/restart cycles and
//! `SEALROOM_FAULT_SEED` the seed of the kill delays, pauses, payload sizes and blob bytes (the
//! seed is printed first; thread scheduling and MLS randomness are not seeded, so a seed replays
//! the kill schedule, not the exact interleaving). Run with `--nocapture` to see every cycle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openmls::prelude::{LeafNodeParameters, MlsGroup, OpenMlsProvider as _};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use sealroom_tests::relay::{Client, Device, Relay, Response};
use sealroom_tests::rooms::{b64, bytes, unb64, validated_key_package, MlsDevice};

mod workers;
use workers::*;

const DEFAULT_CYCLES: usize = 50;
/// Kill delays after the workers start, in milliseconds.
const KILL_DELAY_MS: (u64, u64) = (50, 900);
const RACERS: usize = 3;
const POSTERS: usize = 2;
const UPLOADERS: usize = 2;

/// Every entry of a paged log (`handshakes` or `messages`).
fn whole_log(client: &Client, room: &str, log: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0u64;
    loop {
        let r = client
            .try_request(
                "GET",
                &format!("/v1/rooms/{room}/{log}?after={after}&limit=500"),
                &[],
                b"",
            )
            .unwrap();
        assert_eq!(r.status, 200, "{log}: {}", r.text());
        let page = r.json();
        let entries = page["entries"].as_array().unwrap().clone();
        if entries.is_empty() {
            return out;
        }
        after = page["next_after"].as_u64().unwrap();
        out.extend(entries);
    }
}

/// The commit log is one chain and holds every acknowledged commit; returns the room's epoch.
fn check_commit_chain(client: &Client, room: &str, acked: &[AckedCommit]) -> u64 {
    let log = whole_log(client, room, "handshakes");
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1, "handshake seqs are not contiguous");
        assert_eq!(e["kind"], "commit");
        // The room was created at epoch 0: commit n was sent in epoch n-1.
        assert_eq!(
            e["epoch"],
            i as u64,
            "handshake {} is not the one commit of epoch {i}: {log:?}",
            i + 1
        );
    }
    let info = client
        .try_request("GET", &format!("/v1/rooms/{room}"), &[], b"")
        .unwrap();
    assert_eq!(info.status, 200, "{}", info.text());
    let info = info.json();
    assert_eq!(info["epoch"], log.len() as u64, "room epoch vs log");
    assert_eq!(info["handshake_seq"], log.len() as u64, "room seq vs log");
    for a in acked {
        let e = log.get(a.seq as usize - 1).unwrap_or_else(|| {
            panic!(
                "acknowledged commit {} (epoch {}) is missing; the log has {} entries",
                a.seq,
                a.sent_epoch,
                log.len()
            )
        });
        assert_eq!(e["epoch"], a.sent_epoch, "acknowledged commit {}", a.seq);
        assert!(
            unb64(e["message"].as_str().unwrap()) == a.message,
            "acknowledged commit {} was replaced by another",
            a.seq
        );
    }
    log.len() as u64
}

/// Every acknowledged message is at its seq with identical bytes and sender; the log has no
/// gaps; an unanswered message is either stored or not (counted).
fn check_messages(client: &Client, room: &str, posters: &mut [Poster]) {
    let log = whole_log(client, room, "messages");
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1, "message seqs are not contiguous");
    }
    for p in posters.iter_mut() {
        for (seq, message) in &p.acked {
            let e = log.get(*seq as usize - 1).unwrap_or_else(|| {
                panic!(
                    "{}: acknowledged message {seq} is missing; the log has {} entries",
                    p.name,
                    log.len()
                )
            });
            assert_eq!(
                e["sender_device"],
                p.mls.device.device_id.as_str(),
                "{}: message {seq} has another sender",
                p.name
            );
            assert!(
                unb64(e["message"].as_str().unwrap()) == *message,
                "{}: acknowledged message {seq} has other bytes",
                p.name
            );
        }
        if let Some(m) = p.in_flight.take() {
            if log
                .iter()
                .any(|e| unb64(e["message"].as_str().unwrap()) == m)
            {
                p.tally.in_doubt_applied += 1;
            }
        }
    }
}

struct Setup {
    relay: Relay,
    admin: Device,
    commit_room: String,
    message_room: String,
    racers: Vec<Member>,
    observer: Member,
    posters: Vec<Poster>,
    uploaders: Vec<Uploader>,
}

/// The entry of `device`'s welcome mailbox for `room_id`, if there is one.
fn mailbox_welcome(relay: &Relay, device: &Device, room_id: &str) -> Option<Value> {
    let page = relay.client(device).get("/v1/welcomes").json();
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["room_id"] == room_id)
        .cloned()
}

/// A room created by `creator`'s device with `others` added in one commit; returns the room
/// id, the creator's group, and the others' groups joined from their welcomes.
fn room_with(
    relay: &Relay,
    space_id: &str,
    creator: &MlsDevice,
    others: &[&MlsDevice],
) -> (String, MlsGroup, Vec<MlsGroup>) {
    let http = relay.client(&creator.device);
    let mut group = creator.create_group();
    let r = http.post_json("/v1/rooms", &creator.create_room_body(&group, space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    let room_id = r.json()["room_id"].as_str().unwrap().to_owned();
    let packages: Vec<_> = others
        .iter()
        .map(|d| validated_key_package(&creator.provider, &d.key_package()))
        .collect();
    let (commit, welcome, _) = group
        .add_members(&creator.provider, &creator.signer, &packages)
        .unwrap();
    let r = sealroom_tests::rooms::post_handshake(&http, &room_id, &commit, Some(&welcome));
    assert_eq!(r.status, 201, "{}", r.text());
    group.merge_pending_commit(&creator.provider).unwrap();
    let groups = others
        .iter()
        .map(|d| {
            let entry = mailbox_welcome(relay, &d.device, &room_id).unwrap();
            d.join(entry["welcome"].as_str().unwrap())
        })
        .collect();
    (room_id, group, groups)
}

fn setup() -> Setup {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let org = relay.create_customer_org(&admin, "Crash Ltd");
    let staff = relay.add_staff(&admin, "Owner");
    let space_id = relay.create_space(&staff, &org);
    let customer = |name: &str| MlsDevice::new(&relay.add_customer(&staff, &space_id, name));

    // The commit room: racers (the staff owner first) and an observer that never commits.
    let mut racer_devices = vec![MlsDevice::new(&staff)];
    racer_devices.extend((1..RACERS).map(|i| customer(&format!("Racer{i}"))));
    let observer_device = customer("Observer");
    let others: Vec<&MlsDevice> = racer_devices[1..]
        .iter()
        .chain(std::iter::once(&observer_device))
        .collect();
    let (commit_room, owner_group, mut groups) =
        room_with(&relay, &space_id, &racer_devices[0], &others);
    let observer_group = groups.pop().unwrap();
    let member = |mls: MlsDevice, group: MlsGroup, name: String| Member {
        client: relay.client(&mls.device),
        name,
        mls,
        group,
        cursor: 1,
        pending: None,
        acked: Vec::new(),
        tally: Tally::default(),
    };
    let mut racer_groups = vec![owner_group];
    racer_groups.extend(groups);
    let racers: Vec<Member> = racer_devices
        .into_iter()
        .zip(racer_groups)
        .enumerate()
        .map(|(i, (mls, group))| member(mls, group, format!("racer{i}")))
        .collect();
    let observer = member(observer_device, observer_group, "observer".to_owned());

    // The message room: posters, who also upload there.
    let poster_devices: Vec<MlsDevice> = (0..POSTERS)
        .map(|i| customer(&format!("Poster{i}")))
        .collect();
    let others: Vec<&MlsDevice> = poster_devices[1..].iter().collect();
    let (message_room, first_group, groups) =
        room_with(&relay, &space_id, &poster_devices[0], &others);
    let mut poster_groups = vec![first_group];
    poster_groups.extend(groups);
    let uploaders = poster_devices
        .iter()
        .cycle()
        .take(UPLOADERS)
        .enumerate()
        .map(|(i, d)| Uploader {
            name: format!("uploader{i}"),
            client: relay.client(&d.device),
            room: message_room.clone(),
            current: None,
            completed: Vec::new(),
            tally: Tally::default(),
        })
        .collect();
    let posters = poster_devices
        .into_iter()
        .zip(poster_groups)
        .enumerate()
        .map(|(i, (mls, group))| Poster {
            name: format!("poster{i}"),
            client: relay.client(&mls.device),
            mls,
            group,
            acked: Vec::new(),
            in_flight: None,
            tally: Tally::default(),
        })
        .collect();
    Setup {
        relay,
        admin,
        commit_room,
        message_room,
        racers,
        observer,
        posters,
        uploaders,
    }
}

/// Sets the kill flag when dropped (also while a failed check unwinds).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn join<T>(rt: &tokio::runtime::Runtime, h: tokio::task::JoinHandle<T>) -> T {
    match rt.block_on(h) {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("worker: {e}"),
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_at_random_moments() {
    let cycles: usize = std::env::var("SEALROOM_FAULT_CYCLES")
        .ok()
        .map(|v| v.parse().expect("SEALROOM_FAULT_CYCLES is a number"))
        .unwrap_or(DEFAULT_CYCLES);
    let seed: u64 = std::env::var("SEALROOM_FAULT_SEED")
        .ok()
        .map(|v| v.parse().expect("SEALROOM_FAULT_SEED is a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("crash_recovery: seed {seed} (replay the kill schedule with SEALROOM_FAULT_SEED={seed}), {cycles} cycles");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let Setup {
        mut relay,
        admin,
        commit_room,
        message_room,
        mut racers,
        mut observer,
        mut posters,
        mut uploaders,
    } = setup();
    let admin_client = relay.client(&admin);
    let rt = sealroom_tests::runtime();
    let mut restart_ms_max = 0u128;
    let mut in_flight_total = 0u64;

    for cycle in 1..=cycles {
        let killed = Arc::new(AtomicBool::new(false));
        // A failed check must stop the workers too, or the runtime waits for them forever.
        let _stop = StopOnDrop(killed.clone());
        let racer_tasks: Vec<_> = racers
            .drain(..)
            .map(|m| {
                let (room, killed, wrng) = (commit_room.clone(), killed.clone(), rng.fork());
                rt.spawn_blocking(move || run_racer(m, room, killed, wrng))
            })
            .collect();
        let poster_tasks: Vec<_> = posters
            .drain(..)
            .map(|p| {
                let (room, killed, wrng) = (message_room.clone(), killed.clone(), rng.fork());
                rt.spawn_blocking(move || run_poster(p, room, killed, wrng))
            })
            .collect();
        let uploader_tasks: Vec<_> = uploaders
            .drain(..)
            .map(|u| {
                let (killed, wrng) = (killed.clone(), rng.fork());
                rt.spawn_blocking(move || run_uploader(u, killed, wrng))
            })
            .collect();
        let delay = Duration::from_millis(rng.range(KILL_DELAY_MS.0, KILL_DELAY_MS.1));
        rt.block_on(async { tokio::time::sleep(delay).await });
        killed.store(true, Ordering::SeqCst);
        relay.kill9();
        racers = racer_tasks.into_iter().map(|h| join(&rt, h)).collect();
        posters = poster_tasks.into_iter().map(|h| join(&rt, h)).collect();
        uploaders = uploader_tasks.into_iter().map(|h| join(&rt, h)).collect();

        // The store must open again (Relay::launch fails the test with the relay's log).
        let t = Instant::now();
        relay.launch();
        restart_ms_max = restart_ms_max.max(t.elapsed().as_millis());

        let acked: Vec<AckedCommit> = racers.iter().flat_map(|m| m.acked.clone()).collect();
        let epoch = check_commit_chain(&racers[0].client, &commit_room, &acked);
        for m in racers.iter_mut().chain(std::iter::once(&mut observer)) {
            m.catch_up(&commit_room).unwrap();
            assert_eq!(m.epoch(), epoch, "{} after processing the log", m.name);
        }
        let authenticator = observer.authenticator();
        for m in &racers {
            assert!(
                m.authenticator() == authenticator,
                "{} and the observer disagree on epoch {epoch}",
                m.name
            );
        }
        let reader = posters[0].client.clone();
        check_messages(&reader, &message_room, &mut posters);
        for u in uploaders.iter_mut() {
            u.resume(&relay);
        }
        let report = admin_client
            .try_request("GET", "/v1/audit/verify", &[], b"")
            .unwrap();
        assert_eq!(report.status, 200, "{}", report.text());
        assert_eq!(report.json()["ok"], true, "audit chain: {}", report.text());

        let hits: u64 = racers.iter().map(|m| m.tally.in_flight_hits).sum::<u64>()
            + posters.iter().map(|p| p.tally.in_flight_hits).sum::<u64>()
            + uploaders
                .iter()
                .map(|u| u.tally.in_flight_hits)
                .sum::<u64>();
        eprintln!(
            "cycle {cycle}: killed after {} ms; epoch {epoch}; requests hit in flight so far {hits} (+{})",
            delay.as_millis(),
            hits - in_flight_total
        );
        in_flight_total = hits;
    }

    // Every finished blob still downloads with its bytes.
    for u in &uploaders {
        for (blob_id, digest) in &u.completed {
            let r = u
                .client
                .try_request(
                    "GET",
                    &format!("/v1/rooms/{}/blobs/{blob_id}", u.room),
                    &[],
                    b"",
                )
                .unwrap();
            assert_eq!(r.status, 200, "{}: blob {blob_id}: {}", u.name, r.text());
            assert!(
                sha256(&r.body) == *digest,
                "{}: blob {blob_id} changed",
                u.name
            );
        }
    }

    let sum = |tallies: &mut dyn Iterator<Item = Tally>| {
        let mut t = Tally::default();
        for x in tallies {
            t += x;
        }
        t
    };
    let commits = sum(&mut racers.iter().map(|m| m.tally));
    let messages = sum(&mut posters.iter().map(|p| p.tally));
    let uploads = sum(&mut uploaders.iter().map(|u| u.tally));
    let completed: usize = uploaders.iter().map(|u| u.completed.len()).sum();
    eprintln!(
        "crash_recovery: seed {seed}, {cycles} cycles in {:.1} s (slowest restart {restart_ms_max} ms)\n  \
         commits: {} acknowledged, {} refused with 409, {} hit in flight ({} of them stored)\n  \
         messages: {} acknowledged, {} hit in flight ({} of them stored)\n  \
         uploads: {} creations and appends acknowledged, {} blobs finished and verified, {} hit in flight ({} appends of them stored)",
        started.elapsed().as_secs_f64(),
        commits.acked,
        commits.conflicts,
        commits.in_flight_hits,
        commits.in_doubt_applied,
        messages.acked,
        messages.in_flight_hits,
        messages.in_doubt_applied,
        uploads.acked,
        completed,
        uploads.in_flight_hits,
        uploads.in_doubt_applied,
    );
    // The run exercised every kind of write (otherwise it would prove nothing).
    assert!(commits.acked > 0 && commits.conflicts > 0, "{commits:?}");
    assert!(messages.acked > 0, "{messages:?}");
    assert!(uploads.acked > 0 && completed > 0, "{uploads:?}");
}

/// An acknowledged welcome (`DELETE /v1/welcomes/{id}` answered 204) stays deleted when the
/// relay is killed right after the answer: the device already spent its key package on it, so a
/// redelivery after a crash would hand it a welcome it can no longer use.
#[test]
fn an_acknowledged_welcome_is_not_delivered_again_after_sigkill() {
    const JOINERS: usize = 6;
    let mut relay = Relay::start();
    let (staff, space_id) = relay.staffed_space("Welcome Ltd", "Owner");
    let creator = MlsDevice::new(&staff);
    let joiners: Vec<MlsDevice> = (0..JOINERS)
        .map(|i| MlsDevice::new(&relay.add_customer(&staff, &space_id, &format!("Joiner{i}"))))
        .collect();
    let others: Vec<&MlsDevice> = joiners.iter().collect();
    let (room_id, _group, _joined) = room_with(&relay, &space_id, &creator, &others);

    for joiner in &joiners {
        let id = mailbox_welcome(&relay, &joiner.device, &room_id)
            .expect("the welcome is in the mailbox")["id"]
            .as_u64()
            .unwrap();
        let r = relay
            .client(&joiner.device)
            .delete(&format!("/v1/welcomes/{id}"));
        assert_eq!(r.status, 204, "{}", r.text());
        relay.kill9();
        relay.restart();
        let after = relay.client(&joiner.device).get("/v1/welcomes").json();
        let ids: Vec<u64> = after["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect();
        assert!(
            !ids.contains(&id),
            "welcome {id} came back after a crash: {ids:?}"
        );
    }
}
