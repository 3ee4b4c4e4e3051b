//! Labels: `GET`/`POST /api/labels/`, `GET`/`PATCH`/`DELETE /api/labels/<id>/` (staff write,
//! everyone authenticated reads), and the labels of an issue: `GET`/`POST`/`PUT
//! /api/issue/<id>/labels/`, `DELETE /api/issue/<id>/labels/<name>/` (its creator or staff).

use actix_web::{web, HttpRequest, HttpResponse};
use issue_tracker_domain::{
    may_modify, parse_label_list, parse_label_name, FieldErrors, IssueId, LabelChanges, LabelId,
};
use issue_tracker_persistence::{
    IssueLabelsRefused, LabelEdit, LabelRefused, WriteCondition, WriteRefused,
};
use serde_json::{Map, Value};

use super::{path_issue, staff_only};
use crate::auth::Credentials;
use crate::body::{content_type, parse_object, read_limited};
use crate::conditional::{body_etag, respond_with_etag};
use crate::error::ApiError;

const NAME_TAKEN: &str = "A label with this name already exists.";

fn one_error(field: &str, message: impl Into<String>) -> ApiError {
    let mut errors = FieldErrors::default();
    errors.add(field, message);
    ApiError::Validation(errors)
}

fn label_refused(refused: LabelRefused) -> ApiError {
    match refused {
        LabelRefused::Missing => ApiError::NotFound,
        LabelRefused::NameTaken => one_error("name", NAME_TAKEN),
    }
}

fn json_ok(req: &HttpRequest, value: &impl serde::Serialize) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    respond_with_etag(req, HttpResponse::Ok(), body_etag(&body), body)
}

/// The body of a request as a JSON object (read after authentication, so that an anonymous
/// caller gets 401 whatever it sent).
async fn read_object(
    credentials: &Credentials,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Map<String, Value>, ApiError> {
    let body = read_limited(req, payload, &credentials.state().settings.http).await?;
    parse_object(content_type(req).as_deref(), &body)
}

/// `GET /api/labels/`: every label, sorted by name.
#[utoipa::path(get, path = "/api/labels/", tag = "labels", security(("token" = [])),
    responses(
        (status = 200, description = "A bare array, sorted by name (regardless of case)", body = [crate::schemas::Label]),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, body = crate::schemas::Detail),
    ))]
pub async fn list_labels(
    credentials: Credentials,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let labels = credentials.run(|db, _| Ok(db.list_labels()?)).await?;
    json_ok(&req, &labels)
}

/// `POST /api/labels/`: staff create a label.
#[utoipa::path(post, path = "/api/labels/", tag = "labels", security(("token" = [])),
    request_body(content = crate::schemas::LabelWrite, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = crate::schemas::Label),
        (status = 400, description = "Invalid fields, or the name is taken (in any case)", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
        crate::schemas::BodyRefused,
    ))]
pub async fn create_label(
    credentials: Credentials,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = credentials.clone().authenticate().await?;
    staff_only(&caller)?;
    let object = read_object(&credentials, &req, payload).await?;
    let new = LabelChanges::parse(&object, false).map_err(ApiError::Validation)?;
    let label = credentials
        .run(move |db, caller| {
            staff_only(caller)?;
            db.create_label(&new)?.map_err(label_refused)
        })
        .await?;
    Ok(HttpResponse::Created().json(label))
}

/// `GET /api/labels/<id>/`.
#[utoipa::path(get, path = "/api/labels/{id}/", tag = "labels", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = crate::schemas::Label),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
    ))]
pub async fn get_label(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = LabelId::parse(&id).ok_or(ApiError::NotFound)?;
    let label = credentials
        .read(move |db, _| db.get_label(id)?.ok_or(ApiError::NotFound))
        .await?;
    json_ok(&req, &label)
}

/// `PATCH /api/labels/<id>/`: staff change any of the fields. A new name shows on every issue
/// carrying the label (their `updated_at` moves).
#[utoipa::path(patch, path = "/api/labels/{id}/", tag = "labels", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    request_body(content = Option<crate::schemas::LabelPatch>, content_type = "application/json"),
    responses(
        (status = 200, body = crate::schemas::Label),
        (status = 400, description = "Invalid fields, or the name is taken", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
        crate::schemas::BodyRefused,
    ))]
pub async fn update_label(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = LabelId::parse(&id).ok_or(ApiError::NotFound)?;
    let caller = credentials.clone().authenticate().await?;
    staff_only(&caller)?;
    let object = read_object(&credentials, &req, payload).await?;
    let changes = LabelChanges::parse(&object, true).map_err(ApiError::Validation)?;
    let label = credentials
        .run(move |db, caller| {
            staff_only(caller)?;
            db.update_label(id, &changes)?.map_err(label_refused)
        })
        .await?;
    Ok(HttpResponse::Ok().json(label))
}

/// `DELETE /api/labels/<id>/`: staff delete a label; it comes off every issue.
#[utoipa::path(delete, path = "/api/labels/{id}/", tag = "labels", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
        (status = 404, body = crate::schemas::Detail),
    ))]
pub async fn delete_label(
    credentials: Credentials,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = LabelId::parse(&id).ok_or(ApiError::NotFound)?;
    credentials
        .run(move |db, caller| {
            staff_only(caller)?;
            match db.delete_label(id, &caller.origin())? {
                true => Ok(()),
                false => Err(ApiError::NotFound),
            }
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/issue/<id>/labels/`: the issue's labels, sorted by name.
#[utoipa::path(get, path = "/api/issue/{id}/labels/", tag = "labels", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "A bare array, sorted by name", body = [crate::schemas::Label]),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, body = crate::schemas::Detail),
        (status = 404, description = "No such issue", body = crate::schemas::Detail),
    ))]
pub async fn list_issue_labels(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let issue = path_issue(&id)?;
    let labels = credentials
        .run(move |db, _| db.issue_labels(issue)?.ok_or(ApiError::NotFound))
        .await?;
    json_ok(&req, &labels)
}

/// The issue exists and the caller is its creator or staff: checked before the body is read
/// (another user's malformed request gets 403, not 400), and again in the write's transaction.
async fn may_label(credentials: &Credentials, issue: IssueId) -> Result<(), ApiError> {
    credentials
        .clone()
        .run(move |db, caller| {
            let stored = db.get_issue(issue)?.ok_or(ApiError::NotFound)?;
            match caller.is_staff() || may_modify(stored.creator, caller.user.id) {
                true => Ok(()),
                false => Err(ApiError::Forbidden),
            }
        })
        .await
}

fn issue_labels_refused(refused: IssueLabelsRefused) -> ApiError {
    match refused {
        IssueLabelsRefused::Issue(WriteRefused::Missing) => ApiError::NotFound,
        IssueLabelsRefused::Issue(WriteRefused::NotCreator) => ApiError::Forbidden,
        IssueLabelsRefused::Issue(WriteRefused::Changed) => ApiError::PreconditionFailed,
        IssueLabelsRefused::Unknown(names) => {
            let mut errors = FieldErrors::default();
            for name in names {
                errors.add("labels", format!("There is no label named \"{name}\"."));
            }
            ApiError::Validation(errors)
        }
        IssueLabelsRefused::NotOnIssue => ApiError::NotFound,
    }
}

/// Writes an edit of an issue's labels as the caller and answers with its labels.
async fn edit_labels(
    credentials: Credentials,
    issue: IssueId,
    edit: LabelEdit,
) -> Result<HttpResponse, ApiError> {
    let labels = credentials
        .run(move |db, caller| {
            let condition = WriteCondition {
                creator: (!caller.is_staff()).then_some(caller.user.id),
                version: None,
            };
            db.edit_issue_labels(issue, &edit, &condition, &caller.origin())?
                .map_err(issue_labels_refused)
        })
        .await?;
    Ok(HttpResponse::Ok().json(labels))
}

/// `POST` and `PUT` on an issue's labels: reads `{"labels": [...]}`.
async fn read_label_list(
    credentials: &Credentials,
    req: &HttpRequest,
    payload: web::Payload,
    required_nonempty: bool,
) -> Result<Vec<String>, ApiError> {
    let object = read_object(credentials, req, payload).await?;
    let mut errors = FieldErrors::default();
    match object.get("labels") {
        None => errors.add("labels", issue_tracker_domain::messages::REQUIRED),
        Some(Value::Null) => errors.add("labels", issue_tracker_domain::messages::NULL),
        Some(value) => match parse_label_list(value, required_nonempty) {
            Ok(names) => return Ok(names),
            Err(problem) => errors.add("labels", problem),
        },
    }
    Err(ApiError::Validation(errors))
}

/// `POST /api/issue/<id>/labels/`: adds labels (those already on it stay).
#[utoipa::path(post, path = "/api/issue/{id}/labels/", tag = "labels", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    request_body(content = crate::schemas::IssueLabelsWrite, content_type = "application/json"),
    responses(
        (status = 200, description = "The issue's labels now", body = [crate::schemas::Label]),
        (status = 400, description = "Invalid list, or a name that is no label (nothing changed)", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Neither the issue's creator nor staff", body = crate::schemas::Detail),
        (status = 404, description = "No such issue", body = crate::schemas::Detail),
        crate::schemas::BodyRefused,
    ))]
pub async fn add_issue_labels(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let issue = path_issue(&id)?;
    may_label(&credentials, issue).await?;
    let names = read_label_list(&credentials, &req, payload, true).await?;
    edit_labels(credentials, issue, LabelEdit::Add(names)).await
}

/// `PUT /api/issue/<id>/labels/`: makes these its labels (`[]` takes them all off).
#[utoipa::path(put, path = "/api/issue/{id}/labels/", tag = "labels", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    request_body(content = crate::schemas::IssueLabelsWrite, content_type = "application/json"),
    responses(
        (status = 200, description = "The issue's labels now", body = [crate::schemas::Label]),
        (status = 400, description = "Invalid list, or a name that is no label (nothing changed)", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Neither the issue's creator nor staff", body = crate::schemas::Detail),
        (status = 404, description = "No such issue", body = crate::schemas::Detail),
        crate::schemas::BodyRefused,
    ))]
pub async fn replace_issue_labels(
    credentials: Credentials,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let issue = path_issue(&id)?;
    may_label(&credentials, issue).await?;
    let names = read_label_list(&credentials, &req, payload, false).await?;
    edit_labels(credentials, issue, LabelEdit::Replace(names)).await
}

/// `DELETE /api/issue/<id>/labels/<name>/`: takes one label off (any case of its name).
#[utoipa::path(delete, path = "/api/issue/{id}/labels/{name}/", tag = "labels", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1), ("name" = String, Path)),
    responses(
        (status = 200, description = "The issue's labels now", body = [crate::schemas::Label]),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Neither the issue's creator nor staff", body = crate::schemas::Detail),
        (status = 404, description = "No such issue, or the label is not on it", body = crate::schemas::Detail),
    ))]
pub async fn remove_issue_label(
    credentials: Credentials,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let issue = path_issue(&id)?;
    may_label(&credentials, issue).await?;
    // A name no label can have is on no issue.
    let name = parse_label_name(&Value::String(name)).map_err(|_| ApiError::NotFound)?;
    edit_labels(credentials, issue, LabelEdit::Remove(name)).await
}
