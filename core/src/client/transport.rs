//! The HTTP boundary of the client. The client decides what to send; a [`Transport`] supplied
//! by the host moves the bytes: [`HttpTransport`](super::HttpTransport) (feature `http`) on
//! native platforms, `fetch` in the browser (the WASM layer).
//!
//! The host also provides the wait between retries ([`Transport::sleep`]): core never blocks a
//! thread, so a retry back-off never stalls the host's executor or the browser's event loop.
//!
//! Bodies are whole byte vectors: the client never sends or expects more than one file chunk
//! (a few MiB) per request, so memory stays bounded without streaming bodies through the trait.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// One HTTP request.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Upper-case method (`GET`, `POST`, `PATCH`, `PUT`, `DELETE`, `HEAD`).
    pub method: String,
    /// Absolute URL (`https://relay.example/v1/...`).
    pub url: String,
    /// Header name/value pairs.
    pub headers: Vec<(String, String)>,
    /// Body bytes (empty for none).
    pub body: Vec<u8>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies are ciphertext or metadata; their length is enough for debugging.
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// One HTTP response.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header name/value pairs (names in any case).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request did not produce a response. Worth retrying later, except
/// [`TransportError::InsecureUrl`] and [`TransportError::Redirect`], which say the relay URL is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL is not `https://`, and not `http://` to a loopback address either: signed
    /// requests never travel in the clear over a network. Nothing was sent.
    #[error("refusing to send to {0}: the relay URL must be https:// (http:// only to loopback)")]
    InsecureUrl(String),
    /// The relay answered with a redirect (the status code). Redirects are never followed, so
    /// a signed request never reaches another host; configure the final URL instead.
    #[error("the relay answered with redirect status {0}; redirects are not followed")]
    Redirect(u16),
    /// The relay could not be reached or the connection broke.
    #[error("connection to the relay failed: {0}")]
    Connect(String),
    /// No answer in time.
    #[error("the relay did not answer in time")]
    Timeout,
    /// Any other transport failure.
    #[error("transport failure: {0}")]
    Other(String),
}

/// `Send` on native targets, nothing on `wasm32` (JavaScript objects are single-threaded).
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSend for T {}
/// `Send` on native targets, nothing on `wasm32` (JavaScript objects are single-threaded).
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// The future a [`Transport`] returns (`Send` on native targets).
#[cfg(not(target_arch = "wasm32"))]
pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'a>>;
/// The future a [`Transport`] returns (`Send` on native targets).
#[cfg(target_arch = "wasm32")]
pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + 'a>>;

/// The future [`Transport::sleep`] returns (`Send` on native targets).
#[cfg(not(target_arch = "wasm32"))]
pub type SleepFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
/// The future [`Transport::sleep`] returns (`Send` on native targets).
#[cfg(target_arch = "wasm32")]
pub type SleepFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// The future [`Transport::sha256`] returns (`Send` on native targets).
#[cfg(not(target_arch = "wasm32"))]
pub type DigestFuture<'a> = Pin<Box<dyn Future<Output = Option<[u8; 32]>> + Send + 'a>>;
/// The future [`Transport::sha256`] returns (`Send` on native targets).
#[cfg(target_arch = "wasm32")]
pub type DigestFuture<'a> = Pin<Box<dyn Future<Output = Option<[u8; 32]>> + 'a>>;

/// Sends HTTP requests, tells the time and waits. Implemented by the host platform.
pub trait Transport: MaybeSend {
    /// Sends `request` and returns the whole response. Any HTTP status is a response; only a
    /// failure to get one is an error.
    fn send(&self, request: HttpRequest) -> TransportFuture<'_>;

    /// The current Unix time in seconds (request signatures carry it).
    fn now_secs(&self) -> i64;

    /// Completes after `duration` without blocking the calling thread: the pause between
    /// retries of a failed request. Core never sleeps on its own; the host's timer does the
    /// waiting (Tokio's in [`HttpTransport`](super::HttpTransport), `setTimeout` in the
    /// browser).
    ///
    /// The default completes at once (no pause), which suits in-process transports of tests
    /// and fuzzing. A transport that talks to a real relay overrides it, or a retry loop
    /// hammers a relay that is briefly unreachable.
    fn sleep(&self, duration: Duration) -> SleepFuture<'_> {
        let _ = duration;
        Box::pin(std::future::ready(()))
    }

    /// The SHA-256 of a large byte string (a few MiB), computed by the host: `None`, the
    /// default, lets core hash it. The browser's WebCrypto hashes several times faster than
    /// core's SHA-256 compiled to WASM, so the WASM transport returns its digest (and `None`
    /// where WebCrypto is missing, e.g. an insecure context).
    ///
    /// Two uses: the body digest of a request signature (a file chunk; the relay hashes the
    /// bytes it receives, so a wrong digest makes the request fail), and the 4 MiB pieces of
    /// a file's content digest (`docs/format.md`, "Content digest"), computed on upload and
    /// checked on download. The host is trusted with the plaintext it hashes anyway: a host
    /// that returns wrong digests only deceives itself.
    fn sha256<'a>(&'a self, bytes: &'a [u8]) -> Option<DigestFuture<'a>> {
        let _ = bytes;
        None
    }
}

/// The system clock's Unix time in seconds (native targets).
#[cfg(not(target_arch = "wasm32"))]
pub fn system_now_secs() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
