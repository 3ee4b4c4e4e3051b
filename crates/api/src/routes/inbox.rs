//! The caller's notification inbox: `GET /api/notifications/` (conditional: `ETag` and
//! `Last-Modified` answer 304 from one indexed read), `PATCH`/`DELETE
//! /api/notifications/<id>/`, `POST /api/notifications/read/`. What goes in it, and why, is the
//! domain's (`inbox_entries`); the entries are written with the change that caused them.

use std::time::{Duration, SystemTime};

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use issue_tracker_domain::{BodyFields, InboxId, InboxNotification, InboxQuery};
use issue_tracker_persistence::{InboxFilter, InboxVersion};

use crate::auth::Credentials;
use crate::body::{content_type, parse_object, query_pairs, read_limited};
use crate::conditional::{body_etag, lists_etag};
use crate::error::ApiError;

/// How often a client should poll the inbox (`X-Poll-Interval`, seconds): a 304 is cheap, but
/// not free.
pub const POLL_INTERVAL_SECS: u64 = 60;

/// The validator of one view of an inbox: any write to the inbox moves its version, and the
/// query picks the view.
fn inbox_etag(version: &InboxVersion, query: &str) -> String {
    let micros = version.changed_at.map_or(0, |at| at.timestamp_micros());
    body_etag(format!("inbox.{}.{micros}.{query}", version.last_id).as_bytes())
}

/// `Last-Modified` has whole seconds: a change later in the same second would hide behind it.
/// So it is sent only once the inbox's last change is a second old, and what is sent is that
/// second, so that any later change is in a later second.
fn last_modified(version: &InboxVersion) -> Option<SystemTime> {
    let changed = version.changed_at?;
    let seconds = u64::try_from(changed.timestamp()).ok()?;
    (Utc::now() - changed >= chrono::TimeDelta::seconds(1))
        .then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

enum Listing {
    NotModified(InboxVersion),
    Page {
        version: InboxVersion,
        query: Box<InboxQuery>,
        body: Vec<u8>,
        total: i64,
    },
}

/// `GET /api/notifications/`: the caller's inbox, newest first.
#[utoipa::path(get, path = "/api/notifications/", tag = "notifications", security(("token" = [])),
    params(
        ("all" = Option<bool>, Query, description = "Read entries too (default: unread only)"),
        ("issue" = Option<i64>, Query, minimum = 1, description = "Only this issue's entries"),
        ("page" = Option<i64>, Query, minimum = 1),
        ("per_page" = Option<u32>, Query, minimum = 1, maximum = 100),
        ("If-None-Match" = Option<String>, Header),
        ("If-Modified-Since" = Option<String>, Header),
    ),
    responses(
        (status = 200, description = "A page of entries; `X-Poll-Interval` says how often to poll", body = [crate::schemas::InboxNotification]),
        (status = 304, description = "Not modified (If-None-Match or If-Modified-Since)"),
        (status = 400, description = "A bad parameter", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
    ))]
pub async fn list_inbox(
    credentials: Credentials,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let state = credentials.state().clone();
    let pairs = query_pairs(req.query_string())?;
    let cap = state.settings.http.list_cap.min(u32::MAX as usize) as u32;
    let query_string = req.query_string().to_owned();
    // A value that is not text matches nothing, but still outranks If-Modified-Since.
    let if_none_match: Option<String> = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let modified_since: Option<SystemTime> = req
        .get_header::<header::IfModifiedSince>()
        .map(|since| since.0.into());
    let listing = credentials
        .run(move |db, caller| {
            let query = InboxQuery::parse(&pairs, cap).map_err(ApiError::Validation)?;
            let version = db.inbox_version(&caller.user)?;
            // If-None-Match wins over If-Modified-Since (RFC 9110, 13.2.2).
            let fresh = if let Some(tags) = &if_none_match {
                lists_etag(tags, &inbox_etag(&version, &query_string))
            } else {
                matches!((last_modified(&version), modified_since), (Some(at), Some(since)) if at <= since)
            };
            if fresh {
                return Ok(Listing::NotModified(version));
            }
            let filter = InboxFilter {
                all: query.all,
                issue: query.issue,
            };
            let (entries, total) = db.inbox(
                &caller.user,
                filter,
                query.page.offset(),
                query.page.per_page as i64,
            )?;
            let body =
                serde_json::to_vec(&entries).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(Listing::Page {
                version,
                query: Box::new(query),
                body,
                total,
            })
        })
        .await?;
    let query_string = req.query_string();
    let version = match &listing {
        Listing::NotModified(version) | Listing::Page { version, .. } => *version,
    };
    let mut response = match listing {
        Listing::NotModified(_) => HttpResponse::NotModified(),
        Listing::Page { .. } => HttpResponse::Ok(),
    };
    response
        .insert_header((header::ETAG, inbox_etag(&version, query_string)))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header(("X-Poll-Interval", POLL_INTERVAL_SECS.to_string()));
    if let Some(at) = last_modified(&version) {
        response.insert_header((header::LAST_MODIFIED, header::HttpDate::from(at)));
    }
    match listing {
        Listing::NotModified(_) => Ok(response.finish()),
        Listing::Page {
            query, body, total, ..
        } => {
            response.insert_header(("X-Total-Count", total.to_string()));
            if let Some(links) =
                crate::pagination::link_header(&req, &state.settings.http, &query.page, total)
            {
                response.insert_header((header::LINK, links));
            }
            Ok(response
                .content_type(header::ContentType::json())
                .body(body))
        }
    }
}

fn entry_id(segment: &str) -> Result<InboxId, ApiError> {
    InboxId::parse(segment).ok_or(ApiError::NotFound)
}

/// `PATCH /api/notifications/<id>/`: `{"unread": false}` marks the entry read (`true`: unread
/// again).
#[utoipa::path(patch, path = "/api/notifications/{id}/", tag = "notifications", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    request_body(content = crate::schemas::InboxMark, content_type = "application/json"),
    responses(
        (status = 200, description = "The entry after", body = crate::schemas::InboxNotification),
        (status = 400, description = "`unread` missing or not a boolean", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 404, description = "No such entry in the caller's inbox", body = crate::schemas::Detail),
        crate::schemas::BodyRefused,
    ))]
pub async fn mark_entry(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = entry_id(&id)?;
    let body = read_limited(&req, payload, &credentials.state().settings.http).await;
    let kind = content_type(&req);
    let entry: InboxNotification = credentials
        .run(move |db, caller| {
            let object = parse_object(kind.as_deref(), &body?)?;
            let mut fields = BodyFields::new(&object);
            let unread = match fields.value("unread", true) {
                Some(_) => fields.boolean("unread"),
                None => None,
            };
            let Some(unread) = unread.filter(|_| fields.ok()) else {
                return Err(ApiError::Validation(fields.into_errors()));
            };
            db.mark_inbox_entry(&caller.user, id, unread)?
                .ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok().json(entry))
}

/// `DELETE /api/notifications/<id>/`: marks the entry done (gone from the inbox).
#[utoipa::path(delete, path = "/api/notifications/{id}/", tag = "notifications", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 204, description = "Done"),
        (status = 401, body = crate::schemas::Detail),
        (status = 404, description = "No such entry in the caller's inbox", body = crate::schemas::Detail),
    ))]
pub async fn mark_done(
    credentials: Credentials,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = entry_id(&id)?;
    credentials
        .run(move |db, caller| {
            db.mark_inbox_done(&caller.user, id)?
                .then_some(())
                .ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/notifications/read/`: marks the caller's unread entries read: all of them, or
/// (`{"last_read_at": "<RFC 3339>"}`) those that arrived at or before that time.
#[utoipa::path(post, path = "/api/notifications/read/", tag = "notifications", security(("token" = [])),
    request_body(content = Option<crate::schemas::InboxReadAll>, content_type = "application/json"),
    responses(
        (status = 200, description = "How many entries were marked", body = crate::schemas::InboxMarked),
        (status = 400, description = "`last_read_at` is not an RFC 3339 time", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        crate::schemas::BodyRefused,
    ))]
pub async fn mark_all_read(
    credentials: Credentials,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(&req, payload, &credentials.state().settings.http).await;
    let kind = content_type(&req);
    let marked = credentials
        .run(move |db, caller| {
            let object = parse_object(kind.as_deref(), &body?)?;
            let mut fields = BodyFields::new(&object);
            let up_to = match fields.value("last_read_at", false) {
                None => None,
                Some(value) => match value.as_str().map(DateTime::parse_from_rfc3339) {
                    Some(Ok(at)) => Some(at.to_utc()),
                    _ => {
                        fields.add(
                            "last_read_at",
                            "Datetime has wrong format. Use RFC 3339, e.g. 2026-12-06T09:00:00Z.",
                        );
                        None
                    }
                },
            };
            if !fields.ok() {
                return Err(ApiError::Validation(fields.into_errors()));
            }
            Ok(db.mark_inbox_read(&caller.user, up_to)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "marked": marked })))
}
