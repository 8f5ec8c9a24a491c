//! Three relay binaries on one PostgreSQL (scripts/services/postgres.sh starts the test cluster;
//! under CI a missing PostgreSQL fails these tests), with clients spreading their requests over
//! the instances: a signed request replayed on another instance is refused, concurrent commits
//! for one epoch sent to different instances end as exactly one commit, and messages posted
//! while one instance is killed with SIGKILL are all there when they were acknowledged, each
//! with its one entry in an audit chain that verifies.
//!
//! The instances share the store (one PostgreSQL schema) and the relay key file (the key that
//! seals relay secrets at rest); each has its own data directory. With the S3 bucket of the
//! tests (scripts/services/seaweedfs.sh) they also share blobs: an upload started on one
//! instance continues on the others after the first is killed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use openmls::prelude::{LeafNodeParameters, OpenMlsProvider as _};
use serde_json::json;

use sealroom_tests::cluster::Cluster;
use sealroom_tests::relay::{http_raw, Client, Device, Response};
use sealroom_tests::rooms::{b64, bytes, MlsDevice};

fn cluster(org: &str) -> Cluster {
    Cluster::start::<&str, &str>(org, &[])
}

/// `device`'s client for instance `i`.
fn on(cluster: &Cluster, i: usize, device: &Device) -> Client {
    cluster.on(i, device)
}

/// Sends `signed` (headers made for `authority`) to `addr` with `Host: authority`.
fn send_as(addr: SocketAddr, authority: &str, path: &str, signed: &[(String, String)]) -> Response {
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n");
    for (k, v) in signed {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
    http_raw(addr, head.as_bytes()).unwrap()
}

#[test]
fn a_request_replayed_on_another_instance_is_refused() {
    let c = cluster("Replay Ltd");
    let staff = c.staff.clone();
    // State is shared: the account made through instance 0 works on 1 and 2.
    for i in 1..3 {
        let r = on(&c, i, &staff).get("/v1/me");
        assert_eq!(r.status, 200, "instance {i}: {}", r.text());
    }
    let authority = c.relays[0].addr().to_string();
    let client = on(&c, 0, &staff);
    let signed = client.signed_headers("GET", "/v1/me", &[], b"", client.fresh_timestamp());
    // First use on instance 1 (a load balancer may send it anywhere): accepted.
    let first = send_as(c.relays[1].addr(), &authority, "/v1/me", &signed);
    assert_eq!(first.status, 200, "{}", first.text());
    // The attacker replays the captured request on the other instances: refused everywhere.
    for i in [2, 0, 1] {
        let again = send_as(c.relays[i].addr(), &authority, "/v1/me", &signed);
        assert_eq!(
            again.status,
            401,
            "replay on instance {i}: {}",
            again.text()
        );
    }
}

#[test]
fn racing_commits_on_different_instances_make_one_commit_per_epoch() {
    let c = cluster("Race Ltd");
    let (staff, space_id) = (c.staff.clone(), c.space_id.clone());
    let mls = MlsDevice::new(&staff);
    for round in 0..6 {
        let mut group = mls.create_group();
        let r = on(&c, round % 3, &staff)
            .post_json("/v1/rooms", &mls.create_room_body(&group, &space_id));
        assert_eq!(r.status, 201, "{}", r.text());
        let room = r.json()["room_id"].as_str().unwrap().to_owned();
        // Two different commits for epoch 0 of the same room.
        let mut commits = Vec::new();
        for _ in 0..2 {
            group.clear_pending_commit(mls.provider.storage()).unwrap();
            let bundle = group
                .self_update(&mls.provider, &mls.signer, LeafNodeParameters::default())
                .unwrap();
            commits.push(b64(&bytes(bundle.commit())));
        }
        let handles: Vec<_> = commits
            .into_iter()
            .enumerate()
            .map(|(k, commit)| {
                let client = on(&c, (round + k + 1) % 3, &staff);
                let path = format!("/v1/rooms/{room}/handshakes");
                std::thread::spawn(move || client.post_json(&path, &json!({ "message": commit })))
            })
            .collect();
        let statuses: Vec<u16> = handles
            .into_iter()
            .map(|h| h.join().unwrap().status)
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "round {round}: {statuses:?}"
        );
        for i in 0..3 {
            let info = on(&c, i, &staff).get(&format!("/v1/rooms/{room}"));
            assert_eq!(info.status, 200, "{}", info.text());
            assert_eq!(info.json()["epoch"], 1, "round {round}, instance {i}");
        }
    }
}

#[test]
fn messages_acknowledged_while_an_instance_is_killed_are_all_there() {
    let mut c = cluster("Kill Ltd");
    let (staff, space_id) = (c.staff.clone(), c.space_id.clone());
    let mls = MlsDevice::new(&staff);
    let mut group = mls.create_group();
    let r = on(&c, 1, &staff).post_json("/v1/rooms", &mls.create_room_body(&group, &space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    let room = r.json()["room_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/rooms/{room}/messages");
    let mut messages: Vec<String> = (0..360)
        .map(|i| {
            let m = group
                .create_message(&mls.provider, &mls.signer, format!("m{i}").as_bytes())
                .unwrap();
            b64(&bytes(&m))
        })
        .collect();
    // A writer that keeps posting to instance 2 until it stops answering.
    let doomed = on(&c, 2, &staff);
    // Many more than the main loop sends, so it is still posting when its instance dies.
    let doomed_messages = messages.split_off(60);
    let doomed_path = path.clone();
    let writer = std::thread::spawn(move || {
        let mut acked = BTreeMap::new();
        'posting: for m in doomed_messages {
            // 409 "concurrent change, retry" (two instances allocating the room's next seq at
            // once) is answered as a client would: the same message again.
            for _ in 0..50 {
                match doomed.try_request(
                    "POST",
                    &doomed_path,
                    &[("content-type", "application/json")],
                    json!({ "message": m }).to_string().as_bytes(),
                ) {
                    Ok(r) if r.status == 201 => {
                        acked.insert(r.json()["seq"].as_u64().unwrap(), m);
                        continue 'posting;
                    }
                    Ok(r) if r.status == 409 => {}
                    _ => break 'posting,
                }
            }
            break;
        }
        acked
    });
    let mut acked = BTreeMap::new();
    for (i, m) in messages.into_iter().enumerate() {
        if i == 20 {
            c.relays[2].kill9();
        }
        let mut r = on(&c, i % 2, &staff).post_json(&path, &json!({ "message": m }));
        // The relay's 409 "concurrent change, retry" is retried, as a client does.
        for _ in 0..50 {
            if r.status != 409 {
                break;
            }
            r = on(&c, i % 2, &staff).post_json(&path, &json!({ "message": m }));
        }
        assert_eq!(r.status, 201, "{}", r.text());
        acked.insert(r.json()["seq"].as_u64().unwrap(), m);
    }
    acked.extend(writer.join().unwrap());
    for i in 0..2 {
        let page = on(&c, i, &staff).get(&format!("{path}?after=0&limit=1000"));
        assert_eq!(page.status, 200, "{}", page.text());
        let stored: BTreeMap<u64, String> = page.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["seq"].as_u64().unwrap(),
                    e["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        for (seq, m) in &acked {
            assert_eq!(
                stored.get(seq),
                Some(m),
                "acknowledged message {seq} on instance {i}"
            );
        }
    }
    // Every acknowledged message has its one audit entry, whichever instance took it (the
    // killed one included: its entries were committed with the messages, unlinked, and the
    // other instances link them), and the chain verifies.
    let admin = c.admin.clone();
    let audited = audited_seqs(&on(&c, 0, &admin), &room);
    for seq in acked.keys() {
        assert_eq!(
            audited.get(seq),
            Some(&1),
            "audit entries of acknowledged message {seq}"
        );
    }
    let verify = on(&c, 1, &admin).get("/v1/audit/verify");
    assert_eq!(verify.status, 200, "{}", verify.text());
    assert_eq!(verify.json()["ok"], true, "{}", verify.text());
    // The killed instance comes back on the same store and serves the same room.
    c.relays[2].launch();
    let r = on(&c, 2, &staff).get(&format!("/v1/rooms/{room}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let verify = on(&c, 2, &admin).get("/v1/audit/verify");
    assert_eq!(verify.json()["ok"], true, "{}", verify.text());
}

/// How many `message.post` audit entries name each sequence number of `room`.
fn audited_seqs(client: &Client, room: &str) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    let mut after = 0u64;
    loop {
        let r = client.get(&format!(
            "/v1/audit?action=message.post&object={room}&after={after}&limit=1000"
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        for e in page["entries"].as_array().unwrap() {
            let detail = e["detail"].as_str().unwrap_or_default();
            let seq = detail
                .split_whitespace()
                .find_map(|w| w.strip_prefix("seq="))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no seq in {detail:?}"));
            *counts.entry(seq).or_insert(0) += 1;
        }
        match page["next_after"].as_u64() {
            Some(n) => after = n,
            None => return counts,
        }
    }
}

#[test]
fn an_upload_started_on_one_instance_finishes_on_another() {
    let s3 = sealroom_tests::relay::s3_relay_env()
        .unwrap_or_else(|e| panic!("this scale-out test needs S3 (seaweedfs.sh): {e}"));
    let mut c = Cluster::start("Blob Ltd", &s3);
    let (staff, space_id) = (c.staff.clone(), c.space_id.clone());
    let mls = MlsDevice::new(&staff);
    let group = mls.create_group();
    let r = on(&c, 0, &staff).post_json("/v1/rooms", &mls.create_room_body(&group, &space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    let room = r.json()["room_id"].as_str().unwrap().to_owned();
    const MIB: usize = 1024 * 1024;
    let data: Vec<u8> = (0..9 * MIB + 12_345)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let r = on(&c, 0, &staff).post_json(
        &format!("/v1/rooms/{room}/blobs"),
        &json!({ "length": data.len() }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let blob_id = r.json()["blob_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/rooms/{room}/blobs/{blob_id}");
    // 3 MiB on instance 0 (below the 5 MiB part: pending in the bucket), 3 MiB on instance 1
    // (the first part goes out from there), then instance 0 dies.
    let first = 3 * MIB;
    let r = on(&c, 0, &staff).append_blob(&path, 0, &data[..first]);
    assert_eq!(r.status, 204, "{}", r.text());
    let second = first + 3 * MIB;
    let r = on(&c, 1, &staff).append_blob(&path, first, &data[first..second]);
    assert_eq!(r.status, 204, "{}", r.text());
    c.relays[0].kill9();
    // Instance 2 sees the acknowledged offset and finishes the upload.
    let head = on(&c, 2, &staff).request("HEAD", &path, &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("upload-offset")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        second
    );
    let r = on(&c, 2, &staff).append_blob(&path, second, &data[second..]);
    assert_eq!(r.status, 204, "{}", r.text());
    // Instance 1 serves the whole blob and a range, byte for byte.
    let r = on(&c, 1, &staff).get(&path);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == data, "download differs");
    let (a, b) = (4 * MIB + 17, 6 * MIB + 5);
    let r = on(&c, 2, &staff).request("GET", &path, &[("range", &format!("bytes={a}-{b}"))], b"");
    assert_eq!(r.status, 206);
    assert!(r.body == data[a..=b], "range differs");
}
