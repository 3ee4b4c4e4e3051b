use serde::{Deserialize, Serialize};

/// A positive 64-bit row id, parsed strictly from a path segment or wrapped from a stored row.
macro_rules! positive_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Parses a path segment; anything but a positive decimal that fits in `i64` is `None`.
            pub fn parse(segment: &str) -> Option<$name> {
                if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                segment.parse::<i64>().ok().and_then($name::new)
            }

            /// Wraps a stored id; `None` unless positive.
            pub fn new(value: i64) -> Option<$name> {
                (value > 0).then_some($name(value))
            }

            /// Wraps an id read back from the database: it came from a sequence, so it is
            /// positive by construction.
            pub fn from_stored(value: i64) -> $name {
                $name(value)
            }

            /// The integer value.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::positive_id()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

positive_id!(
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
    IssueId
);

positive_id!(
    /// The id of an API token (never the token itself): what `DELETE /api/user/tokens/<id>/` and
    /// `issue-tracker tokens revoke --id` name.
    ///
    /// ```
    /// use issue_tracker_domain::TokenId;
    ///
    /// assert_eq!(TokenId::parse("3").map(|id| id.get()), Some(3));
    /// assert_eq!(TokenId::parse("+3"), None);
    /// ```
    TokenId
);

positive_id!(
    /// The id of an outbox row (a notification); also part of its email's Message-ID.
    ///
    /// ```
    /// use issue_tracker_domain::NotificationId;
    ///
    /// assert_eq!(NotificationId::new(9).map(|id| id.to_string()), Some("9".to_owned()));
    /// assert_eq!(NotificationId::new(0), None);
    /// ```
    NotificationId
);

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

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for UserId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::positive_id()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for UserId {}

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

positive_id!(
    /// The id of a label.
    ///
    /// ```
    /// use issue_tracker_domain::LabelId;
    ///
    /// assert_eq!(LabelId::parse("7").map(|id| id.get()), Some(7));
    /// assert_eq!(LabelId::parse("bug"), None);
    /// ```
    LabelId
);

positive_id!(
    /// The id of a comment.
    ///
    /// ```
    /// use issue_tracker_domain::CommentId;
    ///
    /// assert_eq!(CommentId::parse("12").map(|id| id.get()), Some(12));
    /// assert_eq!(CommentId::parse("0"), None);
    /// ```
    CommentId
);

positive_id!(
    /// The id of a webhook endpoint.
    ///
    /// ```
    /// use issue_tracker_domain::WebhookId;
    ///
    /// assert_eq!(WebhookId::parse("3").map(|id| id.get()), Some(3));
    /// ```
    WebhookId
);

positive_id!(
    /// The id of a webhook delivery.
    ///
    /// ```
    /// use issue_tracker_domain::DeliveryId;
    ///
    /// assert_eq!(DeliveryId::parse("5").map(|id| id.get()), Some(5));
    /// ```
    DeliveryId
);

positive_id!(
    /// The id of an event of the history; also a webhook delivery's `webhook-id`.
    ///
    /// ```
    /// use issue_tracker_domain::EventId;
    ///
    /// assert_eq!(EventId::parse("301").map(|id| id.get()), Some(301));
    /// ```
    EventId
);

positive_id!(
    /// The id of a staff admin session (never its key).
    ///
    /// ```
    /// use issue_tracker_domain::SessionId;
    ///
    /// assert_eq!(SessionId::parse("1").map(|id| id.get()), Some(1));
    /// ```
    SessionId
);

positive_id!(
    /// The id of an entry in a user's notification inbox.
    ///
    /// ```
    /// use issue_tracker_domain::InboxId;
    ///
    /// assert_eq!(InboxId::parse("12").map(|id| id.get()), Some(12));
    /// ```
    InboxId
);
