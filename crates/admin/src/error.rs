//! What an admin page answers when it cannot do what was asked: a page, never a stack trace.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use issue_tracker_web::ApiError;

/// Why a page failed.
#[derive(Debug)]
pub enum AdminError {
    /// No session (or not active staff): to the login page, coming back to this URL.
    LoginRequired(String),
    /// A form failed the CSRF checks.
    Csrf(&'static str),
    /// Only superusers may do this.
    Forbidden(&'static str),
    /// No such object.
    NotFound,
    /// A request no form of ours sends (a malformed query or body).
    BadRequest(&'static str),
    /// Too many failed logins; seconds to wait.
    Throttled(u64),
    /// The database is unavailable, or a bug.
    Internal(String),
    /// An error of the shared layer (pool exhausted, store error).
    Api(ApiError),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::LoginRequired(_) => write!(f, "Please log in."),
            AdminError::Csrf(message)
            | AdminError::Forbidden(message)
            | AdminError::BadRequest(message) => write!(f, "{message}"),
            AdminError::NotFound => write!(f, "Not found."),
            AdminError::Throttled(seconds) => {
                write!(f, "Too many failed logins. Try again in {seconds} seconds.")
            }
            AdminError::Internal(_) => write!(f, "Something went wrong on our side."),
            AdminError::Api(error) => f.write_str(&public_message(error)),
        }
    }
}

/// What a page may say about an error of the shared layer: its reason when it is the visitor's
/// to know, never a 5xx's cause (that is logged instead).
fn public_message(error: &ApiError) -> String {
    match error {
        ApiError::ForbiddenBecause(reason) => reason.clone(),
        ApiError::Forbidden => "You do not have permission to perform this action.".into(),
        ApiError::NotFound => "Not found.".into(),
        ApiError::Unavailable(_) => {
            "The database is not answering just now. Try again in a moment.".into()
        }
        ApiError::Internal(_) => "Something went wrong on our side.".into(),
        other => other
            .status_code()
            .canonical_reason()
            .unwrap_or("Error")
            .to_owned(),
    }
}

impl From<ApiError> for AdminError {
    fn from(error: ApiError) -> Self {
        AdminError::Api(error)
    }
}

/// Inside `AppState::run`, whose work returns the shared error type.
impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::NotFound => ApiError::NotFound,
            AdminError::Api(error) => error,
            AdminError::Forbidden(reason) | AdminError::Csrf(reason) => {
                ApiError::ForbiddenBecause(reason.to_owned())
            }
            AdminError::BadRequest(reason) => ApiError::bad_request_detail(reason),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<issue_tracker_persistence::StoreError> for AdminError {
    fn from(error: issue_tracker_persistence::StoreError) -> Self {
        AdminError::Api(error.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::LoginRequired(_) => StatusCode::SEE_OTHER,
            AdminError::Csrf(_) | AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::NotFound => StatusCode::NOT_FOUND,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AdminError::Api(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AdminError::LoginRequired(location) = self {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location.clone()))
                .finish();
        }
        match self {
            AdminError::Internal(detail) => tracing::error!(%detail, "admin page failed"),
            AdminError::Api(error @ (ApiError::Internal(_) | ApiError::Unavailable(_))) => {
                tracing::error!(%error, "admin page failed")
            }
            _ => {}
        }
        let status = self.status_code();
        let page = ErrorPage {
            title: status.canonical_reason().unwrap_or("Error"),
            message: self.to_string(),
        };
        let mut response = HttpResponse::build(status);
        if let AdminError::Throttled(seconds) = self {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        crate::views::html(&mut response, &page)
    }
}
