//! Blobs: resumable chunked uploads in the manner of tus 1.0 and ranged downloads, each blob
//! belonging to a room and readable only by the room's current member devices.
//!
//! Routes (all device-signed):
//! - `POST /v1/rooms/{room}/blobs` `{"length": n}` -> 201 [`BlobStatus`] (413 beyond the
//!   space's limit or the uploader's quota, checked against the announced length); an
//!   upload of any length (zero too: finish it with an empty `PATCH`) that stays unfinished
//!   expires and is deleted;
//! - `PATCH /v1/rooms/{room}/blobs/{blob}` with `Upload-Offset`, optional `Upload-Checksum:
//!   sha256 <b64>`, body `application/offset+octet-stream` -> 204 with the new `Upload-Offset`
//!   (409 with the stored offset when the offset differs; an append at most one chunk ahead
//!   first waits briefly for the stored offset to reach its own: [`waits`]);
//! - `HEAD /v1/rooms/{room}/blobs/{blob}` -> `Upload-Offset`, `Upload-Length`;
//!   `GET /v1/rooms/{room}/blobs/{blob}/status` -> [`BlobStatus`];
//! - `GET /v1/rooms/{room}/blobs/{blob}` -> the bytes, honouring `Range` (206, 416);
//! - `DELETE /v1/rooms/{room}/blobs/{blob}` -> 204; `GET /v1/rooms/{room}/blobs` -> list.
//!
//! The bytes live in the [`BlobStore`] the configuration selects ([`backend`]): the local blob
//! directory by default, an S3 bucket when `SEALROOM_S3_BUCKET` is set. The backends belong to
//! the storage layer (`crate::store::blobs`); this domain module names only the trait.

pub mod data;
pub mod recovery;
pub mod release;
pub mod scanner;
pub mod waits;

#[cfg(test)]
mod audit_tests;
#[cfg(test)]
mod recovery_tests;

use std::sync::Arc;

use sealroom_wire::audit::AuditAction;

use crate::accounts::{self, SpaceRole};
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::events;
use crate::rooms::data::{room_for_member, RoomRecord};
use crate::state::AppState;

pub use crate::store::blobs::BlobStore;
pub(crate) use data::AppendLocks;
pub use data::{
    delete_blob, delete_blob_with, delete_blobs_with, delete_expired_uploads, room_blobs_before,
    BlobError,
};
use data::{BlobRecord, UploadLimits};

use crate::config::Config;

/// The relay's blob backend, shared by every route and sweep.
struct Backend(Arc<dyn BlobStore>);

/// Opens the backend `config` selects (`crate::store::blobs::open`): S3 when a bucket is
/// configured, else the local blob directory.
pub fn open_backend(config: &Config) -> Result<Arc<dyn BlobStore>, BlobError> {
    Ok(crate::store::blobs::open(&config.s3, config.blob_dir())?)
}

/// Opens the configured backend once and keeps it in the state (start-up calls this, so a bad
/// S3 configuration stops the relay before it listens).
pub fn init_backend(state: &AppState) -> Result<Arc<dyn BlobStore>, BlobError> {
    if let Some(b) = state.extension::<Backend>() {
        return Ok(b.0.clone());
    }
    let opened = open_backend(&state.config)?;
    state.insert_extension(Backend(opened.clone()));
    Ok(opened)
}

/// The blob directory of the local backend; `None` when blobs live in S3 (backups then hold
/// the records only).
pub fn local_blob_dir(config: &Config) -> Option<std::path::PathBuf> {
    config.s3.bucket.is_none().then(|| config.blob_dir())
}

/// Brings unfinished uploads of the local backend up to the offsets their files hold durably
/// (appends whose record commits a crash lost: [`recovery::recover_offsets`]); start-up runs it
/// before serving. Nothing to do when blobs live in S3, whose offsets are in the records only.
pub fn recover_uploads(state: &AppState) -> Result<(), BlobError> {
    if local_blob_dir(&state.config).is_none() {
        return Ok(());
    }
    let blobs = init_backend(state)?;
    let moved = recovery::recover_offsets(
        state.store.as_ref(),
        blobs.as_ref(),
        upload_limits(state).ttl_secs,
        state.now(),
    )?;
    if moved > 0 {
        tracing::info!(
            uploads = moved,
            "upload offsets recovered from their blob files"
        );
    }
    Ok(())
}

/// The relay's blob backend (opened on first use when start-up did not).
pub fn backend(state: &AppState) -> Result<Arc<dyn BlobStore>, BlobError> {
    init_backend(state)
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound => ApiError::not_found("no such blob"),
            e @ (BlobError::TooLarge { .. } | BlobError::UserQuota { .. }) => {
                ApiError::too_large(e.to_string())
            }
            e @ BlobError::OffsetMismatch { .. } => ApiError::conflict(e.to_string()),
            e @ (BlobError::PastEnd { .. }
            | BlobError::ChecksumMismatch
            | BlobError::BadChecksum) => ApiError::bad_request(e.to_string()),
            e @ (BlobError::Locked | BlobError::Incomplete) => ApiError::conflict(e.to_string()),
            BlobError::Expired => ApiError::Gone("the upload expired".to_owned()),
            BlobError::Busy(what) => {
                ApiError::unavailable(format!("the relay is busy ({what}), retry"))
            }
            BlobError::Io(e) => ApiError::internal("blob file", &e),
            BlobError::Backend(e) => ApiError::internal("blob object storage", &e),
            BlobError::Store(e) => e.into(),
        }
    }
}

/// The configured upload limits: the space's limit, the user's quota, the expiry of unfinished
/// uploads.
pub(crate) fn upload_limits(state: &AppState) -> UploadLimits {
    UploadLimits {
        space_bytes: state.config.limits.max_space_bytes,
        user_bytes: state.config.quotas.max_user_blob_bytes,
        ttl_secs: i64::try_from(state.config.quotas.upload_ttl_secs).unwrap_or(i64::MAX),
    }
}

pub(crate) fn check_ids(room_id: &str, blob_id: Option<&str>) -> Result<(), ApiError> {
    if room_id.is_empty()
        || room_id.len() > 256
        || !room_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError::not_found("no such room"));
    }
    if blob_id.is_some_and(|b| !data::valid_blob_id(b)) {
        return Err(ApiError::not_found("no such blob"));
    }
    Ok(())
}

pub(crate) fn member_room(
    state: &AppState,
    room_id: &str,
    device_id: &str,
) -> Result<RoomRecord, ApiError> {
    room_for_member(state.store.as_ref(), room_id, device_id).map_err(ApiError::from)
}

/// Appending to an upload is for the user who announced it (any of their devices, so an upload
/// can be resumed after a device's state was restored); other members get 403.
pub(crate) fn check_uploader(record: &BlobRecord, authed: &AuthedDevice) -> Result<(), ApiError> {
    if record.uploader_user != authed.user_id {
        return Err(ApiError::forbidden(
            "only the uploader appends to an upload",
        ));
    }
    Ok(())
}

/// Deleting a blob is for its uploader and for the provider's staff in the space (owner or
/// staff role); customer members may delete only their own uploads.
pub(crate) fn check_may_delete(
    state: &AppState,
    room: &RoomRecord,
    record: &BlobRecord,
    authed: &AuthedDevice,
) -> Result<(), ApiError> {
    if record.uploader_user == authed.user_id {
        return Ok(());
    }
    let role = accounts::space_member(state.store.as_ref(), &room.space_id, &authed.user_id)?
        .map(|m| m.role);
    match role {
        Some(SpaceRole::Owner | SpaceRole::Staff) => Ok(()),
        _ => Err(ApiError::forbidden(
            "only the uploader or the space's staff delete a blob",
        )),
    }
}

/// Sets up what the blob handlers share (the event bus, the per-blob append locks) and starts
/// the expiry sweep of unfinished uploads; called once when the routes are built.
pub fn init(state: &AppState) {
    events::init(state);
    state.insert_extension(AppendLocks::default());
    state.insert_extension(waits::OffsetWaits::default());
    spawn_expiry_sweep(state);
}

/// Announces an upload of `length` bytes in `room` for `authed` (`POST .../blobs`): the
/// record, its holds of `hold_kinds` (a held blob never exists without them) and its
/// `blob.upload_create` entry in one transaction, then flushed, as an acknowledged upload must
/// survive a crash to be resumed.
pub(crate) fn create_upload(
    state: &AppState,
    room: &RoomRecord,
    length: u64,
    hold_kinds: &[String],
    authed: &AuthedDevice,
) -> Result<BlobRecord, ApiError> {
    let hold = if hold_kinds.is_empty() {
        String::new()
    } else {
        format!(" hold={}", hold_kinds.join(","))
    };
    let record = data::create_with(
        state.store.as_ref(),
        backend(state)?.as_ref(),
        &room.room_id,
        &room.space_id,
        length,
        &upload_limits(state),
        &authed.user_id,
        &authed.device_id,
        state.now(),
        &|txn, record| {
            if !hold_kinds.is_empty() {
                release::hold_in(txn, record, hold_kinds)?;
            }
            let event = crate::audit::event_by(AuditAction::BlobUploadCreate, authed)
                .object(record.blob_id.clone())
                .size(record.length)
                .detail(format!("room={}{hold}", record.room_id));
            crate::audit::within(state, txn, vec![event]);
            Ok(())
        },
    )?;
    state.store.flush()?;
    Ok(record)
}

/// The `blob.upload` entry of the append of `authed` that completed `done` (any length, zero
/// too), committed with the record that says so ([`data::append_checked`]'s `on_complete`).
pub(crate) fn upload_entry(
    state: &AppState,
    authed: &AuthedDevice,
    done: &BlobRecord,
) -> crate::store::SharedDerive {
    crate::audit::AuditAppend::new(
        crate::audit::now_ms(state),
        vec![crate::audit::event_by(AuditAction::BlobUpload, authed)
            .object(done.blob_id.clone())
            .size(done.length)
            .detail(format!("room={}", done.room_id))],
    )
}

/// Adds the audit entry of an expired unfinished upload's deletion to `txn` (`blob.delete`, no
/// actor: the relay deleted it).
fn expiry_audit(state: &AppState, txn: &mut crate::store::Txn, record: &BlobRecord) {
    let event = crate::audit::AuditEvent::new(sealroom_wire::audit::AuditAction::BlobDelete)
        .object(record.blob_id.clone())
        .size(record.length)
        .detail(format!("room={} expired unfinished upload", record.room_id));
    crate::audit::within(state, txn, vec![event]);
}

/// Deletes expired unfinished uploads every `quotas.upload_sweep_secs` (when a Tokio runtime
/// is running).
fn spawn_expiry_sweep(state: &AppState) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let st = state.clone();
    let every = std::time::Duration::from_secs(state.config.quotas.upload_sweep_secs.max(1));
    handle.spawn(async move {
        let mut shutdown = st.shutdown_signal();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => break,
            }
            let sweep = st.clone();
            let result = tokio::task::spawn_blocking(move || {
                // With several instances on one store, only the leader expires uploads.
                if !crate::store::lead(sweep.store.as_ref(), "upload_expiry") {
                    return Ok(Vec::new());
                }
                let blobs = backend(&sweep)?;
                // Each expired upload and its audit entry: one transaction.
                delete_expired_uploads(
                    sweep.store.as_ref(),
                    blobs.as_ref(),
                    sweep.now(),
                    &|txn, record| expiry_audit(&sweep, txn, record),
                )
            })
            .await;
            match result {
                Ok(Ok(deleted)) => {
                    for blob_id in deleted {
                        tracing::info!(blob_id = %blob_id, "expired unfinished upload deleted");
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "upload expiry sweep failed"),
                Err(e) => tracing::warn!(error = %e, "upload expiry sweep task failed"),
            }
        }
    });
}
