//! Rendering: each email's text and HTML parts from askama templates (`templates/`), compiled
//! into the binary and checked against their context types at build time. Names ending in
//! `.html` are escaped (a title is text, never markup); `.txt` parts are the text as written.

use askama::Template;
use issue_tracker_domain::{
    unsubscribe_token, unwatch_token, ActivityEmail, AssignmentEmail, DigestEmail, IssueId,
    ReportEmail, ReportLine, UserId, UNSUBSCRIBE_LINK_SECONDS,
};

use crate::{flatten, Mailer, MailerError, Rendered, ASSIGNMENT_SUBJECT, REPORT_SUBJECT};

#[derive(Template)]
#[template(path = "assignment.txt")]
struct AssignmentText<'a> {
    issue_id: i64,
    title: &'a str,
}

#[derive(Template)]
#[template(path = "assignment.html")]
struct AssignmentHtml<'a> {
    issue_id: i64,
    title: &'a str,
    issue_url: Option<String>,
}

#[derive(Template)]
#[template(path = "report.txt")]
struct ReportText<'a> {
    username: &'a str,
    issues: &'a [ReportLine],
}

/// A report line and its link.
struct LinkedReportLine<'a> {
    issue: &'a ReportLine,
    url: Option<String>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportHtml<'a> {
    username: &'a str,
    issues: Vec<LinkedReportLine<'a>>,
    unsubscribe_url: Option<&'a str>,
}

/// One line of the email about a watched issue, and the comment it quotes, if any.
struct QuotedLine<'a> {
    summary: &'a str,
    comment: Option<&'a str>,
}

/// What both parts of the email about a watched issue say.
struct Activity<'a> {
    subject: &'a str,
    issue_id: i64,
    lines: Vec<QuotedLine<'a>>,
    issue_url: Option<String>,
    because: &'static str,
    unsubscribe_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "activity.txt")]
struct ActivityText<'a> {
    email: &'a Activity<'a>,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityHtml<'a> {
    email: &'a Activity<'a>,
}

/// A digest line and its link.
struct LinkedDigestLine<'a> {
    summary: &'a str,
    url: Option<String>,
}

/// What both parts of a digest say.
struct Digest<'a> {
    subject: &'a str,
    username: &'a str,
    lines: Vec<LinkedDigestLine<'a>>,
}

#[derive(Template)]
#[template(path = "digest.txt")]
struct DigestText<'a> {
    email: &'a Digest<'a>,
}

#[derive(Template)]
#[template(path = "digest.html")]
struct DigestHtml<'a> {
    email: &'a Digest<'a>,
}

impl Mailer {
    /// The assignment email: `Ticket '<id> - <title>' is assigned to you`.
    /// `staff`: whether the recipient is staff (their link goes to the admin).
    pub fn render_assignment(
        &self,
        notification_id: i64,
        to: &str,
        staff: bool,
        email: &AssignmentEmail,
    ) -> Result<Rendered, MailerError> {
        let body = AssignmentText {
            issue_id: email.issue_id,
            title: &email.title,
        }
        .render()?;
        let html = AssignmentHtml {
            issue_id: email.issue_id,
            title: &email.title,
            issue_url: self.issue_url(email.issue_id, staff),
        }
        .render()?;
        Ok(Rendered {
            notification_id,
            to: to.to_owned(),
            subject: ASSIGNMENT_SUBJECT.to_owned(),
            body,
            html,
            issue_id: Some(email.issue_id),
            list_unsubscribe: None,
            reply_to: None,
        })
    }

    /// The consolidated report: every issue assigned to the recipient, with id, title, creator,
    /// status and description.
    /// `recipient` is the user the report's unsubscribe link turns it off for; `staff`, whether
    /// they are staff (their links go to the admin).
    pub fn render_report(
        &self,
        notification_id: i64,
        to: &str,
        recipient: UserId,
        staff: bool,
        email: &ReportEmail,
    ) -> Result<Rendered, MailerError> {
        let body = ReportText {
            username: &email.username,
            issues: &email.issues,
        }
        .render()?;
        let list_unsubscribe =
            self.unsubscribe_link(|secret, expires| unsubscribe_token(secret, recipient, expires));
        let html = ReportHtml {
            username: &email.username,
            issues: email
                .issues
                .iter()
                .map(|issue| LinkedReportLine {
                    issue,
                    url: self.issue_url(issue.id, staff),
                })
                .collect(),
            unsubscribe_url: list_unsubscribe.as_deref(),
        }
        .render()?;
        Ok(Rendered {
            notification_id,
            to: to.to_owned(),
            subject: REPORT_SUBJECT.to_owned(),
            body,
            html,
            issue_id: None,
            list_unsubscribe,
            reply_to: None,
        })
    }

    /// A signed one-click link under `PUBLIC_URL` (RFC 8058) made by `token` from the secret
    /// and an expiry, when links can be made.
    fn unsubscribe_link(&self, token: impl FnOnce(&[u8], i64) -> String) -> Option<String> {
        let links = self.unsubscribe.as_ref()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let expires = now + UNSUBSCRIBE_LINK_SECONDS;
        Some(format!(
            "{}/unsubscribe/{}/",
            links.public_url,
            token(&links.secret, expires)
        ))
    }

    /// The email about a watched issue: every line of the burst, each comment quoted whole, a
    /// link to the issue, and a one-click link that stops `recipient` watching it. Threaded with
    /// the issue's other emails.
    pub fn render_activity(
        &self,
        notification_id: i64,
        to: &str,
        recipient: UserId,
        staff: bool,
        email: &ActivityEmail,
    ) -> Result<Rendered, MailerError> {
        let subject = match &email.title {
            Some(title) => format!("[#{}] {}", email.issue_id, flatten(title)),
            None => format!("[#{}] (deleted issue)", email.issue_id),
        };
        let list_unsubscribe = IssueId::new(email.issue_id).and_then(|issue| {
            self.unsubscribe_link(|secret, expires| {
                unwatch_token(secret, recipient, issue, expires)
            })
        });
        let because = match email.reason.as_str() {
            "author" => "you created the issue",
            "assigned" => "the issue is (or was) assigned to you",
            "comment" => "you commented on the issue",
            "mention" => "you were mentioned",
            _ => "you watch the issue",
        };
        let activity = Activity {
            subject: &subject,
            issue_id: email.issue_id,
            lines: email
                .lines
                .iter()
                .map(|line| QuotedLine {
                    summary: &line.summary,
                    comment: line.comment.as_deref().filter(|text| !text.is_empty()),
                })
                .collect(),
            issue_url: email
                .title
                .as_ref()
                .and_then(|_| self.issue_url(email.issue_id, staff)),
            because,
            unsubscribe_url: list_unsubscribe.as_deref(),
        };
        let body = ActivityText { email: &activity }.render()?;
        let html = ActivityHtml { email: &activity }.render()?;
        Ok(Rendered {
            notification_id,
            to: to.to_owned(),
            subject,
            body,
            html,
            issue_id: Some(email.issue_id),
            list_unsubscribe,
            reply_to: None,
        })
    }

    /// The daily digest: the recipient's unread entries of the day, each with a link to its issue
    /// when `PUBLIC_URL` is set.
    pub fn render_digest(
        &self,
        notification_id: i64,
        to: &str,
        staff: bool,
        email: &DigestEmail,
    ) -> Result<Rendered, MailerError> {
        let count = email.lines.len();
        let subject = if count == 1 {
            "Your daily digest: 1 notification".to_owned()
        } else {
            format!("Your daily digest: {count} notifications")
        };
        let digest = Digest {
            subject: &subject,
            username: &email.username,
            lines: email
                .lines
                .iter()
                .map(|line| LinkedDigestLine {
                    summary: &line.summary,
                    url: self.issue_url(line.issue_id, staff),
                })
                .collect(),
        };
        let body = DigestText { email: &digest }.render()?;
        let html = DigestHtml { email: &digest }.render()?;
        Ok(Rendered {
            notification_id,
            to: to.to_owned(),
            subject,
            body,
            html,
            issue_id: None,
            list_unsubscribe: None,
            reply_to: None,
        })
    }
}
