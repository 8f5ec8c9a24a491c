//! Binding records and enums of the client API that cannot be core's or wire's own types.
//!
//! Core's and wire's records and enums carry their uniffi derives themselves (feature
//! `uniffi`) and are re-exported as they are; what stays here is a view with a reason:
//! - `DeviceRequestInfo`: the wire body also carries the key-transfer handshake
//!   (`kx_public_key`, `bundle`), which the client runs itself and never hands to the app.
//!
//! The views destructure the wire's struct without `..`: a field added in core does not compile
//! here until the binding carries it (or says why not). Nothing here decides anything.

use sealroom_wire::accounts as wire;

pub use sealroom_core::client::{
    Account, AuditFormat, ClientEvent, Document, FileAccess, FilePolicy, FileVersion, LabelRule,
    Message, NewFile, NewMessage, PendingUpload, RecoveryReport, ScanState, Space, SpaceMember,
    SpacePolicy, Thread,
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
