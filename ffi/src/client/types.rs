//! Binding records and enums of the client API that cannot be core's or wire's own types.
//!
//! Core's and wire's records and enums carry their uniffi derives themselves (feature
//! `uniffi`) and are re-exported as they are; what stays here is a view with a reason:
//! - `DeviceRequestInfo`: the wire body also carries the key-transfer handshake
//!   (`kx_public_key`, `bundle`), which the client runs itself and never hands to the app;
//! - `Thread`, `RecoveryReport`: core counts in `usize`, which uniffi has no type for.
//!
//! The views destructure core's struct without `..`: a field added in core does not compile
//! here until the binding carries it (or says why not). Nothing here decides anything.

use sealroom_core::client as core;
use sealroom_wire::accounts as wire;

pub use sealroom_core::client::{
    Account, AuditFormat, ClientEvent, Document, FileAccess, FilePolicy, FileVersion, LabelRule,
    Message, NewFile, NewMessage, PendingUpload, ScanState, Space, SpaceMember, SpacePolicy,
};
pub use sealroom_wire::accounts::{
    DeviceInfo, DeviceRequestStatus, DeviceState, Invitation, OrgInfo, OrgKind, Role, SpaceRole,
    TotpEnrolment,
};
pub use sealroom_wire::audit::{AuditQuery, AuditVerifyReport};
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
