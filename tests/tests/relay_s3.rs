//! Blobs in S3-compatible storage: the real relay binary on a real SeaweedFS (started by
//! `scripts/services/seaweedfs.sh`). Uploads of 0 B, 1 B, 5 MiB - 1, 5 MiB and 12 MiB in uneven
//! appends come back byte-identical, whole and in ranges, from the bucket (nothing in the data
//! directory); an upload resumes at the acknowledged offset after a SIGKILL of the relay in the
//! middle of an append; expiry aborts the multipart upload and removes the pending tail;
//! deletion removes the object.
//!
//! Without an S3 service these tests fail under `CI=true` and say loudly that they skipped
//! otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;

use sealroom_tests::backend::{s3_folder as folder, s3_object as object};
use sealroom_tests::relay::{s3_relay_env, Client, Relay};
use sealroom_tests::rooms::MlsDevice;

const MIB: usize = 1024 * 1024;

/// One test at a time: the expiry test tells its multipart upload apart by what appeared in
/// the bucket while it ran.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

type S3 = (
    std::sync::MutexGuard<'static, ()>,
    Vec<(String, String)>,
    SocketAddr,
    String,
);

/// The relay's S3 variables and the filer address (holding [`SERIAL`]), or `None` (a loud
/// skip) outside CI.
fn s3() -> Option<S3> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    match s3_relay_env() {
        Ok(vars) => {
            let get = |k: &str| {
                vars.iter()
                    .find(|(name, _)| name == k)
                    .map(|(_, v)| v.clone())
                    .unwrap()
            };
            let filer = get("SEALROOM_TEST_S3_FILER");
            let filer: SocketAddr = filer.trim_start_matches("http://").parse().unwrap();
            let bucket = get("SEALROOM_S3_BUCKET");
            Some((guard, vars, filer, bucket))
        }
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("these tests need S3 (scripts/services/seaweedfs.sh): {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: no S3 service for relay_s3 ({e})");
            None
        }
    }
}

fn start(vars: &[(String, String)], extra: &[(&str, &str)]) -> Relay {
    let mut env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"));
    env.extend_from_slice(extra);
    Relay::start_with(&env)
}

fn room(relay: &Relay) -> (Client, String) {
    let (staff, space_id) = relay.staffed_space("S3 Ltd", "Uploader");
    let device = MlsDevice::new(&staff);
    let client = relay.client(&staff);
    let group = device.create_group();
    let r = client.post_json("/v1/rooms", &device.create_room_body(&group, &space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    (client, r.json()["room_id"].as_str().unwrap().to_owned())
}

fn data(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32 ^ seed).wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn offset(client: &Client, path: &str) -> usize {
    let r = client.request("HEAD", path, &[], b"");
    assert_eq!(r.status, 200);
    r.header("upload-offset").unwrap().parse().unwrap()
}

/// Uneven append sizes: around the 5 MiB part size and far from it.
const STEPS: [usize; 6] = [MIB + 7, 3 * MIB - 5, 700_001, 5 * MIB + 3, 1, 2 * MIB + 333];

fn create(client: &Client, room_id: &str, len: usize) -> (String, String) {
    let r = client.post_json(
        &format!("/v1/rooms/{room_id}/blobs"),
        &json!({ "length": len }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let blob_id = r.json()["blob_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/rooms/{room_id}/blobs/{blob_id}");
    (blob_id, path)
}

/// Appends `data[from..]` in [`STEPS`]-sized pieces (an empty append for an empty blob).
fn upload_rest(client: &Client, path: &str, data: &[u8], from: usize, step0: usize) {
    let mut at = from;
    let mut step = step0;
    if data.is_empty() {
        let r = client.append_blob(path, 0, b"");
        assert_eq!(r.status, 204, "{}", r.text());
    }
    while at < data.len() {
        let end = (at + STEPS[step % STEPS.len()]).min(data.len());
        let r = client.append_blob(path, at, &data[at..end]);
        assert_eq!(r.status, 204, "append at {at}: {}", r.text());
        at = end;
        step += 1;
    }
}

fn check_download(client: &Client, path: &str, data: &[u8]) {
    let r = client.get(path);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.len(), data.len());
    assert!(r.body == data, "download differs");
    if data.len() > 2 {
        let (a, b) = (data.len() / 3, data.len() - 2);
        let r = client.request("GET", path, &[("range", &format!("bytes={a}-{b}"))], b"");
        assert_eq!(r.status, 206);
        assert!(r.body == data[a..=b], "range differs");
        let r = client.request("GET", path, &[("range", "bytes=-1")], b"");
        assert_eq!(r.body, &data[data.len() - 1..]);
    }
}

#[test]
fn uploads_of_every_size_round_trip_through_the_bucket() {
    let Some((_serial, vars, filer, bucket)) = s3() else {
        return;
    };
    let relay = start(&vars, &[]);
    let (client, room_id) = room(&relay);
    for (i, len) in [0, 1, 5 * MIB - 1, 5 * MIB, 12 * MIB]
        .into_iter()
        .enumerate()
    {
        let data = data(len, i as u32);
        let (blob_id, path) = create(&client, &room_id, len);
        upload_rest(&client, &path, &data, 0, i);
        let status = client.get(&format!("{path}/status")).json();
        assert_eq!(status["complete"], true, "{len}");
        check_download(&client, &path, &data);
        // The bytes are the bucket's object, and no pending tail is left behind.
        assert!(
            object(filer, &bucket, &format!("blobs/{blob_id}")).as_deref() == Some(&data[..]),
            "object of {len} bytes"
        );
        assert!(folder(filer, &bucket, &format!("uploads/{blob_id}")).is_empty());
    }
    // Nothing of the blobs is in the data directory.
    let blob_files: Vec<_> = sealroom_tests::relay::files_under(&relay.data_dir())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "blob"))
        .collect();
    assert!(blob_files.is_empty(), "{blob_files:?}");
}

#[test]
fn an_upload_resumes_at_the_acknowledged_offset_after_sigkill() {
    let Some((_serial, vars, filer, bucket)) = s3() else {
        return;
    };
    let mut relay = start(&vars, &[]);
    let (client, room_id) = room(&relay);
    let data = data(12 * MIB + 12_345, 99);
    let (blob_id, path) = create(&client, &room_id, data.len());
    // 1 MiB + 7, then 3 MiB - 5 (a pending tail), then 700,001 (still pending), then
    // 5 MiB + 3: the first part goes out, the rest stays pending.
    let mut at = 0;
    for step in &STEPS[..4] {
        let r = client.append_blob(&path, at, &data[at..at + step]);
        assert_eq!(r.status, 204, "{}", r.text());
        at += step;
    }
    assert_eq!(offset(&client, &path), at);

    // An append is in flight (head and half its body sent) when the relay is SIGKILLed.
    let body = &data[at..at + 2 * MIB];
    let offset_text = at.to_string();
    let headers = client.signed_headers(
        "PATCH",
        &path,
        &[
            ("content-type", "application/offset+octet-stream"),
            ("upload-offset", &offset_text),
        ],
        body,
        sealroom_tests::relay::now(),
    );
    let mut head = format!(
        "PATCH {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/offset+octet-stream\r\nupload-offset: {at}\r\ncontent-length: {}\r\n",
        relay.addr(),
        body.len()
    );
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut in_flight = std::net::TcpStream::connect(relay.addr()).unwrap();
    std::io::Write::write_all(&mut in_flight, head.as_bytes()).unwrap();
    std::io::Write::write_all(&mut in_flight, &body[..body.len() / 2]).unwrap();
    std::io::Write::flush(&mut in_flight).unwrap();
    relay.kill9();
    drop(in_flight);
    relay.restart();
    let client = Client {
        addr: relay.addr(),
        device: client.device.clone(),
    };
    assert_eq!(
        offset(&client, &path),
        at,
        "acknowledged bytes survive SIGKILL"
    );
    upload_rest(&client, &path, &data, at, 4);
    check_download(&client, &path, &data);
    assert!(object(filer, &bucket, &format!("blobs/{blob_id}")).as_deref() == Some(&data[..]));

    // Deletion removes the object.
    assert_eq!(client.delete(&path).status, 204);
    assert_eq!(object(filer, &bucket, &format!("blobs/{blob_id}")), None);
    assert_eq!(client.get(&path).status, 404);
}

#[test]
fn expiry_aborts_the_multipart_upload_and_removes_the_tail() {
    let Some((_serial, vars, filer, bucket)) = s3() else {
        return;
    };
    let relay = start(
        &vars,
        &[
            ("SEALROOM_UPLOAD_TTL_SECS", "3"),
            ("SEALROOM_UPLOAD_SWEEP_SECS", "1"),
        ],
    );
    let (client, room_id) = room(&relay);
    let data = data(12 * MIB, 7);
    let uploads_before = folder(filer, &bucket, ".uploads");
    let (blob_id, path) = create(&client, &room_id, data.len());
    // 6 MiB: one 5 MiB part (a multipart upload exists) and a 1 MiB pending tail.
    let r = client.append_blob(&path, 0, &data[..6 * MIB]);
    assert_eq!(r.status, 204, "{}", r.text());
    let ours: Vec<String> = folder(filer, &bucket, ".uploads")
        .into_iter()
        .filter(|u| !uploads_before.contains(u))
        .collect();
    assert!(!ours.is_empty(), "a multipart upload was started");
    assert_eq!(
        folder(filer, &bucket, &format!("uploads/{blob_id}")).len(),
        1,
        "one pending tail"
    );

    // The sweep deletes the expired upload: its record, the multipart upload, the tail. An
    // expired upload answers 404 at once, before the sweep has run: wait for the bucket too.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let gone = client.request("HEAD", &path, &[], b"").status == 404;
        let left = folder(filer, &bucket, ".uploads");
        let aborted = ours.iter().all(|u| !left.contains(u));
        let tail_gone = folder(filer, &bucket, &format!("uploads/{blob_id}")).is_empty();
        if gone && aborted && tail_gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 60 s: upload gone {gone}, multipart aborted {aborted}, tail removed {tail_gone}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(object(filer, &bucket, &format!("blobs/{blob_id}")), None);
}
