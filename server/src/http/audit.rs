//! The audit routes (handlers in [`crate::audit`]).

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::audit::{chain_links, export, list, signed_head, verify};
use crate::auth::AuthedDevice;
use crate::state::AppState;

use super::{auth, respond, with_state};

/// The audit routes (organisation admins only).
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let list = warp::path!("v1" / "audit")
        .and(warp::get())
        .and(auth::raw_query())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |raw: String, authed: AuthedDevice, state: AppState| async move {
                respond(list(&state, &authed, &raw))
            },
        );
    let export = warp::path!("v1" / "audit" / "export")
        .and(warp::get())
        .and(auth::raw_query())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |raw: String, authed: AuthedDevice, state: AppState| async move {
                respond(export(&state, &authed, &raw))
            },
        );
    let verify = warp::path!("v1" / "audit" / "verify")
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(|authed: AuthedDevice, state: AppState| async move {
            respond(verify(&state, &authed))
        });
    let head = warp::path!("v1" / "audit" / "head")
        .and(warp::get())
        .and(auth::device(state.clone()))
        .and(with_state(state.clone()))
        .and_then(|authed: AuthedDevice, state: AppState| async move {
            respond(signed_head(&state, &authed))
        });
    let links = warp::path!("v1" / "audit" / "chain")
        .and(warp::get())
        .and(auth::raw_query())
        .and(auth::device(state.clone()))
        .and(with_state(state))
        .and_then(
            |raw: String, authed: AuthedDevice, state: AppState| async move {
                respond(chain_links(&state, &authed, &raw))
            },
        );
    list.or(export)
        .unify()
        .or(verify)
        .unify()
        .or(head)
        .unify()
        .or(links)
        .unify()
        .boxed()
}
