//! Read-only views of a room.

use std::collections::{BTreeMap, BTreeSet};

use super::{identity_of, Client, RoomError, RoomId};
use crate::identity::{CredentialIdentity, SafetyNumber};

/// One device in a room, from the MLS tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDevice {
    /// The device's credential identity.
    pub identity: CredentialIdentity,
    /// Its Ed25519 leaf signature key.
    pub signature_key: [u8; 32],
    /// Its leaf index in the ratchet tree.
    pub leaf_index: u32,
}

/// One user in a room, from the MLS tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberUser {
    /// The user's organisation.
    pub org_id: String,
    /// The user.
    pub user_id: String,
    /// The user's devices in the tree.
    pub devices: Vec<MemberDevice>,
    /// The safety number over exactly the device keys in the tree.
    pub safety_number: SafetyNumber,
}

/// A room's membership as the MLS tree holds it ([`Client::room_members`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMembers {
    /// The provider organisation named in the group context (`None` for rooms without it).
    pub provider_org: Option<String>,
    /// Every user with a leaf in the tree.
    pub users: Vec<MemberUser>,
    /// Leaf indices whose credential is not a Sealroom identity (test-vector rooms).
    pub unknown_leaves: Vec<u32>,
}

impl Client {
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

    /// The room's membership as the MLS tree holds it (never the relay's list): the provider
    /// org named in the group context and, per user, the devices with their keys and leaf
    /// indices and the user's safety number over exactly those keys. Leaves whose credential
    /// is not a Sealroom identity are listed under `unknown_leaves`.
    pub fn room_members(&self, room_id: &RoomId) -> Result<RoomMembers, RoomError> {
        let room = self.room(room_id)?;
        let mut users: BTreeMap<(String, String), Vec<MemberDevice>> = BTreeMap::new();
        let mut unknown_leaves = Vec::new();
        for m in room.group.members() {
            let key = <[u8; 32]>::try_from(m.signature_key.as_slice()).ok();
            match (identity_of(&m.credential), key) {
                (Some(identity), Some(signature_key)) => users
                    .entry((identity.org_id.clone(), identity.user_id.clone()))
                    .or_default()
                    .push(MemberDevice {
                        identity,
                        signature_key,
                        leaf_index: m.index.u32(),
                    }),
                _ => unknown_leaves.push(m.index.u32()),
            }
        }
        let users = users
            .into_iter()
            .map(|((org_id, user_id), devices)| {
                let keys: BTreeSet<[u8; 32]> = devices.iter().map(|d| d.signature_key).collect();
                MemberUser {
                    safety_number: SafetyNumber::compute(&user_id, &keys),
                    org_id,
                    user_id,
                    devices,
                }
            })
            .collect();
        Ok(RoomMembers {
            provider_org: room.provider_org.clone(),
            users,
            unknown_leaves,
        })
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

    /// The current GroupInfo (with ratchet tree, without `external_pub`) of a room, for a
    /// relay that lost it.
    pub fn group_info(&self, room_id: &RoomId) -> Result<Vec<u8>, RoomError> {
        self.export_group_info(&self.room(room_id)?.group)
    }
}
