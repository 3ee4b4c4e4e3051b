//! The notification emails: rendered from templates compiled into the binary, sent over SMTP with
//! lettre (async, tokio, rustls), or written as `.eml` files when no SMTP server is configured.
//!
//! Only this crate names lettre.

use std::path::PathBuf;
use std::time::Duration;

use issue_tracker_config::EmailSettings;
use issue_tracker_domain::{message_id, DeliveryOutcome};
use lettre::message::header::{Header, HeaderName, HeaderValue, MIME_VERSION_1_0};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::Message;

mod render;
mod smtp;
use smtp::{SendError, SmtpClient};

/// Subject of the assignment email (the original's).
pub const ASSIGNMENT_SUBJECT: &str = "New Issue assigned";
/// Subject of the consolidated report (the original's).
pub const REPORT_SUBJECT: &str = "Issues assigned";

/// The mailer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// A setting is wrong (sender address, host).
    #[error("invalid email setting {name}: {reason}")]
    Setting {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A template failed to render (a bug).
    #[error("template error: {0}")]
    Template(#[from] askama::Error),
}

enum Transport {
    Smtp(SmtpClient),
    Files(PathBuf),
}

/// An email ready to send.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The notification it belongs to (its Message-ID is derived from it).
    pub notification_id: i64,
    /// Recipient address.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body (the original's wording).
    pub body: String,
    /// The same as HTML, escaped, with links when `PUBLIC_URL` is set.
    pub html: String,
    /// The issue an assignment email is about: emails about one issue thread together.
    pub issue_id: Option<i64>,
    /// The report's one-click unsubscribe URL (RFC 8058), when links can be made.
    pub list_unsubscribe: Option<String>,
    /// Where a reply goes (`Reply-To`): the recipient's reply address for the issue, when replies
    /// by email are on.
    pub reply_to: Option<String>,
}

/// A header whose value never changes.
macro_rules! fixed_header {
    ($(#[$doc:meta])* $name:ident, $header:literal, $value:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        struct $name;

        impl Header for $name {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($header)
            }

            fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($name)
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), $value.to_owned())
            }
        }
    };
}

fixed_header!(
    /// RFC 3834: sent by a machine, so out-of-office replies and auto-responders stay quiet.
    AutoSubmitted,
    "Auto-Submitted",
    "auto-generated"
);
fixed_header!(
    /// Exchange's equivalent of `Auto-Submitted`.
    AutoResponseSuppress,
    "X-Auto-Response-Suppress",
    "All"
);

fixed_header!(
    /// RFC 8058: the `List-Unsubscribe` URL takes a `POST`, no login, no confirmation.
    ListUnsubscribePost,
    "List-Unsubscribe-Post",
    "List-Unsubscribe=One-Click"
);

/// RFC 2369 `List-Unsubscribe`: where the recipient stops the report.
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(value: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(value.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// RFC 2919 `List-Id`: names the service, so mail clients can filter its emails.
#[derive(Clone)]
struct ListId(String);

impl Header for ListId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Id")
    }

    fn parse(value: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListId(value.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// A title on one line: a subject must not carry a line break.
fn flatten(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Renders and sends the notification emails.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    message_id_domain: String,
    /// `PUBLIC_URL`: emails link to the issues under it.
    public_url: Option<String>,
    unsubscribe: Option<UnsubscribeLinks>,
}

/// What the report's unsubscribe links are made from.
struct UnsubscribeLinks {
    public_url: String,
    secret: Vec<u8>,
}

impl Mailer {
    /// Builds a mailer from the settings: SMTP when `EMAIL_HOST` is set, otherwise `.eml` files in
    /// `mail_dir`. `timeout` bounds the whole SMTP exchange of one email, from connect to the
    /// answer after DATA (keep it well below the sending lease).
    /// `connections` caps the pooled SMTP connections (one per email in flight).
    pub fn new(
        settings: &EmailSettings,
        timeout: Duration,
        connections: u32,
        mail_dir: PathBuf,
    ) -> Result<Mailer, MailerError> {
        let from: Mailbox = settings.from.parse().map_err(|e| MailerError::Setting {
            name: "EMAIL_FROM",
            reason: format!("{e}"),
        })?;
        let message_id_domain = from.email.domain().to_owned();
        let transport = match &settings.host {
            None => Transport::Files(mail_dir),
            Some(host) => {
                if host.trim().is_empty() {
                    return Err(MailerError::Setting {
                        name: "EMAIL_HOST",
                        reason: "empty host name".into(),
                    });
                }
                let credentials = settings.user.as_ref().map(|user| {
                    Credentials::new(user.clone(), settings.password.expose().to_owned())
                });
                Transport::Smtp(SmtpClient::new(
                    host.clone(),
                    settings.port,
                    settings.transport_security(),
                    credentials,
                    timeout,
                    connections.max(1) as usize,
                ))
            }
        };
        Ok(Mailer {
            transport,
            from,
            message_id_domain,
            public_url: None,
            unsubscribe: None,
        })
    }

    /// Emails link to the issues under `public_url` (the `PUBLIC_URL` setting).
    pub fn with_public_url(mut self, public_url: &str) -> Mailer {
        self.public_url = Some(public_url.trim_end_matches('/').to_owned());
        self
    }

    /// Where a recipient reads an issue: the admin's page for staff, the API otherwise.
    fn issue_url(&self, issue: i64, staff: bool) -> Option<String> {
        let base = self.public_url.as_ref()?;
        Some(if staff {
            format!("{base}/admin/issues/{issue}/")
        } else {
            format!("{base}/api/issue/{issue}/")
        })
    }

    /// Reports and the emails about watched issues carry a signed one-click unsubscribe link
    /// under `public_url` (the `PUBLIC_URL` setting), signed with `secret` (`SECRET_KEY`): the
    /// report's stops the report, the other's stops watching that issue.
    pub fn with_unsubscribe_links(mut self, public_url: &str, secret: &[u8]) -> Mailer {
        self = self.with_public_url(public_url);
        self.unsubscribe = Some(UnsubscribeLinks {
            public_url: public_url.trim_end_matches('/').to_owned(),
            secret: secret.to_vec(),
        });
        self
    }

    /// Where emails go, for the log: `smtp` or the folder of `.eml` files.
    pub fn destination(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "smtp".to_owned(),
            Transport::Files(dir) => dir.display().to_string(),
        }
    }

    fn message(&self, email: &Rendered) -> Result<Message, String> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| format!("invalid recipient address {:?}: {e}", email.to))?;
        let domain = &self.message_id_domain;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(message_id(email.notification_id, domain)))
            .header(MIME_VERSION_1_0)
            .header(AutoSubmitted)
            .header(AutoResponseSuppress)
            .header(ListId(format!(
                "issue-tracker notifications <issue-tracker.{domain}>"
            )));
        if let Some(url) = &email.list_unsubscribe {
            builder = builder
                .header(ListUnsubscribe(url.clone()))
                .header(ListUnsubscribePost);
        }
        if let Some(reply_to) = &email.reply_to {
            let mailbox: Mailbox = reply_to
                .parse()
                .map_err(|e| format!("invalid reply address {reply_to:?}: {e}"))?;
            builder = builder.reply_to(mailbox);
        }
        if let Some(issue) = email.issue_id {
            // Every email about an issue replies to the same (never sent) root message, so mail
            // clients show them as one thread, as GitHub's notifications do.
            let root = format!("<issue-{issue}@{domain}>");
            builder = builder.in_reply_to(root.clone()).references(root);
        }
        // multipart/alternative: the original's text, then the same as HTML with links.
        builder
            .multipart(MultiPart::alternative_plain_html(
                email.body.clone(),
                email.html.clone(),
            ))
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    /// Sends one email. Connection failures, timeouts and 4xx answers are temporary; 5xx answers
    /// and unusable addresses are permanent.
    pub async fn send(&self, email: &Rendered) -> DeliveryOutcome {
        let message = match self.message(email) {
            Ok(message) => message,
            Err(reason) => return DeliveryOutcome::Permanent(reason),
        };
        match &self.transport {
            Transport::Smtp(smtp) => {
                match smtp.send(message.envelope(), &message.formatted()).await {
                    Ok(()) => DeliveryOutcome::Sent,
                    Err(SendError::Smtp(error)) if error.is_permanent() => {
                        DeliveryOutcome::Permanent(error.to_string())
                    }
                    Err(SendError::Smtp(error)) => DeliveryOutcome::Temporary(error.to_string()),
                    Err(SendError::TimedOut(after)) => DeliveryOutcome::Temporary(format!(
                        "the SMTP server did not finish the exchange within {} s",
                        after.as_secs_f64()
                    )),
                }
            }
            Transport::Files(dir) => {
                let path = dir.join(format!("notification-{}.eml", email.notification_id));
                let written = async {
                    tokio::fs::create_dir_all(dir).await?;
                    tokio::fs::write(&path, message.formatted()).await
                }
                .await;
                match written {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), to = %email.to, "email written to a file (no EMAIL_HOST set)");
                        DeliveryOutcome::Sent
                    }
                    Err(error) => DeliveryOutcome::Temporary(format!(
                        "cannot write {}: {error}",
                        path.display()
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use issue_tracker_config::EmailTls;
    use issue_tracker_config::Secret;
    use issue_tracker_domain::{AssignmentEmail, ReportEmail, ReportLine, UserId};

    fn files_mailer(dir: PathBuf) -> Mailer {
        let settings = EmailSettings {
            host: None,
            port: 25,
            user: None,
            password: Secret::default(),
            from: "Tracker <tracker@example.com>".into(),
            tls: EmailTls::None,
            use_tls: false,
            use_ssl: false,
            mail_dir: dir.clone(),
        };
        Mailer::new(&settings, Duration::from_secs(5), 4, dir).unwrap()
    }

    #[test]
    fn assignment_email_matches_the_original() {
        let mailer = files_mailer(std::env::temp_dir());
        let email = mailer
            .render_assignment(
                7,
                "bob@example.com",
                false,
                &AssignmentEmail {
                    issue_id: 13,
                    title: "New issue 101".into(),
                    assignee: "bob".into(),
                },
            )
            .unwrap();
        assert_eq!(email.subject, "New Issue assigned");
        assert_eq!(
            email.body.trim_end(),
            "Ticket '13 - New issue 101' is assigned to you"
        );
    }

    #[test]
    fn report_lists_every_issue() {
        let mailer = files_mailer(std::env::temp_dir());
        let line = |id: i64, title: &str| ReportLine {
            id,
            title: title.into(),
            created_by: "ann".into(),
            description: format!("about {title}"),
            status: "open".into(),
        };
        let email = mailer
            .render_report(
                8,
                "bob@example.com",
                UserId::new(3),
                false,
                &ReportEmail {
                    username: "bob".into(),
                    issues: vec![line(1, "first <b>"), line(2, "second")],
                },
            )
            .unwrap();
        assert_eq!(email.subject, "Issues assigned");
        assert_eq!(
            email.list_unsubscribe, None,
            "no links without PUBLIC_URL and SECRET_KEY"
        );
        for needle in [
            "#1 - first <b>",
            "#2 - second",
            "created by: ann",
            "about second",
            "status: open",
            "These 2 issues",
        ] {
            assert!(
                email.body.contains(needle),
                "{needle} missing:\n{}",
                email.body
            );
        }
    }

    #[tokio::test]
    async fn without_smtp_emails_become_eml_files_with_a_stable_message_id() {
        let dir = std::env::temp_dir().join(format!("issue-tracker-mail-{}", std::process::id()));
        let mailer = files_mailer(dir.clone());
        let email = Rendered {
            notification_id: 42,
            to: "bob@example.com".into(),
            subject: "New Issue assigned".into(),
            body: "hello".into(),
            html: "<p>hello</p>".into(),
            issue_id: Some(7),
            list_unsubscribe: None,
            reply_to: Some("reply+1-7.2000.00ff@tracker.example.com".into()),
        };
        assert_eq!(mailer.send(&email).await, DeliveryOutcome::Sent);
        let written = std::fs::read_to_string(dir.join("notification-42.eml")).unwrap();
        assert!(
            written.contains("Message-ID: <notification-42@example.com>"),
            "{written}"
        );
        assert!(written.contains("To: bob@example.com"));
        // Read back as a mail client would.
        let parsed = mail_parser::MessageParser::default()
            .parse(written.as_bytes())
            .expect("a parsable message");
        let header = |name: &str| {
            parsed
                .header_raw(name)
                .map(str::trim)
                .unwrap_or_else(|| panic!("no {name} header in\n{written}"))
                .to_owned()
        };
        assert_eq!(header("MIME-Version"), "1.0");
        assert_eq!(header("Auto-Submitted"), "auto-generated");
        assert_eq!(header("X-Auto-Response-Suppress"), "All");
        assert_eq!(
            header("List-Id"),
            "issue-tracker notifications <issue-tracker.example.com>"
        );
        assert_eq!(header("In-Reply-To"), "<issue-7@example.com>");
        assert_eq!(header("References"), "<issue-7@example.com>");
        assert_eq!(
            header("Reply-To"),
            "reply+1-7.2000.00ff@tracker.example.com"
        );
        assert_eq!(parsed.body_text(0).as_deref(), Some("hello"));
        let _ = std::fs::remove_dir_all(dir);
        let bad = Rendered {
            to: "not an address".into(),
            ..email
        };
        assert!(matches!(
            mailer.send(&bad).await,
            DeliveryOutcome::Permanent(_)
        ));
    }

    /// With `PUBLIC_URL` and `SECRET_KEY`, a report carries `List-Unsubscribe` (a link that
    /// verifies for its recipient only) and `List-Unsubscribe-Post` (RFC 8058), read back from
    /// the `.eml` file as a mail client would; assignment emails carry neither.
    #[tokio::test]
    async fn reports_carry_a_signed_one_click_unsubscribe_link() {
        let dir = std::env::temp_dir().join(format!("issue-tracker-unsub-{}", std::process::id()));
        let mailer = files_mailer(dir.clone())
            .with_unsubscribe_links("https://issues.example.com/", b"the secret");
        let report = mailer
            .render_report(
                51,
                "bob@example.com",
                UserId::new(3),
                false,
                &ReportEmail {
                    username: "bob".into(),
                    issues: Vec::new(),
                },
            )
            .unwrap();
        assert_eq!(mailer.send(&report).await, DeliveryOutcome::Sent);
        let written = std::fs::read_to_string(dir.join("notification-51.eml")).unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(written.as_bytes())
            .expect("a parsable message");
        let link = parsed
            .header_raw("List-Unsubscribe")
            .map(str::trim)
            .expect("a List-Unsubscribe header");
        let url = link
            .strip_prefix("<https://issues.example.com/unsubscribe/")
            .and_then(|rest| rest.strip_suffix("/>"))
            .unwrap_or_else(|| panic!("{link}"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(
            issue_tracker_domain::verify_unsubscribe_token(b"the secret", url, now),
            Ok(UserId::new(3))
        );
        assert_eq!(
            parsed.header_raw("List-Unsubscribe-Post").map(str::trim),
            Some("List-Unsubscribe=One-Click")
        );
        let assignment = mailer
            .render_assignment(
                52,
                "bob@example.com",
                false,
                &AssignmentEmail {
                    issue_id: 1,
                    title: "t".into(),
                    assignee: "bob".into(),
                },
            )
            .unwrap();
        assert_eq!(mailer.send(&assignment).await, DeliveryOutcome::Sent);
        let written = std::fs::read_to_string(dir.join("notification-52.eml")).unwrap();
        assert!(!written.contains("List-Unsubscribe"), "{written}");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Hostile titles (markup, a right-to-left override, 255 characters, emoji) in both emails:
    /// read back from the `.eml` as a mail client would, the text part is exactly the rendered
    /// original wording, and the HTML part shows the same text escaped, never as markup, with
    /// links to the admin for staff and to the API for others.
    #[tokio::test]
    async fn html_parts_escape_hostile_titles_and_text_parts_stay_the_original() {
        let dir = std::env::temp_dir().join(format!("issue-tracker-html-{}", std::process::id()));
        let mailer = files_mailer(dir.clone()).with_public_url("https://issues.example.com/");
        let long = format!("{}<i>", "x".repeat(252));
        assert_eq!(long.chars().count(), 255, "the longest title there can be");
        let titles = [
            "<script>alert(1)</script>",
            "\u{202E}gnp.exe \"quoted\" & 'single'",
            long.as_str(),
            "🎉 emoji ✓",
        ];
        let read = |id: i64| {
            let written =
                std::fs::read_to_string(dir.join(format!("notification-{id}.eml"))).unwrap();
            let parsed = mail_parser::MessageParser::default()
                .parse(written.as_bytes())
                .expect("a parsable message")
                .into_owned();
            (written, parsed)
        };
        for (n, title) in titles.iter().enumerate() {
            let id = 100 + n as i64;
            for (staff, link) in [
                (
                    true,
                    format!("https://issues.example.com/admin/issues/{id}/"),
                ),
                (false, format!("https://issues.example.com/api/issue/{id}/")),
            ] {
                let email = mailer
                    .render_assignment(
                        id,
                        "bob@example.com",
                        staff,
                        &AssignmentEmail {
                            issue_id: id,
                            title: (*title).to_owned(),
                            assignee: "bob".into(),
                        },
                    )
                    .unwrap();
                assert_eq!(
                    email.body,
                    format!("Ticket '{id} - {title}' is assigned to you")
                );
                assert_eq!(mailer.send(&email).await, DeliveryOutcome::Sent);
                let (written, parsed) = read(id);
                assert!(written.contains("multipart/alternative"), "{written}");
                assert_eq!(parsed.body_text(0).as_deref(), Some(email.body.as_str()));
                let html = parsed.body_html(0).expect("an HTML part");
                assert!(
                    !html.contains("<script>") && !html.contains("<i>"),
                    "{html}"
                );
                let escaped = title
                    .replace('&', "&#38;")
                    .replace('<', "&#60;")
                    .replace('>', "&#62;")
                    .replace('"', "&#34;")
                    .replace('\'', "&#39;");
                assert!(
                    html.contains(&format!("<bdi>{escaped}</bdi>")),
                    "{title}: {html}"
                );
                assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
            }
        }
        // A report with a hostile line; without PUBLIC_URL there are no links at all.
        let plain = files_mailer(dir.clone());
        let report = plain
            .render_report(
                300,
                "bob@example.com",
                UserId::new(3),
                false,
                &ReportEmail {
                    username: "bob".into(),
                    issues: vec![ReportLine {
                        id: 9,
                        title: "<img src=x onerror=alert(1)>".into(),
                        created_by: "ann".into(),
                        description: "line one\n<b>two</b>".into(),
                        status: "open".into(),
                    }],
                },
            )
            .unwrap();
        assert_eq!(plain.send(&report).await, DeliveryOutcome::Sent);
        let (_, parsed) = read(300);
        // Lines end in CRLF on the wire (RFC 5322).
        assert_eq!(
            parsed.body_text(0).as_deref(),
            Some(report.body.replace('\n', "\r\n").as_str())
        );
        let html = parsed.body_html(0).unwrap();
        assert!(
            html.contains("&#60;img src=x onerror=alert(1)&#62;"),
            "{html}"
        );
        assert!(
            html.contains("&#60;b&#62;two&#60;/b&#62;") && !html.contains("href="),
            "{html}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
