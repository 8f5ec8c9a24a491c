//! Organisations, users, devices, roles, spaces, invitations, device approval and TOTP.
//!
//! - Bootstrap: at first start the relay writes a one-time setup token to
//!   `<data_dir>/setup-token`; `POST /v1/bootstrap` with it creates the provider organisation
//!   and its first administrator (with their first device).
//! - Invitations: an admin invites staff; staff (space members) invite customer members into a
//!   space. `POST /v1/register` with the token creates the user and their first device.
//! - Further devices: `POST /v1/device-requests` creates a pending device; it becomes active
//!   when one of the user's active devices approves it (signed request) or with a TOTP code
//!   (RFC 6238) the user enrolled. Failed codes are rate limited per user and IP.
//! - Spaces: created by provider staff for a customer organisation; members are the owner,
//!   other staff and customer members. Rooms (see `crate::rooms`) belong to spaces.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use sealroom_wire::accounts as wire;
use sealroom_wire::audit::AuditAction;

use crate::audit::{self, AuditEvent};
use crate::auth::{self, AuthedDevice, ClientInfo};
use crate::error::ApiError;
use crate::filters::{json_body, json_reply, no_content, ok_json, with_state};
use crate::ids::{random_id, random_token, token_digest};
use crate::state::AppState;
use crate::store::{Store, StoreError, StoreExt, Txn};
use crate::totp;

/// Tree: organisation id -> [`OrgRecord`].
pub const ORGS: &str = "acct_orgs";
/// Tree: user id -> [`UserRecord`].
pub const USERS: &str = "acct_users";
/// Tree: device id -> [`DeviceRecord`].
pub const DEVICES: &str = "acct_devices";

/// A user's role in their organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Administrator of the provider organisation: invites staff, creates customer
    /// organisations, reads the audit trail.
    Admin,
    /// Provider staff: creates spaces, invites customer members into spaces.
    Staff,
    /// Member of a customer organisation: sees the spaces they were invited into.
    Customer,
}

/// Kind of organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// The company that runs the relay and its portal.
    Provider,
    /// A customer company.
    Customer,
}

/// A stored organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgRecord {
    /// Id.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Provider or customer.
    pub kind: OrgKind,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

/// A stored user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    /// Id.
    pub user_id: String,
    /// Organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Email address for notifications, if given.
    pub email: Option<String>,
    /// Organisation role.
    pub role: Role,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

/// Status of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// May authenticate.
    Active,
    /// Waiting for approval by another device of the user or a TOTP code.
    Pending,
    /// Revoked: never authenticates again.
    Revoked,
}

/// A stored device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Id.
    pub device_id: String,
    /// Owner.
    pub user_id: String,
    /// Owner's organisation.
    pub org_id: String,
    /// Display name (e.g. "laptop").
    pub name: String,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// Status.
    pub status: DeviceStatus,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

/// The active device `device_id` and its user, or `None` if unknown, pending or revoked.
pub fn active_device(
    store: &dyn Store,
    device_id: &str,
) -> Result<Option<(DeviceRecord, UserRecord)>, StoreError> {
    let Some(device) = store.get_json::<DeviceRecord>(DEVICES, device_id.as_bytes())? else {
        return Ok(None);
    };
    if device.status != DeviceStatus::Active {
        return Ok(None);
    }
    let Some(user) = store.get_json::<UserRecord>(USERS, device.user_id.as_bytes())? else {
        return Ok(None);
    };
    Ok(Some((device, user)))
}

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
/// Tree: SHA-256 of an invitation token (hex) -> [`InviteRecord`].
pub const INVITES: &str = "acct_invites";
/// Tree: request id -> [`DeviceRequest`].
pub const DEVICE_REQUESTS: &str = "acct_device_requests";
/// Tree: user id -> [`TotpRecord`].
pub const TOTP: &str = "acct_totp";

/// How long an invitation stays valid.
pub const INVITE_TTL_SECS: i64 = 7 * 24 * 3600;
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

/// A user's TOTP enrolment. The secret is a relay-side authentication secret (it opens no
/// content); it is never logged nor returned after enrolment.
#[derive(Clone, Serialize, Deserialize)]
pub struct TotpRecord {
    /// The shared secret.
    pub secret: Vec<u8>,
    /// Whether the user confirmed enrolment with a valid code.
    pub confirmed: bool,
    /// Last time step accepted (a code is never accepted twice).
    pub last_step: i64,
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
/// invitation or space change: sled otherwise writes to disk in the background every ~500 ms,
/// and a crash in that window would lose a change the client was told succeeded.
fn durable(state: &AppState) -> Result<(), ApiError> {
    state.store.flush().map_err(ApiError::from)
}

fn put_space_member(
    state: &AppState,
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
    let mut txn = Txn::new();
    txn.put_json(SPACE_MEMBERS, &pair_key(space_id, user_id), &member)?
        .put(USER_SPACES, &pair_key(user_id, space_id), b"");
    state.store.commit(&txn)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

/// The account routes.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let limit = state.config.limits.max_json_body;
    let s = || with_state(state.clone());
    let authed = || auth::device(state.clone());

    let bootstrap = warp::path!("v1" / "bootstrap")
        .and(warp::post())
        .and(auth::client_info(state.clone()))
        .and(json_body::<wire::BootstrapRequest>(limit))
        .and(s())
        .and_then(|c, b, st| async move { bootstrap(&st, c, b) });
    let register = warp::path!("v1" / "register")
        .and(warp::post())
        .and(auth::client_info(state.clone()))
        .and(json_body::<wire::RegisterRequest>(limit))
        .and(s())
        .and_then(|c, b, st| async move { register(&st, c, b) });
    let me = warp::path!("v1" / "me")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { me(&st, &a) });
    let my_devices = warp::path!("v1" / "me" / "devices")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|a: AuthedDevice, st: AppState| async move { list_devices(&st, &a.user_id) });
    let user_devices_route = warp::path!("v1" / "users" / String / "devices")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|u: String, a, st| async move { user_devices_route(&st, &a, &u) });
    let revoke = warp::path!("v1" / "devices" / String)
        .and(warp::delete())
        .and(authed())
        .and(s())
        .and_then(|d: String, a, st| async move { revoke_device(&st, &a, &d) });
    let create_org = warp::path!("v1" / "orgs")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { create_org(&st, &a) });
    let get_org = warp::path!("v1" / "orgs" / String)
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|o: String, a, st| async move { get_org(&st, &a, &o) });
    let invite = warp::path!("v1" / "invitations")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { create_invitation(&st, &a) });
    let create_space = warp::path!("v1" / "spaces")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { create_space(&st, &a) });
    let list_spaces = warp::path!("v1" / "spaces")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { list_spaces(&st, &a) });
    let get_space = warp::path!("v1" / "spaces" / String)
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|sp: String, a, st| async move { get_space(&st, &a, &sp) });
    let add_member = warp::path!("v1" / "spaces" / String / "members")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|sp: String, a, st| async move { add_space_member(&st, &a, &sp) });
    let remove_member = warp::path!("v1" / "spaces" / String / "members" / String)
        .and(warp::delete())
        .and(authed())
        .and(s())
        .and_then(
            |sp: String, u: String, a, st| async move { remove_space_member(&st, &a, &sp, &u) },
        );
    let device_request = warp::path!("v1" / "device-requests")
        .and(warp::post())
        .and(auth::client_info(state.clone()))
        .and(json_body::<wire::DeviceRequestCreate>(limit))
        .and(s())
        .and_then(|c, b, st| async move { create_device_request(&st, c, b) });
    let get_device_request = warp::path!("v1" / "device-requests" / String)
        .and(warp::get())
        .and(s())
        .and_then(|r: String, st| async move { get_device_request(&st, &r) });
    let approve = warp::path!("v1" / "device-requests" / String / "approve")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|r: String, a, st| async move { approve_device_request(&st, &a, &r) });
    let approve_totp = warp::path!("v1" / "device-requests" / String / "totp")
        .and(warp::post())
        .and(auth::client_info(state.clone()))
        .and(json_body::<wire::TotpCode>(limit))
        .and(s())
        .and_then(|r: String, c, b, st| async move { approve_with_totp(&st, c, &r, b) });
    let totp_enrol = warp::path!("v1" / "me" / "totp")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { totp_enrol(&st, &a) });
    let totp_confirm = warp::path!("v1" / "me" / "totp" / "confirm")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { totp_confirm(&st, &a) });

    // Each route is boxed before combining: long unboxed `or` chains make type checking slow.
    let routes: Vec<BoxedFilter<(Response,)>> = vec![
        bootstrap.boxed(),
        register.boxed(),
        me.boxed(),
        my_devices.boxed(),
        user_devices_route.boxed(),
        revoke.boxed(),
        create_org.boxed(),
        get_org.boxed(),
        invite.boxed(),
        create_space.boxed(),
        list_spaces.boxed(),
        get_space.boxed(),
        add_member.boxed(),
        remove_member.boxed(),
        device_request.boxed(),
        get_device_request.boxed(),
        approve.boxed(),
        approve_totp.boxed(),
        totp_enrol.boxed(),
        totp_confirm.boxed(),
    ];
    combine(routes)
}

/// Combines boxed routes with `or`.
pub fn combine(routes: Vec<BoxedFilter<(Response,)>>) -> BoxedFilter<(Response,)> {
    let mut iter = routes.into_iter();
    let Some(first) = iter.next() else {
        return warp::any()
            .and_then(|| async { Err::<Response, Rejection>(warp::reject::not_found()) })
            .boxed();
    };
    iter.fold(first, |acc, r| acc.or(r).unify().boxed())
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
#[allow(clippy::too_many_arguments)]
fn new_user_txn(
    txn: &mut Txn,
    now: i64,
    org_id: &str,
    role: Role,
    name: &str,
    email: Option<String>,
    device_name: &str,
    public_key: [u8; 32],
) -> Result<(UserRecord, DeviceRecord), ApiError> {
    let user = UserRecord {
        user_id: random_id(),
        org_id: org_id.to_owned(),
        name: name.to_owned(),
        email,
        role,
        created_at: now,
    };
    let device = DeviceRecord {
        device_id: random_id(),
        user_id: user.user_id.clone(),
        org_id: org_id.to_owned(),
        name: device_name.to_owned(),
        public_key,
        status: DeviceStatus::Active,
        created_at: now,
    };
    txn.put_json(USERS, user.user_id.as_bytes(), &user)?
        .put_json(DEVICES, device.device_id.as_bytes(), &device)?
        .put(
            USER_DEVICES,
            &pair_key(&user.user_id, &device.device_id),
            b"",
        )
        .put(ORG_USERS, &pair_key(org_id, &user.user_id), b"");
    Ok((user, device))
}

fn bootstrap(
    state: &AppState,
    client: ClientInfo,
    req: wire::BootstrapRequest,
) -> Result<Response, Rejection> {
    let now = state.now();
    let rl_key = client.ip.map(|ip| format!("ip:{ip}")).unwrap_or_default();
    state.limiter.guard(&rl_key, now)?;
    let store = state.store.as_ref();
    let expected = store.get(META, META_SETUP_DIGEST).map_err(ApiError::from)?;
    let given = token_digest(&req.setup_token);
    let valid = match &expected {
        Some(e) => bool::from(e.as_slice().ct_eq(given.as_bytes())),
        None => false,
    };
    if store
        .get(META, META_BOOTSTRAPPED)
        .map_err(ApiError::from)?
        .is_some()
    {
        return Err(ApiError::conflict("the relay is already bootstrapped").into());
    }
    if !valid {
        state.limiter.record_failure(&rl_key, now);
        return Err(ApiError::unauthenticated("invalid setup token").into());
    }
    check_name("org_name", &req.org_name)?;
    check_name("user_name", &req.user_name)?;
    check_name("device_name", &req.device_name)?;
    check_email(req.email.as_deref())?;
    let public_key = parse_public_key(&req.public_key)?;
    let org = OrgRecord {
        org_id: random_id(),
        name: req.org_name,
        kind: OrgKind::Provider,
        created_at: now,
    };
    let mut txn = Txn::new();
    txn.check(META, META_BOOTSTRAPPED, None)
        .put(META, META_BOOTSTRAPPED, org.org_id.as_bytes())
        .delete(META, META_SETUP_DIGEST)
        .put_json(ORGS, org.org_id.as_bytes(), &org)
        .map_err(ApiError::from)?;
    let (user, device) = new_user_txn(
        &mut txn,
        now,
        &org.org_id,
        Role::Admin,
        &req.user_name,
        req.email,
        &req.device_name,
        public_key,
    )?;
    state.store.commit(&txn).map_err(ApiError::from)?;
    audit::record(
        state,
        client_event(AuditAction::OrgCreate, &client)
            .actor(user.user_id.clone())
            .device(device.device_id.clone())
            .org(org.org_id.clone())
            .object(org.org_id.clone())
            .detail("bootstrap kind=provider"),
    )
    .map_err(ApiError::from)?;
    audit::record(
        state,
        client_event(AuditAction::UserRegister, &client)
            .actor(user.user_id.clone())
            .device(device.device_id.clone())
            .org(org.org_id.clone())
            .object(user.user_id.clone())
            .detail("bootstrap role=admin"),
    )
    .map_err(ApiError::from)?;
    durable(state)?;
    let _ = std::fs::remove_file(state.config.data_dir.join(SETUP_TOKEN_FILE));
    tracing::info!(org_id = %org.org_id, user_id = %user.user_id, "relay bootstrapped");
    Ok(json_reply(
        StatusCode::CREATED,
        &wire::Registered {
            org_id: org.org_id,
            user_id: user.user_id,
            device_id: device.device_id,
            role: wire_role(Role::Admin),
            space_id: None,
        },
    ))
}

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

fn register(
    state: &AppState,
    client: ClientInfo,
    req: wire::RegisterRequest,
) -> Result<Response, Rejection> {
    let now = state.now();
    let rl_key = client.ip.map(|ip| format!("ip:{ip}")).unwrap_or_default();
    state.limiter.guard(&rl_key, now)?;
    let digest = token_digest(&req.token);
    let store = state.store.as_ref();
    let Some(raw) = store
        .get(INVITES, digest.as_bytes())
        .map_err(ApiError::from)?
    else {
        state.limiter.record_failure(&rl_key, now);
        return Err(ApiError::unauthenticated("invalid invitation token").into());
    };
    let invite: InviteRecord = crate::store::decode_json(INVITES, &raw).map_err(ApiError::from)?;
    if invite.used {
        return Err(ApiError::Gone("invitation already used".to_owned()).into());
    }
    if invite.expires_at < now {
        return Err(ApiError::Gone("invitation expired".to_owned()).into());
    }
    check_name("user_name", &req.user_name)?;
    check_name("device_name", &req.device_name)?;
    check_email(req.email.as_deref())?;
    let public_key = parse_public_key(&req.public_key)?;
    let mut used = invite.clone();
    used.used = true;
    let mut txn = Txn::new();
    txn.check(INVITES, digest.as_bytes(), Some(&raw))
        .put_json(INVITES, digest.as_bytes(), &used)
        .map_err(ApiError::from)?;
    let (user, device) = new_user_txn(
        &mut txn,
        now,
        &invite.org_id,
        invite.role,
        &req.user_name,
        req.email,
        &req.device_name,
        public_key,
    )?;
    if let Some(space_id) = &invite.space_id {
        let member = SpaceMember {
            space_id: space_id.clone(),
            user_id: user.user_id.clone(),
            role: SpaceRole::Customer,
            added_at: now,
        };
        txn.put_json(SPACE_MEMBERS, &pair_key(space_id, &user.user_id), &member)
            .map_err(ApiError::from)?
            .put(USER_SPACES, &pair_key(&user.user_id, space_id), b"");
    }
    state.store.commit(&txn).map_err(ApiError::from)?;
    let registered = |action| {
        client_event(action, &client)
            .actor(user.user_id.clone())
            .device(device.device_id.clone())
            .org(user.org_id.clone())
    };
    audit::record(
        state,
        registered(AuditAction::UserRegister)
            .object(user.user_id.clone())
            .detail(format!(
                "invitation={} role={}",
                invite.invitation_id,
                role_label(user.role)
            )),
    )
    .map_err(ApiError::from)?;
    if let Some(space_id) = &invite.space_id {
        audit::record(
            state,
            registered(AuditAction::MembershipAdd)
                .object(space_id.clone())
                .detail(format!("space user={} role=customer", user.user_id)),
        )
        .map_err(ApiError::from)?;
    }
    durable(state)?;
    tracing::info!(user_id = %user.user_id, device_id = %device.device_id, "user registered");
    Ok(json_reply(
        StatusCode::CREATED,
        &wire::Registered {
            org_id: user.org_id,
            user_id: user.user_id,
            device_id: device.device_id,
            role: wire_role(user.role),
            space_id: invite.space_id,
        },
    ))
}

fn me(state: &AppState, authed: &AuthedDevice) -> Result<Response, Rejection> {
    let user = user(state.store.as_ref(), &authed.user_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(ok_json(&wire::Me {
        org_id: authed.org_id.clone(),
        user_id: authed.user_id.clone(),
        device_id: authed.device_id.clone(),
        role: wire_role(authed.role),
        name: user.name,
        email: user.email,
    }))
}

fn device_info(d: &DeviceRecord) -> wire::DeviceInfo {
    wire::DeviceInfo {
        device_id: d.device_id.clone(),
        user_id: d.user_id.clone(),
        name: d.name.clone(),
        public_key: hex::encode(d.public_key),
        status: match d.status {
            DeviceStatus::Active => wire::DeviceState::Active,
            DeviceStatus::Pending => wire::DeviceState::Pending,
            DeviceStatus::Revoked => wire::DeviceState::Revoked,
        },
        created_at: d.created_at,
    }
}

fn list_devices(state: &AppState, user_id: &str) -> Result<Response, Rejection> {
    let devices = user_devices(state.store.as_ref(), user_id).map_err(ApiError::from)?;
    Ok(ok_json(&wire::DeviceList {
        devices: devices.iter().map(device_info).collect(),
    }))
}

/// Whether `viewer` may see `target`'s users and devices: same organisation, or they share a
/// space.
fn may_see_user(
    store: &dyn Store,
    viewer: &AuthedDevice,
    target: &UserRecord,
) -> Result<bool, StoreError> {
    Ok(target.org_id == viewer.org_id || shares_space(store, &viewer.user_id, &target.user_id)?)
}

fn user_devices_route(
    state: &AppState,
    authed: &AuthedDevice,
    user_id: &str,
) -> Result<Response, Rejection> {
    let store = state.store.as_ref();
    let target = user(store, user_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    if !may_see_user(store, authed, &target).map_err(ApiError::from)? {
        return Err(ApiError::not_found("no such user").into());
    }
    list_devices(state, user_id)
}

fn revoke_device(
    state: &AppState,
    authed: &AuthedDevice,
    device_id: &str,
) -> Result<Response, Rejection> {
    let store = state.store.as_ref();
    let mut device: DeviceRecord = store
        .get_json(DEVICES, device_id.as_bytes())
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such device"))?;
    let own = device.user_id == authed.user_id;
    let org_admin = authed.role == Role::Admin && device.org_id == authed.org_id;
    if !own && !org_admin {
        return Err(if device.org_id == authed.org_id {
            ApiError::forbidden("only the owner or an admin may revoke a device")
        } else {
            ApiError::not_found("no such device")
        }
        .into());
    }
    device.status = DeviceStatus::Revoked;
    store
        .put_json(DEVICES, device_id.as_bytes(), &device)
        .map_err(ApiError::from)?;
    audit::record(
        state,
        audit::event_by(AuditAction::DeviceRemove, authed)
            .object(device_id)
            .detail(format!("revoked user={}", device.user_id)),
    )
    .map_err(ApiError::from)?;
    durable(state)?;
    tracing::info!(device_id, by = %authed.device_id, "device revoked");
    Ok(no_content())
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

fn create_org(state: &AppState, authed: &AuthedDevice) -> Result<Response, Rejection> {
    let req: wire::CreateOrg = authed.json()?;
    require_role(authed, &[Role::Admin])?;
    if !is_provider(state.store.as_ref(), authed).map_err(ApiError::from)? {
        return Err(ApiError::forbidden("only provider admins create organisations").into());
    }
    check_name("name", &req.name)?;
    let org = OrgRecord {
        org_id: random_id(),
        name: req.name,
        kind: OrgKind::Customer,
        created_at: state.now(),
    };
    state
        .store
        .put_json(ORGS, org.org_id.as_bytes(), &org)
        .map_err(ApiError::from)?;
    audit::record(
        state,
        audit::event_by(AuditAction::OrgCreate, authed)
            .object(org.org_id.clone())
            .detail("kind=customer"),
    )
    .map_err(ApiError::from)?;
    durable(state)?;
    Ok(json_reply(StatusCode::CREATED, &org_info(&org)))
}

fn org_info(org: &OrgRecord) -> wire::OrgInfo {
    wire::OrgInfo {
        org_id: org.org_id.clone(),
        name: org.name.clone(),
        kind: match org.kind {
            OrgKind::Provider => wire::OrgKind::Provider,
            OrgKind::Customer => wire::OrgKind::Customer,
        },
        created_at: org.created_at,
    }
}

fn get_org(state: &AppState, authed: &AuthedDevice, org_id: &str) -> Result<Response, Rejection> {
    let store = state.store.as_ref();
    let visible = authed.org_id == org_id
        || (authed.role != Role::Customer && is_provider(store, authed).map_err(ApiError::from)?);
    let org = org(store, org_id).map_err(ApiError::from)?;
    match org {
        Some(o) if visible => Ok(ok_json(&org_info(&o))),
        _ => Err(ApiError::not_found("no such organisation").into()),
    }
}

fn create_invitation(state: &AppState, authed: &AuthedDevice) -> Result<Response, Rejection> {
    let req: wire::CreateInvitation = authed.json()?;
    let store = state.store.as_ref();
    let now = state.now();
    let (org_id, role, space_id) = match req.role {
        wire::Role::Staff | wire::Role::Admin => {
            require_role(authed, &[Role::Admin])?;
            if !is_provider(store, authed).map_err(ApiError::from)? {
                return Err(ApiError::forbidden("only provider admins invite staff").into());
            }
            if req.space_id.is_some() {
                return Err(ApiError::bad_request("staff invitations take no space_id").into());
            }
            let role = if req.role == wire::Role::Admin {
                Role::Admin
            } else {
                Role::Staff
            };
            (authed.org_id.clone(), role, None)
        }
        wire::Role::Customer => {
            require_role(authed, &[Role::Admin, Role::Staff])?;
            let space_id = req
                .space_id
                .ok_or_else(|| ApiError::bad_request("customer invitations need a space_id"))?;
            let (space, member) = require_space_member(state, &space_id, authed)?;
            if member.role == SpaceRole::Customer {
                return Err(ApiError::forbidden("customers cannot invite").into());
            }
            (space.customer_org_id, Role::Customer, Some(space_id))
        }
    };
    let token = random_token();
    let invite = InviteRecord {
        invitation_id: random_id(),
        org_id,
        role,
        space_id,
        invited_by: authed.user_id.clone(),
        created_at: now,
        expires_at: now + INVITE_TTL_SECS,
        used: false,
    };
    store
        .put_json(INVITES, token_digest(&token).as_bytes(), &invite)
        .map_err(ApiError::from)?;
    audit::record(
        state,
        audit::event_by(AuditAction::InviteCreate, authed)
            .object(invite.invitation_id.clone())
            .detail(match &invite.space_id {
                Some(space_id) => format!("role={} space={space_id}", role_label(invite.role)),
                None => format!("role={}", role_label(invite.role)),
            }),
    )
    .map_err(ApiError::from)?;
    durable(state)?;
    Ok(json_reply(
        StatusCode::CREATED,
        &wire::Invitation {
            invitation_id: invite.invitation_id,
            token,
            org_id: invite.org_id,
            role: wire_role(invite.role),
            space_id: invite.space_id,
            expires_at: invite.expires_at,
        },
    ))
}

fn space_info(store: &dyn Store, space: &SpaceRecord) -> Result<wire::SpaceInfo, ApiError> {
    let members = space_members(store, &space.space_id)?;
    Ok(wire::SpaceInfo {
        space_id: space.space_id.clone(),
        provider_org_id: space.provider_org_id.clone(),
        customer_org_id: space.customer_org_id.clone(),
        owner_user_id: space.owner_user_id.clone(),
        created_at: space.created_at,
        members: members
            .into_iter()
            .map(|m| wire::SpaceMemberInfo {
                user_id: m.user_id,
                role: match m.role {
                    SpaceRole::Owner => wire::SpaceRole::Owner,
                    SpaceRole::Staff => wire::SpaceRole::Staff,
                    SpaceRole::Customer => wire::SpaceRole::Customer,
                },
                added_at: m.added_at,
            })
            .collect(),
    })
}

fn create_space(state: &AppState, authed: &AuthedDevice) -> Result<Response, Rejection> {
    let req: wire::CreateSpace = authed.json()?;
    require_role(authed, &[Role::Admin, Role::Staff])?;
    let store = state.store.as_ref();
    if !is_provider(store, authed).map_err(ApiError::from)? {
        return Err(ApiError::forbidden("only provider staff create spaces").into());
    }
    let customer = org(store, &req.customer_org_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such organisation"))?;
    if customer.kind != OrgKind::Customer {
        return Err(
            ApiError::bad_request("customer_org_id must name a customer organisation").into(),
        );
    }
    let space = SpaceRecord {
        space_id: random_id(),
        provider_org_id: authed.org_id.clone(),
        customer_org_id: customer.org_id,
        owner_user_id: authed.user_id.clone(),
        created_at: state.now(),
    };
    store
        .put_json(SPACES, space.space_id.as_bytes(), &space)
        .map_err(ApiError::from)?;
    put_space_member(state, &space.space_id, &authed.user_id, SpaceRole::Owner)?;
    audit::record(
        state,
        audit::event_by(AuditAction::SpaceCreate, authed)
            .object(space.space_id.clone())
            .detail(format!("customer_org={}", space.customer_org_id)),
    )
    .map_err(ApiError::from)?;
    audit::record(
        state,
        audit::event_by(AuditAction::MembershipAdd, authed)
            .object(space.space_id.clone())
            .detail(format!("space user={} role=owner", authed.user_id)),
    )
    .map_err(ApiError::from)?;
    durable(state)?;
    Ok(json_reply(StatusCode::CREATED, &space_info(store, &space)?))
}

fn list_spaces(state: &AppState, authed: &AuthedDevice) -> Result<Response, Rejection> {
    let store = state.store.as_ref();
    let mut spaces = Vec::new();
    for id in user_spaces(store, &authed.user_id).map_err(ApiError::from)? {
        if let Some(sp) = space(store, &id).map_err(ApiError::from)? {
            spaces.push(space_info(store, &sp)?);
        }
    }
    Ok(ok_json(&wire::SpaceList { spaces }))
}

fn get_space(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: &str,
) -> Result<Response, Rejection> {
    let (space, _) = require_space_member(state, space_id, authed)?;
    Ok(ok_json(&space_info(state.store.as_ref(), &space)?))
}

fn add_space_member(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: &str,
) -> Result<Response, Rejection> {
    let req: wire::AddSpaceMember = authed.json()?;
    let (space, me) = require_space_member(state, space_id, authed)?;
    if me.role == SpaceRole::Customer {
        return Err(ApiError::forbidden("customers cannot add members").into());
    }
    let store = state.store.as_ref();
    let target = user(store, &req.user_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let role = if target.org_id == space.provider_org_id {
        SpaceRole::Staff
    } else if target.org_id == space.customer_org_id {
        SpaceRole::Customer
    } else {
        return Err(
            ApiError::forbidden("user belongs to neither organisation of the space").into(),
        );
    };
    put_space_member(state, space_id, &target.user_id, role)?;
    audit::record(
        state,
        audit::event_by(AuditAction::MembershipAdd, authed)
            .object(space_id)
            .detail(format!(
                "space user={} role={}",
                target.user_id,
                space_role_label(role)
            )),
    )
    .map_err(ApiError::from)?;
    durable(state)?;
    Ok(no_content())
}

fn remove_space_member(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: &str,
    user_id: &str,
) -> Result<Response, Rejection> {
    let (space, me) = require_space_member(state, space_id, authed)?;
    let leaving_self = user_id == authed.user_id;
    if me.role == SpaceRole::Customer && !leaving_self {
        return Err(ApiError::forbidden("customers cannot remove members").into());
    }
    if user_id == space.owner_user_id {
        return Err(ApiError::forbidden("the owner cannot be removed").into());
    }
    let store = state.store.as_ref();
    if space_member(store, space_id, user_id)
        .map_err(ApiError::from)?
        .is_none()
    {
        return Err(ApiError::not_found("not a member").into());
    }
    let mut txn = Txn::new();
    txn.delete(SPACE_MEMBERS, &pair_key(space_id, user_id))
        .delete(USER_SPACES, &pair_key(user_id, space_id));
    store.commit(&txn).map_err(ApiError::from)?;
    audit::record(
        state,
        audit::event_by(AuditAction::MembershipRemove, authed)
            .object(space_id)
            .detail(format!("space user={user_id}")),
    )
    .map_err(ApiError::from)?;
    durable(state)?;
    Ok(no_content())
}

fn create_device_request(
    state: &AppState,
    client: ClientInfo,
    req: wire::DeviceRequestCreate,
) -> Result<Response, Rejection> {
    check_name("device_name", &req.device_name)?;
    let public_key = parse_public_key(&req.public_key)?;
    let store = state.store.as_ref();
    let owner = user(store, &req.user_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let now = state.now();
    let device = DeviceRecord {
        device_id: random_id(),
        user_id: owner.user_id.clone(),
        org_id: owner.org_id.clone(),
        name: req.device_name,
        public_key,
        status: DeviceStatus::Pending,
        created_at: now,
    };
    let request = DeviceRequest {
        request_id: random_id(),
        user_id: owner.user_id.clone(),
        device_id: device.device_id.clone(),
        public_key: hex::encode(public_key),
        status: RequestStatus::Pending,
        created_at: now,
        expires_at: now + DEVICE_REQUEST_TTL_SECS,
    };
    let mut txn = Txn::new();
    txn.put_json(DEVICES, device.device_id.as_bytes(), &device)
        .map_err(ApiError::from)?
        .put(
            USER_DEVICES,
            &pair_key(&owner.user_id, &device.device_id),
            b"",
        )
        .put_json(DEVICE_REQUESTS, request.request_id.as_bytes(), &request)
        .map_err(ApiError::from)?;
    store.commit(&txn).map_err(ApiError::from)?;
    // Unauthenticated: the entry names the claimed user in its detail, not as the actor.
    audit::record(
        state,
        client_event(AuditAction::DeviceRegister, &client)
            .device(device.device_id.clone())
            .org(owner.org_id.clone())
            .object(device.device_id.clone())
            .detail(format!(
                "pending user={} request={}",
                owner.user_id, request.request_id
            )),
    )
    .map_err(ApiError::from)?;
    durable(state)?;
    Ok(json_reply(StatusCode::CREATED, &request_info(&request)))
}

fn request_info(r: &DeviceRequest) -> wire::DeviceRequestInfo {
    wire::DeviceRequestInfo {
        request_id: r.request_id.clone(),
        user_id: r.user_id.clone(),
        device_id: r.device_id.clone(),
        public_key: r.public_key.clone(),
        status: match r.status {
            RequestStatus::Pending => wire::DeviceRequestStatus::Pending,
            RequestStatus::Approved => wire::DeviceRequestStatus::Approved,
        },
        expires_at: r.expires_at,
    }
}

fn load_request(state: &AppState, request_id: &str) -> Result<(Vec<u8>, DeviceRequest), ApiError> {
    let raw = state
        .store
        .get(DEVICE_REQUESTS, request_id.as_bytes())?
        .ok_or_else(|| ApiError::not_found("no such device request"))?;
    let r = crate::store::decode_json(DEVICE_REQUESTS, &raw)?;
    Ok((raw, r))
}

fn get_device_request(state: &AppState, request_id: &str) -> Result<Response, Rejection> {
    let (_, r) = load_request(state, request_id)?;
    Ok(ok_json(&request_info(&r)))
}

/// Activates the pending device of a request, atomically with marking it approved.
fn activate(state: &AppState, raw: &[u8], request: &DeviceRequest) -> Result<(), ApiError> {
    if request.status != RequestStatus::Pending {
        return Err(ApiError::conflict("device request already approved"));
    }
    if request.expires_at < state.now() {
        return Err(ApiError::Gone("device request expired".to_owned()));
    }
    let store = state.store.as_ref();
    let mut device: DeviceRecord = store
        .get_json(DEVICES, request.device_id.as_bytes())?
        .ok_or_else(|| ApiError::not_found("no such device"))?;
    if device.status != DeviceStatus::Pending {
        return Err(ApiError::conflict("device is not pending"));
    }
    device.status = DeviceStatus::Active;
    let mut approved = request.clone();
    approved.status = RequestStatus::Approved;
    let mut txn = Txn::new();
    txn.check(DEVICE_REQUESTS, request.request_id.as_bytes(), Some(raw))
        .put_json(DEVICE_REQUESTS, request.request_id.as_bytes(), &approved)?
        .put_json(DEVICES, device.device_id.as_bytes(), &device)?;
    store.commit(&txn)?;
    tracing::info!(user_id = %device.user_id, device_id = %device.device_id, "device approved");
    Ok(())
}

fn approve_device_request(
    state: &AppState,
    authed: &AuthedDevice,
    request_id: &str,
) -> Result<Response, Rejection> {
    let req: wire::ApproveDevice = authed.json()?;
    let (raw, request) = load_request(state, request_id)?;
    if request.user_id != authed.user_id {
        return Err(ApiError::forbidden("only the user's own devices approve a device").into());
    }
    if req.public_key != request.public_key {
        return Err(ApiError::bad_request("public_key does not match the request").into());
    }
    activate(state, &raw, &request)?;
    audit::record(
        state,
        audit::event_by(AuditAction::DeviceApprove, authed)
            .object(request.device_id.clone())
            .detail(format!("by=device request={}", request.request_id)),
    )
    .map_err(ApiError::from)?;
    durable(state)?;
    Ok(no_content())
}

fn approve_with_totp(
    state: &AppState,
    client: ClientInfo,
    request_id: &str,
    body: wire::TotpCode,
) -> Result<Response, Rejection> {
    let now = state.now();
    let (raw, request) = load_request(state, request_id)?;
    let user_key = format!("totp:{}", request.user_id);
    let ip_key = client.ip.map(|ip| format!("ip:{ip}")).unwrap_or_default();
    state.limiter.guard(&user_key, now)?;
    state.limiter.guard(&ip_key, now)?;
    let store = state.store.as_ref();
    let totp_raw = store
        .get(TOTP, request.user_id.as_bytes())
        .map_err(ApiError::from)?;
    let record: Option<TotpRecord> = match &totp_raw {
        Some(r) => Some(crate::store::decode_json(TOTP, r).map_err(ApiError::from)?),
        None => None,
    };
    let step = record
        .as_ref()
        .filter(|r| r.confirmed)
        .and_then(|r| totp::verify(&r.secret, &body.code, now).filter(|s| *s > r.last_step));
    let (Some(step), Some(mut record), Some(totp_raw)) = (step, record, totp_raw) else {
        state.limiter.record_failure(&user_key, now);
        state.limiter.record_failure(&ip_key, now);
        return Err(ApiError::unauthenticated("invalid TOTP code").into());
    };
    record.last_step = step;
    let mut txn = Txn::new();
    txn.check(TOTP, request.user_id.as_bytes(), Some(&totp_raw))
        .put_json(TOTP, request.user_id.as_bytes(), &record)
        .map_err(ApiError::from)?;
    store.commit(&txn).map_err(ApiError::from)?;
    activate(state, &raw, &request)?;
    let org_id = user(store, &request.user_id)
        .map_err(ApiError::from)?
        .map(|u| u.org_id);
    let mut event = client_event(AuditAction::DeviceApprove, &client)
        .actor(request.user_id.clone())
        .device(request.device_id.clone())
        .object(request.device_id.clone())
        .detail(format!("by=totp request={}", request.request_id));
    if let Some(org_id) = org_id {
        event = event.org(org_id);
    }
    audit::record(state, event).map_err(ApiError::from)?;
    durable(state)?;
    Ok(no_content())
}

fn totp_enrol(state: &AppState, authed: &AuthedDevice) -> Result<Response, Rejection> {
    let store = state.store.as_ref();
    if let Some(existing) = store
        .get_json::<TotpRecord>(TOTP, authed.user_id.as_bytes())
        .map_err(ApiError::from)?
    {
        if existing.confirmed {
            return Err(ApiError::conflict("TOTP is already enrolled").into());
        }
    }
    let mut secret = vec![0u8; 20];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
    let record = TotpRecord {
        secret,
        confirmed: false,
        last_step: 0,
    };
    store
        .put_json(TOTP, authed.user_id.as_bytes(), &record)
        .map_err(ApiError::from)?;
    durable(state)?;
    let b32 = totp::base32(&record.secret);
    Ok(json_reply(
        StatusCode::CREATED,
        &wire::TotpEnrolment {
            otpauth_uri: format!(
                "otpauth://totp/Sealroom:{}?secret={b32}&issuer=Sealroom&algorithm=SHA1&digits=6&period=30",
                authed.user_id
            ),
            secret: b32,
        },
    ))
}

fn totp_confirm(state: &AppState, authed: &AuthedDevice) -> Result<Response, Rejection> {
    let body: wire::TotpCode = authed.json()?;
    let now = state.now();
    let key = format!("totp:{}", authed.user_id);
    state.limiter.guard(&key, now)?;
    let store = state.store.as_ref();
    let mut record: TotpRecord = store
        .get_json(TOTP, authed.user_id.as_bytes())
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no TOTP enrolment in progress"))?;
    if record.confirmed {
        return Err(ApiError::conflict("TOTP is already enrolled").into());
    }
    let Some(step) = totp::verify(&record.secret, &body.code, now) else {
        state.limiter.record_failure(&key, now);
        return Err(ApiError::bad_request("invalid TOTP code").into());
    };
    record.confirmed = true;
    record.last_step = step;
    store
        .put_json(TOTP, authed.user_id.as_bytes(), &record)
        .map_err(ApiError::from)?;
    durable(state)?;
    Ok(no_content())
}
