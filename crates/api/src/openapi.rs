//! The OpenAPI 3.1 description of the API, served at `/api/openapi.json`, and the Swagger UI at
//! `/api/docs/` (its assets are compiled in: it works with no internet).
//!
//! The documented shapes mirror the handlers; `tests/api/openapi.rs` checks that every route of
//! the route table is described, and CI runs schemathesis against the server from this document.

#![allow(dead_code)]

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// An issue.
#[derive(ToSchema)]
#[schema(example = json!({"id": 13, "created_by": "nithin", "title": "New issue 101", "description": "Please take care of this ticket", "status": "open", "assigned_to": "anotheruser", "created_at": "2026-01-02T03:04:05.000000Z", "updated_at": "2026-01-02T03:04:05.000000Z"}))]
struct Issue {
    id: i64,
    /// The creator's username.
    created_by: String,
    #[schema(max_length = 255)]
    title: String,
    #[schema(max_length = 65535)]
    description: String,
    status: Status,
    /// The assignee's username.
    assigned_to: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
enum Status {
    Open,
    Closed,
}

/// A visible character somewhere, and no NUL: what survives trimming as a non-blank text.
const VISIBLE: &str = "^[^\\u0000]*[^\\s\\u0000\\u001c-\\u001f\\u0085][^\\u0000]*$";

/// Text fields take a string or, as the original did, a number (its decimal text).
fn text_or_number(max: Option<usize>, description: &str) -> Schema {
    let mut text = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(VISIBLE));
    if let Some(max) = max {
        text = text.max_length(Some(max));
    }
    OneOfBuilder::new()
        .item(text)
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .description(Some(description))
        .into()
}

fn title_schema() -> Schema {
    text_or_number(
        Some(255),
        "Trimmed; 1 to 255 characters; no NUL. A number is taken as its text.",
    )
}

fn description_schema() -> Schema {
    text_or_number(
        Some(65_535),
        "Trimmed; 1 to 65,535 characters; no NUL. A number is taken as its text.",
    )
}

fn assignee_schema() -> Schema {
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1));
    OneOfBuilder::new()
        .item(name)
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .description(Some(
            "The username of an active user (exact case, not trimmed).",
        ))
        .into()
}

fn login_text_schema() -> Schema {
    text_or_number(None, "Not blank. A number is taken as its text.")
}

/// The four writable fields, all required (`POST`, `PUT`). Also accepted form-encoded. `id`,
/// `created_by` and unknown keys are ignored.
#[derive(ToSchema)]
struct IssueWrite {
    #[schema(schema_with = title_schema)]
    title: String,
    #[schema(schema_with = description_schema)]
    description: String,
    status: Status,
    #[schema(schema_with = assignee_schema)]
    assigned_to: String,
}

/// Any subset of the writable fields (`PATCH`); `{}` or no body changes nothing. `null` is
/// refused.
#[derive(ToSchema)]
struct IssuePatch {
    #[schema(schema_with = title_schema)]
    title: Option<String>,
    #[schema(schema_with = description_schema)]
    description: Option<String>,
    #[schema(nullable = false)]
    status: Option<Status>,
    #[schema(schema_with = assignee_schema)]
    assigned_to: Option<String>,
}

#[derive(ToSchema)]
struct Credentials {
    /// Trimmed; not blank.
    #[schema(schema_with = login_text_schema)]
    username: String,
    /// Not trimmed; at most 72 bytes can ever match.
    #[schema(schema_with = login_text_schema)]
    password: String,
}

#[derive(ToSchema)]
struct Token {
    /// 40 lowercase hex characters. Send it as `Authorization: Token <token>`.
    #[schema(pattern = "^[0-9a-f]{40}$")]
    token: String,
}

/// An error with one message.
#[derive(ToSchema)]
struct Detail {
    detail: String,
}

/// A 400: a list of messages per failing field (or `non_field_errors`), or `{"detail": ...}` when
/// the body could not be read at all.
#[derive(ToSchema)]
#[schema(example = json!({"title": ["This field may not be blank."], "status": ["\"done\" is not a valid choice."]}))]
struct FieldErrors(std::collections::HashMap<String, serde_json::Value>);

#[derive(ToSchema)]
struct User {
    id: i64,
    username: String,
    email: String,
    is_staff: bool,
    #[schema(format = DateTime)]
    date_joined: String,
}

#[derive(ToSchema)]
struct NewUser {
    /// 1 to 150 letters, digits and `@ . + - _`.
    #[schema(min_length = 1, max_length = 150, pattern = "^[\\w.@+-]+$")]
    username: String,
    #[schema(format = Email)]
    email: Option<String>,
    /// Not blank, at most 72 bytes, no NUL.
    #[schema(
        min_length = 1,
        max_length = 72,
        pattern = "^[^\\u0000]*[^\\s\\u0000\\u001c-\\u001f\\u0085][^\\u0000]*$"
    )]
    password: String,
    is_staff: Option<bool>,
}

#[derive(ToSchema)]
struct TokenInfo {
    id: i64,
    /// The first 8 characters of the token.
    prefix: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
    #[schema(format = DateTime)]
    expires_at: String,
}

#[derive(ToSchema)]
struct Health {
    status: String,
}

#[derive(ToSchema)]
struct Readiness {
    status: String,
    database: String,
    redis: Option<String>,
}

#[utoipa::path(post, path = "/api/user/get_auth_token/", tag = "auth",
    request_body(content = Credentials, content_type = "application/json"),
    responses(
        (status = 200, description = "A new token", body = Token),
        (status = 400, description = "Missing fields, or invalid credentials", body = FieldErrors),
        (status = 408, description = "The body did not arrive within REQUEST_BODY_TIMEOUT", body = Detail),
        (status = 413, description = "Body too large", body = Detail),
        (status = 415, description = "Neither JSON nor form-encoded", body = Detail),
        (status = 429, description = "Too many failed logins", body = Detail),
    ))]
fn obtain_token() {}

#[utoipa::path(get, path = "/api/issue/", tag = "issues", security(("token" = [])),
    params(
        ("page" = Option<i64>, Query, minimum = 1, description = "1-based page; with per_page, pages the list"),
        ("per_page" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size (default 30)"),
        ("status" = Option<Status>, Query),
        ("assigned_to" = Option<String>, Query, max_length = 200, description = "Username, or `me`"),
        ("created_by" = Option<String>, Query, max_length = 200, description = "Username, or `me`"),
        ("q" = Option<String>, Query, max_length = 200, description = "Case-insensitive text in title or description (at most 200 characters)"),
        ("updated_since" = Option<String>, Query, max_length = 200, description = "RFC 3339 date-time between years 1 and 9999 in UTC, e.g. 2026-01-31T12:00:00Z"),
        ("ordering" = Option<String>, Query, max_length = 200, description = "Comma-separated of id, title, status, created_at, updated_at; `-` for descending"),
    ),
    responses(
        (status = 200, description = "A bare array; `Link` and `X-Total-Count` headers", body = [Issue]),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A bad parameter, keyed by its name", body = FieldErrors),
        (status = 401, description = "No or invalid token", body = Detail),
        (status = 429, description = "Rate limited", body = Detail),
    ))]
fn list_issues() {}

#[utoipa::path(post, path = "/api/issue/", tag = "issues", security(("token" = [])),
    request_body(content = IssueWrite, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `created_by` is the caller", body = Issue),
        (status = 400, description = "Invalid fields", body = FieldErrors),
        (status = 401, description = "No or invalid token", body = Detail),
        (status = 408, description = "The body did not arrive within REQUEST_BODY_TIMEOUT", body = Detail),
        (status = 413, description = "Body too large", body = Detail),
        (status = 415, description = "Unsupported media type", body = Detail),
        (status = 429, description = "Rate limited", body = Detail),
    ))]
fn create_issue() {}

#[utoipa::path(get, path = "/api/issue/{id}/", tag = "issues", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The issue, with an `ETag`", body = Issue),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, description = "No or invalid token", body = Detail),
        (status = 404, description = "No such issue", body = Detail),
    ))]
fn get_issue() {}

#[utoipa::path(put, path = "/api/issue/{id}/", tag = "issues", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1), ("If-Match" = Option<String>, Header)),
    request_body(content = IssueWrite, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = Issue),
        (status = 400, description = "Invalid fields", body = FieldErrors),
        (status = 401, description = "No or invalid token", body = Detail),
        (status = 403, description = "Only the creator may change it", body = Detail),
        (status = 404, description = "No such issue", body = Detail),
        (status = 412, description = "If-Match does not match: the issue changed", body = Detail),
        (status = 408, description = "The body did not arrive within REQUEST_BODY_TIMEOUT", body = Detail),
        (status = 413, description = "Body too large", body = Detail),
        (status = 415, description = "Unsupported media type", body = Detail),
    ))]
fn replace_issue() {}

#[utoipa::path(patch, path = "/api/issue/{id}/", tag = "issues", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1), ("If-Match" = Option<String>, Header)),
    request_body(content = Option<IssuePatch>, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated", body = Issue),
        (status = 400, description = "Invalid fields", body = FieldErrors),
        (status = 401, description = "No or invalid token", body = Detail),
        (status = 403, description = "Only the creator may change it", body = Detail),
        (status = 404, description = "No such issue", body = Detail),
        (status = 412, description = "If-Match does not match: the issue changed", body = Detail),
        (status = 408, description = "The body did not arrive within REQUEST_BODY_TIMEOUT", body = Detail),
        (status = 413, description = "Body too large", body = Detail),
        (status = 415, description = "Unsupported media type", body = Detail),
    ))]
fn update_issue() {}

#[utoipa::path(delete, path = "/api/issue/{id}/", tag = "issues", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or invalid token", body = Detail),
        (status = 403, description = "Only the creator may delete it", body = Detail),
        (status = 404, description = "No such issue", body = Detail),
        (status = 412, description = "If-Match does not match: the issue changed", body = Detail),
    ))]
fn delete_issue() {}

#[utoipa::path(get, path = "/api/user/me/", tag = "users", security(("token" = [])),
    responses((status = 200, body = User), (status = 401, body = Detail)))]
fn get_me() {}

#[utoipa::path(post, path = "/api/user/", tag = "users", security(("token" = [])),
    request_body(content = NewUser, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "Invalid fields, or the username is taken", body = FieldErrors),
        (status = 401, body = Detail),
        (status = 403, description = "Staff only", body = Detail),
    ))]
fn create_user() {}

#[utoipa::path(get, path = "/api/user/tokens/", tag = "users", security(("token" = [])),
    responses((status = 200, body = [TokenInfo]), (status = 401, body = Detail)))]
fn list_tokens() {}

#[utoipa::path(delete, path = "/api/user/tokens/{id}/", tag = "users", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses((status = 204, description = "Revoked"), (status = 401, body = Detail), (status = 404, body = Detail)))]
fn revoke_token() {}

#[utoipa::path(post, path = "/api/user/logout/", tag = "users", security(("token" = [])),
    responses((status = 204, description = "The token of this request is revoked"), (status = 401, body = Detail)))]
fn logout() {}

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Health)))]
fn health() {}

#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, description = "Names what is down", body = Readiness)))]
fn ready() {}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
fn metrics() {}

struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <40-hex key>` (or `Bearer <key>`), from POST /api/user/get_auth_token/",
            ))),
        );
    }
}

/// The whole document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "issue-tracker",
        description = "File issues and assign them to users; email notifications. Compatible with the original Django REST Framework API.",
    ),
    paths(obtain_token, list_issues, create_issue, get_issue, replace_issue, update_issue,
          delete_issue, get_me, create_user, list_tokens, revoke_token, logout, health, ready, metrics),
    modifiers(&TokenAuth),
)]
pub struct ApiDoc;

/// The OpenAPI document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
