//! Durability of acknowledged writes against the real relay binary: every write of the store
//! (redb) is committed and synced before the call returns, so an account, device, invitation,
//! space, room handshake, message or blob write is on disk before the relay answers. Each test
//! acknowledges writes, kills the relay with SIGKILL at once (no graceful shutdown), restarts it
//! on the same data directory and uses what was acknowledged. (A power loss, which the commit's
//! fsync also covers, is not shown by any test.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use serde_json::json;

use sealroom_tests::relay::{Device, Relay};
use sealroom_tests::rooms::{b64, bytes, MlsDevice};

#[test]
fn an_account_created_just_before_sigkill_survives() {
    let mut relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let a = relay.client(&admin);
    let r = a.post_json("/v1/invitations", &json!({ "role": "staff" }));
    assert_eq!(r.status, 201, "{}", r.text());
    let token = r.json()["token"].as_str().unwrap().to_owned();
    // The registration is acknowledged; so are an organisation and an invitation (single
    // writes, which the old sled store kept in memory longest); then the relay dies at once.
    let staff = relay.register(&token, "Sam");
    let org = relay.create_customer_org(&admin, "Late Ltd");
    let r = a.post_json("/v1/invitations", &json!({ "role": "staff" }));
    assert_eq!(r.status, 201, "{}", r.text());
    let late_token = r.json()["token"].as_str().unwrap().to_owned();
    relay.kill9();
    relay.restart();
    let me = relay.client(&staff).get("/v1/me");
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["user_id"], staff.user_id.as_str());
    let r = relay.client(&admin).get(&format!("/v1/orgs/{org}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let late = relay.register(&late_token, "Lena");
    assert_eq!(relay.client(&late).get("/v1/me").status, 200);
    // The invitation stays used.
    let again = relay.anon().post_json(
        "/v1/register",
        &json!({ "token": token, "user_name": "Eve", "device_name": "d",
                 "public_key": hex::encode(SigningKey::generate(&mut OsRng).verifying_key().to_bytes()) }),
    );
    assert_eq!(again.status, 410, "{}", again.text());
}

#[test]
fn account_space_device_room_and_blob_writes_survive_sigkill() {
    let mut relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let org = relay.create_customer_org(&admin, "Customer Ltd");
    let staff = relay.add_staff(&admin, "Sam");
    let space_id = relay.create_space(&staff, &org);
    let customer = relay.add_customer(&staff, &space_id, "Cleo");
    let s = relay.client(&staff);

    // A second device of the staff member, approved by the first.
    let key = SigningKey::generate(&mut OsRng);
    let r = relay.anon().post_json(
        "/v1/device-requests",
        &json!({ "user_id": staff.user_id, "device_name": "phone",
                 "public_key": hex::encode(key.verifying_key().to_bytes()) }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let request_id = r.json()["request_id"].as_str().unwrap().to_owned();
    let phone = Device {
        device_id: r.json()["device_id"].as_str().unwrap().to_owned(),
        key: key.clone(),
        ..staff.clone()
    };
    let r = s.post_json(
        &format!("/v1/device-requests/{request_id}/approve"),
        &json!({ "public_key": hex::encode(key.verifying_key().to_bytes()) }),
    );
    assert_eq!(r.status, 204, "{}", r.text());

    // A room with both users (a commit with a welcome) and a complete blob.
    let staff_mls = MlsDevice::new(&staff);
    let cust_mls = MlsDevice::new(&customer);
    let c = relay.client(&customer);
    let r = c.post_json(
        "/v1/keypackages",
        &json!({ "key_packages": [b64(&cust_mls.key_package())] }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mut group = staff_mls.create_group();
    let r = s.post_json("/v1/rooms", &staff_mls.create_room_body(&group, &space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    let room = r.json()["room_id"].as_str().unwrap().to_owned();
    let claimed = s.post_json(
        &format!("/v1/users/{}/keypackages/claim", customer.user_id),
        &json!({}),
    );
    assert_eq!(claimed.status, 200, "{}", claimed.text());
    let kp_b64 = claimed.json()["key_packages"][0]["key_package"]
        .as_str()
        .unwrap()
        .to_owned();
    let kp = sealroom_tests::rooms::validated_key_package(
        &staff_mls.provider,
        &sealroom_tests::rooms::unb64(&kp_b64),
    );
    let (commit, welcome, _) = group
        .add_members(&staff_mls.provider, &staff_mls.signer, &[kp])
        .unwrap();
    let r = s.post_json(
        &format!("/v1/rooms/{room}/handshakes"),
        &json!({ "message": b64(&bytes(&commit)), "welcome": b64(&bytes(&welcome)) }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    group.merge_pending_commit(&staff_mls.provider).unwrap();
    let r = s.post_json(&format!("/v1/rooms/{room}/blobs"), &json!({ "length": 5 }));
    assert_eq!(r.status, 201, "{}", r.text());
    let blob = r.json()["blob_id"].as_str().unwrap().to_owned();
    let r = s.request(
        "PATCH",
        &format!("/v1/rooms/{room}/blobs/{blob}"),
        &[
            ("content-type", "application/offset+octet-stream"),
            ("upload-offset", "0"),
        ],
        b"hello",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    // Last: the customer leaves the space; then the relay dies at once.
    let r = s.delete(&format!(
        "/v1/spaces/{space_id}/members/{}",
        customer.user_id
    ));
    assert_eq!(r.status, 204, "{}", r.text());
    // Really last: an application message (a transaction no later write flushes).
    let message = bytes(
        &group
            .create_message(&staff_mls.provider, &staff_mls.signer, b"last words")
            .unwrap(),
    );
    let r = s.post_json(
        &format!("/v1/rooms/{room}/messages"),
        &json!({ "message": b64(&message) }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let message_seq = r.json()["seq"].as_u64().unwrap();
    relay.kill9();
    relay.restart();

    let s = relay.client(&staff);
    assert_eq!(
        relay.client(&phone).get("/v1/me").status,
        200,
        "approved device"
    );
    assert_eq!(relay.client(&customer).get("/v1/me").status, 200);
    let space = s.get(&format!("/v1/spaces/{space_id}"));
    assert_eq!(space.status, 200, "{}", space.text());
    let members: Vec<String> = space.json()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(members, vec![staff.user_id.clone()], "the removal survived");
    let info = s.get(&format!("/v1/rooms/{room}"));
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(info.json()["epoch"], 1, "the commit survived");
    let welcomes = relay.client(&customer).get("/v1/welcomes").json();
    assert_eq!(welcomes["entries"].as_array().unwrap().len(), 1);
    let r = s.get(&format!("/v1/rooms/{room}/blobs/{blob}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"hello");
    let page = s.get(&format!("/v1/rooms/{room}/messages")).json();
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        1,
        "the acknowledged message survived: {page}"
    );
    assert_eq!(entries[0]["seq"], message_seq);
    assert_eq!(entries[0]["message"], b64(&message).as_str());
    // Audit entries written with those requests survived too, and the chain verifies.
    let report = relay.client(&admin).get("/v1/audit/verify").json();
    assert_eq!(report["ok"], true, "{report}");
    let removed = relay.client(&admin).get(&format!(
        "/v1/audit?action=membership.remove&object={space_id}"
    ));
    assert_eq!(removed.json()["entries"].as_array().unwrap().len(), 1);
}
