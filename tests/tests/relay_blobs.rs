//! Blobs on the real relay: a resumable upload survives a connection cut mid-append and a
//! `kill -9` of the relay mid-upload; the downloaded bytes hash identically. Also: offset
//! conflicts (409), checksum mismatch (400), ranged downloads (206, 416), the per-space size
//! limit checked up front (413), deletion removes the bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use sha2::{Digest, Sha256};

use sealroom_tests::relay::{send_partial, Client, Relay};
use sealroom_tests::rooms::{b64, MlsDevice};

const CHUNK: usize = 256 * 1024;

fn room(relay: &Relay) -> (Client, String) {
    let (staff, space_id) = relay.staffed_space("Blob Ltd", "Uploader");
    let device = MlsDevice::new(&staff);
    let client = relay.client(&staff);
    let group = device.create_group();
    let r = client.post_json("/v1/rooms", &device.create_room_body(&group, &space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    (client, r.json()["room_id"].as_str().unwrap().to_owned())
}

fn offset(client: &Client, path: &str) -> usize {
    let r = client.request("HEAD", path, &[], b"");
    assert_eq!(r.status, 200);
    r.header("upload-offset").unwrap().parse().unwrap()
}

#[test]
fn upload_survives_connection_cut_and_kill9() {
    let mut relay = Relay::start();
    let (client, room_id) = room(&relay);
    let data: Vec<u8> = (0..(5 * CHUNK + 1234))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let r = client.post_json(
        &format!("/v1/rooms/{room_id}/blobs"),
        &json!({ "length": data.len() }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let blob_id = r.json()["blob_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/rooms/{room_id}/blobs/{blob_id}");

    // First chunk.
    assert_eq!(client.append_blob(&path, 0, &data[..CHUNK]).status, 204);
    assert_eq!(offset(&client, &path), CHUNK);

    // A connection cut in the middle of the second append: nothing of it counts.
    let body = &data[CHUNK..2 * CHUNK];
    let offset_text = CHUNK.to_string();
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
        "PATCH {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/offset+octet-stream\r\nupload-offset: {CHUNK}\r\ncontent-length: {}\r\n",
        relay.addr(),
        body.len()
    );
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    send_partial(relay.addr(), &head, body, body.len() / 2).unwrap();
    assert_eq!(offset(&client, &path), CHUNK);

    // Wrong offset: 409 with the stored offset; bad checksum: 400.
    let r = client.append_blob(&path, 2 * CHUNK, &data[2 * CHUNK..3 * CHUNK]);
    assert_eq!(r.status, 409);
    assert_eq!(r.header("upload-offset"), Some(CHUNK.to_string().as_str()));
    let r = client.request(
        "PATCH",
        &path,
        &[
            ("content-type", "application/offset+octet-stream"),
            ("upload-offset", &CHUNK.to_string()),
            ("upload-checksum", &format!("sha256 {}", b64(&[0u8; 32]))),
        ],
        &data[CHUNK..2 * CHUNK],
    );
    assert_eq!(r.status, 400, "{}", r.text());

    // Resume, then kill -9 the relay mid-upload and resume after restart.
    assert_eq!(
        client
            .append_blob(&path, CHUNK, &data[CHUNK..3 * CHUNK])
            .status,
        204
    );
    // An append is in flight (head and half its body sent, connection open) when the relay
    // is killed.
    let body = &data[3 * CHUNK..4 * CHUNK];
    let offset_text = (3 * CHUNK).to_string();
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
        "PATCH {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/offset+octet-stream\r\nupload-offset: {}\r\ncontent-length: {}\r\n",
        relay.addr(),
        3 * CHUNK,
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
    let mut at = offset(&client, &path);
    assert_eq!(at, 3 * CHUNK, "acknowledged bytes survive kill -9");
    while at < data.len() {
        let end = (at + CHUNK).min(data.len());
        let r = client.append_blob(&path, at, &data[at..end]);
        assert_eq!(r.status, 204, "{}", r.text());
        at = end;
    }
    let status = client.get(&format!("{path}/status")).json();
    assert_eq!(status["complete"], true);

    // The bytes hash identically; ranges work.
    let r = client.get(&path);
    assert_eq!(r.status, 200);
    assert_eq!(Sha256::digest(&r.body), Sha256::digest(&data));
    let r = client.request("GET", &path, &[("range", "bytes=10-19")], b"");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[10..20]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 10-19/{}", data.len()).as_str())
    );
    let r = client.request("GET", &path, &[("range", "bytes=-5")], b"");
    assert_eq!(r.body, &data[data.len() - 5..]);
    let r = client.request(
        "GET",
        &path,
        &[("range", &format!("bytes={}-", data.len()))],
        b"",
    );
    assert_eq!(r.status, 416);

    // Deleting the blob deletes its bytes (the file, or the bucket's object).
    assert!(relay.finished_blob(&blob_id).as_deref() == Some(&data[..]));
    assert_eq!(client.delete(&path).status, 204);
    assert_eq!(relay.finished_blob(&blob_id), None);
    assert_eq!(client.get(&path).status, 404);
}

#[test]
fn space_size_limit_is_checked_up_front() {
    let relay = Relay::start_with(&[
        ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ("SEALROOM_MAX_SPACE_BYTES", "1000"),
    ]);
    let (client, room_id) = room(&relay);
    let create = |n: u64| {
        client.post_json(
            &format!("/v1/rooms/{room_id}/blobs"),
            &json!({ "length": n }),
        )
    };
    assert_eq!(create(1001).status, 413);
    assert_eq!(create(600).status, 201);
    assert_eq!(create(500).status, 413);
    assert_eq!(create(400).status, 201);
}
