//! Webhook endpoints (staff only): `GET`/`POST /api/webhooks/`, `GET`/`PATCH`/`DELETE
//! /api/webhooks/<id>/`, `POST .../rotate-secret/`, `POST .../ping/`, the delivery log
//! `GET .../deliveries/` and `POST .../deliveries/<did>/redeliver/`.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use issue_tracker_domain::{
    new_webhook_secret, DeliveryId, DeliveryStatus, FieldErrors, Webhook, WebhookChanges, WebhookId,
};
use serde_json::{json, Value};

use super::staff_only;
use crate::auth::Credentials;
use crate::body::{content_type, parse_object, query_pairs, read_limited};
use crate::error::ApiError;

/// How long a rotated-out secret keeps signing alongside the new one.
pub const PREVIOUS_SECRET_GRACE: Duration = Duration::from_secs(24 * 3600);

/// The endpoint with its secret: shown at creation and rotation only.
fn with_secret(webhook: &Webhook, secret: &str) -> Value {
    let mut value = serde_json::to_value(webhook).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("secret".into(), Value::from(secret));
    }
    value
}

/// Reads a webhook body, staff only, after authentication. A URL whose host is a literal
/// internal address is refused at once unless `WEBHOOK_ALLOWED_HOSTS` lets it through (names
/// are checked when delivering, after DNS).
async fn read_changes(
    credentials: &Credentials,
    req: &HttpRequest,
    payload: web::Payload,
    partial: bool,
) -> Result<WebhookChanges, ApiError> {
    let caller = credentials.clone().authenticate().await?;
    staff_only(&caller)?;
    let state = credentials.state();
    let body = read_limited(req, payload, &state.settings.http).await?;
    let object = parse_object(content_type(req).as_deref(), &body)?;
    let changes = WebhookChanges::parse(&object, partial).map_err(ApiError::Validation)?;
    if let Some(url) = &changes.url {
        if let Some(problem) = issue_tracker_domain::webhook_literal_refusal(
            url,
            &state.settings.webhook_allowed_hosts,
        ) {
            let mut errors = FieldErrors::default();
            errors.add("url", problem);
            return Err(ApiError::Validation(errors));
        }
    }
    Ok(changes)
}

/// `GET /api/webhooks/`: every endpoint (staff).
#[utoipa::path(get, path = "/api/webhooks/", tag = "webhooks", security(("token" = [])),
    responses(
        (status = 200, description = "A bare array, oldest first", body = [crate::schemas::Webhook]),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
    ))]
pub async fn list_webhooks(credentials: Credentials) -> Result<HttpResponse, ApiError> {
    let hooks = credentials
        .run(|db, caller| {
            staff_only(caller)?;
            Ok(db.list_webhooks()?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(hooks))
}

/// `POST /api/webhooks/`: registers an endpoint; the answer shows its secret, this once.
#[utoipa::path(post, path = "/api/webhooks/", tag = "webhooks", security(("token" = [])),
    request_body(content = crate::schemas::WebhookWrite, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered; `secret` is shown this once", body = crate::schemas::WebhookWithSecret),
        (status = 400, description = "Invalid fields", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
        crate::schemas::BodyRefused,
    ))]
pub async fn create_webhook(
    credentials: Credentials,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let changes = read_changes(&credentials, &req, payload, false).await?;
    let created = credentials
        .run(move |db, caller| {
            staff_only(caller)?;
            let secret = new_webhook_secret();
            let hook = db.create_webhook(&changes, &secret)?;
            Ok(with_secret(&hook, &secret))
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// `GET /api/webhooks/<id>/`.
#[utoipa::path(get, path = "/api/webhooks/{id}/", tag = "webhooks", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = crate::schemas::Webhook),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
    ))]
pub async fn get_webhook(
    credentials: Credentials,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = WebhookId::parse(&id).ok_or(ApiError::NotFound)?;
    let hook = credentials
        .run(move |db, caller| {
            staff_only(caller)?;
            db.get_webhook(id)?.ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok().json(hook))
}

/// `PATCH /api/webhooks/<id>/`: any of `url`, `events`, `active`.
#[utoipa::path(patch, path = "/api/webhooks/{id}/", tag = "webhooks", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    request_body(content = Option<crate::schemas::WebhookPatch>, content_type = "application/json"),
    responses(
        (status = 200, body = crate::schemas::Webhook),
        (status = 400, description = "Invalid fields", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
        crate::schemas::BodyRefused,
    ))]
pub async fn update_webhook(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = WebhookId::parse(&id).ok_or(ApiError::NotFound)?;
    let changes = read_changes(&credentials, &req, payload, true).await?;
    let hook = credentials
        .run(move |db, caller| {
            staff_only(caller)?;
            db.update_webhook(id, &changes)?.ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok().json(hook))
}

/// `DELETE /api/webhooks/<id>/`: the endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/webhooks/{id}/", tag = "webhooks", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
    ))]
pub async fn delete_webhook(
    credentials: Credentials,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = WebhookId::parse(&id).ok_or(ApiError::NotFound)?;
    credentials
        .run(move |db, caller| {
            staff_only(caller)?;
            match db.delete_webhook(id)? {
                true => Ok(()),
                false => Err(ApiError::NotFound),
            }
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/webhooks/<id>/rotate-secret/`: a new secret, shown this once; the old one keeps
/// signing alongside for 24 hours.
#[utoipa::path(post, path = "/api/webhooks/{id}/rotate-secret/", tag = "webhooks", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The endpoint with its new `secret`", body = crate::schemas::WebhookWithSecret),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
    ))]
pub async fn rotate_secret(
    credentials: Credentials,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = WebhookId::parse(&id).ok_or(ApiError::NotFound)?;
    let rotated = credentials
        .run(move |db, caller| {
            staff_only(caller)?;
            let secret = new_webhook_secret();
            if !db.rotate_webhook_secret(id, &secret, PREVIOUS_SECRET_GRACE)? {
                return Err(ApiError::NotFound);
            }
            let hook = db.get_webhook(id)?.ok_or(ApiError::NotFound)?;
            Ok(with_secret(&hook, &secret))
        })
        .await?;
    Ok(HttpResponse::Ok().json(rotated))
}

/// `POST /api/webhooks/<id>/ping/`: queues a `webhook.ping` delivery.
#[utoipa::path(post, path = "/api/webhooks/{id}/ping/", tag = "webhooks", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 202, description = "Queued; the delivery", body = crate::schemas::DeliveryInfo),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
    ))]
pub async fn ping(
    credentials: Credentials,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = WebhookId::parse(&id).ok_or(ApiError::NotFound)?;
    let delivery = credentials
        .run(move |db, caller| {
            staff_only(caller)?;
            db.ping_webhook(id)?.ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(delivery))
}

/// `GET /api/webhooks/<id>/deliveries/`: the delivery log, newest first, each with its attempts.
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries/", tag = "webhooks", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1),
        ("status" = Option<String>, Query, description = "pending, sending, succeeded or failed"),
        ("page" = Option<i64>, Query, minimum = 1), ("per_page" = Option<u32>, Query, minimum = 1, maximum = 100)),
    responses(
        (status = 200, description = "A bare array, newest first; `X-Total-Count`", body = [crate::schemas::DeliveryInfo]),
        (status = 400, description = "A bad parameter", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
    ))]
pub async fn list_deliveries(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = WebhookId::parse(&id).ok_or(ApiError::NotFound)?;
    let pairs = query_pairs(req.query_string())?;
    let mut errors = FieldErrors::default();
    let find = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let status = find("status").filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(status) = &status {
        if DeliveryStatus::parse(status).is_none() {
            errors.add(
                "status",
                format!("Select a valid choice. {status} is not one of the available choices."),
            );
        }
    }
    let number = |name: &str, default: i64, max: i64, errors: &mut FieldErrors| match find(name) {
        None | Some("") => default,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                errors.add(name, format!("Enter a whole number from 1 to {max}."));
                default
            }
        },
    };
    let page = number("page", 1, i64::from(u32::MAX), &mut errors);
    let per_page = number("per_page", 30, 100, &mut errors);
    if !errors.is_empty() {
        // Authentication first: an anonymous caller gets 401 whatever it asked.
        credentials.clone().authenticate().await?;
        return Err(ApiError::Validation(errors));
    }
    let (list, total) = credentials
        .run(move |db, caller| {
            staff_only(caller)?;
            db.list_deliveries(
                id,
                status.as_deref().and_then(DeliveryStatus::parse),
                (page - 1) * per_page,
                per_page,
            )?
            .ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", total.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(list))
}

/// `POST /api/webhooks/<id>/deliveries/<did>/redeliver/`: delivers the same event again, as a
/// new delivery with the same `webhook-id`.
#[utoipa::path(post, path = "/api/webhooks/{id}/deliveries/{did}/redeliver/", tag = "webhooks", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1), ("did" = i64, Path, minimum = 1)),
    responses(
        (status = 202, description = "Queued; the new delivery", body = crate::schemas::DeliveryInfo),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
    ))]
pub async fn redeliver(
    credentials: Credentials,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, did) = path.into_inner();
    let (id, did) = (
        WebhookId::parse(&id).ok_or(ApiError::NotFound)?,
        DeliveryId::parse(&did).ok_or(ApiError::NotFound)?,
    );
    let delivery = credentials
        .run(move |db, caller| {
            staff_only(caller)?;
            db.redeliver(id, did)?.ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(json!(delivery)))
}
