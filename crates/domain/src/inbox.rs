//! The notification inbox: which changes to an issue notify whom, why, and what the inbox entry
//! says. A change notifies the issue's watchers (see [`Watcher`]) except the person who made it;
//! a mention reaches the mentioned even when they stopped watching.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{IssueId, UserId, WatchReason, Watcher};

/// What happened to an issue, as the inbox names it (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "lowercase"))]
pub enum InboxType {
    /// Someone commented.
    Comment,
    /// The issue was closed.
    Closed,
    /// The issue was reopened.
    Reopened,
    /// The issue was assigned to someone else (told to the previous assignee).
    Reassigned,
    /// The recipient was @mentioned.
    Mention,
    /// The issue was deleted.
    Deleted,
}

impl InboxType {
    /// Every type, in the order the docs list them.
    pub const ALL: [InboxType; 6] = [
        InboxType::Comment,
        InboxType::Closed,
        InboxType::Reopened,
        InboxType::Reassigned,
        InboxType::Mention,
        InboxType::Deleted,
    ];

    /// The word the API shows and the database stores.
    pub const fn as_str(self) -> &'static str {
        match self {
            InboxType::Comment => "comment",
            InboxType::Closed => "closed",
            InboxType::Reopened => "reopened",
            InboxType::Reassigned => "reassigned",
            InboxType::Mention => "mention",
            InboxType::Deleted => "deleted",
        }
    }

    /// The type a stored word names.
    pub fn parse(word: &str) -> Option<InboxType> {
        InboxType::ALL.into_iter().find(|t| t.as_str() == word)
    }
}

/// The reason a stored word names.
pub fn parse_watch_reason(word: &str) -> Option<WatchReason> {
    [
        WatchReason::Manual,
        WatchReason::Author,
        WatchReason::Assigned,
        WatchReason::Comment,
        WatchReason::Mention,
    ]
    .into_iter()
    .find(|r| r.as_str() == word)
}

/// A change to an issue that may notify people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueEvent {
    /// A comment was added; `mentioned` are the active users it @mentions.
    Commented {
        /// The comment.
        comment: crate::CommentId,
        /// The comment's text (the entry quotes its start).
        body: String,
        /// Who it mentions.
        mentioned: Vec<UserId>,
    },
    /// The status changed to closed (`true`) or open (`false`).
    StatusChanged {
        /// Whether it is closed now.
        closed: bool,
    },
    /// The assignee changed; only the previous one is told (the new one gets the assignment
    /// email).
    Reassigned {
        /// Who it was assigned to.
        previous: UserId,
        /// Who it is assigned to now (username, for the summary).
        now: String,
    },
    /// The description (or, with `comment`, an edited comment) now mentions people it did not
    /// mention before.
    Mentioned {
        /// Who is newly mentioned.
        mentioned: Vec<UserId>,
        /// The comment, when the mention is in one.
        comment: Option<crate::CommentId>,
    },
    /// The issue was deleted.
    Deleted,
}

/// Who made a change, and what it happened to (for the entries' text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeContext<'a> {
    /// The actor (`None` for the system: the CLI, an import).
    pub actor: Option<(UserId, &'a str)>,
    /// The issue.
    pub issue: IssueId,
    /// Its title.
    pub title: &'a str,
}

/// One inbox entry to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// Whose inbox.
    pub recipient: UserId,
    /// Why they hear of it.
    pub reason: WatchReason,
    /// What happened.
    pub kind: InboxType,
    /// One line saying it.
    pub summary: String,
    /// The comment it is about, if any (its email quotes it whole).
    pub comment: Option<crate::CommentId>,
}

/// How much of a comment an entry's summary quotes.
pub const SUMMARY_QUOTE_CHARS: usize = 140;

fn quote(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= SUMMARY_QUOTE_CHARS {
        flat
    } else {
        let cut: String = flat.chars().take(SUMMARY_QUOTE_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// The inbox entries `event` makes, given the issue's watchers (after the change, or just before
/// a deletion). The actor is never told of their own change; a mention reaches the mentioned
/// whether or not they watch; nobody gets two entries for one change (a mention wins over a
/// comment).
///
/// ```
/// use issue_tracker_domain::{inbox_entries, ChangeContext, IssueEvent, IssueId, InboxType, UserId, WatchReason, Watcher};
/// let watcher = |id, name: &str, reason| Watcher { user: UserId::new(id), username: name.into(), reason };
/// let watchers = vec![watcher(1, "ann", WatchReason::Author), watcher(2, "bob", WatchReason::Assigned)];
/// let context = ChangeContext { actor: Some((UserId::new(2), "bob")), issue: IssueId::from_stored(7), title: "Printer" };
/// let comment = IssueEvent::Commented {
///     comment: issue_tracker_domain::CommentId::from_stored(5),
///     body: "On it, @carl".into(),
///     mentioned: vec![UserId::new(3)],
/// };
/// let entries = inbox_entries(&comment, &context, &watchers);
/// // bob commented: ann hears of the comment, carl of the mention, bob of nothing.
/// assert_eq!(entries.len(), 2);
/// assert_eq!((entries[0].recipient, entries[0].kind), (UserId::new(1), InboxType::Comment));
/// assert_eq!((entries[1].recipient, entries[1].kind), (UserId::new(3), InboxType::Mention));
/// assert_eq!(entries[0].summary, "bob commented on #7 Printer: On it, @carl");
/// ```
pub fn inbox_entries(
    event: &IssueEvent,
    context: &ChangeContext<'_>,
    watchers: &[Watcher],
) -> Vec<InboxEntry> {
    let actor_id = context.actor.map(|(id, _)| id);
    let who = context.actor.map_or("Someone", |(_, name)| name);
    let on = format!("#{} {}", context.issue, context.title);
    let comment = match event {
        IssueEvent::Commented { comment, .. } => Some(*comment),
        IssueEvent::Mentioned { comment, .. } => *comment,
        _ => None,
    };
    let to_watchers = |kind: InboxType, summary: String, skip: &[UserId]| -> Vec<InboxEntry> {
        watchers
            .iter()
            .filter(|w| Some(w.user) != actor_id && !skip.contains(&w.user))
            .map(|w| InboxEntry {
                recipient: w.user,
                reason: w.reason,
                kind,
                summary: summary.clone(),
                comment,
            })
            .collect()
    };
    let mentions = |mentioned: &[UserId], summary: String| -> Vec<InboxEntry> {
        let mut seen = Vec::new();
        mentioned
            .iter()
            .filter(|user| Some(**user) != actor_id)
            .filter(|user| {
                let first = !seen.contains(*user);
                seen.push(**user);
                first
            })
            .map(|user| InboxEntry {
                recipient: *user,
                reason: WatchReason::Mention,
                kind: InboxType::Mention,
                summary: summary.clone(),
                comment,
            })
            .collect()
    };
    match event {
        IssueEvent::Commented {
            body, mentioned, ..
        } => {
            let mut entries = to_watchers(
                InboxType::Comment,
                format!("{who} commented on {on}: {}", quote(body)),
                mentioned,
            );
            entries.extend(mentions(
                mentioned,
                format!("{who} mentioned you on {on}: {}", quote(body)),
            ));
            entries
        }
        IssueEvent::StatusChanged { closed } => {
            let (kind, verb) = if *closed {
                (InboxType::Closed, "closed")
            } else {
                (InboxType::Reopened, "reopened")
            };
            to_watchers(kind, format!("{who} {verb} {on}"), &[])
        }
        IssueEvent::Reassigned { previous, now } => {
            if Some(*previous) == actor_id {
                return Vec::new();
            }
            vec![InboxEntry {
                recipient: *previous,
                reason: WatchReason::Assigned,
                kind: InboxType::Reassigned,
                summary: format!("{who} reassigned {on} to {now}"),
                comment: None,
            }]
        }
        IssueEvent::Mentioned { mentioned, comment } => mentions(
            mentioned,
            if comment.is_some() {
                format!("{who} mentioned you in a comment on {on}")
            } else {
                format!("{who} mentioned you in the description of {on}")
            },
        ),
        IssueEvent::Deleted => to_watchers(InboxType::Deleted, format!("{who} deleted {on}"), &[]),
    }
}

/// One entry of a user's inbox, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxNotification {
    /// Its id (increasing: newer entries have larger ids).
    pub id: crate::InboxId,
    /// The issue's id (it may be deleted since).
    pub issue: IssueId,
    /// Why the recipient heard of it.
    pub reason: WatchReason,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: InboxType,
    /// Who did it (`null`: the system).
    pub actor: Option<String>,
    /// One line saying it.
    pub summary: String,
    /// Not yet marked read.
    pub unread: bool,
    /// When it arrived or was last marked.
    #[serde(serialize_with = "crate::serialize_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: DateTime<Utc>,
}

/// The names @mentioned in `after` that `before` did not mention (an edit tells only the newly
/// mentioned).
///
/// ```
/// use issue_tracker_domain::new_mentions;
/// assert_eq!(new_mentions("cc @ann", "cc @ann and @bob"), vec!["bob"]);
/// assert!(new_mentions("cc @ann", "cc @ann again").is_empty());
/// ```
pub fn new_mentions(before: &str, after: &str) -> Vec<String> {
    let old = crate::mentions(before);
    crate::mentions(after)
        .into_iter()
        .filter(|name| !old.contains(name))
        .collect()
}

/// What an update of an issue tells its watchers: a status change, a reassignment (to the
/// previous assignee, `previous_assignee`), and the people its description newly mentions
/// (`newly_mentioned`, already checked to be active users).
///
/// ```
/// use issue_tracker_domain::{update_events, Issue, IssueEvent, IssueId, Status, UserId};
/// let before = Issue {
///     id: IssueId::from_stored(1), created_by: "ann".into(), title: "T".into(),
///     description: String::new(), status: Status::Open, assigned_to: "bob".into(),
///     created_at: chrono::Utc::now(), updated_at: chrono::Utc::now(), labels: vec![],
/// };
/// let after = Issue { status: Status::Closed, assigned_to: "carl".into(), ..before.clone() };
/// let events = update_events(&before, &after, UserId::new(2), vec![]);
/// assert_eq!(events, vec![
///     IssueEvent::StatusChanged { closed: true },
///     IssueEvent::Reassigned { previous: UserId::new(2), now: "carl".into() },
/// ]);
/// ```
pub fn update_events(
    before: &crate::Issue,
    after: &crate::Issue,
    previous_assignee: UserId,
    newly_mentioned: Vec<UserId>,
) -> Vec<IssueEvent> {
    let mut events = Vec::new();
    if before.status != after.status {
        events.push(IssueEvent::StatusChanged {
            closed: after.status == crate::Status::Closed,
        });
    }
    if before.assigned_to != after.assigned_to {
        events.push(IssueEvent::Reassigned {
            previous: previous_assignee,
            now: after.assigned_to.clone(),
        });
    }
    if !newly_mentioned.is_empty() {
        events.push(IssueEvent::Mentioned {
            mentioned: newly_mentioned,
            comment: None,
        });
    }
    events
}

/// A parsed `GET /api/notifications/` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxQuery {
    /// Read entries too.
    pub all: bool,
    /// Only this issue's.
    pub issue: Option<IssueId>,
    /// The page, as every list pages.
    pub page: crate::ListQuery,
}

impl InboxQuery {
    /// Parses the query pairs: `all` (`true`/`false`, `1`/`0`), `issue` (an id), `page` and
    /// `per_page` (as every list); `cap` is the page size of an unpaginated list. Unknown
    /// parameters are ignored.
    ///
    /// ```
    /// use issue_tracker_domain::InboxQuery;
    /// let pairs = |list: &[(&str, &str)]| list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    /// let query = InboxQuery::parse(&pairs(&[("all", "true"), ("issue", "7"), ("per_page", "5")]), 100).unwrap();
    /// assert!(query.all);
    /// assert_eq!(query.issue.map(|i| i.get()), Some(7));
    /// assert_eq!(query.page.per_page, 5);
    /// let errors = InboxQuery::parse(&pairs(&[("all", "maybe"), ("issue", "x")]), 100).unwrap_err();
    /// assert_eq!(
    ///     serde_json::to_string(&errors).unwrap(),
    ///     r#"{"all":["Must be a valid boolean."],"issue":["A valid integer is required."]}"#
    /// );
    /// ```
    pub fn parse(pairs: &[(String, String)], cap: u32) -> Result<InboxQuery, crate::FieldErrors> {
        let mut errors = crate::FieldErrors::default();
        let (mut all, mut issue) = (false, None);
        for (key, value) in pairs {
            let value = value.trim();
            match key.as_str() {
                "all" => match value.to_ascii_lowercase().as_str() {
                    "true" | "1" => all = true,
                    "false" | "0" | "" => all = false,
                    _ => errors.add("all", crate::messages::NOT_A_BOOLEAN),
                },
                "issue" if !value.is_empty() => match IssueId::parse(value) {
                    Some(id) => issue = Some(id),
                    None => errors.add("issue", "A valid integer is required."),
                },
                _ => {}
            }
        }
        let paging: Vec<(String, String)> = pairs
            .iter()
            .filter(|(key, _)| key == "page" || key == "per_page")
            .cloned()
            .collect();
        let page = match crate::ListQuery::parse(&paging, "", cap) {
            Ok(page) => Some(page),
            Err(more) => {
                errors.merge(more);
                None
            }
        };
        match page {
            Some(page) if errors.is_empty() => Ok(InboxQuery { all, issue, page }),
            _ => Err(errors),
        }
    }
}
