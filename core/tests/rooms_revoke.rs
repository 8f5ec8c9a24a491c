//! Removing a revoked device (issue 24): a customer device may remove the other devices of
//! its own user and nothing more; provider devices may remove anyone. Driven through
//! `sealroom_core::room::Client` with a raw openmls attacker for commits the SDK refuses to
//! build.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod rooms_common;

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

use rooms_common::{deliver, dev, run_commit, Dev};
use sealroom_core::identity::CredentialIdentity;
use sealroom_core::room::{
    PolicyViolation, RefusalReason, RoomError, RoomEvent, RoomId, RoomKind, CIPHERSUITE,
};
use sealroom_core::state::{MemoryKv, StorageKey};

/// The provider-org extension type of Sealroom rooms (private-use range).
const PROVIDER_EXTENSION: u16 = 0xF5A1;

fn customer_dev(user: &str, device: &str) -> Dev {
    let kv = MemoryKv::new();
    let key = [0x44; 32];
    let id = CredentialIdentity::new("cust", user, device).unwrap();
    let client =
        sealroom_core::room::Client::create(Box::new(kv.clone()), &StorageKey::from_bytes(key), id)
            .unwrap();
    Dev { client, kv, key }
}

/// A customer device driven by raw openmls: builds commits the SDK would refuse.
struct Raw {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    cred: CredentialWithKey,
}

fn raw(user: &str, device: &str) -> Raw {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
    signer.store(provider.storage()).unwrap();
    let id = CredentialIdentity::new("cust", user, device).unwrap();
    let cred = CredentialWithKey {
        credential: BasicCredential::new(id.to_bytes()).into(),
        signature_key: signer.public().into(),
    };
    Raw {
        provider,
        signer,
        cred,
    }
}

impl Raw {
    fn key_package_bytes(&self) -> Vec<u8> {
        let kp = KeyPackage::builder()
            .leaf_node_capabilities(
                Capabilities::builder()
                    .ciphersuites(vec![CIPHERSUITE])
                    .extensions(vec![ExtensionType::Unknown(PROVIDER_EXTENSION)])
                    .build(),
            )
            .build(CIPHERSUITE, &self.provider, &self.signer, self.cred.clone())
            .unwrap()
            .key_package()
            .clone();
        MlsMessageOut::from(kp).tls_serialize_detached().unwrap()
    }

    fn join(&self, welcome: &[u8]) -> MlsGroup {
        let msg = MlsMessageIn::tls_deserialize_exact(welcome).unwrap();
        let MlsMessageBodyIn::Welcome(w) = msg.extract() else {
            panic!("not a welcome")
        };
        let config = MlsGroupJoinConfig::builder()
            .use_ratchet_tree_extension(true)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        StagedWelcome::new_from_welcome(&self.provider, &config, w, None)
            .unwrap()
            .into_group(&self.provider)
            .unwrap()
    }

    /// A commit by this device removing the leaf of `victim`.
    fn remove(&self, group: &mut MlsGroup, victim: &Dev) -> Vec<u8> {
        let leaf = group
            .members()
            .find(|m| m.signature_key == victim.client.device().public_key().to_vec())
            .unwrap()
            .index;
        let (commit, _, _) = group
            .remove_members(&self.provider, &self.signer, &[leaf])
            .unwrap();
        commit.tls_serialize_detached().unwrap()
    }
}

fn refused(events: &[RoomEvent]) -> Vec<RefusalReason> {
    events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::Refused { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

fn device_id(d: &Dev) -> String {
    d.client.device().identity().device_id.clone()
}

/// Staff Alice and Bob ("acme", the provider), customer Cathy with devices c1 and c2, and
/// customer Dan (another user of the customer organisation).
struct Scene {
    room: RoomId,
    alice: Dev,
    bob: Dev,
    c1: Dev,
    c2: Dev,
    dan: Dev,
}

fn scene() -> Scene {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let room = alice
        .client
        .create_room("case-1", RoomKind::Customer)
        .unwrap()
        .room_id;
    let out = alice.client.add_members(&room, &[bob.kp()]).unwrap();
    run_commit(&room, out, &mut alice, &mut [&mut bob]);
    let mut c1 = customer_dev("cathy", "c1");
    let mut c2 = customer_dev("cathy", "c2");
    let mut dan = customer_dev("dan", "d1");
    let out = alice
        .client
        .add_members(&room, &[c1.kp(), c2.kp(), dan.kp()])
        .unwrap();
    run_commit(
        &room,
        out,
        &mut alice,
        &mut [&mut bob, &mut c1, &mut c2, &mut dan],
    );
    Scene {
        room,
        alice,
        bob,
        c1,
        c2,
        dan,
    }
}

#[test]
fn a_customer_device_removes_its_own_users_other_device_and_nothing_more() {
    let mut s = scene();
    let room = s.room.clone();
    let (c1, c2, d1, b1) = (
        device_id(&s.c1),
        device_id(&s.c2),
        device_id(&s.dan),
        device_id(&s.bob),
    );
    // What the policy lets each device remove.
    assert!(s.c1.client.may_remove_device(&room, &c2).unwrap());
    assert!(!s.c1.client.may_remove_device(&room, &c1).unwrap());
    assert!(!s.c1.client.may_remove_device(&room, &d1).unwrap());
    assert!(!s.c1.client.may_remove_device(&room, &b1).unwrap());
    assert!(!s.c1.client.may_remove_device(&room, "not-here").unwrap());
    assert!(s.alice.client.may_remove_device(&room, &d1).unwrap());
    assert!(s.alice.client.may_remove_device(&room, &c2).unwrap());

    // The SDK does not build a removal of another user's device, even mixed with its own.
    for ids in [
        vec![d1.as_str()],
        vec![b1.as_str()],
        vec![c2.as_str(), d1.as_str()],
    ] {
        assert!(
            matches!(
                s.c1.client.remove_devices(&room, &ids),
                Err(RoomError::Policy(PolicyViolation::NotProvider))
            ),
            "{ids:?}"
        );
    }
    assert!(matches!(
        s.c1.client.remove_devices(&room, &["not-here"]),
        Err(RoomError::Membership)
    ));

    // Its own user's other device (the revoked one): built, and accepted by every member.
    let epoch = s.alice.client.epoch(&room).unwrap();
    let out = s.c1.client.remove_devices(&room, &[c2.as_str()]).unwrap();
    assert_eq!(out.removed, vec![s.c2.client.device().identity().clone()]);
    let commit = out.commit.clone();
    s.c1.client.confirm_commit(&room).unwrap();
    for d in [&mut s.alice, &mut s.bob, &mut s.dan] {
        let events = d.client.process(&room, &commit).unwrap();
        assert!(refused(&events).is_empty(), "{events:?}");
        assert_eq!(d.client.epoch(&room).unwrap(), epoch + 1);
    }
    s.c2.client.process(&room, &commit).unwrap();
    assert!(s.c2.client.is_removed(&room).unwrap());
}

#[test]
fn a_customer_commit_removing_another_users_device_is_refused_by_every_client() {
    let mut s = scene();
    let room = s.room.clone();
    // Mallory: a customer device of user "cathy"'s organisation but another user, built
    // with raw openmls so that it can send what the SDK refuses to build.
    let mallory = raw("mallory", "m1");
    let mut m2 = customer_dev("mallory", "m2");
    let out = s
        .alice
        .client
        .add_members(&room, &[mallory.key_package_bytes(), m2.kp()])
        .unwrap();
    let welcome = out.welcome.clone().unwrap();
    run_commit(
        &room,
        out,
        &mut s.alice,
        &mut [&mut s.bob, &mut s.c1, &mut s.c2, &mut s.dan, &mut m2],
    );
    let mut group = mallory.join(&welcome);
    let epoch = s.alice.client.epoch(&room).unwrap();

    // "Dan's device is revoked", says Mallory: a commit removing another user's device.
    let commit = mallory.remove(&mut group, &s.dan);
    for ev in deliver(
        &room,
        &commit,
        &mut [&mut s.alice, &mut s.bob, &mut s.c1, &mut s.dan, &mut m2],
    ) {
        assert_eq!(
            refused(&ev),
            vec![RefusalReason::MembershipPolicy],
            "ATTACK SUCCEEDED: {ev:?}"
        );
    }
    assert_eq!(s.alice.client.epoch(&room).unwrap(), epoch);
    assert!(!s.dan.client.is_removed(&room).unwrap());
    group
        .clear_pending_commit(mallory.provider.storage())
        .unwrap();

    // Positive control: the same raw client removing its own user's other device is taken.
    let commit = mallory.remove(&mut group, &m2);
    for ev in deliver(
        &room,
        &commit,
        &mut [&mut s.alice, &mut s.bob, &mut s.c1, &mut s.dan],
    ) {
        assert!(refused(&ev).is_empty(), "{ev:?}");
    }
    assert_eq!(s.alice.client.epoch(&room).unwrap(), epoch + 1);
    m2.client.process(&room, &commit).unwrap();
    assert!(m2.client.is_removed(&room).unwrap());
}
