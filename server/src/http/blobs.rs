//! The blob routes (resumable uploads in the tus style, ranged downloads): request parsing,
//! streamed replies and the offset headers here; storage, limits and permission checks in
//! [`crate::blobs`].

use std::sync::Arc;

use bytes::Bytes;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use sealroom_wire::audit::AuditAction;
use sealroom_wire::blobs::{
    BlobList, BlobStatus, CreateBlobRequest, OFFSET_CONTENT_TYPE, UPLOAD_CHECKSUM, UPLOAD_EXPIRES,
    UPLOAD_LENGTH, UPLOAD_OFFSET,
};

use crate::audit;
use crate::auth::AuthedDevice;
use crate::blobs::data::{self, BlobRecord};
use crate::blobs::waits::{OffsetWaits, OFFSET_WAIT};
use crate::blobs::{
    backend, check_ids, check_may_delete, check_uploader, delete_blob_with, member_room, release,
    upload_limits, AppendLocks, BlobError,
};
use crate::error::ApiError;
use crate::events::{self, RelayEvent};
use crate::rooms::data::RoomRecord;
use crate::state::AppState;

use super::append_permits::{authenticated_append, AppendPermit};
use super::reject::error_reply;
use super::{auth, json_reply, no_content, ok_json, with_state};

/// The blob routes.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    crate::blobs::init(&state);

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
        .and(authenticated_append(&state))
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Rejection> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(Rejection::from),
        Err(e) => Err(ApiError::internal("blocking task", &e).into()),
    }
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
    let hold_kinds = req.hold_kinds();
    if hold_kinds.iter().any(|k| !release::valid_kind(k)) {
        return Err(ApiError::bad_request("unknown hold kind").into());
    }
    let record = blocking(move || {
        let room = member_room(&state, &room_id, &authed.device_id)?;
        crate::blobs::create_upload(&state, &room, req.length, &hold_kinds, &authed)
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
    _permit: AppendPermit,
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
    let (room, record) =
        append_or_wait(&state, &room_id, &blob_id, offset, checksum, &authed).await?;
    let record = match record {
        Ok(record) => record,
        Err(BlobError::OffsetMismatch { offset }) => {
            let mut response = error_reply(&ApiError::conflict(format!(
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

/// Appends the body of `authed` at `offset`. An append ahead of the stored offset by at most
/// `limits.max_chunk` bytes (or one that finds another append of the blob running) waits for
/// it ([`crate::blobs::waits`]: one waiting append per blob, [`OFFSET_WAIT`] at most, its
/// permit held meanwhile), then is appended by the same checked path; otherwise, and when the
/// offset never arrives, the answer is the stored append's as before.
async fn append_or_wait(
    state: &AppState,
    room_id: &str,
    blob_id: &str,
    offset: u64,
    checksum: Option<[u8; 32]>,
    authed: &AuthedDevice,
) -> Result<(RoomRecord, Result<BlobRecord, BlobError>), Rejection> {
    let waits = state.extension_or_default::<OffsetWaits>();
    let ahead = state.config.limits.max_chunk;
    let until = tokio::time::Instant::now() + OFFSET_WAIT;
    let mut waiter = None;
    loop {
        let (room, record) = try_append(state, room_id, blob_id, offset, checksum, authed).await?;
        if record.is_ok() {
            waits.moved(blob_id);
        }
        let may_wait = match &record {
            Err(BlobError::OffsetMismatch { offset: stored }) => {
                *stored < offset && offset - stored <= ahead
            }
            Err(BlobError::Locked) => true,
            _ => false,
        };
        if !may_wait {
            return Ok((room, record));
        }
        match waiter.as_mut() {
            // Entered now: try once more, so that an append that ended between the attempt
            // above and entering is not missed.
            None => match waits.enter(blob_id) {
                Some(entered) => waiter = Some(entered),
                None => return Ok((room, record)),
            },
            // Then try again only once the stored offset reached this append's (a read, no
            // lock: waiting appends never hold up the one they wait for).
            Some(w) => loop {
                if !w.next(until).await {
                    return Ok((room, record));
                }
                if stored_offset(state, room_id, blob_id).await? >= offset {
                    break;
                }
            },
        }
    }
}

/// The stored offset of a blob (`u64::MAX` when it is gone: the next attempt says why).
async fn stored_offset(state: &AppState, room_id: &str, blob_id: &str) -> Result<u64, Rejection> {
    let st = state.clone();
    let (room_id, blob_id) = (room_id.to_owned(), blob_id.to_owned());
    blocking(move || {
        Ok(data::get(st.store.as_ref(), &room_id, &blob_id)
            .map(|r| r.offset)
            .unwrap_or(u64::MAX))
    })
    .await
}

/// One attempt of an append: the membership and uploader checks, then
/// [`data::append_checked`] (the stored offset compared under the blob's lock).
async fn try_append(
    state: &AppState,
    room_id: &str,
    blob_id: &str,
    offset: u64,
    checksum: Option<[u8; 32]>,
    authed: &AuthedDevice,
) -> Result<(RoomRecord, Result<BlobRecord, BlobError>), Rejection> {
    let st = state.clone();
    let (room_id, blob_id) = (room_id.to_owned(), blob_id.to_owned());
    let body: Bytes = authed.body.clone();
    let who = authed.clone();
    let result = tokio::task::spawn_blocking(move || {
        let room = member_room(&st, &room_id, &who.device_id)?;
        check_uploader(&data::get(st.store.as_ref(), &room_id, &blob_id)?, &who)?;
        let locks = st
            .extension::<AppendLocks>()
            .unwrap_or_else(|| Arc::new(AppendLocks::default()));
        let blobs = backend(&st)?;
        // The body was hashed once, for the signature: its checksum is compared with that.
        let checksum = checksum.map(|expected| data::Checksum {
            expected,
            body: who.body_sha256,
        });
        let record = data::append_checked(
            st.store.as_ref(),
            blobs.as_ref(),
            &locks,
            &room_id,
            &blob_id,
            offset,
            (&body, &who.body_sha256),
            checksum,
            upload_limits(&st).ttl_secs,
            st.now(),
            // The upload's audit entry is committed with the record that completes it.
            Some(&|done: &data::BlobRecord| crate::blobs::upload_entry(&st, &who, done)),
        );
        Ok::<_, ApiError>((room, record))
    })
    .await
    .map_err(|e| ApiError::internal("blocking task", &e))??;
    Ok(result)
}

async fn head_blob(
    room_id: String,
    blob_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Response, Rejection> {
    let record = member_blob(room_id, blob_id, authed, state).await?;
    Ok(offset_headers(no_content_ok(), &record))
}

/// The record of `blob_id` in `room_id`, for a device that is a member of the room.
async fn member_blob(
    room_id: String,
    blob_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<data::BlobRecord, Rejection> {
    check_ids(&room_id, Some(&blob_id))?;
    blocking(move || {
        member_room(&state, &room_id, &authed.device_id)?;
        data::get(state.store.as_ref(), &room_id, &blob_id).map_err(ApiError::from)
    })
    .await
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
    let record = member_blob(room_id, blob_id, authed, state).await?;
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
        // The record, the usage counters, the scan holds and the `blob.delete` entry go in
        // one transaction: no deletion without its audit entry.
        let entry = audit::AuditAppend::new(
            audit::now_ms(&st),
            vec![audit::event_by(AuditAction::BlobDelete, &authed)
                .object(blob_id.clone())
                .size(record.length)
                .detail(format!("room={room_id}"))],
        );
        delete_blob_with(
            st.store.as_ref(),
            backend(&st)?.as_ref(),
            &blob_id,
            &|txn| {
                release::forget_in(txn, &blob_id);
                txn.derive(entry.clone());
            },
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
        let room = member_room(&st, &room_id, &authed.device_id)?;
        let record = data::get(st.store.as_ref(), &room_id, &blob_id)?;
        if !record.complete() {
            return Err(BlobError::Incomplete.into());
        }
        release::check_serve(st.store.as_ref(), &room, &record, &authed)?;
        let Ok(range) = data::parse_range(range.as_deref(), record.length) else {
            return Ok((record, None));
        };
        let (status, start, end) = match range {
            Some(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.end),
            None => (StatusCode::OK, 0, record.length),
        };
        let bytes = backend(&st)?
            .read(&blob_id, record.length, start, end)
            .map_err(BlobError::from)?;
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
            let mut response = error_reply(&ApiError::RangeNotSatisfiable(format!(
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
