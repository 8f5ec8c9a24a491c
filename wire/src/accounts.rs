//! Request and response bodies of the relay's account routes (`/v1/bootstrap`, `/v1/register`,
//! `/v1/me`, `/v1/orgs`, `/v1/invitations`, `/v1/invitations/check`, `/v1/spaces`, `/v1/device-requests`, TOTP).
//! Public keys travel as 64 lower-case hex characters; times are Unix seconds.

use serde::{Deserialize, Serialize};

/// Organisation role of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Role {
    /// Provider administrator.
    Admin,
    /// Provider staff.
    Staff,
    /// Customer member.
    Customer,
}

/// Kind of organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum OrgKind {
    /// The provider running the relay.
    Provider,
    /// A customer company.
    Customer,
}

/// `POST /v1/bootstrap`: create the provider organisation and its first admin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapRequest {
    /// The one-time setup token from `<data_dir>/setup-token`.
    pub setup_token: String,
    /// Provider organisation name.
    pub org_name: String,
    /// Admin's display name.
    pub user_name: String,
    /// Admin's email for notifications.
    #[serde(default)]
    pub email: Option<String>,
    /// Name of the first device.
    pub device_name: String,
    /// Ed25519 public key of the first device, hex.
    pub public_key: String,
}

/// `POST /v1/register`: accept an invitation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Invitation token.
    pub token: String,
    /// Display name.
    pub user_name: String,
    /// Email for notifications.
    #[serde(default)]
    pub email: Option<String>,
    /// Name of the first device.
    pub device_name: String,
    /// Ed25519 public key of the first device, hex.
    pub public_key: String,
}

/// Answer of bootstrap and registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// Organisation.
    pub org_id: String,
    /// New user.
    pub user_id: String,
    /// New device (active).
    pub device_id: String,
    /// Role.
    pub role: Role,
    /// Space joined (customer invitations).
    pub space_id: Option<String>,
}

/// `GET /v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// Organisation.
    pub org_id: String,
    /// User.
    pub user_id: String,
    /// Calling device.
    pub device_id: String,
    /// Role.
    pub role: Role,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: Option<String>,
}

/// Status of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum DeviceState {
    /// Authenticates.
    Active,
    /// Waiting for approval.
    Pending,
    /// Revoked.
    Revoked,
}

/// A device as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
    /// Creation time.
    pub created_at: i64,
    /// The device certificate, hex: an Ed25519 signature by the user's identity key over the
    /// device (see `sealroom_core::certificate`). Absent for a device nobody vouched for yet
    /// (linked by a TOTP code alone). Clients verify it themselves; the relay only stores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// `GET /v1/me/devices`, `GET /v1/users/{user_id}/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct DeviceList {
    /// Devices.
    pub devices: Vec<DeviceInfo>,
    /// The user's identity public key (Ed25519, hex), once published. Clients pin it at first
    /// sight and report any other key as a key change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_key: Option<String>,
}

/// `PUT /v1/me/identity`: publishes the user's identity public key (set once) with the
/// certificate of the calling device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishIdentity {
    /// The identity public key, hex.
    pub public_key: String,
    /// The calling device's certificate under that key, hex.
    pub certificate: String,
}

/// `PUT /v1/devices/{device_id}/certificate`: stores a certificate for a device of the caller's
/// own user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCertificate {
    /// The certificate, hex.
    pub certificate: String,
}

/// `POST /v1/orgs`: create a customer organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// Name.
    pub name: String,
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct OrgInfo {
    /// Id.
    pub org_id: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: OrgKind,
    /// Creation time.
    pub created_at: i64,
}

/// `POST /v1/invitations`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// Role of the invitee: `staff`/`admin` (by an admin) or `customer` (into a space).
    pub role: Role,
    /// Space for customer invitations.
    #[serde(default)]
    pub space_id: Option<String>,
    /// How long the invitation stays usable, in seconds: from
    /// [`MIN_INVITATION_LIFETIME_SECS`] to [`MAX_INVITATION_LIFETIME_SECS`]; `None` gives
    /// [`DEFAULT_INVITATION_LIFETIME_SECS`].
    #[serde(default)]
    pub lifetime_secs: Option<u64>,
}

/// Shortest invitation lifetime a client may ask for (one hour).
pub const MIN_INVITATION_LIFETIME_SECS: u64 = 3600;
/// Longest invitation lifetime a client may ask for (30 days).
pub const MAX_INVITATION_LIFETIME_SECS: u64 = 30 * 24 * 3600;
/// Lifetime of an invitation that names none (7 days).
pub const DEFAULT_INVITATION_LIFETIME_SECS: u64 = 7 * 24 * 3600;

/// An issued invitation; `token` is shown only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Invitation {
    /// Id.
    pub invitation_id: String,
    /// Single-use token to pass to `POST /v1/register`.
    pub token: String,
    /// Organisation joined.
    pub org_id: String,
    /// Role granted.
    pub role: Role,
    /// Space joined.
    pub space_id: Option<String>,
    /// Expiry.
    pub expires_at: i64,
}

/// `POST /v1/invitations/check`: what an invitation token leads to, asked before registering
/// (no device signature: the invitee has no device yet). An unknown token is 401 and counts
/// towards the caller's authentication-failure limit, like a wrong token at registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationCheckRequest {
    /// Invitation token.
    pub token: String,
}

/// Whether a checked invitation can still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    /// Unused and not expired: `POST /v1/register` accepts it.
    Valid,
    /// Already used (invitations are single-use).
    Used,
    /// Expired unused.
    Expired,
    /// Revoked by the space's staff or an administrator before it was used.
    Revoked,
}

/// An invitation as staff see it in a listing (`GET /v1/spaces/{space_id}/invitations`): never
/// the token, which exists only in the link handed to the invitee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct InvitationInfo {
    /// Id.
    pub invitation_id: String,
    /// Role granted.
    pub role: Role,
    /// Space joined (customer invitations).
    pub space_id: Option<String>,
    /// The inviting user.
    pub invited_by: String,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
    /// Whether it can still be used ([`InvitationState::Valid`]), or why not.
    pub state: InvitationState,
    /// When it was revoked (Unix seconds), if it was.
    pub revoked_at: Option<i64>,
}

/// Answer of `GET /v1/spaces/{space_id}/invitations`: the space's invitations that were
/// neither used nor revoked, newest first (expired ones included, with their state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationList {
    /// The invitations.
    pub invitations: Vec<InvitationInfo>,
}

/// Answer of `POST /v1/invitations/check`. The names are the relay's records (the inviting
/// user's and the joined organisation's names as they were registered), given only for a valid
/// invitation; a page shows these instead of anything written into the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct InvitationCheck {
    /// Whether the invitation can still be used.
    pub state: InvitationState,
    /// Role granted (valid invitations only).
    pub role: Option<Role>,
    /// Name of the organisation joined (valid invitations only).
    pub org_name: Option<String>,
    /// Name of the inviting user (valid invitations only).
    pub inviter_name: Option<String>,
    /// Id of the inviting user (valid invitations only).
    pub inviter_user_id: Option<String>,
    /// Space joined, for customer invitations (valid invitations only).
    pub space_id: Option<String>,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// `POST /v1/spaces`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSpace {
    /// The customer organisation.
    pub customer_org_id: String,
}

/// A member's role in a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum SpaceRole {
    /// Owner (creating staff).
    Owner,
    /// Provider staff.
    Staff,
    /// Customer member.
    Customer,
}

/// A space member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceMemberInfo {
    /// User.
    pub user_id: String,
    /// Role.
    pub role: SpaceRole,
    /// When added.
    pub added_at: i64,
}

/// A space with its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceInfo {
    /// Id.
    pub space_id: String,
    /// Provider organisation.
    pub provider_org_id: String,
    /// Customer organisation.
    pub customer_org_id: String,
    /// Owner.
    pub owner_user_id: String,
    /// Creation time.
    pub created_at: i64,
    /// Members.
    pub members: Vec<SpaceMemberInfo>,
}

/// `GET /v1/spaces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceList {
    /// The caller's spaces.
    pub spaces: Vec<SpaceInfo>,
}

/// `POST /v1/spaces/{space_id}/members`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddSpaceMember {
    /// Existing user of the provider or the space's customer organisation.
    pub user_id: String,
}

/// `POST /v1/device-requests`: ask to add a device to an existing user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequestCreate {
    /// The user.
    pub user_id: String,
    /// New device name.
    pub device_name: String,
    /// New device's Ed25519 public key, hex.
    pub public_key: String,
    /// New device's one-time X25519 public key, hex: the approving device seals the user's
    /// identity key to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kx_public_key: Option<String>,
}

/// Status of a device request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum DeviceRequestStatus {
    /// Waiting.
    Pending,
    /// Approved.
    Approved,
}

/// A device request. Apps see core's view of it (`sealroom_core::client::DeviceRequestInfo`),
/// without the key-transfer handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRequestInfo {
    /// Id.
    pub request_id: String,
    /// The user.
    pub user_id: String,
    /// The pending device.
    pub device_id: String,
    /// Its public key, hex (compare fingerprints before approving).
    pub public_key: String,
    /// Status.
    pub status: DeviceRequestStatus,
    /// Expiry.
    pub expires_at: i64,
    /// The new device's one-time X25519 public key, hex, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kx_public_key: Option<String>,
    /// The approval bundle (base64), sealed by the approving device to `kx_public_key`: the
    /// user's identity key. Present once a device that holds the key approved the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
}

/// `POST /v1/device-requests/{id}/approve`, signed by an existing device of the user: repeats
/// the public key the approving user checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveDevice {
    /// The new device's public key, hex.
    pub public_key: String,
    /// The new device's certificate under the user's identity key, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// The approval bundle for the new device (base64), see [`DeviceRequestInfo::bundle`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
}

/// A TOTP code (`POST /v1/device-requests/{id}/totp`, `POST /v1/me/totp/confirm`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    /// Six digits.
    pub code: String,
}

/// `POST /v1/me/totp`: a new TOTP secret to load into an authenticator app (shown once).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct TotpEnrolment {
    /// Base32 secret.
    pub secret: String,
    /// `otpauth://` URI (QR code content).
    pub otpauth_uri: String,
}

/// `GET /v1/me/totp`: the caller's TOTP state (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpStatus {
    /// A secret exists (confirmed or not).
    pub enrolled: bool,
    /// The enrolment was confirmed with a valid code: codes approve devices.
    pub confirmed: bool,
    /// TOTP approval is locked after too many failures; an existing device
    /// (`POST /v1/me/totp/unlock`) or an administrator unlocks it.
    pub locked: bool,
    /// Failed approvals counted since the last success, unlock or reset.
    pub failures: u32,
}

/// What happened in a [`SecurityEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SecurityEventKind {
    /// Someone asked to add a device to the account (`POST /v1/device-requests`).
    DeviceRequested,
    /// A pending device was approved by one of the user's devices.
    DeviceApprovedByDevice,
    /// A pending device was approved with a TOTP code alone; it waits before it may fetch the
    /// recovery backup unless an existing device approves it too.
    DeviceApprovedByTotp,
    /// A TOTP code for a device request was wrong.
    TotpFailed,
    /// TOTP approval was locked after too many wrong codes.
    TotpLocked,
    /// One of the user's devices lifted a TOTP lockout.
    TotpUnlocked,
    /// The user's TOTP enrolment was removed (by the user or an administrator).
    TotpReset,
    /// One of the user's devices was revoked (by one of the user's devices or an
    /// administrator); the relay refuses it from then on.
    DeviceRevoked,
    /// An administrator reset the user's identity key: every device of the user shows
    /// unverified until a device publishes a new key and vouches again, and the other members
    /// see a key change.
    IdentityReset,
}

impl SecurityEventKind {
    /// The stable name, e.g. `device_requested`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeviceRequested => "device_requested",
            Self::DeviceApprovedByDevice => "device_approved_by_device",
            Self::DeviceApprovedByTotp => "device_approved_by_totp",
            Self::TotpFailed => "totp_failed",
            Self::TotpLocked => "totp_locked",
            Self::TotpUnlocked => "totp_unlocked",
            Self::TotpReset => "totp_reset",
            Self::DeviceRevoked => "device_revoked",
            Self::IdentityReset => "identity_reset",
        }
    }
}

/// One enrolment event of the caller's account, for the user's existing devices
/// (`GET /v1/me/security-events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SecurityEvent {
    /// Increasing per user; page with `?after=<seq>`.
    pub seq: u64,
    /// What happened.
    pub kind: SecurityEventKind,
    /// When (Unix seconds).
    pub at: i64,
    /// The device concerned (the new or pending device), if any.
    pub device_id: Option<String>,
    /// The device request concerned, if any.
    pub request_id: Option<String>,
    /// Source address of the request, if known.
    pub ip: Option<String>,
}

/// `GET /v1/me/security-events` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct SecurityEventList {
    /// Events after the `after` cursor, oldest first (at most 200).
    pub events: Vec<SecurityEvent>,
}

/// Domain-separation label of device certificates.
pub const DEVICE_CERTIFICATE_LABEL: &[u8] = b"sealroom-device-certificate-v1";

/// The bytes a device certificate signs (with the user's identity key):
/// `label || u32 BE len(user_id) || user_id || u32 BE len(device_id) || device_id || key (32)`.
/// Shared by clients (who rely on it) and the relay (which checks it as a second line).
pub fn device_certificate_message(
    user_id: &str,
    device_id: &str,
    device_key: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(
        DEVICE_CERTIFICATE_LABEL.len() + 8 + user_id.len() + device_id.len() + 32,
    );
    m.extend_from_slice(DEVICE_CERTIFICATE_LABEL);
    for part in [user_id, device_id] {
        m.extend_from_slice(&(part.len() as u32).to_be_bytes());
        m.extend_from_slice(part.as_bytes());
    }
    m.extend_from_slice(device_key);
    m
}
