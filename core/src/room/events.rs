//! What room operations return to the host: outputs for the relay and events.

use crate::identity::{CredentialIdentity, KeyChange};

use super::content::{Content, Label};
use super::RoomId;

/// What a room creation produces for the relay.
#[derive(Debug, Clone)]
pub struct RoomCreated {
    /// The new room's id (= MLS group id).
    pub room_id: RoomId,
    /// The epoch-0 GroupInfo (an MLSMessage) with the ratchet-tree extension and without
    /// `external_pub`; the relay starts its `PublicGroup` from it.
    pub group_info: Vec<u8>,
}

/// A pending commit, to be sent to the relay. Nothing is merged until
/// [`super::Client::confirm_commit`].
#[derive(Debug, Clone)]
pub struct CommitOutput {
    /// The room.
    pub room_id: RoomId,
    /// The commit (an MLSMessage carrying a PublicMessage).
    pub commit: Vec<u8>,
    /// The Welcome for all new members (one MLSMessage), if the commit adds anyone.
    pub welcome: Option<Vec<u8>>,
    /// The devices the commit adds (each is sent the welcome), read from the staged commit.
    pub added: Vec<CredentialIdentity>,
    /// The devices the commit removes, read from the staged commit.
    pub removed: Vec<CredentialIdentity>,
    /// The GroupInfo of the new epoch (an MLSMessage with the ratchet-tree extension and
    /// without `external_pub`).
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
    /// [`super::Client::outbox`] until [`super::Client::clear_outbox`].
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
    /// A proposal was stored; a member should commit it ([`super::Client::commit_pending_proposals`]).
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
    /// A message was refused: nothing of it was applied or stored, the room is unchanged and
    /// stays usable, and the same bytes are reported as [`RoomEvent::Duplicate`] from now on.
    Refused {
        /// The sender device, when it is authenticated as a current member (`None` for
        /// external senders and for handshakes sent encrypted).
        sender: Option<CredentialIdentity>,
        /// Why.
        reason: RefusalReason,
    },
}

/// Why an incoming message was refused ([`RoomEvent::Refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalReason {
    /// A proposal or commit from outside the room: an external join proposal, an external
    /// commit, or a proposal of an external sender.
    ExternalSender,
    /// A proposal or commit sent as a PrivateMessage: handshakes must be PublicMessages, so the
    /// relay and every member see the same membership changes.
    NotPublic,
    /// A proposal or commit the room's membership policy does not allow.
    MembershipPolicy,
    /// History keys from a member other than the one that added this device, or a second
    /// history message from it.
    HistoryNotFromAdder,
    /// History keys for this device's join epoch or later (this device derives those itself).
    HistoryFutureEpoch,
    /// A document version that is not the next one, or whose sender may not publish it.
    DocumentVersion,
    /// A space policy or release approval from someone other than provider staff, or a
    /// malformed classification label.
    StaffOnly,
    /// A profile that names another user or device than its sender, is out of bounds, or
    /// whose signature does not verify under the sender's leaf key.
    Profile,
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
