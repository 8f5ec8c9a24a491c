//! Attacks on rooms by a lying relay or a malicious member (issue 25), driving
//! `sealroom_core::room::Client` with raw openmls on the attacker's side: an external join
//! proposal, GroupInfos that would allow an external commit, a handshake sent encrypted, a
//! customer removing staff or adding a device, the internal room given a customer device,
//! history keys for future epochs and from a member that is not the adder, and a document
//! version jump.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod rooms_common;

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

use rooms_common::{deliver, dev, run_commit, Dev};
use sealroom_core::identity::CredentialIdentity;
use sealroom_core::room::{
    Content, DocumentVersion, FileKey, Label, PolicyViolation, RefusalReason, RoomError, RoomEvent,
    RoomId, RoomKind, CIPHERSUITE,
};
use sealroom_core::state::{MemoryKv, StorageKey};

/// The provider-org extension type of Sealroom rooms (private-use range).
const PROVIDER_EXTENSION: u16 = 0xF5A1;

/// An attacker's MLS client: raw openmls with its own key.
struct Raw {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    cred: CredentialWithKey,
}

fn raw(org: &str, user: &str, device: &str) -> Raw {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
    signer.store(provider.storage()).unwrap();
    let id = CredentialIdentity::new(org, user, device).unwrap();
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
    fn key_package(&self) -> KeyPackage {
        KeyPackage::builder()
            .leaf_node_capabilities(
                Capabilities::builder()
                    .ciphersuites(vec![CIPHERSUITE])
                    .extensions(vec![ExtensionType::Unknown(PROVIDER_EXTENSION)])
                    .build(),
            )
            .build(CIPHERSUITE, &self.provider, &self.signer, self.cred.clone())
            .unwrap()
            .key_package()
            .clone()
    }

    fn key_package_bytes(&self) -> Vec<u8> {
        MlsMessageOut::from(self.key_package())
            .tls_serialize_detached()
            .unwrap()
    }

    fn join(&self, welcome: &[u8]) -> Result<MlsGroup, String> {
        let msg = MlsMessageIn::tls_deserialize_exact(welcome).unwrap();
        let MlsMessageBodyIn::Welcome(w) = msg.extract() else {
            panic!("not a welcome")
        };
        let config = MlsGroupJoinConfig::builder()
            .use_ratchet_tree_extension(true)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        StagedWelcome::new_from_welcome(&self.provider, &config, w, None)
            .map_err(|e| format!("{e:?}"))?
            .into_group(&self.provider)
            .map_err(|e| format!("{e:?}"))
    }
}

fn bytes(m: &MlsMessageOut) -> Vec<u8> {
    m.tls_serialize_detached().unwrap()
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

fn has_external_pub(group_info: &[u8]) -> bool {
    match MlsMessageIn::tls_deserialize_exact(group_info)
        .unwrap()
        .extract()
    {
        MlsMessageBodyIn::GroupInfo(gi) => gi
            .extensions()
            .iter()
            .any(|e| e.extension_type() == ExtensionType::ExternalPub),
        _ => panic!("not a group info"),
    }
}

/// A provider-org ("acme") staff room with Alice and Bob.
fn staff_room(alice: &mut Dev, bob: &mut Dev, kind: RoomKind) -> RoomId {
    let created = alice.client.create_room("case-1", kind).unwrap();
    assert!(!has_external_pub(&created.group_info));
    let room = created.room_id;
    let out = alice.client.add_members(&room, &[bob.kp()]).unwrap();
    assert!(!has_external_pub(&out.group_info));
    run_commit(&room, out, alice, &mut [bob]);
    room
}

fn customer_dev(user: &str, device: &str) -> Dev {
    let kv = MemoryKv::new();
    let key = [0x33; 32];
    let id = CredentialIdentity::new("cust", user, device).unwrap();
    let client =
        sealroom_core::room::Client::create(Box::new(kv.clone()), &StorageKey::from_bytes(key), id)
            .unwrap();
    Dev { client, kv, key }
}

#[test]
fn external_join_proposal_is_refused_and_never_rides_along() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let mut carol = dev("carol", "c1");
    let room = staff_room(&mut alice, &mut bob, RoomKind::Customer);
    let relay = raw("acme", "relay", "r1");
    let gid = GroupId::from_slice(room.as_str().as_bytes());
    let epoch = GroupEpoch::from(alice.client.epoch(&room).unwrap());
    let proposal = JoinProposal::new::<<OpenMlsRustCrypto as OpenMlsProvider>::StorageProvider>(
        relay.key_package(),
        gid,
        epoch,
        &relay.signer,
    )
    .unwrap();
    let proposal = bytes(&proposal);
    for d in [&mut alice, &mut bob] {
        let ev = d.client.process(&room, &proposal).unwrap();
        assert_eq!(refused(&ev), vec![RefusalReason::ExternalSender], "{ev:?}");
        // A replay is a duplicate; the room is unchanged.
        let ev = d.client.process(&room, &proposal).unwrap();
        assert!(matches!(ev[..], [RoomEvent::Duplicate]), "{ev:?}");
    }
    // Nothing is pending, so an honest commit contains exactly what it says.
    assert!(matches!(
        alice.client.commit_pending_proposals(&room),
        Err(RoomError::Membership)
    ));
    let out = alice.client.add_members(&room, &[carol.kp()]).unwrap();
    assert_eq!(out.added, vec![carol.client.device().identity().clone()]);
    let welcome = out.welcome.clone().unwrap();
    run_commit(&room, out, &mut alice, &mut [&mut bob, &mut carol]);
    assert!(relay.join(&welcome).is_err(), "the relay's device joined");
    // Membership as the MLS tree holds it: three users, one device each, with safety numbers.
    let members = carol.client.room_members(&room).unwrap();
    assert_eq!(members.provider_org.as_deref(), Some("acme"));
    let users: Vec<&str> = members.users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(users, vec!["alice", "bob", "carol"]);
    assert!(members.unknown_leaves.is_empty());
    for u in &members.users {
        assert_eq!(u.devices.len(), 1);
        assert_eq!(
            u.safety_number,
            sealroom_core::identity::SafetyNumber::compute(
                &u.user_id,
                &[u.devices[0].signature_key].into_iter().collect()
            )
        );
    }
    assert_eq!(alice.client.members(&room).unwrap().len(), 3);
    assert_eq!(
        alice.client.epoch_authenticator(&room).unwrap(),
        carol.client.epoch_authenticator(&room).unwrap()
    );
}

#[test]
fn no_group_info_with_external_pub_leaves_the_client() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let room = staff_room(&mut alice, &mut bob, RoomKind::Customer);
    assert!(!has_external_pub(&alice.client.group_info(&room).unwrap()));
    let out = alice.client.self_update(&room).unwrap();
    assert!(!has_external_pub(&out.group_info));
}

/// The GroupInfo of a new room has no `external_pub`, and its new signature verifies: openmls's
/// `PublicGroup::from_external` (what the relay runs) accepts it.
#[test]
fn stripped_group_info_starts_a_public_group() {
    let mut alice = dev("alice", "a1");
    let created = alice
        .client
        .create_room("case-1", RoomKind::Customer)
        .unwrap();
    assert!(!has_external_pub(&created.group_info));
    let tree = alice.client.ratchet_tree(&created.room_id).unwrap();
    let MlsMessageBodyIn::GroupInfo(gi) = MlsMessageIn::tls_deserialize_exact(&created.group_info)
        .unwrap()
        .extract()
    else {
        panic!()
    };
    let storage = openmls_memory_storage::MemoryStorage::default();
    let crypto = OpenMlsRustCrypto::default();
    PublicGroup::from_external(
        crypto.crypto(),
        &storage,
        RatchetTreeIn::tls_deserialize_exact(&tree).unwrap(),
        gi,
        ProposalStore::new(),
    )
    .unwrap();
}

#[test]
fn key_packages_advertise_only_the_one_ciphersuite() {
    let mut alice = dev("alice", "a1");
    for kp in [alice.kp(), alice.client.last_resort_key_package().unwrap()] {
        let MlsMessageBodyIn::KeyPackage(kp) =
            MlsMessageIn::tls_deserialize_exact(&kp).unwrap().extract()
        else {
            panic!()
        };
        let kp = kp
            .validate(
                OpenMlsRustCrypto::default().crypto(),
                ProtocolVersion::Mls10,
            )
            .unwrap();
        let caps = kp.leaf_node().capabilities();
        let suites: Vec<Ciphersuite> = caps
            .ciphersuites()
            .iter()
            .map(|c| Ciphersuite::try_from(*c).unwrap())
            .collect();
        assert_eq!(suites, vec![CIPHERSUITE]);
        assert!(caps
            .extensions()
            .contains(&ExtensionType::Unknown(PROVIDER_EXTENSION)));
    }
}

#[test]
fn handshake_sent_encrypted_is_refused() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let room = staff_room(&mut alice, &mut bob, RoomKind::Customer);
    // Mallory is a customer member on raw openmls, configured to send handshakes encrypted.
    let mallory = raw("cust", "mallory", "m1");
    let out = alice
        .client
        .add_members(&room, &[mallory.key_package_bytes()])
        .unwrap();
    let welcome = out.welcome.clone().unwrap();
    run_commit(&room, out, &mut alice, &mut [&mut bob]);
    let mut group = mallory.join(&welcome).unwrap();
    group
        .set_configuration(
            mallory.provider.storage(),
            &MlsGroupJoinConfig::builder()
                .use_ratchet_tree_extension(true)
                .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
                .build(),
        )
        .unwrap();
    let (commit, _, _) = group
        .self_update(
            &mallory.provider,
            &mallory.signer,
            LeafNodeParameters::default(),
        )
        .unwrap()
        .into_contents();
    let commit = bytes(&commit);
    let epoch = alice.client.epoch(&room).unwrap();
    for ev in deliver(&room, &commit, &mut [&mut alice, &mut bob]) {
        assert_eq!(refused(&ev), vec![RefusalReason::NotPublic], "{ev:?}");
    }
    assert_eq!(alice.client.epoch(&room).unwrap(), epoch);
}

/// Alice and Bob (staff), then customer Mallory on raw openmls, joined by Alice's Welcome.
fn room_with_raw_customer(alice: &mut Dev, bob: &mut Dev) -> (RoomId, Raw, MlsGroup) {
    let room = staff_room(alice, bob, RoomKind::Customer);
    let mallory = raw("cust", "mallory", "m1");
    let out = alice
        .client
        .add_members(&room, &[mallory.key_package_bytes()])
        .unwrap();
    let welcome = out.welcome.clone().unwrap();
    run_commit(&room, out, alice, &mut [bob]);
    let group = mallory.join(&welcome).unwrap();
    (room, mallory, group)
}

#[test]
fn customer_commit_removing_staff_or_adding_a_device_is_refused() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let (room, mallory, mut group) = room_with_raw_customer(&mut alice, &mut bob);
    let epoch = alice.client.epoch(&room).unwrap();
    let bob_leaf = group
        .members()
        .find(|m| m.signature_key == bob.client.device().public_key().to_vec())
        .unwrap()
        .index;
    let (commit, _, _) = group
        .remove_members(&mallory.provider, &mallory.signer, &[bob_leaf])
        .unwrap();
    let commit = bytes(&commit);
    for ev in deliver(&room, &commit, &mut [&mut alice, &mut bob]) {
        assert_eq!(
            refused(&ev),
            vec![RefusalReason::MembershipPolicy],
            "{ev:?}"
        );
    }
    assert_eq!(alice.client.epoch(&room).unwrap(), epoch);
    group
        .clear_pending_commit(mallory.provider.storage())
        .unwrap();

    let eve = raw("cust", "eve", "e1");
    let (commit, _, _) = group
        .add_members(&mallory.provider, &mallory.signer, &[eve.key_package()])
        .unwrap();
    let commit = bytes(&commit);
    for ev in deliver(&room, &commit, &mut [&mut alice, &mut bob]) {
        assert_eq!(
            refused(&ev),
            vec![RefusalReason::MembershipPolicy],
            "{ev:?}"
        );
    }
    group
        .clear_pending_commit(mallory.provider.storage())
        .unwrap();

    // A customer's proposal to remove staff is refused too, so no commit can carry it.
    let (proposal, _) = group
        .propose_remove_member(&mallory.provider, &mallory.signer, bob_leaf)
        .unwrap();
    let proposal = bytes(&proposal);
    for ev in deliver(&room, &proposal, &mut [&mut alice, &mut bob]) {
        assert_eq!(
            refused(&ev),
            vec![RefusalReason::MembershipPolicy],
            "{ev:?}"
        );
    }
    // The room stays usable.
    let out = alice.client.self_update(&room).unwrap();
    run_commit(&room, out, &mut alice, &mut [&mut bob]);
    assert_eq!(alice.client.epoch(&room).unwrap(), epoch + 1);
}

#[test]
fn customer_client_cannot_build_policy_violations() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let mut cust = customer_dev("cathy", "c1");
    let room = staff_room(&mut alice, &mut bob, RoomKind::Customer);
    let out = alice.client.add_members(&room, &[cust.kp()]).unwrap();
    run_commit(&room, out, &mut alice, &mut [&mut bob, &mut cust]);
    let mut dan = dev("dan", "d1");
    assert!(matches!(
        cust.client.remove_users(&room, &["bob"]),
        Err(RoomError::Policy(PolicyViolation::NotProvider))
    ));
    assert!(matches!(
        cust.client.add_members(&room, &[dan.kp()]),
        Err(RoomError::Policy(PolicyViolation::NotProvider))
    ));
    // Leaving and updating its own leaf stay possible.
    let out = cust.client.self_update(&room).unwrap();
    run_commit(&room, out, &mut cust, &mut [&mut alice, &mut bob]);
    let leave = cust.client.leave(&room).unwrap();
    deliver(&room, &leave, &mut [&mut alice, &mut bob]);
    let out = alice.client.commit_pending_proposals(&room).unwrap();
    assert_eq!(out.removed, vec![cust.client.device().identity().clone()]);
    run_commit(&room, out, &mut alice, &mut [&mut bob, &mut cust]);
    assert!(cust.client.is_removed(&room).unwrap());
}

#[test]
fn internal_room_never_admits_a_customer_device() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let mut cust = customer_dev("cathy", "c1");
    let room = staff_room(&mut alice, &mut bob, RoomKind::Internal);
    assert!(matches!(
        alice.client.add_members(&room, &[cust.kp()]),
        Err(RoomError::Policy(PolicyViolation::InternalOutsider))
    ));
}

/// The JSON envelope of a history message, as a malicious member would write it.
fn history_envelope(keys: &[(u64, [u8; 32])], documents: &[(&str, u64)]) -> Vec<u8> {
    let keys: Vec<(u64, String)> = keys.iter().map(|(e, k)| (*e, hex::encode(k))).collect();
    serde_json::to_vec(&serde_json::json!({
        "v": 1,
        "body": { "type": "history", "keys": keys, "documents": documents },
    }))
    .unwrap()
}

#[test]
fn history_from_a_non_adder_or_for_future_epochs_is_refused() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let (room, mallory, mut group) = room_with_raw_customer(&mut alice, &mut bob);
    let evil = [0x66u8; 32];
    let msg = group
        .create_message(
            &mallory.provider,
            &mallory.signer,
            &history_envelope(&[(u64::MAX, evil), (1, evil)], &[("doc", u64::MAX)]),
        )
        .unwrap();
    let msg = bytes(&msg);
    for ev in deliver(&room, &msg, &mut [&mut alice, &mut bob]) {
        assert_eq!(
            refused(&ev),
            vec![RefusalReason::HistoryNotFromAdder],
            "{ev:?}"
        );
    }
    assert_eq!(alice.client.document_version(&room, "doc").unwrap(), None);
    // Mallory is removed; files wrapped afterwards use a key Mallory never had.
    let out = alice.client.remove_users(&room, &["mallory"]).unwrap();
    run_commit(&room, out, &mut alice, &mut [&mut bob]);
    let file_key = FileKey::from_bytes([7; 32]);
    let wrapped = alice.client.wrap_file_key(&room, "f1", &file_key).unwrap();
    assert_eq!(
        u64::from_be_bytes(wrapped[5..13].try_into().unwrap()),
        alice.client.epoch(&room).unwrap()
    );
    assert_eq!(
        bob.client
            .unwrap_file_key(&room, "f1", &wrapped)
            .unwrap()
            .expose_bytes(),
        [7; 32]
    );
}

#[test]
fn history_for_the_join_epoch_or_later_is_refused() {
    // Rob is a provider device on raw openmls; he adds Carol, so he is Carol's adder, and
    // sends her history keys for her join epoch and for u64::MAX: refused as a whole.
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let room = staff_room(&mut alice, &mut bob, RoomKind::Customer);
    let rob = raw("acme", "rob", "r1");
    let out = alice
        .client
        .add_members(&room, &[rob.key_package_bytes()])
        .unwrap();
    let welcome = out.welcome.clone().unwrap();
    run_commit(&room, out, &mut alice, &mut [&mut bob]);
    let mut group = rob.join(&welcome).unwrap();
    let mut carol = dev("carol", "c1");
    let MlsMessageBodyIn::KeyPackage(kp) = MlsMessageIn::tls_deserialize_exact(carol.kp())
        .unwrap()
        .extract()
    else {
        panic!()
    };
    let kp = kp
        .validate(rob.provider.crypto(), ProtocolVersion::Mls10)
        .unwrap();
    let (commit, welcome, _) = group
        .add_members(&rob.provider, &rob.signer, &[kp])
        .unwrap();
    group.merge_pending_commit(&rob.provider).unwrap();
    let commit = bytes(&commit);
    for ev in deliver(&room, &commit, &mut [&mut alice, &mut bob]) {
        assert!(refused(&ev).is_empty(), "{ev:?}");
    }
    let joined = carol.client.join(&bytes(&welcome)).unwrap();
    let evil = [0x66u8; 32];
    for keys in [
        vec![(joined.epoch, evil)],
        vec![(0, evil), (u64::MAX, evil)],
    ] {
        let msg = bytes(
            &group
                .create_message(
                    &rob.provider,
                    &rob.signer,
                    &history_envelope(&keys, &[("doc", u64::MAX)]),
                )
                .unwrap(),
        );
        let ev = carol.client.process(&room, &msg).unwrap();
        assert_eq!(
            refused(&ev),
            vec![RefusalReason::HistoryFutureEpoch],
            "{ev:?}"
        );
    }
    assert_eq!(carol.client.content_key_count(&room).unwrap(), 1);
    assert_eq!(carol.client.document_version(&room, "doc").unwrap(), None);
    // Carol wraps under the key of her own join epoch, which Alice and Bob derived too.
    let wrapped = carol
        .client
        .wrap_file_key(&room, "f", &FileKey::from_bytes([1; 32]))
        .unwrap();
    assert_eq!(
        u64::from_be_bytes(wrapped[5..13].try_into().unwrap()),
        joined.epoch
    );
    assert_eq!(
        alice
            .client
            .unwrap_file_key(&room, "f", &wrapped)
            .unwrap()
            .expose_bytes(),
        [1; 32]
    );
    // An honest history from Rob (epochs before Carol's join) is taken once.
    let ok = bytes(
        &group
            .create_message(
                &rob.provider,
                &rob.signer,
                &history_envelope(&[(0, evil)], &[]),
            )
            .unwrap(),
    );
    let ev = carol.client.process(&room, &ok).unwrap();
    assert!(
        ev.iter()
            .any(|e| matches!(e, RoomEvent::HistoryReceived { keys: 2 })),
        "{ev:?}"
    );
    let again = bytes(
        &group
            .create_message(
                &rob.provider,
                &rob.signer,
                &history_envelope(&[(0, evil)], &[]),
            )
            .unwrap(),
    );
    let ev = carol.client.process(&room, &again).unwrap();
    assert_eq!(
        refused(&ev),
        vec![RefusalReason::HistoryNotFromAdder],
        "{ev:?}"
    );
}

#[test]
fn document_version_jump_or_foreign_author_is_refused() {
    let mut alice = dev("alice", "a1");
    let mut bob = dev("bob", "b1");
    let (room, mallory, mut group) = room_with_raw_customer(&mut alice, &mut bob);
    let doc = |version: u64| DocumentVersion {
        document_id: "contract".into(),
        version,
        content_digest: [1; 32],
        file_id: None,
        author_signature: Vec::new(),
        classification: None,
    };
    // Alice publishes version 1; Mallory (customer, not the publisher) posts version 2 and a
    // jump to u64::MAX: both refused.
    let v1 = alice
        .client
        .post(&room, Label::Customer, Content::Document(doc(1)))
        .unwrap();
    deliver(&room, &v1, &mut [&mut bob]);
    for version in [2, u64::MAX] {
        let mut d = doc(version);
        d.author_signature = openmls_traits::signatures::Signer::sign(
            &mallory.signer,
            &d.signed_bytes(room.as_str()),
        )
        .unwrap();
        let body = serde_json::to_vec(&serde_json::json!({
            "v": 1,
            "label": "customer",
            "body": {
                "type": "document",
                "document_id": d.document_id,
                "version": d.version,
                "content_digest": hex::encode(d.content_digest),
                "file_id": null,
                "author_signature": hex::encode(&d.author_signature),
            },
        }))
        .unwrap();
        let msg = bytes(
            &group
                .create_message(&mallory.provider, &mallory.signer, &body)
                .unwrap(),
        );
        for ev in deliver(&room, &msg, &mut [&mut alice, &mut bob]) {
            assert_eq!(refused(&ev), vec![RefusalReason::DocumentVersion], "{ev:?}");
        }
        assert_eq!(
            alice.client.document_version(&room, "contract").unwrap(),
            Some(1)
        );
    }
    // Staff may publish version 2; a jump from the client API is a typed error.
    assert!(matches!(
        bob.client
            .post(&room, Label::Customer, Content::Document(doc(3))),
        Err(RoomError::DocumentRollback { .. })
    ));
    let v2 = bob
        .client
        .post(&room, Label::Customer, Content::Document(doc(2)))
        .unwrap();
    let ev = alice.client.process(&room, &v2).unwrap();
    assert!(refused(&ev).is_empty(), "{ev:?}");
    assert_eq!(
        alice.client.document_version(&room, "contract").unwrap(),
        Some(2)
    );
}
