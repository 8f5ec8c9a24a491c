//! MLS rooms: spaces, members, content and history, with encrypted crash-safe state.
//!
//! [`Client`] is one device's view of all its rooms. It is sans-IO: every operation returns the
//! bytes the host must hand to the relay, and incoming bytes from the relay are fed to
//! [`Client::process`] or [`Client::join`]. The contract is described in `docs/rooms.md`.
//!
//! Every operation commits all its state changes (MLS group state, room content keys, document
//! versions, duplicate filter, held messages) to the [`EncryptedStore`] as one atomic batch
//! before it returns.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;

use crate::primitives::{hkdf_sha256_key, Aead};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::identity::{
    verify_signature, CredentialIdentity, DeviceIdentity, KeyChange, KeyDirectory,
};
use crate::state::{Batch, EncryptedStore, KvStore, StateError, StorageKey};

mod app;
pub mod content;
pub mod crypto;
mod error;
pub mod storage;

pub use app::{message_epoch, store_has_device, AppWrite, RoomHistory};

pub use content::{Content, DocumentVersion, FileAnnouncement, FileKey, Label, TextMessage};
use content::{Envelope, HistoryKeys};
use error::mls;
pub use error::{ErrorKind, RoomError};

/// The one ciphersuite Sealroom rooms use (0x0003).
pub const CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// How many past epochs' application secrets are kept, so late application messages decrypt.
const MAX_PAST_EPOCHS: usize = 8;
/// How many message digests per room are remembered for duplicate detection.
const SEEN_CAP: usize = 4096;
/// How many future-epoch messages per room are held.
const HELD_CAP: usize = 1024;
/// MLS exporter label of room content keys.
const CONTENT_KEY_LABEL: &str = "sealroom room content key v1";
/// HKDF info of the file-key wrapping key.
const WRAP_INFO: &[u8] = b"sealroom-file-key-wrap-v1";
const WRAP_MAGIC: &[u8; 4] = b"SRWK";
const WRAP_VERSION: u8 = 1;

/// The kind of a room within a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomKind {
    /// The customer-facing room: provider and customer staff.
    Customer,
    /// The provider's internal room: provider staff only.
    Internal,
}

/// A room id, which is also the MLS group id: `<space_id>.<customer|internal>.<32 hex>`.
///
/// The kind is part of the group id, which every member's Welcome authenticates, so a relay
/// cannot pass a customer room off as internal. Group ids from elsewhere (test vectors) are
/// shown as `~<hex>` and treated as customer rooms (the restrictive choice for posting).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(String);

impl RoomId {
    fn new_random(space_id: &str, kind: RoomKind) -> Result<Self, RoomError> {
        sealroom_wire::check_id(space_id).map_err(|_| RoomError::InvalidId)?;
        let mut r = [0u8; 16];
        OsRng.fill_bytes(&mut r);
        let k = match kind {
            RoomKind::Customer => "customer",
            RoomKind::Internal => "internal",
        };
        Ok(Self(format!("{space_id}.{k}.{}", hex::encode(r))))
    }

    /// Parses a room id string.
    pub fn parse(s: &str) -> Result<Self, RoomError> {
        if let Some(h) = s.strip_prefix('~') {
            hex::decode(h).map_err(|_| RoomError::InvalidRoomId)?;
            return Ok(Self(s.to_owned()));
        }
        let mut parts = s.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(space), Some("customer" | "internal"), Some(r), None)
                if sealroom_wire::check_id(space).is_ok()
                    && r.len() == 32
                    && r.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Ok(Self(s.to_owned()))
            }
            _ => Err(RoomError::InvalidRoomId),
        }
    }

    fn from_group_id(id: &GroupId) -> Self {
        match std::str::from_utf8(id.as_slice())
            .ok()
            .and_then(|s| Self::parse(s).ok())
        {
            Some(r) if !r.0.starts_with('~') => r,
            _ => Self(format!("~{}", hex::encode(id.as_slice()))),
        }
    }

    fn group_id(&self) -> GroupId {
        match self.0.strip_prefix('~').and_then(|h| hex::decode(h).ok()) {
            Some(bytes) => GroupId::from_slice(&bytes),
            None => GroupId::from_slice(self.0.as_bytes()),
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The space the room belongs to (`None` for foreign group ids).
    pub fn space_id(&self) -> Option<&str> {
        if self.0.starts_with('~') {
            return None;
        }
        self.0.split('.').next()
    }

    /// Whether this is the customer-facing or the internal room.
    pub fn kind(&self) -> RoomKind {
        match self.0.split('.').nth(1) {
            Some("internal") if !self.0.starts_with('~') => RoomKind::Internal,
            _ => RoomKind::Customer,
        }
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The openmls provider: the one-ciphersuite crypto of [`crypto::SuiteCrypto`] plus the in-memory
/// [`storage::SdkStorage`] whose contents the [`Client`] persists (encrypted, as a diff) after
/// every operation.
#[derive(Default)]
pub(crate) struct Provider {
    crypto: crypto::SuiteCrypto,
    storage: storage::SdkStorage,
}

impl OpenMlsProvider for Provider {
    type CryptoProvider = crypto::SuiteCrypto;
    type RandProvider = crypto::SuiteCrypto;
    type StorageProvider = storage::SdkStorage;

    fn storage(&self) -> &storage::SdkStorage {
        &self.storage
    }
    fn crypto(&self) -> &crypto::SuiteCrypto {
        &self.crypto
    }
    fn rand(&self) -> &crypto::SuiteCrypto {
        &self.crypto
    }
}

/// What a room creation produces for the relay.
#[derive(Debug, Clone)]
pub struct RoomCreated {
    /// The new room's id (= MLS group id).
    pub room_id: RoomId,
    /// The epoch-0 GroupInfo (an MLSMessage) with the ratchet-tree extension; the relay starts its
    /// `PublicGroup` from it.
    pub group_info: Vec<u8>,
}

/// A pending commit, to be sent to the relay. Nothing is merged until
/// [`Client::confirm_commit`].
#[derive(Debug, Clone)]
pub struct CommitOutput {
    /// The room.
    pub room_id: RoomId,
    /// The commit (an MLSMessage carrying a PublicMessage).
    pub commit: Vec<u8>,
    /// The Welcome for all new members (one MLSMessage), if the commit adds anyone.
    pub welcome: Option<Vec<u8>>,
    /// The devices the commit adds (each is sent the welcome).
    pub added: Vec<CredentialIdentity>,
    /// The devices the commit removes.
    pub removed: Vec<CredentialIdentity>,
    /// The GroupInfo of the new epoch (an MLSMessage with the ratchet-tree extension).
    pub group_info: Vec<u8>,
    /// The epoch the commit is for (the relay accepts one commit per epoch).
    pub epoch: u64,
}

/// The result of confirming a commit.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// The room's new epoch.
    pub epoch: u64,
    /// Application messages to send now (the history keys for newcomers). They also stay in
    /// [`Client::outbox`] until [`Client::clear_outbox`].
    pub outgoing: Vec<Vec<u8>>,
    /// Key changes of known users caused by the commit.
    pub events: Vec<RoomEvent>,
}

/// Something that happened while processing incoming bytes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RoomEvent {
    /// Content posted by a member.
    Content {
        /// Sender device.
        sender: CredentialIdentity,
        /// The content's label.
        label: Label,
        /// The content (document versions are already checked: signature and version).
        content: Content,
    },
    /// The room's history keys arrived (this device can now open earlier files).
    HistoryReceived {
        /// Number of content keys now known.
        keys: usize,
    },
    /// A proposal was stored; a member should commit it ([`Client::commit_pending_proposals`]).
    Proposal {
        /// Sender device.
        sender: CredentialIdentity,
        /// Devices the proposal removes.
        removes: Vec<CredentialIdentity>,
    },
    /// A commit was applied.
    Commit {
        /// Committer device.
        sender: CredentialIdentity,
        /// The new epoch.
        epoch: u64,
        /// Devices added.
        added: Vec<CredentialIdentity>,
        /// Devices removed.
        removed: Vec<CredentialIdentity>,
    },
    /// This device's own pending commit came back from the relay and was merged.
    OwnCommitConfirmed {
        /// The new epoch.
        epoch: u64,
    },
    /// Another member's commit won the epoch: this device's pending commit was discarded.
    OwnCommitDiscarded,
    /// This device was removed from the room.
    Removed,
    /// A known user's device keys changed (compare safety numbers).
    KeyChanged(KeyChange),
    /// A message for a future epoch was held and will be applied when the room gets there.
    Held {
        /// The message's epoch.
        epoch: u64,
    },
    /// The exact message was already processed.
    Duplicate,
    /// A handshake message for a past epoch (a commit that lost, or already applied): ignored.
    Stale,
}

/// The result of joining a room from a Welcome.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The room joined.
    pub room_id: RoomId,
    /// Its epoch.
    pub epoch: u64,
    /// Events from the join (key changes of known users) and from held messages.
    pub events: Vec<RoomEvent>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
struct PendingInfo {
    digest: [u8; 32],
}

/// Per-room state beside the MLS group.
struct RoomMeta {
    /// Content keys by the epoch in which they were created.
    keys: BTreeMap<u64, Zeroizing<[u8; 32]>>,
    documents: BTreeMap<String, u64>,
    seen: VecDeque<[u8; 32]>,
    seen_set: BTreeSet<[u8; 32]>,
    held: Vec<(u64, Vec<u8>)>,
    pending: Option<PendingInfo>,
    outbox: Vec<Vec<u8>>,
    history: bool,
    removed: bool,
    /// Credentials need not be Sealroom identities (test-vector rooms only).
    foreign: bool,
}

#[derive(Serialize, Deserialize, Default)]
struct StoredMeta {
    keys: Vec<(u64, String)>,
    documents: BTreeMap<String, u64>,
    seen: Vec<String>,
    held: Vec<(u64, String)>,
    pending: Option<PendingInfo>,
    outbox: Vec<String>,
    history: bool,
    removed: bool,
    #[serde(default)]
    foreign: bool,
}

impl RoomMeta {
    fn new(history: bool) -> Self {
        Self {
            keys: BTreeMap::new(),
            documents: BTreeMap::new(),
            seen: VecDeque::new(),
            seen_set: BTreeSet::new(),
            held: Vec::new(),
            pending: None,
            outbox: Vec::new(),
            history,
            removed: false,
            foreign: false,
        }
    }

    /// The content keys and document versions, as newcomers and recovery backups get them.
    fn history(&self) -> RoomHistory {
        RoomHistory {
            keys: self.keys.iter().map(|(e, k)| (*e, k.clone())).collect(),
            documents: self
                .documents
                .iter()
                .map(|(d, v)| (d.clone(), *v))
                .collect(),
        }
    }

    fn remember(&mut self, digest: [u8; 32]) {
        if self.seen_set.insert(digest) {
            self.seen.push_back(digest);
            if self.seen.len() > SEEN_CAP {
                if let Some(old) = self.seen.pop_front() {
                    self.seen_set.remove(&old);
                }
            }
        }
    }

    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut s = StoredMeta {
            keys: self
                .keys
                .iter()
                .map(|(e, k)| (*e, hex::encode(k.as_ref())))
                .collect(),
            documents: self.documents.clone(),
            seen: self.seen.iter().map(hex::encode).collect(),
            held: self
                .held
                .iter()
                .map(|(e, b)| (*e, hex::encode(b)))
                .collect(),
            pending: self.pending.clone(),
            outbox: self.outbox.iter().map(hex::encode).collect(),
            history: self.history,
            removed: self.removed,
            foreign: self.foreign,
        };
        let out = Zeroizing::new(serde_json::to_vec(&s).unwrap_or_default());
        for (_, k) in s.keys.iter_mut() {
            zeroize::Zeroize::zeroize(k);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut s: StoredMeta = serde_json::from_slice(bytes).ok()?;
        let mut keys = BTreeMap::new();
        for (e, k) in s.keys.iter_mut() {
            let mut key = Zeroizing::new([0u8; 32]);
            let ok = hex::decode_to_slice(k.as_bytes(), key.as_mut()).is_ok();
            zeroize::Zeroize::zeroize(k);
            if !ok {
                return None;
            }
            keys.insert(*e, key);
        }
        let mut seen = VecDeque::new();
        for d in &s.seen {
            let mut b = [0u8; 32];
            hex::decode_to_slice(d, &mut b).ok()?;
            seen.push_back(b);
        }
        let held = s
            .held
            .iter()
            .map(|(e, h)| Some((*e, hex::decode(h).ok()?)))
            .collect::<Option<Vec<_>>>()?;
        let outbox = s
            .outbox
            .iter()
            .map(|h| hex::decode(h).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            keys,
            documents: s.documents.clone(),
            seen_set: seen.iter().copied().collect(),
            seen,
            held,
            pending: s.pending.clone(),
            outbox,
            history: s.history,
            removed: s.removed,
            foreign: s.foreign,
        })
    }
}

struct Room {
    group: MlsGroup,
    meta: RoomMeta,
}

const DEVICE_KEY: &str = "device";
const DIRECTORY_KEY: &str = "directory";
const MLS_PREFIX: &str = "mls/";
const ROOM_PREFIX: &str = "room/";

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

fn serialize(msg: &MlsMessageOut) -> Result<Vec<u8>, RoomError> {
    msg.tls_serialize_detached().map_err(mls)
}

fn identity_of(credential: &Credential) -> Option<CredentialIdentity> {
    let basic = BasicCredential::try_from(credential.clone()).ok()?;
    CredentialIdentity::from_bytes(basic.identity()).ok()
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// One device's rooms, identity and key packages over an encrypted store.
pub struct Client {
    store: EncryptedStore,
    provider: Provider,
    shadow: HashMap<Vec<u8>, Vec<u8>>,
    device: DeviceIdentity,
    rooms: BTreeMap<RoomId, Room>,
    directory: KeyDirectory,
    poisoned: bool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("device", &self.device)
            .field("rooms", &self.rooms.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Creates a new device with a fresh signing key in an empty store.
    pub fn create(
        kv: Box<dyn KvStore>,
        storage_key: &StorageKey,
        identity: CredentialIdentity,
    ) -> Result<Self, RoomError> {
        Self::create_with_device(kv, storage_key, DeviceIdentity::generate(identity))
    }

    fn create_with_device(
        kv: Box<dyn KvStore>,
        storage_key: &StorageKey,
        device: DeviceIdentity,
    ) -> Result<Self, RoomError> {
        let mut store = EncryptedStore::new(kv, storage_key);
        if store.get(DEVICE_KEY)?.is_some() {
            return Err(RoomError::Membership);
        }
        let mut batch = Batch::new();
        batch.put(
            crate::state::STATE_FORMAT_KEY,
            crate::state::STATE_FORMAT.to_le_bytes().to_vec(),
        );
        batch.put(DEVICE_KEY, device.to_stored().to_vec());
        store.commit(batch)?;
        Ok(Self {
            store,
            provider: Provider::default(),
            shadow: HashMap::new(),
            device,
            rooms: BTreeMap::new(),
            directory: KeyDirectory::default(),
            poisoned: false,
        })
    }

    /// Opens an existing device from its store.
    pub fn open(kv: Box<dyn KvStore>, storage_key: &StorageKey) -> Result<Self, RoomError> {
        let store = EncryptedStore::new(kv, storage_key);
        crate::state::check_format(&store)?;
        let dev = store
            .get(DEVICE_KEY)?
            .ok_or(RoomError::Storage(StateError::Corrupt))?;
        let device =
            DeviceIdentity::from_stored(&dev).ok_or(RoomError::Storage(StateError::Corrupt))?;
        let directory = match store.get(DIRECTORY_KEY)? {
            Some(b) => serde_json::from_slice(&b).map_err(|_| StateError::Corrupt)?,
            None => KeyDirectory::default(),
        };
        let provider = Provider::default();
        let mut shadow = HashMap::new();
        {
            let mut values = provider
                .storage
                .values
                .write()
                .map_err(|_| RoomError::Mls("storage lock poisoned".into()))?;
            for name in store.keys(MLS_PREFIX)? {
                let key =
                    hex::decode(&name[MLS_PREFIX.len()..]).map_err(|_| StateError::Corrupt)?;
                let value = store.get(&name)?.ok_or(StateError::Corrupt)?;
                values.insert(key.clone(), value.to_vec());
                shadow.insert(key, value.to_vec());
            }
        }
        let mut rooms = BTreeMap::new();
        for name in store.keys(ROOM_PREFIX)? {
            let room_id = RoomId::parse(&name[ROOM_PREFIX.len()..])?;
            let bytes = store.get(&name)?.ok_or(StateError::Corrupt)?;
            let meta = RoomMeta::decode(&bytes).ok_or(StateError::Corrupt)?;
            // A value that does not decode is damage to the stored state, not an MLS failure.
            let group = MlsGroup::load(&provider.storage, &room_id.group_id())
                .map_err(|_| StateError::Corrupt)?
                .ok_or(StateError::Corrupt)?;
            rooms.insert(room_id, Room { group, meta });
        }
        Ok(Self {
            store,
            provider,
            shadow,
            device,
            rooms,
            directory,
            poisoned: false,
        })
    }

    /// This device's identity (public key, request signing).
    pub fn device(&self) -> &DeviceIdentity {
        &self.device
    }

    /// The rooms this device holds state for.
    pub fn rooms(&self) -> Vec<RoomId> {
        self.rooms.keys().cloned().collect()
    }

    /// The known device keys per user and their safety numbers.
    pub fn directory(&self) -> &KeyDirectory {
        &self.directory
    }

    /// Records the full device-key set of `user_id` as announced by the relay's directory; a
    /// change for a known user is returned (and persisted).
    pub fn observe_user_devices(
        &mut self,
        user_id: &str,
        keys: BTreeSet<[u8; 32]>,
    ) -> Result<Option<KeyChange>, RoomError> {
        self.check_usable()?;
        let change = self.directory.observe(user_id, keys);
        self.persist(&[], Batch::new())?;
        Ok(change)
    }

    fn check_usable(&self) -> Result<(), RoomError> {
        if self.poisoned {
            return Err(RoomError::Poisoned);
        }
        Ok(())
    }

    /// Commits MLS storage changes, the metadata of `rooms` and the directory in one batch.
    fn persist(&mut self, rooms: &[RoomId], mut batch: Batch) -> Result<(), RoomError> {
        let changes = {
            let values = self
                .provider
                .storage
                .values
                .read()
                .map_err(|_| RoomError::Mls("storage lock poisoned".into()))?;
            let mut changes: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
            for (k, v) in values.iter() {
                if self.shadow.get(k) != Some(v) {
                    changes.push((k.clone(), Some(v.clone())));
                }
            }
            for k in self.shadow.keys() {
                if !values.contains_key(k) {
                    changes.push((k.clone(), None));
                }
            }
            changes
        };
        for (k, v) in &changes {
            let name = format!("{MLS_PREFIX}{}", hex::encode(k));
            match v {
                Some(v) => batch.put(name, v.clone()),
                None => batch.delete(name),
            }
        }
        for r in rooms {
            if let Some(room) = self.rooms.get(r) {
                batch.put(
                    format!("{ROOM_PREFIX}{}", r.as_str()),
                    room.meta.encode().to_vec(),
                );
            }
        }
        batch.put(
            DIRECTORY_KEY,
            serde_json::to_vec(&self.directory).map_err(|_| StateError::Corrupt)?,
        );
        if let Err(e) = self.store.commit(batch) {
            self.poisoned = true;
            return Err(e.into());
        }
        for (k, v) in changes {
            match v {
                Some(v) => self.shadow.insert(k, v),
                None => self.shadow.remove(&k),
            };
        }
        Ok(())
    }

    // ----- key packages -------------------------------------------------------------------

    /// Generates `count` one-time key packages (MLSMessages) for upload to the relay. Their
    /// private keys are stored; each is deleted when a Welcome consumes it.
    pub fn generate_key_packages(&mut self, count: usize) -> Result<Vec<Vec<u8>>, RoomError> {
        self.check_usable()?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(self.build_key_package(false)?);
        }
        self.persist(&[], Batch::new())?;
        Ok(out)
    }

    /// Generates a last-resort key package: used when the one-time ones run out, never deleted.
    pub fn last_resort_key_package(&mut self) -> Result<Vec<u8>, RoomError> {
        self.check_usable()?;
        let kp = self.build_key_package(true)?;
        self.persist(&[], Batch::new())?;
        Ok(kp)
    }

    fn build_key_package(&self, last_resort: bool) -> Result<Vec<u8>, RoomError> {
        let mut builder = KeyPackage::builder();
        if last_resort {
            builder = builder.mark_as_last_resort().leaf_node_capabilities(
                Capabilities::builder()
                    .extensions(vec![ExtensionType::LastResort])
                    .build(),
            );
        }
        let bundle = builder
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.device,
                self.device.credential_with_key(),
            )
            .map_err(mls)?;
        serialize(&MlsMessageOut::from(bundle.key_package().clone()))
    }

    // ----- room lifecycle -----------------------------------------------------------------

    /// Creates a room of `kind` in `space_id` with this device as the only member.
    pub fn create_room(
        &mut self,
        space_id: &str,
        kind: RoomKind,
    ) -> Result<RoomCreated, RoomError> {
        self.check_usable()?;
        let room_id = RoomId::new_random(space_id, kind)?;
        let group = MlsGroup::builder()
            .with_group_id(room_id.group_id())
            .ciphersuite(CIPHERSUITE)
            .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .build(
                &self.provider,
                &self.device,
                self.device.credential_with_key(),
            )
            .map_err(mls)?;
        let group_info = serialize(
            &group
                .export_group_info(self.provider.crypto(), &self.device, true)
                .map_err(mls)?,
        )?;
        let mut meta = RoomMeta::new(true);
        let key = derive_content_key(&group, &self.provider, &room_id)?;
        meta.keys.insert(0, key);
        self.rooms.insert(room_id.clone(), Room { group, meta });
        self.persist(std::slice::from_ref(&room_id), Batch::new())?;
        Ok(RoomCreated {
            room_id,
            group_info,
        })
    }

    fn room_mut(&mut self, room_id: &RoomId) -> Result<&mut Room, RoomError> {
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        if room.meta.removed {
            return Err(RoomError::Removed);
        }
        Ok(room)
    }

    fn room(&self, room_id: &RoomId) -> Result<&Room, RoomError> {
        self.rooms.get(room_id).ok_or(RoomError::UnknownRoom)
    }

    fn ready_for_commit(&mut self, room_id: &RoomId) -> Result<(), RoomError> {
        self.check_usable()?;
        let room = self.room_mut(room_id)?;
        if room.meta.pending.is_some() || room.group.pending_commit().is_some() {
            return Err(RoomError::PendingCommit);
        }
        Ok(())
    }

    /// Adds devices (all devices of each user: pass every key package the relay returned for
    /// them) in one commit. Adding a new device of an existing member is the same call.
    pub fn add_members(
        &mut self,
        room_id: &RoomId,
        key_packages: &[Vec<u8>],
    ) -> Result<CommitOutput, RoomError> {
        let mut kps = Vec::with_capacity(key_packages.len());
        let mut added = Vec::with_capacity(key_packages.len());
        for bytes in key_packages {
            let kp = validate_key_package(&self.provider, bytes)?;
            let id =
                identity_of(kp.leaf_node().credential()).ok_or(RoomError::InvalidKeyPackage)?;
            if added.contains(&id) {
                return Err(RoomError::Membership);
            }
            added.push(id);
            kps.push(kp);
        }
        if kps.is_empty() {
            return Err(RoomError::Membership);
        }
        self.ready_for_commit(room_id)?;
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        let present: BTreeSet<CredentialIdentity> = room
            .group
            .members()
            .filter_map(|m| identity_of(&m.credential))
            .collect();
        if added.iter().any(|a| present.contains(a)) {
            return Err(RoomError::Membership);
        }
        let (commit, welcome, group_info) = room
            .group
            .add_members(&self.provider, &self.device, &kps)
            .map_err(mls)?;
        self.finish_commit(
            room_id,
            commit,
            Some(welcome),
            group_info,
            added,
            Vec::new(),
        )
    }

    /// Removes every device of each of `user_ids` in one commit. Removing this device's own
    /// user removes its other devices; to leave, use [`Client::leave`].
    pub fn remove_users(
        &mut self,
        room_id: &RoomId,
        user_ids: &[&str],
    ) -> Result<CommitOutput, RoomError> {
        self.ready_for_commit(room_id)?;
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        let own = room.group.own_leaf_index();
        let mut leaves = Vec::new();
        let mut removed = Vec::new();
        for m in room.group.members() {
            if let Some(id) = identity_of(&m.credential) {
                if m.index != own && user_ids.contains(&id.user_id.as_str()) {
                    leaves.push(m.index);
                    removed.push(id);
                }
            }
        }
        if leaves.is_empty() {
            return Err(RoomError::Membership);
        }
        let (commit, welcome, group_info) = room
            .group
            .remove_members(&self.provider, &self.device, &leaves)
            .map_err(mls)?;
        self.finish_commit(room_id, commit, welcome, group_info, Vec::new(), removed)
    }

    /// Updates this device's leaf (fresh HPKE key, post-compromise security) in a commit that
    /// also covers any pending proposals.
    pub fn self_update(&mut self, room_id: &RoomId) -> Result<CommitOutput, RoomError> {
        self.ready_for_commit(room_id)?;
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        let (added, removed) = proposal_changes(&room.group);
        let bundle = room
            .group
            .self_update(&self.provider, &self.device, LeafNodeParameters::default())
            .map_err(mls)?;
        let (commit, welcome, group_info) = bundle.into_contents();
        let welcome = welcome.map(|w| MlsMessageOut::from_welcome(w, ProtocolVersion::Mls10));
        self.finish_commit(room_id, commit, welcome, group_info, added, removed)
    }

    /// Commits the proposals received so far (e.g. a member's leave).
    pub fn commit_pending_proposals(
        &mut self,
        room_id: &RoomId,
    ) -> Result<CommitOutput, RoomError> {
        self.ready_for_commit(room_id)?;
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        if !room.group.has_pending_proposals() {
            return Err(RoomError::Membership);
        }
        let (added, removed) = proposal_changes(&room.group);
        let (commit, welcome, group_info) = room
            .group
            .commit_to_pending_proposals(&self.provider, &self.device)
            .map_err(mls)?;
        self.finish_commit(room_id, commit, welcome, group_info, added, removed)
    }

    fn finish_commit(
        &mut self,
        room_id: &RoomId,
        commit: MlsMessageOut,
        welcome: Option<MlsMessageOut>,
        group_info: Option<openmls::messages::group_info::GroupInfo>,
        added: Vec<CredentialIdentity>,
        removed: Vec<CredentialIdentity>,
    ) -> Result<CommitOutput, RoomError> {
        let commit = serialize(&commit)?;
        let welcome = welcome.as_ref().map(serialize).transpose()?;
        // The group uses the ratchet-tree extension, so openmls always returns a GroupInfo.
        let group_info = group_info
            .ok_or_else(|| RoomError::Mls("commit without group info".into()))
            .and_then(|gi| serialize(&MlsMessageOut::from(gi)))?;
        let room = self.room_mut(room_id)?;
        let epoch = room.group.epoch().as_u64();
        room.meta.pending = Some(PendingInfo {
            digest: digest(&commit),
        });
        self.persist(std::slice::from_ref(room_id), Batch::new())?;
        Ok(CommitOutput {
            room_id: room_id.clone(),
            commit,
            welcome,
            added,
            removed,
            group_info,
            epoch,
        })
    }

    /// The relay accepted this device's pending commit: merge it. If it removed anyone, the room
    /// content key rotates; if it added anyone, the returned messages carry the room history
    /// keys to the newcomers and must be sent.
    pub fn confirm_commit(&mut self, room_id: &RoomId) -> Result<Confirmed, RoomError> {
        self.check_usable()?;
        let out = self.confirm_inner(room_id)?;
        self.persist(std::slice::from_ref(room_id), Batch::new())?;
        Ok(out)
    }

    fn confirm_inner(&mut self, room_id: &RoomId) -> Result<Confirmed, RoomError> {
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        let pending = room.meta.pending.take().ok_or(RoomError::NoPendingCommit)?;
        let staged = room
            .group
            .pending_commit()
            .ok_or(RoomError::NoPendingCommit)?;
        let removes = staged.remove_proposals().next().is_some();
        let adds = staged.add_proposals().next().is_some();
        room.group
            .merge_pending_commit(&self.provider)
            .map_err(mls)?;
        room.meta.remember(pending.digest);
        let mut events = Vec::new();
        observe_members(&mut self.directory, &room.group, &mut events);
        if removes {
            let key = derive_content_key(&room.group, &self.provider, room_id)?;
            room.meta.keys.insert(room.group.epoch().as_u64(), key);
        }
        let mut outgoing = Vec::new();
        if adds {
            let RoomHistory { keys, documents } = room.meta.history();
            let history = Envelope::History(HistoryKeys { keys, documents });
            let msg = room
                .group
                .create_message(&self.provider, &self.device, &history.encode())
                .map_err(mls)?;
            let bytes = serialize(&msg)?;
            room.meta.remember(digest(&bytes));
            room.meta.outbox.push(bytes.clone());
            outgoing.push(bytes);
        }
        Ok(Confirmed {
            epoch: room.group.epoch().as_u64(),
            outgoing,
            events,
        })
    }

    /// The relay rejected the pending commit (another commit won the epoch): drop it. Then
    /// process the room's new messages and retry the operation.
    pub fn discard_commit(&mut self, room_id: &RoomId) -> Result<(), RoomError> {
        self.check_usable()?;
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        if room.meta.pending.take().is_none() && room.group.pending_commit().is_none() {
            return Err(RoomError::NoPendingCommit);
        }
        room.group
            .clear_pending_commit(self.provider.storage())
            .map_err(mls)?;
        self.persist(std::slice::from_ref(room_id), Batch::new())
    }

    /// Messages created by [`Client::confirm_commit`] that the host has not yet cleared.
    pub fn outbox(&self, room_id: &RoomId) -> Result<Vec<Vec<u8>>, RoomError> {
        Ok(self.room(room_id)?.meta.outbox.clone())
    }

    /// Forgets the outbox of a room once the host has delivered it to the relay.
    pub fn clear_outbox(&mut self, room_id: &RoomId) -> Result<(), RoomError> {
        self.check_usable()?;
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        room.meta.outbox.clear();
        self.persist(std::slice::from_ref(room_id), Batch::new())
    }

    /// Asks to leave the room: returns a remove proposal for the relay. Another member commits
    /// it ([`Client::commit_pending_proposals`]); this device sees [`RoomEvent::Removed`] then.
    pub fn leave(&mut self, room_id: &RoomId) -> Result<Vec<u8>, RoomError> {
        self.ready_for_commit(room_id)?;
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        let msg = room
            .group
            .leave_group(&self.provider, &self.device)
            .map_err(mls)?;
        let bytes = serialize(&msg)?;
        room.meta.remember(digest(&bytes));
        self.persist(std::slice::from_ref(room_id), Batch::new())?;
        Ok(bytes)
    }

    /// Joins a room from a Welcome (an MLSMessage). The ratchet tree comes from the Welcome's
    /// extension.
    pub fn join(&mut self, welcome: &[u8]) -> Result<Joined, RoomError> {
        self.join_with(welcome, None, false, |_| Ok(Batch::new()))
    }

    fn join_with_batch<F>(&mut self, welcome: &[u8], extra: F) -> Result<Joined, RoomError>
    where
        F: FnOnce(&Joined) -> Result<Batch, RoomError>,
    {
        self.join_with(welcome, None, false, extra)
    }

    #[doc(hidden)]
    /// Test-vector entry: join with an optional separately delivered ratchet tree and without
    /// leaf lifetime checks (vectors carry expired lifetimes). Not for production use.
    pub fn join_for_vectors(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
    ) -> Result<Joined, RoomError> {
        self.join_with(welcome, ratchet_tree, true, |_| Ok(Batch::new()))
    }

    fn join_with<F>(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
        vectors: bool,
        extra: F,
    ) -> Result<Joined, RoomError>
    where
        F: FnOnce(&Joined) -> Result<Batch, RoomError>,
    {
        self.check_usable()?;
        let msg =
            MlsMessageIn::tls_deserialize_exact(welcome).map_err(|_| RoomError::InvalidMessage)?;
        let MlsMessageBodyIn::Welcome(welcome) = msg.extract() else {
            return Err(RoomError::InvalidMessage);
        };
        let config = if vectors {
            MlsGroupJoinConfig::builder()
                .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
                .use_ratchet_tree_extension(true)
                .max_past_epochs(MAX_PAST_EPOCHS)
                .number_of_resumption_psks(16)
                .build()
        } else {
            join_config()
        };
        let mut builder = StagedWelcome::build_from_welcome(&self.provider, &config, welcome)
            .map_err(|e| match e {
                WelcomeError::NoMatchingKeyPackage => RoomError::NoMatchingKeyPackage,
                _ => RoomError::InvalidMessage,
            })?;
        if let Some(tree) = ratchet_tree {
            let tree = RatchetTreeIn::tls_deserialize_exact(tree)
                .map_err(|_| RoomError::InvalidMessage)?;
            builder = builder.with_ratchet_tree(tree);
        }
        if vectors {
            builder = builder.skip_lifetime_validation();
        }
        // Re-joining a room this device was removed from replaces the old, inactive group.
        let gid = builder
            .processed_welcome()
            .unverified_group_info()
            .group_id()
            .clone();
        let rejoin = match self.rooms.get(&RoomId::from_group_id(&gid)) {
            Some(existing) if existing.meta.removed => true,
            Some(_) => return Err(RoomError::Membership),
            None => false,
        };
        if rejoin {
            builder = builder.replace_old_group();
        }
        let staged = builder.build().map_err(|_| RoomError::InvalidMessage)?;
        let room_id = RoomId::from_group_id(staged.group_context().group_id());
        if let Some(existing) = self.rooms.get(&room_id) {
            if !existing.meta.removed {
                return Err(RoomError::Membership);
            }
        }
        let group = staged
            .into_group(&self.provider)
            .map_err(|_| RoomError::InvalidMessage)?;
        let epoch = group.epoch().as_u64();
        let mut events = Vec::new();
        observe_members(&mut self.directory, &group, &mut events);
        let mut meta = RoomMeta::new(false);
        meta.foreign = vectors;
        self.rooms.insert(room_id.clone(), Room { group, meta });
        self.run_held(&room_id, &mut events);
        let joined = Joined {
            room_id,
            epoch,
            events,
        };
        let batch = extra(&joined)?;
        self.persist(std::slice::from_ref(&joined.room_id), batch)?;
        Ok(joined)
    }

    // ----- content ------------------------------------------------------------------------

    /// Posts content into a room; returns the MLS application message for the relay.
    ///
    /// Internal content into a customer room fails with [`RoomError::InternalInCustomerRoom`].
    /// Document versions are signed here and must exceed every version seen before.
    pub fn post(
        &mut self,
        room_id: &RoomId,
        label: Label,
        content: Content,
    ) -> Result<Vec<u8>, RoomError> {
        self.check_usable()?;
        if label == Label::Internal && room_id.kind() == RoomKind::Customer {
            return Err(RoomError::InternalInCustomerRoom);
        }
        let mut content = content;
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        if room.meta.removed {
            return Err(RoomError::Removed);
        }
        if room.meta.pending.is_some() {
            return Err(RoomError::PendingCommit);
        }
        if let Content::Document(d) = &mut content {
            check_version(&room.meta.documents, d)?;
            d.author_signature = self.device.sign(&d.signed_bytes(room_id.as_str())).to_vec();
            room.meta.documents.insert(d.document_id.clone(), d.version);
        }
        let env = Envelope::Content(label, content);
        let msg = room
            .group
            .create_message(&self.provider, &self.device, &env.encode())
            .map_err(mls)?;
        let bytes = serialize(&msg)?;
        room.meta.remember(digest(&bytes));
        self.persist(std::slice::from_ref(room_id), Batch::new())?;
        Ok(bytes)
    }

    /// Wraps a file key under the room's current content key, for storage beside the file on
    /// the relay. Newcomers receive every content key and can unwrap it; devices removed before
    /// the key was created cannot.
    pub fn wrap_file_key(
        &self,
        room_id: &RoomId,
        file_id: &str,
        file_key: &FileKey,
    ) -> Result<Vec<u8>, RoomError> {
        let room = self.room(room_id)?;
        if room.meta.removed {
            return Err(RoomError::Removed);
        }
        let (epoch, key) = room
            .meta
            .keys
            .iter()
            .next_back()
            .ok_or(RoomError::HistoryPending)?;
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let cipher = wrap_cipher(key);
        let mut header = WRAP_MAGIC.to_vec();
        header.push(WRAP_VERSION);
        header.extend_from_slice(&epoch.to_be_bytes());
        header.extend_from_slice(&nonce);
        let ct = cipher
            .seal(
                &nonce,
                &wrap_aad(&header, room_id, file_id),
                file_key.as_bytes(),
            )
            .map_err(|_| RoomError::Mls("aead".into()))?;
        header.extend_from_slice(&ct);
        Ok(header)
    }

    /// Unwraps a file key produced by [`Client::wrap_file_key`] in this room.
    pub fn unwrap_file_key(
        &self,
        room_id: &RoomId,
        file_id: &str,
        wrapped: &[u8],
    ) -> Result<FileKey, RoomError> {
        let room = self.room(room_id)?;
        if wrapped.len() != 4 + 1 + 8 + 12 + 32 + 16 || &wrapped[..4] != WRAP_MAGIC {
            return Err(RoomError::Decrypt);
        }
        match wrapped[4] {
            WRAP_VERSION => {}
            _ => return Err(RoomError::UnsupportedVersion),
        }
        let mut e = [0u8; 8];
        e.copy_from_slice(&wrapped[5..13]);
        let epoch = u64::from_be_bytes(e);
        let key = room
            .meta
            .keys
            .get(&epoch)
            .ok_or(RoomError::KeyUnavailable)?;
        let (header, sealed) = wrapped.split_at(25);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&header[13..]);
        let pt = wrap_cipher(key)
            .open(&nonce, &wrap_aad(header, room_id, file_id), sealed)
            .map_err(|_| RoomError::Decrypt)?;
        let pt = Zeroizing::new(pt);
        let mut k = [0u8; 32];
        k.copy_from_slice(&pt);
        Ok(FileKey::from_bytes(k))
    }

    // ----- incoming -----------------------------------------------------------------------

    /// Processes one incoming MLS message (commit, proposal or application message) of a room.
    pub fn process(
        &mut self,
        room_id: &RoomId,
        message: &[u8],
    ) -> Result<Vec<RoomEvent>, RoomError> {
        self.check_usable()?;
        let mut events = Vec::new();
        let result = self.process_one(room_id, message, &mut events);
        match result {
            Ok(()) => {
                self.run_held(room_id, &mut events);
                self.persist(std::slice::from_ref(room_id), Batch::new())?;
                Ok(events)
            }
            Err(e) => Err(e),
        }
    }

    fn process_one(
        &mut self,
        room_id: &RoomId,
        message: &[u8],
        events: &mut Vec<RoomEvent>,
    ) -> Result<(), RoomError> {
        let d = digest(message);
        {
            let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
            if room.meta.seen_set.contains(&d) {
                events.push(RoomEvent::Duplicate);
                return Ok(());
            }
            if room.meta.removed {
                return Err(RoomError::Removed);
            }
            if room.meta.pending.as_ref().map(|p| p.digest) == Some(d) {
                let c = self.confirm_inner(room_id)?;
                events.extend(c.events);
                events.push(RoomEvent::OwnCommitConfirmed { epoch: c.epoch });
                return Ok(());
            }
        }
        let msg =
            MlsMessageIn::tls_deserialize_exact(message).map_err(|_| RoomError::InvalidMessage)?;
        let protocol = msg
            .try_into_protocol_message()
            .map_err(|_| RoomError::InvalidMessage)?;
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        if protocol.group_id() != room.group.group_id() {
            return Err(RoomError::InvalidMessage);
        }
        let msg_epoch = protocol.epoch().as_u64();
        let epoch = room.group.epoch().as_u64();
        if msg_epoch > epoch {
            if room.meta.held.len() >= HELD_CAP {
                return Err(RoomError::InvalidMessage);
            }
            if !room.meta.held.iter().any(|(_, b)| b == message) {
                room.meta.held.push((msg_epoch, message.to_vec()));
            }
            events.push(RoomEvent::Held { epoch: msg_epoch });
            return Ok(());
        }
        if msg_epoch < epoch && protocol.is_handshake_message() {
            room.meta.remember(d);
            events.push(RoomEvent::Stale);
            return Ok(());
        }
        if protocol.content_type() == ContentType::Commit && room.meta.pending.is_some() {
            // Another member's commit for our epoch: the relay ordered it first, ours lost.
            room.meta.pending = None;
            room.group
                .clear_pending_commit(self.provider.storage())
                .map_err(mls)?;
            events.push(RoomEvent::OwnCommitDiscarded);
        }
        let processed = room
            .group
            .process_message(&self.provider, protocol)
            .map_err(|e| match e {
                ProcessMessageError::ValidationError(ValidationError::UnableToDecrypt(_)) => {
                    RoomError::Decrypt
                }
                ProcessMessageError::GroupStateError(MlsGroupStateError::UseAfterEviction) => {
                    RoomError::Removed
                }
                _ => RoomError::InvalidMessage,
            })?;
        let sender = match identity_of(processed.credential()) {
            Some(id) => id,
            None if room.meta.foreign => CredentialIdentity {
                org_id: "foreign".into(),
                user_id: "foreign".into(),
                device_id: "foreign".into(),
            },
            None => return Err(RoomError::InvalidMessage),
        };
        let sender_key = match processed.sender() {
            Sender::Member(idx) => room.group.member_at(*idx).map(|m| m.signature_key),
            _ => None,
        };
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => {
                let bytes = Zeroizing::new(app.into_bytes());
                match Envelope::decode(&bytes)? {
                    Envelope::History(h) => {
                        let mut grew = false;
                        for (e, k) in h.keys {
                            if let std::collections::btree_map::Entry::Vacant(v) =
                                room.meta.keys.entry(e)
                            {
                                v.insert(k);
                                grew = true;
                            }
                        }
                        for (doc, v) in h.documents {
                            let cur = room.meta.documents.entry(doc).or_insert(0);
                            *cur = (*cur).max(v);
                        }
                        if !room.meta.history || grew {
                            room.meta.history = true;
                            events.push(RoomEvent::HistoryReceived {
                                keys: room.meta.keys.len(),
                            });
                        }
                    }
                    Envelope::Content(label, content) => {
                        if label == Label::Internal && room_id.kind() == RoomKind::Customer {
                            return Err(RoomError::InternalInCustomerRoom);
                        }
                        if let Content::Document(doc) = &content {
                            let key = sender_key.ok_or(RoomError::InvalidMessage)?;
                            if !verify_signature(
                                &key,
                                &doc.signed_bytes(room_id.as_str()),
                                &doc.author_signature,
                            ) {
                                return Err(RoomError::BadSignature);
                            }
                            check_version(&room.meta.documents, doc)?;
                            room.meta
                                .documents
                                .insert(doc.document_id.clone(), doc.version);
                        }
                        events.push(RoomEvent::Content {
                            sender,
                            label,
                            content,
                        });
                    }
                }
            }
            ProcessedMessageContent::ProposalMessage(p) => {
                let removes = match p.proposal() {
                    Proposal::Remove(r) => room
                        .group
                        .member_at(r.removed())
                        .and_then(|m| identity_of(&m.credential))
                        .into_iter()
                        .collect(),
                    _ => Vec::new(),
                };
                room.group
                    .store_pending_proposal(self.provider.storage(), *p)
                    .map_err(mls)?;
                events.push(RoomEvent::Proposal { sender, removes });
            }
            ProcessedMessageContent::ExternalJoinProposalMessage(p) => {
                room.group
                    .store_pending_proposal(self.provider.storage(), *p)
                    .map_err(mls)?;
                events.push(RoomEvent::Proposal {
                    sender,
                    removes: Vec::new(),
                });
            }
            ProcessedMessageContent::OwnPendingCommit => {
                let c = self.confirm_inner(room_id)?;
                events.extend(c.events);
                events.push(RoomEvent::OwnCommitConfirmed { epoch: c.epoch });
                return Ok(());
            }
            ProcessedMessageContent::OwnPrivateMessage => {
                events.push(RoomEvent::Duplicate);
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                let removed: Vec<CredentialIdentity> = staged
                    .remove_proposals()
                    .filter_map(|r| room.group.member_at(r.remove_proposal().removed()))
                    .filter_map(|m| identity_of(&m.credential))
                    .collect();
                let added: Vec<CredentialIdentity> = staged
                    .add_proposals()
                    .filter_map(|a| {
                        identity_of(a.add_proposal().key_package().leaf_node().credential())
                    })
                    .collect();
                let self_removed = staged.self_removed();
                room.group
                    .merge_staged_commit(&self.provider, *staged)
                    .map_err(mls)?;
                room.meta.remember(d);
                let epoch = room.group.epoch().as_u64();
                if self_removed || !room.group.is_active() {
                    room.meta.removed = true;
                    room.meta.held.clear();
                    events.push(RoomEvent::Removed);
                    return Ok(());
                }
                if !removed.is_empty() {
                    let key = derive_content_key(&room.group, &self.provider, room_id)?;
                    room.meta.keys.insert(epoch, key);
                }
                let group = &room.group;
                observe_members(&mut self.directory, group, events);
                events.push(RoomEvent::Commit {
                    sender,
                    epoch,
                    added,
                    removed,
                });
                return Ok(());
            }
        }
        room.meta.remember(d);
        Ok(())
    }

    /// Applies held messages that have become current; failures drop the held message.
    fn run_held(&mut self, room_id: &RoomId, events: &mut Vec<RoomEvent>) {
        loop {
            let Some(room) = self.rooms.get_mut(room_id) else {
                return;
            };
            if room.meta.removed {
                return;
            }
            let epoch = room.group.epoch().as_u64();
            // Held commits of past epochs can never apply; held application messages of past
            // epochs may still decrypt (past-epoch secrets are kept).
            room.meta.held.retain(|(e, b)| *e >= epoch || !is_commit(b));
            // Within an epoch, everything else goes before the commit that ends it.
            let pos = room
                .meta
                .held
                .iter()
                .position(|(e, b)| *e <= epoch && !is_commit(b))
                .or_else(|| room.meta.held.iter().position(|(e, _)| *e == epoch));
            let Some(pos) = pos else {
                return;
            };
            let (_, bytes) = room.meta.held.remove(pos);
            // A held message that fails is dropped: it was invalid for the epoch it named.
            let _ = self.process_one(room_id, &bytes, events);
        }
    }

    // ----- inspection ---------------------------------------------------------------------

    /// The room's current epoch.
    pub fn epoch(&self, room_id: &RoomId) -> Result<u64, RoomError> {
        Ok(self.room(room_id)?.group.epoch().as_u64())
    }

    /// The room's epoch authenticator (equal on all members in the same epoch).
    pub fn epoch_authenticator(&self, room_id: &RoomId) -> Result<Vec<u8>, RoomError> {
        Ok(self
            .room(room_id)?
            .group
            .epoch_authenticator()
            .as_slice()
            .to_vec())
    }

    /// The room's member devices with their Ed25519 keys.
    pub fn members(
        &self,
        room_id: &RoomId,
    ) -> Result<Vec<(CredentialIdentity, Vec<u8>)>, RoomError> {
        Ok(self
            .room(room_id)?
            .group
            .members()
            .filter_map(|m| identity_of(&m.credential).map(|id| (id, m.signature_key)))
            .collect())
    }

    /// Whether this device was removed from the room.
    pub fn is_removed(&self, room_id: &RoomId) -> Result<bool, RoomError> {
        Ok(self.room(room_id)?.meta.removed)
    }

    /// Whether a commit of this device awaits confirmation.
    pub fn has_pending_commit(&self, room_id: &RoomId) -> Result<bool, RoomError> {
        Ok(self.room(room_id)?.meta.pending.is_some())
    }

    /// Number of room content keys this device holds.
    pub fn content_key_count(&self, room_id: &RoomId) -> Result<usize, RoomError> {
        Ok(self.room(room_id)?.meta.keys.len())
    }

    /// The highest version seen of a document.
    pub fn document_version(
        &self,
        room_id: &RoomId,
        document_id: &str,
    ) -> Result<Option<u64>, RoomError> {
        Ok(self.room(room_id)?.meta.documents.get(document_id).copied())
    }

    /// The current GroupInfo (with ratchet tree) of a room, for a relay that lost it.
    pub fn group_info(&self, room_id: &RoomId) -> Result<Vec<u8>, RoomError> {
        let room = self.room(room_id)?;
        serialize(
            &room
                .group
                .export_group_info(self.provider.crypto(), &self.device, true)
                .map_err(mls)?,
        )
    }

    #[doc(hidden)]
    /// Test-vector entry: stores an externally generated key package with its private keys
    /// (`init_priv`, `encryption_priv`), as a passive client in the MLS interop vectors does.
    pub fn inject_key_package_for_vectors(
        &mut self,
        key_package: &[u8],
        init_priv: &[u8],
        encryption_priv: &[u8],
    ) -> Result<(), RoomError> {
        use openmls_traits::storage::StorageProvider as _;
        let msg = MlsMessageIn::tls_deserialize_exact(key_package)
            .map_err(|_| RoomError::InvalidKeyPackage)?;
        let MlsMessageBodyIn::KeyPackage(kp) = msg.extract() else {
            return Err(RoomError::InvalidKeyPackage);
        };
        // Some vectors carry key packages whose lifetime has long expired: openmls's own
        // passive-client test converts them without validation, which we mirror via serde.
        let kp = match kp
            .clone()
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
        {
            Ok(kp) => kp,
            Err(_) => serde_json::to_value(&kp)
                .and_then(serde_json::from_value::<KeyPackage>)
                .map_err(|_| RoomError::InvalidKeyPackage)?,
        };
        let bundle_json = serde_json::json!({
            "key_package": serde_json::to_value(&kp).map_err(mls)?,
            // Serde shapes of openmls's HpkePrivateKey ({"vec": bytes}) and EncryptionPrivateKey.
            "private_init_key": { "vec": init_priv },
            "private_encryption_key": { "key": { "vec": encryption_priv } },
        });
        let bundle: KeyPackageBundle = serde_json::from_value(bundle_json).map_err(mls)?;
        let hash_ref = kp.hash_ref(self.provider.crypto()).map_err(mls)?;
        self.provider
            .storage
            .write_key_package(&hash_ref, &bundle)
            .map_err(mls)?;
        self.persist(&[], Batch::new())
    }

    #[doc(hidden)]
    /// Test-vector entry: stores an external pre-shared key (the vectors' `external_psks`).
    pub fn inject_external_psk_for_vectors(
        &mut self,
        psk_id: &[u8],
        psk: &[u8],
    ) -> Result<(), RoomError> {
        openmls::schedule::psk::PreSharedKeyId::external(psk_id.to_vec(), Vec::new())
            .store(&self.provider, psk)
            .map_err(mls)?;
        self.persist(&[], Batch::new())
    }
}

fn is_commit(bytes: &[u8]) -> bool {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .ok()
        .and_then(|m| m.try_into_protocol_message().ok())
        .is_some_and(|p| p.content_type() == ContentType::Commit)
}

fn check_version(documents: &BTreeMap<String, u64>, d: &DocumentVersion) -> Result<(), RoomError> {
    if let Some(&current) = documents.get(&d.document_id) {
        if d.version <= current {
            return Err(RoomError::DocumentRollback {
                document_id: d.document_id.clone(),
                current,
                offered: d.version,
            });
        }
    }
    Ok(())
}

fn validate_key_package(provider: &Provider, bytes: &[u8]) -> Result<KeyPackage, RoomError> {
    let msg =
        MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| RoomError::InvalidKeyPackage)?;
    let MlsMessageBodyIn::KeyPackage(kp) = msg.extract() else {
        return Err(RoomError::InvalidKeyPackage);
    };
    let kp = kp
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .map_err(|_| RoomError::InvalidKeyPackage)?;
    if kp.ciphersuite() != CIPHERSUITE {
        return Err(RoomError::InvalidKeyPackage);
    }
    Ok(kp)
}

fn proposal_changes(group: &MlsGroup) -> (Vec<CredentialIdentity>, Vec<CredentialIdentity>) {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for p in group.pending_proposals() {
        match p.proposal() {
            Proposal::Add(a) => added.extend(identity_of(a.key_package().leaf_node().credential())),
            Proposal::Remove(r) => removed.extend(
                group
                    .member_at(r.removed())
                    .and_then(|m| identity_of(&m.credential)),
            ),
            _ => {}
        }
    }
    (added, removed)
}

fn observe_members(directory: &mut KeyDirectory, group: &MlsGroup, events: &mut Vec<RoomEvent>) {
    let mut per_user: BTreeMap<String, BTreeSet<[u8; 32]>> = BTreeMap::new();
    for m in group.members() {
        if let (Some(id), Ok(k)) = (
            identity_of(&m.credential),
            <[u8; 32]>::try_from(m.signature_key.as_slice()),
        ) {
            per_user.entry(id.user_id).or_default().insert(k);
        }
    }
    for (user, keys) in per_user {
        if let Some(change) = directory.observe_keys(&user, &keys) {
            events.push(RoomEvent::KeyChanged(change));
        }
    }
}

fn derive_content_key(
    group: &MlsGroup,
    provider: &Provider,
    room_id: &RoomId,
) -> Result<Zeroizing<[u8; 32]>, RoomError> {
    let mut context = room_id.as_str().as_bytes().to_vec();
    context.extend_from_slice(&group.epoch().as_u64().to_be_bytes());
    let secret = Zeroizing::new(
        group
            .export_secret(provider.crypto(), CONTENT_KEY_LABEL, &context, 32)
            .map_err(mls)?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&secret);
    Ok(key)
}

fn wrap_cipher(key: &[u8; 32]) -> Aead {
    // An empty salt is HKDF's default of 32 zero bytes.
    Aead::new(&hkdf_sha256_key(&[], key, WRAP_INFO))
}

fn wrap_aad(header: &[u8], room_id: &RoomId, file_id: &str) -> Vec<u8> {
    let mut aad = header.to_vec();
    for part in [room_id.as_str().as_bytes(), file_id.as_bytes()] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad
}
