//! The HTTP layer, the only part of the relay that knows warp: all routes in one function,
//! [`api`], composed from one file per area, the shared filters and reply helpers, request
//! authentication as filters ([`auth`]) and the one `recover` ([`reject`]).
//!
//! Conventions for route groups (see `server/README.md`, "How to add routes"):
//! - an area file here exposes `pub fn routes(state: AppState) -> BoxedFilter<(Response,)>`;
//! - each route matches path and method first, then authenticates with [`auth::device`] /
//!   [`auth::device_with_limit`] (which read the body), so a non-matching route never consumes
//!   a body;
//! - handlers live in the domain modules (`crate::accounts`, `crate::rooms`, ...), take
//!   [`AppState`] and plain values, and return `Result<Reply, ApiError>`; [`respond`] turns that
//!   into a warp response or rejection;
//! - every route that takes a body has a size limit ([`body_limited`], or the auth filters).

pub mod accounts;
pub mod append_permits;
pub mod audit;
pub mod auth;
pub mod blobs;
pub mod erasure;
pub mod live;
pub mod notify;
pub mod recovery;
pub mod reject;
pub mod release;
pub mod retention;
pub mod rooms;

use std::convert::Infallible;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::error::ApiError;
use crate::reply::Reply as DomainReply;
use crate::state::AppState;

use self::reject::{recover, status_code};

/// The complete API: every route group, the JSON error mapping, metrics and request logs.
pub fn api(state: AppState) -> BoxedFilter<(Response,)> {
    let routes = health()
        .or(metrics(state.clone()))
        .unify()
        .or(accounts::routes(state.clone()))
        .unify()
        // ---- route groups of the other relay modules plug in here, one line each: ----
        .or(rooms::routes(state.clone()))
        .unify()
        .or(blobs::routes(state.clone()))
        .unify()
        .or(release::routes(state.clone()))
        .unify()
        .or(audit::routes(state.clone()))
        .unify()
        .or(notify::routes(state.clone()))
        .unify()
        .or(retention::routes(state.clone()))
        .unify()
        .or(recovery::routes(state.clone()))
        .unify()
        .or(live::routes(state.clone()))
        .unify()
        // ---- end of route groups ----
        .boxed();
    let routes = match state.config.web_dir.clone() {
        Some(dir) if dir.is_dir() => routes
            .or(warp::get()
                .and(warp::fs::dir(dir))
                .map(Reply::into_response))
            .unify()
            .boxed(),
        _ => routes,
    };
    let metrics = state.metrics.clone();
    warp::any()
        .map(Instant::now)
        .and(warp::method())
        .and(warp::path::full())
        .and(routes.recover(recover).unify().map(Reply::into_response))
        .map(
            move |start: Instant,
                  method: warp::http::Method,
                  path: warp::path::FullPath,
                  resp: Response| {
                let mut resp = resp;
                if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
                    if let Some(allow) = allowed_methods(path.as_str()) {
                        resp.headers_mut().insert(
                            warp::http::header::ALLOW,
                            warp::http::HeaderValue::from_static(allow),
                        );
                    }
                }
                let elapsed = start.elapsed();
                let status = resp.status().as_u16();
                metrics.observe_request(method.as_str(), status, elapsed);
                tracing::info!(
                    target: "sealroom::request",
                    method = %method,
                    path = path.as_str(),
                    status,
                    micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                    "request"
                );
                resp
            },
        )
        .boxed()
}

/// The methods of every API path (`*` is one path segment), for the `Allow` header that a 405
/// answer must carry (RFC 9110, 15.5.6). Kept equal to `docs/api/openapi.yaml` by a test.
const ROUTE_METHODS: &[(&str, &str)] = &[
    ("/healthz", "GET"),
    ("/metrics", "GET"),
    ("/v1/bootstrap", "POST"),
    ("/v1/register", "POST"),
    ("/v1/me", "GET"),
    ("/v1/me/devices", "GET"),
    ("/v1/users/*/devices", "GET"),
    ("/v1/devices/*", "DELETE"),
    ("/v1/devices/*/certificate", "PUT"),
    ("/v1/orgs", "POST"),
    ("/v1/orgs/*", "GET"),
    ("/v1/invitations", "POST"),
    ("/v1/invitations/check", "POST"),
    ("/v1/invitations/accept", "POST"),
    ("/v1/invitations/*", "DELETE"),
    ("/v1/spaces", "GET, POST"),
    ("/v1/spaces/*", "GET"),
    ("/v1/spaces/*/members", "POST"),
    ("/v1/spaces/*/members/*", "DELETE"),
    ("/v1/spaces/*/invitations", "GET"),
    ("/v1/device-requests", "POST"),
    ("/v1/device-requests/*", "GET"),
    ("/v1/device-requests/*/approve", "POST"),
    ("/v1/device-requests/*/totp", "POST"),
    ("/v1/me/totp", "GET, POST, DELETE"),
    ("/v1/me/totp/confirm", "POST"),
    ("/v1/me/totp/unlock", "POST"),
    ("/v1/users/*/totp", "DELETE"),
    ("/v1/me/security-events", "GET"),
    ("/v1/me/identity", "PUT"),
    ("/v1/users/*/identity", "DELETE"),
    ("/v1/rooms", "POST"),
    ("/v1/rooms/*", "GET"),
    ("/v1/rooms/*/handshakes", "GET, POST"),
    ("/v1/rooms/*/messages", "GET, POST"),
    ("/v1/welcomes", "GET"),
    ("/v1/welcomes/*", "DELETE"),
    ("/v1/keypackages", "GET, POST"),
    ("/v1/users/*/keypackages/claim", "POST"),
    ("/v1/rooms/*/blobs", "GET, POST"),
    ("/v1/rooms/*/blobs/*", "GET, HEAD, PATCH, DELETE"),
    ("/v1/rooms/*/blobs/*/status", "GET"),
    ("/v1/rooms/*/blobs/*/release", "POST"),
    ("/v1/audit", "GET"),
    ("/v1/audit/export", "GET"),
    ("/v1/audit/verify", "GET"),
    ("/v1/audit/head", "GET"),
    ("/v1/audit/chain", "GET"),
    ("/v1/me/notifications", "GET, PUT"),
    ("/v1/me/recovery", "GET, PUT, DELETE"),
    ("/v1/spaces/*/retention", "GET, PUT"),
    ("/v1/spaces/*/scanner", "GET, PUT"),
    ("/v1/users/*/erase", "POST"),
    ("/v1/events", "GET"),
];

/// The `Allow` value for `path` (as sent, percent-encoded), or `None` when no API route has it.
fn allowed_methods(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    ROUTE_METHODS.iter().find_map(|(template, methods)| {
        let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
        let matches = parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(p, s)| if *p == "*" { !s.is_empty() } else { p == s });
        matches.then_some(*methods)
    })
}

/// `GET /healthz`: liveness.
fn health() -> BoxedFilter<(Response,)> {
    warp::path!("healthz")
        .and(warp::get())
        .map(|| json_reply(StatusCode::OK, &serde_json::json!({"status": "ok"})))
        .boxed()
}

/// `GET /metrics` on the API listener: Prometheus text format for requests signed by a device
/// of an organisation admin (401 unsigned, 403 for other roles). When a separate metrics
/// listener is configured (`metrics_listen`), the API listener answers 404 instead.
fn metrics(state: AppState) -> BoxedFilter<(Response,)> {
    let route = warp::path!("metrics").and(warp::get());
    if state.config.metrics_listen.is_some() {
        return route
            .and_then(|| async {
                Err::<Response, Rejection>(
                    ApiError::not_found("metrics are served on the metrics listener").into(),
                )
            })
            .boxed();
    }
    route
        .and(auth::device(state.clone()))
        .and_then(move |authed: crate::auth::AuthedDevice| {
            let state = state.clone();
            async move {
                if authed.role != crate::accounts::Role::Admin {
                    return Err(Rejection::from(ApiError::forbidden(
                        "metrics are for administrators",
                    )));
                }
                Ok(metrics_reply(&state))
            }
        })
        .boxed()
}

fn metrics_reply(state: &AppState) -> Response {
    warp::reply::with_header(
        state.metrics.render(),
        "content-type",
        "text/plain; version=0.0.4",
    )
    .into_response()
}

/// The separate metrics listener's routes (`metrics_listen`): `GET /metrics` without
/// authentication, for a scraper on a private network; everything else is 404.
pub fn metrics_listener(state: AppState) -> BoxedFilter<(Response,)> {
    warp::path!("metrics")
        .and(warp::get())
        .map(move || metrics_reply(&state))
        .recover(recover)
        .unify()
        .map(Reply::into_response)
        .boxed()
}

/// The request body, at most `limit` bytes: 413 when `Content-Length` announces more or when a
/// chunked body grows past it.
pub fn body_limited(limit: u64) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(move |length: Option<u64>, stream| collect_body(length, stream, limit))
}

pub(super) async fn collect_body<S, B>(
    length: Option<u64>,
    stream: S,
    limit: u64,
) -> Result<Bytes, Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if length.is_some_and(|l| l > limit) {
        return Err(warp::reject::custom(ApiError::too_large(format!(
            "body exceeds {limit} bytes"
        ))));
    }
    let mut stream = Box::pin(stream);
    let mut buf = BytesMut::with_capacity(usize::try_from(length.unwrap_or(0)).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|e| {
            warp::reject::custom(ApiError::malformed(format!("body read failed: {e}")))
        })?;
        if (buf.len() + chunk.remaining()) as u64 > limit {
            return Err(warp::reject::custom(ApiError::too_large(format!(
                "body exceeds {limit} bytes"
            ))));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            buf.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}

/// A JSON body of at most `limit` bytes, decoded into `T` (400 `malformed` if it does not
/// parse, 413 if too large). For unauthenticated routes; authenticated ones use
/// [`crate::auth::AuthedDevice::json`].
pub fn json_body<T: DeserializeOwned + Send>(
    limit: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    body_limited(limit).and_then(|body: Bytes| async move {
        crate::auth::parse_json::<T>(&body).map_err(Rejection::from)
    })
}

/// A JSON response with a status.
pub fn json_reply<T: Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// `200 OK` with a JSON body.
pub fn ok_json<T: Serialize>(body: &T) -> Response {
    json_reply(StatusCode::OK, body)
}

/// `204 No Content`.
pub fn no_content() -> Response {
    warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response()
}

/// A domain handler's answer as a warp response, or its error as a rejection (which
/// [`reject::recover`] answers).
pub fn respond(result: Result<DomainReply, ApiError>) -> Result<Response, Rejection> {
    result.map(into_response).map_err(Rejection::from)
}

/// A domain handler's [`DomainReply`] as a warp response: the same status, body and headers.
pub fn into_response(reply: DomainReply) -> Response {
    let (status, body, headers) = reply.into_parts();
    let mut response = match body {
        Some(bytes) => Response::new(bytes.into()),
        None => warp::reply().into_response(),
    };
    *response.status_mut() = status_code(status);
    for (name, value) in headers {
        match warp::http::HeaderValue::from_str(&value) {
            Ok(value) => {
                response.headers_mut().insert(name, value);
            }
            Err(e) => tracing::error!(header = name, error = %e, "reply header is not valid"),
        }
    }
    response
}

/// Passes a clone of the state to a handler.
pub fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

#[cfg(test)]
mod allow_tests {
    use super::*;

    /// Every path of the OpenAPI document has an `Allow` entry listing exactly its methods.
    #[test]
    fn route_methods_match_the_openapi_document() {
        let spec = include_str!("../../../docs/api/openapi.yaml");
        let mut documented: Vec<(String, Vec<String>)> = Vec::new();
        for line in spec.lines() {
            if let Some(path) = line
                .strip_prefix("  /")
                .and_then(|rest| rest.strip_suffix(':'))
            {
                let template: Vec<&str> = path
                    .split('/')
                    .map(|s| if s.starts_with('{') { "*" } else { s })
                    .collect();
                documented.push((format!("/{}", template.join("/")), Vec::new()));
            } else if let Some(method) = line
                .strip_prefix("    ")
                .and_then(|rest| rest.strip_suffix(':'))
                .filter(|m| ["get", "head", "post", "put", "patch", "delete"].contains(m))
            {
                if let Some((_, methods)) = documented.last_mut() {
                    methods.push(method.to_ascii_uppercase());
                }
            }
        }
        assert_eq!(documented.len(), ROUTE_METHODS.len());
        for (path, mut methods) in documented {
            let allow = allowed_methods(&path.replace('*', "x")).unwrap_or_default();
            let mut listed: Vec<String> = allow.split(", ").map(str::to_owned).collect();
            methods.sort();
            listed.sort();
            assert_eq!(methods, listed, "{path}");
        }
    }

    #[test]
    fn unknown_paths_have_no_allow_value() {
        assert_eq!(allowed_methods("/v1/nothing"), None);
        assert_eq!(allowed_methods("/v1/rooms//blobs"), None);
        assert_eq!(
            allowed_methods("/v1/rooms/ab/blobs/cd"),
            Some("GET, HEAD, PATCH, DELETE")
        );
    }
}
