//! The history: one append-only event per change, written in the change's own transaction by
//! every path (API, admin, CLI), so that replaying the events rebuilds every issue.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::ids::{EventId, IssueId, UserId};
use crate::issue::Issue;

/// Who made a change. `None` in an [`Origin`] is the system itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = EventUser))]
pub struct Actor {
    /// The user's id.
    pub id: UserId,
    /// Their username when they acted.
    pub username: String,
}

/// The door a change came through.
///
/// ```
/// use issue_tracker_domain::Via;
/// assert_eq!(Via::parse("cli"), Some(Via::Cli));
/// assert_eq!(Via::Admin.as_str(), "admin");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "The door a change came through.")
)]
pub enum Via {
    /// The REST API.
    Api,
    /// The staff web admin.
    Admin,
    /// The `issue-tracker` command line.
    Cli,
    /// `issue-tracker import-django`: a row brought over from the original's database.
    Import,
    /// A reply by email to a notification.
    Email,
}

impl Via {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Api => "api",
            Via::Admin => "admin",
            Via::Cli => "cli",
            Via::Import => "import",
            Via::Email => "email",
        }
    }

    /// Reads the stored word back.
    pub fn parse(word: &str) -> Option<Via> {
        match word {
            "api" => Some(Via::Api),
            "admin" => Some(Via::Admin),
            "cli" => Some(Via::Cli),
            "import" => Some(Via::Import),
            "email" => Some(Via::Email),
            _ => None,
        }
    }
}

/// Where a change comes from: written into its event.
///
/// ```
/// use issue_tracker_domain::{Origin, Via};
/// let origin = Origin::system(Via::Cli);
/// assert!(origin.actor.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The user who asked for it, or `None` for the system (the CLI acts as the system).
    pub actor: Option<Actor>,
    /// The door.
    pub via: Via,
    /// The HTTP request's id (`X-Request-Id`), when there was a request.
    pub request_id: Option<String>,
}

impl Origin {
    /// A change made by the system itself, with no user and no request.
    pub fn system(via: Via) -> Origin {
        Origin {
            actor: None,
            via,
            request_id: None,
        }
    }
}

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// An issue was created; `changes` holds every field (`old` null).
    IssueCreated,
    /// Fields of an issue changed; one entry per changed field.
    IssueUpdated,
    /// An issue was deleted; `changes` holds every field it had (`new` null).
    IssueDeleted,
    /// A user was created (never with a password).
    UserCreated,
    /// A user's active, staff or superuser flag, or email, changed.
    UserUpdated,
    /// A user's password was set (the event never holds it).
    UserPasswordChanged,
    /// A user's API tokens were revoked (how many, never the tokens).
    TokensRevoked,
    /// A token with scopes was issued (its id and scopes, never the token). Login tokens, which
    /// carry their user's own rights, are not recorded.
    ScopedTokenCreated,
    /// A comment was added to an issue (`comment` and `body`).
    CommentCreated,
    /// A comment's body was edited (`body`, old and new).
    CommentEdited,
    /// A comment was deleted (its last `body`).
    CommentDeleted,
    /// A label was put on an issue (`label`: its name).
    LabelAdded,
    /// A label was taken off an issue (`label`: its name).
    LabelRemoved,
}

impl EventType {
    /// Every type, for filters and documentation.
    pub const ALL: [EventType; 13] = [
        EventType::IssueCreated,
        EventType::IssueUpdated,
        EventType::IssueDeleted,
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserPasswordChanged,
        EventType::TokensRevoked,
        EventType::ScopedTokenCreated,
        EventType::CommentCreated,
        EventType::CommentEdited,
        EventType::CommentDeleted,
        EventType::LabelAdded,
        EventType::LabelRemoved,
    ];

    /// The stored and serialized name.
    ///
    /// ```
    /// use issue_tracker_domain::EventType;
    /// assert_eq!(EventType::IssueUpdated.as_str(), "issue.updated");
    /// assert_eq!(EventType::parse("issue.updated"), Some(EventType::IssueUpdated));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::IssueCreated => "issue.created",
            EventType::IssueUpdated => "issue.updated",
            EventType::IssueDeleted => "issue.deleted",
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserPasswordChanged => "user.password_changed",
            EventType::TokensRevoked => "user.tokens_revoked",
            EventType::ScopedTokenCreated => "user.token_created",
            EventType::CommentCreated => "comment.created",
            EventType::CommentEdited => "comment.edited",
            EventType::CommentDeleted => "comment.deleted",
            EventType::LabelAdded => "label.added",
            EventType::LabelRemoved => "label.removed",
        }
    }

    /// Reads a stored name back.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One field's change: `old` is null on creation, `new` is null on deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    /// The field's name as the API spells it (`assigned_to`, not `assigned_to_id`).
    pub field: String,
    /// The value before.
    pub old: Value,
    /// The value after.
    pub new: Value,
}

impl FieldChange {
    /// A change of `field` from `old` to `new`.
    pub fn new(field: &str, old: impl Into<Value>, new: impl Into<Value>) -> FieldChange {
        FieldChange {
            field: field.to_owned(),
            old: old.into(),
            new: new.into(),
        }
    }
}

/// The fields of an issue that its history follows, as (name, value): assignee and creator by
/// username.
fn issue_fields(issue: &Issue) -> [(&'static str, Value); 5] {
    [
        ("title", Value::from(issue.title.as_str())),
        ("description", Value::from(issue.description.as_str())),
        ("status", Value::from(issue.status.as_str())),
        ("assigned_to", Value::from(issue.assigned_to.as_str())),
        ("created_by", Value::from(issue.created_by.as_str())),
    ]
}

/// The `changes` of `user.created`: the account's name, email and flags, from nothing (never the
/// password).
///
/// ```
/// use issue_tracker_domain::user_created;
///
/// let changes = user_created("ann", "ann@example.com", true, false, false);
/// assert_eq!(changes.len(), 5);
/// assert_eq!(changes[0].field, "username");
/// ```
pub fn user_created(
    username: &str,
    email: &str,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
) -> Vec<FieldChange> {
    [
        ("username", Value::from(username)),
        ("email", Value::from(email)),
        ("is_active", Value::from(is_active)),
        ("is_staff", Value::from(is_staff)),
        ("is_superuser", Value::from(is_superuser)),
    ]
    .into_iter()
    .map(|(field, value)| FieldChange::new(field, Value::Null, value))
    .collect()
}

/// The `changes` of `issue.created`: every field, from nothing.
pub fn issue_created(issue: &Issue) -> Vec<FieldChange> {
    issue_fields(issue)
        .into_iter()
        .map(|(field, value)| FieldChange::new(field, Value::Null, value))
        .collect()
}

/// The `changes` of `issue.deleted`: every field, to nothing.
pub fn issue_deleted(issue: &Issue) -> Vec<FieldChange> {
    issue_fields(issue)
        .into_iter()
        .map(|(field, value)| FieldChange::new(field, value, Value::Null))
        .collect()
}

/// The `changes` of `issue.updated`: one entry per field that differs; empty when nothing did
/// (and then no event is written).
///
/// ```
/// use issue_tracker_domain::{issue_changes, Issue, IssueId, Status};
///
/// let at = chrono::Utc::now();
/// let before = Issue {
///     id: IssueId::new(1).unwrap(), created_by: "ann".into(), title: "Fix".into(),
///     description: "".into(), status: Status::Open, assigned_to: "bob".into(),
///     created_at: at, updated_at: at, labels: vec![],
/// };
/// let after = Issue { status: Status::Closed, ..before.clone() };
/// let changes = issue_changes(&before, &after);
/// assert_eq!(changes.len(), 1);
/// assert_eq!((changes[0].field.as_str(), changes[0].new.as_str()), ("status", Some("closed")));
/// assert!(issue_changes(&before, &before).is_empty());
/// ```
pub fn issue_changes(before: &Issue, after: &Issue) -> Vec<FieldChange> {
    issue_fields(before)
        .into_iter()
        .zip(issue_fields(after))
        .filter(|((_, old), (_, new))| old != new)
        .map(|((field, old), (_, new))| FieldChange::new(field, old, new))
        .collect()
}

/// An event as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Its position in the one history (increasing).
    pub id: EventId,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When (the change's transaction time, UTC).
    #[serde(serialize_with = "crate::serialize_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
    /// Who, or null for the system.
    pub actor: Option<Actor>,
    /// Through which door.
    pub via: Via,
    /// The request's id, when there was one.
    pub request_id: Option<String>,
    /// The issue it concerns, for issue events.
    pub issue: Option<IssueId>,
    /// The user it concerns, for user events.
    pub user: Option<Actor>,
    /// What changed.
    pub changes: Vec<FieldChange>,
}

/// Most events on one page of a history.
pub const MAX_HISTORY_PAGE: i64 = 100;
/// Events on a page when `per_page` is not given.
pub const DEFAULT_HISTORY_PAGE: i64 = 50;

/// Where a page of history starts and how long it is, parsed from `?after=&per_page=`.
///
/// ```
/// use issue_tracker_domain::HistoryPage;
///
/// let page = HistoryPage::parse(Some("12"), Some("3")).unwrap();
/// assert_eq!((page.after, page.per_page), (12, 3));
/// assert_eq!(HistoryPage::parse(None, None).unwrap().after, 0);
/// assert!(HistoryPage::parse(Some("-1"), None).is_err());
/// assert!(HistoryPage::parse(None, Some("101")).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPage {
    /// Only events after this id (0: from the start).
    pub after: i64,
    /// At most this many events.
    pub per_page: i64,
}

impl HistoryPage {
    /// Parses the two query parameters; the errors are keyed by parameter, as the list's are.
    pub fn parse(
        after: Option<&str>,
        per_page: Option<&str>,
    ) -> Result<HistoryPage, crate::FieldErrors> {
        let mut errors = crate::FieldErrors::default();
        let after = match after {
            None => 0,
            Some(text) => match text.parse::<i64>() {
                Ok(id) if id >= 0 && text.bytes().all(|b| b.is_ascii_digit()) => id,
                _ => {
                    errors.add(
                        "after",
                        "A valid event id (an integer of 0 or more) is required.",
                    );
                    0
                }
            },
        };
        let per_page = match per_page {
            None => DEFAULT_HISTORY_PAGE,
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (1..=MAX_HISTORY_PAGE).contains(&n) => n,
                _ => {
                    errors.add(
                        "per_page",
                        format!("Ensure this value is an integer from 1 to {MAX_HISTORY_PAGE}."),
                    );
                    DEFAULT_HISTORY_PAGE
                }
            },
        };
        errors.into_result(HistoryPage { after, per_page })
    }
}
