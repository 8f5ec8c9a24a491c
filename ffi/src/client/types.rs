//! Binding records and enums of the client API that cannot be core's or wire's own types.
//!
//! Core's and wire's records and enums carry their uniffi derives themselves (feature
//! `uniffi`) and are re-exported as they are; what stays here is a view with a reason:
//! - `DeviceRequestInfo`: the wire body also carries the key-transfer handshake
//!   (`kx_public_key`, `bundle`), which the client runs itself and never hands to the app;
//! - `Thread`, `RecoveryReport`: core counts in `usize`, which uniffi has no type for;
//! - `ClientEvent`: core's enum is `#[non_exhaustive]` and carries a message as a tuple
//!   variant; the bindings keep named fields (`event.message`) and map unknown events;
//! - `AuditQuery`: an input with defaults for a wire body that has none.
//!
//! The views destructure core's struct without `..`: a field added in core does not compile
//! here until the binding carries it (or says why not). Nothing here decides anything.

use sealroom_core::client as core;
use sealroom_wire::accounts as wire;
use sealroom_wire::audit as wire_audit;

pub use sealroom_core::client::{Account, AuditFormat, Message, NewMessage, Space, SpaceMember};
pub use sealroom_wire::accounts::{
    DeviceInfo, DeviceRequestStatus, DeviceState, Invitation, OrgInfo, OrgKind, Role, SpaceRole,
    TotpEnrolment,
};
pub use sealroom_wire::audit::AuditVerifyReport;
pub use sealroom_wire::notify::{NotifyMode, NotifyPreference};

/// A request to link a new device to an existing user.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceRequestInfo {
    /// Id.
    pub request_id: String,
    /// The user.
    pub user_id: String,
    /// The pending device.
    pub device_id: String,
    /// Its public key, hex (compare it on both screens before approving).
    pub public_key: String,
    /// Status.
    pub status: DeviceRequestStatus,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

impl From<wire::DeviceRequestInfo> for DeviceRequestInfo {
    fn from(r: wire::DeviceRequestInfo) -> Self {
        let wire::DeviceRequestInfo {
            request_id,
            user_id,
            device_id,
            public_key,
            status,
            expires_at,
            // The key-transfer handshake, run by the client itself.
            kx_public_key: _,
            bundle: _,
        } = r;
        Self {
            request_id,
            user_id,
            device_id,
            public_key,
            status,
            expires_at,
        }
    }
}

/// A thread summary.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Thread {
    /// Thread id.
    pub thread_id: String,
    /// Whether the thread is in the internal room.
    pub internal: bool,
    /// Number of messages.
    pub messages: u64,
    /// The last message's index.
    pub last_index: u64,
}

impl From<core::Thread> for Thread {
    fn from(t: core::Thread) -> Self {
        let core::Thread {
            thread_id,
            internal,
            messages,
            last_index,
        } = t;
        Self {
            thread_id,
            internal,
            messages: messages as u64,
            last_index,
        }
    }
}

/// Something that changed, reported by `sync` and `refresh_files`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ClientEvent {
    /// This device joined a space's room.
    JoinedSpace {
        /// Space.
        space_id: String,
        /// Whether it is the internal room.
        internal: bool,
    },
    /// A device was added to a space's room.
    MemberAdded {
        /// Space.
        space_id: String,
        /// User.
        user_id: String,
        /// Device.
        device_id: String,
    },
    /// A device was removed from a space's room.
    MemberRemoved {
        /// Space.
        space_id: String,
        /// User.
        user_id: String,
        /// Device.
        device_id: String,
    },
    /// A new message.
    NewMessage {
        /// The message.
        message: Message,
    },
    /// A new document (its first version).
    NewFile {
        /// Space.
        space_id: String,
        /// File id.
        file_id: String,
        /// Document it is a version of.
        document_id: String,
        /// Version.
        version: u64,
    },
    /// A new version (2 or more) of an existing document.
    NewVersion {
        /// Space.
        space_id: String,
        /// File id of this version.
        file_id: String,
        /// Document it is a version of.
        document_id: String,
        /// Version.
        version: u64,
    },
    /// The relay served another identity key for a user than the pinned one: compare the new
    /// safety number out of band (the pinned key stays in use).
    KeyChanged {
        /// User.
        user_id: String,
        /// The safety number over the new identity key.
        safety_number: String,
    },
    /// An unverified device was not added to an internal room (default policy).
    DeviceSkipped {
        /// Space.
        space_id: String,
        /// Whether the room is the internal room.
        internal: bool,
        /// User.
        user_id: String,
        /// Device.
        device_id: String,
        /// Why (`unverified_device`).
        reason: String,
    },
    /// This device was removed from a space.
    RemovedFromSpace {
        /// Space.
        space_id: String,
    },
    /// The earlier files of a room became readable (history keys arrived).
    HistoryReceived {
        /// Space.
        space_id: String,
    },
    /// A message from the relay was malformed or forged and was dropped.
    Dropped {
        /// Space.
        space_id: String,
        /// Why.
        reason: String,
    },
    /// Something a member or the relay sent was refused and nothing of it was applied (a
    /// handshake from a sender not allowed to send it, a history key or document version a
    /// member may not send, a file manifest that fails its signature or version rule).
    Refused {
        /// Space.
        space_id: String,
        /// The relay's id of the room.
        room: String,
        /// The sender as the message names it (`user/device`).
        sender: String,
        /// Why (a stable code).
        reason: String,
    },
    /// (Live events only, staff) A user the relay lists in a space has no device in its room
    /// yet (an invitee who registered): add them with `add_member`.
    MemberWaiting {
        /// Space.
        space_id: String,
        /// User.
        user_id: String,
    },
    /// An event of a newer core that this binding does not know yet.
    Other {
        /// Its debug form.
        description: String,
    },
}

impl From<core::ClientEvent> for ClientEvent {
    fn from(e: core::ClientEvent) -> Self {
        use core::ClientEvent as E;
        match e {
            E::JoinedSpace { space_id, internal } => Self::JoinedSpace { space_id, internal },
            E::MemberAdded {
                space_id,
                user_id,
                device_id,
            } => Self::MemberAdded {
                space_id,
                user_id,
                device_id,
            },
            E::MemberRemoved {
                space_id,
                user_id,
                device_id,
            } => Self::MemberRemoved {
                space_id,
                user_id,
                device_id,
            },
            E::NewMessage(message) => Self::NewMessage { message },
            E::NewFile {
                space_id,
                file_id,
                document_id,
                version,
            } => Self::NewFile {
                space_id,
                file_id,
                document_id,
                version,
            },
            E::NewVersion {
                space_id,
                file_id,
                document_id,
                version,
            } => Self::NewVersion {
                space_id,
                file_id,
                document_id,
                version,
            },
            E::KeyChanged {
                user_id,
                safety_number,
            } => Self::KeyChanged {
                user_id,
                safety_number,
            },
            E::DeviceSkipped {
                space_id,
                internal,
                user_id,
                device_id,
                reason,
            } => Self::DeviceSkipped {
                space_id,
                internal,
                user_id,
                device_id,
                reason,
            },
            E::RemovedFromSpace { space_id } => Self::RemovedFromSpace { space_id },
            E::HistoryReceived { space_id } => Self::HistoryReceived { space_id },
            E::Dropped { space_id, reason } => Self::Dropped { space_id, reason },
            E::Refused {
                space_id,
                room,
                sender,
                reason,
            } => Self::Refused {
                space_id,
                room,
                sender,
                reason,
            },
            E::MemberWaiting { space_id, user_id } => Self::MemberWaiting { space_id, user_id },
            other => Self::Other {
                description: format!("{other:?}"),
            },
        }
    }
}

/// Filters of an audit query or export (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct AuditQuery {
    /// From this time (Unix milliseconds).
    #[uniffi(default = None)]
    pub from_ms: Option<u64>,
    /// Up to this time (Unix milliseconds).
    #[uniffi(default = None)]
    pub to_ms: Option<u64>,
    /// Acting user or device.
    #[uniffi(default = None)]
    pub actor: Option<String>,
    /// Action name.
    #[uniffi(default = None)]
    pub action: Option<String>,
    /// Object id.
    #[uniffi(default = None)]
    pub object: Option<String>,
    /// Entries after this sequence number.
    #[uniffi(default = None)]
    pub after: Option<u64>,
    /// Page size.
    #[uniffi(default = None)]
    pub limit: Option<u32>,
}

impl From<AuditQuery> for wire_audit::AuditQuery {
    fn from(q: AuditQuery) -> Self {
        Self {
            from_ms: q.from_ms,
            to_ms: q.to_ms,
            actor: q.actor,
            action: q.action,
            object: q.object,
            after: q.after,
            limit: q.limit.map(|l| l as usize),
            format: None,
        }
    }
}

/// What a recovery backup holds or a restore brought back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct RecoveryReport {
    /// Rooms with content keys.
    pub rooms: u64,
    /// Room content keys.
    pub keys: u64,
    /// File index entries and file keys.
    pub files: u64,
    /// Messages.
    pub messages: u64,
    /// Size of the sealed backup in bytes.
    pub sealed_bytes: u64,
}

impl From<core::RecoveryReport> for RecoveryReport {
    fn from(r: core::RecoveryReport) -> Self {
        let core::RecoveryReport {
            rooms,
            keys,
            files,
            messages,
            sealed_bytes,
        } = r;
        Self {
            rooms: rooms as u64,
            keys: keys as u64,
            files: files as u64,
            messages: messages as u64,
            sealed_bytes,
        }
    }
}
