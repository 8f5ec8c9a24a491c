//! `POST /v1/rooms/{room_id}/blobs/{blob_id}/release`: a staff or scanner device releases a
//! held blob (checks and storage in [`crate::blobs::release`]); `GET`/`PUT
//! /v1/spaces/{space_id}/scanner`: the space's scanner ([`crate::blobs::scanner`]).

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use sealroom_wire::audit::AuditAction;
use sealroom_wire::blobs::ReleaseRequest;

use crate::audit;
use crate::auth::AuthedDevice;
use crate::blobs::{check_ids, data, member_room, release, scanner};
use crate::error::ApiError;
use crate::state::AppState;

use super::{auth, no_content, respond, with_state};

/// The release route and the scanner designation routes.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let release = warp::path!("v1" / "rooms" / String / "blobs" / String / "release")
        .and(warp::post())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(release_blob);
    let get = warp::path!("v1" / "spaces" / String / "scanner")
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |space_id: String, authed: AuthedDevice, state: AppState| async move {
                respond(scanner::get_scanner(&state, &authed, &space_id))
            },
        );
    let put = warp::path!("v1" / "spaces" / String / "scanner")
        .and(warp::put())
        .and(auth::device(state.clone()))
        .and(with_state(state))
        .and_then(
            |space_id: String, authed: AuthedDevice, state: AppState| async move {
                respond(scanner::put_scanner(&state, &authed, &space_id))
            },
        );
    release.or(get).unify().or(put).unify().boxed()
}

async fn release_blob(
    room_id: String,
    blob_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Response, Rejection> {
    check_ids(&room_id, Some(&blob_id))?;
    let req: ReleaseRequest = authed.json()?;
    let result = tokio::task::spawn_blocking(move || {
        let room = member_room(&state, &room_id, &authed.device_id)?;
        let record = data::get(state.store.as_ref(), &room_id, &blob_id)?;
        // A new release and its audit entry: one transaction.
        let (_, new) = release::release(
            state.store.as_ref(),
            &room,
            &record,
            &authed,
            &req,
            state.now(),
            &|txn, hold| {
                let event = audit::event_by(AuditAction::BlobRelease, &authed)
                    .object(blob_id.clone())
                    .size(record.length)
                    .detail(format!(
                        "room={room_id} kind={} holds={}",
                        req.kind,
                        hold.kinds()
                    ));
                audit::within(&state, txn, vec![event]);
            },
        )?;
        if new {
            state.store.flush()?;
        }
        Ok::<_, ApiError>(())
    })
    .await;
    match result {
        Ok(Ok(())) => Ok(no_content()),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(ApiError::internal("blocking task", &e).into()),
    }
}
