//! Content this device posts and the messages it receives.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use zeroize::Zeroizing;

use super::classification::check_staff_content;
use super::content::{Content, Envelope, Label};
use super::error::mls;
use super::history::{accept_history, check_version, derive_content_key, record_version};
use super::policy::Policy;
use super::{
    digest, identity_of, observe_members, serialize, Client, RefusalReason, Room, RoomError,
    RoomEvent, RoomId, RoomKind,
};
use crate::identity::{verify_signature, CredentialIdentity};
use crate::state::Batch;

/// How many future-epoch messages per room are held.
const HELD_CAP: usize = 1024;

impl Client {
    // ----- content ------------------------------------------------------------------------

    /// Posts content into a room; returns the MLS application message for the relay.
    ///
    /// Internal content into a customer room fails with [`RoomError::InternalInCustomerRoom`].
    /// Document versions are signed here; a version must be the next one (1 for a new
    /// document), and a version above 1 may be published only by a device of the user who
    /// published version 1 or by a device of the provider organisation.
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
        let policy = Policy {
            provider_org: room.provider_org.as_deref(),
            kind: room_id.kind(),
        };
        check_staff_content(&policy, self.device.identity(), &content)
            .map_err(RoomError::Policy)?;
        if let Content::Document(d) = &mut content {
            check_version(&room.meta, &policy, self.device.identity(), d)?;
            d.author_signature = self.device.sign(&d.signed_bytes(room_id.as_str())).to_vec();
            record_version(&mut room.meta, self.device.identity(), d);
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

    pub(super) fn process_one(
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
        // Handshakes come only from current members, in the clear (test-vector rooms excepted).
        if !room.meta.foreign && protocol.is_handshake_message() {
            let reason = if protocol.is_external() {
                Some(RefusalReason::ExternalSender)
            } else if protocol.wire_format() == WireFormat::PrivateMessage {
                Some(RefusalReason::NotPublic)
            } else {
                None
            };
            if let Some(reason) = reason {
                return refuse(room, d, None, reason, events);
            }
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
        let sender_leaf = match processed.sender() {
            Sender::Member(idx) => Some(*idx),
            _ => None,
        };
        let sender_key = sender_leaf
            .and_then(|idx| room.group.member_at(idx))
            .map(|m| m.signature_key);
        let policy = Policy {
            provider_org: room.provider_org.as_deref(),
            kind: room_id.kind(),
        };
        let enforce = !room.meta.foreign;
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => {
                let bytes = Zeroizing::new(app.into_bytes());
                let key = sender_key.ok_or(RoomError::InvalidMessage)?;
                match Envelope::decode(&bytes)? {
                    Envelope::History(h) => {
                        match accept_history(&mut room.meta, &sender, &key, h) {
                            Ok(keys) => events.push(RoomEvent::HistoryReceived { keys }),
                            Err(reason) => return refuse(room, d, Some(sender), reason, events),
                        }
                    }
                    Envelope::Content(label, content) => {
                        if label == Label::Internal && room_id.kind() == RoomKind::Customer {
                            return Err(RoomError::InternalInCustomerRoom);
                        }
                        if check_staff_content(&policy, &sender, &content).is_err() {
                            let reason = RefusalReason::StaffOnly;
                            return refuse(room, d, Some(sender), reason, events);
                        }
                        if let Content::Document(doc) = &content {
                            if !verify_signature(
                                &key,
                                &doc.signed_bytes(room_id.as_str()),
                                &doc.author_signature,
                            ) {
                                return Err(RoomError::BadSignature);
                            }
                            if check_version(&room.meta, &policy, &sender, doc).is_err() {
                                let reason = RefusalReason::DocumentVersion;
                                return refuse(room, d, Some(sender), reason, events);
                            }
                            record_version(&mut room.meta, &sender, doc);
                        }
                        if let Content::Profile(profile) = &content {
                            if profile
                                .verify(&sender.user_id, &sender.device_id, &key)
                                .is_err()
                            {
                                let reason = RefusalReason::Profile;
                                return refuse(room, d, Some(sender), reason, events);
                            }
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
                if enforce
                    && policy
                        .check_proposal(&room.group, p.proposal(), &sender, sender_leaf, None)
                        .is_err()
                {
                    let reason = RefusalReason::MembershipPolicy;
                    return refuse(room, d, Some(sender), reason, events);
                }
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
                if enforce {
                    let reason = RefusalReason::ExternalSender;
                    return refuse(room, d, None, reason, events);
                }
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
                if enforce {
                    let allowed = match sender_leaf {
                        Some(leaf) => policy
                            .check_commit(&room.group, &staged, &sender, leaf)
                            .is_ok(),
                        None => false,
                    };
                    if !allowed {
                        let reason = RefusalReason::MembershipPolicy;
                        return refuse(room, d, Some(sender), reason, events);
                    }
                }
                if room.meta.pending.is_some() {
                    // Another member's commit for our epoch: the relay ordered it first, ours
                    // lost.
                    room.meta.pending = None;
                    room.group
                        .clear_pending_commit(self.provider.storage())
                        .map_err(mls)?;
                    events.push(RoomEvent::OwnCommitDiscarded);
                }
                let (added, removed) = commit_changes(&room.group, &staged);
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
                if !removed.is_empty() || !added.is_empty() {
                    let key = derive_content_key(&room.group, &self.provider, room_id)?;
                    room.meta.insert_own_key(epoch, key);
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
    pub(super) fn run_held(&mut self, room_id: &RoomId, events: &mut Vec<RoomEvent>) {
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
}

fn is_commit(bytes: &[u8]) -> bool {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .ok()
        .and_then(|m| m.try_into_protocol_message().ok())
        .is_some_and(|p| p.content_type() == ContentType::Commit)
}

/// Refuses a message: nothing of it is applied; its digest is remembered (a replay is a
/// duplicate) and the host learns why.
fn refuse(
    room: &mut Room,
    digest: [u8; 32],
    sender: Option<CredentialIdentity>,
    reason: RefusalReason,
    events: &mut Vec<RoomEvent>,
) -> Result<(), RoomError> {
    room.meta.remember(digest);
    events.push(RoomEvent::Refused { sender, reason });
    Ok(())
}

/// The devices a staged commit adds and removes (what it really contains).
pub(super) fn commit_changes(
    group: &MlsGroup,
    staged: &StagedCommit,
) -> (Vec<CredentialIdentity>, Vec<CredentialIdentity>) {
    let removed = staged
        .remove_proposals()
        .filter_map(|r| group.member_at(r.remove_proposal().removed()))
        .filter_map(|m| identity_of(&m.credential))
        .collect();
    let added = staged
        .add_proposals()
        .filter_map(|a| identity_of(a.add_proposal().key_package().leaf_node().credential()))
        .collect();
    (added, removed)
}
