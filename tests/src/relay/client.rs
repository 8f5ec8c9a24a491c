//! A client of one relay that signs its requests with a device, and the responses it gets.

use std::net::SocketAddr;

use serde_json::Value;

use super::device::Device;
use super::http::http;
use super::now;

/// An HTTP client for one relay, optionally signing with a device.
#[derive(Clone, Debug)]
pub struct Client {
    /// Relay address.
    pub addr: SocketAddr,
    /// Signing device; `None` sends unsigned requests.
    pub device: Option<Device>,
}

impl Client {
    /// Sends a request (signed when the client has a device) and returns the response.
    /// `path_and_query` may contain `?query`.
    pub fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.request_at(
            method,
            path_and_query,
            headers,
            body,
            self.fresh_timestamp(),
        )
    }

    /// The signing timestamp for the next request: the current time, never earlier than the
    /// previous one this device used.
    pub fn fresh_timestamp(&self) -> i64 {
        use std::sync::atomic::Ordering;
        match &self.device {
            Some(d) => {
                let mut last = d.last_ts.load(Ordering::SeqCst);
                loop {
                    let ts = now().max(last);
                    match d
                        .last_ts
                        .compare_exchange(last, ts, Ordering::SeqCst, Ordering::SeqCst)
                    {
                        Ok(_) => return ts,
                        Err(actual) => last = actual,
                    }
                }
            }
            None => now(),
        }
    }

    /// Like [`Client::request`], but a request that gets no complete answer (the relay died,
    /// refused the connection or cut it) is an `Err` instead of a panic: fault-injection tests
    /// count those as "not acknowledged".
    pub fn try_request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let signed = self.signed_headers(
            method,
            path_and_query,
            headers,
            body,
            self.fresh_timestamp(),
        );
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let response = http(self.addr, method, path_and_query, &all, body)?;
        let declared = response
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        if method != "HEAD" && declared.is_some_and(|n| n != response.body.len()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "response body cut short",
            ));
        }
        Ok(response)
    }

    /// Like [`Client::request`] with an explicit signing timestamp.
    pub fn request_at(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timestamp: i64,
    ) -> Response {
        let signed = self.signed_headers(method, path_and_query, headers, body, timestamp);
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        http(self.addr, method, path_and_query, &all, body).expect("http request")
    }

    /// The signature headers this client would send (empty without device), for a request
    /// to this client's relay address (the signed authority) carrying `headers`.
    pub fn signed_headers(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timestamp: i64,
    ) -> Vec<(String, String)> {
        match &self.device {
            Some(d) => {
                let (path, query) = path_and_query
                    .split_once('?')
                    .unwrap_or((path_and_query, ""));
                let authority = self.addr.to_string();
                d.sign(method, &authority, path, query, headers, timestamp, body)
            }
            None => Vec::new(),
        }
    }

    /// `GET`.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// `DELETE`.
    pub fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, &[], b"")
    }

    /// `POST` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("json");
        self.request(
            "POST",
            path,
            &[("content-type", "application/json")],
            &bytes,
        )
    }

    /// `PUT` with a JSON body.
    pub fn put_json(&self, path: &str, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("json");
        self.request("PUT", path, &[("content-type", "application/json")], &bytes)
    }

    /// `PATCH` of a resumable blob upload at `path` (`/v1/rooms/{room}/blobs/{blob}`): `body`
    /// appended at `offset`, with its SHA-256 in `Upload-Checksum`.
    pub fn append_blob(&self, path: &str, offset: usize, body: &[u8]) -> Response {
        use sha2::Digest as _;
        let sum = format!("sha256 {}", crate::rooms::b64(&sha2::Sha256::digest(body)));
        let offset = offset.to_string();
        self.request(
            "PATCH",
            path,
            &[
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", &offset),
                ("upload-checksum", &sum),
            ],
            body,
        )
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes (chunked encoding decoded).
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `code` of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}
