//! The live routes (handlers in [`crate::live`]).

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::live::{get_events, EventsQuery};
use crate::state::AppState;

use super::{auth, respond, with_state};

/// The live-event routes.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    crate::live::init(&state);
    warp::path!("v1" / "events")
        .and(warp::get())
        .and(warp::query::<EventsQuery>())
        .and(auth::device(state.clone()))
        .and(with_state(state))
        .and_then(
            |query, authed, state| async move { respond(get_events(query, authed, state).await) },
        )
        .boxed()
}
