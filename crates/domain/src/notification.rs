//! Notification rules: kinds, states, when a report period starts, how long to back off, and what
//! each email says.

use std::time::Duration;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// "An issue was assigned to you", sent after the assignment delay.
    Assignment,
    /// The periodic consolidated report of one user's assigned issues.
    Report,
    /// What happened on an issue they watch (comments, status, reassignment, mentions,
    /// deletion): one email per burst per issue, sent after `NOTIFY_DEBOUNCE`.
    Activity,
    /// The daily digest of the unread inbox entries of a user who chose it.
    Digest,
}

impl NotificationKind {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Assignment => "assignment",
            NotificationKind::Report => "report",
            NotificationKind::Activity => "activity",
            NotificationKind::Digest => "digest",
        }
    }

    /// Parses the stored word.
    ///
    /// ```
    /// use issue_tracker_domain::NotificationKind;
    /// assert_eq!(NotificationKind::parse("report"), Some(NotificationKind::Report));
    /// ```
    pub fn parse(value: &str) -> Option<NotificationKind> {
        match value {
            "assignment" => Some(NotificationKind::Assignment),
            "report" => Some(NotificationKind::Report),
            "activity" => Some(NotificationKind::Activity),
            "digest" => Some(NotificationKind::Digest),
            _ => None,
        }
    }

    /// Whether this kind goes ahead of the others on the way to the mail server. An assignment
    /// email tells one person they were just given work; the others can wait behind it, and a
    /// storm of them (an issue with thousands of watchers) must not hold it back.
    ///
    /// ```
    /// use issue_tracker_domain::NotificationKind;
    /// assert!(NotificationKind::Assignment.is_urgent());
    /// assert!(!NotificationKind::Activity.is_urgent());
    /// ```
    pub fn is_urgent(self) -> bool {
        matches!(self, NotificationKind::Assignment)
    }
}

/// Where a notification is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationStatus {
    /// Waiting for its time, or for a retry.
    Pending,
    /// Claimed by a worker until its lease runs out.
    Sending,
    /// Accepted by the SMTP server.
    Sent,
    /// Failed for good (5xx, or too many attempts); an admin may retry it.
    Dead,
    /// Stale (reassigned, deleted, no address): never to be sent.
    Cancelled,
    /// Its recipient turned this kind of email off: not sent, and recorded as such.
    Skipped,
}

/// Which emails a user wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationPreferences {
    /// The email sent when an issue is assigned to them.
    pub assignment: bool,
    /// The consolidated report of their assigned issues.
    pub report: bool,
    /// The emails about issues they watch.
    pub activity: bool,
    /// Which kinds of change on a watched issue email them (all by default).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::InboxType>))]
    pub activity_types: crate::InboxTypes,
    /// At once (per burst) or in a daily digest.
    pub delivery: crate::Delivery,
}

impl Default for NotificationPreferences {
    /// Everything on, at once: what a new user has.
    fn default() -> Self {
        NotificationPreferences {
            assignment: true,
            report: true,
            activity: true,
            activity_types: crate::InboxTypes::ALL,
            delivery: crate::Delivery::Instant,
        }
    }
}

impl NotificationPreferences {
    /// Whether a notification of `kind` goes out.
    ///
    /// ```
    /// use issue_tracker_domain::{NotificationKind, NotificationPreferences};
    /// let prefs = NotificationPreferences { report: false, ..NotificationPreferences::default() };
    /// assert!(prefs.wants(NotificationKind::Assignment));
    /// assert!(!prefs.wants(NotificationKind::Report));
    /// ```
    pub fn wants(self, kind: NotificationKind) -> bool {
        match kind {
            NotificationKind::Assignment => self.assignment,
            NotificationKind::Report => self.report,
            NotificationKind::Activity | NotificationKind::Digest => self.activity,
        }
    }
}

impl NotificationStatus {
    /// Every status, in life order.
    pub const ALL: [NotificationStatus; 6] = [
        NotificationStatus::Pending,
        NotificationStatus::Sending,
        NotificationStatus::Sent,
        NotificationStatus::Dead,
        NotificationStatus::Cancelled,
        NotificationStatus::Skipped,
    ];

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sending => "sending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Dead => "dead",
            NotificationStatus::Cancelled => "cancelled",
            NotificationStatus::Skipped => "skipped",
        }
    }

    /// Parses the stored word.
    ///
    /// ```
    /// use issue_tracker_domain::NotificationStatus;
    /// assert_eq!(NotificationStatus::parse("dead"), Some(NotificationStatus::Dead));
    /// assert_eq!(NotificationStatus::parse("lost"), None);
    /// ```
    pub fn parse(value: &str) -> Option<NotificationStatus> {
        NotificationStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

/// The report period a moment falls in: `floor(unix seconds / interval)`. Every beat computes the
/// same number without talking to the others, so "one report per user per period" is a unique key.
///
/// ```
/// use std::time::Duration;
/// use issue_tracker_domain::report_period;
///
/// let day = Duration::from_secs(86_400);
/// assert_eq!(report_period(86_399, day), 0);
/// assert_eq!(report_period(86_400, day), 1);
/// ```
pub fn report_period(unix_seconds: i64, interval: Duration) -> i64 {
    let interval = interval.as_secs_f64().max(1.0);
    (unix_seconds as f64 / interval).floor() as i64
}

/// The digest period a moment is in: periods of `interval` (a day) that start at `hour` o'clock
/// UTC. A digest is made once per user and period, when the period starts.
///
/// ```
/// use std::time::Duration;
/// use issue_tracker_domain::digest_period;
/// let day = Duration::from_secs(86_400);
/// // 1970-01-02 07:59 is still in the period that started on 01-01 at 08:00; 08:00 starts the next.
/// assert_eq!(digest_period(86_400 + 7 * 3600 + 59 * 60, 8, day), 0);
/// assert_eq!(digest_period(86_400 + 8 * 3600, 8, day), 1);
/// ```
pub fn digest_period(unix_seconds: i64, hour: u32, interval: Duration) -> i64 {
    report_period(unix_seconds - i64::from(hour) * 3600, interval)
}

/// The wait before retry number `attempt` (1 = the first retry): `base × 2^(attempt-1)`, at most
/// `max`.
///
/// ```
/// use std::time::Duration;
/// use issue_tracker_domain::retry_backoff;
///
/// let base = Duration::from_secs(10);
/// let max = Duration::from_secs(3600);
/// assert_eq!(retry_backoff(1, base, max), Duration::from_secs(10));
/// assert_eq!(retry_backoff(3, base, max), Duration::from_secs(40));
/// assert_eq!(retry_backoff(30, base, max), max);
/// ```
pub fn retry_backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
    base.saturating_mul(factor).min(max)
}

/// The stable `Message-ID` of a notification's email: the same on every attempt, so a duplicate
/// delivery (the one a crash after SMTP acceptance can cause) is recognisable.
///
/// ```
/// assert_eq!(
///     issue_tracker_domain::message_id(42, "example.com"),
///     "<notification-42@example.com>"
/// );
/// ```
pub fn message_id(notification_id: i64, domain: &str) -> String {
    format!("<notification-{notification_id}@{domain}>")
}

/// What the assignment email says, read from current data when it is sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AssignmentEmail {
    /// The issue's id.
    pub issue_id: i64,
    /// Its title now.
    pub title: String,
    /// Who it is assigned to.
    pub assignee: String,
}

/// One line of a consolidated report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportLine {
    /// Issue id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Creator's username.
    pub created_by: String,
    /// Description.
    pub description: String,
    /// `open` or `closed`.
    pub status: String,
}

/// What the consolidated report says: every issue assigned to the recipient now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportEmail {
    /// The recipient's username.
    pub username: String,
    /// Their issues, by id.
    pub issues: Vec<ReportLine>,
}

/// One thing that happened on a watched issue, as its email lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActivityLine {
    /// What happened (`comment`, `closed`, ...).
    pub kind: String,
    /// The inbox entry's one line (`carl commented on #7 Printer: ...`).
    pub summary: String,
    /// The comment's whole text, for comments and mentions in comments (`None`: not about a
    /// comment, or the comment was deleted since).
    pub comment: Option<String>,
}

/// What the email about a watched issue says: everything of one burst, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActivityEmail {
    /// The issue's id.
    pub issue_id: i64,
    /// Its title now (`None`: deleted).
    pub title: Option<String>,
    /// Why the recipient hears of it (`author`, `mention`, ...): the reason of the last line.
    pub reason: String,
    /// What happened.
    pub lines: Vec<ActivityLine>,
}

/// One line of a daily digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DigestLine {
    /// The issue.
    pub issue_id: i64,
    /// What happened (`comment`, `closed`, ...).
    pub kind: String,
    /// The inbox entry's one line.
    pub summary: String,
}

/// What a daily digest says: the recipient's unread entries of the day, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DigestEmail {
    /// The recipient's username.
    pub username: String,
    /// The entries.
    pub lines: Vec<DigestLine>,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The SMTP server accepted the message.
    Sent,
    /// Worth retrying later (connection refused, timeout, 4xx).
    Temporary(String),
    /// Never worth retrying (5xx, invalid address).
    Permanent(String),
}
