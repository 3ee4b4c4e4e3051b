use serde::{Deserialize, Serialize};

/// The id of an issue: a positive 64-bit integer.
///
/// ```
/// use issue_tracker_domain::IssueId;
///
/// assert_eq!(IssueId::parse("42").map(|id| id.get()), Some(42));
/// assert_eq!(IssueId::parse("0"), None);
/// assert_eq!(IssueId::parse("-1"), None);
/// assert_eq!(IssueId::parse("9223372036854775808"), None);
/// assert_eq!(IssueId::parse("1;DROP TABLE issues"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IssueId(i64);

impl IssueId {
    /// Parses a path segment; anything but a positive decimal that fits in `i64` is `None`.
    pub fn parse(segment: &str) -> Option<IssueId> {
        if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        segment.parse::<i64>().ok().and_then(IssueId::new)
    }

    /// Wraps a stored id; `None` unless positive.
    pub fn new(value: i64) -> Option<IssueId> {
        (value > 0).then_some(IssueId(value))
    }

    /// The integer value.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for IssueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The internal id of a user. Usernames appear only at the API edge; rows refer to users by id so
/// that renaming or deactivating a user never breaks an issue.
///
/// ```
/// use issue_tracker_domain::UserId;
///
/// assert_eq!(UserId::new(7).get(), 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(i64);

impl UserId {
    /// Wraps a stored user id.
    pub fn new(value: i64) -> UserId {
        UserId(value)
    }

    /// The integer value.
    pub fn get(self) -> i64 {
        self.0
    }
}
