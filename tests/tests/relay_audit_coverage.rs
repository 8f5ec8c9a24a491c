//! Audit coverage against the real relay binary: every account action that issue 4 names
//! (bootstrap and registration, device requests, approval by another device and by TOTP,
//! revocation, organisations, invitations, spaces, space membership changes), a message post
//! and a notification leave an entry that an organisation admin finds with the right actor user,
//! device, IP address, user agent, object id and time. Room and blob actions (membership from
//! commits, upload, download, deletion) are checked in `relay_authz.rs`.
//!
//! The notification goes to a real SMTP listener when `aiosmtpd` is installed (entry
//! `notification.send`); without it the relay has no SMTP server configured and records the
//! undelivered notification (`notification.fail`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use serde_json::{json, Value};

use sealroom_tests::relay::{base32_decode, now, registration, Client, Device, Relay, Response};
use sealroom_tests::rooms::{b64, bytes, MlsDevice};
use sealroom_tests::smtp::SmtpSink;

const AGENT: &str = "sealroom-audit-coverage/1";

fn post(client: &Client, path: &str, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap();
    client.request(
        "POST",
        path,
        &[("content-type", "application/json"), ("user-agent", AGENT)],
        &bytes,
    )
}

struct Audit<'a> {
    relay: &'a Relay,
    admin: &'a Device,
}

impl Audit<'_> {
    fn find(&self, action: &str, object: &str) -> Vec<Value> {
        let r = self.relay.client(self.admin).get(&format!(
            "/v1/audit?limit=1000&action={action}&object={object}"
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["entries"].as_array().unwrap().clone()
    }

    /// The single entry of `action` on `object`, checked for actor, device, client and time.
    fn one(&self, action: &str, object: &str, actor: Option<&str>, device: &str) -> Value {
        let found = self.find(action, object);
        assert_eq!(found.len(), 1, "{action} {object}: {found:?}");
        let e = found[0].clone();
        match actor {
            Some(user) => assert_eq!(e["actor_user"], user, "{e}"),
            None => assert!(e["actor_user"].is_null(), "{e}"),
        }
        assert_eq!(e["device"], device, "{e}");
        assert_eq!(e["ip"], "127.0.0.1", "{e}");
        assert!(e["time_ms"].as_u64().unwrap() > 0, "{e}");
        e
    }

    /// Like [`Audit::one`], also requiring this test's user agent.
    fn one_with_agent(
        &self,
        action: &str,
        object: &str,
        actor: Option<&str>,
        device: &str,
    ) -> Value {
        let e = self.one(action, object, actor, device);
        assert_eq!(e["user_agent"], AGENT, "{e}");
        e
    }
}

/// Registers a user with an invitation token, sending this test's user agent.
fn register(relay: &Relay, token: &str, name: &str) -> Device {
    let key = SigningKey::generate(&mut OsRng);
    let r = post(
        &relay.anon(),
        "/v1/register",
        &registration(token, name, &key),
    );
    assert_eq!(r.status, 201, "register: {}", r.text());
    Device::from_response(&r.json(), key)
}

fn request_device(relay: &Relay, user_id: &str) -> (SigningKey, Value) {
    let key = SigningKey::generate(&mut OsRng);
    let r = post(
        &relay.anon(),
        "/v1/device-requests",
        &json!({"user_id": user_id, "device_name": "phone",
                "public_key": hex::encode(key.verifying_key().to_bytes())}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    (key, r.json())
}

#[test]
fn account_actions_and_notifications_are_audited_with_who_where_what() {
    let sink = SmtpSink::start();
    if sink.is_none() {
        eprintln!("aiosmtpd not installed: checking the audited failed notification instead");
    }
    let port = sink.as_ref().map(|s| s.port().to_string());
    let mut env = vec![("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000")];
    if let Some(port) = &port {
        env.push(("SEALROOM_SMTP_HOST", "127.0.0.1"));
        env.push(("SEALROOM_SMTP_PORT", port));
    }
    let relay = Relay::start_with(&env);
    let admin = relay.bootstrap_admin();
    let audit = Audit {
        relay: &relay,
        admin: &admin,
    };
    let a = relay.client(&admin);

    // Bootstrap: the provider organisation and its first admin.
    audit.one(
        "org.create",
        &admin.org_id,
        Some(&admin.user_id),
        &admin.device_id,
    );
    audit.one(
        "user.register",
        &admin.user_id,
        Some(&admin.user_id),
        &admin.device_id,
    );

    // A customer organisation.
    let r = post(&a, "/v1/orgs", &json!({ "name": "Customer Ltd" }));
    assert_eq!(r.status, 201, "{}", r.text());
    let org = r.json()["org_id"].as_str().unwrap().to_owned();
    audit.one_with_agent("org.create", &org, Some(&admin.user_id), &admin.device_id);

    // Invitation and registration of staff.
    let r = post(&a, "/v1/invitations", &json!({ "role": "staff" }));
    assert_eq!(r.status, 201, "{}", r.text());
    let invitation = r.json()["invitation_id"].as_str().unwrap().to_owned();
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let e = audit.one_with_agent(
        "invite.create",
        &invitation,
        Some(&admin.user_id),
        &admin.device_id,
    );
    assert_eq!(e["detail"], "role=staff");
    let staff = register(&relay, &token, "Sam");
    let e = audit.one_with_agent(
        "user.register",
        &staff.user_id,
        Some(&staff.user_id),
        &staff.device_id,
    );
    assert_eq!(e["org"], admin.org_id.as_str());
    assert!(e["detail"].as_str().unwrap().contains(&invitation), "{e}");
    let s = relay.client(&staff);

    // A space, its owner's membership.
    let r = post(&s, "/v1/spaces", &json!({ "customer_org_id": org }));
    assert_eq!(r.status, 201, "{}", r.text());
    let space = r.json()["space_id"].as_str().unwrap().to_owned();
    audit.one_with_agent(
        "space.create",
        &space,
        Some(&staff.user_id),
        &staff.device_id,
    );
    let e = audit.one_with_agent(
        "membership.add",
        &space,
        Some(&staff.user_id),
        &staff.device_id,
    );
    assert_eq!(
        e["detail"],
        format!("space user={} role=owner", staff.user_id)
    );

    // A second device approved by the first: the pending registration, then the approval.
    let (key, req) = request_device(&relay, &staff.user_id);
    let phone_id = req["device_id"].as_str().unwrap().to_owned();
    let e = audit.one_with_agent("device.register", &phone_id, None, &phone_id);
    assert!(
        e["detail"].as_str().unwrap().contains(&staff.user_id),
        "{e}"
    );
    let r = post(
        &s,
        &format!(
            "/v1/device-requests/{}/approve",
            req["request_id"].as_str().unwrap()
        ),
        &json!({ "public_key": hex::encode(key.verifying_key().to_bytes()) }),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let e = audit.one_with_agent(
        "device.approve",
        &phone_id,
        Some(&staff.user_id),
        &staff.device_id,
    );
    assert!(
        e["detail"].as_str().unwrap().starts_with("by=device"),
        "{e}"
    );

    // A third device approved with a TOTP code (no device signs: the client's IP and agent).
    let r = post(&s, "/v1/me/totp", &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    let secret = base32_decode(r.json()["secret"].as_str().unwrap());
    let code = sealroom_server::totp::code(&secret, now(), 6);
    let r = post(&s, "/v1/me/totp/confirm", &json!({ "code": code }));
    assert_eq!(r.status, 204, "{}", r.text());
    let (_, req) = request_device(&relay, &staff.user_id);
    let tablet_id = req["device_id"].as_str().unwrap().to_owned();
    let next = sealroom_server::totp::code(&secret, now() + 30, 6);
    let r = post(
        &relay.anon(),
        &format!(
            "/v1/device-requests/{}/totp",
            req["request_id"].as_str().unwrap()
        ),
        &json!({ "code": next }),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let e = audit.one_with_agent(
        "device.approve",
        &tablet_id,
        Some(&staff.user_id),
        &tablet_id,
    );
    assert!(e["detail"].as_str().unwrap().starts_with("by=totp"), "{e}");

    // Revocation.
    assert_eq!(
        s.request(
            "DELETE",
            &format!("/v1/devices/{tablet_id}"),
            &[("user-agent", AGENT)],
            b""
        )
        .status,
        204
    );
    audit.one_with_agent(
        "device.remove",
        &tablet_id,
        Some(&staff.user_id),
        &staff.device_id,
    );

    // A customer invited into the space: registration and space membership.
    let r = post(
        &s,
        "/v1/invitations",
        &json!({ "role": "customer", "space_id": space }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let customer = register(&relay, r.json()["token"].as_str().unwrap(), "Cleo");
    audit.one_with_agent(
        "user.register",
        &customer.user_id,
        Some(&customer.user_id),
        &customer.device_id,
    );
    let joined: Vec<Value> = audit
        .find("membership.add", &space)
        .into_iter()
        .filter(|e| e["actor_user"] == customer.user_id.as_str())
        .collect();
    assert_eq!(joined.len(), 1, "{joined:?}");
    assert_eq!(joined[0]["device"], customer.device_id.as_str());

    // A room with both; a message from the customer notifies the staff member (immediate is
    // the default preference): the notification is audited with the recipient as object.
    let staff_mls = MlsDevice::new(&staff);
    let cust_mls = MlsDevice::new(&customer);
    let c = relay.client(&customer);
    let kp = b64(&cust_mls.key_package());
    assert_eq!(
        post(&c, "/v1/keypackages", &json!({ "key_packages": [kp] })).status,
        200
    );
    let mut group = staff_mls.create_group();
    let r = post(&s, "/v1/rooms", &staff_mls.create_room_body(&group, &space));
    assert_eq!(r.status, 201, "{}", r.text());
    let room = r.json()["room_id"].as_str().unwrap().to_owned();
    let claimed = post(
        &s,
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
    let r = post(
        &s,
        &format!("/v1/rooms/{room}/handshakes"),
        &json!({ "message": b64(&bytes(&commit)), "welcome": b64(&bytes(&welcome)) }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let added = audit.find("membership.add", &room);
    assert_eq!(added.len(), 2, "creator and the added customer: {added:?}");
    let welcomes = c.get("/v1/welcomes").json();
    let mut cust_group = cust_mls.join(welcomes["entries"][0]["welcome"].as_str().unwrap());
    let m = cust_group
        .create_message(&cust_mls.provider, &cust_mls.signer, b"hi")
        .unwrap();
    let r = post(
        &c,
        &format!("/v1/rooms/{room}/messages"),
        &json!({ "message": b64(&bytes(&m)) }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // The post itself: who, which room, how large, never the content.
    let posted = audit.one(
        "message.post",
        &room,
        Some(&customer.user_id),
        &customer.device_id,
    );
    assert_eq!(posted["size"], bytes(&m).len() as u64, "{posted}");
    assert!(
        posted["detail"].as_str().unwrap().contains(" seq="),
        "{posted}"
    );
    let action = if sink.is_some() {
        "notification.send"
    } else {
        "notification.fail"
    };
    // The notification is sent by a background task: wait for its entry (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    // Security mails (device requests and approvals above) are notifications too; only the
    // message's notification counts here.
    let about_messages = |entries: Vec<Value>| -> Vec<Value> {
        entries
            .into_iter()
            .filter(|e| {
                !e["detail"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("security kind=")
            })
            .collect()
    };
    let notified = loop {
        let found = about_messages(audit.find(action, &staff.user_id));
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(notified.len(), 1, "{action}: {notified:?}");
    assert_eq!(notified[0]["org"], admin.org_id.as_str());
    assert!(
        about_messages(audit.find(action, &customer.user_id)).is_empty(),
        "the sender is not notified"
    );

    // The customer leaves the space.
    assert_eq!(
        s.request(
            "DELETE",
            &format!("/v1/spaces/{space}/members/{}", customer.user_id),
            &[("user-agent", AGENT)],
            b""
        )
        .status,
        204
    );
    let e = audit.one_with_agent(
        "membership.remove",
        &space,
        Some(&staff.user_id),
        &staff.device_id,
    );
    assert_eq!(e["detail"], format!("space user={}", customer.user_id));

    // And the chain verifies.
    let report = a.get("/v1/audit/verify").json();
    assert_eq!(report["ok"], true, "{report}");
}
