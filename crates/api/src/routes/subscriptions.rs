//! Watching an issue: `GET`/`PUT`/`DELETE /api/issue/<id>/subscription/`, for the caller. The
//! domain decides whether and why they watch it (`WatchFacts`); `PUT` watches it by hand and
//! `DELETE` stops watching it, which wins over every other reason until the next `PUT`.

use actix_web::{web, HttpResponse};

use crate::auth::Credentials;
use crate::error::ApiError;

/// `GET /api/issue/<id>/subscription/`: whether the caller watches the issue, and why.
#[utoipa::path(get, path = "/api/issue/{id}/subscription/", tag = "subscriptions", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The caller's subscription", body = crate::schemas::Subscription),
        (status = 401, body = crate::schemas::Detail),
        (status = 404, description = "No such issue", body = crate::schemas::Detail),
    ))]
pub async fn get_subscription(
    credentials: Credentials,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let issue = super::path_issue(&id)?;
    let subscription = credentials
        .run(move |db, caller| {
            db.subscription(issue, &caller.user)?
                .ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok().json(subscription))
}

/// `PUT /api/issue/<id>/subscription/`: the caller watches the issue (reason `manual`).
#[utoipa::path(put, path = "/api/issue/{id}/subscription/", tag = "subscriptions", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "Watching it", body = crate::schemas::Subscription),
        (status = 401, body = crate::schemas::Detail),
        (status = 404, description = "No such issue", body = crate::schemas::Detail),
    ))]
pub async fn watch(
    credentials: Credentials,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set(credentials, &id, true).await
}

/// `DELETE /api/issue/<id>/subscription/`: the caller stops watching the issue, whatever else
/// made them watch it, until they `PUT` again.
#[utoipa::path(delete, path = "/api/issue/{id}/subscription/", tag = "subscriptions", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "Not watching it", body = crate::schemas::Subscription),
        (status = 401, body = crate::schemas::Detail),
        (status = 404, description = "No such issue", body = crate::schemas::Detail),
    ))]
pub async fn unwatch(
    credentials: Credentials,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set(credentials, &id, false).await
}

async fn set(
    credentials: Credentials,
    id: &str,
    subscribed: bool,
) -> Result<HttpResponse, ApiError> {
    let issue = super::path_issue(id)?;
    let subscription = credentials
        .run(move |db, caller| {
            db.set_subscription(issue, &caller.user, subscribed)?
                .ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok().json(subscription))
}
