//! Comments: `GET`/`POST /api/issue/<id>/comments/`, `GET`/`PATCH`/`DELETE /api/comments/<cid>/`.
//! Anyone authenticated reads and comments; only the author edits; the author or staff delete.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use issue_tracker_domain::{parse_comment_body, BodyFields, CommentId, ListQuery};
use issue_tracker_persistence::CommentRefused;

use crate::auth::Credentials;
use crate::body::{content_type, parse_object, read_limited};
use crate::conditional::{body_etag, comment_etag, if_match, if_match_holds, respond_with_etag};
use crate::error::ApiError;

fn refused(refused: CommentRefused) -> ApiError {
    match refused {
        CommentRefused::Missing => ApiError::NotFound,
        CommentRefused::Forbidden => ApiError::Forbidden,
        CommentRefused::Changed => ApiError::PreconditionFailed,
    }
}

/// The `body` of a comment request, or the field errors.
async fn read_body(
    credentials: &Credentials,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<String, ApiError> {
    let body = read_limited(req, payload, &credentials.state().settings.http).await?;
    let object = parse_object(content_type(req).as_deref(), &body)?;
    let mut fields = BodyFields::new(&object);
    let text = fields.value("body", true).and_then(|value| {
        parse_comment_body(value)
            .map_err(|e| fields.add_all("body", e.messages()))
            .ok()
    });
    match text {
        Some(text) if fields.ok() => Ok(text),
        _ => Err(ApiError::Validation(fields.into_errors())),
    }
}

/// `GET /api/issue/<id>/comments/`: the issue's comments, oldest first, paged like the issue
/// list (`page`, `per_page`, `Link`, `X-Total-Count`, `ETag`).
#[utoipa::path(get, path = "/api/issue/{id}/comments/", tag = "comments", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1),
        ("page" = Option<i64>, Query, minimum = 1), ("per_page" = Option<u32>, Query, minimum = 1, maximum = 100)),
    responses(
        (status = 200, description = "A bare array, oldest first", body = [crate::schemas::Comment]),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A bad parameter", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 404, description = "No such issue", body = crate::schemas::Detail),
    ))]
pub async fn list_comments(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let issue = super::path_issue(&id)?;
    let state = credentials.state().clone();
    let pairs = crate::body::query_pairs(req.query_string())?;
    let cap = state.settings.http.list_cap.min(u32::MAX as usize) as u32;
    let (query, body, total) = credentials
        .run(move |db, caller| {
            let query = ListQuery::parse(&pairs, &caller.user.username, cap)
                .map_err(ApiError::Validation)?;
            let (comments, total) = db
                .list_comments(issue, query.offset(), query.per_page as i64)?
                .ok_or(ApiError::NotFound)?;
            let body =
                serde_json::to_vec(&comments).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok((query, body, total))
        })
        .await?;
    let mut response = HttpResponse::Ok();
    response.insert_header(("X-Total-Count", total.to_string()));
    if let Some(links) = crate::pagination::link_header(&req, &state.settings.http, &query, total) {
        response.insert_header((header::LINK, links));
    }
    respond_with_etag(&req, response, body_etag(&body), body)
}

/// `POST /api/issue/<id>/comments/`: comments on the issue as the caller.
#[utoipa::path(post, path = "/api/issue/{id}/comments/", tag = "comments", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    request_body(content = crate::schemas::CommentWrite, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `author` is the caller", body = crate::schemas::Comment),
        (status = 400, description = "Invalid body", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 404, description = "No such issue", body = crate::schemas::Detail),
        crate::schemas::BodyRefused,
    ))]
pub async fn create_comment(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let issue = super::path_issue(&id)?;
    // Judged after authentication (in `run`): an anonymous bad body gets 401, as for issues.
    let text = read_body(&credentials, &req, payload).await;
    let debounce = credentials.state().settings.notify_debounce;
    let comment = credentials
        .run(move |db, caller| {
            db.create_comment(issue, &caller.user, &text?, &caller.origin(), debounce)?
                .ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::ETAG, comment_etag(&comment)))
        .json(comment))
}

/// `GET /api/comments/<cid>/`.
#[utoipa::path(get, path = "/api/comments/{cid}/", tag = "comments", security(("token" = [])),
    params(("cid" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = crate::schemas::Comment),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
    ))]
pub async fn get_comment(
    credentials: Credentials,
    req: HttpRequest,
    cid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = CommentId::parse(&cid).ok_or(ApiError::NotFound)?;
    let comment = credentials
        .read(move |db, _| db.get_comment(id)?.ok_or(ApiError::NotFound))
        .await?;
    let body = serde_json::to_vec(&comment).map_err(|e| ApiError::Internal(e.to_string()))?;
    respond_with_etag(&req, HttpResponse::Ok(), comment_etag(&comment), body)
}

/// `PATCH /api/comments/<cid>/`: the author replaces the body (`If-Match` honoured).
#[utoipa::path(patch, path = "/api/comments/{cid}/", tag = "comments", security(("token" = [])),
    params(("cid" = i64, Path, minimum = 1), ("If-Match" = Option<String>, Header)),
    request_body(content = crate::schemas::CommentWrite, content_type = "application/json"),
    responses(
        (status = 200, body = crate::schemas::Comment),
        (status = 400, description = "Invalid body", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Not the author", body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
        (status = 412, description = "If-Match does not match: the comment changed", body = crate::schemas::Detail),
        crate::schemas::BodyRefused,
    ))]
pub async fn edit_comment(
    credentials: Credentials,
    req: HttpRequest,
    cid: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = CommentId::parse(&cid).ok_or(ApiError::NotFound)?;
    // Someone else's comment is 403 (and a missing one 404) before the body is judged.
    credentials
        .clone()
        .run(move |db, caller| match db.get_comment(id)? {
            None => Err(ApiError::NotFound),
            Some(comment) if comment.author != caller.user.username => Err(ApiError::Forbidden),
            Some(_) => Ok(()),
        })
        .await?;
    let text = read_body(&credentials, &req, payload).await?;
    let precondition = if_match(&req);
    let debounce = credentials.state().settings.notify_debounce;
    let comment = credentials
        .run(move |db, caller| {
            let holds = move |c: &issue_tracker_domain::Comment| {
                if_match_holds(precondition.as_deref(), &comment_etag(c))
            };
            db.edit_comment(id, &caller.user, &text, &holds, &caller.origin(), debounce)?
                .map_err(refused)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, comment_etag(&comment)))
        .json(comment))
}

/// `DELETE /api/comments/<cid>/`: the author or staff (`If-Match` honoured).
#[utoipa::path(delete, path = "/api/comments/{cid}/", tag = "comments", security(("token" = [])),
    params(("cid" = i64, Path, minimum = 1), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Neither the author nor staff", body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
        (status = 412, description = "If-Match does not match: the comment changed", body = crate::schemas::Detail),
    ))]
pub async fn delete_comment(
    credentials: Credentials,
    req: HttpRequest,
    cid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = CommentId::parse(&cid).ok_or(ApiError::NotFound)?;
    let precondition = if_match(&req);
    credentials
        .run(move |db, caller| {
            let holds = move |c: &issue_tracker_domain::Comment| {
                if_match_holds(precondition.as_deref(), &comment_etag(c))
            };
            db.delete_comment(id, &caller.user, &holds, &caller.origin())?
                .map_err(refused)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
