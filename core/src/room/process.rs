//! Content this device posts and the messages it receives.

use std::collections::BTreeMap;

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use zeroize::Zeroizing;

use super::content::{Content, DocumentVersion, Envelope, Label};
use super::error::mls;
use super::history::derive_content_key;
use super::{
    digest, identity_of, observe_members, serialize, Client, RoomError, RoomEvent, RoomId, RoomKind,
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
