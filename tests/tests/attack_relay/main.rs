//! A hostile relay and a malicious customer against the SDK (issue 25, attacks a, b, e, f),
//! through the real relay binary with real SDK clients. The SDK clients talk to the relay
//! through [`HostileRelay`], a proxy that forwards every request unchanged and lets the test
//! rewrite the answers: that is exactly the power of whoever runs or breaks into the relay.
//! Raw-openmls devices (the attacker's) talk to the relay directly.
//!
//! * a: the relay injects into a room's handshake log an external join proposal for a device
//!   it controls, and an external commit built from the GroupInfo the room was registered
//!   with. Every client refuses it, no Welcome for the attacker's device is produced, the
//!   room stays usable, and the app gets a `ClientEvent::Refused`.
//! * b: the relay answers a key-package claim with a package of another user, of another
//!   organisation, of a device it made up, or with another key: `add_member` fails with
//!   `ClientError::KeyPackageMismatch` and nothing is committed. A device the relay makes up
//!   and lists consistently (device list and claim agree; no certificate from the user's
//!   identity key) is left out of the commit (`ClientEvent::DeviceSkipped`), and an add that
//!   would add only such devices fails with `ClientError::UnverifiedDevices`.
//! * e: a customer device commits the removal of staff or the addition of a device, and a
//!   staff device commits a customer device into the internal room: the relay refuses each
//!   (403), and every client refuses it when the relay hands it out anyway.
//! * f: the relay hides a member from the space's member list and device list: the client
//!   still shows every user in the MLS tree with a safety number, flagged as not listed by
//!   the relay, and sync reports every membership change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;

use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use serde_json::{json, Value};

use sealroom_core::client::{
    ClientError, ClientEvent, HttpTransport, NewMessage, Role, SealroomClient, Transport,
};
use sealroom_core::state::{FileKv, StorageKey};
use sealroom_wire::CredentialIdentity;

use sealroom_tests::hostile::{HostileRelay, Reply};
use sealroom_tests::relay::Relay;
use sealroom_tests::rooms::{
    b64, bytes, forged_group_info, group_config, post_handshake, suite, unb64,
    validated_key_package, MlsDevice,
};

mod world;
use world::*;

/// Attack a (i): an external join proposal for the relay's device rides into the next honest
/// commit unless every client refuses it.
#[test]
fn injected_external_join_proposal_is_refused() {
    run(true, false, |w| async move {
        let (room, _) = w.rooms();
        let mallory = w.raw_customer("Mallory").await;
        let kp = validated_key_package(&mallory.provider, &sealroom_key_package(&mallory));
        let proposal = JoinProposal::new::<Storage>(
            kp,
            GroupId::from_slice(&hex::decode(&room).unwrap()),
            GroupEpoch::from(w.epoch(&room)),
            &mallory.signer,
        )
        .unwrap();
        w.inject(
            &room,
            "proposal",
            &mallory.device.device_id,
            &bytes(&proposal),
        );

        let cara_events = w.cara().client.sync().await.unwrap();
        let dan = w.sdk_customer("Dan Customer").await;
        let added = w.staff.client.add_member(&w.space_id, &dan.user()).await;
        assert!(
            added.is_ok(),
            "the honest add failed after the injection: {added:?}"
        );
        assert!(
            w.welcomes(&mallory).is_empty(),
            "the relay's device got a Welcome"
        );
        assert!(
            welcome_recipients(&w.proxy).iter().all(|&n| n == 1),
            "a commit welcomed more devices than the one added: {:?}",
            welcome_recipients(&w.proxy)
        );
        let staff_events = w.staff.client.sync().await.unwrap();
        assert!(
            refused_in(&cara_events, &room),
            "cara: no Refused event: {cara_events:?}"
        );
        assert!(
            refused_in(&staff_events, &room),
            "staff: no Refused event: {staff_events:?}"
        );
        let joined = dan.client.sync().await.unwrap();
        assert!(
            joined
                .iter()
                .any(|e| matches!(e, ClientEvent::JoinedSpace { .. })),
            "{joined:?}"
        );
        w.proxy.clear_rules();
        w.room_still_usable(&[w.cara(), &dan], "a1").await;
        let space = w.staff.client.space(&w.space_id).await.unwrap();
        assert!(
            space
                .members
                .iter()
                .all(|m| m.user_id != mallory.device.user_id || m.devices.is_empty()),
            "the relay's device is in the tree: {:?}",
            space.members
        );
    });
}

/// Attack a (ii): an external commit built from the GroupInfo the room was registered with.
#[test]
fn injected_external_commit_is_refused() {
    run(false, false, |w| async move {
        let (room, _) = w.rooms();
        let mallory = w.raw_customer("Mallory").await;
        let registration = w.registration(&room);
        let info = match MlsMessageIn::tls_deserialize_exact(unb64(
            registration["group_info"].as_str().unwrap(),
        ))
        .unwrap()
        .extract()
        {
            MlsMessageBodyIn::GroupInfo(info) => info,
            _ => panic!("not a group info"),
        };
        let tree = RatchetTreeIn::tls_deserialize_exact(unb64(
            registration["ratchet_tree"].as_str().unwrap(),
        ))
        .unwrap();
        let build = |info: VerifiableGroupInfo, tree: RatchetTreeIn| {
            #[allow(deprecated)]
            MlsGroup::join_by_external_commit(
                &mallory.provider,
                &mallory.signer,
                Some(tree),
                info,
                group_config().join_config(),
                None,
                None,
                &[],
                mallory.credential.clone(),
            )
        };
        let commit = match build(info, tree) {
            Ok((_group, commit, _)) => commit,
            // No `external_pub` in what the client uploads: the relay forges a GroupInfo of
            // its own for the room's group id and epoch, which does carry one.
            Err(ExternalCommitError::MissingExternalPub) => {
                let (info, tree) =
                    forged_group_info(&mallory.device.org_id, &room, w.epoch(&room)).unwrap();
                build(info, tree)
                    .expect("an external commit on the forged GroupInfo")
                    .1
            }
            Err(e) => panic!("building the external commit failed otherwise: {e:?}"),
        };
        w.inject(&room, "commit", &mallory.device.device_id, &bytes(&commit));
        // An honest member adds someone: the commit must not build on the injected one.
        let cara = w.sdk_customer("Cara Customer").await;
        let added = w.staff.client.add_member(&w.space_id, &cara.user()).await;
        assert!(
            added.is_ok(),
            "the honest add failed after the injection: {added:?}"
        );
        let staff_events = w.staff.client.sync().await.unwrap();
        assert!(
            refused_in(&staff_events, &room),
            "staff: no Refused event: {staff_events:?}"
        );
        let joined = cara.client.sync().await.unwrap();
        assert!(
            joined
                .iter()
                .any(|e| matches!(e, ClientEvent::JoinedSpace { .. })),
            "{joined:?}"
        );
        w.proxy.clear_rules();
        w.room_still_usable(&[&cara], "a2").await;
        let space = w.staff.client.space(&w.space_id).await.unwrap();
        assert!(
            space
                .members
                .iter()
                .all(|m| m.user_id != mallory.device.user_id || m.devices.is_empty()),
            "the relay's device is in the tree: {:?}",
            space.members
        );
    });
}

/// Attack b: the relay answers a key-package claim with packages that are not the user's.
#[test]
fn substituted_key_packages_are_refused() {
    run(true, false, |w| async move {
        let (room, _) = w.rooms();
        let mallory = w.raw_customer("Mallory").await;
        let other_org = w
            .admin
            .client
            .create_customer_org("Other Ltd")
            .await
            .unwrap()
            .org_id;
        let dan = w.sdk_customer("Dan Customer").await;
        let (dan_user, dan_device) = (dan.user(), dan.device());
        let made_up = format!(
            "{}{}",
            &dan_device[..dan_device.len() - 1],
            if dan_device.ends_with('0') { '1' } else { '0' }
        );
        let cases: Vec<(&str, String, Vec<u8>)> = vec![
            (
                "another user's package",
                dan_device.clone(),
                sealroom_key_package(&mallory),
            ),
            (
                "another organisation",
                dan_device.clone(),
                forged_key_package(&other_org, &dan_user, &dan_device),
            ),
            (
                "a device the relay made up",
                made_up.clone(),
                forged_key_package(&w.org_id, &dan_user, &made_up),
            ),
            (
                "the user's device with the relay's key",
                dan_device.clone(),
                forged_key_package(&w.org_id, &dan_user, &dan_device),
            ),
        ];
        for (case, device_id, package) in cases {
            w.proxy.clear_rules();
            let answer = json!({
                "user_id": dan_user,
                "key_packages": [{ "device_id": device_id, "key_package": b64(&package) }],
                "missing": [],
            });
            w.proxy.respond(
                "POST",
                &format!("/v1/users/{dan_user}/keypackages/claim"),
                move |_| Reply::json(200, &answer),
            );
            let posted = w.posted_handshakes();
            let epoch = w.epoch(&room);
            let result = w.staff.client.add_member(&w.space_id, &dan_user).await;
            assert!(
                matches!(result, Err(ClientError::KeyPackageMismatch { .. })),
                "{case}: add_member gave {result:?}"
            );
            assert_eq!(w.posted_handshakes(), posted, "{case}: a commit was sent");
            assert_eq!(w.epoch(&room), epoch, "{case}: the room moved on");
        }
        assert!(w.welcomes(&mallory).is_empty(), "Mallory got a Welcome");
        // The honest relay again: the add goes through.
        w.proxy.clear_rules();
        w.add(&dan_user).await;
        let joined = dan.client.sync().await.unwrap();
        assert!(
            joined
                .iter()
                .any(|e| matches!(e, ClientEvent::JoinedSpace { .. })),
            "{joined:?}"
        );
        w.room_still_usable(&[w.cara(), &dan], "b").await;
    });
}

/// Attack b, last clause: the relay makes up a device for the user being added and lists it
/// consistently: in the user's device list (active, with the key of its package) and in the
/// claim. Only the user's identity key can vouch for it, and the relay cannot sign with that.
#[test]
fn made_up_device_listed_consistently_is_refused() {
    run(true, false, |w| async move {
        let (room, _) = w.rooms();
        let dan = w.sdk_customer("Dan Customer").await;
        let (dan_user, dan_device) = (dan.user(), dan.device());
        let made_up = format!("{dan_device}f");
        let (package, key) = forged_key_package_and_key(&w.org_id, &dan_user, &made_up);
        let listed = json!({
            "device_id": made_up,
            "user_id": dan_user,
            "name": "phone",
            "public_key": key,
            "status": "active",
            "created_at": 1,
        });
        let entry = json!({ "device_id": made_up, "key_package": b64(&package) });
        // hide: also leave the user's real device out of both answers.
        let lie = |hide: bool| {
            let (listed, entry) = (listed.clone(), entry.clone());
            let (real_listed, real_claimed) = (dan_device.clone(), dan_device.clone());
            w.proxy.clear_rules();
            w.proxy.rewrite(
                "GET",
                &format!("/v1/users/{dan_user}/devices"),
                move |_, reply| {
                    reply.edit_json(|v| {
                        let devices = v["devices"].as_array_mut().unwrap();
                        if hide {
                            devices.retain(|d| d["device_id"] != json!(real_listed));
                        }
                        devices.push(listed.clone());
                    })
                },
            );
            w.proxy.rewrite(
                "POST",
                &format!("/v1/users/{dan_user}/keypackages/claim"),
                move |_, reply| {
                    reply.edit_json(|v| {
                        let packages = v["key_packages"].as_array_mut().unwrap();
                        if hide {
                            packages.retain(|p| p["device_id"] != json!(real_claimed));
                        }
                        packages.push(entry.clone());
                    })
                },
            );
        };

        // Only the made-up device: the add fails, nothing is committed, no Welcome.
        lie(true);
        let posted = w.posted_handshakes();
        let epoch = w.epoch(&room);
        let result = w.staff.client.add_member(&w.space_id, &dan_user).await;
        match &result {
            Err(ClientError::UnverifiedDevices { user_id, devices }) => {
                assert_eq!(user_id, &dan_user);
                assert_eq!(devices, &vec![made_up.clone()]);
            }
            other => panic!("add_member gave {other:?}"),
        }
        assert_eq!(result.unwrap_err().code(), "unverified_devices");
        assert_eq!(w.posted_handshakes(), posted, "a commit was sent");
        assert_eq!(w.epoch(&room), epoch, "the room moved on");

        // The made-up device beside the real one: the real one joins, the made-up one is left
        // out of the commit (one Welcome secret, for Dan's device) and reported.
        lie(false);
        let welcomes_before = welcome_recipients(&w.proxy).len();
        w.add(&dan_user).await;
        let recipients = welcome_recipients(&w.proxy);
        assert_eq!(recipients.len(), welcomes_before + 1, "{recipients:?}");
        assert_eq!(
            recipients.last(),
            Some(&1),
            "the Welcome was for two devices"
        );
        let events = w.staff.client.sync().await.unwrap();
        assert!(
            events.iter().any(|e| matches!(e,
                ClientEvent::DeviceSkipped { device_id, internal: false, reason, .. }
                    if *device_id == made_up && reason == "unverified_device")),
            "{events:?}"
        );
        w.proxy.clear_rules();
        let joined = dan.client.sync().await.unwrap();
        assert!(
            joined
                .iter()
                .any(|e| matches!(e, ClientEvent::JoinedSpace { .. })),
            "{joined:?}"
        );
        for viewer in [&w.staff, w.cara(), &dan] {
            viewer.client.sync().await.unwrap();
            let space = viewer.client.space(&w.space_id).await.unwrap();
            let seen = space
                .members
                .iter()
                .find(|m| m.user_id == dan_user)
                .unwrap();
            assert_eq!(seen.devices, vec![dan_device.clone()], "{seen:?}");
        }
        w.room_still_usable(&[w.cara(), &dan], "b-made-up").await;
    });
}

/// The forbidden-commit scene of attack e: a raw customer (Mallory) in the customer room and
/// a raw staff member (Steve) in both rooms.
async fn e_scene(w: &World) -> (String, String, MlsDevice, MlsGroup, MlsDevice, MlsGroup) {
    let (room, internal) = w.rooms();
    let internal = internal.unwrap();
    let steve = w.raw_staff("Steve").await;
    w.add(&steve.device.user_id).await;
    let steve_internal = w.raw_join(&steve, &internal);
    let mallory = w.raw_customer("Mallory").await;
    w.add(&mallory.device.user_id).await;
    let mallory_group = w.raw_join(&mallory, &room);
    w.cara().client.sync().await.unwrap();
    w.staff.client.sync().await.unwrap();
    (
        room,
        internal,
        mallory,
        mallory_group,
        steve,
        steve_internal,
    )
}

/// Posts `commit` as `device` to the real relay: it must refuse with 403 and keep nothing.
fn relay_refuses(
    w: &World,
    device: &MlsDevice,
    room: &str,
    commit: &MlsMessageOut,
    welcome: Option<&MlsMessageOut>,
    case: &str,
) {
    let before = w
        .relay
        .client(&device.device)
        .get(&format!("/v1/rooms/{room}"));
    let r = post_handshake(&w.relay.client(&device.device), room, commit, welcome);
    assert_eq!(r.status, 403, "{case}: the relay accepted it: {}", r.text());
    assert!(!r.code().is_empty(), "{case}: no JSON error code");
    let after = w
        .relay
        .client(&device.device)
        .get(&format!("/v1/rooms/{room}"));
    assert_eq!(
        before.json()["epoch"],
        after.json()["epoch"],
        "{case}: the room moved on"
    );
}

/// Attack e (1): a customer commits the removal of staff.
#[test]
fn customer_commit_removing_staff_is_refused() {
    run(true, true, |w| async move {
        let (room, _internal, mallory, mut group, _steve, _) = e_scene(&w).await;
        let staff_leaf = leaf_of(&group, &w.staff.user());
        let (commit, _, _) = group
            .remove_members(&mallory.provider, &mallory.signer, &[staff_leaf])
            .unwrap();
        relay_refuses(&w, &mallory, &room, &commit, None, "customer removes staff");
        w.inject(&room, "commit", &mallory.device.device_id, &bytes(&commit));
        let staff_events = w.staff.client.sync().await.unwrap();
        let cara_events = w.cara().client.sync().await.unwrap();
        assert!(refused_in(&staff_events, &room), "staff: {staff_events:?}");
        assert!(refused_in(&cara_events, &room), "cara: {cara_events:?}");
        w.proxy.clear_rules();
        w.room_still_usable(&[w.cara()], "e1").await;
    });
}

/// Attack e (2): a customer commits the addition of a device.
#[test]
fn customer_commit_adding_a_device_is_refused() {
    run(true, true, |w| async move {
        let (room, _internal, mallory, mut group, _steve, _) = e_scene(&w).await;
        let nina = w.raw_customer("Nina").await;
        let kp = validated_key_package(&nina.provider, &sealroom_key_package(&nina));
        let (commit, welcome, _) = group
            .add_members(&mallory.provider, &mallory.signer, &[kp])
            .unwrap();
        relay_refuses(
            &w,
            &mallory,
            &room,
            &commit,
            Some(&welcome),
            "customer adds a device",
        );
        assert!(w.welcomes(&nina).is_empty(), "Nina got a Welcome");
        w.inject(&room, "commit", &mallory.device.device_id, &bytes(&commit));
        let staff_events = w.staff.client.sync().await.unwrap();
        let cara_events = w.cara().client.sync().await.unwrap();
        assert!(refused_in(&staff_events, &room), "staff: {staff_events:?}");
        assert!(refused_in(&cara_events, &room), "cara: {cara_events:?}");
        w.proxy.clear_rules();
        w.room_still_usable(&[w.cara()], "e2").await;
    });
}

/// Attack e (3): a staff device commits a customer device into the internal room.
#[test]
fn customer_device_in_the_internal_room_is_refused() {
    run(true, true, |w| async move {
        let (_room, internal, _mallory, _group, steve, mut steve_internal) = e_scene(&w).await;
        let nina = w.raw_customer("Nina").await;
        let kp = validated_key_package(&nina.provider, &sealroom_key_package(&nina));
        let (commit, welcome, _) = steve_internal
            .add_members(&steve.provider, &steve.signer, &[kp])
            .unwrap();
        relay_refuses(
            &w,
            &steve,
            &internal,
            &commit,
            Some(&welcome),
            "customer device into the internal room",
        );
        assert!(w.welcomes(&nina).is_empty(), "Nina got a Welcome");
        w.inject(
            &internal,
            "commit",
            &steve.device.device_id,
            &bytes(&commit),
        );
        let staff_events = w.staff.client.sync().await.unwrap();
        assert!(
            refused_in(&staff_events, &internal),
            "staff: {staff_events:?}"
        );
        w.proxy.clear_rules();
        let note = "internal note after the attack e3";
        w.staff
            .client
            .post_message(
                &w.space_id,
                NewMessage {
                    body: note.into(),
                    internal: true,
                    ..NewMessage::default()
                },
            )
            .await
            .unwrap();
        assert!(w.welcomes(&nina).is_empty(), "Nina got a Welcome");
    });
}

/// Attack f: the relay hides a member; sync reports every membership change.
#[test]
fn a_member_the_relay_hides_is_still_shown() {
    run(true, false, |w| async move {
        let cara_user = w.cara().user();
        let space_id = w.space_id.clone();
        let hide = cara_user.clone();
        let strip = move |v: &mut Value| {
            if let Some(members) = v["members"].as_array_mut() {
                members.retain(|m| m["user_id"] != json!(hide));
            }
        };
        let strip2 = strip.clone();
        w.proxy
            .rewrite("GET", &format!("/v1/spaces/{space_id}"), move |_, r| {
                r.edit_json(&strip)
            });
        w.proxy.rewrite("GET", "/v1/spaces", move |_, r| {
            r.edit_json(|v| {
                if let Some(spaces) = v["spaces"].as_array_mut() {
                    spaces.iter_mut().for_each(&strip2);
                }
            })
        });
        w.proxy
            .respond("GET", &format!("/v1/users/{cara_user}/devices"), |_| {
                Reply::json(200, &json!({ "devices": [] }))
            });
        for space in [
            w.staff.client.space(&w.space_id).await.unwrap(),
            w.staff
                .client
                .spaces()
                .await
                .unwrap()
                .into_iter()
                .find(|s| s.space_id == w.space_id)
                .unwrap(),
        ] {
            let cara = space
                .members
                .iter()
                .find(|m| m.user_id == cara_user)
                .unwrap_or_else(|| panic!("the hidden member is not shown: {:?}", space.members));
            assert!(!cara.listed_by_relay, "{cara:?}");
            assert!(cara.safety_number.is_some(), "{cara:?}");
            assert_eq!(cara.devices, vec![w.cara().device()]);
            assert_eq!(cara.org_id.as_deref(), Some(w.org_id.as_str()));
            assert!(!cara.provider_staff);
            let staff = space
                .members
                .iter()
                .find(|m| m.user_id == w.staff.user())
                .unwrap();
            assert!(staff.listed_by_relay && staff.provider_staff, "{staff:?}");
            assert!(staff.safety_number.is_some());
        }
        // Every membership change reaches the other members as events.
        w.proxy.clear_rules();
        let dan = w.sdk_customer("Dan Customer").await;
        w.add(&dan.user()).await;
        dan.client.sync().await.unwrap();
        let events = w.cara().client.sync().await.unwrap();
        assert!(
            events.iter().any(|e| matches!(e,
                ClientEvent::MemberAdded { user_id, device_id, .. }
                    if *user_id == dan.user() && *device_id == dan.device())),
            "{events:?}"
        );
        w.staff
            .client
            .remove_member(&w.space_id, &dan.user())
            .await
            .unwrap();
        let events = w.cara().client.sync().await.unwrap();
        assert!(
            events.iter().any(|e| matches!(e,
                ClientEvent::MemberRemoved { user_id, device_id, .. }
                    if *user_id == dan.user() && *device_id == dan.device())),
            "{events:?}"
        );
    });
}
