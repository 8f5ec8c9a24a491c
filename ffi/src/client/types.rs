//! Binding records and enums of the client API, each a field-for-field copy of a core or wire
//! type with `From` conversions. Nothing here decides anything.

use sealroom_core::client as core;
use sealroom_wire::accounts as wire;
use sealroom_wire::audit as wire_audit;
use sealroom_wire::notify as wire_notify;

/// Organisation role of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    /// Provider administrator.
    Admin,
    /// Provider staff.
    Staff,
    /// Customer member.
    Customer,
}

impl From<wire::Role> for Role {
    fn from(r: wire::Role) -> Self {
        match r {
            wire::Role::Admin => Self::Admin,
            wire::Role::Staff => Self::Staff,
            wire::Role::Customer => Self::Customer,
        }
    }
}

impl From<Role> for wire::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => Self::Admin,
            Role::Staff => Self::Staff,
            Role::Customer => Self::Customer,
        }
    }
}

/// A member's role in a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SpaceRole {
    /// Owner (the staff user who created the space).
    Owner,
    /// Provider staff.
    Staff,
    /// Customer member.
    Customer,
}

impl From<wire::SpaceRole> for SpaceRole {
    fn from(r: wire::SpaceRole) -> Self {
        match r {
            wire::SpaceRole::Owner => Self::Owner,
            wire::SpaceRole::Staff => Self::Staff,
            wire::SpaceRole::Customer => Self::Customer,
        }
    }
}

/// Kind of organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OrgKind {
    /// The provider running the relay.
    Provider,
    /// A customer company.
    Customer,
}

impl From<wire::OrgKind> for OrgKind {
    fn from(k: wire::OrgKind) -> Self {
        match k {
            wire::OrgKind::Provider => Self::Provider,
            wire::OrgKind::Customer => Self::Customer,
        }
    }
}

/// This device's account.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Account {
    /// Organisation.
    pub org_id: String,
    /// User.
    pub user_id: String,
    /// This device.
    pub device_id: String,
    /// Organisation role.
    pub role: Role,
}

impl From<core::Account> for Account {
    fn from(a: core::Account) -> Self {
        Self {
            org_id: a.org_id,
            user_id: a.user_id,
            device_id: a.device_id,
            role: a.role.into(),
        }
    }
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OrgInfo {
    /// Id.
    pub org_id: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: OrgKind,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

impl From<wire::OrgInfo> for OrgInfo {
    fn from(o: wire::OrgInfo) -> Self {
        Self {
            org_id: o.org_id,
            name: o.name,
            kind: o.kind.into(),
            created_at: o.created_at,
        }
    }
}

/// An issued invitation. `token` is shown only here: hand it to the invitee out of band.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct Invitation {
    /// Id.
    pub invitation_id: String,
    /// Single-use token for `register`.
    pub token: String,
    /// Organisation joined.
    pub org_id: String,
    /// Role granted.
    pub role: Role,
    /// Space joined (customer invitations).
    pub space_id: Option<String>,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

impl From<wire::Invitation> for Invitation {
    fn from(i: wire::Invitation) -> Self {
        Self {
            invitation_id: i.invitation_id,
            token: i.token,
            org_id: i.org_id,
            role: i.role.into(),
            space_id: i.space_id,
            expires_at: i.expires_at,
        }
    }
}

/// Status of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeviceState {
    /// Authenticates.
    Active,
    /// Waiting for approval.
    Pending,
    /// Revoked.
    Revoked,
}

impl From<wire::DeviceState> for DeviceState {
    fn from(s: wire::DeviceState) -> Self {
        match s {
            wire::DeviceState::Active => Self::Active,
            wire::DeviceState::Pending => Self::Pending,
            wire::DeviceState::Revoked => Self::Revoked,
        }
    }
}

/// A device of a user.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceInfo {
    /// Id.
    pub device_id: String,
    /// Owner.
    pub user_id: String,
    /// Name.
    pub name: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// Status.
    pub status: DeviceState,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

impl From<wire::DeviceInfo> for DeviceInfo {
    fn from(d: wire::DeviceInfo) -> Self {
        Self {
            device_id: d.device_id,
            user_id: d.user_id,
            name: d.name,
            public_key: d.public_key,
            status: d.status.into(),
            created_at: d.created_at,
        }
    }
}

/// Status of a device link request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeviceRequestStatus {
    /// Waiting for approval.
    Pending,
    /// Approved.
    Approved,
}

impl From<wire::DeviceRequestStatus> for DeviceRequestStatus {
    fn from(s: wire::DeviceRequestStatus) -> Self {
        match s {
            wire::DeviceRequestStatus::Pending => Self::Pending,
            wire::DeviceRequestStatus::Approved => Self::Approved,
        }
    }
}

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
        Self {
            request_id: r.request_id,
            user_id: r.user_id,
            device_id: r.device_id,
            public_key: r.public_key,
            status: r.status.into(),
            expires_at: r.expires_at,
        }
    }
}

/// A new TOTP secret to load into an authenticator app (shown once; do not log it).
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct TotpEnrolment {
    /// Base32 secret.
    pub secret: String,
    /// `otpauth://` URI (QR code content).
    pub otpauth_uri: String,
}

impl From<wire::TotpEnrolment> for TotpEnrolment {
    fn from(t: wire::TotpEnrolment) -> Self {
        Self {
            secret: t.secret,
            otpauth_uri: t.otpauth_uri,
        }
    }
}

/// A member of a space.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SpaceMember {
    /// User.
    pub user_id: String,
    /// Role in the space.
    pub role: SpaceRole,
    /// The user's devices in the customer room.
    pub devices: Vec<String>,
    /// Devices vouched for by the user (certified under the identity key this device pinned).
    pub verified_devices: Vec<String>,
    /// Safety number over the user's identity key (60 digits; unchanged by new devices).
    pub safety_number: Option<String>,
    /// The relay served another identity key for the user than the pinned one.
    pub identity_key_changed: bool,
}

impl From<core::SpaceMember> for SpaceMember {
    fn from(m: core::SpaceMember) -> Self {
        Self {
            user_id: m.user_id,
            role: m.role.into(),
            devices: m.devices,
            verified_devices: m.verified_devices,
            safety_number: m.safety_number,
            identity_key_changed: m.identity_key_changed,
        }
    }
}

/// A space as this device sees it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Space {
    /// Id.
    pub space_id: String,
    /// The provider organisation.
    pub provider_org_id: String,
    /// The customer organisation.
    pub customer_org_id: String,
    /// The owner (creating staff user).
    pub owner_user_id: String,
    /// Members, with safety numbers.
    pub members: Vec<SpaceMember>,
    /// Whether this device is in the space's customer room.
    pub joined: bool,
    /// Whether this device is in the space's internal (staff-only) room.
    pub internal_room: bool,
}

impl From<core::Space> for Space {
    fn from(s: core::Space) -> Self {
        Self {
            space_id: s.space_id,
            provider_org_id: s.provider_org_id,
            customer_org_id: s.customer_org_id,
            owner_user_id: s.owner_user_id,
            members: s.members.into_iter().map(Into::into).collect(),
            joined: s.joined,
            internal_room: s.internal_room,
        }
    }
}

/// A message to post.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewMessage {
    /// Thread (a new random thread when absent).
    #[uniffi(default = None)]
    pub thread_id: Option<String>,
    /// The text.
    pub body: String,
    /// The message this one replies to.
    #[uniffi(default = None)]
    pub reply_to: Option<String>,
    /// Disappear this many seconds after posting.
    #[uniffi(default = None)]
    pub expires_in_secs: Option<u64>,
    /// Post into the internal (staff-only) room instead of the customer room.
    #[uniffi(default = false)]
    pub internal: bool,
}

impl From<NewMessage> for core::NewMessage {
    fn from(m: NewMessage) -> Self {
        Self {
            thread_id: m.thread_id,
            body: m.body,
            reply_to: m.reply_to,
            expires_in_secs: m.expires_in_secs,
            internal: m.internal,
        }
    }
}

/// A message in a space.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Message {
    /// Space.
    pub space_id: String,
    /// Whether it was posted in the internal room.
    pub internal: bool,
    /// Thread.
    pub thread_id: String,
    /// Message id.
    pub message_id: String,
    /// The message it replies to.
    pub reply_to: Option<String>,
    /// Sender user.
    pub sender_user_id: String,
    /// Sender device.
    pub sender_device_id: String,
    /// The text.
    pub body: String,
    /// Unix time (s) after which the message is gone.
    pub expires_at: Option<u64>,
    /// Local order within the space.
    pub index: u64,
}

impl From<core::Message> for Message {
    fn from(m: core::Message) -> Self {
        Self {
            space_id: m.space_id,
            internal: m.internal,
            thread_id: m.thread_id,
            message_id: m.message_id,
            reply_to: m.reply_to,
            sender_user_id: m.sender_user_id,
            sender_device_id: m.sender_device_id,
            body: m.body,
            expires_at: m.expires_at,
            index: m.index,
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
        Self {
            thread_id: t.thread_id,
            internal: t.internal,
            messages: t.messages as u64,
            last_index: t.last_index,
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
            E::NewMessage(message) => Self::NewMessage {
                message: message.into(),
            },
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

/// When notification mail is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NotifyMode {
    /// One mail per event.
    Immediate,
    /// At most one digest per hour.
    Hourly,
    /// At most one digest per day.
    Daily,
    /// No mail.
    Off,
}

impl From<NotifyMode> for wire_notify::NotifyMode {
    fn from(m: NotifyMode) -> Self {
        match m {
            NotifyMode::Immediate => Self::Immediate,
            NotifyMode::Hourly => Self::Hourly,
            NotifyMode::Daily => Self::Daily,
            NotifyMode::Off => Self::Off,
        }
    }
}

impl From<wire_notify::NotifyMode> for NotifyMode {
    fn from(m: wire_notify::NotifyMode) -> Self {
        match m {
            wire_notify::NotifyMode::Immediate => Self::Immediate,
            wire_notify::NotifyMode::Hourly => Self::Hourly,
            wire_notify::NotifyMode::Daily => Self::Daily,
            wire_notify::NotifyMode::Off => Self::Off,
            // The wire enum is non-exhaustive; a mode this binding does not know is reported
            // as the relay's default rather than failing the whole call.
            _ => Self::Immediate,
        }
    }
}

/// The user's notification preference.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NotifyPreference {
    /// Mode.
    pub mode: NotifyMode,
    /// Address the mail goes to.
    pub email: Option<String>,
}

impl From<wire_notify::NotifyPreference> for NotifyPreference {
    fn from(p: wire_notify::NotifyPreference) -> Self {
        Self {
            mode: p.mode.into(),
            email: p.email,
        }
    }
}

/// Audit export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AuditFormat {
    /// JSON array.
    Json,
    /// CSV with a header line.
    Csv,
}

impl From<AuditFormat> for core::AuditFormat {
    fn from(f: AuditFormat) -> Self {
        match f {
            AuditFormat::Json => Self::Json,
            AuditFormat::Csv => Self::Csv,
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

/// Result of verifying the relay's audit hash chain.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditVerifyReport {
    /// Whether the whole chain verified.
    pub ok: bool,
    /// Entries verified.
    pub verified: u64,
    /// Sequence number of the head.
    pub head_seq: u64,
    /// Hash of the head (hex).
    pub head_hash: String,
    /// The first entry that failed, if any.
    pub first_bad_seq: Option<u64>,
    /// What failed.
    pub problem: Option<String>,
}

impl From<wire_audit::AuditVerifyReport> for AuditVerifyReport {
    fn from(r: wire_audit::AuditVerifyReport) -> Self {
        Self {
            ok: r.ok,
            verified: r.verified,
            head_seq: r.head_seq,
            head_hash: r.head_hash,
            first_bad_seq: r.first_bad_seq,
            problem: r.problem,
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
        Self {
            rooms: r.rooms as u64,
            keys: r.keys as u64,
            files: r.files as u64,
            messages: r.messages as u64,
            sealed_bytes: r.sealed_bytes,
        }
    }
}
