//! Every error the API answers, mapped to a status and a DRF-shaped body in one place.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use issue_tracker_domain::FieldErrors;
use issue_tracker_persistence::StoreError;
use serde_json::json;

/// An error answer. 5xx bodies never carry the cause; it is logged once instead.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401 with `WWW-Authenticate: Token`.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 403.
    #[error("forbidden")]
    Forbidden,
    /// 403 with a reason more useful than the contract's generic one (a token's scopes).
    #[error("forbidden: {0}")]
    ForbiddenBecause(String),
    /// 404.
    #[error("not found")]
    NotFound,
    /// 405 with `Allow`.
    #[error("method {method} not allowed")]
    MethodNotAllowed {
        /// The refused method.
        method: String,
        /// What the resource accepts.
        allow: &'static str,
    },
    /// 400 with per-field messages.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// 400 with a ready body (`{"detail": ...}` or `{"non_field_errors": [...]}`).
    #[error("bad request: {0}")]
    BadRequest(serde_json::Value),
    /// 400 for a `Host` not in `ALLOWED_HOSTS`.
    #[error("invalid host header")]
    InvalidHost,
    /// 413.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 408: the body did not arrive within `REQUEST_BODY_TIMEOUT` seconds; the connection is
    /// closed.
    #[error("request body timed out after {0} s")]
    BodyTimeout(u64),
    /// 415.
    #[error("unsupported media type {0}")]
    UnsupportedMediaType(String),
    /// 409: the write collided with something that exists (a unique key).
    #[error("conflict")]
    Conflict,
    /// 412: `If-Match` does not match the issue.
    #[error("precondition failed")]
    PreconditionFailed,
    /// 429 with `Retry-After`.
    #[error("throttled for {0} s")]
    Throttled(u64),
    /// 429: too many live streams open (the detail says whose), `Retry-After` a few seconds.
    #[error("too many streams: {0}")]
    TooManyStreams(String),
    /// 503: the database could not be reached in time.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 `{"detail": message}`.
    pub fn bad_request_detail(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(json!({ "detail": message.into() }))
    }

    /// A 400 `{"non_field_errors": [message]}`.
    pub fn non_field(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(json!({ "non_field_errors": [message.into()] }))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause.to_string()),
            // A unique key refused the write: the request collided with what exists, which a
            // handler that expects it names more precisely (a taken username is a 400).
            StoreError::Conflict => ApiError::Conflict,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::ForbiddenBecause(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Validation(_) | ApiError::BadRequest(_) | ApiError::InvalidHost => {
                StatusCode::BAD_REQUEST
            }
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Throttled(_) | ApiError::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::Conflict => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        let body = match self {
            ApiError::Unauthorized(detail) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Token"));
                json!({ "detail": detail })
            }
            ApiError::Forbidden => {
                json!({ "detail": "You do not have permission to perform this action." })
            }
            ApiError::ForbiddenBecause(detail) => json!({ "detail": detail }),
            ApiError::NotFound => json!({ "detail": "Not found." }),
            ApiError::MethodNotAllowed { method, allow } => {
                response.insert_header((header::ALLOW, *allow));
                json!({ "detail": format!("Method \"{method}\" not allowed.") })
            }
            ApiError::Validation(errors) => serde_json::to_value(errors).unwrap_or_default(),
            ApiError::BadRequest(body) => body.clone(),
            ApiError::InvalidHost => json!({ "detail": "Invalid host header." }),
            ApiError::TooManyStreams(detail) => {
                response.insert_header((header::RETRY_AFTER, "5"));
                json!({ "detail": detail })
            }
            ApiError::PayloadTooLarge => json!({ "detail": "Request body too large." }),
            ApiError::BodyTimeout(seconds) => {
                // The rest of the body may still come: the connection cannot be reused.
                response.insert_header((header::CONNECTION, "close"));
                json!({ "detail": format!("The request body did not arrive within {seconds} seconds.") })
            }
            ApiError::UnsupportedMediaType(media) => {
                json!({ "detail": format!("Unsupported media type \"{media}\" in request.") })
            }
            ApiError::Conflict => json!({
                "detail": "The request conflicts with what exists: something with the same key is already there."
            }),
            ApiError::PreconditionFailed => {
                json!({ "detail": "Precondition failed: the issue has changed." })
            }
            ApiError::Throttled(seconds) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
                json!({ "detail": format!("Request was throttled. Expected available in {seconds} seconds.") })
            }
            ApiError::Unavailable(reason) => {
                tracing::error!(%reason, "database unavailable");
                response.insert_header((header::RETRY_AFTER, "5"));
                json!({ "detail": "Service temporarily unavailable, try again later." })
            }
            ApiError::Internal(reason) => {
                tracing::error!(%reason, "internal error");
                json!({ "detail": "A server error occurred." })
            }
        };
        response.json(body)
    }
}

#[cfg(test)]
mod conflict_tests {
    use super::*;

    #[test]
    fn a_unique_key_conflict_is_a_409_without_any_handler_catching_it() {
        let error = ApiError::from(StoreError::Conflict);
        assert_eq!(error.status_code(), StatusCode::CONFLICT);
        let body = error.error_response().into_body();
        let bytes = actix_web::body::to_bytes(body);
        let bytes = futures_util::FutureExt::now_or_never(bytes)
            .expect("a ready body")
            .expect("a body");
        assert!(String::from_utf8_lossy(&bytes).contains("already there"));
    }
}
