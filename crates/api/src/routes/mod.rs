//! One file per resource; the route table is in `crate::configure`.

pub mod comments;
pub mod history;
pub mod inbox;
pub mod issues;
pub mod labels;
pub mod login;
pub mod operations;
pub mod streams;
pub mod subscriptions;
pub mod unsubscribe;
pub mod users;
pub mod webhooks;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use crate::auth::Credentials;
use crate::error::ApiError;

/// `Allow` of the issue list.
pub const LIST_ALLOW: &str = "GET, POST, HEAD, OPTIONS";
/// `Allow` of one issue.
pub const DETAIL_ALLOW: &str = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS";
/// `Allow` of the login endpoint.
pub const LOGIN_ALLOW: &str = "POST, OPTIONS";

pub(crate) fn method_not_allowed(req: &HttpRequest, allow: &'static str) -> ApiError {
    ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        allow,
    }
}

pub(crate) fn options_response(name: &str, allow: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ALLOW, allow))
        .json(serde_json::json!({
            "name": name,
            "description": "",
            "renders": ["application/json"],
            "parses": ["application/json", "application/x-www-form-urlencoded"],
        }))
}

/// 405 on the issue list, after authentication as the contract orders.
pub async fn list_method_not_allowed(
    credentials: Credentials,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    credentials.authenticate().await?;
    Err(method_not_allowed(&req, LIST_ALLOW))
}

/// 405 on one issue, after authentication.
pub async fn detail_method_not_allowed(
    credentials: Credentials,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    credentials.authenticate().await?;
    Err(method_not_allowed(&req, DETAIL_ALLOW))
}

/// `OPTIONS` on the issue list.
pub async fn options_issue_list(credentials: Credentials) -> Result<HttpResponse, ApiError> {
    credentials.authenticate().await?;
    Ok(options_response("Issue List", LIST_ALLOW))
}

/// `OPTIONS` on one issue.
pub async fn options_issue(credentials: Credentials) -> Result<HttpResponse, ApiError> {
    credentials.authenticate().await?;
    Ok(options_response("Issue Instance", DETAIL_ALLOW))
}

/// An issue's id in a path, or 404.
pub(crate) fn path_issue(raw: &str) -> Result<issue_tracker_domain::IssueId, ApiError> {
    issue_tracker_domain::IssueId::parse(raw).ok_or(ApiError::NotFound)
}

/// 403 unless the caller is staff.
pub(crate) fn staff_only(caller: &crate::auth::AuthenticatedUser) -> Result<(), ApiError> {
    match caller.is_staff() {
        true => Ok(()),
        false => Err(ApiError::Forbidden),
    }
}

/// The JSON object of a staff-only write: 403 for anyone else before the body is read. The
/// handler checks the caller again when it writes (the body may have arrived late).
pub(crate) async fn staff_body(
    credentials: &crate::auth::Credentials,
    req: &actix_web::HttpRequest,
    payload: actix_web::web::Payload,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let caller = credentials.clone().authenticate().await?;
    staff_only(&caller)?;
    let body = crate::body::read_limited(req, payload, &credentials.state().settings.http).await?;
    crate::body::parse_object(crate::body::content_type(req).as_deref(), &body)
}

/// Any unknown path.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
