//! Whether a claimed email is still to be sent, and what it says. Decided when it is sent, from
//! the data as it is then: the issue may have been reassigned or deleted since it was queued, the
//! recipient deactivated, left without an address, or opted out of that kind of email.

use crate::{
    ActivityEmail, AssignmentEmail, Delivery, DigestEmail, DigestLine, InboxType, NotificationKind,
    NotificationPreferences, ReportEmail, ReportLine,
};
use crate::{IssueId, UserId};

/// The recipient of an email, as they are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Their username.
    pub username: String,
    /// Their address ("" for none).
    pub email: String,
    /// Whether they may still log in.
    pub active: bool,
    /// Which emails they want.
    pub preferences: NotificationPreferences,
    /// Whether they are staff (links go to the admin).
    pub staff: bool,
}

/// What to do with a claimed email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailContent {
    /// Send the assignment email to this address.
    Assignment {
        /// Recipient address.
        to: String,
        /// Whether the recipient is staff (links go to the admin).
        staff: bool,
        /// What it says.
        email: AssignmentEmail,
    },
    /// Send the report to this address.
    Report {
        /// Recipient address.
        to: String,
        /// Whether the recipient is staff (links go to the admin).
        staff: bool,
        /// What it says.
        email: ReportEmail,
    },
    /// Send the email about a watched issue to this address.
    Activity {
        /// Recipient address.
        to: String,
        /// Whether the recipient is staff (links go to the admin).
        staff: bool,
        /// What it says.
        email: ActivityEmail,
    },
    /// Send the daily digest to this address.
    Digest {
        /// Recipient address.
        to: String,
        /// Whether the recipient is staff (links go to the admin).
        staff: bool,
        /// What it says.
        email: DigestEmail,
    },
    /// Not to be sent (reassigned, deleted, inactive user, no address, nothing to report), and
    /// why.
    Stale(String),
    /// The recipient turned this kind of email off.
    OptedOut(String),
}

/// The checks every kind of email shares: the recipient (`None`: deleted) must exist, be
/// active, want this kind and have an address. `Err` says what to do instead of sending.
///
/// ```
/// use issue_tracker_domain::{recipient_check, EmailContent, NotificationKind, NotificationPreferences, Recipient};
/// let ann = Recipient { username: "ann".into(), email: "ann@example.com".into(), active: true,
///     preferences: NotificationPreferences { assignment: false, ..NotificationPreferences::default() }, staff: false };
/// assert_eq!(recipient_check(NotificationKind::Report, Some(ann.clone())), Ok(ann.clone()));
/// assert_eq!(
///     recipient_check(NotificationKind::Assignment, Some(ann)),
///     Err(EmailContent::OptedOut("ann turned assignment emails off".into()))
/// );
/// ```
pub fn recipient_check(
    kind: NotificationKind,
    recipient: Option<Recipient>,
) -> Result<Recipient, EmailContent> {
    let Some(recipient) = recipient else {
        return Err(EmailContent::Stale("the recipient no longer exists".into()));
    };
    if !recipient.active {
        return Err(EmailContent::Stale(format!(
            "{} is inactive",
            recipient.username
        )));
    }
    if !recipient.preferences.wants(kind) {
        return Err(EmailContent::OptedOut(format!(
            "{} turned {} emails off",
            recipient.username,
            kind.as_str()
        )));
    }
    if recipient.email.trim().is_empty() {
        return Err(EmailContent::Stale(format!(
            "{} has no email address",
            recipient.username
        )));
    }
    Ok(recipient)
}

/// An issue as the assignment email needs it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueNow {
    /// Its title.
    pub title: String,
    /// Its assignee.
    pub assignee: UserId,
}

/// The assignment email to `recipient` (who passed [`recipient_check`]) about issue `id`
/// (`None`: deleted since): sent only while the issue is still assigned to them.
///
/// ```
/// use issue_tracker_domain::{assignment_content, EmailContent, IssueId, IssueNow, NotificationPreferences, Recipient, UserId};
/// let bob = Recipient { username: "bob".into(), email: "bob@example.com".into(), active: true,
///     preferences: NotificationPreferences::default(), staff: false };
/// let id = IssueId::from_stored(7);
/// let now = IssueNow { title: "Fix it".into(), assignee: UserId::new(3) };
/// assert_eq!(
///     assignment_content(bob.clone(), UserId::new(2), id, Some(now)),
///     EmailContent::Stale("issue 7 was reassigned".into())
/// );
/// assert_eq!(
///     assignment_content(bob, UserId::new(2), id, None),
///     EmailContent::Stale("issue 7 was deleted".into())
/// );
/// ```
pub fn assignment_content(
    recipient: Recipient,
    recipient_id: UserId,
    id: IssueId,
    issue: Option<IssueNow>,
) -> EmailContent {
    match issue {
        None => EmailContent::Stale(format!("issue {id} was deleted")),
        Some(issue) if issue.assignee != recipient_id => {
            EmailContent::Stale(format!("issue {id} was reassigned"))
        }
        Some(issue) => EmailContent::Assignment {
            to: recipient.email,
            staff: recipient.staff,
            email: AssignmentEmail {
                issue_id: id.get(),
                title: issue.title,
                assignee: recipient.username,
            },
        },
    }
}

/// The report to `recipient` (who passed [`recipient_check`]) listing `lines`, the issues
/// assigned to them now: none, nothing to send.
pub fn report_content(recipient: Recipient, lines: Vec<ReportLine>) -> EmailContent {
    if lines.is_empty() {
        return EmailContent::Stale(format!("{} has no assigned issues", recipient.username));
    }
    EmailContent::Report {
        to: recipient.email,
        staff: recipient.staff,
        email: ReportEmail {
            username: recipient.username,
            issues: lines,
        },
    }
}

/// The email about watched issue `email.issue_id` to `recipient` (who passed
/// [`recipient_check`]): nothing to say (every line gone), nothing to send. Sent even when the
/// issue was deleted since: its deletion may be what it says.
///
/// ```
/// use issue_tracker_domain::{activity_content, ActivityEmail, EmailContent, NotificationPreferences, Recipient};
/// let ann = Recipient { username: "ann".into(), email: "ann@example.com".into(), active: true,
///     preferences: NotificationPreferences::default(), staff: false };
/// let empty = ActivityEmail { issue_id: 7, title: None, reason: "author".into(), lines: vec![] };
/// assert_eq!(activity_content(ann, empty), EmailContent::Stale("nothing to tell ann about issue 7".into()));
/// ```
pub fn activity_content(recipient: Recipient, mut email: ActivityEmail) -> EmailContent {
    if recipient.preferences.delivery == Delivery::Daily {
        return EmailContent::OptedOut(format!("{} gets a daily digest", recipient.username));
    }
    let wanted = recipient.preferences.activity_types;
    let had = email.lines.len();
    email
        .lines
        .retain(|line| InboxType::parse(&line.kind).is_none_or(|kind| wanted.contains(kind)));
    if email.lines.is_empty() && had > 0 {
        return EmailContent::OptedOut(format!(
            "{} turned these kinds of change off",
            recipient.username
        ));
    }
    if email.lines.is_empty() {
        return EmailContent::Stale(format!(
            "nothing to tell {} about issue {}",
            recipient.username, email.issue_id
        ));
    }
    EmailContent::Activity {
        to: recipient.email,
        staff: recipient.staff,
        email,
    }
}

/// The daily digest to `recipient` (who passed [`recipient_check`]) of `lines`, their entries
/// still unread: only the kinds of change they want; nothing left, nothing to send.
///
/// ```
/// use issue_tracker_domain::{digest_content, DigestLine, EmailContent, InboxTypes, NotificationPreferences, Recipient};
/// let prefs = NotificationPreferences { activity_types: InboxTypes::parse_list(&["mention"]).unwrap(), ..NotificationPreferences::default() };
/// let ann = Recipient { username: "ann".into(), email: "ann@example.com".into(), active: true, preferences: prefs, staff: false };
/// let line = |kind: &str| DigestLine { issue_id: 7, kind: kind.into(), summary: kind.into() };
/// let EmailContent::Digest { email, .. } = digest_content(ann.clone(), vec![line("comment"), line("mention")]) else { panic!() };
/// assert_eq!(email.lines, vec![line("mention")]);
/// assert!(matches!(digest_content(ann, vec![line("comment")]), EmailContent::Stale(_)));
/// ```
pub fn digest_content(recipient: Recipient, mut lines: Vec<DigestLine>) -> EmailContent {
    let wanted = recipient.preferences.activity_types;
    lines.retain(|line| InboxType::parse(&line.kind).is_none_or(|kind| wanted.contains(kind)));
    if lines.is_empty() {
        return EmailContent::Stale(format!(
            "nothing unread for {}'s digest",
            recipient.username
        ));
    }
    EmailContent::Digest {
        to: recipient.email,
        staff: recipient.staff,
        email: DigestEmail {
            username: recipient.username,
            lines,
        },
    }
}
