//! Live events (`GET /v1/events`, a long poll) on the real embedded relay: a waiting member is
//! woken by a post and told the room, kind and seq (never content); a device outside the room,
//! or removed from it, never sees the room's events (it tries, from cursor 0 too); a cursor
//! older than the log answers `resync`; bad parameters answer 400, never 500; a device cannot
//! hold more than four waiting requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use openmls::prelude::MlsGroup;
use serde_json::{json, Value};

use sealroom_tests::cluster::{events, wait_for_event};
use sealroom_tests::relay::{Client, Relay};
use sealroom_tests::rooms::{
    b64, bytes, post_handshake, unb64, upload_key_packages, validated_key_package, MlsDevice,
};

struct Setup {
    relay: Relay,
    space_id: String,
    staff: MlsDevice,
    customer: MlsDevice,
    /// A customer of the same space who is never added to the room.
    outsider: MlsDevice,
}

fn setup_with(env: &[(&str, &str)]) -> Setup {
    let relay = Relay::start_with(env);
    let admin = relay.bootstrap_admin();
    let org = relay.create_customer_org(&admin, "Customer Ltd");
    let staff = relay.add_staff(&admin, "Sam");
    let space_id = relay.create_space(&staff, &org);
    let customer = relay.add_customer(&staff, &space_id, "Cleo");
    let outsider = relay.add_customer(&staff, &space_id, "Olaf");
    Setup {
        staff: MlsDevice::new(&staff),
        customer: MlsDevice::new(&customer),
        outsider: MlsDevice::new(&outsider),
        relay,
        space_id,
    }
}

/// Staff registers a room and adds the customer by commit; returns the room id and group.
fn room_with_customer(s: &Setup) -> (String, MlsGroup) {
    let staff_http = s.relay.client(&s.staff.device);
    let cust_http = s.relay.client(&s.customer.device);
    let mut group = s.staff.create_group();
    let r = staff_http.post_json("/v1/rooms", &s.staff.create_room_body(&group, &s.space_id));
    assert_eq!(r.status, 201, "{}", r.text());
    let room_id = r.json()["room_id"].as_str().unwrap().to_owned();
    upload_key_packages(&cust_http, &s.customer, 1);
    let claimed = staff_http.post_json(
        &format!("/v1/users/{}/keypackages/claim", s.customer.device.user_id),
        &json!({}),
    );
    assert_eq!(claimed.status, 200, "{}", claimed.text());
    let kp = claimed.json()["key_packages"][0]["key_package"]
        .as_str()
        .unwrap()
        .to_owned();
    let kp = validated_key_package(&s.staff.provider, &unb64(&kp));
    let (commit, welcome, _) = group
        .add_members(&s.staff.provider, &s.staff.signer, &[kp])
        .unwrap();
    let r = post_handshake(&staff_http, &room_id, &commit, Some(&welcome));
    assert_eq!(r.status, 201, "{}", r.text());
    group.merge_pending_commit(&s.staff.provider).unwrap();
    (room_id, group)
}

fn post_message(s: &Setup, group: &mut MlsGroup, room_id: &str, text: &[u8]) -> u64 {
    let m = group
        .create_message(&s.staff.provider, &s.staff.signer, text)
        .unwrap();
    let r = s.relay.client(&s.staff.device).post_json(
        &format!("/v1/rooms/{room_id}/messages"),
        &json!({ "message": b64(&bytes(&m)) }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["seq"].as_u64().unwrap()
}

fn cursor_now(client: &Client) -> u64 {
    let page = events(client, "");
    assert_eq!(page["events"], json!([]));
    assert_eq!(page["resync"], false);
    page["cursor"].as_u64().unwrap()
}

/// The cursor once the events of setting up `room_id` (its first commit) are in the log.
fn settled(client: &Client, room_id: &str) -> u64 {
    let (_, cursor) = wait_for_event(client, 0, |e| {
        e["room_id"] == room_id && e["kind"] == "commit"
    });
    cursor
}

fn names_room(page: &Value, room_id: &str) -> bool {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["room_id"] == room_id)
}

#[test]
fn a_waiting_member_is_woken_and_outsiders_never_see_the_room() {
    let s = setup_with(&[]);
    let cust_http = s.relay.client(&s.customer.device);
    let out_http = s.relay.client(&s.outsider.device);
    let (room_id, mut group) = room_with_customer(&s);
    let start = settled(&cust_http, &room_id);
    assert_eq!(cursor_now(&out_http), start, "one cursor for every device");
    // The customer waits; the outsider waits too (and must not be told anything).
    let waiting = {
        let c = cust_http.clone();
        std::thread::spawn(move || events(&c, &format!("?after={start}&wait=30")))
    };
    let outsider_waiting = {
        let c = out_http.clone();
        std::thread::spawn(move || events(&c, &format!("?after={start}&wait=2")))
    };
    let seq = post_message(&s, &mut group, &room_id, b"the password is swordfish");
    let page = waiting.join().unwrap();
    let event = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "message")
        .unwrap_or_else(|| panic!("no message event within the wait: {page}"))
        .clone();
    assert_eq!(event["room_id"], room_id.as_str());
    assert_eq!(event["seq"], seq);
    assert!(page["cursor"].as_u64().unwrap() > start);
    // Ids only: nothing but cursor, room id, kind and seq.
    let mut keys: Vec<&String> = event.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["cursor", "kind", "room_id", "seq"]);
    assert!(!page.to_string().contains("swordfish"));

    // The outsider, waiting or asking again from any cursor, never learns of the room.
    let page = outsider_waiting.join().unwrap();
    assert!(!names_room(&page, &room_id), "{page}");
    for after in [0, start] {
        let page = events(&out_http, &format!("?after={after}"));
        assert!(!names_room(&page, &room_id), "{page}");
        assert!(page["cursor"].as_u64().unwrap() > start, "{page}");
    }

    // Staff removes the customer, then posts: the removed member sees the commit that removed
    // it (so its client learns of the removal at once) and nothing else of the room: not the
    // new message, nor (asking from the start) any earlier event.
    let before_removal = cursor_now(&cust_http);
    let leaf = group
        .members()
        .find(|m| m.signature_key == s.customer.device.key.verifying_key().to_bytes().to_vec())
        .unwrap()
        .index;
    let (remove, _, _) = group
        .remove_members(&s.staff.provider, &s.staff.signer, &[leaf])
        .unwrap();
    let staff_http = s.relay.client(&s.staff.device);
    let r = post_handshake(&staff_http, &room_id, &remove, None);
    assert_eq!(r.status, 201, "{}", r.text());
    group.merge_pending_commit(&s.staff.provider).unwrap();
    let later = post_message(&s, &mut group, &room_id, b"after the removal");
    // Staff (still a member) sees the commit and the message.
    wait_for_event(&staff_http, before_removal, |e| e["seq"] == later);
    let staff_seen = loop {
        // The writer may store the two events in separate batches: read on until both are in.
        let page = events(&staff_http, &format!("?after={before_removal}"));
        let kinds: Vec<(String, u64)> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["seq"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        if kinds.contains(&("message".to_owned(), later)) {
            assert!(kinds.iter().any(|(k, _)| k == "commit"), "{kinds:?}");
            break page["cursor"].as_u64().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let removal_epoch = r.json()["epoch"].as_u64().unwrap();
    for after in [0, start, before_removal] {
        let page = events(&cust_http, &format!("?after={after}"));
        let seen: Vec<(String, u64)> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["room_id"] == room_id.as_str())
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["seq"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![("commit".to_owned(), removal_epoch)],
            "removed member sees {page}"
        );
        assert_eq!(page["cursor"].as_u64().unwrap(), staff_seen, "{page}");
    }
}

#[test]
fn old_and_foreign_cursors_answer_resync() {
    let s = setup_with(&[
        ("SEALROOM_LIVE_KEEP_SECS", "1"),
        ("SEALROOM_LIVE_PRUNE_TICK_SECS", "1"),
    ]);
    let staff_http = s.relay.client(&s.staff.device);
    let (room_id, mut group) = room_with_customer(&s);
    post_message(&s, &mut group, &room_id, b"one");
    // Once the first events are pruned, cursor 0 is older than the log: resync.
    let page = loop {
        let page = events(&staff_http, "?after=0");
        if page["resync"] == true {
            break page;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(page["events"], json!([]));
    let head = page["cursor"].as_u64().unwrap();
    // Continuing from the answered cursor works, and sees new events.
    let seq = post_message(&s, &mut group, &room_id, b"two");
    let (event, _) = wait_for_event(&staff_http, head, |e| e["kind"] == "message");
    assert_eq!(event["seq"], seq);
    // A cursor this relay never handed out (another deployment, a restored backup): resync.
    let page = events(&staff_http, "?after=18446744073709551615");
    assert_eq!(page["resync"], true, "{page}");
}

#[test]
fn bad_parameters_are_400_and_waiters_are_bounded_per_device() {
    let s = setup_with(&[]);
    let client = s.relay.client(&s.staff.device);
    for query in [
        "?wait=31",
        "?after=1&wait=999999",
        "?wait=-1",
        "?wait=soon",
        "?after=-1",
        "?after=abc",
        "?after=18446744073709551616",
        "?after=1&unknown=1",
    ] {
        let r = client.get(&format!("/v1/events{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.text());
    }
    // Unsigned: 401.
    assert_eq!(s.relay.anon().get("/v1/events").status, 401);

    // Four waiting requests of one device are fine; a fifth is refused while they wait.
    let (room_id, mut group) = room_with_customer(&s);
    let start = settled(&client, &room_id);
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let c = client.clone();
            std::thread::spawn(move || loop {
                // A probe below may hold a place for a moment: then come back.
                let r = c.get(&format!("/v1/events?after={start}&wait=30"));
                if r.status != 429 {
                    assert_eq!(r.status, 200, "{}", r.text());
                    return r.json();
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            })
        })
        .collect();
    let mut refused = None;
    for _ in 0..50 {
        let r = client.get(&format!("/v1/events?after={start}&wait=1"));
        if r.status == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        // Leave a gap in which a waiter turned away by this probe takes its place again.
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let refused = refused.expect("a fifth waiting request was never refused");
    assert_eq!(refused.code(), "too_many_waiters");
    // Another device is not affected.
    let other = s.relay.client(&s.customer.device);
    assert_eq!(other.get(&format!("/v1/events?after={start}")).status, 200);
    // A post wakes all four.
    let seq = post_message(&s, &mut group, &room_id, b"wake");
    for w in waiters {
        let page = w.join().unwrap();
        assert!(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["room_id"] == room_id.as_str() && e["seq"] == seq),
            "{page}"
        );
    }
}
