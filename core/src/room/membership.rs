//! Key packages and the commits this device builds: add, remove, update, leave, confirm.

use std::collections::BTreeSet;

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;

use super::content::{Envelope, HistoryKeys};
use super::error::mls;
use super::group_info::without_external_pub;
use super::history::derive_content_key;
use super::meta::PendingInfo;
use super::policy::{leaf_capabilities, Policy};
use super::process::commit_changes;
use super::{
    digest, identity_of, observe_members, serialize, Client, CommitOutput, Confirmed, Provider,
    RoomError, RoomHistory, RoomId, CIPHERSUITE,
};
use crate::identity::CredentialIdentity;
use crate::state::Batch;

use super::profile::{Profile, PROFILE_CARD_EXTENSION};

impl Client {
    // ----- key packages -------------------------------------------------------------------

    /// Generates `count` one-time key packages (MLSMessages) for upload to the relay. Their
    /// private keys are stored; each is deleted when a Welcome consumes it.
    pub fn generate_key_packages(&mut self, count: usize) -> Result<Vec<Vec<u8>>, RoomError> {
        self.generate_key_packages_with_card(count, None)
    }

    /// [`Client::generate_key_packages`] with the device's profile card (a [`Profile`] signed
    /// by this device, normally the name alone) in each package's
    /// [`super::profile::PROFILE_CARD_EXTENSION`], so that whoever claims a package sees a name
    /// the device signed.
    pub fn generate_key_packages_with_card(
        &mut self,
        count: usize,
        card: Option<&Profile>,
    ) -> Result<Vec<Vec<u8>>, RoomError> {
        self.check_usable()?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(self.build_key_package(false, card)?);
        }
        self.persist(&[], Batch::new())?;
        Ok(out)
    }

    /// Generates a last-resort key package: used when the one-time ones run out, never deleted.
    pub fn last_resort_key_package(&mut self) -> Result<Vec<u8>, RoomError> {
        self.last_resort_key_package_with_card(None)
    }

    /// [`Client::last_resort_key_package`] with the device's profile card.
    pub fn last_resort_key_package_with_card(
        &mut self,
        card: Option<&Profile>,
    ) -> Result<Vec<u8>, RoomError> {
        self.check_usable()?;
        let kp = self.build_key_package(true, card)?;
        self.persist(&[], Batch::new())?;
        Ok(kp)
    }

    fn build_key_package(
        &self,
        last_resort: bool,
        card: Option<&Profile>,
    ) -> Result<Vec<u8>, RoomError> {
        // Leaves advertise only what the provider implements: ciphersuite 0x0003, the room's
        // provider-org extension and the profile card.
        let mut builder =
            KeyPackage::builder().leaf_node_capabilities(leaf_capabilities(last_resort));
        if let Some(card) = card {
            let extensions = Extensions::single(Extension::Unknown(
                PROFILE_CARD_EXTENSION,
                UnknownExtension(card.to_bytes()),
            ))
            .map_err(|_| RoomError::InvalidContent)?;
            builder = builder.key_package_extensions(extensions);
        }
        if last_resort {
            builder = builder.mark_as_last_resort();
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
    pub(super) fn ready_for_commit(&mut self, room_id: &RoomId) -> Result<(), RoomError> {
        self.check_usable()?;
        let room = self.room_mut(room_id)?;
        if room.meta.pending.is_some() || room.group.pending_commit().is_some() {
            return Err(RoomError::PendingCommit);
        }
        Ok(())
    }

    /// The membership policy of a room, as this device applies it.
    fn policy_of<'a>(&'a self, room_id: &RoomId) -> Result<(Policy<'a>, bool), RoomError> {
        let room = self.room(room_id)?;
        Ok((
            Policy {
                provider_org: room.provider_org.as_deref(),
                kind: room_id.kind(),
            },
            room.meta.foreign,
        ))
    }

    /// Adds devices (all devices of each user: pass every key package the relay returned for
    /// them) in one commit. Adding a new device of an existing member is the same call.
    ///
    /// Only a device of the room's provider organisation may add, and the internal room admits
    /// only provider-organisation devices ([`RoomError::Policy`]). Proposals received from
    /// others are not part of this commit.
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
        {
            let (policy, foreign) = self.policy_of(room_id)?;
            if !foreign {
                for a in &added {
                    policy
                        .check_add(self.device.identity(), a)
                        .map_err(RoomError::Policy)?;
                }
            }
        }
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        let present: BTreeSet<CredentialIdentity> = room
            .group
            .members()
            .filter_map(|m| identity_of(&m.credential))
            .collect();
        if added.iter().any(|a| present.contains(a)) {
            return Err(RoomError::Membership);
        }
        let bundle = room
            .group
            .commit_builder()
            .consume_proposal_store(false)
            .propose_adds(kps)
            .load_psks(self.provider.storage())
            .map_err(mls)?
            .build(
                self.provider.rand(),
                self.provider.crypto(),
                &self.device,
                |_| true,
            )
            .map_err(mls)?
            .stage_commit(&self.provider)
            .map_err(mls)?;
        self.finish_bundle(room_id, bundle)
    }

    /// Removes every device of each of `user_ids` in one commit. Removing this device's own
    /// user removes its other devices; to leave, use [`Client::leave`]. Only a device of the
    /// provider organisation may remove other users ([`RoomError::Policy`]).
    pub fn remove_users(
        &mut self,
        room_id: &RoomId,
        user_ids: &[&str],
    ) -> Result<CommitOutput, RoomError> {
        self.remove_where(room_id, |id| user_ids.contains(&id.user_id.as_str()))
    }

    /// Removes the leaves of the devices `device_ids` (e.g. devices the relay reports
    /// revoked) in one commit; ids that are not in the room are ignored, but at least one
    /// must be ([`RoomError::Membership`]). A provider device may remove any device, another
    /// device only the other devices of its own user ([`RoomError::Policy`]; see
    /// [`Client::may_remove_device`]). This device's own leaf is never removed this way.
    pub fn remove_devices(
        &mut self,
        room_id: &RoomId,
        device_ids: &[&str],
    ) -> Result<CommitOutput, RoomError> {
        self.remove_where(room_id, |id| device_ids.contains(&id.device_id.as_str()))
    }

    /// Whether this device's membership policy lets it remove the leaf of `device_id` from
    /// the room: `false` when that device is not in the room, is this device, or belongs to
    /// another user and this device is not of the room's provider organisation.
    pub fn may_remove_device(&self, room_id: &RoomId, device_id: &str) -> Result<bool, RoomError> {
        let room = self.room(room_id)?;
        let own = room.group.own_leaf_index();
        let Some((leaf, id)) = room.group.members().find_map(|m| {
            identity_of(&m.credential)
                .filter(|id| id.device_id == device_id)
                .map(|id| (m.index, id))
        }) else {
            return Ok(false);
        };
        if leaf == own {
            return Ok(false);
        }
        let (policy, foreign) = self.policy_of(room_id)?;
        Ok(foreign
            || policy
                .check_remove(self.device.identity(), Some(own), leaf, Some(&id))
                .is_ok())
    }

    /// One commit removing every other leaf whose identity `select` picks, after the policy
    /// check of each.
    fn remove_where(
        &mut self,
        room_id: &RoomId,
        select: impl Fn(&CredentialIdentity) -> bool,
    ) -> Result<CommitOutput, RoomError> {
        self.ready_for_commit(room_id)?;
        let room = self.room(room_id)?;
        let own = room.group.own_leaf_index();
        let mut leaves = Vec::new();
        for m in room.group.members() {
            if let Some(id) = identity_of(&m.credential) {
                if m.index != own && select(&id) {
                    leaves.push((m.index, id));
                }
            }
        }
        if leaves.is_empty() {
            return Err(RoomError::Membership);
        }
        {
            let (policy, foreign) = self.policy_of(room_id)?;
            if !foreign {
                for (leaf, id) in &leaves {
                    policy
                        .check_remove(self.device.identity(), Some(own), *leaf, Some(id))
                        .map_err(RoomError::Policy)?;
                }
            }
        }
        let leaves: Vec<LeafNodeIndex> = leaves.into_iter().map(|(leaf, _)| leaf).collect();
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        let bundle = room
            .group
            .commit_builder()
            .consume_proposal_store(false)
            .propose_removals(leaves)
            .load_psks(self.provider.storage())
            .map_err(mls)?
            .build(
                self.provider.rand(),
                self.provider.crypto(),
                &self.device,
                |_| true,
            )
            .map_err(mls)?
            .stage_commit(&self.provider)
            .map_err(mls)?;
        self.finish_bundle(room_id, bundle)
    }

    /// Updates this device's leaf (fresh HPKE key, post-compromise security) in a commit of
    /// its own; proposals received from others are not part of it.
    pub fn self_update(&mut self, room_id: &RoomId) -> Result<CommitOutput, RoomError> {
        self.ready_for_commit(room_id)?;
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        let params = LeafNodeParameters::builder()
            .with_capabilities(leaf_capabilities(false))
            .build();
        let bundle = room
            .group
            .commit_builder()
            .consume_proposal_store(false)
            .force_self_update(true)
            .leaf_node_parameters(params)
            .load_psks(self.provider.storage())
            .map_err(mls)?
            .build(
                self.provider.rand(),
                self.provider.crypto(),
                &self.device,
                |_| true,
            )
            .map_err(mls)?
            .stage_commit(&self.provider)
            .map_err(mls)?;
        self.finish_bundle(room_id, bundle)
    }

    /// Commits the proposals received so far (e.g. a member's leave) that the room's
    /// membership policy allows this device to commit; the others stay out of the commit.
    pub fn commit_pending_proposals(
        &mut self,
        room_id: &RoomId,
    ) -> Result<CommitOutput, RoomError> {
        self.ready_for_commit(room_id)?;
        let allowed: Vec<openmls::ciphersuite::hash_ref::ProposalRef> = {
            let (policy, foreign) = self.policy_of(room_id)?;
            let group = &self.room(room_id)?.group;
            group
                .pending_proposals()
                .filter(|q| {
                    foreign
                        || match q.sender() {
                            Sender::Member(idx) => group
                                .member_at(*idx)
                                .and_then(|m| identity_of(&m.credential))
                                .is_some_and(|proposer| {
                                    policy
                                        .check_proposal(
                                            group,
                                            q.proposal(),
                                            &proposer,
                                            Some(*idx),
                                            Some(self.device.identity()),
                                        )
                                        .is_ok()
                                }),
                            _ => false,
                        }
                })
                .map(|q| q.proposal_reference_ref().clone())
                .collect()
        };
        if allowed.is_empty() {
            return Err(RoomError::Membership);
        }
        let room = self.rooms.get_mut(room_id).ok_or(RoomError::UnknownRoom)?;
        let bundle = room
            .group
            .commit_builder()
            .consume_proposal_store(true)
            .load_psks(self.provider.storage())
            .map_err(mls)?
            .build(
                self.provider.rand(),
                self.provider.crypto(),
                &self.device,
                |q| allowed.contains(q.proposal_reference_ref()),
            )
            .map_err(mls)?
            .stage_commit(&self.provider)
            .map_err(mls)?;
        self.finish_bundle(room_id, bundle)
    }

    /// Records the staged commit of `bundle` as pending and returns what the relay needs; the
    /// added and removed devices are read from the staged commit itself.
    fn finish_bundle(
        &mut self,
        room_id: &RoomId,
        bundle: CommitMessageBundle,
    ) -> Result<CommitOutput, RoomError> {
        let (commit, welcome, group_info) = bundle.into_contents();
        let commit = serialize(&commit)?;
        let welcome = welcome
            .map(|w| serialize(&MlsMessageOut::from_welcome(w, ProtocolVersion::Mls10)))
            .transpose()?;
        // The group uses the ratchet-tree extension, so openmls always returns a GroupInfo.
        let group_info = group_info
            .ok_or_else(|| RoomError::Mls("commit without group info".into()))
            .and_then(|gi| without_external_pub(&gi, &self.device))?;
        let room = self.room_mut(room_id)?;
        let (added, removed) = match room.group.pending_commit() {
            Some(staged) => commit_changes(&room.group, staged),
            None => return Err(RoomError::Mls("commit was not staged".into())),
        };
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

    /// The relay accepted this device's pending commit: merge it. If it added or removed anyone,
    /// this device derives the new epoch's room content key; if it added anyone, the returned messages carry the room history
    /// keys to the newcomers and must be sent.
    pub fn confirm_commit(&mut self, room_id: &RoomId) -> Result<Confirmed, RoomError> {
        self.check_usable()?;
        let out = self.confirm_inner(room_id)?;
        self.persist(std::slice::from_ref(room_id), Batch::new())?;
        Ok(out)
    }

    pub(super) fn confirm_inner(&mut self, room_id: &RoomId) -> Result<Confirmed, RoomError> {
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
        if removes || adds {
            let key = derive_content_key(&room.group, &self.provider, room_id)?;
            room.meta.insert_own_key(room.group.epoch().as_u64(), key);
        }
        let mut outgoing = Vec::new();
        if adds {
            // Newcomers derive the new epoch's key themselves and take only earlier ones.
            let epoch = room.group.epoch().as_u64();
            let RoomHistory {
                mut keys,
                documents,
            } = room.meta.history();
            keys.retain(|(e, _)| *e < epoch);
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
