//! The shapes the OpenAPI document gives that are not a type the API sends: the request bodies
//! (the API reads bodies leniently, as the original did, so these describe what its parsers
//! accept: a string or a number for text, trimming, the domain's limits), the error bodies, and
//! the small answers built where they are sent. Everything the API sends as a type of its own
//! (issues, comments, labels, webhooks, deliveries, events, users, tokens) is described by that
//! type, re-exported here so that a route names every body from one place.

use issue_tracker_domain::{
    COMMENT_MAX_CHARS, DESCRIPTION_MAX_CHARS, LABEL_DESCRIPTION_MAX_CHARS, LABEL_NAME_MAX_CHARS,
    MAX_LABELS_PER_REQUEST, PASSWORD_MAX_BYTES, TITLE_MAX_CHARS, USERNAME_MAX_CHARS,
    WEBHOOK_URL_MAX_CHARS,
};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::ToSchema;

pub use issue_tracker_domain::{
    Comment, DeliveryInfo, Event, FieldErrors, InboxNotification, Issue, Label,
    NotificationPreferences, Status, Subscription, Webhook,
};

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
        .description(Some(format!(
            "Up to {LABEL_DESCRIPTION_MAX_CHARS} characters after trimming; empty clears it; no NUL. A number is taken as its text."
        )))
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

fn comment_body_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(COMMENT_MAX_CHARS))
        .description(Some(format!(
            "1 to {COMMENT_MAX_CHARS} characters (trimmed; not blank)."
        )))
        .into()
}

/// No control characters, and something visible.
const LABEL_NAME: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$";

fn label_name_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(LABEL_NAME_MAX_CHARS))
        .pattern(Some(LABEL_NAME))
        .description(Some(format!(
            "Trimmed; 1 to {LABEL_NAME_MAX_CHARS} characters; no control characters; unique regardless of case."
        )))
        .into()
}

fn label_list_schema() -> Schema {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String))
        .max_items(Some(MAX_LABELS_PER_REQUEST))
        .into()
}

fn webhook_url_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(WEBHOOK_URL_MAX_CHARS))
        .description(Some(format!(
            "An absolute `http(s)` URL, at most {WEBHOOK_URL_MAX_CHARS} characters, without user name or password."
        )))
        .into()
}

fn login_text_schema() -> Schema {
    text_or_number(None, "Not blank. A number is taken as its text.")
}

/// The four writable fields, all required (`POST`, `PUT`). Also accepted form-encoded. `id`,
/// `created_by` and unknown keys are ignored.
#[derive(ToSchema)]
pub struct IssueWrite {
    #[schema(schema_with = title_schema)]
    pub title: String,
    #[schema(schema_with = description_schema)]
    pub description: String,
    pub status: Status,
    #[schema(schema_with = assignee_schema)]
    pub assigned_to: String,
}

/// Any subset of the writable fields (`PATCH`); `{}` or no body changes nothing. `null` is
/// refused.
#[derive(ToSchema)]
pub struct IssuePatch {
    #[schema(schema_with = title_schema)]
    pub title: Option<String>,
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    #[schema(nullable = false)]
    pub status: Option<Status>,
    #[schema(schema_with = assignee_schema)]
    pub assigned_to: Option<String>,
}

#[derive(ToSchema)]
pub struct Credentials {
    /// Trimmed; not blank.
    #[schema(schema_with = login_text_schema)]
    pub username: String,
    /// Not trimmed; at most 72 bytes can ever match.
    #[schema(schema_with = login_text_schema)]
    pub password: String,
}

/// A login's answer.
#[derive(ToSchema, serde::Serialize)]
pub struct Token {
    /// 40 lowercase hex characters. Send it as `Authorization: Token <token>`.
    #[schema(pattern = "^[0-9a-f]{40}$")]
    pub token: String,
}

/// An error with one message.
#[derive(ToSchema)]
pub struct Detail {
    /// What is wrong.
    pub detail: String,
}

/// What an endpoint that reads a body may answer about the body itself.
#[derive(utoipa::IntoResponses)]
pub enum BodyRefused {
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
pub enum IssueChangeRefused {
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
pub struct NotificationPreferencesPatch {
    /// The email sent when an issue is assigned to you.
    pub assignment: Option<bool>,
    /// The consolidated report of your assigned issues.
    pub report: Option<bool>,
    /// The emails about issues you watch.
    pub activity: Option<bool>,
    /// Which kinds of change on a watched issue email you (the others only reach the inbox).
    pub activity_types: Option<Vec<issue_tracker_domain::InboxType>>,
    /// `instant` (one email per burst) or `daily` (one digest a day at `DIGEST_HOUR`).
    pub delivery: Option<issue_tracker_domain::Delivery>,
}

/// Marks an inbox entry read or unread.
#[derive(ToSchema)]
pub struct InboxMark {
    /// `false`: read; `true`: unread again.
    pub unread: bool,
}

/// Marks the inbox read: all of it, or up to a time.
#[derive(ToSchema)]
pub struct InboxReadAll {
    /// Only the entries that arrived at or before this time (RFC 3339); left out: all.
    #[schema(format = DateTime)]
    pub last_read_at: Option<String>,
}

/// How many inbox entries a mark changed.
#[derive(ToSchema)]
pub struct InboxMarked {
    /// The entries marked read.
    pub marked: u64,
}

/// One event as a webhook delivers it (the body without `id`) and `GET /api/events/` replays it.
#[derive(ToSchema)]
pub struct EventPayload {
    /// The event's id: the delivery's `webhook-id`.
    pub id: i64,
    /// `issue.created`, `comment.edited`, ...
    #[schema(rename = "type")]
    pub kind: String,
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The event: `actor`, `via`, `request_id`, `issue`, `user`, `changes`.
    pub data: serde_json::Value,
}

/// What a comment request sends.
#[derive(ToSchema)]
pub struct CommentWrite {
    #[schema(schema_with = comment_body_schema)]
    pub body: String,
}

/// What creates a label (`color` defaults to `#ededed`, `description` to empty).
#[derive(ToSchema)]
pub struct LabelWrite {
    #[schema(schema_with = label_name_schema)]
    pub name: String,
    /// `#rrggbb`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub color: Option<String>,
    #[schema(schema_with = label_description_schema)]
    pub description: Option<String>,
}

/// What changes a label: any of its fields.
#[derive(ToSchema)]
pub struct LabelPatch {
    #[schema(schema_with = label_name_schema)]
    pub name: Option<String>,
    /// `#rrggbb`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub color: Option<String>,
    #[schema(schema_with = label_description_schema)]
    pub description: Option<String>,
}

/// The labels to add to, or to set on, an issue: names of existing labels (any case).
#[derive(ToSchema)]
pub struct IssueLabelsWrite {
    #[schema(schema_with = label_list_schema)]
    pub labels: Vec<String>,
}

/// A webhook endpoint with its secret (creation and rotation only).
#[derive(ToSchema)]
pub struct WebhookWithSecret {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// `whsec_` and the base64 of 32 random bytes: verify deliveries with it (Standard Webhooks).
    pub secret: String,
}

/// What registers a webhook endpoint.
#[derive(ToSchema)]
pub struct WebhookWrite {
    #[schema(schema_with = webhook_url_schema)]
    pub url: String,
    /// Event types (`issue.created`, ...), or `["*"]`.
    #[schema(min_items = 1)]
    pub events: Vec<String>,
    /// Default true.
    pub active: Option<bool>,
}

/// What changes a webhook endpoint: any of its fields.
#[derive(ToSchema)]
pub struct WebhookPatch {
    #[schema(schema_with = webhook_url_schema)]
    pub url: Option<String>,
    #[schema(min_items = 1)]
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

#[derive(ToSchema)]
pub struct NewUser {
    #[schema(schema_with = username_schema)]
    pub username: String,
    #[schema(format = Email)]
    pub email: Option<String>,
    #[schema(schema_with = new_password_schema)]
    pub password: String,
    pub is_staff: Option<bool>,
}

/// `POST /api/user/tokens/`'s body.
#[derive(ToSchema)]
pub struct NewScopedToken {
    /// What the token may do, and nothing else: `events:read` (`GET /api/events/`,
    /// `GET /api/history/`).
    #[schema(min_items = 1)]
    pub scopes: Vec<String>,
    /// Whose token it is (default: the caller); an active user.
    pub username: Option<String>,
    /// Seconds until it expires (default `TOKEN_TTL`).
    #[schema(minimum = 60, maximum = 315_360_000)]
    pub expires_in: Option<i64>,
}

#[derive(ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(ToSchema)]
pub struct Readiness {
    pub status: String,
    pub database: String,
    pub redis: Option<String>,
}

/// The `status` filter of a list: `open`, `closed`, or empty for any (as the original's filter
/// ignores an empty value).
#[derive(ToSchema)]
pub enum StatusFilter {
    /// Open issues.
    #[schema(rename = "open")]
    Open,
    /// Closed issues.
    #[schema(rename = "closed")]
    Closed,
    /// Any status.
    #[schema(rename = "")]
    Any,
}
