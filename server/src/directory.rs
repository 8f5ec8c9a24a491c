//! The relay's directory of organisations, users and devices: the records and trees that request
//! authentication ([`crate::auth`]) and the audit trail ([`crate::audit`]) read, below the
//! account services ([`crate::accounts`]) that write them.

use serde::{Deserialize, Serialize};

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
