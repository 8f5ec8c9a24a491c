//! What a request signature covers, tried by an attacker against the real relay: a captured
//! signature replayed with another `Host`, `Range`, `Upload-Offset` or `Content-Type`, a
//! repeated signed header, or a signature of the old `SEALROOM-V1` scheme, is refused (401);
//! the untouched request then still works (its nonce was not used up by the forgery). With a
//! configured public host, only signatures for that host verify. And the SDK's native transport
//! never carries a signature to a non-loopback `http://` URL or along a redirect.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

use ed25519_dalek::Signer;
use serde_json::json;
use sha2::{Digest, Sha256};

use sealroom_core::client::{HttpRequest, HttpTransport, Transport, TransportError};
use sealroom_tests::relay::{http, http_raw, now, Client, Device, Relay, Response};
use sealroom_tests::rooms::{b64, MlsDevice};

/// A room of a fresh staff user: its client, the staff device and the room id.
fn room(relay: &Relay) -> (Client, Device, String) {
    let (staff, space_id) = relay.staffed_space("Sig Ltd", "Signer");
    let device = MlsDevice::new(&staff);
    let client = relay.client(&staff);
    let group = device.create_group();
    let r = client.post_json("/v1/rooms", &device.create_room_body(&group, &space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    (
        client,
        staff,
        r.json()["room_id"].as_str().unwrap().to_owned(),
    )
}

/// Sends a request with an explicit `Host` (raw bytes; `http` always sends the real address).
fn send_with_host(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    http_raw(addr, &bytes).unwrap()
}

/// `sent` plus the signature headers computed over `signed` (the headers the signer saw).
fn forged(
    client: &Client,
    method: &str,
    path: &str,
    signed: &[(&str, &str)],
    sent: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = sent
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    all.extend(client.signed_headers(method, path, signed, body, client.fresh_timestamp()));
    all
}

fn refs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn assert_unauthenticated(r: &Response) {
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.code(), "unauthenticated", "{}", r.text());
}

#[test]
fn a_signature_replayed_with_another_host_or_header_is_refused() {
    let relay = Relay::start();
    let addr = relay.addr();
    let (client, _staff, room_id) = room(&relay);
    let real_host = addr.to_string();

    // Host: signed for the relay's address, sent with another Host.
    let signed = client.signed_headers("GET", "/v1/me", &[], b"", client.fresh_timestamp());
    let h = refs(&signed);
    assert_unauthenticated(&send_with_host(
        addr,
        "evil.example",
        "GET",
        "/v1/me",
        &h,
        b"",
    ));
    assert_unauthenticated(&send_with_host(
        addr,
        &format!("localhost:{}", addr.port()),
        "GET",
        "/v1/me",
        &h,
        b"",
    ));
    // The same signature with the host it was made for still works: the forgeries did not
    // use up its nonce.
    assert_eq!(
        send_with_host(addr, &real_host, "GET", "/v1/me", &h, b"").status,
        200
    );
    // An upload to play with: 20 bytes in two appends.
    let blobs = format!("/v1/rooms/{room_id}/blobs");
    let r = client.post_json(&blobs, &json!({ "length": 20 }));
    assert_eq!(r.status, 201, "{}", r.text());
    let path = format!("{blobs}/{}", r.json()["blob_id"].as_str().unwrap());
    let octets = ("content-type", "application/offset+octet-stream");
    let body: Vec<u8> = (0u8..10).collect();

    // Upload-Offset: signed for offset 0, sent with offset 10 (and the other way round).
    let signed_h = [octets, ("upload-offset", "0")];
    let sent_h = [octets, ("upload-offset", "10")];
    let all = forged(&client, "PATCH", &path, &signed_h, &sent_h, &body);
    assert_unauthenticated(&http(addr, "PATCH", &path, &refs(&all), &body).unwrap());
    // Content-Type: signed as JSON, sent as an append body (and vice versa).
    let signed_h = [("content-type", "application/json"), ("upload-offset", "0")];
    let sent_h = [octets, ("upload-offset", "0")];
    let all = forged(&client, "PATCH", &path, &signed_h, &sent_h, &body);
    assert_unauthenticated(&http(addr, "PATCH", &path, &refs(&all), &body).unwrap());
    let signed_h = [("upload-offset", "0")];
    let all = forged(&client, "PATCH", &path, &signed_h, &sent_h, &body);
    assert_unauthenticated(&http(addr, "PATCH", &path, &refs(&all), &body).unwrap());
    // A signed header sent twice (the second copy unsigned) is refused.
    let signed_h = [octets, ("upload-offset", "0")];
    let sent_h = [octets, ("upload-offset", "0"), ("upload-offset", "10")];
    let all = forged(&client, "PATCH", &path, &signed_h, &sent_h, &body);
    assert_unauthenticated(&http(addr, "PATCH", &path, &refs(&all), &body).unwrap());
    // Upload-Checksum: added by an attacker after signing.
    let sum = format!("sha256 {}", b64(&Sha256::digest(&body)));
    let sent_h = [
        octets,
        ("upload-offset", "0"),
        ("upload-checksum", sum.as_str()),
    ];
    let all = forged(&client, "PATCH", &path, &signed_h, &sent_h, &body);
    assert_unauthenticated(&http(addr, "PATCH", &path, &refs(&all), &body).unwrap());
    // Nothing was stored by the forgeries; the genuine appends work.
    let r = client.request("PATCH", &path, &[octets, ("upload-offset", "0")], &body);
    assert_eq!(r.status, 204, "{}", r.text());
    let r = client.request("PATCH", &path, &[octets, ("upload-offset", "10")], &body);
    assert_eq!(r.status, 204, "{}", r.text());

    // Range: signed for the first 5 bytes, sent asking for others, or for the whole blob.
    let signed_h = [("range", "bytes=0-4")];
    let all = forged(
        &client,
        "GET",
        &path,
        &signed_h,
        &[("range", "bytes=5-9")],
        b"",
    );
    assert_unauthenticated(&http(addr, "GET", &path, &refs(&all), b"").unwrap());
    let all = forged(&client, "GET", &path, &signed_h, &[], b"");
    assert_unauthenticated(&http(addr, "GET", &path, &refs(&all), b"").unwrap());
    let all = forged(&client, "GET", &path, &[], &[("range", "bytes=0-4")], b"");
    assert_unauthenticated(&http(addr, "GET", &path, &refs(&all), b"").unwrap());
    let r = client.request("GET", &path, &[("range", "bytes=5-9")], b"");
    assert_eq!(r.status, 206, "{}", r.text());
    assert_eq!(r.body, &body[5..10]);

    // Content-Type on a JSON route: signed as JSON, sent as text.
    let blob_body = br#"{"length":1}"#;
    let all = forged(
        &client,
        "POST",
        &blobs,
        &[("content-type", "application/json")],
        &[("content-type", "text/plain")],
        blob_body,
    );
    assert_unauthenticated(&http(addr, "POST", &blobs, &refs(&all), blob_body).unwrap());
}

#[test]
fn a_signature_of_the_old_scheme_is_refused() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let client = relay.client(&admin);
    // SEALROOM-V1 covered neither the host nor any header.
    let ts = now();
    let nonce = "00112233445566778899aabbccddeeff";
    let text = format!(
        "SEALROOM-V1\nGET\n/v1/me\n\n{ts}\n{nonce}\n{}",
        hex::encode(Sha256::digest(b""))
    );
    let signature = hex::encode(admin.key.sign(text.as_bytes()).to_bytes());
    let ts_text = ts.to_string();
    let headers = [
        ("x-sealroom-device", admin.device_id.as_str()),
        ("x-sealroom-timestamp", ts_text.as_str()),
        ("x-sealroom-nonce", nonce),
        ("x-sealroom-signature", signature.as_str()),
    ];
    assert_unauthenticated(&http(relay.addr(), "GET", "/v1/me", &headers, b"").unwrap());
    assert_eq!(client.get("/v1/me").status, 200);
}

#[test]
fn a_configured_public_host_is_the_only_signed_authority() {
    let relay = Relay::start_with(&[
        ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ("SEALROOM_PUBLIC_HOST", "Relay.Example"),
    ]);
    let addr = relay.addr();
    let admin = relay.bootstrap_admin();
    // The test client signs for the address it connects to: refused.
    assert_unauthenticated(&relay.client(&admin).get("/v1/me"));
    // Signed for the public host: accepted whatever Host the request arrives with (a reverse
    // proxy may rewrite it).
    let sign_for = |authority: &str| admin.sign("GET", authority, "/v1/me", "", &[], now(), b"");
    let signed = sign_for("relay.example");
    assert_eq!(
        http(addr, "GET", "/v1/me", &refs(&signed), b"")
            .unwrap()
            .status,
        200
    );
    let signed = sign_for("relay.example");
    assert_eq!(
        send_with_host(addr, "relay.example", "GET", "/v1/me", &refs(&signed), b"").status,
        200
    );
    // Another relay's host is refused even when the Host header claims it.
    let signed = sign_for("other.example");
    assert_unauthenticated(&send_with_host(
        addr,
        "other.example",
        "GET",
        "/v1/me",
        &refs(&signed),
        b"",
    ));
}

fn request(url: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: url.into(),
        headers: vec![("x-sealroom-signature".into(), "ab".repeat(64))],
        body: Vec::new(),
    }
}

#[test]
fn the_native_transport_never_follows_a_redirect_nor_sends_in_the_clear() {
    // A loopback server that redirects every request, and records what reaches it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap();
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            stream
                .write_all(
                    b"HTTP/1.1 308 Permanent Redirect\r\nlocation: /elsewhere\r\n\
                      content-length: 0\r\nconnection: close\r\n\r\n",
                )
                .unwrap();
        }
        seen
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let transport = HttpTransport::new().unwrap();
    runtime.block_on(async {
        assert_eq!(
            transport
                .send(request(&format!("http://{addr}/v1/me")))
                .await,
            Err(TransportError::Redirect(308))
        );
        // A second request, so the server thread ends; had the first redirect been followed,
        // this one would be the third to arrive and `/elsewhere` the second.
        assert_eq!(
            transport
                .send(request(&format!("http://{addr}/second")))
                .await,
            Err(TransportError::Redirect(308))
        );
        // Plain HTTP to a host that is not loopback: refused before any connection.
        for url in ["http://relay.example/v1/me", "http://192.0.2.7:8080/v1/me"] {
            assert_eq!(
                transport.send(request(url)).await,
                Err(TransportError::InsecureUrl(url.into()))
            );
        }
    });
    let seen = server.join().unwrap();
    assert!(seen[0].starts_with("GET /v1/me "), "{}", seen[0]);
    assert!(seen[1].starts_with("GET /second "), "{}", seen[1]);
}
