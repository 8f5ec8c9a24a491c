//! Organisations, users, devices, roles, spaces, invitations, device approval and TOTP.

use serde::{Deserialize, Serialize};
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::auth::{self, AuthedDevice};
use crate::error::ApiError;
use crate::filters::{ok_json, with_state};
use crate::ids::{random_token, token_digest};
use crate::state::AppState;
use crate::store::{Store, StoreError, StoreExt};

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

/// The account routes.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let me = warp::path!("v1" / "me")
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state))
        .and_then(|authed: AuthedDevice, state: AppState| async move { me(&state, &authed) });
    me.boxed()
}

/// What `GET /v1/me` answers.
#[derive(Debug, Serialize)]
struct MeResponse {
    org_id: String,
    user_id: String,
    device_id: String,
    role: Role,
    name: String,
}

fn me(state: &AppState, authed: &AuthedDevice) -> Result<Response, Rejection> {
    let user = state
        .store
        .get_json::<UserRecord>(USERS, authed.user_id.as_bytes())
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(ok_json(&MeResponse {
        org_id: authed.org_id.clone(),
        user_id: authed.user_id.clone(),
        device_id: authed.device_id.clone(),
        role: authed.role,
        name: user.name,
    }))
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
    let existing = std::fs::read_to_string(&path).ok().map(|t| t.trim().to_owned());
    let token = match existing {
        Some(t) if store.get(META, META_SETUP_DIGEST)?.as_deref() == Some(token_digest(&t).as_bytes()) => t,
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
