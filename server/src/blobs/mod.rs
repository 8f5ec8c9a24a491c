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
//!   (409 with the stored offset when the offset differs);
//! - `HEAD /v1/rooms/{room}/blobs/{blob}` -> `Upload-Offset`, `Upload-Length`;
//!   `GET /v1/rooms/{room}/blobs/{blob}/status` -> [`BlobStatus`];
//! - `GET /v1/rooms/{room}/blobs/{blob}` -> the bytes, honouring `Range` (206, 416);
//! - `DELETE /v1/rooms/{room}/blobs/{blob}` -> 204; `GET /v1/rooms/{room}/blobs` -> list.
//!
//! The bytes live in the [`BlobStore`] the configuration selects ([`backend`]): the local blob
//! directory by default, an S3 bucket when `SEALROOM_S3_BUCKET` is set.

pub mod data;
pub mod s3;
pub mod store;

use std::sync::Arc;

use bytes::Bytes;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use sealroom_wire::blobs::{
    BlobList, BlobStatus, CreateBlobRequest, OFFSET_CONTENT_TYPE, UPLOAD_CHECKSUM, UPLOAD_EXPIRES,
    UPLOAD_LENGTH, UPLOAD_OFFSET,
};

use sealroom_wire::audit::AuditAction;

use crate::accounts::{self, SpaceRole};
use crate::audit;
use crate::auth::{self, AuthedDevice};
use crate::error::ApiError;
use crate::events::{self, RelayEvent};
use crate::filters::{json_reply, no_content, ok_json, with_state};
use crate::rooms::data::{room_for_member, RoomRecord};
use crate::state::AppState;

pub use data::{delete_blob, delete_expired_uploads, delete_room_blobs_before, BlobError};
use data::{AppendLocks, BlobRecord, UploadLimits};
pub use store::{BlobStore, LocalBlobs};

use crate::config::Config;

/// The relay's blob backend, shared by every route and sweep.
struct Backend(Arc<dyn BlobStore>);

/// Opens the backend `config` selects: S3 when a bucket is configured, else the local blob
/// directory.
pub fn open_backend(config: &Config) -> Result<Arc<dyn BlobStore>, BlobError> {
    if config.s3.bucket.is_some() {
        Ok(Arc::new(s3::S3Blobs::open(&config.s3)?))
    } else {
        Ok(Arc::new(LocalBlobs::new(config.blob_dir())))
    }
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
            BlobError::Io(e) => ApiError::internal("blob file", &e),
            BlobError::Backend(e) => ApiError::internal("blob object storage", &e),
            BlobError::Store(e) => e.into(),
        }
    }
}

/// The configured upload limits: the space's limit, the user's quota, the expiry of unfinished
/// uploads.
fn upload_limits(state: &AppState) -> UploadLimits {
    UploadLimits {
        space_bytes: state.config.limits.max_space_bytes,
        user_bytes: state.config.quotas.max_user_blob_bytes,
        ttl_secs: i64::try_from(state.config.quotas.upload_ttl_secs).unwrap_or(i64::MAX),
    }
}

fn check_ids(room_id: &str, blob_id: Option<&str>) -> Result<(), ApiError> {
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Rejection> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(Rejection::from),
        Err(e) => Err(ApiError::internal("blocking task", &e).into()),
    }
}

fn member_room(state: &AppState, room_id: &str, device_id: &str) -> Result<RoomRecord, ApiError> {
    room_for_member(state.store.as_ref(), room_id, device_id).map_err(ApiError::from)
}

/// Appending to an upload is for the user who announced it (any of their devices, so an upload
/// can be resumed after a device's state was restored); other members get 403.
fn check_uploader(record: &BlobRecord, authed: &AuthedDevice) -> Result<(), ApiError> {
    if record.uploader_user != authed.user_id {
        return Err(ApiError::forbidden(
            "only the uploader appends to an upload",
        ));
    }
    Ok(())
}

/// Deleting a blob is for its uploader and for the provider's staff in the space (owner or
/// staff role); customer members may delete only their own uploads.
fn check_may_delete(
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

/// The blob routes.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    events::init(&state);
    state.insert_extension(AppendLocks::default());
    let chunk_limit = state.config.limits.max_chunk;

    let create = warp::path!("v1" / "rooms" / String / "blobs")
        .and(warp::post())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(create_blob);
    let list = warp::path!("v1" / "rooms" / String / "blobs")
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(list_blobs);
    let append = warp::path!("v1" / "rooms" / String / "blobs" / String)
        .and(warp::patch())
        .and(warp::header::headers_cloned())
        .and(auth::device_with_limit(state.clone(), chunk_limit))
        .and(with_state(state.clone()))
        .and_then(append_blob);
    let head = warp::path!("v1" / "rooms" / String / "blobs" / String)
        .and(warp::head())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(head_blob);
    let status = warp::path!("v1" / "rooms" / String / "blobs" / String / "status")
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(blob_status);
    let download = warp::path!("v1" / "rooms" / String / "blobs" / String)
        .and(warp::get())
        .and(warp::header::optional::<String>("range"))
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(download_blob);
    let delete = warp::path!("v1" / "rooms" / String / "blobs" / String)
        .and(warp::delete())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(delete_blob_route);

    spawn_expiry_sweep(&state);

    create
        .or(list)
        .unify()
        .or(append)
        .unify()
        .or(head)
        .unify()
        .or(status)
        .unify()
        .or(download)
        .unify()
        .or(delete)
        .unify()
        .boxed()
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
                delete_expired_uploads(sweep.store.as_ref(), blobs.as_ref(), sweep.now())
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

fn offset_headers(mut response: Response, record: &BlobRecord) -> Response {
    let headers = response.headers_mut();
    headers.insert(UPLOAD_OFFSET, HeaderValue::from(record.offset));
    headers.insert(UPLOAD_LENGTH, HeaderValue::from(record.length));
    if let Some(expires) = record.expires_at {
        headers.insert(UPLOAD_EXPIRES, HeaderValue::from(expires));
    }
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("tus-resumable", HeaderValue::from_static("1.0.0"));
    response
}

async fn create_blob(
    room_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Response, Rejection> {
    check_ids(&room_id, None)?;
    let req: CreateBlobRequest = authed.json()?;
    let record = blocking(move || {
        let room = member_room(&state, &room_id, &authed.device_id)?;
        let record = data::create(
            state.store.as_ref(),
            backend(&state)?.as_ref(),
            &room_id,
            &room.space_id,
            req.length,
            &upload_limits(&state),
            &authed.user_id,
            &authed.device_id,
            state.now(),
        )?;
        audit::record(
            &state,
            audit::event_by(AuditAction::BlobUploadCreate, &authed)
                .object(record.blob_id.clone())
                .size(record.length)
                .detail(format!("room={}", record.room_id)),
        )?;
        // An acknowledged upload must survive a crash so that it can be resumed.
        state.store.flush()?;
        Ok(record)
    })
    .await?;
    let mut response = json_reply(StatusCode::CREATED, &record.status());
    if let Ok(location) = HeaderValue::from_str(&format!(
        "/v1/rooms/{}/blobs/{}",
        record.room_id, record.blob_id
    )) {
        response.headers_mut().insert("location", location);
    }
    Ok(offset_headers(response, &record))
}

async fn list_blobs(
    room_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Response, Rejection> {
    check_ids(&room_id, None)?;
    let blobs = blocking(move || {
        member_room(&state, &room_id, &authed.device_id)?;
        Ok(data::list(state.store.as_ref(), &room_id)?
            .iter()
            .map(BlobRecord::status)
            .collect::<Vec<BlobStatus>>())
    })
    .await?;
    Ok(ok_json(&BlobList { blobs }))
}

async fn append_blob(
    room_id: String,
    blob_id: String,
    headers: HeaderMap,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Response, Rejection> {
    check_ids(&room_id, Some(&blob_id))?;
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.eq_ignore_ascii_case(OFFSET_CONTENT_TYPE) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "append bodies are {OFFSET_CONTENT_TYPE}"
        ))
        .into());
    }
    let offset = headers
        .get(UPLOAD_OFFSET)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| ApiError::malformed("Upload-Offset header missing or not a number"))?;
    let checksum = headers
        .get(UPLOAD_CHECKSUM)
        .map(|v| {
            v.to_str()
                .map_err(|_| BlobError::BadChecksum)
                .and_then(data::parse_checksum)
        })
        .transpose()
        .map_err(ApiError::from)?;
    let st = state.clone();
    let body: Bytes = authed.body.clone();
    let who = authed.clone();
    let result = tokio::task::spawn_blocking(move || {
        let room = member_room(&st, &room_id, &who.device_id)?;
        check_uploader(&data::get(st.store.as_ref(), &room_id, &blob_id)?, &who)?;
        let locks = st
            .extension::<AppendLocks>()
            .unwrap_or_else(|| Arc::new(AppendLocks::default()));
        let blobs = backend(&st)?;
        let record = data::append(
            st.store.as_ref(),
            blobs.as_ref(),
            &locks,
            &room_id,
            &blob_id,
            offset,
            &body,
            checksum,
            upload_limits(&st).ttl_secs,
            st.now(),
        );
        Ok::<_, ApiError>((room, record))
    })
    .await
    .map_err(|e| ApiError::internal("blocking task", &e))??;
    let (room, record) = result;
    let record = match record {
        Ok(record) => record,
        Err(BlobError::OffsetMismatch { offset }) => {
            let mut response = crate::error::error_reply(&ApiError::conflict(format!(
                "the upload is at offset {offset}"
            )));
            response
                .headers_mut()
                .insert(UPLOAD_OFFSET, HeaderValue::from(offset));
            return Ok(response);
        }
        Err(e) => return Err(ApiError::from(e).into()),
    };
    if record.complete() {
        let st = state.clone();
        let who = authed.clone();
        let done = record.clone();
        blocking(move || {
            audit::record(
                &st,
                audit::event_by(AuditAction::BlobUpload, &who)
                    .object(done.blob_id.clone())
                    .size(done.length)
                    .detail(format!("room={}", done.room_id)),
            )?;
            st.store.flush()?;
            Ok(())
        })
        .await?;
        events::publish(
            &state,
            RelayEvent::BlobCompleted {
                room_id: room.room_id,
                space_id: room.space_id,
                blob_id: record.blob_id.clone(),
                user_id: authed.user_id,
                device_id: authed.device_id,
                size: record.length,
            },
        );
    }
    Ok(offset_headers(no_content(), &record))
}

async fn head_blob(
    room_id: String,
    blob_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Response, Rejection> {
    check_ids(&room_id, Some(&blob_id))?;
    let record = blocking(move || {
        member_room(&state, &room_id, &authed.device_id)?;
        data::get(state.store.as_ref(), &room_id, &blob_id).map_err(ApiError::from)
    })
    .await?;
    Ok(offset_headers(no_content_ok(), &record))
}

fn no_content_ok() -> Response {
    warp::reply::with_status(warp::reply(), StatusCode::OK).into_response()
}

async fn blob_status(
    room_id: String,
    blob_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Response, Rejection> {
    check_ids(&room_id, Some(&blob_id))?;
    let record = blocking(move || {
        member_room(&state, &room_id, &authed.device_id)?;
        data::get(state.store.as_ref(), &room_id, &blob_id).map_err(ApiError::from)
    })
    .await?;
    Ok(offset_headers(ok_json(&record.status()), &record))
}

async fn delete_blob_route(
    room_id: String,
    blob_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Response, Rejection> {
    check_ids(&room_id, Some(&blob_id))?;
    let st = state.clone();
    let (room_id, blob_id) = blocking(move || {
        let room = member_room(&st, &room_id, &authed.device_id)?;
        let record = data::get(st.store.as_ref(), &room_id, &blob_id)?;
        check_may_delete(&st, &room, &record, &authed)?;
        delete_blob(st.store.as_ref(), backend(&st)?.as_ref(), &blob_id)?;
        audit::record(
            &st,
            audit::event_by(AuditAction::BlobDelete, &authed)
                .object(blob_id.clone())
                .size(record.length)
                .detail(format!("room={room_id}")),
        )?;
        st.store.flush()?;
        Ok((room_id, blob_id))
    })
    .await?;
    events::publish(&state, RelayEvent::BlobDeleted { room_id, blob_id });
    Ok(no_content())
}

async fn download_blob(
    room_id: String,
    blob_id: String,
    range: Option<String>,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Response, Rejection> {
    check_ids(&room_id, Some(&blob_id))?;
    let st = state.clone();
    let (record, opened) = blocking(move || {
        member_room(&st, &room_id, &authed.device_id)?;
        let record = data::get(st.store.as_ref(), &room_id, &blob_id)?;
        if !record.complete() {
            return Err(BlobError::Incomplete.into());
        }
        let Ok(range) = data::parse_range(range.as_deref(), record.length) else {
            return Ok((record, None));
        };
        let (status, start, end) = match range {
            Some(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.end),
            None => (StatusCode::OK, 0, record.length),
        };
        let bytes = backend(&st)?.read(&blob_id, record.length, start, end)?;
        let detail = if status == StatusCode::PARTIAL_CONTENT {
            format!("room={room_id} range={start}-{}", end.saturating_sub(1))
        } else {
            format!("room={room_id}")
        };
        audit::record(
            &st,
            audit::event_by(AuditAction::BlobDownload, &authed)
                .object(blob_id.clone())
                .size(end - start)
                .detail(detail),
        )?;
        Ok((record, Some((bytes, status, start, end))))
    })
    .await?;
    let length = record.length;
    let (bytes, status, start, end) = match opened {
        Some(opened) => opened,
        None => {
            let mut response = crate::error::error_reply(&ApiError::RangeNotSatisfiable(format!(
                "the blob has {length} bytes"
            )));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{length}")) {
                response.headers_mut().insert("content-range", v);
            }
            return Ok(response);
        }
    };
    let stream = futures_util::stream::unfold(bytes, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = warp::reply::stream(stream).into_response();
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert("content-length", HeaderValue::from(end - start));
    headers.insert("accept-ranges", HeaderValue::from_static("bytes"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{length}", end - 1)) {
            headers.insert("content-range", v);
        }
    }
    Ok(response)
}
