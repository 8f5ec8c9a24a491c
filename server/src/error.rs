//! API errors with stable codes and statuses. The HTTP layer's one `recover`
//! (`crate::http::reject`) turns every rejection into a status code and a JSON body
//! `{"code": "...", "message": "..."}` ([`ErrorBody`]).

use serde::Serialize;

use crate::store::{StoreError, TxnError};

/// An error answered to a client. Each variant has a stable `code` string.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400 `bad_request`: the request is well-formed but not acceptable (invalid field value...).
    #[error("{0}")]
    BadRequest(String),
    /// 400 `malformed`: the body or a parameter does not parse.
    #[error("{0}")]
    Malformed(String),
    /// 401 `unauthenticated`: signature missing, invalid, stale or replayed, or unknown device.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403 `forbidden`: authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// 403 `awaiting_release`: a held blob is served to the space's customers only once the
    /// relay holds a release for it.
    #[error("{0}")]
    AwaitingRelease(String),
    /// 403 `scanner_not_staff`: the space's scanner (a machine) sent a release that only a
    /// second member of staff may give: a four-eyes release or a scan override.
    #[error("{0}")]
    ScannerNotStaff(String),
    /// 404 `not_found`: no such route or object (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`: the path exists with another method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408 `request_timeout`: the request's body did not arrive in time (an append holding
    /// one of the relay's append permits, `limits.append_body_timeout_secs`); nothing was
    /// stored.
    #[error("{0}")]
    RequestTimeout(String),
    /// 409 `conflict`: the state changed underneath (e.g. a commit for an epoch already taken).
    #[error("{0}")]
    Conflict(String),
    /// 409 `not_held`: a release for a blob that holds no such hold.
    #[error("{0}")]
    NotHeld(String),
    /// 410 `gone`: the object existed but expired (e.g. an invitation or upload).
    #[error("{0}")]
    Gone(String),
    /// 413 `too_large`: the body or the announced size exceeds a limit.
    #[error("{0}")]
    TooLarge(String),
    /// 415 `unsupported_media_type`: wrong `Content-Type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 416 `range_not_satisfiable`: a `Range` header outside the object.
    #[error("{0}")]
    RangeNotSatisfiable(String),
    /// 429 `rate_limited`: too many failed authentications; retry after `retry_after`
    /// seconds, when the failure window of the source ends (`Retry-After`).
    #[error("too many failed attempts, retry later")]
    RateLimited {
        /// Seconds until the current failure window ends (at least 1).
        retry_after: u64,
    },
    /// 429 `quota_exceeded`: an hourly quota (messages or message bytes, of the user or of the
    /// space) is used up; `Retry-After` says when the next window starts.
    #[error("{message}")]
    QuotaExceeded {
        /// What was exhausted.
        message: String,
        /// Seconds until the quota refills.
        retry_after: u64,
    },
    /// 429 `too_many_waiters`: the device already has as many live-event requests waiting
    /// as the relay allows; retry after one of them answered.
    #[error("{0}")]
    TooManyWaiters(String),
    /// 500 `internal`: the relay failed; details are logged, not returned.
    #[error("internal error")]
    Internal,
    /// 503 `unavailable`: the relay is busy (as many blob appends in flight as it allows, a
    /// counter other requests kept changing, object storage not answering in time); nothing
    /// was changed, retry after `retry_after` seconds (`Retry-After`).
    #[error("{message}")]
    Unavailable {
        /// What is busy.
        message: String,
        /// Seconds to wait before retrying (at least 1).
        retry_after: u64,
    },
}

impl ApiError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) | Self::Malformed(_) => 400,
            Self::Unauthenticated(_) => 401,
            Self::Forbidden(_) | Self::AwaitingRelease(_) | Self::ScannerNotStaff(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout(_) => 408,
            Self::Conflict(_) | Self::NotHeld(_) => 409,
            Self::Gone(_) => 410,
            Self::TooLarge(_) => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::RangeNotSatisfiable(_) => 416,
            Self::RateLimited { .. } | Self::QuotaExceeded { .. } | Self::TooManyWaiters(_) => 429,
            Self::Internal => 500,
            Self::Unavailable { .. } => 503,
        }
    }

    /// The stable code string.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Malformed(_) => "malformed",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::AwaitingRelease(_) => "awaiting_release",
            Self::ScannerNotStaff(_) => "scanner_not_staff",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout(_) => "request_timeout",
            Self::Conflict(_) => "conflict",
            Self::NotHeld(_) => "not_held",
            Self::Gone(_) => "gone",
            Self::TooLarge(_) => "too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::RangeNotSatisfiable(_) => "range_not_satisfiable",
            Self::RateLimited { .. } => "rate_limited",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::TooManyWaiters(_) => "too_many_waiters",
            Self::Internal => "internal",
            Self::Unavailable { .. } => "unavailable",
        }
    }

    /// Shorthand for [`ApiError::BadRequest`].
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }

    /// Shorthand for [`ApiError::Malformed`].
    pub fn malformed(msg: impl Into<String>) -> Self {
        Self::Malformed(msg.into())
    }

    /// Shorthand for [`ApiError::Forbidden`].
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }

    /// Shorthand for [`ApiError::NotFound`].
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }

    /// Shorthand for [`ApiError::Conflict`].
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Conflict(msg.into())
    }

    /// Shorthand for [`ApiError::TooLarge`].
    pub fn too_large(msg: impl Into<String>) -> Self {
        Self::TooLarge(msg.into())
    }

    /// Shorthand for [`ApiError::Unauthenticated`].
    pub fn unauthenticated(msg: impl Into<String>) -> Self {
        Self::Unauthenticated(msg.into())
    }

    /// Shorthand for [`ApiError::Unavailable`] with a one-second `Retry-After`.
    pub fn unavailable(msg: impl Into<String>) -> Self {
        Self::Unavailable {
            message: msg.into(),
            retry_after: 1,
        }
    }

    /// Logs an internal failure (without client data) and returns [`ApiError::Internal`].
    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(context, error = %err, "internal error");
        Self::Internal
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::internal("store", &e)
    }
}

impl From<TxnError> for ApiError {
    fn from(e: TxnError) -> Self {
        match e {
            TxnError::Conflict { .. } => Self::Conflict("concurrent change, retry".to_owned()),
            TxnError::Store(e) => e.into(),
            TxnError::Refused(e) => Self::internal("transaction refused", &e),
        }
    }
}

/// The JSON error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// Stable code.
    pub code: &'a str,
    /// Human-readable message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_stable() {
        let cases = [
            (ApiError::malformed("x"), 400, "malformed"),
            (ApiError::bad_request("x"), 400, "bad_request"),
            (ApiError::unauthenticated("x"), 401, "unauthenticated"),
            (ApiError::forbidden("x"), 403, "forbidden"),
            (
                ApiError::ScannerNotStaff("x".into()),
                403,
                "scanner_not_staff",
            ),
            (ApiError::not_found("x"), 404, "not_found"),
            (ApiError::RequestTimeout("x".into()), 408, "request_timeout"),
            (ApiError::conflict("x"), 409, "conflict"),
            (ApiError::too_large("x"), 413, "too_large"),
            (
                ApiError::RateLimited { retry_after: 7 },
                429,
                "rate_limited",
            ),
            (ApiError::Internal, 500, "internal"),
            (ApiError::unavailable("x"), 503, "unavailable"),
        ];
        for (e, status, code) in cases {
            assert_eq!(e.status(), status);
            assert_eq!(e.code(), code);
        }
    }
}
