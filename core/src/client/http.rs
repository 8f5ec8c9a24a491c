//! The native transport (feature `http`): `reqwest` over rustls, for Rust apps and the
//! Kotlin/Swift bindings. Needs a Tokio runtime (with its timer enabled) around the futures it
//! returns.
//!
//! Every request carries a device signature, so the transport never lets one travel where it
//! should not: only `https://` URLs are accepted, except `http://` to a loopback address
//! (`127.0.0.0/8`, `::1`, `localhost`) for development and tests
//! ([`TransportError::InsecureUrl`]), and redirects are never followed: a `3xx` answer is
//! [`TransportError::Redirect`].

use std::net::IpAddr;
use std::time::Duration;

use super::transport::{
    system_now_secs, HttpRequest, HttpResponse, SleepFuture, Transport, TransportError,
    TransportFuture,
};

/// HTTP(S) transport with connection reuse.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// A transport with a 30 s connect timeout and a 5 min overall request timeout (file
    /// chunks on slow links take a while), which follows no redirect.
    pub fn new() -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(300))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TransportError::Other(e.to_string()))?;
        Ok(Self { client })
    }
}

/// Whether requests to `url` may be sent: `https://` to any host, `http://` only to a loopback
/// host (`localhost`, `127.0.0.0/8`, `[::1]`). Scheme and host compare case-insensitively.
pub(crate) fn url_allowed(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return false;
    };
    match parsed.scheme() {
        "https" => true,
        // The URL parser has normalised the host: lower case, IPv4 in dotted decimal, IPv6
        // in brackets.
        "http" => {
            host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

fn map_error(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_connect() || e.is_request() || e.is_body() {
        TransportError::Connect(e.to_string())
    } else {
        TransportError::Other(e.to_string())
    }
}

impl Transport for HttpTransport {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        Box::pin(async move {
            if !url_allowed(&request.url) {
                return Err(TransportError::InsecureUrl(request.url));
            }
            let method = reqwest::Method::from_bytes(request.method.as_bytes())
                .map_err(|e| TransportError::Other(e.to_string()))?;
            let mut builder = self.client.request(method, &request.url);
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let response = builder.body(request.body).send().await.map_err(map_error)?;
            let status = response.status().as_u16();
            if response.status().is_redirection() {
                return Err(TransportError::Redirect(status));
            }
            let headers = response
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            let body = response.bytes().await.map_err(map_error)?.to_vec();
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        })
    }

    fn now_secs(&self) -> i64 {
        system_now_secs()
    }

    /// Tokio's timer: the task yields, the runtime's threads stay free.
    fn sleep(&self, duration: Duration) -> SleepFuture<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        for url in [
            "https://relay.example/v1/me",
            "HTTPS://Relay.Example:8443/x",
            "https://203.0.113.9/v1",
            "http://127.0.0.1:8080/v1/me",
            "http://127.1.2.3/",
            "http://[::1]:9000/v1",
            "http://localhost:8080/",
            "http://LOCALHOST/",
        ] {
            assert!(url_allowed(url), "{url}");
        }
        for url in [
            "http://relay.example/v1/me",
            "http://203.0.113.9/",
            "http://10.0.0.1:8080/",
            "http://[::2]/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost.relay.example/",
            "http://127.0.0.1.relay.example/",
            "http://0.0.0.0:8080/",
            "ftp://relay.example/",
            "relay.example/v1",
            "",
        ] {
            assert!(!url_allowed(url), "{url}");
        }
    }
}
