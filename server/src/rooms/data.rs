//! Storage of rooms, handshakes, messages, welcomes and key packages, as synchronous functions
//! over [`Store`]. Routes call them from blocking tasks; other relay modules (retention,
//! erasure, notifications) call them directly.
//!
//! Layout (tree: key -> value):
//! - [`ROOMS`]: room id -> [`RoomRecord`] (JSON). Every handshake is written with a check that
//!   this value is unchanged since it was read: the compare-and-swap that admits exactly one
//!   commit per epoch.
//! - [`ROOM_STATE`]: room id -> the MLS public group state ([`GroupState::to_bytes`]).
//! - [`HANDSHAKES`], [`MESSAGES`]: room id `/` seq (u64 BE) -> entry (JSON).
//! - [`MESSAGE_SEQ`]: room id -> last message seq (u64 BE).
//! - [`MESSAGE_EXPIRY`]: expiry (u64 BE) room id `/` seq -> empty, for [`delete_expired_with`].
//! - [`WELCOMES`]: device id `/` id (u64 BE) -> [`WelcomeEntry`] (JSON).
//! - [`KEY_PACKAGES`]: device id `/` id (u64 BE) -> key package bytes (one-time packages).
//! - [`LAST_RESORT`]: device id -> key package bytes.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use sealroom_wire::rooms::{
    ClaimedKeyPackage, ClaimedKeyPackages, HandshakeEntry, HandshakeKind, KeyPackageCount,
    MessageEntry, RoomInfo, RoomMember, WelcomeEntry,
};

use crate::accounts;
use crate::error::ApiError;
use crate::rooms::mls::{self, DeviceDirectory, DeviceKey, GroupState, MlsError};
use crate::store::{
    Derive, DeriveError, Op, SharedDerive, Store, StoreError, StoreExt, Txn, TxnError, TxnReader,
};

mod keys;
mod messages;

pub use keys::{
    ack_welcome, claim_key_packages, erase_device, key_package_count, upload_key_packages, welcomes,
};
pub use messages::{
    check_message, delete_expired_with, expired_messages, last_seq, messages, messages_before,
    post_message, store_message, DueMessage, MessageAppend, DELETE_BATCH,
};

/// Tree: room id -> [`RoomRecord`].
pub const ROOMS: &str = "room_rooms";
/// Tree: room id -> MLS public group state.
pub const ROOM_STATE: &str = "room_state";
/// Tree: room id `/` seq -> [`HandshakeEntry`].
pub const HANDSHAKES: &str = "room_handshakes";
/// Tree: room id `/` seq -> [`MessageEntry`].
pub const MESSAGES: &str = "room_messages";
/// Tree: room id -> last message seq.
pub const MESSAGE_SEQ: &str = "room_message_seq";
/// Tree: expiry `||` room id `/` seq -> empty.
pub const MESSAGE_EXPIRY: &str = "room_message_expiry";
/// Tree: device id `/` id -> [`WelcomeEntry`].
pub const WELCOMES: &str = "room_welcomes";
/// Tree: device id `/` id -> one-time key package.
pub const KEY_PACKAGES: &str = "room_key_packages";
/// Tree: device id -> last-resort key package.
pub const LAST_RESORT: &str = "room_last_resort";

/// How many times a handshake is re-validated when a concurrent proposal (not a commit)
/// changed the room between read and write.
const HANDSHAKE_RETRIES: usize = 8;

/// A stored room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    /// Lowercase hex of the MLS group id.
    pub room_id: String,
    /// The space the room belongs to.
    pub space_id: String,
    /// Current epoch.
    pub epoch: u64,
    /// Last handshake seq.
    pub handshake_seq: u64,
    /// Current member devices.
    pub members: Vec<RoomMember>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

impl RoomRecord {
    /// Whether `device_id` is a current member device.
    pub fn has_device(&self, device_id: &str) -> bool {
        self.members.iter().any(|m| m.device_id == device_id)
    }

    /// The public view.
    pub fn info(&self) -> RoomInfo {
        RoomInfo {
            room_id: self.room_id.clone(),
            space_id: self.space_id.clone(),
            epoch: self.epoch,
            handshake_seq: self.handshake_seq,
            members: self.members.clone(),
            revoked_devices: Vec::new(),
        }
    }
}

/// Device ids of the room's member devices that the relay no longer accepts: revoked, or
/// gone (erased with their user). Members learn them with every handshake page and remove
/// their leaves by commit where the membership policy lets them.
pub fn revoked_members(store: &dyn Store, record: &RoomRecord) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for member in &record.members {
        let device = store
            .get_json::<accounts::DeviceRecord>(accounts::DEVICES, member.device_id.as_bytes())?;
        let gone = match device {
            None => true,
            Some(d) => d.status == accounts::DeviceStatus::Revoked,
        };
        if gone && !out.contains(&member.device_id) {
            out.push(member.device_id.clone());
        }
    }
    Ok(out)
}

/// Errors of room operations, mapped to API errors by [`From`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoomError {
    /// MLS validation failed.
    #[error(transparent)]
    Mls(#[from] MlsError),
    /// No such room.
    #[error("no such room")]
    NotFound,
    /// The device is not a current member of the room.
    #[error("not a member of this room")]
    NotMember,
    /// Another request changed the room at the same time.
    #[error("concurrent change, retry")]
    Busy,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TxnError> for RoomError {
    fn from(e: TxnError) -> Self {
        match e {
            TxnError::Conflict { .. } => Self::Busy,
            other => Self::Store(other.into()),
        }
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::Mls(MlsError::Malformed(m)) => ApiError::malformed(m),
            RoomError::Mls(MlsError::Invalid(m)) => ApiError::bad_request(m),
            RoomError::Mls(MlsError::Forbidden(m)) => ApiError::forbidden(m),
            RoomError::Mls(e @ MlsError::EpochConflict { .. }) => ApiError::conflict(e.to_string()),
            RoomError::Mls(MlsError::Store(e)) | RoomError::Store(e) => e.into(),
            RoomError::Mls(e) => ApiError::internal("mls", &e),
            RoomError::NotFound => ApiError::not_found("no such room"),
            RoomError::NotMember => ApiError::forbidden("not a member of this room"),
            RoomError::Busy => ApiError::conflict("concurrent change, retry"),
        }
    }
}

/// The account store as the MLS layer's device directory.
pub struct AccountDirectory<'a>(pub &'a dyn Store);

impl DeviceDirectory for AccountDirectory<'_> {
    fn device(&self, device_id: &str) -> Result<Option<DeviceKey>, StoreError> {
        Ok(
            accounts::active_device(self.0, device_id)?.map(|(device, _user)| DeviceKey {
                org_id: device.org_id,
                user_id: device.user_id,
                device_id: device.device_id,
                public_key: device.public_key,
            }),
        )
    }

    fn provider_org_id(&self) -> Result<Option<String>, StoreError> {
        accounts::provider_org_id(self.0)
    }
}

fn seq_key(prefix: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 9);
    key.extend_from_slice(prefix.as_bytes());
    key.push(b'/');
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn prefix_of(prefix: &str) -> Vec<u8> {
    let mut key = prefix.as_bytes().to_vec();
    key.push(b'/');
    key
}

fn seq_of(key: &[u8]) -> Option<u64> {
    let tail = key.len().checked_sub(8).map(|start| &key[start..])?;
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}

fn now_u64(now: i64) -> u64 {
    u64::try_from(now).unwrap_or(0)
}

/// Most rooms kept decoded in [`ROOM_CACHE`]; when full it is emptied and refilled.
const ROOM_CACHE_MAX: usize = 4096;

/// Decoded room records with the exact stored bytes each came from. An entry is used only
/// while those bytes are still the stored value (compared on every read), so it is versioned
/// by the store itself: every handshake, erasure or restore that rewrites a room is seen at
/// once, whatever store or code path wrote it. It saves decoding the member list (hundreds of
/// entries in a large room) on every request that checks membership.
static ROOM_CACHE: Mutex<Option<RoomCache>> = Mutex::new(None);

/// Room id -> (stored bytes, the record decoded from them).
type RoomCache = HashMap<String, (Vec<u8>, RoomRecord)>;

/// The stored room, or `None`.
pub fn room(store: &dyn Store, room_id: &str) -> Result<Option<RoomRecord>, StoreError> {
    let Some(bytes) = store.get(ROOMS, room_id.as_bytes())? else {
        return Ok(None);
    };
    {
        let cache = ROOM_CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((raw, record)) = cache.as_ref().and_then(|c| c.get(room_id)) {
            if *raw == bytes {
                return Ok(Some(record.clone()));
            }
        }
    }
    let record: RoomRecord = crate::store::decode_json(ROOMS, &bytes)?;
    let mut cache = ROOM_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let map = cache.get_or_insert_with(HashMap::new);
    if map.len() >= ROOM_CACHE_MAX && !map.contains_key(room_id) {
        map.clear();
    }
    map.insert(room_id.to_owned(), (bytes, record.clone()));
    Ok(Some(record))
}

/// The room's current member devices (empty when the room does not exist).
pub fn members(store: &dyn Store, room_id: &str) -> Result<Vec<RoomMember>, StoreError> {
    Ok(room(store, room_id)?.map(|r| r.members).unwrap_or_default())
}

/// The room, if `device_id` is one of its current member devices (see [`check_member`]).
pub fn room_for_member(
    store: &dyn Store,
    room_id: &str,
    device_id: &str,
) -> Result<RoomRecord, RoomError> {
    let record = room(store, room_id)?.ok_or(RoomError::NotFound)?;
    check_member(store, &record, device_id)?;
    Ok(record)
}

/// Checks that `device_id` may use the room: it is a leaf of the room's MLS group (membership
/// as learned from the handshakes) and its user is still a member of the room's space (a user
/// removed from the space loses access at once, before a commit removes their leaves).
pub fn check_member(
    store: &dyn Store,
    record: &RoomRecord,
    device_id: &str,
) -> Result<RoomMember, RoomError> {
    let member = record
        .members
        .iter()
        .find(|m| m.device_id == device_id)
        .ok_or(RoomError::NotMember)?;
    if accounts::space_member(store, &record.space_id, &member.user_id)?.is_none() {
        return Err(RoomError::NotMember);
    }
    Ok(member.clone())
}

/// Checks that every member device's user is a member of `space_id`.
fn check_members_in_space(
    store: &dyn Store,
    space_id: &str,
    members: &[RoomMember],
) -> Result<(), RoomError> {
    for member in members {
        if accounts::space_member(store, space_id, &member.user_id)?.is_none() {
            return Err(MlsError::Forbidden(format!(
                "user {} is not a member of the room's space",
                member.user_id
            ))
            .into());
        }
    }
    Ok(())
}

/// Registers a room from its creator's group info and ratchet tree, in one transaction with
/// the writes `with` adds for the new room (its members' audit entries).
pub fn create_room(
    store: &dyn Store,
    space_id: &str,
    group_info: &[u8],
    ratchet_tree: &[u8],
    creator_device: &str,
    now: i64,
    with: &dyn Fn(&mut Txn, &RoomRecord),
) -> Result<RoomRecord, RoomError> {
    let new = mls::create_room(
        group_info,
        ratchet_tree,
        creator_device,
        &AccountDirectory(store),
    )?;
    check_members_in_space(store, space_id, &new.members)?;
    let room_id = mls::room_id_of(new.state.group_id());
    let record = RoomRecord {
        room_id: room_id.clone(),
        space_id: space_id.to_owned(),
        epoch: new.epoch,
        handshake_seq: 0,
        members: new.members,
        created_at: now,
    };
    let mut txn = Txn::new();
    txn.check(ROOMS, room_id.as_bytes(), None);
    txn.put_json(ROOMS, room_id.as_bytes(), &record)?;
    txn.put(ROOM_STATE, room_id.as_bytes(), &new.state.to_bytes());
    with(&mut txn, &record);
    match store.commit(&txn) {
        Ok(()) => Ok(record),
        Err(TxnError::Conflict { .. }) => Err(RoomError::Mls(MlsError::Invalid(
            "a room with this group id already exists".into(),
        ))),
        Err(e) => Err(e.into()),
    }
}

/// What [`post_handshake`] stored.
#[derive(Debug, Clone)]
pub struct PostedHandshake {
    /// The room afterwards.
    pub room: RoomRecord,
    /// The stored entry.
    pub entry: HandshakeEntry,
    /// Devices added by the commit.
    pub added: Vec<RoomMember>,
    /// Devices removed by the commit.
    pub removed: Vec<RoomMember>,
}

/// Validates and stores a handshake sent by `device_id`. Exactly one commit per epoch is
/// accepted: the room record is written with a check that it did not change since it was
/// read, in one transaction with the new group state, the log entry, the welcomes and what
/// `audited` derives from the outcome (the relay's audit entries of the change: all or nothing).
pub fn post_handshake(
    store: &dyn Store,
    room_id: &str,
    device_id: &str,
    message: &[u8],
    welcome: Option<&[u8]>,
    now: i64,
    audited: &dyn Fn(&PostedHandshake) -> Option<SharedDerive>,
) -> Result<PostedHandshake, RoomError> {
    for _ in 0..HANDSHAKE_RETRIES {
        let Some(old_bytes) = store.get(ROOMS, room_id.as_bytes())? else {
            return Err(RoomError::NotFound);
        };
        let record: RoomRecord = crate::store::decode_json(ROOMS, &old_bytes)?;
        check_member(store, &record, device_id)?;
        let state_bytes = store
            .get(ROOM_STATE, room_id.as_bytes())?
            .ok_or_else(|| MlsError::Internal("room without group state".into()))?;
        let state = GroupState::from_bytes(&state_bytes)?;
        let outcome = mls::process_handshake(
            &state,
            message,
            welcome,
            device_id,
            &AccountDirectory(store),
        )?;
        check_members_in_space(store, &record.space_id, &outcome.added)?;
        let seq = record.handshake_seq + 1;
        let entry = HandshakeEntry {
            seq,
            epoch: outcome.sent_epoch,
            kind: outcome.kind,
            sender_device: device_id.to_owned(),
            message: B64.encode(message),
            received_at: now_u64(now),
        };
        let new_record = RoomRecord {
            epoch: outcome.epoch,
            handshake_seq: seq,
            members: outcome.members.clone(),
            ..record.clone()
        };
        let mut txn = Txn::new();
        txn.check(ROOMS, room_id.as_bytes(), Some(&old_bytes));
        txn.put_json(ROOMS, room_id.as_bytes(), &new_record)?;
        txn.put(ROOM_STATE, room_id.as_bytes(), &outcome.state.to_bytes());
        txn.put_json(HANDSHAKES, &seq_key(room_id, seq), &entry)?;
        if let Some(welcome) = welcome {
            let welcome_b64 = B64.encode(welcome);
            let tree_b64 = B64.encode(&outcome.ratchet_tree);
            for member in &outcome.added {
                let id = store.next_id()?;
                let item = WelcomeEntry {
                    id,
                    room_id: room_id.to_owned(),
                    epoch: outcome.epoch,
                    welcome: welcome_b64.clone(),
                    ratchet_tree: tree_b64.clone(),
                };
                txn.put_json(WELCOMES, &seq_key(&member.device_id, id), &item)?;
            }
        }
        let posted = PostedHandshake {
            room: new_record,
            entry,
            added: outcome.added,
            removed: outcome.removed,
        };
        if let Some(d) = audited(&posted) {
            txn.derive(d);
        }
        match store.commit(&txn) {
            Ok(()) => return Ok(posted),
            Err(TxnError::Conflict { .. }) => {
                // Someone else wrote the room first. If that advanced the epoch, a commit
                // sent in the old epoch has lost: the next pass answers with the conflict.
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(RoomError::Busy)
}

/// How large a page may grow: at most `count` entries and, past the first entry, at most
/// `bytes` bytes of stored entries (a page always holds at least one entry, however large).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit {
    /// Largest number of entries.
    pub count: u32,
    /// Largest total size of the entries' stored JSON, in bytes.
    pub bytes: u64,
}

/// Handshakes of a room with `seq > after`, within `limit`.
pub fn handshakes(
    store: &dyn Store,
    room_id: &str,
    after: u64,
    limit: PageLimit,
) -> Result<Vec<HandshakeEntry>, StoreError> {
    page(store, HANDSHAKES, room_id, after, limit)
}

fn page<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    tree: &str,
    prefix: &str,
    after: u64,
    limit: PageLimit,
) -> Result<Vec<T>, StoreError> {
    let Some(start_seq) = after.checked_add(1) else {
        return Ok(Vec::new());
    };
    let start = seq_key(prefix, start_seq);
    let end = seq_key(prefix, u64::MAX);
    let mut out = Vec::new();
    let mut bytes = 0u64;
    for item in store.range(tree, &start, Some(&end))? {
        if out.len() >= limit.count as usize {
            break;
        }
        let (_k, v) = item?;
        bytes = bytes.saturating_add(v.len() as u64);
        if !out.is_empty() && bytes > limit.bytes {
            break;
        }
        out.push(crate::store::decode_json(tree, &v)?);
    }
    Ok(out)
}

/// The seq encoded at the end of a log key (exposed for the retention module's scans).
pub fn key_seq(key: &[u8]) -> Option<u64> {
    seq_of(key)
}

/// The handshake kind as a label (for logs and the audit trail).
pub fn kind_label(kind: HandshakeKind) -> &'static str {
    match kind {
        HandshakeKind::Commit => "commit",
        HandshakeKind::Proposal => "proposal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbStore;

    fn record(room_id: &str, devices: &[&str]) -> RoomRecord {
        RoomRecord {
            room_id: room_id.to_owned(),
            space_id: "space".to_owned(),
            epoch: devices.len() as u64,
            handshake_seq: 0,
            members: devices
                .iter()
                .zip(0u32..)
                .map(|(d, leaf_index)| RoomMember {
                    org_id: "org".to_owned(),
                    user_id: format!("user-{d}"),
                    device_id: (*d).to_owned(),
                    leaf_index,
                })
                .collect(),
            created_at: 0,
        }
    }

    #[test]
    fn cached_rooms_follow_every_stored_change_in_every_store() {
        let a = RedbStore::temporary().unwrap();
        let b = RedbStore::temporary().unwrap();
        let id = "cache-test-room";
        assert_eq!(room(&a, id).unwrap(), None);
        let one = record(id, &["d1", "d2"]);
        a.put_json(ROOMS, id.as_bytes(), &one).unwrap();
        assert_eq!(room(&a, id).unwrap(), Some(one.clone()));
        assert_eq!(room(&a, id).unwrap(), Some(one.clone()));
        // The same room id in another store with other content is not served from the cache.
        assert_eq!(room(&b, id).unwrap(), None);
        let other = record(id, &["d9"]);
        b.put_json(ROOMS, id.as_bytes(), &other).unwrap();
        assert_eq!(room(&b, id).unwrap(), Some(other));
        // A removal written behind the cache's back is seen at once.
        let two = record(id, &["d1"]);
        a.put_json(ROOMS, id.as_bytes(), &two).unwrap();
        let got = room(&a, id).unwrap().unwrap();
        assert!(!got.has_device("d2"));
        assert_eq!(got, two);
        a.delete(ROOMS, id.as_bytes()).unwrap();
        assert_eq!(room(&a, id).unwrap(), None);
    }
}
