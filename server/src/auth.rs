//! Request authentication: every protected request is signed by a registered device (see
//! [`sealroom_wire::auth`] for the canonical signing string). This module verifies the
//! signature over method, authority, path, query, the headers that change a request's meaning,
//! timestamp, nonce and body digest, refuses stale timestamps and replayed nonces, and
//! rate-limits repeated failures per source address (429). Failures are never counted against
//! the device a request claims to come from: that header is unsigned until verified, and
//! counting it would let anyone lock out any device.
//!
//! No HTTP types here: the HTTP layer (`crate::http::auth`) hands over a [`RequestHead`], calls
//! [`precheck`] before it reads the body and [`finish`] after, and extracts the resulting
//! [`AuthedDevice`] (the verified identity, the client's IP and user agent, and the body bytes
//! that were verified).

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use sealroom_wire::auth::{
    decode_signature, valid_nonce, verify_request_with_digest, RequestParts, HEADER_DEVICE,
    HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_CLOCK_SKEW_SECS, SIGNED_HEADERS,
};

use crate::directory::{self, Role};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoreError;

/// Tree remembering accepted nonces until they fall out of the timestamp window. Keys are
/// the 8-byte big-endian timestamp followed by SHA-256 of device id and nonce, so pruning is a
/// range delete and a nonce's freshness is checked before the body is read.
pub const REPLAY_TREE: &str = "auth_replay";

/// A request whose device signature verified.
#[derive(Debug, Clone)]
pub struct AuthedDevice {
    /// Organisation of the user.
    pub org_id: String,
    /// The user.
    pub user_id: String,
    /// The signing device.
    pub device_id: String,
    /// The user's organisation role.
    pub role: Role,
    /// Client info (IP address, user agent) for the audit trail.
    pub client: ClientInfo,
    /// The exact body bytes covered by the signature.
    pub body: Bytes,
    /// SHA-256 of [`Self::body`], computed once for the signature (an append's checksum is
    /// compared with it instead of hashing the bytes again).
    pub body_sha256: [u8; 32],
}

impl AuthedDevice {
    /// Device `device_id` of user `user_id` in `org_id` with `role`, signed in with `body`
    /// (default client info, a zero body digest), for unit tests that call handlers directly.
    #[cfg(test)]
    pub(crate) fn for_tests(
        org_id: &str,
        user_id: &str,
        device_id: &str,
        role: Role,
        body: impl Into<Bytes>,
    ) -> Self {
        Self {
            org_id: org_id.to_owned(),
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            role,
            client: ClientInfo::default(),
            body: body.into(),
            body_sha256: [0; 32],
        }
    }

    /// Decodes the body as JSON; a body that does not parse is a 400 `malformed`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.body)
    }

    /// Client IP address, if known.
    pub fn ip(&self) -> Option<IpAddr> {
        self.client.ip
    }

    /// Client user agent, if sent.
    pub fn user_agent(&self) -> Option<&str> {
        self.client.user_agent.as_deref()
    }
}

/// Decodes JSON request bytes; a body that does not parse is a 400 `malformed`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::malformed(format!("invalid JSON body: {e}")))
}

/// Who sent a request, as far as the network tells: for the audit trail and rate limiting.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Client IP address (the first `X-Forwarded-For` hop when `trust_proxy` is set).
    pub ip: Option<IpAddr>,
    /// `User-Agent` header, truncated to 256 bytes.
    pub user_agent: Option<String>,
}

/// The first value of header `name` (lower case), if it is visible ASCII text.
fn header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| header_text(v))
}

/// A header value as text when it holds only visible ASCII (and tabs), as HTTP header
/// libraries accept.
fn header_text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (32..127).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// What arrives before the body: request line, authority and headers.
#[derive(Debug)]
pub struct RequestHead {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    /// The raw query string, empty when there is none.
    pub query: String,
    /// The `Host` authority, if sent.
    pub host: Option<String>,
    /// Every header in arrival order: lower-case name and raw value.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Who sent it.
    pub client: ClientInfo,
}

/// A request whose headers passed every check; the signature over the body is still to verify
/// ([`finish`]).
#[derive(Debug)]
pub struct Pending {
    method: String,
    path: String,
    query: String,
    authority: String,
    signed_headers: Vec<(String, String)>,
    timestamp: i64,
    nonce: String,
    signature: [u8; 64],
    replay_key: Vec<u8>,
    device: directory::DeviceRecord,
    user: directory::UserRecord,
    client: ClientInfo,
}

/// The failure-budget key of a request: its source address, never anything the request claims
/// about itself (an unsigned device header would let anyone lock out any device).
fn source_key(client: &ClientInfo) -> Option<String> {
    client.ip.map(|ip| format!("ip:{ip}"))
}

fn rate_limited(state: &AppState, retry_after: u64) -> ApiError {
    state
        .metrics
        .counter(
            "sealroom_auth_rate_limited_total",
            "Requests refused by the authentication rate limiter.",
        )
        .inc();
    ApiError::RateLimited { retry_after }
}

/// Counts a failed authentication against the request's source address and returns the 401.
fn failed(state: &AppState, client: &ClientInfo, reason: &'static str) -> ApiError {
    if let Some(key) = source_key(client) {
        state.limiter.record_failure(&key, state.now());
    }
    state
        .metrics
        .counter(
            "sealroom_auth_failures_total",
            "Failed request authentications.",
        )
        .inc();
    tracing::info!(reason, ip = ?client.ip, "authentication failed");
    ApiError::unauthenticated(reason)
}

impl Pending {
    /// Who sends the request as far as the head tells: the device it names (its signature is
    /// not verified yet) and the source address, as one key.
    pub fn sender_key(&self) -> String {
        match self.client.ip {
            Some(ip) => format!("{}@{ip}", self.device.device_id),
            None => self.device.device_id.clone(),
        }
    }

    /// A request whose body did not arrive in time: its signature could not be verified, so
    /// it counts as a failed authentication of its source address (as a bad signature does),
    /// and the answer is 408 `request_timeout`.
    pub fn body_timed_out(self, state: &AppState, waited_secs: u64) -> ApiError {
        let _ = failed(state, &self.client, "request body timed out");
        ApiError::RequestTimeout(format!(
            "the request's body did not arrive within {waited_secs} s"
        ))
    }
}

/// The checks that need no body: the source address's failure budget (429), the announced
/// `Content-Length` (413), the presence and shape of the signature headers, the timestamp
/// window, that the device exists and is active, and that its nonce was not used before (401).
/// The HTTP layer reads the body (at most `limit` bytes) only after this passed.
pub fn precheck(state: &AppState, limit: u64, request: RequestHead) -> Result<Pending, ApiError> {
    let now = state.now();
    if let Some(retry_after) =
        source_key(&request.client).and_then(|k| state.limiter.blocked_for(&k, now))
    {
        return Err(rate_limited(state, retry_after));
    }
    let announced = header(&request.headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit) {
        return Err(ApiError::too_large(format!("body exceeds {limit} bytes")));
    }
    check_head(state, &request, now).map_err(|reason| failed(state, &request.client, reason))
}

fn check_head(state: &AppState, request: &RequestHead, now: i64) -> Result<Pending, &'static str> {
    let headers = &request.headers;
    let device_id = header(headers, HEADER_DEVICE).ok_or("missing device header")?;
    let ts_text = header(headers, HEADER_TIMESTAMP).ok_or("missing timestamp header")?;
    let sig_text = header(headers, HEADER_SIGNATURE).ok_or("missing signature header")?;
    let nonce = header(headers, HEADER_NONCE).ok_or("missing nonce header")?;
    if !valid_nonce(nonce) {
        return Err("invalid nonce");
    }
    let timestamp: i64 = ts_text.parse().map_err(|_| "invalid timestamp")?;
    if (timestamp - now).abs() > MAX_CLOCK_SKEW_SECS {
        return Err("timestamp outside the accepted window");
    }
    let signature = decode_signature(sig_text).map_err(|_| "invalid signature encoding")?;
    let authority = match &state.config.public_host {
        Some(configured) => configured.to_ascii_lowercase(),
        None => request
            .host
            .as_deref()
            .ok_or("missing host")?
            .to_ascii_lowercase(),
    };
    let mut signed_headers = Vec::new();
    for name in SIGNED_HEADERS {
        let mut values = headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        if let Some(value) = values.next() {
            if values.next().is_some() {
                return Err("a signed header is repeated");
            }
            let value = header_text(value).ok_or("a signed header is not text")?;
            signed_headers.push((name.to_owned(), value.to_owned()));
        }
    }
    let (device, user) = directory::active_device(state.store.as_ref(), device_id)
        .map_err(|_| "device lookup failed")?
        .ok_or("unknown or inactive device")?;
    let replay_key = replay_key(timestamp, &device.device_id, nonce);
    if state
        .store
        .get(REPLAY_TREE, &replay_key)
        .map_err(|_| "replay check failed")?
        .is_some()
    {
        return Err("replayed request");
    }
    Ok(Pending {
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        authority,
        signed_headers,
        timestamp,
        nonce: nonce.to_owned(),
        signature,
        replay_key,
        device,
        user,
        client: request.client.clone(),
    })
}

/// Replay-cache key of a device's nonce: the 8-byte big-endian timestamp (for pruning by
/// range), then SHA-256 over the device id, a zero byte and the nonce.
fn replay_key(timestamp: i64, device_id: &str, nonce: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(device_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(nonce.as_bytes());
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(&timestamp.to_be_bytes());
    key.extend_from_slice(&hasher.finalize());
    key
}

/// Verifies the signature over the whole request and remembers its nonce.
pub fn finish(state: &AppState, pending: Pending, body: Bytes) -> Result<AuthedDevice, ApiError> {
    let headers: Vec<(&str, &str)> = pending
        .signed_headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let parts = RequestParts {
        method: &pending.method,
        authority: &pending.authority,
        path: &pending.path,
        query: &pending.query,
        headers: &headers,
        timestamp: pending.timestamp,
        nonce: &pending.nonce,
        body: &body,
    };
    // The body is hashed once here; the digest is kept for the handlers.
    let body_sha256: [u8; 32] = Sha256::digest(&body).into();
    if verify_request_with_digest(
        &pending.device.public_key,
        &parts,
        &hex::encode(body_sha256),
        &pending.signature,
    )
    .is_err()
    {
        return Err(failed(state, &pending.client, "bad signature"));
    }
    // Replay protection: the first use of a nonce within the window wins.
    let fresh = if state.store.writes_in_order() {
        remember_nonce(state, &pending.replay_key)
    } else {
        // A durable compare-and-swap before the request runs (instances sharing a store see
        // each other's nonces).
        state
            .store
            .compare_and_swap(REPLAY_TREE, &pending.replay_key, None, Some(&[]))
    }
    .map_err(|_| failed(state, &pending.client, "replay check failed"))?;
    if !fresh {
        return Err(failed(state, &pending.client, "replayed request"));
    }
    Ok(AuthedDevice {
        org_id: pending.user.org_id,
        user_id: pending.user.user_id,
        device_id: pending.device.device_id,
        role: pending.user.role,
        client: pending.client,
        body,
        body_sha256,
    })
}

/// Nonces accepted but not yet durable.
#[derive(Debug, Default)]
struct PendingNonces(std::sync::Mutex<std::collections::HashSet<Vec<u8>>>);

impl PendingNonces {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<Vec<u8>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Remembers a nonce (`true`: first use) without waiting for a disk flush, on a store whose
/// writes commit in the order issued ([`Store::writes_in_order`](crate::store::Store)).
///
/// The nonce is held in memory (a concurrent replay finds it there), queued for the store's
/// next group commit (later replays find it in the store) and dropped from memory once that
/// commit is done (synced, or durable with the next synced one). Everything the request itself
/// writes is queued after it, so when the request's own write is durable, its nonce is too: a
/// write is never applied twice, even across a crash. A read answers without waiting for any
/// flush; a crash before the next synced commit forgets the nonces of the reads since the last
/// one, so such a read could be replayed within the timestamp window and would return the same
/// data again (a read changes nothing). So could an upload append whose offset commit was not
/// synced: its replay finds the upload past its offset, recovered from the blob file (409).
fn remember_nonce(state: &AppState, key: &[u8]) -> Result<bool, StoreError> {
    let pending = state.extension_or_default::<PendingNonces>();
    if !pending.lock().insert(key.to_vec()) {
        return Ok(false);
    }
    let forget = {
        let pending = Arc::clone(&pending);
        let key = key.to_vec();
        move || {
            pending.lock().remove(&key);
        }
    };
    match state.store.get(REPLAY_TREE, key) {
        Ok(None) => {}
        Ok(Some(_)) => {
            forget();
            return Ok(false);
        }
        Err(e) => {
            forget();
            return Err(e);
        }
    }
    let done = forget.clone();
    if let Err(e) = state
        .store
        .put_unacknowledged(REPLAY_TREE, key, &[], Box::new(move |_| done()))
    {
        forget();
        return Err(e);
    }
    Ok(true)
}

/// Deletes remembered signatures older than the timestamp window. Returns how many were removed.
pub fn prune_replay_cache(state: &AppState) -> Result<usize, ApiError> {
    let cutoff = state.now() - MAX_CLOCK_SKEW_SECS - 1;
    let end = cutoff.to_be_bytes();
    // Timestamps are signed; negative ones sort after positive in big-endian bytes, but the
    // window check refuses them anyway, so only the range [0, cutoff) matters.
    let start = 0i64.to_be_bytes();
    let mut removed = 0;
    let stale: Vec<Vec<u8>> = state
        .store
        .range(REPLAY_TREE, &start, Some(&end))?
        .map(|kv| kv.map(|(k, _)| k))
        .collect::<Result<_, _>>()?;
    for k in stale {
        state.store.delete(REPLAY_TREE, &k)?;
        removed += 1;
    }
    Ok(removed)
}
