//! The retention routes (handlers in [`crate::retention`]).

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::auth::AuthedDevice;
use crate::retention::{get_policy, put_policy};
use crate::state::AppState;

use super::{auth, respond, with_state};

/// The retention routes and the user-erasure route ([`crate::erasure`]).
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let erase = super::erasure::routes(state.clone());
    let get = warp::path!("v1" / "spaces" / String / "retention")
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |space_id: String, authed: AuthedDevice, state: AppState| async move {
                respond(get_policy(&state, &authed, &space_id))
            },
        );
    let put = warp::path!("v1" / "spaces" / String / "retention")
        .and(warp::put())
        .and(auth::device(state.clone()))
        .and(with_state(state))
        .and_then(
            |space_id: String, authed: AuthedDevice, state: AppState| async move {
                respond(put_policy(&state, &authed, &space_id))
            },
        );
    get.or(put).unify().or(erase).unify().boxed()
}
