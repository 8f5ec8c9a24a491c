//! The one `recover` that turns every rejection into a status code and a JSON body
//! `{"code": "...", "message": "..."}`, and the glue that lets handlers reject with an
//! [`ApiError`].

use std::convert::Infallible;

use warp::http::StatusCode;
use warp::reject::Rejection;
use warp::reply::Reply;

use crate::error::{ApiError, ErrorBody};

/// The warp status of a numeric code (500 for a number that is no status, which
/// [`ApiError::status`] never returns).
pub fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl warp::reject::Reject for ApiError {}

/// The reply for an [`ApiError`].
pub fn error_reply(err: &ApiError) -> warp::reply::Response {
    let body = ErrorBody {
        code: err.code(),
        message: err.to_string(),
    };
    let mut response =
        warp::reply::with_status(warp::reply::json(&body), status_code(err.status()))
            .into_response();
    let retry_after = match err {
        ApiError::RateLimited { retry_after }
        | ApiError::QuotaExceeded { retry_after, .. }
        | ApiError::Unavailable { retry_after, .. } => Some(*retry_after),
        _ => None,
    };
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", warp::http::HeaderValue::from(secs));
    }
    response
}

/// Maps every rejection, ours and warp's, to a JSON error. Client mistakes never become 500.
pub async fn recover(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    let err = classify(&rejection);
    Ok(error_reply(&err))
}

fn classify(r: &Rejection) -> ApiError {
    if let Some(e) = r.find::<ApiError>() {
        return e.clone();
    }
    if r.is_not_found() {
        return ApiError::not_found("no such route");
    }
    if let Some(e) = r.find::<warp::filters::body::BodyDeserializeError>() {
        return ApiError::malformed(format!("invalid body: {e}"));
    }
    if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        return ApiError::too_large("body exceeds the limit of this route");
    }
    if r.find::<warp::reject::LengthRequired>().is_some() {
        return ApiError::bad_request("Content-Length required");
    }
    if r.find::<warp::reject::UnsupportedMediaType>().is_some() {
        return ApiError::UnsupportedMediaType("unsupported content type".to_owned());
    }
    if let Some(e) = r.find::<warp::reject::InvalidQuery>() {
        return ApiError::malformed(format!("invalid query: {e}"));
    }
    if let Some(e) = r.find::<warp::reject::MissingHeader>() {
        return ApiError::bad_request(format!("missing header {}", e.name()));
    }
    if let Some(e) = r.find::<warp::reject::InvalidHeader>() {
        return ApiError::bad_request(format!("invalid header {}", e.name()));
    }
    if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        return ApiError::MethodNotAllowed;
    }
    tracing::warn!(rejection = ?r, "unhandled rejection");
    ApiError::bad_request("request not understood")
}
