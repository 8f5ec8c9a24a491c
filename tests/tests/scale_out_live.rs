//! Live events and singleton work with three relay binaries on one PostgreSQL
//! (scripts/services/postgres.sh starts the test cluster; under CI a missing PostgreSQL fails
//! these tests): a device long-polling one instance is woken by a message posted through
//! another, and a digest mail is sent once, not once per instance.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use openmls::prelude::MlsGroup;
use serde_json::json;

use sealroom_tests::cluster::{wait_for_event, Cluster};
use sealroom_tests::relay::{Client, Device};
use sealroom_tests::rooms::{
    b64, bytes, post_handshake, unb64, upload_key_packages, validated_key_package, MlsDevice,
};
use sealroom_tests::smtp::SmtpSink;

fn on(c: &Cluster, i: usize, device: &Device) -> Client {
    c.on(i, device)
}

fn post_message(c: &Cluster, i: usize, mls: &MlsDevice, group: &mut MlsGroup, room: &str) -> u64 {
    let m = group
        .create_message(&mls.provider, &mls.signer, b"hello")
        .unwrap();
    let r = on(c, i, &c.staff).post_json(
        &format!("/v1/rooms/{room}/messages"),
        &json!({ "message": b64(&bytes(&m)) }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["seq"].as_u64().unwrap()
}

#[test]
fn a_device_waiting_on_one_instance_is_woken_by_a_post_on_another() {
    let c = Cluster::start::<&str, &str>("Live Ltd", &[]);
    let mls = MlsDevice::new(&c.staff);
    let mut group = mls.create_group();
    let r = on(&c, 1, &c.staff).post_json("/v1/rooms", &mls.create_room_body(&group, &c.space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    let room = r.json()["room_id"].as_str().unwrap().to_owned();
    // The room's creation, stored through instance 1, is seen through instance 0.
    let (_, mut start) = wait_for_event(&on(&c, 0, &c.staff), 0, |e| {
        e["room_id"] == room.as_str() && e["kind"] == "room"
    });
    for round in 0..3 {
        let waiter = on(&c, 0, &c.staff);
        let waiting =
            std::thread::spawn(move || wait_for_event(&waiter, start, |e| e["kind"] == "message"));
        let seq = post_message(&c, 2, &mls, &mut group, &room);
        let (event, cursor) = waiting.join().unwrap();
        assert_eq!(event["room_id"], room.as_str(), "round {round}");
        assert_eq!(event["seq"], seq, "round {round}");
        // Every instance answers the same cursors.
        let cursors: Vec<u64> = (0..3)
            .map(|i| {
                wait_for_event(&on(&c, i, &c.staff), start, |e| e["seq"] == seq).0["cursor"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert!(cursors.windows(2).all(|w| w[0] == w[1]), "{cursors:?}");
        start = cursor;
    }
}

#[test]
fn a_digest_is_mailed_once_across_three_instances() {
    let Some(smtp) = SmtpSink::start() else {
        // A local run without aiosmtpd: SmtpSink::start said so (under CI=true it fails the
        // test instead).
        return;
    };
    let port = smtp.port().to_string();
    let c = Cluster::start(
        "Digest Ltd",
        &[
            ("SEALROOM_SMTP_HOST", "127.0.0.1"),
            ("SEALROOM_SMTP_PORT", &port),
            ("SEALROOM_DIGEST_HOURLY_SECS", "2"),
            ("SEALROOM_DIGEST_TICK_SECS", "1"),
        ],
    );
    // A customer in a room with staff, on hourly digests.
    let customer = c.relays[0].add_customer(&c.staff, &c.space_id, "Cleo");
    let cust_mls = MlsDevice::new(&customer);
    let r = on(&c, 1, &customer).put_json("/v1/me/notifications", &json!({ "mode": "hourly" }));
    assert_eq!(r.status, 200, "{}", r.text());
    let mls = MlsDevice::new(&c.staff);
    let mut group = mls.create_group();
    let r = on(&c, 0, &c.staff).post_json("/v1/rooms", &mls.create_room_body(&group, &c.space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    let room = r.json()["room_id"].as_str().unwrap().to_owned();
    upload_key_packages(&on(&c, 2, &customer), &cust_mls, 1);
    let claimed = on(&c, 1, &c.staff).post_json(
        &format!("/v1/users/{}/keypackages/claim", customer.user_id),
        &json!({}),
    );
    assert_eq!(claimed.status, 200, "{}", claimed.text());
    let kp = claimed.json()["key_packages"][0]["key_package"]
        .as_str()
        .unwrap()
        .to_owned();
    let kp = validated_key_package(&mls.provider, &unb64(&kp));
    let (commit, welcome, _) = group
        .add_members(&mls.provider, &mls.signer, &[kp])
        .unwrap();
    let r = post_handshake(&on(&c, 2, &c.staff), &room, &commit, Some(&welcome));
    assert_eq!(r.status, 201, "{}", r.text());
    group.merge_pending_commit(&mls.provider).unwrap();

    post_message(&c, 1, &mls, &mut group, &room);
    let to = "cleo@example.test";
    let mails = smtp.wait_until(Duration::from_secs(60), |m| {
        m.iter().any(|m| m.to.contains(to))
    });
    assert!(
        mails.iter().any(|m| m.to.contains(to)),
        "no digest arrived: {}",
        smtp.log()
    );
    // Give the other two instances many digest ticks to send it again: they must not.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(smtp.mails_to(to).len(), 1, "{}", smtp.log());
}
