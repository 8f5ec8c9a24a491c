//! Rooms on the real relay over HTTP: room registration from MLS, key packages, welcomes,
//! messages with cursors, membership learned from commits and enforced on every room and blob
//! route, malformed MLS input answered with 400.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;

use sealroom_tests::relay::{Client, Relay};
use sealroom_tests::rooms::{b64, bytes, post_handshake, upload_key_packages, MlsDevice};

struct Setup {
    relay: Relay,
    space_id: String,
    staff: MlsDevice,
    customer: MlsDevice,
}

fn setup() -> Setup {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let org = relay.create_customer_org(&admin, "Customer Ltd");
    let staff = relay.add_staff(&admin, "Sam");
    let space_id = relay.create_space(&staff, &org);
    let customer = relay.add_customer(&staff, &space_id, "Cleo");
    Setup {
        staff: MlsDevice::new(&staff),
        customer: MlsDevice::new(&customer),
        relay,
        space_id,
    }
}

#[test]
fn room_lifecycle_membership_and_enforcement() {
    let s = setup();
    let staff_http = s.relay.client(&s.staff.device);
    let cust_http = s.relay.client(&s.customer.device);

    // Key packages: upload, count, claim (consumed).
    upload_key_packages(&cust_http, &s.customer, 2);
    assert_eq!(cust_http.get("/v1/keypackages").json()["available"], 2);
    let claimed = staff_http.post_json(
        &format!("/v1/users/{}/keypackages/claim", s.customer.device.user_id),
        &json!({}),
    );
    assert_eq!(claimed.status, 200, "{}", claimed.text());
    let kp_b64 = claimed.json()["key_packages"][0]["key_package"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(cust_http.get("/v1/keypackages").json()["available"], 1);
    // A key package of another device is refused.
    let r = staff_http.post_json(
        "/v1/keypackages",
        &json!({ "key_packages": [b64(&s.customer.key_package())] }),
    );
    assert_eq!(r.status, 403, "{}", r.text());

    // Staff registers a room.
    let mut group = s.staff.create_group();
    let r = staff_http.post_json("/v1/rooms", &s.staff.create_room_body(&group, &s.space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    let room_id = r.json()["room_id"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["epoch"], 0);
    // The customer is not a member yet: 403 on every room route.
    for path in [
        format!("/v1/rooms/{room_id}"),
        format!("/v1/rooms/{room_id}/handshakes"),
        format!("/v1/rooms/{room_id}/messages"),
        format!("/v1/rooms/{room_id}/blobs"),
    ] {
        assert_eq!(cust_http.get(&path).status, 403, "{path}");
    }

    // Staff adds the customer with the claimed key package; the welcome lands in the mailbox.
    let kp = sealroom_tests::rooms::validated_key_package(
        &s.staff.provider,
        &sealroom_tests::rooms::unb64(&kp_b64),
    );
    let (commit, welcome, _) = group
        .add_members(&s.staff.provider, &s.staff.signer, &[kp])
        .unwrap();
    // Without the welcome: 400.
    assert_eq!(
        post_handshake(&staff_http, &room_id, &commit, None).status,
        400
    );
    let r = post_handshake(&staff_http, &room_id, &commit, Some(&welcome));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["epoch"], 1);
    group.merge_pending_commit(&s.staff.provider).unwrap();
    let welcomes = cust_http.get("/v1/welcomes").json();
    let entry = &welcomes["entries"][0];
    assert_eq!(entry["room_id"], room_id.as_str());
    let mut cust_group = s.customer.join(entry["welcome"].as_str().unwrap());
    let id = entry["id"].as_u64().unwrap();
    assert_eq!(cust_http.delete(&format!("/v1/welcomes/{id}")).status, 204);
    assert_eq!(cust_http.delete(&format!("/v1/welcomes/{id}")).status, 404);
    let info = cust_http.get(&format!("/v1/rooms/{room_id}")).json();
    assert_eq!(info["members"].as_array().unwrap().len(), 2);

    // Messages in order with a cursor.
    for i in 0..3u8 {
        let m = cust_group
            .create_message(&s.customer.provider, &s.customer.signer, &[i])
            .unwrap();
        let r = cust_http.post_json(
            &format!("/v1/rooms/{room_id}/messages"),
            &json!({ "message": b64(&bytes(&m)) }),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["seq"], u64::from(i) + 1);
    }
    let page = staff_http
        .get(&format!("/v1/rooms/{room_id}/messages?after=1&limit=10"))
        .json();
    let seqs: Vec<u64> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3]);
    assert_eq!(page["next_after"], 3);
    let hs = cust_http
        .get(&format!("/v1/rooms/{room_id}/handshakes?after=0"))
        .json();
    assert_eq!(hs["entries"].as_array().unwrap().len(), 1);
    assert_eq!(hs["entries"][0]["kind"], "commit");

    // Malformed MLS bytes: 400 everywhere, never 500.
    let junk = b64(b"\x00\x01\x00\x03not mls at all");
    for (path, body) in [
        (
            "/v1/rooms".to_owned(),
            json!({ "space_id": s.space_id, "group_info": junk, "ratchet_tree": junk }),
        ),
        (
            format!("/v1/rooms/{room_id}/handshakes"),
            json!({ "message": junk }),
        ),
        (
            format!("/v1/rooms/{room_id}/messages"),
            json!({ "message": junk }),
        ),
        (
            "/v1/keypackages".to_owned(),
            json!({ "key_packages": [junk] }),
        ),
        (
            format!("/v1/rooms/{room_id}/messages"),
            json!({ "message": "***not base64***" }),
        ),
        (
            format!("/v1/rooms/{room_id}/handshakes"),
            json!({ "nope": 1 }),
        ),
    ] {
        let r = cust_http.post_json(&path, &body);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
    }
    // An application message is not a handshake, a commit is not an application message.
    let m = cust_group
        .create_message(&s.customer.provider, &s.customer.signer, b"x")
        .unwrap();
    assert_eq!(post_handshake(&cust_http, &room_id, &m, None).status, 400);

    // A blob the customer can read while a member.
    let r = cust_http.post_json(
        &format!("/v1/rooms/{room_id}/blobs"),
        &json!({ "length": 3 }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let blob_id = r.json()["blob_id"].as_str().unwrap().to_owned();

    // Staff removes the customer: from now on every room and blob route answers 403.
    let leaf = group
        .members()
        .find(|m| m.signature_key == s.customer.device.key.verifying_key().to_bytes().to_vec())
        .unwrap()
        .index;
    let (remove, _, _) = group
        .remove_members(&s.staff.provider, &s.staff.signer, &[leaf])
        .unwrap();
    let r = post_handshake(&staff_http, &room_id, &remove, None);
    assert_eq!(r.status, 201, "{}", r.text());
    group.merge_pending_commit(&s.staff.provider).unwrap();
    assert_removed(&cust_http, &room_id, &blob_id);
    // Staff still reads.
    assert_eq!(
        staff_http
            .get(&format!("/v1/rooms/{room_id}/messages"))
            .status,
        200
    );
    drop(cust_group);
}

/// Method, path, body and extra headers of one request.
type Case<'a> = (&'a str, String, Vec<u8>, Vec<(&'a str, &'a str)>);

fn assert_removed(client: &Client, room_id: &str, blob_id: &str) {
    let blob = format!("/v1/rooms/{room_id}/blobs/{blob_id}");
    let cases: Vec<Case<'_>> = vec![
        ("GET", format!("/v1/rooms/{room_id}"), vec![], vec![]),
        (
            "GET",
            format!("/v1/rooms/{room_id}/handshakes"),
            vec![],
            vec![],
        ),
        (
            "GET",
            format!("/v1/rooms/{room_id}/messages"),
            vec![],
            vec![],
        ),
        (
            "POST",
            format!("/v1/rooms/{room_id}/messages"),
            serde_json::to_vec(&json!({ "message": b64(b"x") })).unwrap(),
            vec![("content-type", "application/json")],
        ),
        (
            "POST",
            format!("/v1/rooms/{room_id}/handshakes"),
            serde_json::to_vec(&json!({ "message": b64(b"x") })).unwrap(),
            vec![("content-type", "application/json")],
        ),
        ("GET", format!("/v1/rooms/{room_id}/blobs"), vec![], vec![]),
        (
            "POST",
            format!("/v1/rooms/{room_id}/blobs"),
            serde_json::to_vec(&json!({ "length": 1 })).unwrap(),
            vec![("content-type", "application/json")],
        ),
        ("GET", blob.clone(), vec![], vec![]),
        ("HEAD", blob.clone(), vec![], vec![]),
        ("GET", format!("{blob}/status"), vec![], vec![]),
        (
            "PATCH",
            blob.clone(),
            b"abc".to_vec(),
            vec![
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", "0"),
            ],
        ),
        ("DELETE", blob.clone(), vec![], vec![]),
    ];
    for (method, path, body, headers) in cases {
        let r = client.request(method, &path, &headers, &body);
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
    }
}
