//! HTTP routes of rooms, handshakes, messages, welcomes and key packages (see
//! `docs/api/openapi.yaml`; handlers in [`crate::rooms::handlers`]). Every route is
//! device-signed; room routes are for current member devices only (403 otherwise), as the relay
//! learned membership from the MLS handshakes.

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::error::ApiError;
use crate::reply::Reply;
use crate::rooms::handlers::{
    ack_welcome, claim_key_packages, count_key_packages, create_room, get_handshakes, get_messages,
    get_room, get_welcomes, post_handshake, post_message, upload_key_packages, PageQuery,
};
use crate::state::AppState;

use super::{auth, respond, with_state};

/// The room routes.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    crate::rooms::init(&state);
    let room_body = auth::device_with_limit(state.clone(), state.config.limits.max_message_body);

    let create = warp::path!("v1" / "rooms")
        .and(warp::post())
        .and(room_body.clone())
        .and(with_state(state.clone()))
        .then(create_room)
        .and_then(into_result);
    let get_room = warp::path!("v1" / "rooms" / String)
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .then(get_room)
        .and_then(into_result);
    let post_handshake = warp::path!("v1" / "rooms" / String / "handshakes")
        .and(warp::post())
        .and(room_body.clone())
        .and(with_state(state.clone()))
        .then(post_handshake)
        .and_then(into_result);
    let get_handshakes = warp::path!("v1" / "rooms" / String / "handshakes")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .then(get_handshakes)
        .and_then(into_result);
    let post_message = warp::path!("v1" / "rooms" / String / "messages")
        .and(warp::post())
        .and(room_body.clone())
        .and(with_state(state.clone()))
        .then(post_message)
        .and_then(into_result);
    let get_messages = warp::path!("v1" / "rooms" / String / "messages")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .then(get_messages)
        .and_then(into_result);
    let get_welcomes = warp::path!("v1" / "welcomes")
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .then(get_welcomes)
        .and_then(into_result);
    let ack_welcome = warp::path!("v1" / "welcomes" / u64)
        .and(warp::delete())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .then(ack_welcome)
        .and_then(into_result);
    let upload_kp = warp::path!("v1" / "keypackages")
        .and(warp::post())
        .and(room_body)
        .and(with_state(state.clone()))
        .then(upload_key_packages)
        .and_then(into_result);
    let count_kp = warp::path!("v1" / "keypackages")
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .then(count_key_packages)
        .and_then(into_result);
    let claim_kp = warp::path!("v1" / "users" / String / "keypackages" / "claim")
        .and(warp::post())
        .and(auth::device(state.clone()))
        .and(with_state(state))
        .then(claim_key_packages)
        .and_then(into_result);

    create
        .or(get_room)
        .unify()
        .or(post_handshake)
        .unify()
        .or(get_handshakes)
        .unify()
        .or(post_message)
        .unify()
        .or(get_messages)
        .unify()
        .or(get_welcomes)
        .unify()
        .or(ack_welcome)
        .unify()
        .or(upload_kp)
        .unify()
        .or(count_kp)
        .unify()
        .or(claim_kp)
        .unify()
        .boxed()
}

async fn into_result(result: Result<Reply, ApiError>) -> Result<Response, Rejection> {
    respond(result)
}
