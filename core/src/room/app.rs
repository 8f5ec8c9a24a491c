//! Host application data kept in the device's encrypted store beside the rooms, so an SDK built
//! on [`Client`] can record what it derived from a message (its local index, sync cursors) in
//! the same atomic batch as the room state change the message caused. A crash can therefore
//! never leave a message "seen" by the room but missing from the application's index.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{MlsMessageIn, ProtocolMessage};
use zeroize::Zeroizing;

use super::{Client, Joined, RoomError, RoomEvent, RoomId, DEVICE_KEY};
use crate::identity::{CredentialIdentity, DeviceIdentity};
use crate::state::{Batch, KvStore, StateError, StorageKey};

/// Store-name prefix of application data.
const APP_PREFIX: &str = "app/";

/// One application-data write: `(key, Some(value))` stores, `(key, None)` deletes.
pub type AppWrite = (String, Option<Vec<u8>>);

fn app_batch(writes: Vec<AppWrite>) -> Result<Batch, RoomError> {
    let mut batch = Batch::new();
    for (key, value) in writes {
        if key.is_empty() || key.len() > 512 {
            return Err(RoomError::Storage(StateError::Corrupt));
        }
        let name = format!("{APP_PREFIX}{key}");
        match value {
            Some(v) => batch.put(name, v),
            None => batch.delete(name),
        }
    }
    Ok(batch)
}

/// A room's content keys (by epoch) and the highest version of each of its documents: what a
/// newcomer receives from the room, and what a recovery backup carries.
#[derive(Default)]
pub struct RoomHistory {
    /// Content keys by epoch.
    pub keys: Vec<(u64, Zeroizing<[u8; 32]>)>,
    /// Highest version of each document.
    pub documents: Vec<(String, u64)>,
}

impl std::fmt::Debug for RoomHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomHistory")
            .field("keys", &self.keys.len())
            .field("documents", &self.documents.len())
            .finish()
    }
}

/// Whether `kv` already holds a device (a [`Client`] was created in it).
pub fn store_has_device(kv: &dyn KvStore) -> Result<bool, StateError> {
    Ok(kv.get(DEVICE_KEY)?.is_some())
}

/// The epoch an MLS protocol message (public or private) belongs to, read from its clear
/// header without decrypting; `None` for anything else.
pub fn message_epoch(message: &[u8]) -> Option<u64> {
    let msg = MlsMessageIn::tls_deserialize_exact(message).ok()?;
    let protocol: ProtocolMessage = msg.try_into_protocol_message().ok()?;
    Some(protocol.epoch().as_u64())
}

impl Client {
    /// Creates a new device in an empty store from an existing Ed25519 secret key (the key the
    /// device registered with the relay, which also signs its requests).
    pub fn create_with_secret(
        kv: Box<dyn KvStore>,
        storage_key: &StorageKey,
        identity: CredentialIdentity,
        secret: &[u8; 32],
    ) -> Result<Self, RoomError> {
        let device = DeviceIdentity::from_secret_bytes(identity, secret);
        Self::create_with_device(kv, storage_key, device)
    }

    /// The TLS-encoded ratchet tree of a room (the relay starts its public view from it).
    pub fn ratchet_tree(&self, room_id: &RoomId) -> Result<Vec<u8>, RoomError> {
        use openmls::prelude::tls_codec::Serialize as _;
        self.room(room_id)?
            .group
            .export_ratchet_tree()
            .tls_serialize_detached()
            .map_err(|_| RoomError::Mls("cannot encode the ratchet tree".into()))
    }

    /// The content keys and document versions this device holds for a room (for a recovery
    /// backup). The keys are secrets: keep the result only as long as needed.
    pub fn export_history(&self, room_id: &RoomId) -> Result<RoomHistory, RoomError> {
        let room = self.room(room_id)?;
        Ok(RoomHistory {
            keys: room
                .meta
                .keys
                .iter()
                .map(|(e, k)| (*e, k.clone()))
                .collect(),
            documents: room
                .meta
                .documents
                .iter()
                .map(|(d, v)| (d.clone(), *v))
                .collect(),
        })
    }

    /// Adds content keys and document versions restored from a recovery backup to a room this
    /// device is in, atomically with `writes`. Keys this device already holds stay as they are
    /// (a content key is fixed by its epoch); document versions only move up, so a restored
    /// backup cannot make an old version announcement acceptable again. Returns how many keys
    /// were new.
    pub fn import_history(
        &mut self,
        room_id: &RoomId,
        history: &RoomHistory,
        writes: Vec<AppWrite>,
    ) -> Result<usize, RoomError> {
        self.check_usable()?;
        let batch = app_batch(writes)?;
        let room = self.room_mut(room_id)?;
        let mut added = 0;
        for (epoch, key) in &history.keys {
            if let std::collections::btree_map::Entry::Vacant(v) = room.meta.keys.entry(*epoch) {
                v.insert(key.clone());
                added += 1;
            }
        }
        for (doc, version) in &history.documents {
            let cur = room.meta.documents.entry(doc.clone()).or_insert(0);
            *cur = (*cur).max(*version);
        }
        if !room.meta.keys.is_empty() {
            room.meta.history = true;
        }
        self.persist(std::slice::from_ref(room_id), batch)?;
        Ok(added)
    }

    /// Reads application data stored under `key`.
    pub fn app_get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, RoomError> {
        Ok(self.store.get(&format!("{APP_PREFIX}{key}"))?)
    }

    /// Application-data keys starting with `prefix`, ascending, without the internal prefix.
    pub fn app_keys(&self, prefix: &str) -> Result<Vec<String>, RoomError> {
        Ok(self
            .store
            .keys(&format!("{APP_PREFIX}{prefix}"))?
            .into_iter()
            .map(|k| k[APP_PREFIX.len()..].to_owned())
            .collect())
    }

    /// Writes application data atomically.
    pub fn app_commit(&mut self, writes: Vec<AppWrite>) -> Result<(), RoomError> {
        self.check_usable()?;
        let batch = app_batch(writes)?;
        if let Err(e) = self.store.commit(batch) {
            self.poisoned = true;
            return Err(e.into());
        }
        Ok(())
    }

    /// Like [`Client::process`], and commits the application data `record` derives from the
    /// resulting events in the same atomic batch as the room state.
    pub fn process_recording<F>(
        &mut self,
        room_id: &RoomId,
        message: &[u8],
        record: F,
    ) -> Result<Vec<RoomEvent>, RoomError>
    where
        F: FnOnce(&[RoomEvent]) -> Vec<AppWrite>,
    {
        self.check_usable()?;
        let mut events = Vec::new();
        self.process_one(room_id, message, &mut events)?;
        self.run_held(room_id, &mut events);
        let batch = app_batch(record(&events))?;
        self.persist(std::slice::from_ref(room_id), batch)?;
        Ok(events)
    }

    /// Like [`Client::join`], and commits the application data `record` derives from the join
    /// in the same atomic batch.
    pub fn join_recording<F>(&mut self, welcome: &[u8], record: F) -> Result<Joined, RoomError>
    where
        F: FnOnce(&Joined) -> Vec<AppWrite>,
    {
        self.join_with_batch(welcome, |joined| app_batch(record(joined)))
    }
}
