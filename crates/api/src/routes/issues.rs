//! `/api/issue/` and `/api/issue/<id>/`.

use actix_web::{web, HttpRequest, HttpResponse};
use issue_tracker_domain::{may_modify, IssueChanges, IssueId, IssueInput, UserId, WriteMode};
use issue_tracker_persistence::{Database, NewIssue, StoredIssue};

use crate::auth::AuthenticatedUser;
use crate::body::{parse_object, read_limited};
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/issue/`: every issue by ascending id, up to the safety cap.
pub async fn list_issues(
    _: AuthenticatedUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let cap = state.settings.list_cap as i64;
    let issues = state.run(move |db| Ok(db.list_issues(0, cap)?)).await?;
    Ok(HttpResponse::Ok().json(issues))
}

/// `POST /api/issue/`: creates an issue by the caller.
pub async fn create_issue(
    caller: AuthenticatedUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(&req, payload, state.settings.max_body_bytes).await?;
    let object = parse_object(&req, &body)?;
    let (input, errors) = IssueInput::parse(&object, WriteMode::Create);
    let creator = caller.user.id;
    let issue = state
        .run(move |db| {
            let changes = resolve(db, input, errors)?;
            let (Some(title), Some(description), Some(status), Some(assigned_to)) = (
                changes.title,
                changes.description,
                changes.status,
                changes.assigned_to,
            ) else {
                return Err(ApiError::Internal("create without a required field".into()));
            };
            Ok(db.create_issue(
                creator,
                &NewIssue {
                    title: title.as_str(),
                    description: description.as_str(),
                    status,
                    assigned_to,
                },
            )?)
        })
        .await?;
    Ok(HttpResponse::Created().json(issue))
}

/// Checks the assignee exists and is active, adding its error to the others; every failing field
/// is reported at once.
fn resolve(
    db: &Database,
    input: IssueInput,
    mut errors: issue_tracker_domain::FieldErrors,
) -> Result<IssueChanges, ApiError> {
    let mut assigned_to: Option<UserId> = None;
    if let Some(name) = &input.assigned_to {
        match db.find_active_user_id(name)? {
            Some(id) => assigned_to = Some(id),
            None => errors.add("assigned_to", IssueInput::unknown_assignee(name)),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(IssueChanges {
        title: input.title,
        description: input.description,
        status: input.status,
        assigned_to,
    })
}

fn parse_id(raw: &str) -> Result<IssueId, ApiError> {
    IssueId::parse(raw).ok_or(ApiError::NotFound)
}

async fn load(state: &AppState, id: IssueId) -> Result<StoredIssue, ApiError> {
    state
        .run(move |db| db.get_issue(id)?.ok_or(ApiError::NotFound))
        .await
}

/// `GET`/`HEAD /api/issue/<id>/`.
pub async fn get_issue(
    _: AuthenticatedUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let stored = load(&state, id).await?;
    Ok(HttpResponse::Ok().json(stored.issue))
}

async fn write_issue(
    caller: AuthenticatedUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    mode: WriteMode,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let stored = load(&state, id).await?;
    if !may_modify(stored.creator, caller.user.id) {
        return Err(ApiError::Forbidden);
    }
    // The body is read only now: another user's malformed request gets 403, not 400.
    let body = read_limited(&req, payload, state.settings.max_body_bytes).await?;
    let object = parse_object(&req, &body)?;
    let (input, errors) = IssueInput::parse(&object, mode);
    let updated = state
        .run(move |db| {
            let changes = resolve(db, input, errors)?;
            db.update_issue(id, &changes)?.ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// `PUT /api/issue/<id>/`: the creator replaces all four writable fields.
pub async fn replace_issue(
    caller: AuthenticatedUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    write_issue(caller, state, req, id, payload, WriteMode::Replace).await
}

/// `PATCH /api/issue/<id>/`: the creator changes any subset of the fields.
pub async fn update_issue(
    caller: AuthenticatedUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    write_issue(caller, state, req, id, payload, WriteMode::Patch).await
}

/// `DELETE /api/issue/<id>/`: the creator deletes it.
pub async fn delete_issue(
    caller: AuthenticatedUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let stored = load(&state, id).await?;
    if !may_modify(stored.creator, caller.user.id) {
        return Err(ApiError::Forbidden);
    }
    let deleted = state.run(move |db| Ok(db.delete_issue(id)?)).await?;
    if !deleted {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}
