//! Retention: per-space retention periods and per-message expiry, enforced by a background
//! task that deletes ciphertext (application messages and blobs) and audits what it deleted.
//!
//! Routes: `GET`/`PUT /v1/spaces/{space_id}/retention` ([`RetentionPolicy`]; provider admins
//! and staff).
//!
//! Settings from the environment:
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `SEALROOM_RETENTION_TICK_SECS` | how often the sweep runs | 60 |
//! | `SEALROOM_ALLOW_TEST_CLOCK` | `1` enables the next variable (tests only) | unset |
//! | `SEALROOM_TEST_CLOCK_OFFSET_SECS` | seconds added to the sweep's clock, so a test can make ciphertext "days old" without waiting | 0 |
//!
//! The offset shifts only the retention sweep's idea of "now", never stored timestamps or
//! signature freshness, and is ignored unless `SEALROOM_ALLOW_TEST_CLOCK=1`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use sealroom_wire::audit::AuditAction;
use sealroom_wire::notify::{RetentionPolicy, MAX_RETENTION_DAYS};

use crate::accounts::{self, Role, SpaceRole};
use crate::audit::{self, AuditEvent};
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::reply::{ok_json, Reply};
use crate::rooms::data::{delete_expired_with, messages_before, RoomRecord, DELETE_BATCH, ROOMS};
use crate::state::AppState;
use crate::store::{decode_json, Store, StoreError, StoreExt, Txn};

/// Tree: space id -> [`StoredPolicy`].
pub const POLICY_TREE: &str = "retention_policy";

const DAY_SECS: i64 = 86_400;

/// A stored retention policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// Days ciphertext is kept.
    pub days: u32,
}

/// What one sweep deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired (disappearing) messages deleted.
    pub expired_messages: usize,
    /// Messages deleted by retention policies.
    pub retention_messages: usize,
    /// Blobs deleted by retention policies.
    pub retention_blobs: usize,
}

/// The retention clock offset (seconds), honoured only with `SEALROOM_ALLOW_TEST_CLOCK=1`.
pub fn test_clock_offset() -> i64 {
    if std::env::var("SEALROOM_ALLOW_TEST_CLOCK").as_deref() != Ok("1") {
        return 0;
    }
    std::env::var("SEALROOM_TEST_CLOCK_OFFSET_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0)
}

/// Starts the sweep task; it stops at shutdown.
pub fn spawn(state: AppState) {
    let tick = std::env::var("SEALROOM_RETENTION_TICK_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(60)
        .max(1);
    let offset = test_clock_offset();
    if offset != 0 {
        tracing::warn!(
            offset_secs = offset,
            "retention test clock offset in effect"
        );
    }
    tokio::spawn(async move {
        let mut shutdown = state.shutdown_signal();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(tick)) => {}
                _ = shutdown.changed() => break,
            }
            let now = state.now().saturating_add(offset);
            let st = state.clone();
            // With several instances on one store, only the leader sweeps.
            let result = tokio::task::spawn_blocking(move || {
                if !crate::store::lead(st.store.as_ref(), "retention_sweep") {
                    return Ok(SweepReport::default());
                }
                sweep(&st, now)
            })
            .await;
            match result {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "retention sweep failed"),
                Err(e) => tracing::warn!(error = %e, "retention sweep task failed"),
            }
        }
    });
}

/// The policy of a space, if one is set.
pub fn policy(store: &dyn Store, space_id: &str) -> Result<Option<StoredPolicy>, StoreError> {
    store.get_json(POLICY_TREE, space_id.as_bytes())
}

/// Every room of `space_id`.
pub fn rooms_of_space(store: &dyn Store, space_id: &str) -> Result<Vec<String>, StoreError> {
    let mut rooms = Vec::new();
    for item in store.scan_prefix(ROOMS, &[])? {
        let (_, value) = item?;
        let room: RoomRecord = decode_json(ROOMS, &value)?;
        if room.space_id == space_id {
            rooms.push(room.room_id);
        }
    }
    Ok(rooms)
}

/// One sweep at time `now` (Unix seconds): deletes expired messages, then, for every space
/// with a policy, messages and blobs received at or before `now - days`. Each deletion batch
/// ([`DELETE_BATCH`] messages and blobs at most) is one transaction with its audit entry: a
/// batch is deleted and audited, or neither.
pub fn sweep(state: &AppState, now: i64) -> Result<SweepReport, ApiError> {
    let store = state.store.as_ref();
    let expired = delete_expired_with(store, now, &|txn, n| {
        audit::within(
            state,
            txn,
            vec![AuditEvent::new(AuditAction::MessageExpire)
                .size(n as u64)
                .detail(format!("messages={n}"))],
        );
    })
    .map_err(audit::txn_error)?;
    let mut report = SweepReport {
        expired_messages: expired,
        ..SweepReport::default()
    };
    let policies: Vec<(Vec<u8>, Vec<u8>)> = store
        .scan_prefix(POLICY_TREE, &[])?
        .collect::<Result<_, _>>()?;
    for (key, value) in policies {
        let Ok(space_id) = String::from_utf8(key) else {
            continue;
        };
        let policy: StoredPolicy = decode_json(POLICY_TREE, &value)?;
        let cutoff = now.saturating_sub(i64::from(policy.days).saturating_mul(DAY_SECS));
        for room_id in rooms_of_space(store, &space_id)? {
            let messages = messages_before(store, &room_id, cutoff)?;
            let blob_ids = crate::blobs::room_blobs_before(store, &room_id, cutoff)?;
            let batches = messages.len().max(blob_ids.len()).div_ceil(DELETE_BATCH);
            for i in 0..batches {
                let range =
                    |len: usize| (i * DELETE_BATCH).min(len)..((i + 1) * DELETE_BATCH).min(len);
                let batch = &messages[range(messages.len())];
                let blobs = &blob_ids[range(blob_ids.len())];
                let with = |txn: &mut Txn, deleted: &[String]| {
                    for m in batch {
                        m.delete_in(txn);
                    }
                    let event = AuditEvent::new(AuditAction::RetentionDelete)
                        .object(room_id.clone())
                        .detail(format!(
                            "space={space_id} days={} messages={} blobs={}",
                            policy.days,
                            batch.len(),
                            deleted.len()
                        ));
                    audit::within(state, txn, vec![event]);
                };
                let deleted = crate::blobs::backend(state)
                    .and_then(|b| crate::blobs::delete_blobs_with(store, b.as_ref(), blobs, &with))
                    .map_err(|e| ApiError::internal("retention", &e))?;
                report.retention_messages += batch.len();
                report.retention_blobs += deleted.len();
            }
        }
    }
    Ok(report)
}

/// Who manages a space's retention: an admin of the space's provider organisation, or a staff
/// member of the space. Unknown spaces, and spaces the caller cannot see, answer 404 (no existence
/// oracle); customers get 403.
fn check_access(state: &AppState, authed: &AuthedDevice, space_id: &str) -> Result<(), ApiError> {
    sealroom_wire::check_id(space_id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match authed.role {
        Role::Admin => match accounts::space(state.store.as_ref(), space_id)? {
            Some(space) if space.provider_org_id == authed.org_id => Ok(()),
            _ => Err(ApiError::not_found("no such space")),
        },
        Role::Staff => {
            let (_, me) = accounts::require_space_member(state, space_id, authed)?;
            if me.role != SpaceRole::Customer {
                Ok(())
            } else {
                Err(ApiError::forbidden(
                    "only provider admins and staff manage retention",
                ))
            }
        }
        _ => Err(ApiError::forbidden(
            "only provider admins and staff manage retention",
        )),
    }
}

pub(crate) fn get_policy(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: &str,
) -> Result<Reply, ApiError> {
    check_access(state, authed, space_id)?;
    let p = policy(state.store.as_ref(), space_id)?;
    Ok(ok_json(&RetentionPolicy {
        days: p.map(|p| p.days),
    }))
}

pub(crate) fn put_policy(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: &str,
) -> Result<Reply, ApiError> {
    check_access(state, authed, space_id)?;
    let body: RetentionPolicy = authed.json()?;
    // The policy and its audit entry: one transaction.
    let mut txn = Txn::new();
    match body.days {
        Some(days) if days == 0 || days > MAX_RETENTION_DAYS => {
            return Err(ApiError::bad_request(format!(
                "days must be 1 to {MAX_RETENTION_DAYS}"
            )));
        }
        Some(days) => {
            txn.put_json(POLICY_TREE, space_id.as_bytes(), &StoredPolicy { days })?;
        }
        None => {
            txn.delete(POLICY_TREE, space_id.as_bytes());
        }
    }
    let event = audit::event_by(AuditAction::RetentionPolicySet, authed)
        .object(space_id)
        .detail(match body.days {
            Some(d) => format!("days={d}"),
            None => "days=none".to_owned(),
        });
    audit::commit_with(state, txn, vec![event])?;
    Ok(ok_json(&body))
}

#[cfg(test)]
mod tests;
