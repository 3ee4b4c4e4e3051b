//! Messages received at reply addresses (`incoming_emails`): each is recorded once per message
//! and reply address with its outcome, a comment (written in the comment's transaction, so that
//! the record and the comment exist together or not at all) or a refusal and its reason.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use issue_tracker_domain::{Comment, CommentId, IssueId, Origin, ReplyRefusal, User, UserId};

use crate::rows::{now_micros, utc};
use crate::schema::incoming_emails;
use crate::{with_conn, with_write_conn, Database, StoreError};

/// How a message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `issue-tracker receive-email`, run by the mail server's pipe transport.
    Pipe,
    /// The worker's LMTP listener.
    Lmtp,
}

impl Transport {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Pipe => "pipe",
            Transport::Lmtp => "lmtp",
        }
    }
}

/// A message received at a reply address, as it is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Receipt<'a> {
    /// `message-id:...` or `sha256:...` (the domain's `message_key`).
    pub message_key: &'a str,
    /// The reply address it was delivered to (stored lower-cased).
    pub recipient: &'a str,
    /// How it arrived.
    pub transport: Transport,
    /// The `From` address (or the envelope sender).
    pub sender: &'a str,
    /// Its subject.
    pub subject: &'a str,
}

/// A recorded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRecord {
    /// Row id.
    pub id: i64,
    /// The message's key.
    pub message_key: String,
    /// The reply address.
    pub recipient: String,
    /// When it was first received.
    pub received_at: DateTime<Utc>,
    /// `pipe` or `lmtp`.
    pub transport: String,
    /// Its sender.
    pub sender: String,
    /// Its subject.
    pub subject: String,
    /// The token's user, when it could be read.
    pub user: Option<UserId>,
    /// The token's issue, when it could be read.
    pub issue: Option<i64>,
    /// The comment it became.
    pub comment: Option<CommentId>,
    /// Why it was refused: the refusal's code and its sentence.
    pub refused: Option<(String, String)>,
}

/// What [`Database::comment_by_email`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailComment {
    /// The comment it became.
    Made(Comment),
    /// The issue is gone.
    IssueGone,
    /// This message was handled before (another delivery of it): what was recorded then.
    AlreadyHandled(IncomingRecord),
}

type RecordRow = (
    i64,
    String,
    String,
    NaiveDateTime,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

#[diesel::dsl::auto_type]
fn record_columns() -> _ {
    (
        incoming_emails::id,
        incoming_emails::message_key,
        incoming_emails::recipient,
        incoming_emails::received_at,
        incoming_emails::transport,
        incoming_emails::sender,
        incoming_emails::subject,
        incoming_emails::user_id,
        incoming_emails::issue_id,
        incoming_emails::reason,
        incoming_emails::detail,
        incoming_emails::comment_id,
    )
}

fn record_of(row: RecordRow) -> IncomingRecord {
    let (id, key, recipient, at, transport, sender, subject, user, issue, reason, detail, comment) =
        row;
    IncomingRecord {
        id,
        message_key: key,
        recipient,
        received_at: utc(at),
        transport,
        sender,
        subject,
        user: user.map(UserId::new),
        issue,
        comment: comment.map(CommentId::from_stored),
        refused: reason.map(|reason| (reason, detail.unwrap_or_default())),
    }
}

/// The record of a message's comment, in the comment's transaction.
pub(crate) fn record_comment<C>(
    conn: &mut C,
    receipt: &Receipt<'_>,
    user: UserId,
    issue: IssueId,
    comment: i64,
    now: NaiveDateTime,
) -> QueryResult<usize>
where
    C: Connection,
    diesel::dsl::Values<diesel::dsl::insert_into<incoming_emails::table>, NewRecord>:
        RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
{
    diesel::insert_into(incoming_emails::table)
        .values(new_record(
            receipt,
            Some(user.get()),
            Some(issue.get()),
            None,
            Some(comment),
            now,
        ))
        .execute(conn)
}

pub(crate) type NewRecord = (
    diesel::dsl::Eq<incoming_emails::message_key, String>,
    diesel::dsl::Eq<incoming_emails::recipient, String>,
    diesel::dsl::Eq<incoming_emails::received_at, NaiveDateTime>,
    diesel::dsl::Eq<incoming_emails::transport, &'static str>,
    diesel::dsl::Eq<incoming_emails::sender, String>,
    diesel::dsl::Eq<incoming_emails::subject, String>,
    diesel::dsl::Eq<incoming_emails::user_id, Option<i64>>,
    diesel::dsl::Eq<incoming_emails::issue_id, Option<i64>>,
    diesel::dsl::Eq<incoming_emails::outcome, &'static str>,
    diesel::dsl::Eq<incoming_emails::reason, Option<&'static str>>,
    diesel::dsl::Eq<incoming_emails::detail, Option<String>>,
    diesel::dsl::Eq<incoming_emails::comment_id, Option<i64>>,
);

fn new_record(
    receipt: &Receipt<'_>,
    user: Option<i64>,
    issue: Option<i64>,
    refusal: Option<&ReplyRefusal>,
    comment: Option<i64>,
    now: NaiveDateTime,
) -> NewRecord {
    let outcome = if refusal.is_some() {
        "refused"
    } else {
        "comment"
    };
    (
        incoming_emails::message_key.eq(receipt.message_key.to_owned()),
        incoming_emails::recipient.eq(receipt.recipient.to_ascii_lowercase()),
        incoming_emails::received_at.eq(now),
        incoming_emails::transport.eq(receipt.transport.as_str()),
        incoming_emails::sender.eq(receipt.sender.to_owned()),
        incoming_emails::subject.eq(receipt.subject.to_owned()),
        incoming_emails::user_id.eq(user),
        incoming_emails::issue_id.eq(issue),
        incoming_emails::outcome.eq(outcome),
        incoming_emails::reason.eq(refusal.map(ReplyRefusal::code)),
        incoming_emails::detail.eq(refusal.map(ToString::to_string)),
        incoming_emails::comment_id.eq(comment),
    )
}

impl Database {
    /// What was recorded for `message_key` at `recipient`, if it was received before.
    pub fn incoming_record(
        &self,
        message_key: &str,
        recipient: &str,
    ) -> Result<Option<IncomingRecord>, StoreError> {
        let recipient = recipient.to_ascii_lowercase();
        with_conn!(self, |conn| Ok(incoming_emails::table
            .filter(incoming_emails::message_key.eq(message_key))
            .filter(incoming_emails::recipient.eq(&recipient))
            .select(record_columns())
            .get_result::<RecordRow>(conn)
            .optional()?
            .map(record_of)))
    }

    /// Records a refused message, once: a second delivery of it changes nothing. Whether this
    /// record is the first.
    pub fn refuse_incoming(
        &self,
        receipt: &Receipt<'_>,
        user: Option<UserId>,
        issue: Option<IssueId>,
        refusal: &ReplyRefusal,
    ) -> Result<bool, StoreError> {
        let row = new_record(
            receipt,
            user.map(UserId::get),
            issue.map(IssueId::get),
            Some(refusal),
            None,
            now_micros(),
        );
        let written = with_write_conn!(self, |conn| {
            diesel::insert_into(incoming_emails::table)
                .values(row)
                .on_conflict((incoming_emails::message_key, incoming_emails::recipient))
                .do_nothing()
                .execute(conn)?
        });
        Ok(written == 1)
    }

    /// Makes a reply into a comment by `author` on `issue`, with its record, in one transaction
    /// (and everything a comment does: history, inbox, emails). A message received before (the
    /// same key at the same reply address) makes nothing new, even when its two deliveries race.
    pub fn comment_by_email(
        &self,
        receipt: &Receipt<'_>,
        issue: IssueId,
        author: &User,
        body: &str,
        origin: &Origin,
        debounce: std::time::Duration,
    ) -> Result<EmailComment, StoreError> {
        if let Some(known) = self.incoming_record(receipt.message_key, receipt.recipient)? {
            return Ok(EmailComment::AlreadyHandled(known));
        }
        match self.write_comment(issue, author, body, origin, debounce, Some(receipt)) {
            Ok(Some(comment)) => Ok(EmailComment::Made(comment)),
            Ok(None) => Ok(EmailComment::IssueGone),
            // Another delivery of the same message committed first.
            Err(StoreError::Conflict) => {
                match self.incoming_record(receipt.message_key, receipt.recipient)? {
                    Some(known) => Ok(EmailComment::AlreadyHandled(known)),
                    None => Err(StoreError::Conflict),
                }
            }
            Err(other) => Err(other),
        }
    }

    /// A page of the messages received, newest first.
    pub fn list_incoming(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<IncomingRecord>, StoreError> {
        with_conn!(self, |conn| Ok(incoming_emails::table
            .order(incoming_emails::id.desc())
            .offset(offset)
            .limit(limit)
            .select(record_columns())
            .load::<RecordRow>(conn)?
            .into_iter()
            .map(record_of)
            .collect()))
    }

    /// How many messages were received.
    pub fn count_incoming(&self) -> Result<i64, StoreError> {
        with_conn!(self, |conn| Ok(incoming_emails::table
            .count()
            .get_result::<i64>(conn)?))
    }
}
