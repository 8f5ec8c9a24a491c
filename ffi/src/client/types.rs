//! The records and enums of the client API, re-exported as they are: core's and wire's types
//! carry their uniffi derives themselves (feature `uniffi`), so nothing here copies a field.
//! `DeviceRequestInfo` is core's view of the relay's device request without the key-transfer
//! handshake, which the client runs itself and never hands to the app.

pub use sealroom_core::client::{
    Account, AuditFormat, ClientEvent, DeviceRequestInfo, Document, FileAccess, FilePolicy,
    FileVersion, LabelRule, Message, NewFile, NewMessage, PendingUpload, RecoveryReport, ScanState,
    Space, SpaceMember, SpacePolicy, Thread,
};
pub use sealroom_wire::accounts::{
    DeviceInfo, DeviceRequestStatus, DeviceState, Invitation, OrgInfo, OrgKind, Role, SpaceRole,
    TotpEnrolment,
};
pub use sealroom_wire::audit::{AuditQuery, AuditVerifyReport};
pub use sealroom_wire::notify::{NotifyMode, NotifyPreference};
