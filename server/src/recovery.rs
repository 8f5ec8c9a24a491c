//! Recovery backups: one opaque ciphertext per user, sealed on the user's device under a
//! recovery passphrase (Argon2id) and kept here so that a user who loses every device can
//! restore their room content keys on a new one. The relay never sees the passphrase or
//! anything derived from it; it stores, returns and deletes the bytes for the user's own
//! devices only, and writes an audit entry for each.
//!
//! `PUT /v1/me/recovery` (the body is the sealed backup, replacing any earlier one),
//! `GET /v1/me/recovery` (404 when there is none; 403 `link_waiting` with `Retry-After` for a
//! device linked by TOTP alone during its waiting period), `DELETE /v1/me/recovery`.

use sealroom_wire::audit::AuditAction;
use sealroom_wire::recovery::{RecoveryInfo, RECOVERY_MAGIC, RECOVERY_MIN_LEN};

use crate::audit;
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::reply::{no_content, ok_json, Reply};
use crate::state::AppState;
use crate::store::Txn;

/// Store tree of recovery backups, keyed by user id.
pub const RECOVERY: &str = "recovery";

pub(crate) fn put_backup(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let body = &authed.body;
    if body.len() < RECOVERY_MIN_LEN || !body.starts_with(RECOVERY_MAGIC) {
        return Err(ApiError::bad_request(
            "not a sealed recovery backup (wrong magic or too short)",
        ));
    }
    // The backup and its audit entry: one transaction.
    let mut txn = Txn::new();
    txn.put(RECOVERY, authed.user_id.as_bytes(), body);
    let event = audit::event_by(AuditAction::RecoveryStore, authed)
        .object(authed.user_id.clone())
        .size(body.len() as u64);
    audit::commit_with(state, txn, vec![event])?;
    state.store.flush()?;
    Ok(ok_json(&RecoveryInfo {
        length: body.len() as u64,
    }))
}

pub(crate) fn get_backup(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    // A device linked by a TOTP code alone waits (`enrolment.totp_link_wait_secs`) unless an
    // existing device approved it too: a guessed or stolen code alone does not yield the
    // backup at once, and the user has time to cancel (revoke) the device.
    if let Some(until) = crate::accounts::link_wait_until(state.store.as_ref(), &authed.device_id)?
    {
        let now = state.now();
        if until > now {
            let body = crate::error::ErrorBody {
                code: "link_waiting",
                message: "this device was linked by a TOTP code alone: the recovery backup opens \
                          after the waiting period or once another device of the user approves it"
                    .to_owned(),
            };
            let retry_after = u64::try_from(until - now).unwrap_or(1);
            return Ok(Reply::json(crate::reply::FORBIDDEN, &body)
                .with_header("retry-after", retry_after.to_string()));
        }
    }
    let bytes = state
        .store
        .get(RECOVERY, authed.user_id.as_bytes())?
        .ok_or_else(|| ApiError::not_found("no recovery backup"))?;
    audit::record(
        state,
        audit::event_by(AuditAction::RecoveryFetch, authed)
            .object(authed.user_id.clone())
            .size(bytes.len() as u64),
    )?;
    Ok(Reply::bytes(
        crate::reply::OK,
        bytes,
        "application/octet-stream",
    ))
}

pub(crate) fn delete_backup(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let key = authed.user_id.as_bytes();
    let old = state
        .store
        .get(RECOVERY, key)?
        .ok_or_else(|| ApiError::not_found("no recovery backup"))?;
    // The deletion and its audit entry: one transaction (a backup replaced meanwhile is a
    // conflict, not deleted unseen).
    let mut txn = Txn::new();
    txn.check(RECOVERY, key, Some(&old)).delete(RECOVERY, key);
    let event = audit::event_by(AuditAction::RecoveryDelete, authed).object(authed.user_id.clone());
    audit::commit_with(state, txn, vec![event])?;
    state.store.flush()?;
    Ok(no_content())
}

/// Adds to `txn` the removal of a user's recovery backup (erasure).
pub fn erase(txn: &mut Txn, user_id: &str) {
    txn.delete(RECOVERY, user_id.as_bytes());
}
