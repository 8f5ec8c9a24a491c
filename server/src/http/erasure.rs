//! The erasure routes (handlers in [`crate::erasure`]).

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::auth::AuthedDevice;
use crate::erasure::erase;
use crate::state::AppState;

use super::{auth, respond, with_state};

/// The erasure route.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "users" / String / "erase")
        .and(warp::post())
        .and(auth::device(state.clone()))
        .and(with_state(state))
        .and_then(
            |user_id: String, authed: AuthedDevice, state: AppState| async move {
                respond(erase(&state, &authed, &user_id))
            },
        )
        .boxed()
}
