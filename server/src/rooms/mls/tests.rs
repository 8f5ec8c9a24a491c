//! Unit tests of the relay's MLS view, driven by real openmls client groups.

use std::collections::HashMap;

use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

use super::*;

/// One simulated device: an openmls provider, its signer and credential.
struct Client {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
    id: CredentialIdentity,
}

impl Client {
    /// A device of the provider organisation `acme`.
    fn new(user: &str, device: &str) -> Self {
        Self::in_org("acme", user, device)
    }

    fn in_org(org: &str, user: &str, device: &str) -> Self {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
        signer.store(provider.storage()).unwrap();
        let id = CredentialIdentity::new(org, user, device).unwrap();
        let credential = CredentialWithKey {
            credential: BasicCredential::new(id.to_bytes()).into(),
            signature_key: signer.public().into(),
        };
        Self {
            provider,
            signer,
            credential,
            id,
        }
    }

    fn key(&self) -> DeviceKey {
        DeviceKey {
            org_id: self.id.org_id.clone(),
            user_id: self.id.user_id.clone(),
            device_id: self.id.device_id.clone(),
            public_key: self.signer.public().try_into().unwrap(),
        }
    }

    fn key_package(&self, last_resort: bool) -> KeyPackage {
        let mut builder = KeyPackage::builder();
        if last_resort {
            builder = builder
                .leaf_node_capabilities(Capabilities::new(
                    None,
                    None,
                    Some(&[ExtensionType::LastResort]),
                    None,
                    None,
                ))
                .mark_as_last_resort();
        }
        builder
            .build(
                suite(),
                &self.provider,
                &self.signer,
                self.credential.clone(),
            )
            .unwrap()
            .key_package()
            .clone()
    }

    fn create_group(&self) -> MlsGroup {
        MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &config(),
            GroupId::from_slice(b"room-0001"),
            self.credential.clone(),
        )
        .unwrap()
    }

    fn join(&self, welcome: MlsMessageOut, tree: openmls::treesync::RatchetTree) -> MlsGroup {
        let welcome = match MlsMessageIn::from(welcome).extract() {
            MlsMessageBodyIn::Welcome(w) => w,
            _ => panic!("not a welcome"),
        };
        StagedWelcome::new_from_welcome(
            &self.provider,
            config().join_config(),
            welcome,
            Some(tree.into()),
        )
        .unwrap()
        .into_group(&self.provider)
        .unwrap()
    }
}

struct Directory(HashMap<String, DeviceKey>);

impl DeviceDirectory for Directory {
    fn device(&self, device_id: &str) -> Result<Option<DeviceKey>, StoreError> {
        Ok(self.0.get(device_id).cloned())
    }

    fn provider_org_id(&self) -> Result<Option<String>, StoreError> {
        Ok(Some("acme".into()))
    }
}

fn directory(clients: &[&Client]) -> Directory {
    Directory(
        clients
            .iter()
            .map(|c| (c.id.device_id.clone(), c.key()))
            .collect(),
    )
}

fn suite() -> Ciphersuite {
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519
}

fn config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(suite())
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build()
}

fn bytes(message: &MlsMessageOut) -> Vec<u8> {
    message.tls_serialize_detached().unwrap()
}

fn register(group: &MlsGroup, client: &Client, dir: &Directory) -> NewRoom {
    let info = group
        .export_group_info(client.provider.crypto(), &client.signer, false)
        .unwrap();
    let tree = group
        .export_ratchet_tree()
        .tls_serialize_detached()
        .unwrap();
    create_room(&bytes(&info), &tree, &client.id.device_id, dir).unwrap()
}

/// Alice's room with Bob added through the relay; returns both groups and the relay state.
fn room_with_bob(
    alice: &Client,
    bob: &Client,
    dir: &Directory,
) -> (MlsGroup, MlsGroup, GroupState) {
    let mut group = alice.create_group();
    let room = register(&group, alice, dir);
    assert_eq!(room.epoch, 0);
    let (commit, welcome, _) = group
        .add_members(&alice.provider, &alice.signer, &[bob.key_package(false)])
        .unwrap();
    let outcome = process_handshake(
        &room.state,
        &bytes(&commit),
        Some(&bytes(&welcome)),
        "alice-1",
        dir,
    )
    .unwrap();
    assert_eq!(outcome.kind, HandshakeKind::Commit);
    assert_eq!(outcome.sent_epoch, 0);
    assert_eq!(outcome.epoch, 1);
    assert_eq!(outcome.added.len(), 1);
    assert_eq!(outcome.added[0].device_id, "bob-1");
    assert!(outcome.removed.is_empty());
    group.merge_pending_commit(&alice.provider).unwrap();
    let bob_group = bob.join(welcome, group.export_ratchet_tree());
    (group, bob_group, outcome.state)
}

#[test]
fn create_room_reads_members_from_the_tree() {
    let alice = Client::new("alice", "alice-1");
    let dir = directory(&[&alice]);
    let group = alice.create_group();
    let room = register(&group, &alice, &dir);
    assert_eq!(room.epoch, 0);
    assert_eq!(room.members.len(), 1);
    assert_eq!(room.members[0].device_id, "alice-1");
    assert_eq!(room.members[0].user_id, "alice");
    assert_eq!(room_id_of(room.state.group_id()), hex::encode(b"room-0001"));
    // State survives an encode/decode round trip.
    let decoded = GroupState::from_bytes(&room.state.to_bytes()).unwrap();
    assert_eq!(decoded, room.state);
    assert_eq!(members(&decoded).unwrap(), room.members);
    assert_eq!(epoch(&decoded).unwrap(), 0);
}

#[test]
fn create_room_refuses_unregistered_or_foreign_creators() {
    let alice = Client::new("alice", "alice-1");
    let group = alice.create_group();
    let info = group
        .export_group_info(alice.provider.crypto(), &alice.signer, false)
        .unwrap();
    let tree = group
        .export_ratchet_tree()
        .tls_serialize_detached()
        .unwrap();
    // Unknown device.
    let empty = Directory(HashMap::new());
    assert!(matches!(
        create_room(&bytes(&info), &tree, "alice-1", &empty),
        Err(MlsError::Invalid(_))
    ));
    // Registered with another key.
    let mut other = alice.key();
    other.public_key = [7; 32];
    let wrong = Directory(HashMap::from([("alice-1".to_owned(), other)]));
    assert!(matches!(
        create_room(&bytes(&info), &tree, "alice-1", &wrong),
        Err(MlsError::Invalid(_))
    ));
    // Creator not in the group.
    let dir = directory(&[&alice]);
    assert!(matches!(
        create_room(&bytes(&info), &tree, "mallory-1", &dir),
        Err(MlsError::Forbidden(_))
    ));
    // Garbage.
    assert!(matches!(
        create_room(b"\x00\x01garbage", &tree, "alice-1", &dir),
        Err(MlsError::Malformed(_))
    ));
    assert!(matches!(
        create_room(&bytes(&info), b"\xff\xff\xff", "alice-1", &dir),
        Err(MlsError::Malformed(_))
    ));
}

#[test]
fn commits_add_and_remove_members_and_one_commit_per_epoch() {
    let alice = Client::new("alice", "alice-1");
    let bob = Client::new("bob", "bob-1");
    let dir = directory(&[&alice, &bob]);
    let (mut alice_group, mut bob_group, state) = room_with_bob(&alice, &bob, &dir);
    assert_eq!(members(&state).unwrap().len(), 2);

    // Both commit in epoch 1: the first accepted wins, the other is an epoch conflict.
    let alice_update = alice_group
        .self_update(
            &alice.provider,
            &alice.signer,
            LeafNodeParameters::default(),
        )
        .unwrap();
    let bob_update = bob_group
        .self_update(&bob.provider, &bob.signer, LeafNodeParameters::default())
        .unwrap();
    let won =
        process_handshake(&state, &bytes(alice_update.commit()), None, "alice-1", &dir).unwrap();
    assert_eq!(won.epoch, 2);
    // The loser, validated against the state before, would pass; the relay writes the state
    // with a compare-and-swap so it never gets there. Against the new state it conflicts.
    let lost = process_handshake(&won.state, &bytes(bob_update.commit()), None, "bob-1", &dir);
    assert!(matches!(
        lost,
        Err(MlsError::EpochConflict {
            current: 2,
            sent: 1
        })
    ));
    alice_group.merge_pending_commit(&alice.provider).unwrap();
    bob_group
        .clear_pending_commit(bob.provider.storage())
        .unwrap();
    let processed = bob_group
        .process_message(
            &bob.provider,
            MlsMessageIn::from(alice_update.commit().clone())
                .try_into_protocol_message()
                .unwrap(),
        )
        .unwrap();
    if let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() {
        bob_group
            .merge_staged_commit(&bob.provider, *staged)
            .unwrap();
    } else {
        panic!("expected a commit");
    }

    // Alice removes Bob.
    let bob_leaf = alice_group
        .members()
        .find(|m| m.signature_key == bob.signer.public())
        .unwrap()
        .index;
    let (remove, welcome, _) = alice_group
        .remove_members(&alice.provider, &alice.signer, &[bob_leaf])
        .unwrap();
    assert!(welcome.is_none());
    let outcome = process_handshake(&won.state, &bytes(&remove), None, "alice-1", &dir).unwrap();
    assert_eq!(outcome.epoch, 3);
    assert_eq!(outcome.removed.len(), 1);
    assert_eq!(outcome.removed[0].device_id, "bob-1");
    assert_eq!(outcome.members.len(), 1);
    assert!(!outcome.ratchet_tree.is_empty());
}

#[test]
fn proposals_are_queued_for_the_next_commit() {
    let alice = Client::new("alice", "alice-1");
    let bob = Client::new("bob", "bob-1");
    let dir = directory(&[&alice, &bob]);
    let (mut alice_group, mut bob_group, state) = room_with_bob(&alice, &bob, &dir);
    // Bob proposes to remove himself... as a proposal by reference; Alice commits it.
    let alice_leaf = LeafNodeIndex::new(0);
    let bob_leaf = bob_group.own_leaf_index();
    let (proposal, _ref) = bob_group
        .propose_self_update(&bob.provider, &bob.signer, LeafNodeParameters::default())
        .unwrap();
    let queued = process_handshake(&state, &bytes(&proposal), None, "bob-1", &dir).unwrap();
    assert_eq!(queued.kind, HandshakeKind::Proposal);
    assert_eq!(queued.epoch, 1);
    let processed = alice_group
        .process_message(
            &alice.provider,
            MlsMessageIn::from(proposal)
                .try_into_protocol_message()
                .unwrap(),
        )
        .unwrap();
    if let ProcessedMessageContent::ProposalMessage(p) = processed.into_content() {
        alice_group
            .store_pending_proposal(alice.provider.storage(), *p)
            .unwrap();
    } else {
        panic!("expected a proposal");
    }
    let (commit, _, _) = alice_group
        .commit_to_pending_proposals(&alice.provider, &alice.signer)
        .unwrap();
    // Without the queued proposal the relay could not validate this commit.
    assert!(process_handshake(&state, &bytes(&commit), None, "alice-1", &dir).is_err());
    let outcome = process_handshake(&queued.state, &bytes(&commit), None, "alice-1", &dir).unwrap();
    assert_eq!(outcome.epoch, 2);
    assert_eq!(outcome.members.len(), 2);
    assert_ne!(alice_leaf, bob_leaf);
}

#[test]
fn handshakes_are_checked_against_sender_keys_and_welcomes() {
    let alice = Client::new("alice", "alice-1");
    let bob = Client::new("bob", "bob-1");
    let carol = Client::new("carol", "carol-1");
    let dir = directory(&[&alice, &bob, &carol]);
    let (mut alice_group, _bob_group, state) = room_with_bob(&alice, &bob, &dir);

    // Adding Carol without the welcome, or with a welcome for someone else, is refused.
    let (commit, welcome, _) = alice_group
        .add_members(&alice.provider, &alice.signer, &[carol.key_package(false)])
        .unwrap();
    assert!(matches!(
        process_handshake(&state, &bytes(&commit), None, "alice-1", &dir),
        Err(MlsError::Invalid(_))
    ));
    // Signed by Alice's device but posted by Bob's.
    assert!(matches!(
        process_handshake(
            &state,
            &bytes(&commit),
            Some(&bytes(&welcome)),
            "bob-1",
            &dir
        ),
        Err(MlsError::Forbidden(_))
    ));
    // Carol's device registered with another key: the leaf does not match.
    let mut other = dir.0.clone();
    other.get_mut("carol-1").unwrap().public_key = [9; 32];
    assert!(matches!(
        process_handshake(
            &state,
            &bytes(&commit),
            Some(&bytes(&welcome)),
            "alice-1",
            &Directory(other)
        ),
        Err(MlsError::Invalid(_))
    ));
    // A welcome where a commit adds nobody.
    alice_group
        .clear_pending_commit(alice.provider.storage())
        .unwrap();
    let update = alice_group
        .self_update(
            &alice.provider,
            &alice.signer,
            LeafNodeParameters::default(),
        )
        .unwrap();
    assert!(matches!(
        process_handshake(
            &state,
            &bytes(update.commit()),
            Some(&bytes(&welcome)),
            "alice-1",
            &dir
        ),
        Err(MlsError::Invalid(_))
    ));
    // The honest one passes.
    alice_group
        .clear_pending_commit(alice.provider.storage())
        .unwrap();
    let (commit, welcome, _) = alice_group
        .add_members(&alice.provider, &alice.signer, &[carol.key_package(false)])
        .unwrap();
    let ok = process_handshake(
        &state,
        &bytes(&commit),
        Some(&bytes(&welcome)),
        "alice-1",
        &dir,
    )
    .unwrap();
    assert_eq!(ok.added[0].device_id, "carol-1");
}

#[test]
fn malformed_and_misplaced_messages_are_refused() {
    let alice = Client::new("alice", "alice-1");
    let bob = Client::new("bob", "bob-1");
    let dir = directory(&[&alice, &bob]);
    let (mut alice_group, _bob_group, state) = room_with_bob(&alice, &bob, &dir);
    for garbage in [&b""[..], b"\x00", b"\x00\x01\x00\x01\xff\xff", &[0u8; 300]] {
        assert!(matches!(
            process_handshake(&state, garbage, None, "alice-1", &dir),
            Err(MlsError::Malformed(_))
        ));
        assert!(matches!(
            check_application_message(state.group_id(), garbage),
            Err(MlsError::Malformed(_))
        ));
        assert!(validate_key_package(garbage, &alice.key()).is_err());
    }
    // An application message is a PrivateMessage: fine on /messages, refused as a handshake.
    let app = alice_group
        .create_message(&alice.provider, &alice.signer, b"hello")
        .unwrap();
    assert_eq!(
        check_application_message(state.group_id(), &bytes(&app)).unwrap(),
        1
    );
    assert!(matches!(
        check_application_message(b"other-group", &bytes(&app)),
        Err(MlsError::Invalid(_))
    ));
    assert!(matches!(
        process_handshake(&state, &bytes(&app), None, "alice-1", &dir),
        Err(MlsError::Invalid(_))
    ));
    // A commit is refused as an application message.
    let update = alice_group
        .self_update(
            &alice.provider,
            &alice.signer,
            LeafNodeParameters::default(),
        )
        .unwrap();
    assert!(matches!(
        check_application_message(state.group_id(), &bytes(update.commit())),
        Err(MlsError::Invalid(_))
    ));
    // A corrupted commit (flipped byte in the sender's signature) is refused, not a panic.
    // The tail is signature (1 + 64 bytes), confirmation tag (1 + 32), membership tag (1 + 32);
    // the relay cannot check the membership tag (it lacks the membership key), it does check
    // the signature.
    let mut corrupt = bytes(update.commit());
    let in_signature = corrupt.len() - 100;
    corrupt[in_signature] ^= 0x55;
    assert!(process_handshake(&state, &corrupt, None, "alice-1", &dir).is_err());
    // A stored state that does not decode is an internal error.
    assert!(matches!(
        GroupState::from_bytes(b"SRG1\x00\x00"),
        Err(MlsError::Internal(_))
    ));
}

#[test]
fn key_packages_must_carry_the_uploading_device() {
    let alice = Client::new("alice", "alice-1");
    let bob = Client::new("bob", "bob-1");
    let kp = MlsMessageOut::from(alice.key_package(false));
    let valid = validate_key_package(&bytes(&kp), &alice.key()).unwrap();
    assert!(!valid.last_resort);
    let last = MlsMessageOut::from(alice.key_package(true));
    assert!(
        validate_key_package(&bytes(&last), &alice.key())
            .unwrap()
            .last_resort
    );
    assert!(matches!(
        validate_key_package(&bytes(&kp), &bob.key()),
        Err(MlsError::Forbidden(_))
    ));
    let mut wrong_key = alice.key();
    wrong_key.public_key = [3; 32];
    assert!(matches!(
        validate_key_package(&bytes(&kp), &wrong_key),
        Err(MlsError::Invalid(_))
    ));
}

#[test]
fn customers_change_no_membership_and_internal_rooms_hold_staff_only() {
    let alice = Client::new("alice", "alice-1");
    let bob = Client::in_org("cust", "bob", "bob-1");
    let carol = Client::in_org("cust", "carol", "carol-1");
    let dave = Client::new("dave", "dave-1");
    let dir = directory(&[&alice, &bob, &carol, &dave]);

    // Staff adds a customer to a customer room: allowed.
    let mut alice_group = MlsGroup::builder()
        .with_group_id(GroupId::from_slice(b"space1.customer.00aa"))
        .ciphersuite(suite())
        .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build(&alice.provider, &alice.signer, alice.credential.clone())
        .unwrap();
    let room = register(&alice_group, &alice, &dir);
    let (add, welcome, _) = alice_group
        .add_members(&alice.provider, &alice.signer, &[bob.key_package(false)])
        .unwrap();
    let state = process_handshake(
        &room.state,
        &bytes(&add),
        Some(&bytes(&welcome)),
        "alice-1",
        &dir,
    )
    .unwrap()
    .state;
    alice_group.merge_pending_commit(&alice.provider).unwrap();
    let mut bob_group = bob.join(welcome, alice_group.export_ratchet_tree());

    // The customer adds a device: refused.
    let (add, welcome, _) = bob_group
        .add_members(&bob.provider, &bob.signer, &[carol.key_package(false)])
        .unwrap();
    let refused = process_handshake(&state, &bytes(&add), Some(&bytes(&welcome)), "bob-1", &dir);
    assert!(
        matches!(refused, Err(MlsError::Forbidden(_))),
        "{refused:?}"
    );
    bob_group
        .clear_pending_commit(bob.provider.storage())
        .unwrap();

    // The customer removes staff: refused, as commit and as proposal.
    let alice_leaf = bob_group
        .members()
        .find(|m| m.signature_key == alice.signer.public())
        .unwrap()
        .index;
    let (remove, _, _) = bob_group
        .remove_members(&bob.provider, &bob.signer, &[alice_leaf])
        .unwrap();
    let refused = process_handshake(&state, &bytes(&remove), None, "bob-1", &dir);
    assert!(
        matches!(refused, Err(MlsError::Forbidden(_))),
        "{refused:?}"
    );
    bob_group
        .clear_pending_commit(bob.provider.storage())
        .unwrap();
    let (proposal, _) = bob_group
        .propose_remove_member(&bob.provider, &bob.signer, alice_leaf)
        .unwrap();
    let refused = process_handshake(&state, &bytes(&proposal), None, "bob-1", &dir);
    assert!(
        matches!(refused, Err(MlsError::Forbidden(_))),
        "{refused:?}"
    );
    bob_group
        .clear_pending_proposals(bob.provider.storage())
        .unwrap();

    // Its own leave proposal and an empty update commit are fine.
    let leave = bob_group.leave_group(&bob.provider, &bob.signer).unwrap();
    process_handshake(&state, &bytes(&leave), None, "bob-1", &dir).unwrap();
    bob_group
        .clear_pending_proposals(bob.provider.storage())
        .unwrap();
    let update = bob_group
        .self_update(&bob.provider, &bob.signer, LeafNodeParameters::default())
        .unwrap();
    process_handshake(&state, &bytes(update.commit()), None, "bob-1", &dir).unwrap();
    bob_group
        .clear_pending_commit(bob.provider.storage())
        .unwrap();

    // Staff may still add and remove in the customer room.
    let bob_leaf = alice_group
        .members()
        .find(|m| m.signature_key == bob.signer.public())
        .unwrap()
        .index;
    let (remove, _, _) = alice_group
        .remove_members(&alice.provider, &alice.signer, &[bob_leaf])
        .unwrap();
    process_handshake(&state, &bytes(&remove), None, "alice-1", &dir).unwrap();
    alice_group
        .clear_pending_commit(alice.provider.storage())
        .unwrap();

    // An internal room: staff only.
    assert!(is_internal_room(b"space1.internal.00ff"));
    assert!(!is_internal_room(b"space1.customer.00ff"));
    assert!(!is_internal_room(b"random-group-id"));
    let mut internal = MlsGroup::builder()
        .with_group_id(GroupId::from_slice(b"space1.internal.00ff"))
        .ciphersuite(suite())
        .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build(&alice.provider, &alice.signer, alice.credential.clone())
        .unwrap();
    let room = register(&internal, &alice, &dir);
    let (add, welcome, _) = internal
        .add_members(&alice.provider, &alice.signer, &[bob.key_package(false)])
        .unwrap();
    let refused = process_handshake(
        &room.state,
        &bytes(&add),
        Some(&bytes(&welcome)),
        "alice-1",
        &dir,
    );
    assert!(
        matches!(refused, Err(MlsError::Forbidden(_))),
        "{refused:?}"
    );
    internal
        .clear_pending_commit(alice.provider.storage())
        .unwrap();
    let (add, welcome, _) = internal
        .add_members(&alice.provider, &alice.signer, &[dave.key_package(false)])
        .unwrap();
    let outcome = process_handshake(
        &room.state,
        &bytes(&add),
        Some(&bytes(&welcome)),
        "alice-1",
        &dir,
    )
    .unwrap();
    assert_eq!(outcome.added.len(), 1);
}
