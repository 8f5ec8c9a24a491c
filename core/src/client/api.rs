//! Typed calls to the relay's HTTP API (`docs/api/openapi.yaml`): JSON encoding, request
//! signing with the device key (`sealroom_wire::auth`: the signature covers the relay's
//! authority, taken from the base URL, and the request's `Content-Type`, `Range`,
//! `Upload-Offset` and `Upload-Checksum` headers) and error decoding.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rand_core::{OsRng, RngCore};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use sealroom_wire::auth::{
    authority_of_url, body_digest_hex, nonce_from_bytes, sign_request_with_digest, RequestParts,
};

use super::error::ClientError;
use super::transport::{HttpRequest, HttpResponse, Transport, TransportError, TransportFuture};

/// Bodies from this size on are hashed by the host when it can ([`Transport::sha256`]):
/// file chunks, not JSON.
const HOST_DIGEST_MIN: usize = 64 * 1024;

/// Signs request bytes for one device.
pub(crate) struct Signer<'a> {
    pub(crate) device_id: String,
    pub(crate) sign: &'a (dyn Fn(&[u8]) -> [u8; 64] + Sync),
}

/// The relay's JSON error body.
#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// A prepared request: method, path with query, body, extra headers.
pub(crate) struct Call {
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) body: Vec<u8>,
    pub(crate) headers: Vec<(String, String)>,
    /// The body's SHA-256 (lower-case hex) when the caller has it already
    /// ([`RelayApi::body_digest`]); else it is computed when the call is signed.
    pub(crate) body_digest: Option<String>,
}

impl Call {
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Self {
            method: "GET",
            path: path.into(),
            body: Vec::new(),
            headers: Vec::new(),
            body_digest: None,
        }
    }

    pub(crate) fn delete(path: impl Into<String>) -> Self {
        Self {
            method: "DELETE",
            ..Self::get(path)
        }
    }

    pub(crate) fn json<T: Serialize + ?Sized>(
        method: &'static str,
        path: impl Into<String>,
        body: &T,
    ) -> Result<Self, ClientError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| ClientError::InvalidInput(format!("cannot encode request: {e}")))?;
        Ok(Self {
            method,
            path: path.into(),
            body,
            headers: vec![("content-type".into(), "application/json".into())],
            body_digest: None,
        })
    }

    pub(crate) fn raw(method: &'static str, path: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            method,
            path: path.into(),
            body,
            headers: Vec::new(),
            body_digest: None,
        }
    }
}

/// One relay: base URL, the authority its requests are signed for, and transport.
#[derive(Clone)]
pub(crate) struct RelayApi {
    base: String,
    authority: String,
    transport: Arc<dyn Transport>,
}

impl RelayApi {
    pub(crate) fn new(base_url: &str, transport: Arc<dyn Transport>) -> Result<Self, ClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::InvalidInput(
                "the relay URL must start with http:// or https://".into(),
            ));
        }
        let authority = authority_of_url(&base)
            .ok_or_else(|| ClientError::InvalidInput("the relay URL has no host".into()))?;
        Ok(Self {
            base,
            authority,
            transport,
        })
    }

    pub(crate) fn now(&self) -> i64 {
        self.transport.now_secs()
    }

    /// Waits `duration` on the host's timer ([`Transport::sleep`]); never blocks the thread.
    pub(crate) async fn sleep(&self, duration: std::time::Duration) {
        self.transport.sleep(duration).await;
    }

    /// Sends `call`, signed when `signer` is given; any status is returned.
    pub(crate) async fn send_raw(
        &self,
        call: Call,
        signer: Option<&Signer<'_>>,
    ) -> Result<HttpResponse, ClientError> {
        let request = self.prepare(call, signer).await;
        Ok(self.transport.send(request).await?)
    }

    /// Signs `call` and hands it to the transport now, without waiting for the answer: the
    /// returned [`Started`] is awaited later. The transport's future is polled once here, so a
    /// host whose request leaves on the first poll (the browser's `fetch`, reqwest) sends it
    /// while the caller goes on working (the next file chunk is sealed meanwhile).
    pub(crate) async fn start(&self, call: Call, signer: Option<&Signer<'_>>) -> Started {
        let request = self.prepare(call, signer).await;
        let transport = Arc::clone(&self.transport);
        let mut future: TransportFuture<'static> =
            Box::pin(async move { transport.send(request).await });
        // One poll with a waker that does nothing: the request starts; whoever awaits the
        // `Started` polls again with its own waker (every future takes the latest waker).
        let mut cx = Context::from_waker(Waker::noop());
        let done = match future.as_mut().poll(&mut cx) {
            Poll::Ready(result) => Some(result),
            Poll::Pending => None,
        };
        Started { future, done }
    }

    /// The SHA-256 (lower-case hex) of a request body as signatures cover it: from the host
    /// for large bodies when it offers one ([`Transport::sha256`]), else computed here.
    pub(crate) async fn body_digest(&self, body: &[u8]) -> String {
        if body.len() >= HOST_DIGEST_MIN {
            if let Some(digest) = self.transport.sha256(body) {
                if let Some(digest) = digest.await {
                    return hex::encode(digest);
                }
            }
        }
        body_digest_hex(body)
    }

    /// The SHA-256 of `bytes`: from the host for large inputs when it offers one
    /// ([`Transport::sha256`]), else computed here. The content digest of files
    /// (`files/digest.rs`) hashes its 4 MiB pieces through this.
    pub(crate) async fn sha256(&self, bytes: &[u8]) -> [u8; 32] {
        if bytes.len() >= HOST_DIGEST_MIN {
            if let Some(digest) = self.transport.sha256(bytes) {
                if let Some(digest) = digest.await {
                    return digest;
                }
            }
        }
        use sha2::Digest as _;
        sha2::Sha256::digest(bytes).into()
    }

    /// The request of `call` with the signature headers (when `signer` is given). The digest
    /// of a large body comes from the host when it offers one ([`Transport::sha256`]).
    async fn prepare(&self, call: Call, signer: Option<&Signer<'_>>) -> HttpRequest {
        let mut headers = call.headers;
        if let Some(signer) = signer {
            let (path, query) = call.path.split_once('?').unwrap_or((&call.path, ""));
            let mut nonce = [0u8; 16];
            OsRng.fill_bytes(&mut nonce);
            let nonce = nonce_from_bytes(&nonce);
            let covered: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let parts = RequestParts {
                method: call.method,
                authority: &self.authority,
                path,
                query,
                headers: &covered,
                timestamp: self.transport.now_secs(),
                nonce: &nonce,
                body: &call.body,
            };
            let digest = match call.body_digest {
                Some(digest) => digest,
                None => self.body_digest(&call.body).await,
            };
            let signed =
                sign_request_with_digest(&signer.device_id, &parts, &digest, |m| (signer.sign)(m));
            for (k, v) in signed.pairs() {
                headers.push((k.to_owned(), v.to_owned()));
            }
        }
        HttpRequest {
            method: call.method.to_owned(),
            url: format!("{}{}", self.base, call.path),
            headers,
            body: call.body,
        }
    }

    /// Sends `call` and turns error statuses into [`ClientError::Relay`].
    pub(crate) async fn send(
        &self,
        call: Call,
        signer: Option<&Signer<'_>>,
    ) -> Result<HttpResponse, ClientError> {
        let response = self.send_raw(call, signer).await?;
        check(response)
    }

    /// Sends `call` and decodes the JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        call: Call,
        signer: Option<&Signer<'_>>,
    ) -> Result<T, ClientError> {
        let response = self.send(call, signer).await?;
        decode(&response.body)
    }
}

/// A request that was handed to the transport ([`RelayApi::start`]); await it for the answer.
/// Dropping it abandons the answer (the request may still reach the relay).
pub(crate) struct Started {
    future: TransportFuture<'static>,
    done: Option<Result<HttpResponse, TransportError>>,
}

impl Started {
    /// The response (any status), or why there is none.
    pub(crate) async fn response(self) -> Result<HttpResponse, ClientError> {
        Ok(match self.done {
            Some(result) => result,
            None => self.future.await,
        }?)
    }
}

/// Error statuses become [`ClientError::Relay`] with the relay's code.
pub(crate) fn check(response: HttpResponse) -> Result<HttpResponse, ClientError> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    Err(relay_error(&response))
}

pub(crate) fn relay_error(response: &HttpResponse) -> ClientError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(b) => (b.code, b.message),
        Err(_) => (format!("http_{}", response.status), String::new()),
    };
    ClientError::Relay {
        status: response.status,
        code,
        message,
    }
}

pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Percent-encodes a path segment (ids are URL-safe already; this guards against misuse).
pub(crate) fn seg(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
