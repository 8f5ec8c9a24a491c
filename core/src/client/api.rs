//! Typed calls to the relay's HTTP API (`docs/api/openapi.yaml`): JSON encoding, request
//! signing with the device key (`sealroom_wire::auth`: the signature covers the relay's
//! authority, taken from the base URL, and the request's `Content-Type`, `Range`,
//! `Upload-Offset` and `Upload-Checksum` headers) and error decoding.

use std::sync::Arc;

use rand_core::{OsRng, RngCore};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use sealroom_wire::auth::{authority_of_url, nonce_from_bytes, sign_request, RequestParts};

use super::error::ClientError;
use super::transport::{HttpRequest, HttpResponse, Transport};

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
}

impl Call {
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Self {
            method: "GET",
            path: path.into(),
            body: Vec::new(),
            headers: Vec::new(),
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
        })
    }

    pub(crate) fn raw(method: &'static str, path: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            method,
            path: path.into(),
            body,
            headers: Vec::new(),
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
            let signed = sign_request(&signer.device_id, &parts, |m| (signer.sign)(m));
            for (k, v) in signed.pairs() {
                headers.push((k.to_owned(), v.to_owned()));
            }
        }
        let request = HttpRequest {
            method: call.method.to_owned(),
            url: format!("{}{}", self.base, call.path),
            headers,
            body: call.body,
        };
        Ok(self.transport.send(request).await?)
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
