use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::errors::{messages, FieldErrors};
use crate::ids::{IssueId, UserId};
use crate::text::{BodyFields, Description, Title};

/// Longest title, in characters (the original allowed 50).
pub const TITLE_MAX_CHARS: usize = 255;
/// Longest description, in characters (the original allowed 200).
pub const DESCRIPTION_MAX_CHARS: usize = 65_535;

/// Whether an issue is open or closed.
///
/// ```
/// use issue_tracker_domain::Status;
/// assert_eq!(Status::parse("closed"), Ok(Status::Closed));
/// assert_eq!(
///     Status::parse("Open").unwrap_err(),
///     r#""Open" is not a valid choice."#
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "Whether an issue is open or closed.")
)]
pub enum Status {
    /// Work remains.
    Open,
    /// Done or dropped.
    Closed,
}

impl Status {
    /// Parses the exact words `open` and `closed`; the error is the contract's message.
    pub fn parse(value: &str) -> Result<Status, String> {
        match value {
            "open" => Ok(Status::Open),
            "closed" => Ok(Status::Closed),
            other => Err(invalid_choice(other)),
        }
    }

    /// Parses a JSON value; non-strings are shown as the original showed them.
    pub fn parse_json(value: &serde_json::Value) -> Result<Status, String> {
        match value {
            serde_json::Value::String(text) => Status::parse(text),
            other => Err(invalid_choice(&python_str(other))),
        }
    }

    /// The stored and serialized word.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Closed => "closed",
        }
    }
}

fn invalid_choice(shown: &str) -> String {
    format!("\"{shown}\" is not a valid choice.")
}

/// How the original (Python) printed a JSON value in an error message.
fn python_str(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "None".to_owned(),
        serde_json::Value::Bool(true) => "True".to_owned(),
        serde_json::Value::Bool(false) => "False".to_owned(),
        serde_json::Value::Number(number) => number.to_string(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// An issue as clients see it: the contract's six keys in order, then the timestamps, then its
/// labels.
///
/// ```
/// use issue_tracker_domain::{Issue, IssueId, Status};
///
/// let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().to_utc();
/// let issue = Issue {
///     id: IssueId::new(1).unwrap(),
///     created_by: "ann".into(),
///     title: "Fix".into(),
///     description: "Now".into(),
///     status: Status::Open,
///     assigned_to: "bob".into(),
///     created_at: at,
///     updated_at: at,
///     labels: vec!["bug".into()],
/// };
/// let json = serde_json::to_string(&issue).unwrap();
/// assert!(json.starts_with(r#"{"id":1,"created_by":"ann","title":"Fix","description":"Now","status":"open","assigned_to":"bob","#));
/// assert!(json.ends_with(r#","labels":["bug"]}"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "An issue: the original API's six keys in order, then its timestamps and the names of its labels."
    )
)]
pub struct Issue {
    /// The id.
    pub id: IssueId,
    /// The creator's username.
    pub created_by: String,
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// Open or closed.
    pub status: Status,
    /// The assignee's username.
    pub assigned_to: String,
    /// When it was created (UTC, microseconds).
    #[serde(serialize_with = "crate::serialize_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC, microseconds).
    #[serde(serialize_with = "crate::serialize_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: DateTime<Utc>,
    /// The names of its labels, sorted by [`sort_label_names`](crate::sort_label_names).
    pub labels: Vec<String>,
}

/// Only the creator of an issue may change or delete it; the assignee may not.
///
/// ```
/// use issue_tracker_domain::{may_modify, UserId};
/// assert!(may_modify(UserId::new(1), UserId::new(1)));
/// assert!(!may_modify(UserId::new(1), UserId::new(2)));
/// ```
pub fn may_modify(creator: UserId, caller: UserId) -> bool {
    creator == caller
}

/// Which write a body is parsed for: which fields are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// `POST`: all four writable fields required.
    Create,
    /// `PUT`: all four writable fields required.
    Replace,
    /// `PATCH`: any subset.
    Patch,
}

/// The writable fields of a request body, parsed. The assignee is still a name: whether that user
/// exists is for the store to say (see [`IssueInput::unknown_assignee`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueInput {
    /// New title, if given.
    pub title: Option<Title>,
    /// New description, if given.
    pub description: Option<Description>,
    /// New status, if given.
    pub status: Option<Status>,
    /// New assignee's username (exact case, untrimmed), if given.
    pub assigned_to: Option<String>,
}

impl IssueInput {
    /// Parses a JSON object body. Unknown and read-only keys (`id`, `created_by`, ...) are ignored.
    /// Returns what parsed and the errors of what did not, so that the caller can add the
    /// assignee's existence check and report every failing field at once.
    ///
    /// ```
    /// use issue_tracker_domain::{IssueInput, WriteMode};
    /// use serde_json::json;
    ///
    /// let body = json!({"title": "", "status": "done", "id": 9});
    /// let (_, errors) = IssueInput::parse(body.as_object().unwrap(), WriteMode::Create);
    /// assert_eq!(
    ///     serde_json::to_value(&errors).unwrap(),
    ///     json!({
    ///         "title": ["This field may not be blank."],
    ///         "description": ["This field is required."],
    ///         "status": ["\"done\" is not a valid choice."],
    ///         "assigned_to": ["This field is required."]
    ///     })
    /// );
    /// ```
    pub fn parse(
        body: &serde_json::Map<String, serde_json::Value>,
        mode: WriteMode,
    ) -> (IssueInput, FieldErrors) {
        let mut fields = BodyFields::new(body);
        let mut input = IssueInput::default();
        let required = mode != WriteMode::Patch;
        if let Some(value) = fields.value("title", required) {
            match Title::parse_json(value) {
                Ok(title) => input.title = Some(title),
                Err(error) => fields.add_all("title", error.messages()),
            }
        }
        if let Some(value) = fields.value("description", required) {
            match Description::parse_json(value) {
                Ok(description) => input.description = Some(description),
                Err(error) => fields.add_all("description", error.messages()),
            }
        }
        if let Some(value) = fields.value("status", required) {
            match Status::parse_json(value) {
                Ok(status) => input.status = Some(status),
                Err(message) => fields.add("status", message),
            }
        }
        if let Some(value) = fields.value("assigned_to", required) {
            match value {
                serde_json::Value::String(name) if name.is_empty() => {
                    fields.add("assigned_to", messages::NULL)
                }
                serde_json::Value::String(name) if name.contains('\0') => {
                    fields.add("assigned_to", messages::NULL_CHARACTERS)
                }
                serde_json::Value::String(name) => input.assigned_to = Some(name.clone()),
                serde_json::Value::Number(number) => input.assigned_to = Some(number.to_string()),
                _ => fields.add("assigned_to", messages::INVALID_VALUE),
            }
        }
        let errors = fields.into_errors();
        (input, errors)
    }

    /// The message for an assignee that is not an active user.
    ///
    /// ```
    /// assert_eq!(
    ///     issue_tracker_domain::IssueInput::unknown_assignee("zed"),
    ///     "Object with username=zed does not exist."
    /// );
    /// ```
    pub fn unknown_assignee(name: &str) -> String {
        format!("Object with username={name} does not exist.")
    }

    /// The one assignee rule, for every door (the API, the admin, the CLI): the assignee is the
    /// active user of exactly that name, found by `active_user`. Turns what parsed into the
    /// changes to store, or every failing field at once (`errors`, from [`IssueInput::parse`],
    /// plus the assignee's).
    ///
    /// ```
    /// use issue_tracker_domain::{FieldErrors, IssueInput, UserId, WriteMode};
    /// use serde_json::json;
    ///
    /// let directory = |name: &str| Ok::<_, ()>((name == "ann").then(|| UserId::new(4)));
    /// let body = json!({"assigned_to": "ann"});
    /// let (input, errors) = IssueInput::parse(body.as_object().unwrap(), WriteMode::Patch);
    /// let changes = input.resolve(errors, directory).unwrap().unwrap();
    /// assert_eq!(changes.assigned_to, Some(UserId::new(4)));
    ///
    /// let body = json!({"assigned_to": "zed", "title": ""});
    /// let (input, errors) = IssueInput::parse(body.as_object().unwrap(), WriteMode::Patch);
    /// let errors = input.resolve(errors, directory).unwrap().unwrap_err();
    /// assert_eq!(
    ///     serde_json::to_value(&errors).unwrap(),
    ///     json!({"title": ["This field may not be blank."],
    ///            "assigned_to": ["Object with username=zed does not exist."]})
    /// );
    /// ```
    pub fn resolve<E>(
        self,
        mut errors: FieldErrors,
        active_user: impl FnOnce(&str) -> Result<Option<UserId>, E>,
    ) -> Result<Result<IssueChanges, FieldErrors>, E> {
        let mut assigned_to = None;
        if let Some(name) = &self.assigned_to {
            match active_user(name)? {
                Some(id) => assigned_to = Some(id),
                None => errors.add("assigned_to", IssueInput::unknown_assignee(name)),
            }
        }
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        Ok(Ok(IssueChanges {
            title: self.title,
            description: self.description,
            status: self.status,
            assigned_to,
            created_by: None,
        }))
    }
}

/// A validated change to store: every field optional, the assignee resolved to a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueChanges {
    /// New title.
    pub title: Option<Title>,
    /// New description.
    pub description: Option<Description>,
    /// New status.
    pub status: Option<Status>,
    /// New assignee.
    pub assigned_to: Option<UserId>,
    /// New creator (the staff admin may change it; the API never does).
    pub created_by: Option<UserId>,
}

impl IssueChanges {
    /// True when nothing is to change (an empty `PATCH`).
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.status.is_none()
            && self.assigned_to.is_none()
            && self.created_by.is_none()
    }
}
