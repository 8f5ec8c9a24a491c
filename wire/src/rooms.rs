//! Request and response bodies of the relay's room routes: key packages, handshakes (MLS commits
//! and proposals), welcomes and application messages.
//!
//! Every MLS structure travels as standard base64 (RFC 4648, with padding) of its TLS encoding
//! (an `MLSMessage` unless stated otherwise) inside a JSON body. A room's id is the lowercase hex
//! encoding of its MLS group id; the relay derives it from the group info at creation.

use serde::{Deserialize, Serialize};

/// The only MLS ciphersuite the relay accepts:
/// `MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519`.
pub const CIPHERSUITE: u16 = 0x0003;

/// Most key packages one upload may carry.
pub const MAX_KEY_PACKAGES_PER_UPLOAD: usize = 100;

/// Most entries one page of handshakes, messages or welcomes holds.
pub const MAX_PAGE: u32 = 500;

/// `POST /v1/rooms`: register a new room (an MLS group at its first epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomRequest {
    /// The space the room belongs to.
    pub space_id: String,
    /// Base64 `MLSMessage` carrying the group's signed `GroupInfo`.
    pub group_info: String,
    /// Base64 TLS encoding of the group's ratchet tree (`RatchetTree`).
    pub ratchet_tree: String,
}

/// One device in a room, as the relay learned it from the MLS tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMember {
    /// Organisation id from the leaf's credential.
    pub org_id: String,
    /// User id from the leaf's credential.
    pub user_id: String,
    /// Device id from the leaf's credential.
    pub device_id: String,
    /// Leaf index in the ratchet tree.
    pub leaf_index: u32,
}

/// A room as the relay sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// Lowercase hex of the MLS group id.
    pub room_id: String,
    /// The space the room belongs to.
    pub space_id: String,
    /// Current MLS epoch: the next commit must be sent in this epoch.
    pub epoch: u64,
    /// Sequence number of the newest stored handshake (0 when none).
    pub handshake_seq: u64,
    /// Current members (one entry per device leaf).
    pub members: Vec<RoomMember>,
    /// Device ids of current members whose device the relay no longer accepts (revoked, or
    /// erased with its user): members remove their leaves by commit as the membership policy
    /// allows them (`docs/client.md`, "Revoking a device"). Empty when the relay did not
    /// look (the answer to `POST /v1/rooms`).
    #[serde(default)]
    pub revoked_devices: Vec<String>,
}

/// `POST /v1/rooms/{room_id}/handshakes`: a commit or proposal, sent as an MLS `PublicMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostHandshakeRequest {
    /// Base64 `MLSMessage` (wire format `PublicMessage`, content type commit or proposal).
    pub message: String,
    /// Base64 `MLSMessage` carrying the `Welcome` for the members the commit adds; it is
    /// delivered to the mailbox of every device the commit adds. Required when it adds members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome: Option<String>,
}

/// Answer to an accepted handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeAccepted {
    /// Sequence number of the stored handshake in the room's log.
    pub seq: u64,
    /// The room's epoch after this handshake (unchanged for a proposal).
    pub epoch: u64,
}

/// Body of the 409 answer when a commit was not sent in the room's current epoch (another
/// commit won the race): fetch the handshakes, merge, and retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochConflict {
    /// Stable error code: `epoch_conflict`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The room's current epoch.
    pub current_epoch: u64,
}

/// Kind of a stored handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandshakeKind {
    /// An MLS commit (advanced the epoch).
    Commit,
    /// An MLS proposal (queued for the next commit).
    Proposal,
}

/// One handshake in a room's ordered log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeEntry {
    /// Position in the room's log, starting at 1.
    pub seq: u64,
    /// The epoch the message was sent in.
    pub epoch: u64,
    /// Commit or proposal.
    pub kind: HandshakeKind,
    /// Device that posted it.
    pub sender_device: String,
    /// Base64 `MLSMessage` as received.
    pub message: String,
    /// Unix seconds at which the relay accepted it.
    pub received_at: u64,
}

/// `GET /v1/rooms/{room_id}/handshakes?after=N&limit=M`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakePage {
    /// Entries with `seq > after`, oldest first.
    pub entries: Vec<HandshakeEntry>,
    /// Cursor for the next call (`after`): the last returned seq, or the given one.
    pub next_after: u64,
    /// Device ids of the room's current members that the relay no longer accepts (revoked,
    /// or erased with their user), as of this answer; the same list as
    /// [`RoomInfo::revoked_devices`], so that a syncing client learns it without another
    /// request.
    #[serde(default)]
    pub revoked_devices: Vec<String>,
}

/// `POST /v1/rooms/{room_id}/messages`: an application message (an MLS `PrivateMessage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessageRequest {
    /// Base64 `MLSMessage` (wire format `PrivateMessage`).
    pub message: String,
    /// Unix seconds after which the relay deletes the message (disappearing messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// Answer to a stored application message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePosted {
    /// Position in the room's message log, starting at 1.
    pub seq: u64,
}

/// One application message in a room's ordered log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEntry {
    /// Position in the room's message log, starting at 1.
    pub seq: u64,
    /// Device that posted it.
    pub sender_device: String,
    /// Base64 `MLSMessage` as received.
    pub message: String,
    /// Unix seconds at which the relay accepted it.
    pub received_at: u64,
    /// Unix seconds after which the relay deletes it, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// `GET /v1/rooms/{room_id}/messages?after=N&limit=M`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePage {
    /// Entries with `seq > after`, oldest first (expired ones are never returned).
    pub entries: Vec<MessageEntry>,
    /// Cursor for the next call (`after`).
    pub next_after: u64,
}

/// One welcome waiting in a device's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WelcomeEntry {
    /// Mailbox entry id (acknowledge with `DELETE /v1/welcomes/{id}`).
    pub id: u64,
    /// The room the welcome joins.
    pub room_id: String,
    /// The epoch the welcome joins at.
    pub epoch: u64,
    /// Base64 `MLSMessage` carrying the `Welcome`.
    pub welcome: String,
    /// Base64 TLS `RatchetTree` of the room at that epoch, for clients that do not use the
    /// ratchet-tree extension.
    pub ratchet_tree: String,
}

/// `GET /v1/welcomes`: the calling device's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WelcomePage {
    /// Waiting welcomes, oldest first.
    pub entries: Vec<WelcomeEntry>,
}

/// `POST /v1/keypackages`: key packages of the calling device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadKeyPackagesRequest {
    /// Base64 `MLSMessage`s each carrying a `KeyPackage` whose credential is the calling
    /// device's. A package with the `last_resort` extension replaces the device's last-resort
    /// package, which is handed out when no other is left and never deleted by a claim.
    pub key_packages: Vec<String>,
}

/// How many key packages the calling device has in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPackageCount {
    /// One-time packages left.
    pub available: u64,
    /// Whether a last-resort package is stored.
    pub last_resort: bool,
}

/// One claimed key package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedKeyPackage {
    /// The device the package belongs to.
    pub device_id: String,
    /// Base64 `MLSMessage` carrying the `KeyPackage`.
    pub key_package: String,
}

/// `POST /v1/users/{user_id}/keypackages/claim`: one package per device of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedKeyPackages {
    /// The user whose devices were claimed.
    pub user_id: String,
    /// One package per device that had one.
    pub key_packages: Vec<ClaimedKeyPackage>,
    /// Devices of the user with no package left.
    pub missing: Vec<String>,
}
