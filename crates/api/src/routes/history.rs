//! `GET /api/issue/<id>/history/` (any authenticated user) and `GET /api/history/` (staff): the
//! history, oldest first, cursor-paged by event id.

use actix_web::{web, HttpRequest, HttpResponse};
use issue_tracker_domain::{HistoryPage, IssueId, TokenScope};
use issue_tracker_persistence::EventPage;

use crate::auth::Credentials;
use crate::body::query_pairs;
use crate::conditional::respond_with_etag;
use crate::error::ApiError;

fn page_of(req: &HttpRequest) -> Result<HistoryPage, ApiError> {
    let pairs = query_pairs(req.query_string())?;
    let find = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    HistoryPage::parse(find("after"), find("per_page")).map_err(ApiError::Validation)
}

/// The page as JSON with its `ETag` and, when more events follow, a `Link` to them.
fn respond(
    req: &HttpRequest,
    credentials: &Credentials,
    page: HistoryPage,
    events: EventPage,
    newest: Option<i64>,
) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(&events.events).map_err(|e| ApiError::Internal(e.to_string()))?;
    respond_with(req, credentials, page, &events, newest, body)
}

/// [`respond`] with the body already made (the history's events, or their webhook payloads).
fn respond_with(
    req: &HttpRequest,
    credentials: &Credentials,
    page: HistoryPage,
    events: &EventPage,
    newest: Option<i64>,
    body: Vec<u8>,
) -> Result<HttpResponse, ApiError> {
    // The newest event names the whole history's state; the page's bounds name the page.
    let etag = format!(
        "W/\"history-{}-{}-{}-{}\"",
        newest.unwrap_or(0),
        page.after,
        page.per_page,
        events.events.len()
    );
    let mut response = HttpResponse::Ok();
    if let (true, Some(last)) = (events.more, events.events.last()) {
        let base = format!(
            "{}{}",
            crate::client::public_base(req, &credentials.state().settings.http),
            req.path()
        );
        response.insert_header((
            actix_web::http::header::LINK,
            format!(
                "<{base}?after={}&per_page={}>; rel=\"next\"",
                last.id, page.per_page
            ),
        ));
    }
    respond_with_etag(req, response, etag, body)
}

/// `GET`/`HEAD /api/issue/<id>/history/`.
#[utoipa::path(get, path = "/api/issue/{id}/history/", tag = "history", security(("token" = [])),
    params(
        ("id" = i64, Path, minimum = 1),
        ("after" = Option<i64>, Query, minimum = 0, description = "Only events after this event id"),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Events per page (default 50)"),
    ),
    responses(
        (status = 200, description = "The issue's events, oldest first; `Link: rel=\"next\"` when more follow", body = [crate::schemas::Event]),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A bad parameter, keyed by its name", body = crate::schemas::FieldErrors),
        (status = 401, description = "No or invalid token", body = crate::schemas::Detail),
        (status = 404, description = "No such issue (staff still see a deleted issue's history)", body = crate::schemas::Detail),
    ))]
pub async fn issue_history(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let page = page_of(&req);
    let id = IssueId::parse(&id);
    let (page, events, newest) = credentials
        .clone()
        .run_scoped(TokenScope::EventsRead, move |db, caller| {
            let id = id.ok_or(ApiError::NotFound)?;
            // Validation after authentication and after the issue is known, as on the issue.
            let exists = db.get_issue(id)?.is_some();
            let newest = db.newest_issue_event(id)?;
            // A deleted issue's history is for staff only, as the issue was for its readers.
            let visible =
                exists || (caller.is_staff_or_has(TokenScope::EventsRead) && newest.is_some());
            if !visible {
                return Err(ApiError::NotFound);
            }
            let page = page?;
            Ok((page, db.issue_history(id, page)?, newest))
        })
        .await?;
    respond(&req, &credentials, page, events, newest)
}

/// `GET`/`HEAD /api/history/`: every event, for staff or an `events:read` token.
#[utoipa::path(get, path = "/api/history/", tag = "history", security(("token" = [])),
    params(
        ("after" = Option<i64>, Query, minimum = 0, description = "Only events after this event id"),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Events per page (default 50)"),
    ),
    responses(
        (status = 200, description = "Every event, oldest first; `Link: rel=\"next\"` when more follow", body = [crate::schemas::Event]),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A bad parameter, keyed by its name", body = crate::schemas::FieldErrors),
        (status = 401, description = "No or invalid token", body = crate::schemas::Detail),
        (status = 403, description = "Neither staff nor a token with the `events:read` scope", body = crate::schemas::Detail),
    ))]
pub async fn history_feed(
    credentials: Credentials,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (page, events) = staff_feed(&credentials, &req).await?;
    let newest = events.events.last().map(|event| event.id.get());
    respond(&req, &credentials, page, events, newest)
}

/// The page of the whole history that `?after=&per_page=` asks for; for staff, or a token with
/// the `events:read` scope.
async fn staff_feed(
    credentials: &Credentials,
    req: &HttpRequest,
) -> Result<(HistoryPage, EventPage), ApiError> {
    let page = page_of(req);
    credentials
        .clone()
        .run_scoped(TokenScope::EventsRead, move |db, caller| {
            if !caller.is_staff_or_has(TokenScope::EventsRead) {
                return Err(ApiError::Forbidden);
            }
            let page = page?;
            Ok((page, db.history_feed(page)?))
        })
        .await
}

/// `GET /api/events/` (staff, or a token with the `events:read` scope): the history as webhook
/// payloads, `{"id", "type", "timestamp", "data"}`, oldest first after `?after=`: what deliveries
/// carry, with the same ids, so a consumer that missed some catches up without gaps. Paged and gap-safe as `GET /api/history/`.
#[utoipa::path(get, path = "/api/events/", tag = "history", security(("token" = [])),
    params(("after" = Option<i64>, Query, minimum = 0, description = "Events with a larger id"),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100)),
    responses(
        (status = 200, description = "Oldest first; `Link: rel=\"next\"` when more follow", body = [crate::schemas::EventPayload]),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A bad parameter", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Neither staff nor a token with the `events:read` scope", body = crate::schemas::Detail),
    ))]
pub async fn event_feed(
    credentials: Credentials,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (page, events) = staff_feed(&credentials, &req).await?;
    let newest = events.events.last().map(|event| event.id.get());
    let payloads: Vec<serde_json::Value> = events
        .events
        .iter()
        .map(issue_tracker_domain::event_payload)
        .collect();
    let body = serde_json::to_vec(&payloads).map_err(|e| ApiError::Internal(e.to_string()))?;
    respond_with(&req, &credentials, page, &events, newest, body)
}
