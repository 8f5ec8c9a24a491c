//! Denial-of-service bounds of the real relay, one test per bound, each with small configured
//! limits:
//! - failed authentications count per source address, never per claimed device: garbage sent
//!   from one address in a victim device's name locks out that address, not the victim;
//! - size, time window, device existence and nonce freshness are checked from the headers
//!   alone: the test sends only the head of such a request and gets its answer without ever
//!   sending the body (a relay that waited for the body would never answer);
//! - message and handshake pages are capped in bytes as well as in count;
//! - per-user and per-space hourly message quotas (count and bytes) answer 429 with
//!   `Retry-After`; a per-user blob quota answers 413;
//! - abandoned uploads of any length, zero included, expire and are deleted;
//! - blob appends in flight are bounded per instance, but neither senders that name no device
//!   nor stalled uploads (in a real device's name or by a member itself) keep an honest
//!   member's append from its permit: heads are checked before a permit is taken, one sender
//!   holds at most 4 permits, and a body that does not arrive in time is a 408;
//! - `/metrics` answers admin devices only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use openmls::prelude::MlsGroup;
use serde_json::{json, Value};

use sealroom_tests::relay::{
    http, http_from, http_raw, now, request_bytes, Client, Relay, Response,
};
use sealroom_tests::rooms::{b64, bytes, MlsDevice};

/// A second loopback address: requests from it come from another source for the relay.
const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.code(), code, "{}", r.text());
}

/// A staff user's room: the staff device (with its MLS side and group), its client, the room.
struct Room {
    mls: MlsDevice,
    group: MlsGroup,
    client: Client,
    room_id: String,
}

fn room(relay: &Relay) -> Room {
    let (staff, space_id) = relay.staffed_space("Dos Ltd", "Poster");
    room_of(relay, staff, &space_id)
}

fn room_of(relay: &Relay, staff: sealroom_tests::relay::Device, space_id: &str) -> Room {
    let mls = MlsDevice::new(&staff);
    let client = relay.client(&staff);
    let group = mls.create_group();
    let r = client.post_json("/v1/rooms", &mls.create_room_body(&group, space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    let room_id = r.json()["room_id"].as_str().unwrap().to_owned();
    Room {
        mls,
        group,
        client,
        room_id,
    }
}

impl Room {
    /// Posts an application message carrying `payload`.
    fn post(&mut self, payload: &[u8]) -> Response {
        let m = self
            .group
            .create_message(&self.mls.provider, &self.mls.signer, payload)
            .unwrap();
        self.client.post_json(
            &format!("/v1/rooms/{}/messages", self.room_id),
            &json!({ "message": b64(&bytes(&m)) }),
        )
    }

    fn messages(&self, query: &str) -> Value {
        let r = self
            .client
            .get(&format!("/v1/rooms/{}/messages?{query}", self.room_id));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }
}

fn seqs(page: &Value) -> Vec<u64> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn garbage_in_a_victims_name_locks_out_the_sender_not_the_victim() {
    let relay = Relay::start_with(&[("SEALROOM_AUTH_FAILURES_PER_MINUTE", "5")]);
    let addr = relay.addr();
    let admin = relay.bootstrap_admin();
    let victim = relay.client(&admin);
    assert_eq!(victim.get("/v1/me").status, 200);

    // The attacker, from another address, sends requests naming the victim's device with
    // garbage signatures, many more than the limit.
    let ts = now().to_string();
    let garbage = "ab".repeat(64);
    let headers = [
        ("x-sealroom-device", admin.device_id.as_str()),
        ("x-sealroom-timestamp", ts.as_str()),
        ("x-sealroom-nonce", "00112233445566778899aabbccddeeff"),
        ("x-sealroom-signature", garbage.as_str()),
    ];
    let statuses: Vec<u16> = (0..12)
        .map(|_| {
            http_from(ATTACKER, addr, "GET", "/v1/me", &headers, b"")
                .unwrap()
                .status
        })
        .collect();
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let r = http_from(ATTACKER, addr, "GET", "/v1/me", &headers, b"").unwrap();
    assert_error(&r, 429, "rate_limited");
    // Retry-After is what is left of the address's one-minute failure window.
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");

    // The victim, from its own address, is not locked out.
    for _ in 0..3 {
        let r = victim.get("/v1/me");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Nor are the victim's valid requests counted as failures: many of them stay fine.
    for _ in 0..10 {
        assert_eq!(victim.get("/v1/me").status, 200);
    }
    // The attacker's address stays blocked, even for a correctly signed request of its own.
    let signed = victim.signed_headers("GET", "/v1/me", &[], b"", victim.fresh_timestamp());
    let signed: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_error(
        &http_from(ATTACKER, addr, "GET", "/v1/me", &signed, b"").unwrap(),
        429,
        "rate_limited",
    );
}

/// Sends only the head of a request that announces `length` body bytes, never the body, and
/// returns the relay's answer (which must therefore come from the headers alone).
fn head_only(
    relay: &Relay,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: u64,
) -> Response {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {length}\r\n",
        relay.addr()
    );
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    http_raw(relay.addr(), raw.as_bytes()).expect("an answer without the body")
}

#[test]
fn size_time_device_and_nonce_are_checked_before_the_body() {
    let relay = Relay::start_with(&[
        ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ("SEALROOM_MAX_CHUNK", "65536"),
    ]);
    let r = room(&relay);
    let blobs = format!("/v1/rooms/{}/blobs", r.room_id);
    let created = r.client.post_json(&blobs, &json!({ "length": 100_000 }));
    assert_eq!(created.status, 201, "{}", created.text());
    let path = format!("{blobs}/{}", created.json()["blob_id"].as_str().unwrap());
    let octets = ("content-type", "application/offset+octet-stream");
    let append_headers = [octets, ("upload-offset", "0")];
    let sign = |ts: i64, length: usize| {
        // The signature covers a body nobody sends; only the headers travel.
        r.client
            .signed_headers("PATCH", &path, &append_headers, &vec![0u8; length], ts)
    };
    let with = |signed: &[(String, String)]| -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = append_headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        all.extend(signed.iter().cloned());
        all
    };
    let send = |h: &[(String, String)], length: u64| {
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        head_only(&relay, "PATCH", &path, &h, length)
    };

    // Size: 1 GiB announced on a route that takes 64 KiB, validly signed or not.
    let signed = with(&sign(r.client.fresh_timestamp(), 10));
    assert_error(&send(&signed, 1 << 30), 413, "too_large");
    assert_error(&send(&[], 1 << 30), 413, "too_large");
    // Time: a stale timestamp.
    let signed = with(&sign(now() - 3600, 1000));
    assert_error(&send(&signed, 1000), 401, "unauthenticated");
    // Device: an unknown device id.
    let mut unknown = with(&sign(r.client.fresh_timestamp(), 1000));
    for (k, v) in &mut unknown {
        if k == "x-sealroom-device" {
            *v = "0".repeat(32);
        }
    }
    assert_error(&send(&unknown, 1000), 401, "unauthenticated");
    // Nonce: a signature whose nonce was already accepted.
    let body = vec![7u8; 1000];
    let signed = r.client.signed_headers(
        "PATCH",
        &path,
        &append_headers,
        &body,
        r.client.fresh_timestamp(),
    );
    let all = with(&signed);
    let h: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let first = http(relay.addr(), "PATCH", &path, &h, &body).unwrap();
    assert_eq!(first.status, 204, "{}", first.text());
    assert_error(&send(&all, 1000), 401, "unauthenticated");
    // Nothing of the head-only requests was stored.
    let status = r.client.get(&format!("{path}/status")).json();
    assert_eq!(status["offset"], 1000);
}

/// Opens a connection from `source`, sends `request` but only the first `sent` bytes of its
/// body (`request` is head and body), and leaves it open, stalled.
fn stall_from(source: IpAddr, addr: SocketAddr, request: &[u8], sent: usize) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        socket.connect(addr).await.unwrap().into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let head_end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (&stream).write_all(&request[..head_end + sent]).unwrap();
    stream
}

/// The status and error code the relay answered on a stalled connection (it answers and closes
/// it; the rest of the body is never sent).
fn answer(mut stream: TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let code = text
        .split("\"code\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_owned();
    (status, code)
}

#[test]
fn slow_and_stalled_uploads_do_not_keep_an_honest_append_from_its_permit() {
    const PERMITS: usize = 16;
    let relay = Relay::start_with(&[
        ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ("SEALROOM_MAX_CONCURRENT_APPENDS", "16"),
        ("SEALROOM_APPEND_BODY_TIMEOUT_SECS", "10"),
    ]);
    let addr = relay.addr();
    let (staff, space_id) = relay.staffed_space("Dos Ltd", "Poster");
    // Mallory: a customer of the space with a device of her own, not in the room.
    let mallory = relay.client(&relay.add_customer(&staff, &space_id, "Mallory"));
    let r = room_of(&relay, staff, &space_id);
    let blobs = format!("/v1/rooms/{}/blobs", r.room_id);
    let created = r.client.post_json(&blobs, &json!({ "length": 100_000 }));
    assert_eq!(created.status, 201, "{}", created.text());
    let path = format!("{blobs}/{}", created.json()["blob_id"].as_str().unwrap());
    let append_headers = [
        ("content-type", "application/offset+octet-stream"),
        ("upload-offset", "0"),
    ];
    let body = vec![5u8; 1000];
    // An append whose head carries `signed` (the body announced: 1000 bytes).
    let request = |signed: &[(String, String)]| {
        let mut h: Vec<(&str, &str)> = append_headers.to_vec();
        h.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        request_bytes(addr, "PATCH", &path, &h, &body)
    };
    let honest_append = |offset: usize| {
        r.client
            .append_blob(&path, offset, &[offset as u8 + 1; 100])
    };

    // 1. More slow uploads than permits from senders naming no device of the relay (no
    //    signature, an unknown device): each is answered 401 from its head while it stalls.
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let mut unknown = r.client.signed_headers(
        "PATCH",
        &path,
        &append_headers,
        &body,
        r.client.fresh_timestamp(),
    );
    for (k, v) in &mut unknown {
        if k == "x-sealroom-device" {
            *v = "0".repeat(32);
        }
    }
    let stalled: Vec<TcpStream> = (0..PERMITS + 4)
        .map(|i| {
            let req = if i % 2 == 0 {
                request(&[])
            } else {
                request(&unknown)
            };
            stall_from(attacker, addr, &req, 10)
        })
        .collect();
    for s in stalled {
        assert_eq!(answer(s), (401, "unauthenticated".to_owned()));
    }
    let a = honest_append(0);
    assert_eq!(a.status, 204, "{}", a.text());

    // 2. More stalled uploads than permits in real devices' names, from the attacker's
    //    address: the member's device (a signature that cannot match the body: Mallory has no
    //    key of it) and Mallory's own device (validly signed heads). Each sender holds at most
    //    4 permits; the rest are refused 503. The member's append, from its own address, gets
    //    a permit while they all stall.
    let mut stalled = Vec::new();
    for i in 0..PERMITS + 4 {
        let signer = if i % 2 == 0 { &r.client } else { &mallory };
        let signed = signer.signed_headers("PATCH", &path, &append_headers, &body, now());
        stalled.push(stall_from(attacker, addr, &request(&signed), 10));
    }
    let a = honest_append(100);
    assert_eq!(a.status, 204, "{}", a.text());
    // The stalled ones that held a permit time out (408, nothing stored, the permit freed);
    // the others were refused 503 (their bodies read and dropped up to the same deadline).
    let answers: Vec<(u16, String)> = stalled.into_iter().map(answer).collect();
    let timed_out = answers
        .iter()
        .filter(|a| **a == (408, "request_timeout".to_owned()))
        .count();
    let refused = answers
        .iter()
        .filter(|a| **a == (503, "unavailable".to_owned()))
        .count();
    assert_eq!(timed_out, 8, "{answers:?}");
    assert_eq!(refused, PERMITS + 4 - 8, "{answers:?}");
    let status = r.client.get(&format!("{path}/status")).json();
    assert_eq!(status["offset"], 200, "{status}");

    // 3. The member's own upload stalls (a validly signed head, part of the body): a 408 at
    //    the deadline frees its permit, nothing of it is stored, and the upload goes on.
    let mut own = Vec::new();
    for _ in 0..4 {
        let signed = r.client.signed_headers(
            "PATCH",
            &path,
            &[
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", "200"),
            ],
            &body,
            r.client.fresh_timestamp(),
        );
        let mut h: Vec<(&str, &str)> = vec![
            ("content-type", "application/offset+octet-stream"),
            ("upload-offset", "200"),
        ];
        h.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let req = request_bytes(addr, "PATCH", &path, &h, &body);
        own.push(stall_from(IpAddr::V4(Ipv4Addr::LOCALHOST), addr, &req, 500));
    }
    for s in own {
        assert_eq!(answer(s), (408, "request_timeout".to_owned()));
    }
    let a = honest_append(200);
    assert_eq!(a.status, 204, "{}", a.text());
    let status = r.client.get(&format!("{path}/status")).json();
    assert_eq!(status["offset"], 300, "{status}");
}

#[test]
fn pages_are_capped_in_bytes_as_well_as_count() {
    let relay = Relay::start_with(&[
        ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ("SEALROOM_MAX_PAGE_BYTES", "4096"),
    ]);
    let mut r = room(&relay);
    // Six messages of 1000 bytes each (stored as base64 inside JSON: about 1.6 KiB each, so
    // two fit in 4 KiB and three do not).
    for i in 0..6u8 {
        let p = r.post(&vec![i; 1000]);
        assert_eq!(p.status, 201, "{}", p.text());
    }
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let page = r.messages(&format!("after={after}&limit=100"));
        let got = seqs(&page);
        if got.is_empty() {
            break;
        }
        assert!(
            serde_json::to_vec(&page["entries"]).unwrap().len() <= 4096 + 512,
            "page of {} entries too large",
            got.len()
        );
        after = page["next_after"].as_u64().unwrap();
        pages.push(got);
    }
    // Every message arrives exactly once, two per page.
    assert_eq!(pages, vec![vec![1, 2], vec![3, 4], vec![5, 6]]);
    // A single entry larger than the cap still comes, alone.
    let p = r.post(&vec![9u8; 6000]);
    assert_eq!(p.status, 201, "{}", p.text());
    let page = r.messages("after=6&limit=100");
    assert_eq!(seqs(&page), vec![7]);
    // The count limit still applies.
    assert_eq!(seqs(&r.messages("after=0&limit=1")), vec![1]);
}

fn quota_relay(env: &[(&str, &str)]) -> Relay {
    let mut all = vec![("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000")];
    all.extend_from_slice(env);
    Relay::start_with(&all)
}

fn assert_quota(r: &Response, which: &str) {
    assert_error(r, 429, "quota_exceeded");
    assert!(r.text().contains(which), "{}", r.text());
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
}

#[test]
fn hourly_message_count_quota_per_user() {
    let relay = quota_relay(&[("SEALROOM_USER_MESSAGES_PER_HOUR", "3")]);
    let mut r = room(&relay);
    for _ in 0..3 {
        assert_eq!(r.post(b"hi").status, 201);
    }
    assert_quota(&r.post(b"hi"), "user:");
    assert_eq!(seqs(&r.messages("after=0")), vec![1, 2, 3]);
}

#[test]
fn refused_messages_are_not_charged_to_the_quota() {
    let relay = quota_relay(&[("SEALROOM_USER_MESSAGES_PER_HOUR", "2")]);
    let mut r = room(&relay);
    let path = format!("/v1/rooms/{}/messages", r.room_id);
    // Not an MLS message, and a valid one that would expire in the past: refused, not stored,
    // and (since issue 24) not charged either.
    for _ in 0..4 {
        let bad = r
            .client
            .post_json(&path, &json!({ "message": b64(b"not an MLS message") }));
        assert_eq!(bad.status, 400, "{}", bad.text());
    }
    let m = r
        .group
        .create_message(&r.mls.provider, &r.mls.signer, b"late")
        .unwrap();
    let late = r.client.post_json(
        &path,
        &json!({ "message": b64(&bytes(&m)), "expires_at": 1 }),
    );
    assert_eq!(late.status, 400, "{}", late.text());
    // The whole budget is still there.
    for _ in 0..2 {
        let p = r.post(b"hi");
        assert_eq!(p.status, 201, "{}", p.text());
    }
    assert_quota(&r.post(b"hi"), "user:");
}

#[test]
fn hourly_message_count_quota_per_space() {
    let relay = quota_relay(&[("SEALROOM_SPACE_MESSAGES_PER_HOUR", "2")]);
    let mut r = room(&relay);
    for _ in 0..2 {
        assert_eq!(r.post(b"hi").status, 201);
    }
    assert_quota(&r.post(b"hi"), "space:");
}

#[test]
fn hourly_message_byte_quota_per_user() {
    let relay = quota_relay(&[("SEALROOM_USER_MESSAGE_BYTES_PER_HOUR", "3000")]);
    let mut r = room(&relay);
    assert_eq!(r.post(&[1u8; 1000]).status, 201);
    assert_quota(&r.post(&[1u8; 2500]), "user:");
    // A smaller message still fits the remaining budget.
    assert_eq!(r.post(&[1u8; 100]).status, 201);
}

#[test]
fn hourly_message_byte_quota_per_space() {
    let relay = quota_relay(&[("SEALROOM_SPACE_MESSAGE_BYTES_PER_HOUR", "3000")]);
    let mut r = room(&relay);
    assert_eq!(r.post(&[1u8; 1000]).status, 201);
    assert_quota(&r.post(&[1u8; 2500]), "space:");
}

#[test]
fn blob_bytes_quota_per_user() {
    let relay = quota_relay(&[("SEALROOM_MAX_USER_BLOB_BYTES", "1000")]);
    let r = room(&relay);
    let blobs = format!("/v1/rooms/{}/blobs", r.room_id);
    let a = r.client.post_json(&blobs, &json!({ "length": 600 }));
    assert_eq!(a.status, 201, "{}", a.text());
    assert_error(
        &r.client.post_json(&blobs, &json!({ "length": 401 })),
        413,
        "too_large",
    );
    // Deleting frees the reservation.
    let a_path = format!("{blobs}/{}", a.json()["blob_id"].as_str().unwrap());
    assert_eq!(r.client.delete(&a_path).status, 204);
    assert_eq!(
        r.client
            .post_json(&blobs, &json!({ "length": 1000 }))
            .status,
        201
    );
}

#[test]
fn abandoned_uploads_of_any_length_expire() {
    let relay = quota_relay(&[
        ("SEALROOM_UPLOAD_TTL_SECS", "1"),
        ("SEALROOM_UPLOAD_SWEEP_SECS", "1"),
    ]);
    let r = room(&relay);
    let blobs = format!("/v1/rooms/{}/blobs", r.room_id);
    let mut paths = Vec::new();
    for length in [0, 10] {
        let c = r.client.post_json(&blobs, &json!({ "length": length }));
        assert_eq!(c.status, 201, "{}", c.text());
        assert_eq!(c.json()["complete"], false, "{}", c.text());
        assert!(c.header("upload-expires").is_some());
        paths.push(format!("{blobs}/{}", c.json()["blob_id"].as_str().unwrap()));
    }
    // The sweep deletes both; wait for it (bounded, not a timing assertion).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let gone = paths
            .iter()
            .all(|p| r.client.get(&format!("{p}/status")).status == 404);
        if gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "abandoned uploads were not deleted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let list = r.client.get(&blobs).json();
    assert_eq!(list["blobs"].as_array().unwrap().len(), 0, "{list}");
}

#[test]
fn a_zero_length_upload_is_finished_by_an_empty_append() {
    let relay = quota_relay(&[]);
    let r = room(&relay);
    let blobs = format!("/v1/rooms/{}/blobs", r.room_id);
    let c = r.client.post_json(&blobs, &json!({ "length": 0 }));
    assert_eq!(c.status, 201, "{}", c.text());
    let path = format!("{blobs}/{}", c.json()["blob_id"].as_str().unwrap());
    // Unfinished: not downloadable yet.
    assert_eq!(r.client.get(&path).status, 409);
    let a = r.client.request(
        "PATCH",
        &path,
        &[
            ("content-type", "application/offset+octet-stream"),
            ("upload-offset", "0"),
        ],
        b"",
    );
    assert_eq!(a.status, 204, "{}", a.text());
    assert_eq!(a.header("upload-expires"), None);
    let status = r.client.get(&format!("{path}/status")).json();
    assert_eq!(status["complete"], true, "{status}");
    let d = r.client.get(&path);
    assert_eq!(d.status, 200, "{}", d.text());
    assert!(d.body.is_empty());
}

#[test]
fn metrics_are_for_admins() {
    let relay = quota_relay(&[]);
    let admin = relay.bootstrap_admin();
    let staff = relay.add_staff(&admin, "Sam");
    assert_error(&relay.anon().get("/metrics"), 401, "unauthenticated");
    assert_error(&relay.client(&staff).get("/metrics"), 403, "forbidden");
    let m = relay.client(&admin).get("/metrics");
    assert_eq!(m.status, 200, "{}", m.text());
    assert!(
        m.text().contains("sealroom_http_requests_total"),
        "{}",
        m.text()
    );
}

#[test]
fn metrics_on_a_separate_listener_leave_the_api_listener() {
    // A free port for the metrics listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let relay = quota_relay(&[("SEALROOM_METRICS_LISTEN", metrics_addr.as_str())]);
    let admin = relay.bootstrap_admin();
    assert_error(&relay.client(&admin).get("/metrics"), 404, "not_found");
    let m = http(metrics_addr.parse().unwrap(), "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(m.status, 200, "{}", m.text());
    assert!(
        m.text().contains("sealroom_http_requests_total"),
        "{}",
        m.text()
    );
    let other = http(metrics_addr.parse().unwrap(), "GET", "/v1/me", &[], b"").unwrap();
    assert_eq!(other.status, 404);
}
