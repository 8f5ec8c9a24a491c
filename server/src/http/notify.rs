//! The notify routes (handlers in [`crate::notify`]).

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::auth::AuthedDevice;
use crate::notify::{get_preference, put_preference};
use crate::state::AppState;

use super::{auth, respond, with_state};

/// The notification preference routes.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let get = warp::path!("v1" / "me" / "notifications")
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(|authed: AuthedDevice, state: AppState| async move {
            respond(get_preference(&state, &authed))
        });
    let put = warp::path!("v1" / "me" / "notifications")
        .and(warp::put())
        .and(auth::device(state.clone()))
        .and(with_state(state))
        .and_then(|authed: AuthedDevice, state: AppState| async move {
            respond(put_preference(&state, &authed))
        });
    get.or(put).unify().boxed()
}
