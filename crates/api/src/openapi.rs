//! The OpenAPI 3.1 description of the API, served at `/api/openapi.json`, and the Swagger UI at
//! `/api/docs/` (its assets are compiled in: it works with no internet).
//!
//! The documented shapes mirror the handlers; `tests/api/openapi.rs` checks that every route of
//! the route table is described, and CI runs schemathesis against the server from this document.

#![allow(dead_code)]

use issue_tracker_domain::{
    DESCRIPTION_MAX_CHARS, MAX_PARAMETER_CHARS, MAX_PER_PAGE, PASSWORD_MAX_BYTES, TITLE_MAX_CHARS,
    USERNAME_MAX_CHARS,
};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes;

/// An issue.
#[derive(ToSchema)]
#[schema(example = json!({"id": 13, "created_by": "nithin", "title": "New issue 101", "description": "Please take care of this ticket", "status": "open", "assigned_to": "anotheruser", "created_at": "2026-01-02T03:04:05.000000Z", "updated_at": "2026-01-02T03:04:05.000000Z", "labels": ["bug"]}))]
pub(crate) struct Issue {
    id: i64,
    /// The creator's username.
    created_by: String,
    title: String,
    description: String,
    status: Status,
    /// The assignee's username.
    assigned_to: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// The names of its labels, sorted by name (regardless of case).
    labels: Vec<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum Status {
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

fn label_description_schema() -> Schema {
    // No length in the schema: an empty description is allowed (it clears it) and trimming
    // decides what counts; the server refuses more than 100 characters with a 400.
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .description(Some(
            "Up to 100 characters after trimming; empty clears it; no NUL. A number is taken as its text.",
        ))
        .into()
}

fn title_schema() -> Schema {
    text_or_number(
        Some(TITLE_MAX_CHARS),
        &format!(
            "Trimmed; 1 to {TITLE_MAX_CHARS} characters; no NUL. A number is taken as its text."
        ),
    )
}

fn description_schema() -> Schema {
    text_or_number(
        Some(DESCRIPTION_MAX_CHARS),
        &format!("Trimmed; 1 to {DESCRIPTION_MAX_CHARS} characters; no NUL. A number is taken as its text."),
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

fn username_schema() -> Schema {
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(USERNAME_MAX_CHARS))
        .pattern(Some("^[\\w.@+-]+$"));
    OneOfBuilder::new()
        .item(name)
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .description(Some(format!(
            "1 to {USERNAME_MAX_CHARS} letters, digits and `@ . + - _`, trimmed. A number is taken as its text."
        )))
        .into()
}

fn new_password_schema() -> Schema {
    // Characters, not bytes: JSON Schema cannot say bytes; the server refuses more than
    // PASSWORD_MAX_BYTES bytes.
    let secret = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(PASSWORD_MAX_BYTES))
        .pattern(Some(VISIBLE));
    OneOfBuilder::new()
        .item(secret)
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .description(Some(format!(
            "Not blank, at most {PASSWORD_MAX_BYTES} bytes, no NUL. A number is taken as its text."
        )))
        .into()
}

fn login_text_schema() -> Schema {
    text_or_number(None, "Not blank. A number is taken as its text.")
}

/// The four writable fields, all required (`POST`, `PUT`). Also accepted form-encoded. `id`,
/// `created_by` and unknown keys are ignored.
#[derive(ToSchema)]
pub(crate) struct IssueWrite {
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
pub(crate) struct IssuePatch {
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
pub(crate) struct Credentials {
    /// Trimmed; not blank.
    #[schema(schema_with = login_text_schema)]
    username: String,
    /// Not trimmed; at most 72 bytes can ever match.
    #[schema(schema_with = login_text_schema)]
    password: String,
}

#[derive(ToSchema)]
pub(crate) struct Token {
    /// 40 lowercase hex characters. Send it as `Authorization: Token <token>`.
    #[schema(pattern = "^[0-9a-f]{40}$")]
    token: String,
}

/// An error with one message.
#[derive(ToSchema)]
pub(crate) struct Detail {
    detail: String,
}

/// A 400: a list of messages per failing field (or `non_field_errors`), or `{"detail": ...}` when
/// the body could not be read at all.
#[derive(ToSchema)]
#[schema(example = json!({"title": ["This field may not be blank."], "status": ["\"done\" is not a valid choice."]}))]
pub(crate) struct FieldErrors(std::collections::HashMap<String, serde_json::Value>);

/// What an endpoint that reads a body may answer about the body itself.
#[derive(utoipa::IntoResponses)]
pub(crate) enum BodyRefused {
    /// The body did not arrive within REQUEST_BODY_TIMEOUT
    #[response(status = 408)]
    Late(Detail),
    /// Body too large
    #[response(status = 413)]
    TooLarge(Detail),
    /// Unsupported media type
    #[response(status = 415)]
    UnsupportedMediaType(Detail),
}

/// Why a change to an existing issue (`PUT`, `PATCH`) may be refused.
#[derive(utoipa::IntoResponses)]
pub(crate) enum IssueChangeRefused {
    /// Invalid fields
    #[response(status = 400)]
    Invalid(FieldErrors),
    /// No or invalid token
    #[response(status = 401)]
    Unauthenticated(Detail),
    /// Only the creator may change it
    #[response(status = 403)]
    NotCreator(Detail),
    /// No such issue
    #[response(status = 404)]
    Missing(Detail),
    /// If-Match does not match: the issue changed
    #[response(status = 412)]
    Changed(Detail),
}

/// A change of email preferences: either key may be left out (it keeps its value).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct NotificationPreferencesPatch {
    /// The email sent when an issue is assigned to you.
    assignment: Option<bool>,
    /// The consolidated report of your assigned issues.
    report: Option<bool>,
}

/// One event as a webhook delivers it (the body without `id`) and `GET /api/events/` replays it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct EventPayload {
    /// The event's id: the delivery's `webhook-id`.
    id: i64,
    /// `issue.created`, `comment.edited`, ...
    #[schema(rename = "type")]
    kind: String,
    #[schema(format = DateTime)]
    timestamp: String,
    /// The event: `actor`, `via`, `request_id`, `issue`, `user`, `changes`.
    data: serde_json::Value,
}

/// A comment on an issue.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Comment {
    id: i64,
    /// The issue's id.
    issue: i64,
    /// The author's username.
    author: String,
    /// 1 to 65,535 characters.
    body: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// Edited after it was written.
    edited: bool,
}

/// What a comment request sends.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct CommentWrite {
    /// 1 to 65,535 characters (trimmed; not blank).
    #[schema(min_length = 1, max_length = 65535)]
    body: String,
}

/// A label.
#[derive(ToSchema)]
#[schema(example = json!({"id": 1, "name": "bug", "color": "#d73a4a", "description": "Something is wrong"}))]
pub(crate) struct Label {
    id: i64,
    /// 1 to 50 characters, unique regardless of case.
    name: String,
    /// `#rrggbb`, lower-case.
    color: String,
    description: String,
}

/// What creates a label (`color` defaults to `#ededed`, `description` to empty).
#[derive(ToSchema)]
pub(crate) struct LabelWrite {
    /// Trimmed; 1 to 50 characters; no control characters; unique regardless of case.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: String,
    /// `#rrggbb`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    color: Option<String>,
    #[schema(schema_with = label_description_schema)]
    description: Option<String>,
}

/// What changes a label: any of its fields.
#[derive(ToSchema)]
pub(crate) struct LabelPatch {
    /// Trimmed; 1 to 50 characters; no control characters; unique regardless of case.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: Option<String>,
    /// `#rrggbb`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    color: Option<String>,
    #[schema(schema_with = label_description_schema)]
    description: Option<String>,
}

/// The labels to add to, or to set on, an issue: names of existing labels (any case).
#[derive(ToSchema)]
pub(crate) struct IssueLabelsWrite {
    #[schema(max_items = 100)]
    labels: Vec<String>,
}

/// A webhook endpoint (its secret is never shown again after creation or rotation).
#[derive(ToSchema)]
#[schema(example = json!({"id": 1, "url": "https://hooks.example.com/issues", "events": ["issue.created", "issue.updated"], "active": true, "created_at": "2026-01-02T03:04:05.000000Z"}))]
pub(crate) struct Webhook {
    id: i64,
    /// `http` or `https`.
    url: String,
    /// Event types, or `["*"]` for all.
    events: Vec<String>,
    /// Inactive endpoints get nothing; a `410 Gone` answer turns an endpoint inactive.
    active: bool,
    #[schema(format = DateTime)]
    created_at: String,
}

/// A webhook endpoint with its secret (creation and rotation only).
#[derive(ToSchema)]
pub(crate) struct WebhookWithSecret {
    id: i64,
    url: String,
    events: Vec<String>,
    active: bool,
    #[schema(format = DateTime)]
    created_at: String,
    /// `whsec_` and the base64 of 32 random bytes: verify deliveries with it (Standard Webhooks).
    secret: String,
}

/// What registers a webhook endpoint.
#[derive(ToSchema)]
pub(crate) struct WebhookWrite {
    /// An absolute `http(s)` URL, at most 2,000 characters, without user name or password.
    #[schema(min_length = 1, max_length = 2000)]
    url: String,
    /// Event types (`issue.created`, ...), or `["*"]`.
    #[schema(min_items = 1)]
    events: Vec<String>,
    /// Default true.
    active: Option<bool>,
}

/// What changes a webhook endpoint: any of its fields.
#[derive(ToSchema)]
pub(crate) struct WebhookPatch {
    #[schema(min_length = 1, max_length = 2000)]
    url: Option<String>,
    #[schema(min_items = 1)]
    events: Option<Vec<String>>,
    active: Option<bool>,
}

/// One attempt of a delivery.
#[derive(ToSchema)]
pub(crate) struct DeliveryAttempt {
    #[schema(format = DateTime)]
    started_at: String,
    /// The receiver's status, when it answered.
    status_code: Option<i32>,
    duration_ms: i32,
    /// The first 4 KiB of the response body.
    response: String,
    /// Timeout, connection refused, refused address...
    error: Option<String>,
}

/// A delivery of one event to one endpoint.
#[derive(ToSchema)]
pub(crate) struct Delivery {
    id: i64,
    /// The `webhook-id` header: the event's id (`ping_<id>` for a ping); the same on every retry
    /// and redelivery.
    message_id: String,
    event_id: Option<i64>,
    #[schema(rename = "type")]
    event_type: String,
    /// `pending`, `sending`, `succeeded` or `failed`.
    status: String,
    #[schema(format = DateTime)]
    next_attempt_at: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    finished_at: Option<String>,
    attempts: Vec<DeliveryAttempt>,
}

/// Which emails a user gets (a `PATCH` may leave either out).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct NotificationPreferences {
    /// The email sent when an issue is assigned to you.
    assignment: bool,
    /// The consolidated report of your assigned issues.
    report: bool,
}

/// A user.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct User {
    id: i64,
    username: String,
    email: String,
    is_staff: bool,
    #[schema(format = DateTime)]
    date_joined: String,
}

#[derive(ToSchema)]
pub(crate) struct NewUser {
    #[schema(schema_with = username_schema)]
    username: String,
    #[schema(format = Email)]
    email: Option<String>,
    #[schema(schema_with = new_password_schema)]
    password: String,
    is_staff: Option<bool>,
}

/// A user as the history names one.
#[derive(ToSchema)]
pub(crate) struct EventUser {
    id: i64,
    username: String,
}

/// One field's change: `old` is null on creation, `new` on deletion.
#[derive(ToSchema)]
pub(crate) struct FieldChange {
    field: String,
    old: serde_json::Value,
    new: serde_json::Value,
}

/// One change, as the history records it.
#[derive(ToSchema)]
#[schema(example = json!({"id": 7, "type": "issue.updated", "created_at": "2026-01-02T03:04:05.000000Z", "actor": {"id": 1, "username": "ann"}, "via": "api", "request_id": "3f2a", "issue": 13, "user": null, "changes": [{"field": "status", "old": "open", "new": "closed"}]}))]
pub(crate) struct Event {
    /// Increasing: the cursor of `?after=`.
    id: i64,
    /// `issue.created`, `issue.updated`, `issue.deleted`, `user.created`, `user.updated`,
    /// `user.password_changed`, `user.tokens_revoked`, `user.token_created`, `comment.created`,
    /// `comment.edited`, `comment.deleted`, `label.added` or `label.removed`.
    #[schema(rename = "type")]
    event_type: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// Who; null for the system (the CLI).
    actor: Option<EventUser>,
    /// `api`, `admin` or `cli`.
    via: String,
    /// The `X-Request-Id` of the change's request.
    request_id: Option<String>,
    /// The issue of an issue event.
    issue: Option<i64>,
    /// The user of a user event.
    user: Option<EventUser>,
    changes: Vec<FieldChange>,
}

#[derive(ToSchema)]
pub(crate) struct TokenInfo {
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

/// `POST /api/user/tokens/`'s body.
#[derive(ToSchema)]
pub(crate) struct NewScopedToken {
    /// What the token may do, and nothing else: `events:read` (`GET /api/events/`,
    /// `GET /api/history/`).
    #[schema(min_items = 1)]
    scopes: Vec<String>,
    /// Whose token it is (default: the caller); an active user.
    username: Option<String>,
    /// Seconds until it expires (default `TOKEN_TTL`).
    #[schema(minimum = 60, maximum = 315_360_000)]
    expires_in: Option<i64>,
}

/// A scoped token, as created: the key is shown this once.
#[derive(ToSchema)]
pub(crate) struct ScopedToken {
    id: i64,
    /// The key, for `Authorization: Token <key>`.
    token: String,
    /// Its first 8 characters.
    prefix: String,
    username: String,
    scopes: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

#[derive(ToSchema)]
pub(crate) struct Health {
    status: String,
}

#[derive(ToSchema)]
pub(crate) struct Readiness {
    status: String,
    database: String,
    redis: Option<String>,
}

/// The list's query limits, from the same constants the parser enforces.
struct QueryLimits;

impl Modify for QueryLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(list) = openapi
            .paths
            .paths
            .get_mut("/api/issue/")
            .and_then(|item| item.get.as_mut())
        else {
            return;
        };
        for parameter in list.parameters.iter_mut().flatten() {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() else {
                continue;
            };
            match parameter.name.as_str() {
                "per_page" => schema.maximum = Some(f64::from(MAX_PER_PAGE).into()),
                "page" => {}
                _ => schema.max_length = Some(MAX_PARAMETER_CHARS),
            }
        }
    }
}

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
    paths(
        routes::login::obtain_token,
        routes::issues::list_issues,
        routes::issues::create_issue,
        routes::issues::get_issue,
        routes::issues::replace_issue,
        routes::issues::update_issue,
        routes::issues::delete_issue,
        routes::history::event_feed,
        routes::comments::list_comments,
        routes::comments::create_comment,
        routes::comments::get_comment,
        routes::comments::edit_comment,
        routes::comments::delete_comment,
        routes::labels::list_labels,
        routes::labels::create_label,
        routes::labels::get_label,
        routes::labels::update_label,
        routes::labels::delete_label,
        routes::labels::list_issue_labels,
        routes::labels::add_issue_labels,
        routes::labels::replace_issue_labels,
        routes::labels::remove_issue_label,
        routes::webhooks::list_webhooks,
        routes::webhooks::create_webhook,
        routes::webhooks::get_webhook,
        routes::webhooks::update_webhook,
        routes::webhooks::delete_webhook,
        routes::webhooks::rotate_secret,
        routes::webhooks::ping,
        routes::webhooks::list_deliveries,
        routes::webhooks::redeliver,
        routes::users::get_me,
        routes::users::get_notification_preferences,
        routes::users::set_notification_preferences,
        routes::users::create_user,
        routes::users::list_tokens,
        routes::users::create_scoped_token,
        routes::users::revoke_token,
        routes::users::logout,
        routes::history::issue_history,
        routes::history::history_feed,
        routes::operations::health,
        routes::operations::ready,
        routes::operations::metrics,
    ),
    modifiers(&TokenAuth, &QueryLimits),
)]
pub struct ApiDoc;

/// The OpenAPI document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
