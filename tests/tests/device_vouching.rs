//! Devices vouched for by their user (issue 25), through the real relay binary with real SDK
//! clients behind [`HostileRelay`] (an honest proxy until a test adds rules).
//!
//! * honest: a device linked by approval of an existing device shows verified to the other
//!   members and the user's safety number does not change; a device linked by a TOTP code
//!   alone is unverified, is kept out of the internal room under the default policy
//!   (`ClientEvent::DeviceSkipped`), and becomes verified (and joins) after it restores the
//!   recovery backup, which carries the identity key.
//! * attacks: the relay serves a forged certificate, another device's certificate, and a
//!   swapped identity key with certificates made under it for the unverified device: the
//!   device stays unverified for every viewer, the key change is reported once as
//!   `ClientEvent::KeyChanged`, the safety number stays the pinned one, and the device is not
//!   added to the internal room. The relay swaps an approval bundle for one holding its own
//!   identity key: the new device does not take it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};

use sealroom_core::certificate::{seal_handover, UserIdentityKey};
use sealroom_core::client::{ClientEvent, HttpTransport, Role, SealroomClient, Space, SpaceMember};
use sealroom_core::state::{MemoryKv, StorageKey};
use sealroom_wire::accounts::device_certificate_message;

use sealroom_tests::hostile::HostileRelay;
use sealroom_tests::relay::{base32_decode, now, Relay};
use sealroom_tests::rooms::b64;

const PASSPHRASE: &str = "correct horse battery staple";

fn client(proxy: &HostileRelay) -> SealroomClient {
    SealroomClient::open(
        &proxy.base_url(),
        Arc::new(HttpTransport::new().unwrap()),
        Box::new(MemoryKv::new()),
        StorageKey::generate(),
    )
    .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn member<'a>(space: &'a Space, user_id: &str) -> &'a SpaceMember {
    space
        .members
        .iter()
        .find(|m| m.user_id == user_id)
        .unwrap_or_else(|| panic!("{user_id} is not a member: {space:?}"))
}

/// A provider with staff Sam (who owns a space with an internal room) and a customer Cara in
/// the space.
struct World {
    _relay: Relay,
    proxy: HostileRelay,
    sam: SealroomClient,
    sam_user: String,
    cara: SealroomClient,
    space_id: String,
}

async fn world(relay: Relay, proxy: HostileRelay) -> World {
    let admin = client(&proxy);
    admin
        .bootstrap(&relay.setup_token(), "Provider", "Ada", None, "laptop")
        .await
        .unwrap();
    let org = admin.create_customer_org("Heron GmbH").await.unwrap();
    let sam = client(&proxy);
    let invite = admin.invite(Role::Staff, None).await.unwrap();
    let sam_user = sam
        .register(&invite.token, "Sam", None, "laptop")
        .await
        .unwrap()
        .user_id;
    assert!(
        sam.can_vouch().unwrap(),
        "the first device holds the identity key"
    );
    let space_id = sam.create_space(&org.org_id, true).await.unwrap().space_id;
    let cara = client(&proxy);
    let invite = sam.invite(Role::Customer, Some(&space_id)).await.unwrap();
    let cara_user = cara
        .register(&invite.token, "Cara", None, "phone")
        .await
        .unwrap()
        .user_id;
    sam.add_member(&space_id, &cara_user).await.unwrap();
    cara.sync().await.unwrap();
    World {
        _relay: relay,
        proxy,
        sam,
        sam_user,
        cara,
        space_id,
    }
}

fn start() -> (Relay, HostileRelay) {
    // The TOTP-linked device may fetch the recovery backup at once (the waiting period is
    // tested in relay_enrolment.rs).
    let relay = Relay::start_with(&[("SEALROOM_TOTP_LINK_WAIT_SECS", "0")]);
    let proxy = HostileRelay::start(relay.addr());
    (relay, proxy)
}

/// Links a new device of `owner`'s user by a TOTP code alone; returns it and its device id.
async fn link_by_totp(w: &World, owner: &SealroomClient) -> (SealroomClient, String) {
    let enrolment = owner.enrol_totp().await.unwrap();
    let secret = base32_decode(&enrolment.secret);
    owner
        .confirm_totp(&sealroom_server::totp::code(&secret, now(), 6))
        .await
        .unwrap();
    let tablet = client(&w.proxy);
    let user = owner.account().unwrap().user_id;
    tablet.request_device_link(&user, "tablet").await.unwrap();
    tablet
        .approve_device_link_with_totp(&sealroom_server::totp::code(&secret, now() + 30, 6))
        .await
        .unwrap();
    let account = tablet.finish_device_link().await.unwrap().unwrap();
    assert!(
        !tablet.can_vouch().unwrap(),
        "a TOTP code hands over no identity key"
    );
    (tablet, account.device_id)
}

fn skipped(events: &[ClientEvent], device_id: &str) -> bool {
    events.iter().any(|e| {
        matches!(e, ClientEvent::DeviceSkipped { device_id: d, internal: true, reason, .. }
            if d == device_id && reason == "unverified_device")
    })
}

#[test]
fn approved_devices_are_verified_and_totp_devices_wait_for_the_backup() {
    let (relay, proxy) = start();
    runtime().block_on(async move {
        let w = world(relay, proxy).await;
        let sam_device = w.sam.account().unwrap().device_id;
        let before = w.cara.space(&w.space_id).await.unwrap();
        let sam_seen = member(&before, &w.sam_user);
        assert_eq!(sam_seen.verified_devices, vec![sam_device.clone()]);
        let number = sam_seen.safety_number.clone().unwrap();
        assert!(!sam_seen.identity_key_changed);

        // 1. A second device approved by the first: verified, safety number unchanged.
        let laptop = client(&w.proxy);
        let request = laptop
            .request_device_link(&w.sam_user, "laptop 2")
            .await
            .unwrap();
        w.sam
            .approve_device(&request.request_id, &request.public_key)
            .await
            .unwrap();
        let linked = laptop.finish_device_link().await.unwrap().unwrap();
        assert!(
            laptop.can_vouch().unwrap(),
            "the approval hands over the identity key"
        );
        w.sam.add_member(&w.space_id, &w.sam_user).await.unwrap();
        let events = w.sam.sync().await.unwrap();
        assert!(!skipped(&events, &linked.device_id), "{events:?}");
        laptop.sync().await.unwrap();
        w.cara.sync().await.unwrap();
        let after = w.cara.space(&w.space_id).await.unwrap();
        let sam_seen = member(&after, &w.sam_user);
        assert!(sam_seen.devices.contains(&linked.device_id), "{sam_seen:?}");
        let mut verified = sam_seen.verified_devices.clone();
        verified.sort();
        let mut expected = vec![sam_device.clone(), linked.device_id.clone()];
        expected.sort();
        assert_eq!(verified, expected);
        assert_eq!(sam_seen.safety_number.as_deref(), Some(number.as_str()));
        let staff_view = laptop.space(&w.space_id).await.unwrap();
        assert!(
            staff_view.internal_room,
            "the verified device joined the internal room"
        );

        // 2. A third device linked by a TOTP code alone: unverified, kept out of the internal
        //    room, verified after restoring the recovery backup.
        w.sam.create_recovery_backup(PASSPHRASE).await.unwrap();
        let (tablet, tablet_id) = link_by_totp(&w, &w.sam).await;
        w.sam.add_member(&w.space_id, &w.sam_user).await.unwrap();
        let events = w.sam.sync().await.unwrap();
        assert!(skipped(&events, &tablet_id), "{events:?}");
        tablet.sync().await.unwrap();
        let own = tablet.space(&w.space_id).await.unwrap();
        assert!(own.joined, "the customer room takes unverified devices");
        assert!(!own.internal_room, "the internal room does not");
        w.cara.sync().await.unwrap();
        let seen = w.cara.space(&w.space_id).await.unwrap();
        let sam_seen = member(&seen, &w.sam_user);
        assert!(sam_seen.devices.contains(&tablet_id));
        assert!(!sam_seen.verified_devices.contains(&tablet_id));
        assert_eq!(sam_seen.safety_number.as_deref(), Some(number.as_str()));

        tablet.restore_recovery_backup(PASSPHRASE).await.unwrap();
        assert!(
            tablet.can_vouch().unwrap(),
            "the backup carries the identity key"
        );
        let seen = w.cara.space(&w.space_id).await.unwrap();
        assert!(member(&seen, &w.sam_user)
            .verified_devices
            .contains(&tablet_id));
        w.sam.add_member(&w.space_id, &w.sam_user).await.unwrap();
        let events = w.sam.sync().await.unwrap();
        assert!(!skipped(&events, &tablet_id), "{events:?}");
        tablet.sync().await.unwrap();
        assert!(tablet.space(&w.space_id).await.unwrap().internal_room);
        // No key change was ever reported for Sam: devices come and go under one identity.
        let events = w.cara.sync().await.unwrap();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ClientEvent::KeyChanged { .. })),
            "{events:?}"
        );
    });
}

#[test]
fn a_hostile_relay_cannot_vouch_for_a_device() {
    let (relay, proxy) = start();
    runtime().block_on(async move {
        let w = world(relay, proxy).await;
        let sam_device = w.sam.account().unwrap().device_id;
        let pinned = w.cara.space(&w.space_id).await.unwrap();
        let number = member(&pinned, &w.sam_user).safety_number.clone().unwrap();
        let (tablet, tablet_id) = link_by_totp(&w, &w.sam).await;

        // The relay's own identity key for Sam, with a valid certificate for the tablet.
        let fake = SigningKey::from_bytes(&[42u8; 32]);
        let fake_pub = hex::encode(fake.verifying_key().to_bytes());
        let tablet_key: [u8; 32] = {
            let mut k = [0u8; 32];
            hex::decode_to_slice(tablet.device_public_key().unwrap(), &mut k).unwrap();
            k
        };
        let fake_cert = hex::encode(
            fake.sign(&device_certificate_message(
                &w.sam_user,
                &tablet_id,
                &tablet_key,
            ))
            .to_bytes(),
        );
        // mode 0: a random certificate; 1: the laptop's certificate moved to the tablet;
        // 2: a swapped identity key with a certificate made under it.
        let mode = Arc::new(Mutex::new(0u8));
        {
            let mode = mode.clone();
            let sam_user = w.sam_user.clone();
            let (sam_device, tablet_id) = (sam_device.clone(), tablet_id.clone());
            w.proxy
                .rewrite("GET", "/v1/users/*/devices", move |seen, reply| {
                    if seen.segment(2) != Some(sam_user.as_str()) {
                        return;
                    }
                    let m = *mode.lock().unwrap();
                    reply.edit_json(|list: &mut Value| {
                        let devices = list["devices"].as_array_mut().unwrap();
                        let laptop_cert = devices
                            .iter()
                            .find(|d| d["device_id"] == json!(sam_device))
                            .map(|d| d["certificate"].clone())
                            .unwrap();
                        for d in devices.iter_mut() {
                            if d["device_id"] == json!(tablet_id) {
                                d["certificate"] = match m {
                                    0 => json!("ab".repeat(64)),
                                    1 => laptop_cert.clone(),
                                    _ => json!(fake_cert.clone()),
                                };
                            }
                        }
                        if m == 2 {
                            list["identity_key"] = json!(fake_pub.clone());
                        }
                    });
                });
        }
        for m in 0..3u8 {
            *mode.lock().unwrap() = m;
            // Sam adds his own devices: the tablet must stay out of the internal room.
            w.sam.add_member(&w.space_id, &w.sam_user).await.unwrap();
            let events = w.sam.sync().await.unwrap();
            assert!(skipped(&events, &tablet_id), "mode {m}: {events:?}");
            w.cara.sync().await.unwrap();
            let seen = w.cara.space(&w.space_id).await.unwrap();
            let sam_seen = member(&seen, &w.sam_user);
            assert!(
                sam_seen.devices.contains(&tablet_id),
                "mode {m}: {sam_seen:?}"
            );
            assert_eq!(
                sam_seen.verified_devices,
                vec![sam_device.clone()],
                "mode {m}: the relay vouched for the tablet"
            );
            assert_eq!(sam_seen.safety_number.as_deref(), Some(number.as_str()));
            assert_eq!(sam_seen.identity_key_changed, m == 2);
            let events = w.cara.sync().await.unwrap();
            let changes: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    ClientEvent::KeyChanged {
                        user_id,
                        safety_number,
                    } if *user_id == w.sam_user => Some(safety_number.clone()),
                    _ => None,
                })
                .collect();
            if m == 2 {
                assert_eq!(changes.len(), 1, "the swap is reported once: {events:?}");
                assert_ne!(changes[0], number);
            } else {
                assert!(changes.is_empty(), "mode {m}: {events:?}");
            }
        }
        tablet.sync().await.unwrap();
        assert!(!tablet.space(&w.space_id).await.unwrap().internal_room);

        // The relay swaps the approval bundle for one holding an identity key of its own
        // (it knows the new device's one-time key): the new device does not take it.
        w.proxy.clear_rules();
        let phone = client(&w.proxy);
        let request = phone
            .request_device_link(&w.sam_user, "phone")
            .await
            .unwrap();
        let mut kx = [0u8; 32];
        hex::decode_to_slice(request.kx_public_key.as_deref().unwrap(), &mut kx).unwrap();
        let relay_key = UserIdentityKey::from_secret_bytes(&[42u8; 32]);
        let forged =
            b64(&seal_handover(&relay_key, &kx, &request.request_id, &w.sam_user).unwrap());
        w.proxy.rewrite(
            "GET",
            &format!("/v1/device-requests/{}", request.request_id),
            move |_, reply| reply.edit_json(|v| v["bundle"] = json!(forged.clone())),
        );
        w.sam
            .approve_device(&request.request_id, &request.public_key)
            .await
            .unwrap();
        assert!(phone.finish_device_link().await.unwrap().is_some());
        assert!(
            !phone.can_vouch().unwrap(),
            "the relay's identity key was taken over"
        );

        // A device without the identity key cannot vouch, and a vouching device certifies
        // only the key the user compared.
        w.proxy.clear_rules();
        let err = tablet
            .certify_device(&tablet_id, &tablet.device_public_key().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "cannot_vouch", "{err}");
        let err = w
            .sam
            .certify_device(&tablet_id, &"00".repeat(32))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{err}");
    });
}

/// The relay's own checks (a second line: clients never rely on them), with raw signed HTTP.
#[test]
fn the_relay_checks_identity_keys_and_certificates() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let staff = relay.add_staff(&admin, "Sam");
    let c = relay.client(&admin);
    let cert = |key: &SigningKey, d: &sealroom_tests::relay::Device| {
        let device_key = d.key.verifying_key().to_bytes();
        hex::encode(
            key.sign(&device_certificate_message(
                &d.user_id,
                &d.device_id,
                &device_key,
            ))
            .to_bytes(),
        )
    };
    let identity = SigningKey::from_bytes(&[7u8; 32]);
    let identity_pub = hex::encode(identity.verifying_key().to_bytes());
    // A certificate for another device than the caller: refused.
    let r = c.put_json(
        "/v1/me/identity",
        &json!({ "public_key": identity_pub, "certificate": cert(&identity, &staff) }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = c.put_json(
        "/v1/me/identity",
        &json!({ "public_key": identity_pub, "certificate": cert(&identity, &admin) }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Set once: the same key again is fine, another key is a conflict.
    let r = c.put_json(
        "/v1/me/identity",
        &json!({ "public_key": identity_pub, "certificate": cert(&identity, &admin) }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let other = SigningKey::from_bytes(&[8u8; 32]);
    let r = c.put_json(
        "/v1/me/identity",
        &json!({
            "public_key": hex::encode(other.verifying_key().to_bytes()),
            "certificate": cert(&other, &admin),
        }),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    // Certificates only for the caller's own devices, and only ones that verify.
    let r = c.put_json(
        &format!("/v1/devices/{}/certificate", staff.device_id),
        &json!({ "certificate": cert(&identity, &staff) }),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = c.put_json(
        &format!("/v1/devices/{}/certificate", admin.device_id),
        &json!({ "certificate": cert(&other, &admin) }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let list = c.get("/v1/me/devices").json();
    assert_eq!(list["identity_key"], json!(identity_pub));
    assert_eq!(
        list["devices"][0]["certificate"],
        json!(cert(&identity, &admin))
    );
    // A user without an identity key gets no certificates stored.
    let r = relay.client(&staff).put_json(
        &format!("/v1/devices/{}/certificate", staff.device_id),
        &json!({ "certificate": cert(&identity, &staff) }),
    );
    assert_eq!(r.status, 409, "{}", r.text());
}
