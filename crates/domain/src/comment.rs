//! Comments on issues.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{parse_text, CommentId, IssueId, TextFieldError, TextRule};

/// The longest comment, in characters.
pub const COMMENT_MAX_CHARS: usize = 65_535;

/// How a comment's `body` is read: trimmed, not blank, at most [`COMMENT_MAX_CHARS`].
pub const COMMENT_BODY: TextRule = TextRule {
    trim: true,
    max_chars: Some(COMMENT_MAX_CHARS),
};

/// A comment, as the API shows it (keys in this order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comment {
    /// Its id.
    pub id: CommentId,
    /// The issue it is on.
    pub issue: IssueId,
    /// Its author's username.
    pub author: String,
    /// What it says.
    pub body: String,
    /// When it was written.
    #[serde(serialize_with = "crate::serialize_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
    /// When it was last edited (its creation time until then).
    #[serde(serialize_with = "crate::serialize_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: DateTime<Utc>,
    /// Whether it was edited after it was written.
    pub edited: bool,
}

/// Reads a comment's body from a request value.
///
/// ```
/// use issue_tracker_domain::parse_comment_body;
/// use serde_json::json;
/// assert_eq!(parse_comment_body(&json!("  looks good ")), Ok("looks good".to_owned()));
/// assert!(parse_comment_body(&json!("   ")).is_err());
/// assert!(parse_comment_body(&json!("x".repeat(65_536))).is_err());
/// ```
pub fn parse_comment_body(value: &serde_json::Value) -> Result<String, TextFieldError> {
    parse_text(value, COMMENT_BODY)
}
