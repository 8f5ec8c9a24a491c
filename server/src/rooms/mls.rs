//! The relay's view of a room's MLS group: a delivery-service `PublicGroup` (openmls) that
//! validates every handshake message and tells which devices are members. It holds no content
//! key: commits and proposals are MLS `PublicMessage`s, signed by a member and carrying a
//! membership tag the relay cannot check (it does not know the membership key) but whose
//! signature, proposals, tree changes and confirmed transcript it does check.
//!
//! Everything here is a pure function of (stored group state, message bytes, device directory)
//! to (new group state, outcome). The caller writes the new state with a compare-and-swap on
//! the room record, so exactly one commit per epoch is ever accepted.
//!
//! The group state is the content of an openmls `MemoryStorage` holding only the public group
//! (tree, group context, interim transcript hash, confirmation tag, queued proposals), encoded
//! with [`GroupState::to_bytes`]. One value per room, written atomically with the room record:
//! restart-safe without a second storage layer that could diverge.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::{
    BasicCredential, Ciphersuite, GroupId, KeyPackageIn, KeyPackageRef, LeafNodeIndex, Member,
    MlsMessageBodyIn, MlsMessageIn, ProcessedMessageContent, Proposal, ProposalStore,
    ProtocolVersion, PublicGroup, RatchetTreeIn, Sender,
};
use openmls_memory_storage::MemoryStorage;
use openmls_rust_crypto::RustCrypto;

use sealroom_wire::rooms::{HandshakeKind, RoomMember, CIPHERSUITE};
use sealroom_wire::CredentialIdentity;

use crate::store::StoreError;

/// Why the relay refused MLS input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MlsError {
    /// The bytes are not the expected MLS structure (400).
    #[error("malformed MLS input: {0}")]
    Malformed(String),
    /// The message parsed but is not acceptable: wrong kind, wrong group, invalid commit,
    /// unknown device, key mismatch... (400).
    #[error("invalid MLS input: {0}")]
    Invalid(String),
    /// The sender is not allowed to send this message (403).
    #[error("{0}")]
    Forbidden(String),
    /// The commit was not sent in the room's current epoch (409).
    #[error("the room is at epoch {current}, the message was sent in epoch {sent}")]
    EpochConflict {
        /// The room's current epoch.
        current: u64,
        /// The epoch the message was sent in.
        sent: u64,
    },
    /// Reading the device directory failed (500).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored group state could not be used (500).
    #[error("internal MLS state error: {0}")]
    Internal(String),
}

/// A registered device, as the relay's account store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey {
    /// Organisation id.
    pub org_id: String,
    /// User id.
    pub user_id: String,
    /// Device id.
    pub device_id: String,
    /// The device's registered Ed25519 public key.
    pub public_key: [u8; 32],
}

/// Where the relay looks up registered devices (implemented over the account store).
pub trait DeviceDirectory {
    /// The active device `device_id`, or `None` when unknown, pending or revoked.
    fn device(&self, device_id: &str) -> Result<Option<DeviceKey>, StoreError>;

    /// The provider organisation (its staff may change membership), `None` before bootstrap.
    fn provider_org_id(&self) -> Result<Option<String>, StoreError>;
}

/// The serialized public state of one room's MLS group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    group_id: Vec<u8>,
    values: Vec<(Vec<u8>, Vec<u8>)>,
}

const STATE_MAGIC: &[u8; 4] = b"SRG1";

impl GroupState {
    /// Encodes as `"SRG1" || u32 len || group id || u32 count || (u32 len || key || u32 len ||
    /// value)*`, big-endian lengths.
    pub fn to_bytes(&self) -> Vec<u8> {
        let size: usize = self
            .values
            .iter()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum::<usize>()
            + 12
            + self.group_id.len();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(STATE_MAGIC);
        put_chunk(&mut out, &self.group_id);
        out.extend_from_slice(&len_u32(self.values.len()).to_be_bytes());
        for (k, v) in &self.values {
            put_chunk(&mut out, k);
            put_chunk(&mut out, v);
        }
        out
    }

    /// Decodes [`GroupState::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MlsError> {
        let bad = || MlsError::Internal("stored group state does not decode".into());
        let rest = bytes.strip_prefix(STATE_MAGIC.as_slice()).ok_or_else(bad)?;
        let mut reader = Reader(rest);
        let group_id = reader.chunk().ok_or_else(bad)?.to_vec();
        let count = reader.u32().ok_or_else(bad)?;
        let mut values = Vec::new();
        for _ in 0..count {
            let k = reader.chunk().ok_or_else(bad)?.to_vec();
            let v = reader.chunk().ok_or_else(bad)?.to_vec();
            values.push((k, v));
        }
        if !reader.0.is_empty() {
            return Err(bad());
        }
        Ok(Self { group_id, values })
    }

    /// The MLS group id.
    pub fn group_id(&self) -> &[u8] {
        &self.group_id
    }

    fn from_storage(group_id: &[u8], storage: &MemoryStorage) -> Self {
        let map = storage.values.read().unwrap_or_else(|p| p.into_inner());
        let mut values: Vec<(Vec<u8>, Vec<u8>)> =
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        values.sort();
        Self {
            group_id: group_id.to_vec(),
            values,
        }
    }

    fn to_storage(&self) -> MemoryStorage {
        let map: HashMap<Vec<u8>, Vec<u8>> = self.values.iter().cloned().collect();
        MemoryStorage {
            values: RwLock::new(map),
        }
    }
}

fn len_u32(len: usize) -> u32 {
    // Stored chunks come from MLS structures far below 4 GiB (bodies are size-limited).
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn put_chunk(out: &mut Vec<u8>, chunk: &[u8]) {
    out.extend_from_slice(&len_u32(chunk.len()).to_be_bytes());
    out.extend_from_slice(chunk);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*head))
    }

    fn chunk(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        if self.0.len() < len {
            return None;
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(head)
    }
}

/// A room as registered from its creator's group info.
#[derive(Debug, Clone)]
pub struct NewRoom {
    /// The group's public state.
    pub state: GroupState,
    /// The group's epoch.
    pub epoch: u64,
    /// Member devices.
    pub members: Vec<RoomMember>,
}

/// What an accepted handshake changed.
#[derive(Debug, Clone)]
pub struct HandshakeOutcome {
    /// Commit or proposal.
    pub kind: HandshakeKind,
    /// The epoch the message was sent in.
    pub sent_epoch: u64,
    /// The group's epoch afterwards.
    pub epoch: u64,
    /// The group's public state afterwards.
    pub state: GroupState,
    /// Member devices afterwards.
    pub members: Vec<RoomMember>,
    /// Devices that joined.
    pub added: Vec<RoomMember>,
    /// Devices that left.
    pub removed: Vec<RoomMember>,
    /// The TLS-encoded ratchet tree afterwards (given to welcomed devices).
    pub ratchet_tree: Vec<u8>,
}

fn crypto() -> RustCrypto {
    RustCrypto::default()
}

fn ciphersuite() -> Result<Ciphersuite, MlsError> {
    Ciphersuite::try_from(CIPHERSUITE)
        .map_err(|e| MlsError::Internal(format!("ciphersuite constant: {e:?}")))
}

fn parse_message(bytes: &[u8]) -> Result<MlsMessageIn, MlsError> {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .map_err(|e| MlsError::Malformed(format!("not an MLSMessage: {e}")))
}

/// The lowercase hex room id of an MLS group id.
pub fn room_id_of(group_id: &[u8]) -> String {
    hex::encode(group_id)
}

/// Registers a room from the creator's `GroupInfo` (an `MLSMessage`) and ratchet tree. Every
/// leaf must be an active device whose registered key signs it; the creator must be a leaf.
pub fn create_room(
    group_info: &[u8],
    ratchet_tree: &[u8],
    creator_device: &str,
    directory: &dyn DeviceDirectory,
) -> Result<NewRoom, MlsError> {
    let verifiable = match parse_message(group_info)?.extract() {
        MlsMessageBodyIn::GroupInfo(info) => info,
        _ => {
            return Err(MlsError::Invalid(
                "expected an MLSMessage with a GroupInfo".into(),
            ))
        }
    };
    if verifiable.ciphersuite() != ciphersuite()? {
        return Err(MlsError::Invalid(format!(
            "ciphersuite must be 0x{CIPHERSUITE:04x}"
        )));
    }
    let tree = RatchetTreeIn::tls_deserialize_exact(ratchet_tree)
        .map_err(|e| MlsError::Malformed(format!("not a RatchetTree: {e}")))?;
    let storage = MemoryStorage::default();
    let (group, _info) =
        PublicGroup::from_external(&crypto(), &storage, tree, verifiable, ProposalStore::new())
            .map_err(|e| MlsError::Invalid(format!("group info or tree rejected: {e}")))?;
    let members = member_list(&group)?;
    for member in group.members() {
        check_leaf(&member, directory)?;
    }
    if !members.iter().any(|m| m.device_id == creator_device) {
        return Err(MlsError::Forbidden(
            "the creating device must be a member of the group".into(),
        ));
    }
    let group_id = group.group_id().as_slice().to_vec();
    Ok(NewRoom {
        state: GroupState::from_storage(&group_id, &storage),
        epoch: group.group_context().epoch().as_u64(),
        members,
    })
}

/// Loads the public group, or fails with an internal error.
fn load(state: &GroupState) -> Result<(MemoryStorage, PublicGroup), MlsError> {
    let storage = state.to_storage();
    let group_id = GroupId::from_slice(&state.group_id);
    let group = PublicGroup::load(&storage, &group_id)
        .map_err(|e| MlsError::Internal(format!("loading group: {e}")))?
        .ok_or_else(|| MlsError::Internal("stored group state is incomplete".into()))?;
    Ok((storage, group))
}

/// The devices of a stored group.
pub fn members(state: &GroupState) -> Result<Vec<RoomMember>, MlsError> {
    let (_storage, group) = load(state)?;
    member_list(&group)
}

/// The current epoch of a stored group.
pub fn epoch(state: &GroupState) -> Result<u64, MlsError> {
    let (_storage, group) = load(state)?;
    Ok(group.group_context().epoch().as_u64())
}

/// Validates a handshake (commit or proposal as an MLS `PublicMessage`) sent by
/// `sender_device` against the stored state, and returns the state after it. A commit must be
/// sent in the current epoch ([`MlsError::EpochConflict`] otherwise); a commit that adds
/// members must come with a `Welcome` whose recipients are exactly the added key packages.
pub fn process_handshake(
    state: &GroupState,
    message: &[u8],
    welcome: Option<&[u8]>,
    sender_device: &str,
    directory: &dyn DeviceDirectory,
) -> Result<HandshakeOutcome, MlsError> {
    let public = match parse_message(message)?.extract() {
        MlsMessageBodyIn::PublicMessage(m) => m,
        MlsMessageBodyIn::PrivateMessage(_) => {
            return Err(MlsError::Invalid(
                "handshakes must be PublicMessages (application messages go to /messages)".into(),
            ))
        }
        _ => return Err(MlsError::Invalid("expected an MLS PublicMessage".into())),
    };
    let (storage, mut group) = load(state)?;
    if public.group_id().as_slice() != state.group_id.as_slice() {
        return Err(MlsError::Invalid("the message is for another group".into()));
    }
    let current = group.group_context().epoch().as_u64();
    let sent_epoch = public.epoch().as_u64();
    if sent_epoch != current {
        return Err(MlsError::EpochConflict {
            current,
            sent: sent_epoch,
        });
    }
    let sender_index = match public.sender() {
        Sender::Member(index) => *index,
        _ => {
            return Err(MlsError::Forbidden(
                "only members may send handshakes (no external senders or joins)".into(),
            ))
        }
    };
    let sender_leaf = group
        .leaf(sender_index)
        .ok_or_else(|| MlsError::Invalid("the sender leaf is blank".into()))?;
    let sender_identity = identity_of(sender_leaf.credential().clone())?;
    if sender_identity.device_id != sender_device {
        return Err(MlsError::Forbidden(
            "the MLS sender is not the device that signed the request".into(),
        ));
    }
    let crypto = crypto();
    let processed = group
        .process_message(&crypto, public)
        .map_err(|e| MlsError::Invalid(format!("handshake rejected: {e}")))?;
    let before: Vec<Member> = group.members().collect();
    let before_devices = member_list(&group)?;
    let kind = match processed.into_content() {
        ProcessedMessageContent::StagedCommitMessage(staged) => {
            let added_refs = staged
                .add_proposals()
                .map(|add| add.add_proposal().key_package().hash_ref(&crypto))
                .collect::<Result<BTreeSet<KeyPackageRef>, _>>()
                .map_err(|e| MlsError::Internal(format!("key package ref: {e}")))?;
            check_welcome(welcome, &added_refs)?;
            group
                .merge_commit(&storage, *staged)
                .map_err(|e| MlsError::Internal(format!("merging commit: {e}")))?;
            HandshakeKind::Commit
        }
        ProcessedMessageContent::ProposalMessage(queued) => {
            if welcome.is_some() {
                return Err(MlsError::Invalid("a proposal carries no welcome".into()));
            }
            let (added, removed) = proposal_changes(queued.proposal(), &before_devices)?;
            check_policy(
                &sender_identity,
                &state.group_id,
                &added,
                &removed,
                directory,
            )?;
            group
                .add_proposal(&storage, *queued)
                .map_err(|e| MlsError::Internal(format!("queueing proposal: {e}")))?;
            HandshakeKind::Proposal
        }
        _ => return Err(MlsError::Invalid("expected a commit or a proposal".into())),
    };
    // Every leaf that is new or changed (added, updated, path update) must be an active device
    // signed with its registered key.
    for member in group.members() {
        let unchanged = before.iter().any(|old| {
            old.index == member.index
                && old.signature_key == member.signature_key
                && old.credential == member.credential
        });
        if !unchanged {
            check_leaf(&member, directory)?;
        }
    }
    let after_devices = member_list(&group)?;
    let added: Vec<RoomMember> = after_devices
        .iter()
        .filter(|m| !before_devices.iter().any(|o| o.device_id == m.device_id))
        .cloned()
        .collect();
    let removed: Vec<RoomMember> = before_devices
        .iter()
        .filter(|o| !after_devices.iter().any(|m| m.device_id == o.device_id))
        .cloned()
        .collect();
    check_policy(
        &sender_identity,
        &state.group_id,
        &added,
        &removed,
        directory,
    )?;
    let ratchet_tree = group
        .export_ratchet_tree()
        .tls_serialize_detached()
        .map_err(|e| MlsError::Internal(format!("encoding tree: {e}")))?;
    Ok(HandshakeOutcome {
        kind,
        sent_epoch,
        epoch: group.group_context().epoch().as_u64(),
        state: GroupState::from_storage(&state.group_id, &storage),
        members: after_devices,
        added,
        removed,
        ratchet_tree,
    })
}

/// Whether a group id names a space's internal room (`<space>.internal.<hex>`, the SDK's
/// room id scheme).
pub fn is_internal_room(group_id: &[u8]) -> bool {
    std::str::from_utf8(group_id)
        .is_ok_and(|id| id.split('.').nth(1) == Some("internal") && id.split('.').count() == 3)
}

/// The membership policy the relay enforces as a second line behind the clients (who enforce
/// the same rules themselves): a device of a customer organisation adds nobody and removes
/// only devices of its own user; the internal room holds provider devices only.
fn check_policy(
    sender: &CredentialIdentity,
    group_id: &[u8],
    added: &[RoomMember],
    removed: &[RoomMember],
    directory: &dyn DeviceDirectory,
) -> Result<(), MlsError> {
    // Rooms outside the SDK's space-room scheme (`<space>.<customer|internal>.<hex>`) are
    // not space rooms: their creator's own rules apply (membership still limited to the space).
    let space_room = std::str::from_utf8(group_id).is_ok_and(|id| {
        let parts: Vec<&str> = id.split('.').collect();
        parts.len() == 3 && matches!(parts[1], "customer" | "internal")
    });
    if (added.is_empty() && removed.is_empty()) || !space_room {
        return Ok(());
    }
    let provider = directory.provider_org_id()?;
    let is_staff = |org: &str| provider.as_deref() == Some(org);
    if !is_staff(&sender.org_id) {
        if !added.is_empty() {
            return Err(MlsError::Forbidden(
                "customer devices may not add members".into(),
            ));
        }
        if removed.iter().any(|m| m.user_id != sender.user_id) {
            return Err(MlsError::Forbidden(
                "customer devices may remove only their own user's devices".into(),
            ));
        }
    }
    if is_internal_room(group_id) && added.iter().any(|m| !is_staff(&m.org_id)) {
        return Err(MlsError::Forbidden(
            "only provider staff may be members of an internal room".into(),
        ));
    }
    Ok(())
}

/// The devices a proposal would add and remove.
fn proposal_changes(
    proposal: &Proposal,
    members: &[RoomMember],
) -> Result<(Vec<RoomMember>, Vec<RoomMember>), MlsError> {
    match proposal {
        Proposal::Add(add) => {
            let id = identity_of(add.key_package().leaf_node().credential().clone())?;
            Ok((
                vec![RoomMember {
                    org_id: id.org_id,
                    user_id: id.user_id,
                    device_id: id.device_id,
                    leaf_index: u32::MAX,
                }],
                Vec::new(),
            ))
        }
        Proposal::Remove(remove) => {
            let index = leaf_u32(remove.removed());
            Ok((
                Vec::new(),
                members
                    .iter()
                    .filter(|m| m.leaf_index == index)
                    .cloned()
                    .collect(),
            ))
        }
        _ => Ok((Vec::new(), Vec::new())),
    }
}

fn check_welcome(
    welcome: Option<&[u8]>,
    added_refs: &BTreeSet<KeyPackageRef>,
) -> Result<(), MlsError> {
    let Some(bytes) = welcome else {
        if added_refs.is_empty() {
            return Ok(());
        }
        return Err(MlsError::Invalid(
            "a commit that adds members needs their Welcome".into(),
        ));
    };
    if added_refs.is_empty() {
        return Err(MlsError::Invalid(
            "a Welcome was sent with a commit that adds nobody".into(),
        ));
    }
    let welcome = match parse_message(bytes)?.extract() {
        MlsMessageBodyIn::Welcome(w) => w,
        _ => {
            return Err(MlsError::Invalid(
                "expected an MLSMessage with a Welcome".into(),
            ))
        }
    };
    if welcome.ciphersuite() != ciphersuite()? {
        return Err(MlsError::Invalid(
            "the Welcome has another ciphersuite".into(),
        ));
    }
    let recipients: BTreeSet<KeyPackageRef> =
        welcome.secrets().iter().map(|s| s.new_member()).collect();
    if &recipients != added_refs {
        return Err(MlsError::Invalid(
            "the Welcome's recipients are not the added key packages".into(),
        ));
    }
    Ok(())
}

fn identity_of(credential: openmls::prelude::Credential) -> Result<CredentialIdentity, MlsError> {
    let basic = BasicCredential::try_from(credential)
        .map_err(|_| MlsError::Invalid("credentials must be BasicCredentials".into()))?;
    CredentialIdentity::from_bytes(basic.identity())
        .map_err(|e| MlsError::Invalid(format!("credential identity: {e}")))
}

fn member_list(group: &PublicGroup) -> Result<Vec<RoomMember>, MlsError> {
    group
        .members()
        .map(|m| {
            let id = identity_of(m.credential.clone())?;
            Ok(RoomMember {
                org_id: id.org_id,
                user_id: id.user_id,
                device_id: id.device_id,
                leaf_index: leaf_u32(m.index),
            })
        })
        .collect()
}

fn leaf_u32(index: LeafNodeIndex) -> u32 {
    index.u32()
}

/// Checks that a leaf belongs to an active device whose registered key is the leaf's
/// signature key and whose organisation and user match the credential.
fn check_leaf(member: &Member, directory: &dyn DeviceDirectory) -> Result<(), MlsError> {
    let id = identity_of(member.credential.clone())?;
    check_device_key(&id, &member.signature_key, directory)
}

fn check_device_key(
    id: &CredentialIdentity,
    signature_key: &[u8],
    directory: &dyn DeviceDirectory,
) -> Result<(), MlsError> {
    let device = directory.device(&id.device_id)?.ok_or_else(|| {
        MlsError::Invalid(format!("device {} is not an active device", id.device_id))
    })?;
    if device.org_id != id.org_id || device.user_id != id.user_id {
        return Err(MlsError::Invalid(format!(
            "device {} belongs to another user",
            id.device_id
        )));
    }
    if device.public_key.as_slice() != signature_key {
        return Err(MlsError::Invalid(format!(
            "leaf signature key of device {} is not its registered key",
            id.device_id
        )));
    }
    Ok(())
}

/// A validated key package.
#[derive(Debug, Clone)]
pub struct ValidKeyPackage {
    /// The `MLSMessage` bytes as uploaded.
    pub bytes: Vec<u8>,
    /// Whether it carries the `last_resort` extension.
    pub last_resort: bool,
}

/// Validates an uploaded key package (an `MLSMessage`): signature, lifetime, ciphersuite,
/// credential identity equal to `device`, leaf signature key equal to its registered key.
pub fn validate_key_package(bytes: &[u8], device: &DeviceKey) -> Result<ValidKeyPackage, MlsError> {
    let key_package_in: KeyPackageIn = match parse_message(bytes)?.extract() {
        MlsMessageBodyIn::KeyPackage(kp) => kp,
        _ => {
            return Err(MlsError::Invalid(
                "expected an MLSMessage with a KeyPackage".into(),
            ))
        }
    };
    let key_package = key_package_in
        .validate(&crypto(), ProtocolVersion::Mls10)
        .map_err(|e| MlsError::Invalid(format!("key package rejected: {e}")))?;
    if key_package.ciphersuite() != ciphersuite()? {
        return Err(MlsError::Invalid(format!(
            "ciphersuite must be 0x{CIPHERSUITE:04x}"
        )));
    }
    let leaf = key_package.leaf_node();
    let id = identity_of(leaf.credential().clone())?;
    if id.device_id != device.device_id
        || id.user_id != device.user_id
        || id.org_id != device.org_id
    {
        return Err(MlsError::Forbidden(
            "key packages must carry the uploading device's credential".into(),
        ));
    }
    if leaf.signature_key().as_slice() != device.public_key.as_slice() {
        return Err(MlsError::Invalid(
            "key package signature key is not the device's registered key".into(),
        ));
    }
    Ok(ValidKeyPackage {
        bytes: bytes.to_vec(),
        last_resort: key_package.last_resort(),
    })
}

/// Checks an application message: an MLS `PrivateMessage` of the room's group. Returns its
/// epoch. (Its content is encrypted; the relay checks only the framing.)
pub fn check_application_message(group_id: &[u8], bytes: &[u8]) -> Result<u64, MlsError> {
    let message = parse_message(bytes)?;
    if message.wire_format() != openmls::prelude::WireFormat::PrivateMessage {
        return Err(MlsError::Invalid(
            "application messages must be MLS PrivateMessages".into(),
        ));
    }
    let protocol = message
        .try_into_protocol_message()
        .map_err(|_| MlsError::Invalid("expected an MLS PrivateMessage".into()))?;
    if protocol.group_id().as_slice() != group_id {
        return Err(MlsError::Invalid("the message is for another group".into()));
    }
    if protocol.content_type() != openmls::prelude::ContentType::Application {
        return Err(MlsError::Invalid(
            "only application messages go to /messages; handshakes are PublicMessages".into(),
        ));
    }
    Ok(protocol.epoch().as_u64())
}

#[cfg(test)]
mod tests;
