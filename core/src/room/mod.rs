//! MLS rooms: spaces, members, content and history, with encrypted crash-safe state.
//!
//! [`Client`] is one device's view of all its rooms. It is sans-IO: every operation returns the
//! bytes the host must hand to the relay, and incoming bytes from the relay are fed to
//! [`Client::process`] or [`Client::join`]. The contract is described in `docs/rooms.md`.
//!
//! Every operation commits all its state changes (MLS group state, room content keys, document
//! versions, duplicate filter, held messages) to the [`EncryptedStore`] as one atomic batch
//! before it returns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use sha2::{Digest, Sha256};

use crate::identity::{CredentialIdentity, DeviceIdentity, KeyChange, KeyDirectory};
use crate::state::{Batch, EncryptedStore, KvStore, StateError, StorageKey};

mod app;
pub mod classification;
pub mod content;
pub mod crypto;
mod error;
mod events;
mod group_info;
mod history;
mod id;
mod inspect;
mod join;
mod membership;
mod meta;
mod policy;
mod process;
pub mod profile;
pub mod storage;
#[cfg(feature = "test-vectors")]
mod vectors;

pub use app::{message_epoch, store_has_device, AppWrite, RoomHistory};
pub use classification::{
    version_digest, Classification, LabelRule, ReleaseApproval, ScanVerdict, SpacePolicy, Verdict,
    HOLD_FOUR_EYES, MAX_SIGNATURE_NAME_LEN, RELEASE_SCAN_OVERRIDE,
};
pub use content::{Content, DocumentVersion, FileAnnouncement, FileKey, Label, TextMessage};
pub use error::{ErrorKind, RoomError};
pub use events::{CommitOutput, Confirmed, Joined, RefusalReason, RoomCreated, RoomEvent};
pub use id::{RoomId, RoomKind};
pub use inspect::{MemberDevice, MemberUser, RoomMembers};
pub use policy::PolicyViolation;
pub use profile::{display_text, Profile, ProfileProblem};

use error::mls;
use history::derive_content_key;
use meta::RoomMeta;

/// The one ciphersuite Sealroom rooms use (0x0003).
pub const CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// How many past epochs' application secrets are kept, so late application messages decrypt.
const MAX_PAST_EPOCHS: usize = 8;

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

struct Room {
    group: MlsGroup,
    meta: RoomMeta,
    /// The provider org named in the group context (`None`: nobody may change membership).
    provider_org: Option<String>,
}

impl Room {
    fn new(group: MlsGroup, meta: RoomMeta) -> Self {
        let provider_org = policy::provider_org(&group);
        Self {
            group,
            meta,
            provider_org,
        }
    }
}

const DEVICE_KEY: &str = "device";
const DIRECTORY_KEY: &str = "directory";
const MLS_PREFIX: &str = "mls/";
const ROOM_PREFIX: &str = "room/";

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
            rooms.insert(room_id, Room::new(group, meta));
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
            .with_capabilities(policy::leaf_capabilities(false))
            .with_group_context_extensions(
                policy::group_context_extensions(&self.device.identity().org_id).map_err(mls)?,
            )
            .build(
                &self.provider,
                &self.device,
                self.device.credential_with_key(),
            )
            .map_err(mls)?;
        let group_info = self.export_group_info(&group)?;
        let mut meta = RoomMeta::new(true);
        let key = derive_content_key(&group, &self.provider, &room_id)?;
        meta.insert_own_key(0, key);
        self.rooms.insert(room_id.clone(), Room::new(group, meta));
        self.persist(std::slice::from_ref(&room_id), Batch::new())?;
        Ok(RoomCreated {
            room_id,
            group_info,
        })
    }

    /// The current GroupInfo of `group` (with the ratchet tree, without `external_pub`).
    fn export_group_info(&self, group: &MlsGroup) -> Result<Vec<u8>, RoomError> {
        let msg = group
            .export_group_info(self.provider.crypto(), &self.device, true)
            .map_err(mls)?;
        match msg.body() {
            MlsMessageBodyOut::GroupInfo(gi) => group_info::without_external_pub(gi, &self.device),
            _ => Err(RoomError::Mls(
                "export_group_info returned no group info".into(),
            )),
        }
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
