//! Replies by email (docs/operations.md, "Replies by email"): a message that arrives at a reply
//! address (`INCOMING_EMAIL_ADDRESS`) becomes a comment by the address's user on its issue, once,
//! or is refused with a reason; both are recorded (`incoming_emails`).
//!
//! - [`read_message`] reads the message (MIME, HTML to text) into the domain's `IncomingEmail`.
//! - [`Replies::receive`] applies the domain's rules, in order: a message handled before is
//!   not handled again; too big; automatic mail; the reply token (signature, expiry, revocation
//!   by a new password); an active user; the sender; a non-empty reply. Then the comment and the
//!   message's record are written in one transaction.
//! - [`lmtp`] is the worker's LMTP listener; `issue-tracker receive-email` is the pipe way in.
//!
//! Database calls block: async callers run them on the blocking pool.

pub mod lmtp;
mod message;

use std::time::Duration;

use issue_tracker_config::Settings;
use issue_tracker_domain::{
    automatic_mail, comment_from_reply, message_key, same_address, token_in_address, Actor,
    CommentId, Origin, ReplyRefusal, ReplyToken, Via,
};
use issue_tracker_persistence::{Database, EmailComment, Receipt, StoreError, Transport};

pub use message::{body_of, read_message, ReadMessage};

/// What became of a message at one reply address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It became this comment.
    Comment(CommentId),
    /// It was received before (another delivery of the same message): nothing new.
    AlreadyHandled,
    /// It was refused, and why.
    Refused(ReplyRefusal),
}

impl Outcome {
    /// Whether the mail server should take it as delivered: a comment, a repeat, or automatic
    /// mail dropped on purpose. Anything else bounces, so that its sender learns why.
    pub fn accepted(&self) -> bool {
        match self {
            Outcome::Comment(_) | Outcome::AlreadyHandled => true,
            Outcome::Refused(refusal) => refusal.is_silent(),
        }
    }
}

/// The rules and where to write: made from the settings when replies are on.
#[derive(Clone)]
pub struct Replies {
    db: Database,
    pattern: String,
    secret: Vec<u8>,
    max_bytes: usize,
    check_sender: bool,
    debounce: Duration,
}

impl Replies {
    /// Replies as the settings describe them; `None` when `INCOMING_EMAIL_ADDRESS` is empty.
    pub fn from_settings(db: Database, settings: &Settings) -> Option<Replies> {
        Some(Replies {
            db,
            pattern: settings.incoming.address.clone()?,
            secret: settings.general.secret_key.expose().as_bytes().to_vec(),
            max_bytes: settings.incoming.max_bytes,
            check_sender: settings.incoming.check_sender,
            debounce: settings.pipeline.notify_debounce,
        })
    }

    /// Whether `address` is a reply address of this service (its token may still be refused).
    pub fn is_reply_address(&self, address: &str) -> bool {
        token_in_address(&self.pattern, address).is_some()
    }

    /// Handles a message delivered to `recipients` (when the transport does not say, the reply
    /// addresses among its headers' recipients): one outcome per reply address. An error means
    /// the database could not be reached: nothing was decided, try again later.
    pub fn receive(
        &self,
        raw: &[u8],
        envelope_sender: Option<&str>,
        recipients: &[String],
        transport: Transport,
    ) -> Result<Vec<(String, Outcome)>, StoreError> {
        let read = if raw.len() > self.max_bytes {
            ReadMessage::default()
        } else {
            read_message(raw, envelope_sender)
        };
        let key = message_key(read.email.message_id.as_deref(), body_of(raw));
        let recipients: Vec<String> = if recipients.is_empty() {
            // The first reply address the headers name (a pipe run handles one).
            read.addressed_to
                .iter()
                .find(|a| self.is_reply_address(a))
                .map(|a| vec![a.to_ascii_lowercase()])
                .unwrap_or_default()
        } else {
            recipients.to_vec()
        };
        if recipients.is_empty() {
            let receipt = self.receipt(&key, "", transport, &read, envelope_sender);
            let refusal = ReplyRefusal::NoReplyAddress;
            self.db.refuse_incoming(&receipt, None, None, &refusal)?;
            return Ok(vec![(String::new(), Outcome::Refused(refusal))]);
        }
        let mut outcomes = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            let receipt = self.receipt(&key, &recipient, transport, &read, envelope_sender);
            let outcome = self.receive_at(raw.len(), &read, &receipt)?;
            match &outcome {
                Outcome::Comment(id) => {
                    tracing::info!(comment = id.get(), %recipient, key = %key, "a reply became a comment");
                }
                Outcome::AlreadyHandled => {
                    tracing::info!(%recipient, key = %key, "a message received before; nothing new");
                }
                Outcome::Refused(refusal) => {
                    tracing::warn!(%recipient, key = %key, reason = refusal.code(), %refusal, "a reply was refused");
                }
            }
            outcomes.push((recipient, outcome));
        }
        Ok(outcomes)
    }

    fn receipt<'a>(
        &self,
        key: &'a str,
        recipient: &'a str,
        transport: Transport,
        read: &'a ReadMessage,
        envelope_sender: Option<&'a str>,
    ) -> Receipt<'a> {
        Receipt {
            message_key: key,
            recipient,
            transport,
            sender: read
                .email
                .from
                .as_deref()
                .or(envelope_sender)
                .unwrap_or_default(),
            subject: &read.subject,
        }
    }

    fn receive_at(
        &self,
        size: usize,
        read: &ReadMessage,
        receipt: &Receipt<'_>,
    ) -> Result<Outcome, StoreError> {
        if self
            .db
            .incoming_record(receipt.message_key, receipt.recipient)?
            .is_some()
        {
            return Ok(Outcome::AlreadyHandled);
        }
        let token = token_in_address(&self.pattern, receipt.recipient)
            .map(|token| ReplyToken::parse(&token));
        let (user, issue) = match &token {
            Some(Ok(token)) => (Some(token.user), Some(token.issue)),
            _ => (None, None),
        };
        let refuse = |refusal: ReplyRefusal| -> Result<Outcome, StoreError> {
            self.db.refuse_incoming(receipt, user, issue, &refusal)?;
            Ok(Outcome::Refused(refusal))
        };
        if size > self.max_bytes {
            return refuse(ReplyRefusal::TooBig {
                max: self.max_bytes,
            });
        }
        if let Some(why) = automatic_mail(&read.email) {
            return refuse(ReplyRefusal::Automatic(why));
        }
        let token = match token {
            None => return refuse(ReplyRefusal::NoReplyAddress),
            Some(Err(refused)) => return refuse(refused.into()),
            Some(Ok(token)) => token,
        };
        let Some(credentials) = self.db.credentials_by_id(token.user)? else {
            return refuse(ReplyRefusal::InactiveUser);
        };
        if !credentials.user.is_active {
            return refuse(ReplyRefusal::InactiveUser);
        }
        let now = chrono::Utc::now().timestamp();
        if let Err(refused) = token.verify(&self.secret, &credentials.password_hash, now) {
            return refuse(refused.into());
        }
        let author = credentials.user;
        if self.check_sender
            && !read
                .email
                .from
                .as_deref()
                .is_some_and(|from| same_address(from, &author.email))
        {
            return refuse(ReplyRefusal::WrongSender);
        }
        let body = match comment_from_reply(
            read.email.text.as_deref().unwrap_or_default(),
            read.email.attachments,
        ) {
            Ok(body) => body,
            Err(refusal) => return refuse(refusal),
        };
        let origin = Origin {
            actor: Some(Actor {
                id: author.id,
                username: author.username.clone(),
            }),
            via: Via::Email,
            request_id: None,
        };
        match self.db.comment_by_email(
            receipt,
            token.issue,
            &author,
            &body,
            &origin,
            self.debounce,
        )? {
            EmailComment::Made(comment) => Ok(Outcome::Comment(comment.id)),
            EmailComment::AlreadyHandled(_) => Ok(Outcome::AlreadyHandled),
            EmailComment::IssueGone => refuse(ReplyRefusal::IssueGone),
        }
    }
}
