//! Regressions found by the HTTP API fuzzing (`scripts/test-api.sh`, schemathesis) against the
//! real relay binary:
//! - a 405 answer carries an `Allow` header with the path's methods (RFC 9110) next to the JSON
//!   error body;
//! - names (organisation, user, device) are limited to 200 characters, as the error message and
//!   `docs/api/openapi.yaml` say, not 200 bytes: 200 non-ASCII characters are accepted;
//! - the paged room logs (handshakes, messages) refuse unknown query parameters with 400 instead
//!   of ignoring them;
//! - room, key-package and blob bodies refuse unknown fields with 400 `malformed` (as account
//!   bodies always did) and store nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;

use sealroom_tests::relay::Relay;
use sealroom_tests::rooms::{b64, MlsDevice};

#[test]
fn method_not_allowed_lists_the_allowed_methods() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let anon = relay.anon();
    for (method, path, allow) in [
        ("TRACE", "/v1/me", "GET"),
        ("PUT", "/v1/spaces", "GET, POST"),
        (
            "POST",
            "/v1/rooms/abc/blobs/0123",
            "GET, HEAD, PATCH, DELETE",
        ),
        ("DELETE", "/healthz", "GET"),
    ] {
        let r = anon.request(method, path, &[], b"");
        assert_eq!(r.status, 405, "{method} {path}: {}", r.text());
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
        assert_eq!(r.code(), "method_not_allowed");
    }
    // Signed requests get the same answer.
    let r = relay.client(&admin).request("PATCH", "/v1/me", &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    // Other errors carry no Allow header.
    let r = anon.get("/v1/no-such-route");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("allow"), None);
}

#[test]
fn names_are_limited_in_characters_not_bytes() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let client = relay.client(&admin);
    let long: String = "é".repeat(200); // 400 bytes of UTF-8
    let r = client.post_json("/v1/orgs", &json!({ "name": long }));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["name"], long);
    let too_long: String = "é".repeat(201);
    let r = client.post_json("/v1/orgs", &json!({ "name": too_long }));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.code(), "bad_request");
    let ascii: String = "a".repeat(201);
    let r = client.post_json("/v1/orgs", &json!({ "name": ascii }));
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn paged_room_logs_refuse_unknown_query_parameters() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let client = relay.client(&admin);
    for kind in ["messages", "handshakes"] {
        let path = format!("/v1/rooms/0123456789abcdef0123456789abcdef/{kind}");
        // Known parameters reach the handler (this room does not exist).
        let r = client.get(&format!("{path}?after=3&limit=5"));
        assert_eq!(r.status, 404, "{kind}: {}", r.text());
        let r = client.get(&format!("{path}?after=3&limt=5"));
        assert_eq!(r.status, 400, "{kind}: {}", r.text());
        assert_eq!(r.code(), "malformed", "{kind}");
    }
}

#[test]
fn room_and_blob_bodies_refuse_unknown_fields() {
    let relay = Relay::start();
    let (staff, space_id) = relay.staffed_space("Fields Ltd", "Owner");
    let creator = MlsDevice::new(&staff);
    let client = relay.client(&staff);
    let group = creator.create_group();

    let mut body = creator.create_room_body(&group, &space_id);
    body["title"] = json!("Q3 contract");
    let r = client.post_json("/v1/rooms", &body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.code(), "malformed");
    assert!(
        r.text().contains("title"),
        "the error names the field: {}",
        r.text()
    );
    body.as_object_mut().unwrap().remove("title");
    let r = client.post_json("/v1/rooms", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let room_id = r.json()["room_id"].as_str().unwrap().to_owned();

    let kp = b64(&creator.key_package());
    for (path, body) in [
        (
            format!("/v1/rooms/{room_id}/handshakes"),
            json!({ "message": "AAAA", "welcome": null, "extra": 1 }),
        ),
        (
            format!("/v1/rooms/{room_id}/messages"),
            json!({ "message": "AAAA", "extra": 1 }),
        ),
        (
            format!("/v1/rooms/{room_id}/blobs"),
            json!({ "length": 10, "extra": 1 }),
        ),
        (
            "/v1/keypackages".to_owned(),
            json!({ "key_packages": [kp], "extra": 1 }),
        ),
    ] {
        let r = client.post_json(&path, &body);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(r.code(), "malformed", "{path}");
        assert!(r.text().contains("extra"), "{path}: {}", r.text());
    }
    // Nothing was stored by the refused calls.
    let h = client
        .get(&format!("/v1/rooms/{room_id}/handshakes"))
        .json();
    assert_eq!(h["entries"].as_array().unwrap().len(), 0, "{h}");
    let m = client.get(&format!("/v1/rooms/{room_id}/messages")).json();
    assert_eq!(m["entries"].as_array().unwrap().len(), 0, "{m}");
    let b = client.get(&format!("/v1/rooms/{room_id}/blobs")).json();
    assert_eq!(b["blobs"].as_array().unwrap().len(), 0, "{b}");
    let count = client.get("/v1/keypackages").json();
    assert_eq!(count["available"], 0, "{count}");
}
