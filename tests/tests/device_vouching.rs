//! Devices vouched for by their user (issue 25), through the real relay binary with real SDK
//! clients behind [`HostileRelay`] (an honest proxy until a test adds rules).
//!
//! * honest: a device linked by approval of an existing device shows verified to the other
//!   members and the user's safety number does not change; a device linked by a TOTP code
//!   alone is unverified, is kept out of every room under the default policy
//!   (`ClientEvent::DeviceSkipped`, or `ClientError::UnverifiedDevices` when nothing could be
//!   added), and becomes verified (and joins) after it restores the recovery backup, which
//!   carries the identity key. The per-device policy can let unverified devices into customer
//!   rooms.
//! * attacks: the relay serves a forged certificate, another device's certificate, and a
//!   swapped identity key with certificates made under it for the unverified device: the
//!   device stays unverified for every viewer, the key change is reported once as
//!   `ClientEvent::KeyChanged`, the safety number stays the pinned one, and the device is
//!   added to no room. The relay swaps an approval bundle for one holding its own
//!   identity key: the new device does not take it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};

use sealroom_core::certificate::{seal_handover, UserIdentityKey};
use sealroom_core::client::{ClientEvent, HttpTransport, Role, SealroomClient, Space, SpaceMember};
use sealroom_core::state::{MemoryKv, StorageKey};
use sealroom_wire::accounts::{device_certificate_message, SecurityEventKind};

use sealroom_tests::hostile::HostileRelay;
use sealroom_tests::relay::{base32_decode, now, Relay};
use sealroom_tests::rooms::b64;
use sealroom_tests::runtime;

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
    admin: SealroomClient,
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
        admin,
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

/// For each `DeviceSkipped` event of `device_id`, whether it was the internal room, sorted.
fn skipped_in(events: &[ClientEvent], device_id: &str) -> Vec<bool> {
    let mut rooms: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::DeviceSkipped {
                device_id: d,
                internal,
                reason,
                ..
            } if d == device_id && reason == "unverified_device" => Some(*internal),
            _ => None,
        })
        .collect();
    rooms.sort();
    rooms
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

        // 2. A third device linked by a TOTP code alone: unverified, kept out of both rooms,
        //    verified after restoring the recovery backup.
        w.sam.create_recovery_backup(PASSPHRASE).await.unwrap();
        let (tablet, tablet_id) = link_by_totp(&w, &w.sam).await;
        w.sam.add_member(&w.space_id, &w.sam_user).await.unwrap();
        let events = w.sam.sync().await.unwrap();
        assert_eq!(
            skipped_in(&events, &tablet_id),
            vec![false, true],
            "{events:?}"
        );
        tablet.sync().await.unwrap();
        let own = tablet.space(&w.space_id).await.unwrap();
        assert!(!own.joined, "the customer room took an unverified device");
        assert!(
            !own.internal_room,
            "the internal room took an unverified device"
        );
        // Sam's device may let unverified devices into customer rooms: the tablet joins that
        // one only.
        w.sam.set_allow_unverified_customer(true).unwrap();
        assert!(w.sam.allow_unverified_customer().unwrap());
        w.sam.add_member(&w.space_id, &w.sam_user).await.unwrap();
        let events = w.sam.sync().await.unwrap();
        assert_eq!(skipped_in(&events, &tablet_id), vec![true], "{events:?}");
        w.sam.set_allow_unverified_customer(false).unwrap();
        tablet.sync().await.unwrap();
        let own = tablet.space(&w.space_id).await.unwrap();
        assert!(own.joined && !own.internal_room, "{own:?}");
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
            assert_eq!(
                skipped_in(&events, &tablet_id),
                vec![false, true],
                "mode {m}: {events:?}"
            );
            w.cara.sync().await.unwrap();
            let seen = w.cara.space(&w.space_id).await.unwrap();
            let sam_seen = member(&seen, &w.sam_user);
            assert!(
                !sam_seen.devices.contains(&tablet_id),
                "mode {m}: the tablet joined a room: {sam_seen:?}"
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
        let own = tablet.space(&w.space_id).await.unwrap();
        assert!(!own.joined && !own.internal_room, "{own:?}");

        // The relay swaps the approval bundle for one holding an identity key of its own
        // (it knows the new device's one-time key, which its own answer carries): the new
        // device does not take it.
        w.proxy.clear_rules();
        let phone = client(&w.proxy);
        let request = phone
            .request_device_link(&w.sam_user, "phone")
            .await
            .unwrap();
        let relay_key = UserIdentityKey::from_secret_bytes(&[42u8; 32]);
        let (request_id, user) = (request.request_id.clone(), w.sam_user.clone());
        w.proxy.rewrite(
            "GET",
            &format!("/v1/device-requests/{}", request.request_id),
            move |_, reply| {
                reply.edit_json(|v| {
                    let mut kx = [0u8; 32];
                    hex::decode_to_slice(v["kx_public_key"].as_str().unwrap(), &mut kx).unwrap();
                    let forged = seal_handover(&relay_key, &kx, &request_id, &user).unwrap();
                    v["bundle"] = json!(b64(&forged));
                })
            },
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

/// A customer who lost her only device (and has no recovery backup) gets a verified device
/// again only through an administrator's identity reset: her TOTP-linked laptop joins no room
/// before; after the reset the laptop creates a new identity key, the other members see a key
/// change and accept the new key only with its safety number, and then the laptop joins. A
/// device still holding the old key cannot publish it again: it drops it.
#[test]
fn an_identity_reset_lets_a_user_start_over() {
    let (relay, proxy) = start();
    runtime().block_on(async move {
        let w = world(relay, proxy).await;
        let cara_account = w.cara.account().unwrap();
        let (cara_user, phone_id) = (cara_account.user_id, cara_account.device_id);
        let old_number = member(&w.sam.space(&w.space_id).await.unwrap(), &cara_user)
            .safety_number
            .clone()
            .unwrap();

        // A tablet approved by the phone holds the old identity key.
        let tablet = client(&w.proxy);
        let request = tablet
            .request_device_link(&cara_user, "tablet")
            .await
            .unwrap();
        w.cara
            .approve_device(&request.request_id, &request.public_key)
            .await
            .unwrap();
        tablet.finish_device_link().await.unwrap().unwrap();
        assert!(tablet.can_vouch().unwrap());

        // The phone is lost: a laptop linked by a TOTP code alone, the phone revoked. Sam adds
        // Cara's devices: the tablet (verified) joins, the laptop does not.
        let (laptop, laptop_id) = link_by_totp(&w, &w.cara).await;
        w.admin.revoke_device(&phone_id).await.unwrap();
        w.sam.sync().await.unwrap();
        w.sam.add_member(&w.space_id, &cara_user).await.unwrap();
        let events = w.sam.sync().await.unwrap();
        assert_eq!(skipped_in(&events, &laptop_id), vec![false], "{events:?}");

        // Only an administrator may reset the key.
        let err = w.sam.reset_identity(&cara_user).await.unwrap_err();
        assert_eq!(err.code(), "relay_forbidden", "{err}");
        w.admin.reset_identity(&cara_user).await.unwrap();
        let security = laptop.security_events(0).await.unwrap();
        assert!(
            security
                .events
                .iter()
                .any(|e| e.kind == SecurityEventKind::IdentityReset),
            "{security:?}"
        );
        let err = w.admin.reset_identity(&cara_user).await.unwrap_err();
        assert_eq!(err.code(), "relay_not_found", "a second reset: {err}");

        // The tablet still holds the old key: the relay refuses it again, the tablet drops it.
        tablet.sync().await.unwrap();
        assert!(tablet.space(&w.space_id).await.unwrap().joined);
        assert!(
            !tablet.can_vouch().unwrap(),
            "the reset key was published again"
        );

        // The laptop starts over.
        assert!(!laptop.can_vouch().unwrap());
        laptop.create_new_identity().await.unwrap();
        assert!(laptop.can_vouch().unwrap());
        let err = tablet.create_new_identity().await.unwrap_err();
        assert_eq!(err.code(), "invalid_input", "a second new key: {err}");

        // Sam sees the change once, keeps the old pin, and does not add the laptop yet.
        let seen = w.sam.space(&w.space_id).await.unwrap();
        let cara_seen = member(&seen, &cara_user);
        assert!(cara_seen.identity_key_changed, "{cara_seen:?}");
        assert!(cara_seen.verified_devices.is_empty(), "{cara_seen:?}");
        assert_eq!(
            cara_seen.safety_number.as_deref(),
            Some(old_number.as_str())
        );
        let events = w.sam.sync().await.unwrap();
        let new_number = events
            .iter()
            .find_map(|e| match e {
                ClientEvent::KeyChanged {
                    user_id,
                    safety_number,
                } if *user_id == cara_user => Some(safety_number.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no key change: {events:?}"));
        assert_ne!(new_number, old_number);
        w.sam.add_member(&w.space_id, &cara_user).await.unwrap();
        let events = w.sam.sync().await.unwrap();
        assert_eq!(skipped_in(&events, &laptop_id), vec![false], "{events:?}");

        // Accepted only with the new key's safety number.
        let err = w
            .sam
            .accept_identity_key(&cara_user, &old_number)
            .unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{err}");
        w.sam.accept_identity_key(&cara_user, &new_number).unwrap();
        let err = w
            .sam
            .accept_identity_key(&cara_user, &new_number)
            .unwrap_err();
        assert_eq!(err.code(), "invalid_input", "nothing left to accept: {err}");
        let seen = w.sam.space(&w.space_id).await.unwrap();
        let cara_seen = member(&seen, &cara_user);
        assert!(!cara_seen.identity_key_changed, "{cara_seen:?}");
        assert_eq!(
            cara_seen.safety_number.as_deref(),
            Some(new_number.as_str())
        );
        w.sam.add_member(&w.space_id, &cara_user).await.unwrap();
        let joined = laptop.sync().await.unwrap();
        assert!(
            joined
                .iter()
                .any(|e| matches!(e, ClientEvent::JoinedSpace { .. })),
            "{joined:?}"
        );
        assert!(laptop.space(&w.space_id).await.unwrap().joined);
        // The laptop is verified under the new key; the tablet, whose certificate went with
        // the reset, is in the room but unverified until the laptop vouches for it.
        let seen = w.sam.space(&w.space_id).await.unwrap();
        let cara_seen = member(&seen, &cara_user);
        assert!(cara_seen.devices.contains(&laptop_id), "{cara_seen:?}");
        assert_eq!(cara_seen.verified_devices, vec![laptop_id.clone()]);
        let tablet_id = tablet.account().unwrap().device_id;
        laptop
            .certify_device(&tablet_id, &tablet.device_public_key().unwrap())
            .await
            .unwrap();
        let seen = w.sam.space(&w.space_id).await.unwrap();
        let mut verified = member(&seen, &cara_user).verified_devices.clone();
        verified.sort();
        let mut expected = vec![laptop_id.clone(), tablet_id];
        expected.sort();
        assert_eq!(verified, expected);
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
