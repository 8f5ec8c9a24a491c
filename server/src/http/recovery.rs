//! The recovery routes (handlers in [`crate::recovery`]).

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::auth::AuthedDevice;
use crate::recovery::{delete_backup, get_backup, put_backup};
use crate::state::AppState;

use super::{auth, respond, with_state};

/// The recovery routes.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let limit = state.config.limits.max_chunk;
    let put = warp::path!("v1" / "me" / "recovery")
        .and(warp::put())
        .and(auth::device_with_limit(state.clone(), limit))
        .and(with_state(state.clone()))
        .and_then(|authed: AuthedDevice, state: AppState| async move {
            respond(put_backup(&state, &authed))
        });
    let get = warp::path!("v1" / "me" / "recovery")
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(|authed: AuthedDevice, state: AppState| async move {
            respond(get_backup(&state, &authed))
        });
    let delete = warp::path!("v1" / "me" / "recovery")
        .and(warp::delete())
        .and(auth::device(state.clone()))
        .and(with_state(state))
        .and_then(|authed: AuthedDevice, state: AppState| async move {
            respond(delete_backup(&state, &authed))
        });
    put.or(get).unify().or(delete).unify().boxed()
}
