//! Who watches an issue, and why: its creator, its assignee, everyone who commented on it,
//! everyone @mentioned in its description or comments, and whoever watches it by hand; minus
//! whoever stopped watching it by hand, which wins until they watch it again.

use serde::Serialize;

/// Why someone watches an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "lowercase"))]
pub enum WatchReason {
    /// They watch it by hand.
    Manual,
    /// They created it.
    Author,
    /// It is assigned to them.
    Assigned,
    /// They commented on it.
    Comment,
    /// They are @mentioned in its description or a comment.
    Mention,
}

impl WatchReason {
    /// The word the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchReason::Manual => "manual",
            WatchReason::Author => "author",
            WatchReason::Assigned => "assigned",
            WatchReason::Comment => "comment",
            WatchReason::Mention => "mention",
        }
    }
}

/// What is known of one user and one issue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchFacts {
    /// What they chose by hand: `Some(true)` watch, `Some(false)` stop watching, `None` nothing.
    pub manual: Option<bool>,
    /// They created it.
    pub author: bool,
    /// It is assigned to them.
    pub assigned: bool,
    /// They commented on it.
    pub commented: bool,
    /// They are @mentioned in its description or a comment.
    pub mentioned: bool,
}

/// Whether a user watches an issue, and why (the caller's subscription, as the API shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    /// Whether they watch it.
    pub subscribed: bool,
    /// Why (`null` when they do not).
    pub reason: Option<WatchReason>,
}

impl WatchFacts {
    /// The subscription these facts make: stopping by hand wins; then watching by hand; then the
    /// first of author, assigned, comment, mention.
    ///
    /// ```
    /// use issue_tracker_domain::{WatchFacts, WatchReason};
    /// let author = WatchFacts { author: true, mentioned: true, ..WatchFacts::default() };
    /// assert_eq!(author.subscription().reason, Some(WatchReason::Author));
    /// let stopped = WatchFacts { manual: Some(false), ..author };
    /// assert!(!stopped.subscription().subscribed);
    /// assert!(!WatchFacts::default().subscription().subscribed);
    /// ```
    pub fn subscription(self) -> Subscription {
        let reason = match self.manual {
            Some(false) => None,
            Some(true) => Some(WatchReason::Manual),
            None => [
                (self.author, WatchReason::Author),
                (self.assigned, WatchReason::Assigned),
                (self.commented, WatchReason::Comment),
                (self.mentioned, WatchReason::Mention),
            ]
            .into_iter()
            .find_map(|(holds, reason)| holds.then_some(reason)),
        };
        Subscription {
            subscribed: reason.is_some(),
            reason,
        }
    }
}

/// Someone who watches an issue, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watcher {
    /// Who.
    pub user: crate::UserId,
    /// Their username.
    pub username: String,
    /// Why (the first that holds, as [`WatchFacts::subscription`] says).
    pub reason: WatchReason,
}
