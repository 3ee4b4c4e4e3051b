//! The rules for a message that arrives at a reply address: which messages are refused and why
//! (automatic mail, too big, a bad token, a sender who is not the token's user...), what text
//! becomes the comment, and the key that makes a message count once however often it is
//! delivered. The message itself is read by the caller (MIME is an adapter's business).

use sha2::{Digest, Sha256};

use crate::{reply_text, ReplyTokenRefused, COMMENT_MAX_CHARS};

/// What the rules need of a received message, read from it by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncomingEmail {
    /// The `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// The address in `From`.
    pub from: Option<String>,
    /// The envelope sender (`MAIL FROM`, or the `Return-Path` header): `Some("")` is the null
    /// sender of bounces and automatic answers.
    pub envelope_sender: Option<String>,
    /// Every header, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The text part, or the HTML part converted to text when there is none.
    pub text: Option<String>,
    /// How many attachments it carries.
    pub attachments: usize,
    /// Whether it is a delivery status notification (`multipart/report`).
    pub delivery_report: bool,
}

impl IncomingEmail {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    }
}

/// Why a message did not become a comment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyRefusal {
    /// Larger than `INCOMING_EMAIL_MAX_BYTES`.
    #[error("the message is larger than {max} bytes")]
    TooBig {
        /// The limit.
        max: usize,
    },
    /// Sent by a program (an out-of-office answer, a bounce, a list): never answered, so that
    /// two systems do not answer each other forever.
    #[error("automatic mail ({0}) is not turned into comments")]
    Automatic(&'static str),
    /// No recipient is a reply address.
    #[error("no recipient is a reply address of this service")]
    NoReplyAddress,
    /// The token was refused.
    #[error(transparent)]
    Token(#[from] ReplyTokenRefused),
    /// The token's user is gone or inactive.
    #[error("the reply address's user is not an active user")]
    InactiveUser,
    /// The token's issue was deleted.
    #[error("the issue was deleted")]
    IssueGone,
    /// `INCOMING_EMAIL_CHECK_SENDER` is on and `From` is not the user's address.
    #[error("the sender is not the address of the reply address's user")]
    WrongSender,
    /// Nothing was written above the quoted message.
    #[error("the reply is empty once the quoted message and the signature are taken out")]
    Empty,
}

impl ReplyRefusal {
    /// Whether the message is dropped without a bounce: answering automatic mail, even with a
    /// bounce, is how mail loops start. Every other refusal bounces, so that a person learns
    /// their answer did not arrive.
    pub fn is_silent(&self) -> bool {
        matches!(self, ReplyRefusal::Automatic(_))
    }

    /// The word stored with a refused message.
    pub fn code(&self) -> &'static str {
        match self {
            ReplyRefusal::TooBig { .. } => "too_big",
            ReplyRefusal::Automatic(_) => "automatic",
            ReplyRefusal::NoReplyAddress => "no_reply_address",
            ReplyRefusal::Token(ReplyTokenRefused::Expired) => "token_expired",
            ReplyRefusal::Token(_) => "token_invalid",
            ReplyRefusal::InactiveUser => "inactive_user",
            ReplyRefusal::IssueGone => "issue_gone",
            ReplyRefusal::WrongSender => "wrong_sender",
            ReplyRefusal::Empty => "empty",
        }
    }
}

/// Why `email` is automatic mail, if it is: `Auto-Submitted` other than `no` (RFC 3834),
/// `Precedence: bulk/junk/list`, the null sender, a delivery status notification, or the marks
/// out-of-office answers carry.
///
/// ```
/// use issue_tracker_domain::{automatic_mail, IncomingEmail};
/// let mut email = IncomingEmail::default();
/// assert_eq!(automatic_mail(&email), None);
/// email.headers.push(("auto-submitted".into(), "auto-replied".into()));
/// assert_eq!(automatic_mail(&email), Some("Auto-Submitted"));
/// ```
pub fn automatic_mail(email: &IncomingEmail) -> Option<&'static str> {
    if email
        .header("auto-submitted")
        .is_some_and(|v| !v.eq_ignore_ascii_case("no"))
    {
        return Some("Auto-Submitted");
    }
    if email.header("precedence").is_some_and(|v| {
        ["bulk", "junk", "list", "auto_reply"]
            .iter()
            .any(|p| v.eq_ignore_ascii_case(p))
    }) {
        return Some("Precedence");
    }
    if email
        .envelope_sender
        .as_deref()
        .is_some_and(|s| s.trim().trim_matches(['<', '>']).is_empty())
    {
        return Some("null sender");
    }
    if email.delivery_report {
        return Some("delivery status notification");
    }
    if email
        .header("x-auto-response-suppress")
        .is_some_and(|v| v.eq_ignore_ascii_case("all") || v.to_ascii_lowercase().contains("oof"))
        || email.header("x-autoreply").is_some()
        || email.header("x-autorespond").is_some()
    {
        return Some("out-of-office");
    }
    None
}

/// The comment a reply becomes: its own text ([`reply_text`]), at most [`COMMENT_MAX_CHARS`]
/// (longer is cut, and says so), with a note of the attachments that were not imported.
///
/// ```
/// use issue_tracker_domain::comment_from_reply;
/// assert_eq!(comment_from_reply("Works now.\n> old", 2).unwrap(), "Works now.\n\n(2 attachments not imported)");
/// assert!(comment_from_reply("> only the quote", 0).is_err());
/// ```
pub fn comment_from_reply(text: &str, attachments: usize) -> Result<String, ReplyRefusal> {
    let written = reply_text(text);
    if written.trim().is_empty() {
        return Err(ReplyRefusal::Empty);
    }
    let note = match attachments {
        0 => String::new(),
        1 => "\n\n(1 attachment not imported)".to_owned(),
        n => format!("\n\n({n} attachments not imported)"),
    };
    const CUT: &str = "\n\n(cut: the reply was longer than a comment may be)";
    let room = COMMENT_MAX_CHARS - note.chars().count();
    let body = if written.chars().count() > room {
        let keep = room - CUT.chars().count();
        format!("{}{CUT}", written.chars().take(keep).collect::<String>())
    } else {
        written
    };
    Ok(format!("{body}{note}"))
}

/// The key under which a message is handled once: its `Message-ID`, or without one the SHA-256 of
/// its body (the part after the headers, which relays do not change).
///
/// ```
/// use issue_tracker_domain::message_key;
/// assert_eq!(message_key(Some("abc@example.com"), b"x"), "message-id:abc@example.com");
/// assert!(message_key(None, b"x").starts_with("sha256:"));
/// ```
pub fn message_key(message_id: Option<&str>, body: &[u8]) -> String {
    match message_id.map(str::trim).filter(|id| !id.is_empty()) {
        Some(id) => format!("message-id:{}", id.trim_matches(['<', '>'])),
        None => format!("sha256:{}", hex::encode(Sha256::digest(body))),
    }
}

/// Whether `from` is `email` (addresses compare without regard to case).
pub fn same_address(from: &str, email: &str) -> bool {
    let from = from.trim().trim_matches(['<', '>']);
    !from.is_empty() && from.eq_ignore_ascii_case(email.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &str, value: &str) -> IncomingEmail {
        IncomingEmail {
            headers: vec![(name.into(), value.into())],
            ..IncomingEmail::default()
        }
    }

    #[test]
    fn automatic_mail_is_recognised() {
        assert_eq!(automatic_mail(&with("auto-submitted", "no")), None);
        assert_eq!(
            automatic_mail(&with("auto-submitted", "auto-generated")),
            Some("Auto-Submitted")
        );
        for precedence in ["bulk", "JUNK", "list"] {
            assert_eq!(
                automatic_mail(&with("precedence", precedence)),
                Some("Precedence")
            );
        }
        assert_eq!(automatic_mail(&with("precedence", "first-class")), None);
        assert_eq!(
            automatic_mail(&with("x-auto-response-suppress", "All")),
            Some("out-of-office")
        );
        let bounce = IncomingEmail {
            envelope_sender: Some("<>".into()),
            ..IncomingEmail::default()
        };
        assert_eq!(automatic_mail(&bounce), Some("null sender"));
        let report = IncomingEmail {
            delivery_report: true,
            ..IncomingEmail::default()
        };
        assert_eq!(
            automatic_mail(&report),
            Some("delivery status notification")
        );
        let person = IncomingEmail {
            envelope_sender: Some("ann@example.com".into()),
            ..IncomingEmail::default()
        };
        assert_eq!(automatic_mail(&person), None);
    }

    #[test]
    fn a_long_reply_is_cut_to_a_comment_and_says_so() {
        let long = "a".repeat(COMMENT_MAX_CHARS + 10);
        let comment = comment_from_reply(&long, 3).unwrap();
        assert_eq!(comment.chars().count(), COMMENT_MAX_CHARS);
        assert!(comment.ends_with(
            "(cut: the reply was longer than a comment may be)\n\n(3 attachments not imported)"
        ));
        let fits = "b".repeat(COMMENT_MAX_CHARS);
        assert_eq!(comment_from_reply(&fits, 0).unwrap(), fits);
    }

    #[test]
    fn refusals_have_codes_and_only_automatic_mail_is_silent() {
        assert!(ReplyRefusal::Automatic("x").is_silent());
        assert!(!ReplyRefusal::Empty.is_silent());
        assert_eq!(
            ReplyRefusal::Token(ReplyTokenRefused::Expired).code(),
            "token_expired"
        );
        assert!(same_address("<Ann@Example.com>", "ann@example.com"));
        assert!(!same_address("", "ann@example.com"));
    }
}
