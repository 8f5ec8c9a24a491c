//! Request authentication as warp filters: [`device`] (JSON-sized bodies) and
//! [`device_with_limit`] (larger bodies) hand the request head to [`crate::auth::precheck`],
//! read the body only when that passed, and verify the signature with [`crate::auth::finish`].

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use warp::http::uri::Authority;
use warp::http::{HeaderMap, Method};
use warp::path::FullPath;
use warp::{Filter, Rejection};

use crate::auth::{self, AuthedDevice, ClientInfo, Pending, RequestHead};
use crate::state::AppState;

use super::body_limited;

/// Extracts the [`ClientInfo`] of any request (authenticated or not).
pub fn client_info(
    state: AppState,
) -> impl Filter<Extract = (ClientInfo,), Error = std::convert::Infallible> + Clone {
    let trust_proxy = state.config.trust_proxy;
    crate::tls::remote_addr()
        .and(warp::header::headers_cloned())
        .map(move |remote: Option<SocketAddr>, headers: HeaderMap| {
            client_from(trust_proxy, remote, &headers)
        })
}

fn client_from(trust_proxy: bool, remote: Option<SocketAddr>, headers: &HeaderMap) -> ClientInfo {
    let mut ip = remote.map(|a| a.ip());
    if trust_proxy {
        if let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            ip = Some(forwarded);
        }
    }
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(|ua| {
            let mut end = ua.len().min(256);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_owned()
        });
    ClientInfo { ip, user_agent }
}

/// Authenticates a request whose body is at most `limits.max_json_body` bytes.
///
/// Put it after the path and method filters of a route, since it consumes the body.
pub fn device(
    state: AppState,
) -> impl Filter<Extract = (AuthedDevice,), Error = Rejection> + Clone {
    let limit = state.config.limits.max_json_body;
    device_with_limit(state, limit)
}

/// Authenticates a request whose body is at most `limit` bytes (413 beyond).
///
/// Everything the headers tell is checked before the body is read: the source address's
/// failure budget (429), the announced `Content-Length` (413), the presence and shape of the
/// signature headers, the timestamp window, that the device exists and is active, and that its
/// nonce was not used before (401). Only then is the body read (at most `limit` bytes) and the
/// signature verified over it.
pub fn device_with_limit(
    state: AppState,
    limit: u64,
) -> impl Filter<Extract = (AuthedDevice,), Error = Rejection> + Clone {
    let fin = state.clone();
    pending(state, limit)
        .and(body_limited(limit))
        .and_then(move |pending: Pending, body: Bytes| {
            let st = fin.clone();
            async move { auth::finish(&st, pending, body).map_err(Rejection::from) }
        })
}

/// The checks of [`device_with_limit`] that need no body ([`crate::auth::precheck`]), leaving
/// the body unread: a route that reads the body itself (blob appends, under a bound and a
/// deadline) finishes with [`crate::auth::finish`].
pub fn pending(
    state: AppState,
    limit: u64,
) -> impl Filter<Extract = (Pending,), Error = Rejection> + Clone {
    let pre = state.clone();
    warp::method()
        .and(warp::path::full())
        .and(raw_query())
        .and(warp::host::optional())
        .and(warp::header::headers_cloned())
        .and(client_info(state))
        .and_then(
            move |method: Method,
                  path: FullPath,
                  query: String,
                  host: Option<Authority>,
                  headers: HeaderMap,
                  client: ClientInfo| {
                let st = pre.clone();
                async move {
                    let request = RequestHead {
                        method: method.as_str().to_owned(),
                        path: path.as_str().to_owned(),
                        query,
                        host: host.map(|h| h.as_str().to_owned()),
                        headers: header_list(&headers),
                        client,
                    };
                    auth::precheck(&st, limit, request).map_err(Rejection::from)
                }
            },
        )
}

/// The raw query string, empty when there is none.
pub fn raw_query() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

/// Every header in arrival order, as (lower-case name, raw value).
fn header_list(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_info_respects_trust_proxy() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        h.insert("user-agent", "test-agent".parse().unwrap());
        let remote = Some(SocketAddr::from(([127, 0, 0, 1], 5000)));
        let c = client_from(false, remote, &h);
        assert_eq!(c.ip.unwrap().to_string(), "127.0.0.1");
        assert_eq!(c.user_agent.as_deref(), Some("test-agent"));
        let c = client_from(true, remote, &h);
        assert_eq!(c.ip.unwrap().to_string(), "203.0.113.7");
    }
}
