//! What a domain handler answers, as plain data: a status code, a body (JSON or other bytes) or
//! none, and headers. Domain services return it so that they need no HTTP library; the HTTP layer
//! (`crate::http`) turns it into a response, byte for byte what the handler described.

use serde::Serialize;

/// Headers of a [`Reply`]: (name, value) in the order they were added.
pub type Headers = Vec<(&'static str, String)>;

/// A handler's answer: status, optional body, headers (`content-type` among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    status: u16,
    body: Option<Vec<u8>>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// `status` with `body` serialised as JSON (`content-type: application/json`). A body that
    /// does not serialise (never the case for the relay's wire types) is logged and answered
    /// with `status` and no body.
    pub fn json<T: Serialize>(status: u16, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => Self::bytes(status, bytes, "application/json"),
            Err(e) => {
                tracing::error!(error = %e, "reply body does not serialise");
                Self::empty(status)
            }
        }
    }

    /// `status` with `body` of the given content type.
    pub fn bytes(status: u16, body: Vec<u8>, content_type: &str) -> Self {
        Self {
            status,
            body: Some(body),
            headers: vec![("content-type", content_type.to_owned())],
        }
    }

    /// `status` with an empty body.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    /// Adds a header (e.g. `retry-after`).
    #[must_use]
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Takes the answer apart: status, body (if any) and headers in the order they were added.
    pub fn into_parts(self) -> (u16, Option<Vec<u8>>, Headers) {
        (self.status, self.body, self.headers)
    }
}

/// A JSON answer with a status.
pub fn json_reply<T: Serialize>(status: u16, body: &T) -> Reply {
    Reply::json(status, body)
}

/// `200 OK` with a JSON body.
pub fn ok_json<T: Serialize>(body: &T) -> Reply {
    Reply::json(200, body)
}

/// `204 No Content`.
pub fn no_content() -> Reply {
    Reply::empty(204)
}

/// `200 OK`.
pub const OK: u16 = 200;
/// `201 Created`.
pub const CREATED: u16 = 201;
/// `206 Partial Content`.
pub const PARTIAL_CONTENT: u16 = 206;
/// `403 Forbidden`.
pub const FORBIDDEN: u16 = 403;
/// `429 Too Many Requests`.
pub const TOO_MANY_REQUESTS: u16 = 429;
