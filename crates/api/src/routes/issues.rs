//! `/api/issue/` and `/api/issue/<id>/`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use issue_tracker_domain::{
    may_modify, FieldErrors, IssueChanges, IssueId, IssueInput, ListQuery, WriteMode,
};
use issue_tracker_persistence::{Database, NewIssue, StoredIssue, WriteCondition, WriteRefused};

use crate::auth::Credentials;
use crate::body::{content_type, parse_object, read_limited};
use crate::conditional::{check_if_match, if_match, issue_etag, respond_with_etag};
use crate::error::ApiError;

/// The most bytes of JSON an unpaged list answers with: 10,000 issues of 65,535 characters
/// would be gigabytes. Past it, the answer is the first page that fits (at most `MAX_PER_PAGE`
/// issues) with `Link` headers to the others, as past `LIST_CAP`.
pub const MAX_LIST_BYTES: usize = 8 * 1024 * 1024;

/// Rows read per query while building an unpaged list: a first batch that holds most lists
/// whole, then many when rows are small, few when they are large, so that the rows held at once
/// stay small too (a batch of 1,000 rows of 65,535 characters would be 65 MB).
fn next_batch(bytes_so_far: usize, rows_so_far: usize) -> i64 {
    match bytes_so_far.checked_div(rows_so_far) {
        None => 128,
        Some(average) if average > 4_096 => 32,
        Some(_) => 1_000,
    }
}

/// Serialises the unpaged list into a JSON array of at most [`MAX_LIST_BYTES`] (always at least
/// one issue), reading `cap` rows at most, in batches. Returns the body, how many issues it holds,
/// and whether it stopped at the byte bound.
fn unpaged_list(
    db: &Database,
    filter: &issue_tracker_domain::IssueFilter,
    cap: u32,
) -> Result<(Vec<u8>, usize, bool), ApiError> {
    let mut body = Vec::with_capacity(4_096);
    body.push(b'[');
    let mut count = 0usize;
    let mut ends = Vec::new();
    loop {
        let batch = next_batch(body.len(), count).min(cap as i64 - count as i64);
        if batch <= 0 {
            break;
        }
        let rows = db.list_issues_filtered(filter, count as i64, batch)?;
        let fetched = rows.len();
        for issue in rows {
            if count > 0 {
                body.push(b',');
            }
            // Serialised straight into the body; past the bound, cut back to whole pages.
            serde_json::to_writer(&mut body, &issue)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            if count > 0 && body.len() + 1 > MAX_LIST_BYTES {
                let keep = count.min(issue_tracker_domain::MAX_PER_PAGE as usize);
                body.truncate(ends[keep - 1]);
                body.push(b']');
                return Ok((body, keep, true));
            }
            ends.push(body.len());
            count += 1;
        }
        if (fetched as i64) < batch {
            break;
        }
    }
    body.push(b']');
    Ok((body, count, false))
}

/// `GET /api/issue/`: a bare array, as the contract says. Without `page`/`per_page`, every
/// matching issue up to `LIST_CAP` (and 8 MiB of JSON); with them, one page. `Link` and
/// `X-Total-Count` headers, an `ETag`, and the filters and ordering of `ListQuery`.
#[utoipa::path(get, path = "/api/issue/", tag = "issues", security(("token" = [])),
    params(
        ("page" = Option<i64>, Query, minimum = 1, description = "1-based page; with per_page, pages the list"),
        ("per_page" = Option<u32>, Query, minimum = 1, description = "Page size (default 30)"),
        ("status" = Option<crate::schemas::StatusFilter>, Query),
        ("assigned_to" = Option<String>, Query, description = "Username, or `me`"),
        ("created_by" = Option<String>, Query, description = "Username, or `me`"),
        ("q" = Option<String>, Query, description = "Case-insensitive text in title or description"),
        ("updated_since" = Option<String>, Query, description = "RFC 3339 date-time between years 1 and 9999 in UTC, e.g. 2026-01-31T12:00:00Z"),
        ("ordering" = Option<String>, Query, description = "Comma-separated of id, title, status, created_at, updated_at; `-` for descending"),
        ("label" = Option<Vec<String>>, Query, style = Form, explode, description = "A label name (any case), repeated: only issues carrying all of them; a name that is no label matches nothing"),
    ),
    responses(
        (status = 200, description = "A bare array; `Link` and `X-Total-Count` headers", body = [crate::schemas::Issue]),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A bad parameter, keyed by its name", body = crate::schemas::FieldErrors),
        (status = 401, description = "No or invalid token", body = crate::schemas::Detail),
        (status = 429, description = "Rate limited", body = crate::schemas::Detail),
    ))]
pub async fn list_issues(
    credentials: Credentials,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let state = credentials.state().clone();
    let settings = state.settings.clone();
    let pairs = crate::body::query_pairs(req.query_string())?;
    let cap = state.settings.http.list_cap.min(u32::MAX as usize) as u32;
    let (query, body, total) = credentials
        .run(move |db, caller| {
            let mut query = ListQuery::parse(&pairs, &caller.user.username, cap)
                .map_err(ApiError::Validation)?;
            let limit = query.per_page as i64;
            let (body, count, cut_short) = if query.paginated {
                let issues = db.list_issues_filtered(&query.filter, query.offset(), limit)?;
                let body =
                    serde_json::to_vec(&issues).map_err(|e| ApiError::Internal(e.to_string()))?;
                (body, issues.len(), false)
            } else {
                unpaged_list(db, &query.filter, cap)?
            };
            // A short first page is the whole list: no count needed.
            let total = if query.page == 1 && (count as i64) < limit && !cut_short {
                count as i64
            } else {
                state.counted(db, &query.filter)?
            };
            if cut_short {
                // Links to the rest, in pages of what fitted.
                query.per_page = count.max(1) as u32;
            }
            Ok((query, body, total))
        })
        .await?;
    let mut response = HttpResponse::Ok();
    response.insert_header(("X-Total-Count", total.to_string()));
    if let Some(links) = crate::pagination::link_header(&req, &settings.http, &query, total) {
        response.insert_header((header::LINK, links));
    }
    respond_with_etag(&req, response, crate::conditional::body_etag(&body), body)
}

/// `POST /api/issue/`: creates an issue by the caller.
#[utoipa::path(post, path = "/api/issue/", tag = "issues", security(("token" = [])),
    request_body(content = crate::schemas::IssueWrite, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `created_by` is the caller", body = crate::schemas::Issue),
        (status = 400, description = "Invalid fields", body = crate::schemas::FieldErrors),
        (status = 401, description = "No or invalid token", body = crate::schemas::Detail),
        crate::schemas::BodyRefused,
        (status = 429, description = "Rate limited", body = crate::schemas::Detail),
    ))]
pub async fn create_issue(
    credentials: Credentials,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Read now, judged after authentication: an anonymous oversized body still gets 401.
    let body = read_limited(&req, payload, &credentials.state().settings.http).await;
    let kind = content_type(&req);
    let state = credentials.state();
    let (delay, debounce) = (state.settings.assign_delay, state.settings.notify_debounce);
    if !state.db.can_queue_writes() {
        // PostgreSQL: the token and the write in one blocking call (one hand-over).
        let issue = credentials
            .run(
                move |db, caller| match parse_new_issue(kind.as_deref(), &body?)? {
                    Ok(fields) => created_or_refused(
                        db.create_issue(
                            &caller.user,
                            &fields.as_new(),
                            delay,
                            &caller.origin(),
                            debounce,
                        )?,
                        &fields.assignee,
                    ),
                    Err((input, errors)) => Err(refusal(db, input, errors)),
                },
            )
            .await?;
        return Ok(HttpResponse::Created().json(issue));
    }
    // SQLite: the token read in place when it can be, the write queued for the writer thread's
    // next group commit; no blocking thread waits for either.
    let caller = credentials.clone().authenticate().await?;
    let fields = match parse_new_issue(kind.as_deref(), &body?)? {
        Ok(fields) => fields,
        Err((input, errors)) => {
            return Err(state.run(move |db| Ok(refusal(db, input, errors))).await?)
        }
    };
    let created = match state.db.queue_create_issue(
        &caller.user,
        &fields.as_new(),
        delay,
        &caller.origin(),
        debounce,
    ) {
        Some(queued) => queued.await?,
        // `can_queue_writes` said it would be queued.
        None => return Err(ApiError::Internal("the write could not be queued".into())),
    };
    Ok(HttpResponse::Created().json(created_or_refused(created, &fields.assignee)?))
}

/// A new issue's fields, every one parsed.
struct NewIssueFields {
    title: issue_tracker_domain::Title,
    description: issue_tracker_domain::Description,
    status: issue_tracker_domain::Status,
    assignee: String,
}

impl NewIssueFields {
    fn as_new(&self) -> NewIssue<'_> {
        NewIssue {
            title: &self.title,
            description: &self.description,
            status: self.status,
            assignee: &self.assignee,
        }
    }
}

/// Parses a create's body: its fields when every one is there and valid; otherwise what parsed
/// and the errors, to be reported at once with the assignee's (which needs the database).
fn parse_new_issue(
    kind: Option<&str>,
    body: &[u8],
) -> Result<Result<NewIssueFields, (IssueInput, FieldErrors)>, ApiError> {
    let object = parse_object(kind, body)?;
    let (input, errors) = IssueInput::parse(&object, WriteMode::Create);
    if !errors.is_empty() {
        return Ok(Err((input, errors)));
    }
    Ok(match input {
        IssueInput {
            title: Some(title),
            description: Some(description),
            status: Some(status),
            assigned_to: Some(assignee),
        } => Ok(NewIssueFields {
            title,
            description,
            status,
            assignee,
        }),
        input => Err((input, errors)),
    })
}

/// The created issue, or the assignee's error when no active user has that name.
fn created_or_refused(
    created: Option<issue_tracker_domain::Issue>,
    assignee: &str,
) -> Result<issue_tracker_domain::Issue, ApiError> {
    created.ok_or_else(|| {
        let mut errors = FieldErrors::default();
        errors.add("assigned_to", IssueInput::unknown_assignee(assignee));
        ApiError::Validation(errors)
    })
}

/// Why a create was refused: every failing field at once, the assignee's existence included.
fn refusal(db: &Database, input: IssueInput, errors: FieldErrors) -> ApiError {
    resolve(db, input, errors)
        .err()
        .unwrap_or_else(|| ApiError::Internal("create without a required field".into()))
}

/// Checks the assignee exists and is active, adding its error to the others; every failing field
/// is reported at once.
fn resolve(
    db: &Database,
    input: IssueInput,
    errors: FieldErrors,
) -> Result<IssueChanges, ApiError> {
    input
        .resolve(errors, |name| db.find_active_user_id(name))?
        .map_err(ApiError::Validation)
}

fn load(db: &Database, raw_id: &str) -> Result<StoredIssue, ApiError> {
    let id = IssueId::parse(raw_id).ok_or(ApiError::NotFound)?;
    db.get_issue(id)?.ok_or(ApiError::NotFound)
}

/// `GET`/`HEAD /api/issue/<id>/`.
#[utoipa::path(get, path = "/api/issue/{id}/", tag = "issues", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The issue, with an `ETag`", body = crate::schemas::Issue),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, description = "No or invalid token", body = crate::schemas::Detail),
        (status = 404, description = "No such issue", body = crate::schemas::Detail),
    ))]
pub async fn get_issue(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let stored = credentials.read(move |db, _| load(db, &id)).await?;
    let body = serde_json::to_vec(&stored.issue).map_err(|e| ApiError::Internal(e.to_string()))?;
    let etag = issue_etag(&stored.issue);
    respond_with_etag(&req, HttpResponse::Ok(), etag, body)
}

fn refused(refused: WriteRefused) -> ApiError {
    match refused {
        WriteRefused::Missing => ApiError::NotFound,
        WriteRefused::NotCreator => ApiError::Forbidden,
        WriteRefused::Changed => ApiError::PreconditionFailed,
    }
}

async fn write_issue(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    mode: WriteMode,
) -> Result<HttpResponse, ApiError> {
    let state = credentials.state().clone();
    let precondition = if_match(&req);
    let raw_id = id.into_inner();
    let first_id = raw_id.clone();
    credentials
        .clone()
        .run(move |db, caller| {
            let stored = load(db, &first_id)?;
            if !may_modify(stored.creator, caller.user.id) {
                return Err(ApiError::Forbidden);
            }
            Ok(())
        })
        .await?;
    // The body is read only now: another user's malformed request gets 403, not 400.
    let body = read_limited(&req, payload, &state.settings.http).await?;
    let object = parse_object(content_type(&req).as_deref(), &body)?;
    let (input, errors) = IssueInput::parse(&object, mode);
    let delay = state.settings.assign_delay;
    let debounce = state.settings.notify_debounce;
    // Everything is checked again now that the body is here (it may have taken a while): the
    // token (revoked meanwhile: 401), and, in the write's own transaction, the creator and the
    // version the client's If-Match names.
    let updated = credentials
        .run(move |db, caller| {
            let stored = load(db, &raw_id)?;
            if !may_modify(stored.creator, caller.user.id) {
                return Err(ApiError::Forbidden);
            }
            let changes = resolve(db, input, errors)?;
            // After validation: an invalid request is a 400 whatever its preconditions.
            check_if_match(precondition.as_deref(), &stored.issue)?;
            let condition = WriteCondition {
                creator: Some(caller.user.id),
                version: precondition.is_some().then_some(stored.issue.updated_at),
            };
            db.update_issue(
                stored.issue.id,
                &changes,
                delay,
                &condition,
                &caller.origin(),
                debounce,
            )?
            .map_err(refused)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, issue_etag(&updated)))
        .json(updated))
}

/// `PUT /api/issue/<id>/`: the creator replaces all four writable fields.
#[utoipa::path(put, path = "/api/issue/{id}/", tag = "issues", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1), ("If-Match" = Option<String>, Header)),
    request_body(content = crate::schemas::IssueWrite, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = crate::schemas::Issue),
        crate::schemas::IssueChangeRefused,
        crate::schemas::BodyRefused,
    ))]
pub async fn replace_issue(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    write_issue(credentials, req, id, payload, WriteMode::Replace).await
}

/// `PATCH /api/issue/<id>/`: the creator changes any subset of the fields.
#[utoipa::path(patch, path = "/api/issue/{id}/", tag = "issues", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1), ("If-Match" = Option<String>, Header)),
    request_body(content = Option<crate::schemas::IssuePatch>, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated", body = crate::schemas::Issue),
        crate::schemas::IssueChangeRefused,
        crate::schemas::BodyRefused,
    ))]
pub async fn update_issue(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    write_issue(credentials, req, id, payload, WriteMode::Patch).await
}

/// `DELETE /api/issue/<id>/`: the creator deletes it.
#[utoipa::path(delete, path = "/api/issue/{id}/", tag = "issues", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or invalid token", body = crate::schemas::Detail),
        (status = 403, description = "Only the creator may delete it", body = crate::schemas::Detail),
        (status = 404, description = "No such issue", body = crate::schemas::Detail),
        (status = 412, description = "If-Match does not match: the issue changed", body = crate::schemas::Detail),
    ))]
pub async fn delete_issue(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let precondition = if_match(&req);
    let debounce = credentials.state().settings.notify_debounce;
    credentials
        .run(move |db, caller| {
            let stored = load(db, &id)?;
            if !may_modify(stored.creator, caller.user.id) {
                return Err(ApiError::Forbidden);
            }
            check_if_match(precondition.as_deref(), &stored.issue)?;
            let condition = WriteCondition {
                creator: Some(caller.user.id),
                version: precondition.is_some().then_some(stored.issue.updated_at),
            };
            db.delete_issue(stored.issue.id, &condition, &caller.origin(), debounce)?
                .map_err(refused)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
