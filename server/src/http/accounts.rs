//! The account routes in one function (handlers in [`crate::accounts`]).

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use sealroom_wire::accounts as wire;

use crate::accounts::enrol::*;
use crate::accounts::invitations::*;
use crate::accounts::spaces::*;
use crate::accounts::users::*;
use crate::auth::AuthedDevice;
use crate::state::AppState;

use super::{auth, json_body, respond, with_state};

/// The account routes.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let limit = state.config.limits.max_json_body;
    let s = || with_state(state.clone());
    let authed = || auth::device(state.clone());

    let bootstrap = warp::path!("v1" / "bootstrap")
        .and(warp::post())
        .and(auth::client_info(state.clone()))
        .and(json_body::<wire::BootstrapRequest>(limit))
        .and(s())
        .and_then(|c, b, st| async move { respond(bootstrap(&st, c, b)) });
    let register = warp::path!("v1" / "register")
        .and(warp::post())
        .and(auth::client_info(state.clone()))
        .and(json_body::<wire::RegisterRequest>(limit))
        .and(s())
        .and_then(|c, b, st| async move { respond(register(&st, c, b)) });
    let me = warp::path!("v1" / "me")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { respond(me(&st, &a)) });
    let my_devices = warp::path!("v1" / "me" / "devices")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(
            |a: AuthedDevice, st: AppState| async move { respond(list_devices(&st, &a.user_id)) },
        );
    let user_devices_route = warp::path!("v1" / "users" / String / "devices")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|u: String, a, st| async move { respond(user_devices_route(&st, &a, &u)) });
    let publish_identity = warp::path!("v1" / "me" / "identity")
        .and(warp::put())
        .and(authed())
        .and(s())
        .and_then(
            |a, st| async move { respond(crate::accounts::identity::publish_identity(&st, &a)) },
        );
    let put_certificate = warp::path!("v1" / "devices" / String / "certificate")
        .and(warp::put())
        .and(authed())
        .and(s())
        .and_then(|d: String, a, st| async move {
            respond(crate::accounts::identity::put_certificate(&st, &a, &d))
        });
    let revoke = warp::path!("v1" / "devices" / String)
        .and(warp::delete())
        .and(authed())
        .and(s())
        .and_then(|d: String, a, st| async move { respond(revoke_device(&st, &a, &d)) });
    let create_org = warp::path!("v1" / "orgs")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { respond(create_org(&st, &a)) });
    let get_org = warp::path!("v1" / "orgs" / String)
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|o: String, a, st| async move { respond(get_org(&st, &a, &o)) });
    let invite = warp::path!("v1" / "invitations")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { respond(create_invitation(&st, &a)) });
    let accept_invite = warp::path!("v1" / "invitations" / "accept")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { respond(accept_invitation(&st, &a)) });
    let check_invite = warp::path!("v1" / "invitations" / "check")
        .and(warp::post())
        .and(auth::client_info(state.clone()))
        .and(json_body::<wire::InvitationCheckRequest>(limit))
        .and(s())
        .and_then(|c, b, st| async move { respond(check_invitation(&st, c, b)) });
    let revoke_invite = warp::path!("v1" / "invitations" / String)
        .and(warp::delete())
        .and(authed())
        .and(s())
        .and_then(|i: String, a, st| async move { respond(revoke_invitation(&st, &a, &i)) });
    let space_invites = warp::path!("v1" / "spaces" / String / "invitations")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|sp: String, a, st| async move { respond(list_space_invitations(&st, &a, &sp)) });
    let create_space = warp::path!("v1" / "spaces")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { respond(create_space(&st, &a)) });
    let list_spaces = warp::path!("v1" / "spaces")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { respond(list_spaces(&st, &a)) });
    let get_space = warp::path!("v1" / "spaces" / String)
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|sp: String, a, st| async move { respond(get_space(&st, &a, &sp)) });
    let add_member = warp::path!("v1" / "spaces" / String / "members")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|sp: String, a, st| async move { respond(add_space_member(&st, &a, &sp)) });
    let remove_member = warp::path!("v1" / "spaces" / String / "members" / String)
        .and(warp::delete())
        .and(authed())
        .and(s())
        .and_then(|sp: String, u: String, a, st| async move {
            respond(remove_space_member(&st, &a, &sp, &u))
        });
    let device_request = warp::path!("v1" / "device-requests")
        .and(warp::post())
        .and(auth::client_info(state.clone()))
        .and(json_body::<wire::DeviceRequestCreate>(limit))
        .and(s())
        .and_then(|c, b, st| async move { respond(create_device_request(&st, c, b)) });
    let get_device_request = warp::path!("v1" / "device-requests" / String)
        .and(warp::get())
        .and(s())
        .and_then(|r: String, st| async move { respond(get_device_request(&st, &r)) });
    let approve = warp::path!("v1" / "device-requests" / String / "approve")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|r: String, a, st| async move { respond(approve_device_request(&st, &a, &r)) });
    let approve_totp = warp::path!("v1" / "device-requests" / String / "totp")
        .and(warp::post())
        .and(auth::client_info(state.clone()))
        .and(json_body::<wire::TotpCode>(limit))
        .and(s())
        .and_then(|r: String, c, b, st| async move { respond(approve_with_totp(&st, c, &r, b)) });
    let totp_enrol = warp::path!("v1" / "me" / "totp")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { respond(totp_enrol(&st, &a)) });
    let totp_confirm = warp::path!("v1" / "me" / "totp" / "confirm")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { respond(totp_confirm(&st, &a)) });
    let totp_status = warp::path!("v1" / "me" / "totp")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { respond(totp_status(&st, &a)) });
    let totp_remove = warp::path!("v1" / "me" / "totp")
        .and(warp::delete())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { respond(totp_remove(&st, &a)) });
    let totp_unlock = warp::path!("v1" / "me" / "totp" / "unlock")
        .and(warp::post())
        .and(authed())
        .and(s())
        .and_then(|a, st| async move { respond(totp_unlock(&st, &a)) });
    let totp_admin_reset = warp::path!("v1" / "users" / String / "totp")
        .and(warp::delete())
        .and(authed())
        .and(s())
        .and_then(|u: String, a, st| async move { respond(totp_admin_reset(&st, &a, &u)) });
    let identity_reset = warp::path!("v1" / "users" / String / "identity")
        .and(warp::delete())
        .and(authed())
        .and(s())
        .and_then(|u: String, a, st| async move {
            respond(crate::accounts::identity::reset_identity(&st, &a, &u))
        });
    let security_events = warp::path!("v1" / "me" / "security-events")
        .and(warp::get())
        .and(auth::raw_query())
        .and(authed())
        .and(s())
        .and_then(|q: String, a, st| async move {
            respond(crate::accounts::security::list(&st, &a, &q))
        });

    // Each route is boxed before combining: long unboxed `or` chains make type checking slow.
    let routes: Vec<BoxedFilter<(Response,)>> = vec![
        bootstrap.boxed(),
        register.boxed(),
        me.boxed(),
        my_devices.boxed(),
        user_devices_route.boxed(),
        revoke.boxed(),
        publish_identity.boxed(),
        put_certificate.boxed(),
        create_org.boxed(),
        get_org.boxed(),
        invite.boxed(),
        check_invite.boxed(),
        accept_invite.boxed(),
        revoke_invite.boxed(),
        space_invites.boxed(),
        create_space.boxed(),
        list_spaces.boxed(),
        get_space.boxed(),
        add_member.boxed(),
        remove_member.boxed(),
        device_request.boxed(),
        get_device_request.boxed(),
        approve.boxed(),
        approve_totp.boxed(),
        totp_enrol.boxed(),
        totp_confirm.boxed(),
        totp_status.boxed(),
        totp_remove.boxed(),
        totp_unlock.boxed(),
        totp_admin_reset.boxed(),
        identity_reset.boxed(),
        security_events.boxed(),
    ];
    combine(routes)
}

/// Combines boxed routes with `or`.
pub fn combine(routes: Vec<BoxedFilter<(Response,)>>) -> BoxedFilter<(Response,)> {
    let mut iter = routes.into_iter();
    let Some(first) = iter.next() else {
        return warp::any()
            .and_then(|| async { Err::<Response, Rejection>(warp::reject::not_found()) })
            .boxed();
    };
    iter.fold(first, |acc, r| acc.or(r).unify().boxed())
}
