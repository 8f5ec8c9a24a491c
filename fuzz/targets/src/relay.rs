//! Target `relay_request`: request bodies, headers, paths and queries through the relay's real
//! routes ([`sealroom_server::filters::api`]) in-process, against the one sled store of the
//! [`crate::world`] (which holds a bootstrapped provider, a customer organisation, a space with
//! its rooms, a member, a message and a file).
//!
//! Input: `route (1) | method (1) | flags (1) | query length (1) | query | body`.
//! - route: one of [`ROUTES`]; `{kind}` placeholders become ids that exist (or, with flag
//!   0x04, an id that does not);
//! - flags: 0x01 signed as the world's admin device (so authenticated routes parse the body),
//!   0x02 the signature covers another body than the one sent, 0x08 stale timestamp, 0x10
//!   `content-type: application/json`, 0x20 a `content-length` header that lies;
//! - query: bytes percent-encoded except `=` and `&`.
//!
//! Invariants: no panic and never a 5xx: everything a client can send is answered with a 2xx,
//! 3xx or 4xx.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;

use sealroom_wire::auth::{sign_request, RequestParts};

use crate::world::{call, world};

/// Route templates. Destructive routes that would remove the admin device or user (device
/// revocation, erasure) only ever get ids of other users or devices (placeholders `{other_*}`)
/// so later inputs keep a working signer.
pub const ROUTES: &[&str] = &[
    "/healthz",
    "/metrics",
    "/v1/bootstrap",
    "/v1/register",
    "/v1/me",
    "/v1/me/devices",
    "/v1/users/{user}/devices",
    "/v1/devices/{other_device}",
    "/v1/orgs",
    "/v1/orgs/{org}",
    "/v1/invitations",
    "/v1/spaces",
    "/v1/spaces/{space}",
    "/v1/spaces/{space}/members",
    "/v1/spaces/{space}/members/{other_user}",
    "/v1/device-requests",
    "/v1/device-requests/{request}",
    "/v1/device-requests/{request}/approve",
    "/v1/device-requests/{request}/totp",
    "/v1/me/totp",
    "/v1/me/totp/confirm",
    "/v1/rooms",
    "/v1/rooms/{room}",
    "/v1/rooms/{room}/handshakes",
    "/v1/rooms/{room}/messages",
    "/v1/welcomes",
    "/v1/welcomes/{welcome}",
    "/v1/keypackages",
    "/v1/users/{user}/keypackages/claim",
    "/v1/rooms/{room}/blobs",
    "/v1/rooms/{room}/blobs/{blob}",
    "/v1/rooms/{room}/blobs/{blob}/status",
    "/v1/audit",
    "/v1/audit/export",
    "/v1/audit/verify",
    "/v1/me/notifications",
    "/v1/me/recovery",
    "/v1/spaces/{space}/retention",
    "/v1/users/{other_user}/erase",
];

/// Methods, by `method byte % 6`.
pub const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

/// Flag: sign the request as the admin device.
pub const SIGN: u8 = 0x01;

static NONCE: AtomicU64 = AtomicU64::new(0);

/// Fills the placeholders of `template` from the world's ids; `pick` chooses among several.
fn fill(template: &str, bogus: bool, pick: usize) -> String {
    let w = world();
    let me_user = w.admin.identity().user_id.clone();
    let me_device = w.admin.identity().device_id.clone();
    let mut out = String::new();
    for segment in template.split('/').skip(1) {
        out.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            None => out.push_str(segment),
            Some(_) if bogus => out.push_str("does-not-exist"),
            Some(kind) => {
                let (kind, exclude) = match kind.strip_prefix("other_") {
                    Some(k) => (k, Some(if k == "user" { &me_user } else { &me_device })),
                    None => (kind, None),
                };
                let candidates: Vec<&String> = w
                    .ids
                    .get(kind)
                    .map(|v| v.iter().filter(|id| Some(*id) != exclude).collect())
                    .unwrap_or_default();
                match candidates.get(pick % candidates.len().max(1)) {
                    Some(id) => out.push_str(id),
                    None => out.push_str("unknown"),
                }
            }
        }
    }
    out
}

fn encode_query(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"=&-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds the request an input describes.
pub fn request(data: &[u8]) -> Option<http::Request<Full<Bytes>>> {
    let [route, method, flags, qlen, rest @ ..] = data else {
        return None;
    };
    let qlen = usize::from(*qlen).min(rest.len());
    let (query, body) = rest.split_at(qlen);
    let template = ROUTES[usize::from(*route) % ROUTES.len()];
    let path = fill(
        template,
        flags & 0x04 != 0,
        usize::from(*route) / ROUTES.len(),
    );
    let query = encode_query(query);
    let method = METHODS[usize::from(*method) % METHODS.len()];
    let uri = if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    };
    let mut builder = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", crate::world::RELAY_HOST);
    if flags & 0x10 != 0 {
        builder = builder.header("content-type", "application/json");
    }
    if flags & 0x20 != 0 {
        builder = builder.header("content-length", (body.len() / 2).to_string());
    }
    if flags & SIGN != 0 {
        let w = world();
        let now = sealroom_core::client::system_now_secs();
        let timestamp = if flags & 0x08 != 0 { now - 3600 } else { now };
        let nonce = format!(
            "{:016x}{:016x}",
            std::process::id(),
            NONCE.fetch_add(1, Ordering::Relaxed)
        );
        let signed_body: &[u8] = if flags & 0x02 != 0 { b"{}" } else { body };
        let content_type = [("content-type", "application/json")];
        let signed_headers: &[(&str, &str)] = if flags & 0x10 != 0 {
            &content_type
        } else {
            &[]
        };
        let parts = RequestParts {
            method,
            authority: crate::world::RELAY_HOST,
            path: &path,
            query: &query,
            headers: signed_headers,
            timestamp,
            nonce: &nonce,
            body: signed_body,
        };
        let headers = sign_request(&w.admin.identity().device_id, &parts, |m| w.admin.sign(m));
        for (k, v) in headers.pairs() {
            builder = builder.header(k, v);
        }
    }
    builder.body(Full::new(Bytes::copy_from_slice(body))).ok()
}

/// Encodes a request the SDK sent during the world's setup as an input (seeds).
pub fn encode(method: &str, path_and_query: &str, body: &[u8]) -> Option<Vec<u8>> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let route = (0..256usize)
        .find(|&byte| fill(ROUTES[byte % ROUTES.len()], false, byte / ROUTES.len()) == path)?;
    let method = METHODS.iter().position(|m| *m == method)?;
    let mut out = vec![
        route as u8,
        method as u8,
        SIGN | 0x10,
        query.len().min(255) as u8,
    ];
    out.extend_from_slice(&query.as_bytes()[..query.len().min(255)]);
    out.extend_from_slice(body);
    Some(out)
}

/// The target body.
pub fn relay_request(data: &[u8]) {
    let Some(request) = request(data) else {
        return;
    };
    let w = world();
    let description = format!("{} {}", request.method(), request.uri());
    let (status, _headers, body) = w.rt.block_on(call(&w.api, request));
    assert!(
        status < 500,
        "relay answered {status} to {description}: {}",
        String::from_utf8_lossy(&body)
    );
}
