//! Erasing a user: their devices (so no request of theirs authenticates again), each device's
//! key packages and welcome mailbox, their notification preference and pending digest, and the
//! user record (name, e-mail). Recorded in the audit trail, which keeps ids only.
//!
//! Route: `POST /v1/users/{user_id}/erase` (organisation admins; an admin of the provider
//! organisation may erase any user, another organisation's admin only their own users; nobody
//! erases themselves).
//!
//! Ciphertext the user posted stays in their rooms (it belongs to the room, and retention
//! policies govern it); their devices stay MLS leaves until a member commits their removal,
//! but can no longer authenticate to the relay.

use serde::Serialize;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use sealroom_wire::audit::AuditAction;

use crate::accounts::{DeviceRecord, OrgKind, OrgRecord, Role, UserRecord, DEVICES, ORGS, USERS};
use crate::audit;
use crate::auth::{self, AuthedDevice};
use crate::error::ApiError;
use crate::filters::{ok_json, with_state};
use crate::state::AppState;
use crate::store::{decode_json, Store, StoreError, StoreExt};

/// What an erasure removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    /// The erased user.
    pub user_id: String,
    /// Devices removed (with their key packages and mailboxes).
    pub devices: Vec<String>,
}

/// Erases `user_id` from `store`. Returns `None` when there is no such user.
pub fn erase_user(store: &dyn Store, user_id: &str) -> Result<Option<ErasureReport>, StoreError> {
    if store.get(USERS, user_id.as_bytes())?.is_none() {
        return Ok(None);
    }
    let mut devices = Vec::new();
    let all: Vec<(Vec<u8>, Vec<u8>)> =
        store.scan_prefix(DEVICES, &[])?.collect::<Result<_, _>>()?;
    for (key, value) in all {
        let device: DeviceRecord = decode_json(DEVICES, &value)?;
        if device.user_id == user_id {
            // The device record first: from here on it can no longer authenticate.
            store.delete(DEVICES, &key)?;
            crate::rooms::data::erase_device(store, &device.device_id)?;
            devices.push(device.device_id);
        }
    }
    crate::notify::engine::forget_user(store, user_id)?;
    store.delete(USERS, user_id.as_bytes())?;
    Ok(Some(ErasureReport {
        user_id: user_id.to_owned(),
        devices,
    }))
}

/// The erasure route.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "users" / String / "erase")
        .and(warp::post())
        .and(auth::device(state.clone()))
        .and(with_state(state))
        .and_then(
            |user_id: String, authed: AuthedDevice, state: AppState| async move {
                erase(&state, &authed, &user_id).map_err(Rejection::from)
            },
        )
        .boxed()
}

fn erase(state: &AppState, authed: &AuthedDevice, user_id: &str) -> Result<Response, ApiError> {
    if authed.role != Role::Admin {
        return Err(ApiError::forbidden("only organisation admins erase users"));
    }
    if authed.user_id == user_id {
        return Err(ApiError::bad_request("an admin cannot erase themselves"));
    }
    let store = state.store.as_ref();
    let target = store
        .get_json::<UserRecord>(USERS, user_id.as_bytes())?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let provider_admin = store
        .get_json::<OrgRecord>(ORGS, authed.org_id.as_bytes())?
        .is_some_and(|o| o.kind == OrgKind::Provider);
    if !provider_admin && target.org_id != authed.org_id {
        return Err(ApiError::not_found("no such user"));
    }
    let report = erase_user(store, user_id)?.ok_or_else(|| ApiError::not_found("no such user"))?;
    audit::record(
        state,
        audit::event_by(AuditAction::UserErase, authed)
            .object(user_id)
            .size(report.devices.len() as u64)
            .detail(format!(
                "org={} devices={}",
                target.org_id,
                report.devices.len()
            )),
    )?;
    Ok(ok_json(&report))
}
