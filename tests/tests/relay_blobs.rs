//! Blobs on the real relay: a resumable upload survives a connection cut mid-append and a
//! `kill -9` of the relay mid-upload; the downloaded bytes hash identically. Also: offset
//! conflicts (409), checksum mismatch (400), ranged downloads (206, 416), the per-space size
//! limit checked up front (413), deletion removes the bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use sha2::{Digest, Sha256};

use sealroom_tests::relay::{http_raw, request_bytes, send_partial, Client, Relay};
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

/// The bytes of a signed append of `body` at `offset` (sent with [`http_raw`], or replayed).
fn append_bytes(relay: &Relay, client: &Client, path: &str, offset: usize, body: &[u8]) -> Vec<u8> {
    let offset = offset.to_string();
    let mut headers = vec![
        ("content-type", "application/offset+octet-stream"),
        ("upload-offset", offset.as_str()),
    ];
    let signed = client.signed_headers("PATCH", path, &headers, body, sealroom_tests::relay::now());
    headers.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    request_bytes(relay.addr(), "PATCH", path, &headers, body)
}

/// Pipelined appends (`docs/relay.md`, "Appends ahead of the stored offset wait briefly"): an
/// append one chunk ahead of the stored offset waits for it instead of failing, and is stored
/// once the append before it is; while it waits, a replay of an earlier append and of the waiting one are refused, and an append
/// further ahead is refused at once (409 with the stored offset), holding nothing. The stored
/// bytes are exactly the upload's. An append whose predecessor never arrives is refused (409)
/// after its wait, and nothing changed.
#[test]
fn an_append_ahead_waits_for_its_offset_and_replays_change_nothing() {
    let relay = Relay::start_with(&[
        ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ("SEALROOM_MAX_CHUNK", &CHUNK.to_string()),
    ]);
    let (client, room_id) = room(&relay);
    let data: Vec<u8> = (0..4 * CHUNK)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8)
        .collect();
    let r = client.post_json(
        &format!("/v1/rooms/{room_id}/blobs"),
        &json!({ "length": data.len() }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let path = format!(
        "/v1/rooms/{room_id}/blobs/{}",
        r.json()["blob_id"].as_str().unwrap()
    );
    let chunk = |i: usize| &data[i * CHUNK..(i + 1) * CHUNK];

    // Chunk 0 as the SDK sends it; its exact bytes are kept for a replay.
    let first = append_bytes(&relay, &client, &path, 0, chunk(0));
    assert_eq!(http_raw(relay.addr(), &first).unwrap().status, 204);

    // Chunk 1 is on its way: its head and half its body sent, the connection open.
    let second = append_bytes(&relay, &client, &path, CHUNK, chunk(1));
    let held = second.len() - CHUNK / 2;
    let mut in_flight = std::net::TcpStream::connect(relay.addr()).unwrap();
    std::io::Write::write_all(&mut in_flight, &second[..held]).unwrap();

    // Chunk 2 arrives whole before chunk 1: it waits (on a thread), as does its replay.
    let third = append_bytes(&relay, &client, &path, 2 * CHUNK, chunk(2));
    let waiting = {
        let (addr, third) = (relay.addr(), third.clone());
        std::thread::spawn(move || http_raw(addr, &third).unwrap())
    };
    let replayed_waiting = {
        let (addr, third) = (relay.addr(), third.clone());
        std::thread::spawn(move || http_raw(addr, &third).unwrap())
    };
    // A replay of chunk 0 (its nonce is spent): refused, stores nothing.
    let r = http_raw(relay.addr(), &first).unwrap();
    assert_eq!(r.status, 401, "{}", r.text());
    // An append more than one chunk ahead: refused at once with the stored offset.
    let r = client.append_blob(&path, 3 * CHUNK, chunk(3));
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.header("upload-offset"), Some(CHUNK.to_string().as_str()));

    // Chunk 1's body completes: chunk 1, then the waiting chunk 2, are stored; the replay of
    // chunk 2 is refused (its nonce), whichever of the two the relay read first.
    std::io::Write::write_all(&mut in_flight, &second[held..]).unwrap();
    let mut answer = Vec::new();
    std::io::Read::read_to_end(&mut in_flight, &mut answer).unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 204"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let mut statuses = [
        waiting.join().unwrap().status,
        replayed_waiting.join().unwrap().status,
    ];
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 401]);
    assert_eq!(offset(&client, &path), 3 * CHUNK);

    // The last chunk was sent ahead of a predecessor that never comes (a resend of chunk 2
    // is lost): after its wait, 409 with the stored offset; nothing changed.
    let r = client.append_blob(&path, 3 * CHUNK + 1, &chunk(3)[1..]);
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        r.header("upload-offset"),
        Some((3 * CHUNK).to_string().as_str())
    );
    assert_eq!(client.append_blob(&path, 3 * CHUNK, chunk(3)).status, 204);
    let r = client.get(&path);
    assert_eq!(r.status, 200);
    assert_eq!(Sha256::digest(&r.body), Sha256::digest(&data));
}

/// The SDK keeps two appends in flight (`core/src/client/files/upload.rs`); when the first of
/// them fails, the upload still completes from the relay's offset, byte-identical, one
/// document per upload: (1) the relay stores the first append but its answer is lost (the
/// second one is then stored too, so the relay's offset is past the failed append); (2) the
/// first append never reaches the relay (answered 409 by the proxy), so the second waits at
/// the relay until the SDK sends the first again, or is refused after its wait and resent;
/// (3) an upload stopped with two appends sent and none acknowledged resumes, and refuses a
/// changed source; (4) a relay that refuses an append ahead of its offset (as earlier
/// versions did) still gets the whole file.
#[test]
fn the_sdk_recovers_when_one_of_two_appends_in_flight_fails() {
    use sealroom_core::client::NewFile;
    use sealroom_tests::hostile::{Action, HostileRelay, Reply, Rule};
    use sealroom_tests::sdk::StaffSpace;

    let relay = Relay::start();
    let proxy = HostileRelay::start(relay.addr());
    let rt = sealroom_tests::runtime();
    rt.block_on(async {
        let StaffSpace { sam, space_id, .. } =
            StaffSpace::new(&proxy.base_url(), &relay.setup_token()).await;
        // Text-like (the space's policy sniffs it), three windows and a bit.
        let source = |seed: usize| -> Vec<u8> {
            (0..12 * 1024 * 1024 + 5)
                .map(|i| b'a' + ((i * 7 + seed + i / 4093) % 26) as u8)
                .collect()
        };
        let upload = |name: &'static str, bytes: Vec<u8>| {
            let client = &sam.client;
            let space_id = space_id.clone();
            async move {
                let file = NewFile {
                    name: name.into(),
                    ..NewFile::default()
                };
                let version = client
                    .upload_file(&space_id, &file, bytes.len() as u64, &bytes[..], |_, _| {})
                    .await
                    .unwrap();
                let mut got = Vec::new();
                client
                    .download_file(&space_id, &version.file_id, &mut got, |_, _| {})
                    .await
                    .unwrap();
                assert!(got == bytes, "{name}: downloaded byte-identical");
            }
        };

        proxy.add(Rule::new("PATCH", "/v1/rooms/*/blobs/*", Action::Withhold).times(1));
        upload("answer-lost.txt", source(1)).await;
        proxy.clear_rules();

        // Only the first PATCH of the next upload is answered, by the proxy.
        proxy.add(
            Rule::new(
                "PATCH",
                "/v1/rooms/*/blobs/*",
                Action::Respond(std::sync::Arc::new(|_| {
                    Reply::json(
                        409,
                        &json!({ "code": "conflict", "message": "lost on the way" }),
                    )
                })),
            )
            .times(1),
        );
        upload("never-arrived.txt", source(2)).await;

        // (4) The second append is refused for being ahead, as relays before pipelining did
        // (409 with the stored offset): the SDK sends it again, one append at a time from
        // then on.
        proxy.clear_rules();
        proxy.add(
            Rule::new(
                "PATCH",
                "/v1/rooms/*/blobs/*",
                Action::Rewrite(std::sync::Arc::new(|_, _| {})),
            )
            .times(1),
        );
        proxy.add(
            Rule::new(
                "PATCH",
                "/v1/rooms/*/blobs/*",
                Action::Respond(std::sync::Arc::new(|_| {
                    let mut reply =
                        Reply::json(409, &json!({ "code": "conflict", "message": "ahead" }));
                    reply.headers.push(("upload-offset".into(), "0".into()));
                    reply
                })),
            )
            .times(1),
        );
        upload("refused-ahead.txt", source(5)).await;

        // (3) Two windows sent, none acknowledged, then the app stops: a resume with another
        // source is refused (the chain of each window was recorded before it was sent), one
        // with the same source completes.
        proxy.clear_rules();
        let bytes = source(3);
        let mut none = |_: u64, _: u64| {};
        let file = NewFile {
            name: "interrupted.txt".into(),
            ..NewFile::default()
        };
        let mut started = sam
            .client
            .start_upload(&space_id, &file, bytes.len() as u64, &bytes[..4096])
            .await
            .unwrap();
        sam.client
            .upload_push(&mut started, &bytes[..9 << 20], &mut none)
            .await
            .unwrap();
        let id = started.upload_id().to_owned();
        drop(started);
        let err = sam
            .client
            .resume_upload(&id, &source(4)[..], |_, _| {})
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            sealroom_core::client::ClientErrorKind::InvalidInput,
            "{err}"
        );
        sam.client
            .resume_upload(&id, &bytes[..], |_, _| {})
            .await
            .unwrap();

        // One document per upload, one version each: no duplicate.
        let files = sam.client.files(&space_id).unwrap();
        let mut documents: Vec<(&str, u64)> = files
            .iter()
            .map(|f| (f.document_id.as_str(), f.version))
            .collect();
        documents.dedup_by_key(|d| d.0);
        assert_eq!(files.len(), 4, "{files:?}");
        assert_eq!(documents.len(), 4);
        assert!(files.iter().all(|f| f.version == 1));
    });
}
