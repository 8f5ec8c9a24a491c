//! Organisations, users, devices, roles, spaces, invitations, device approval and TOTP.
//!
//! - Bootstrap: at first start the relay writes a one-time setup token to
//!   `<data_dir>/setup-token`; `POST /v1/bootstrap` with it creates the provider organisation
//!   and its first administrator (with their first device).
//! - Invitations: an admin invites staff; staff (space members) invite customer members into a
//!   space. `POST /v1/register` with the token creates the user and their first device.
//! - Further devices: `POST /v1/device-requests` creates a pending device; it becomes active
//!   when one of the user's active devices approves it (signed request) or with a TOTP code
//!   (RFC 6238) the user enrolled. Codes are throttled per user and source address with
//!   growing delays and a lockout ([`throttle`]); every attempt and approval is recorded for the
//!   user's devices and mailed to the user ([`security`]); a device linked by a code alone waits
//!   before it may fetch the recovery backup. TOTP secrets are stored sealed under the relay
//!   key ([`crate::sealing`]).
//!
//! Submodules: `users` (bootstrap, registration, devices), `spaces` (organisations,
//! spaces), `invitations` (lifetime, listing, revocation), `enrol` (device requests and
//! TOTP). The routes are in `crate::http::accounts`.
//! - Spaces: created by provider staff for a customer organisation; members are the owner,
//!   other staff and customer members. Rooms (see `crate::rooms`) belong to spaces.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use sealroom_wire::accounts as wire;
use sealroom_wire::audit::AuditAction;

use crate::audit::AuditEvent;
use crate::auth::{AuthedDevice, ClientInfo};
use crate::error::ApiError;
use crate::ids::{random_id, random_token, token_digest};
use crate::sealing::{RelayKey, SealError};
use crate::state::AppState;
use crate::store::{Store, StoreError, StoreExt, Txn};

#[cfg(test)]
mod audit_tests;
pub(crate) mod enrol;
pub mod identity;
pub(crate) mod invitations;
#[cfg(test)]
mod race_tests;
pub mod security;
pub(crate) mod spaces;
pub mod throttle;
pub(crate) mod users;

pub use enrol::{link_wait_until, LINK_WAIT};

pub use crate::directory::{
    active_device, DeviceRecord, DeviceStatus, OrgKind, OrgRecord, Role, UserRecord, DEVICES, ORGS,
    USERS,
};

/// Tree: relay-wide account metadata (bootstrap state, setup token digest).
pub const META: &str = "acct_meta";
/// Name of the file in the data directory holding the one-time setup token.
pub const SETUP_TOKEN_FILE: &str = "setup-token";
const META_BOOTSTRAPPED: &[u8] = b"bootstrapped";
const META_SETUP_DIGEST: &[u8] = b"setup_token_sha256";

/// At start: if no administrator exists yet, makes sure a setup token exists, writes it to
/// `<data_dir>/setup-token` (mode 0600) and logs where it is (never the token itself).
pub fn init(state: &AppState) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    if store.get(META, META_BOOTSTRAPPED)?.is_some() {
        return Ok(());
    }
    let path = state.config.data_dir.join(SETUP_TOKEN_FILE);
    let existing = std::fs::read_to_string(&path)
        .ok()
        .map(|t| t.trim().to_owned());
    let token = match existing {
        Some(t)
            if store.get(META, META_SETUP_DIGEST)?.as_deref()
                == Some(token_digest(&t).as_bytes()) =>
        {
            t
        }
        _ => {
            let t = random_token();
            write_secret_file(&path, &t).map_err(|e| ApiError::internal("setup token file", &e))?;
            store.put(META, META_SETUP_DIGEST, token_digest(&t).as_bytes())?;
            t
        }
    };
    drop(token);
    tracing::warn!(
        file = %path.display(),
        "relay not bootstrapped: create the first administrator with POST /v1/bootstrap and the setup token from this file"
    );
    Ok(())
}

/// Writes a secret to a file readable only by the owner.
pub fn write_secret_file(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(secret.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// Tree: `user_id/device_id` -> empty (devices of a user).
pub const USER_DEVICES: &str = "acct_user_devices";
/// Tree: `org_id/user_id` -> empty (users of an organisation).
pub const ORG_USERS: &str = "acct_org_users";
/// Tree: space id -> [`SpaceRecord`].
pub const SPACES: &str = "acct_spaces";
/// Tree: `space_id/user_id` -> [`SpaceMember`].
pub const SPACE_MEMBERS: &str = "acct_space_members";
/// Tree: `user_id/space_id` -> empty (spaces of a user).
pub const USER_SPACES: &str = "acct_user_spaces";
/// Tree: user id -> how many changes added records of the user found by a scan (devices,
/// device requests, space memberships) since it was created (u64 BE). Every such change bumps
/// it and the user's erasure checks it: see [`users::commit_for_user`].
pub const USER_GEN: &str = "acct_user_gen";
/// Tree: SHA-256 of an invitation token (hex) -> [`InviteRecord`].
pub const INVITES: &str = "acct_invites";
/// Tree: invitation id -> SHA-256 of its token (hex), the key in [`INVITES`]; lets staff
/// revoke an invitation by id without holding the token.
pub const INVITE_IDS: &str = "acct_invite_ids";
/// Tree: `space_id/invitation_id` -> empty (invitations into a space, for listing).
pub const SPACE_INVITES: &str = "acct_space_invites";
/// Tree: request id -> [`DeviceRequest`].
pub const DEVICE_REQUESTS: &str = "acct_device_requests";
/// Tree: user id -> [`TotpRecord`].
pub const TOTP: &str = "acct_totp";

/// How long an invitation stays valid when its creator names no lifetime.
pub const INVITE_TTL_SECS: i64 = wire::DEFAULT_INVITATION_LIFETIME_SECS as i64;
/// How long a device request waits for approval.
pub const DEVICE_REQUEST_TTL_SECS: i64 = 24 * 3600;

/// A space: one case, project or order shared between the provider and a customer
/// organisation. Rooms belong to spaces.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpaceRecord {
    /// Id.
    pub space_id: String,
    /// The provider organisation.
    pub provider_org_id: String,
    /// The customer organisation.
    pub customer_org_id: String,
    /// The staff user who created it (space owner).
    pub owner_user_id: String,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

/// A member's role in a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpaceRole {
    /// The staff user who owns the space.
    Owner,
    /// Other provider staff.
    Staff,
    /// A member of the customer organisation.
    Customer,
}

/// A member of a space.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpaceMember {
    /// Space.
    pub space_id: String,
    /// User.
    pub user_id: String,
    /// Role in the space.
    pub role: SpaceRole,
    /// When added (Unix seconds).
    pub added_at: i64,
}

/// A stored invitation (the token itself is stored only as its SHA-256).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteRecord {
    /// Id (not secret; for listing and audit).
    pub invitation_id: String,
    /// Organisation the new user joins.
    pub org_id: String,
    /// Role of the new user.
    pub role: Role,
    /// Space the new user is added to (customer invitations).
    pub space_id: Option<String>,
    /// Inviting user.
    pub invited_by: String,
    /// Creation time.
    pub created_at: i64,
    /// Expiry time.
    pub expires_at: i64,
    /// Whether it was used (invitations are single-use).
    pub used: bool,
    /// When it was revoked (Unix seconds); a revoked invitation is refused everywhere.
    /// (Absent in records written before revocation existed.)
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// Who revoked it.
    #[serde(default)]
    pub revoked_by: Option<String>,
}

impl InviteRecord {
    /// Whether it can be used at `now`, or why not.
    pub fn state(&self, now: i64) -> wire::InvitationState {
        if self.used {
            wire::InvitationState::Used
        } else if self.revoked_at.is_some() {
            wire::InvitationState::Revoked
        } else if self.expires_at < now {
            wire::InvitationState::Expired
        } else {
            wire::InvitationState::Valid
        }
    }

    /// Refuses an invitation that cannot be used at `now` (410 Gone, with the reason).
    pub fn usable(&self, now: i64) -> Result<(), ApiError> {
        match self.state(now) {
            wire::InvitationState::Valid => Ok(()),
            wire::InvitationState::Used => {
                Err(ApiError::Gone("invitation already used".to_owned()))
            }
            wire::InvitationState::Revoked => Err(ApiError::Gone("invitation revoked".to_owned())),
            wire::InvitationState::Expired => Err(ApiError::Gone("invitation expired".to_owned())),
        }
    }
}

/// Status of a device request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting.
    Pending,
    /// Approved: the device is active.
    Approved,
}

/// A request to add a device to an existing user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRequest {
    /// Id.
    pub request_id: String,
    /// The user.
    pub user_id: String,
    /// The new (pending) device.
    pub device_id: String,
    /// Its public key, hex.
    pub public_key: String,
    /// Status.
    pub status: RequestStatus,
    /// Creation time.
    pub created_at: i64,
    /// Expiry time.
    pub expires_at: i64,
}

/// Purpose label of sealed TOTP secrets (see [`crate::sealing`]); the context is the user id.
pub const TOTP_SEAL_PURPOSE: &str = "totp";

/// A user's TOTP enrolment. The secret is a relay-side authentication secret (it opens no
/// content); it is stored only sealed under the relay key, never logged nor returned after
/// enrolment.
#[derive(Clone, Serialize, Deserialize)]
pub struct TotpRecord {
    /// The shared secret sealed under the relay key ([`TOTP_SEAL_PURPOSE`], user id).
    #[serde(default)]
    pub sealed_secret: Vec<u8>,
    /// The shared secret in the clear, as relays before sealing stored it: read once at start
    /// and sealed ([`seal_legacy_totp`]), never written.
    #[serde(default, rename = "secret", skip_serializing)]
    pub legacy_secret: Option<Vec<u8>>,
    /// Whether the user confirmed enrolment with a valid code.
    pub confirmed: bool,
    /// Last time step accepted (a code is never accepted twice).
    pub last_step: i64,
}

impl TotpRecord {
    /// A new, unconfirmed enrolment of `secret` for `user_id`, sealed under `key`.
    pub fn new_sealed(key: &RelayKey, user_id: &str, secret: &[u8]) -> Self {
        Self {
            sealed_secret: key.seal(TOTP_SEAL_PURPOSE, user_id.as_bytes(), secret),
            legacy_secret: None,
            confirmed: false,
            last_step: 0,
        }
    }

    /// The secret, opened with `key`.
    pub fn secret(&self, key: &RelayKey, user_id: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if let Some(legacy) = &self.legacy_secret {
            return Ok(Zeroizing::new(legacy.clone()));
        }
        key.open(TOTP_SEAL_PURPOSE, user_id.as_bytes(), &self.sealed_secret)
    }
}

/// Adds to `txn` the removal of a user's enrolment state on erasure: security events, throttle
/// counters, the recovery waits of `device_ids`, the identity key and device certificates.
pub fn erase_enrolment(
    store: &dyn Store,
    txn: &mut Txn,
    user_id: &str,
    device_ids: &[String],
) -> Result<(), StoreError> {
    security::erase(store, txn, user_id)?;
    txn.delete(
        throttle::THROTTLE,
        throttle::totp_user_key(user_id).as_bytes(),
    );
    txn.delete(
        throttle::THROTTLE,
        throttle::request_user_key(user_id).as_bytes(),
    );
    for device_id in device_ids {
        txn.delete(LINK_WAIT, device_id.as_bytes());
    }
    identity::erase(store, txn, user_id, device_ids)
}

/// Seals TOTP secrets that an older relay stored in the clear; returns how many. Run at start.
pub fn seal_legacy_totp(store: &dyn Store, key: &RelayKey) -> Result<usize, ApiError> {
    let mut sealed = 0;
    let all: Vec<(Vec<u8>, Vec<u8>)> = store.scan_prefix(TOTP, b"")?.collect::<Result<_, _>>()?;
    for (k, raw) in all {
        let mut record: TotpRecord = crate::store::decode_json(TOTP, &raw)?;
        let Some(secret) = record.legacy_secret.take().map(Zeroizing::new) else {
            continue;
        };
        let user_id = String::from_utf8_lossy(&k).into_owned();
        record.sealed_secret = key.seal(TOTP_SEAL_PURPOSE, user_id.as_bytes(), &secret);
        let mut txn = Txn::new();
        txn.check(TOTP, &k, Some(&raw))
            .put_json(TOTP, &k, &record)?;
        store.commit(&txn)?;
        sealed += 1;
    }
    if sealed > 0 {
        store.flush()?;
        tracing::info!(
            sealed,
            "sealed TOTP secrets stored in the clear by an older relay"
        );
    }
    Ok(sealed)
}

/// Adds to `txn` the re-sealing of every TOTP secret from `old` to `new` (`rotate-key`), each
/// write conditional on the value read. Returns how many secrets it re-seals.
pub fn reseal_totp(
    store: &dyn Store,
    txn: &mut Txn,
    old: &RelayKey,
    new: &RelayKey,
) -> Result<usize, ApiError> {
    let all: Vec<(Vec<u8>, Vec<u8>)> = store.scan_prefix(TOTP, b"")?.collect::<Result<_, _>>()?;
    for (k, raw) in &all {
        let mut record: TotpRecord = crate::store::decode_json(TOTP, raw)?;
        let user_id = String::from_utf8_lossy(k).into_owned();
        let secret = record
            .secret(old, &user_id)
            .map_err(|e| ApiError::internal("rotate-key: open TOTP secret", &e))?;
        record.legacy_secret = None;
        record.sealed_secret = new.seal(TOTP_SEAL_PURPOSE, user_id.as_bytes(), &secret);
        txn.check(TOTP, k, Some(raw)).put_json(TOTP, k, &record)?;
    }
    Ok(all.len())
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

fn pair_key(a: &str, b: &str) -> Vec<u8> {
    format!("{a}/{b}").into_bytes()
}

fn prefix_key(a: &str) -> Vec<u8> {
    format!("{a}/").into_bytes()
}

fn second_part(key: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(key).ok()?;
    text.split_once('/').map(|(_, b)| b.to_owned())
}

/// The user `user_id`.
pub fn user(store: &dyn Store, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
    store.get_json(USERS, user_id.as_bytes())
}

/// The organisation `org_id`.
pub fn org(store: &dyn Store, org_id: &str) -> Result<Option<OrgRecord>, StoreError> {
    store.get_json(ORGS, org_id.as_bytes())
}

/// Every device (any status) of a user.
pub fn user_devices(store: &dyn Store, user_id: &str) -> Result<Vec<DeviceRecord>, StoreError> {
    let mut out = Vec::new();
    for kv in store.scan_prefix(USER_DEVICES, &prefix_key(user_id))? {
        let (k, _) = kv?;
        if let Some(device_id) = second_part(&k) {
            if let Some(d) = store.get_json::<DeviceRecord>(DEVICES, device_id.as_bytes())? {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// The space `space_id`.
pub fn space(store: &dyn Store, space_id: &str) -> Result<Option<SpaceRecord>, StoreError> {
    store.get_json(SPACES, space_id.as_bytes())
}

/// The membership of `user_id` in `space_id`, if any.
pub fn space_member(
    store: &dyn Store,
    space_id: &str,
    user_id: &str,
) -> Result<Option<SpaceMember>, StoreError> {
    store.get_json(SPACE_MEMBERS, &pair_key(space_id, user_id))
}

/// Every member of a space.
pub fn space_members(store: &dyn Store, space_id: &str) -> Result<Vec<SpaceMember>, StoreError> {
    store.scan_json(SPACE_MEMBERS, &prefix_key(space_id))
}

/// The spaces `user_id` is a member of.
pub fn user_spaces(store: &dyn Store, user_id: &str) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for kv in store.scan_prefix(USER_SPACES, &prefix_key(user_id))? {
        let (k, _) = kv?;
        if let Some(space_id) = second_part(&k) {
            out.push(space_id);
        }
    }
    Ok(out)
}

/// Requires the caller to be a member of the space: 404 if the space does not exist or the
/// caller is not a member (no existence oracle for outsiders).
pub fn require_space_member(
    state: &AppState,
    space_id: &str,
    authed: &AuthedDevice,
) -> Result<(SpaceRecord, SpaceMember), ApiError> {
    let store = state.store.as_ref();
    let space = space(store, space_id)?.ok_or_else(|| ApiError::not_found("no such space"))?;
    let member = space_member(store, space_id, &authed.user_id)?
        .ok_or_else(|| ApiError::not_found("no such space"))?;
    Ok((space, member))
}

/// What a user may do with another user's directory entries (key packages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAccess {
    /// Allowed.
    Allowed,
    /// The user is visible (same organisation) but this is not allowed: 403.
    Forbidden,
    /// The user is not visible to the caller: answered like an unknown user, 404.
    Hidden,
}

/// Whether `claimer` may claim key packages of `target` (to add them to a room). Allowed for
/// the user's own devices, for users who share a space with the claimer (only space members
/// can be added to a space's rooms), and for provider staff and admins claiming a colleague of
/// their own organisation. A customer claiming a colleague they share no space with is
/// refused (403); users of other organisations without a shared space are not visible (404).
pub fn key_package_access(
    store: &dyn Store,
    claimer: &AuthedDevice,
    target: &UserRecord,
) -> Result<UserAccess, StoreError> {
    if target.user_id == claimer.user_id {
        return Ok(UserAccess::Allowed);
    }
    if shares_space(store, &claimer.user_id, &target.user_id)? {
        return Ok(UserAccess::Allowed);
    }
    if target.org_id != claimer.org_id {
        return Ok(UserAccess::Hidden);
    }
    if matches!(claimer.role, Role::Admin | Role::Staff) && is_provider(store, claimer)? {
        return Ok(UserAccess::Allowed);
    }
    Ok(UserAccess::Forbidden)
}

/// Whether two users are members of at least one common space.
pub fn shares_space(store: &dyn Store, a: &str, b: &str) -> Result<bool, StoreError> {
    for space_id in user_spaces(store, a)? {
        if space_member(store, &space_id, b)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// An audit event of an unauthenticated request (bootstrap, registration, device request,
/// TOTP approval): the client's IP address and user agent, no verified actor yet.
fn client_event(action: AuditAction, client: &ClientInfo) -> AuditEvent {
    let mut e = AuditEvent::new(action);
    if let Some(ip) = client.ip {
        e = e.ip(ip.to_string());
    }
    if let Some(ua) = &client.user_agent {
        e = e.user_agent(ua.clone());
    }
    e
}

/// Makes every write so far durable. Called before acknowledging an account, device,
/// invitation or space change. A no-op on the embedded store (redb), whose commits are synced
/// before they return; kept for backends that buffer writes (sled, of earlier releases, lost
/// changes made in its ~500 ms flush window).
fn durable(state: &AppState) -> Result<(), ApiError> {
    state.store.flush().map_err(ApiError::from)
}

/// Adds the writes that make `user_id` a member of `space_id` with `role` to `txn`.
fn put_space_member(
    state: &AppState,
    txn: &mut Txn,
    space_id: &str,
    user_id: &str,
    role: SpaceRole,
) -> Result<(), ApiError> {
    let member = SpaceMember {
        space_id: space_id.to_owned(),
        user_id: user_id.to_owned(),
        role,
        added_at: state.now(),
    };
    txn.put_json(SPACE_MEMBERS, &pair_key(space_id, user_id), &member)?
        .put(USER_SPACES, &pair_key(user_id, space_id), b"");
    Ok(())
}

fn parse_public_key(hex_key: &str) -> Result<[u8; 32], ApiError> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut key)
        .map_err(|_| ApiError::bad_request("public_key must be 64 hex characters"))?;
    sealroom_wire::auth::check_public_key(&key)
        .map_err(|_| ApiError::bad_request("public_key is not a valid Ed25519 key"))?;
    Ok(key)
}

fn check_name(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(format!(
            "{field} must be 1 to 200 printable characters"
        )));
    }
    Ok(())
}

fn check_email(email: Option<&str>) -> Result<(), ApiError> {
    if let Some(e) = email {
        if e.len() > 254
            || !e.contains('@')
            || e.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(ApiError::bad_request("invalid email address"));
        }
    }
    Ok(())
}

/// Builds the writes that create a user with one active (or pending) device.
/// The provider organisation's id, once bootstrapped.
pub fn provider_org_id(store: &dyn Store) -> Result<Option<String>, StoreError> {
    Ok(store
        .get(META, META_BOOTSTRAPPED)?
        .and_then(|v| String::from_utf8(v).ok()))
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Staff => "staff",
        Role::Customer => "customer",
    }
}

fn space_role_label(role: SpaceRole) -> &'static str {
    match role {
        SpaceRole::Owner => "owner",
        SpaceRole::Staff => "staff",
        SpaceRole::Customer => "customer",
    }
}

fn wire_role(role: Role) -> wire::Role {
    match role {
        Role::Admin => wire::Role::Admin,
        Role::Staff => wire::Role::Staff,
        Role::Customer => wire::Role::Customer,
    }
}

fn require_role(authed: &AuthedDevice, allowed: &[Role]) -> Result<(), ApiError> {
    if allowed.contains(&authed.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden("your role does not allow this"))
    }
}

fn is_provider(store: &dyn Store, authed: &AuthedDevice) -> Result<bool, StoreError> {
    Ok(provider_org_id(store)?.as_deref() == Some(authed.org_id.as_str()))
}
