//! Each user's notification inbox (`inbox`). Entries are written in the transaction of the change
//! that caused them ([`write_entries`]: whom to tell, why and what is the domain's
//! `inbox_entries`); reading, marking read and marking done are the user's own.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use issue_tracker_domain::{
    inbox_entries, parse_watch_reason, ChangeContext, InboxEntry, InboxId, InboxNotification,
    InboxType, IssueEvent, IssueId, Origin, User, UserId, WatchReason, Watcher,
};

use std::collections::HashSet;
use std::time::Duration;

use crate::activity_emails::{
    activity_emails, lock_open_activities, open_activity_ids, InsertActivities,
    RECIPIENTS_PER_STATEMENT,
};
use crate::events::{Feed, FeedHorizon};
use crate::rows::{now_micros, utc};
use crate::schema::inbox;
use crate::subscriptions::{active_named, active_people};
use crate::{with_conn, with_write_conn, Database, StoreError};

#[derive(Insertable)]
#[diesel(table_name = inbox)]
pub(crate) struct InboxRow {
    user_id: i64,
    issue_id: i64,
    reason: &'static str,
    kind: &'static str,
    actor_username: Option<String>,
    summary: String,
    unread: bool,
    done: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    email_id: Option<i64>,
    comment_id: Option<i64>,
}

/// The insert of a batch of entries, as a type: [`write_entries`] is generic over the
/// connection, with this as its bound.
pub(crate) type InsertEntries =
    diesel::dsl::Values<diesel::dsl::insert_into<inbox::table>, Vec<InboxRow>>;

/// How many entries one statement inserts (SQLite binds at most 32,766 values).
const ENTRIES_PER_INSERT: usize = 500;

/// Tells the people `event` concerns, in the caller's transaction: the domain says who and
/// why ([`inbox_entries`]) from the issue's `title` and `watchers`, read by the caller in the
/// same transaction (before the change for a deletion, after it otherwise).
///
/// Each entry joins its recipient's email about the issue (`activity_emails`): the open one, or
/// a new one due after `debounce`, so that a burst makes one email.
#[allow(clippy::too_many_arguments)]
pub(crate) fn tell<C>(
    conn: &mut C,
    issue: IssueId,
    title: &str,
    watchers: &[Watcher],
    event: &IssueEvent,
    origin: &Origin,
    now: NaiveDateTime,
    debounce: Duration,
) -> QueryResult<usize>
where
    C: Connection,
    InsertEntries: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
    lock_open_activities: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
    InsertActivities: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
    for<'a> open_activity_ids: diesel::query_dsl::LoadQuery<'a, C, (i64, i64)>,
    for<'a> daily_readers: diesel::query_dsl::LoadQuery<'a, C, i64>,
{
    let context = ChangeContext {
        actor: origin.actor.as_ref().map(|a| (a.id, a.username.as_str())),
        issue,
        title,
    };
    let entries = inbox_entries(event, &context, watchers);
    if entries.is_empty() {
        return Ok(0);
    }
    // Who gathers their entries in a daily digest: no email per burst for them.
    let recipients: Vec<i64> = entries.iter().map(|e| e.recipient.get()).collect();
    let mut daily = HashSet::new();
    for chunk in recipients.chunks(RECIPIENTS_PER_STATEMENT) {
        daily.extend(daily_readers(chunk.to_vec()).load::<i64>(conn)?);
    }
    let instant: Vec<i64> = recipients
        .iter()
        .copied()
        .filter(|recipient| !daily.contains(recipient))
        .collect();
    let joined = activity_emails(conn, &instant, issue.get(), now, debounce)?;
    let emails: Vec<Option<i64>> = recipients
        .iter()
        .map(|recipient| joined.get(recipient).copied())
        .collect();
    write_entries(conn, issue.get(), origin, &entries, &emails, now)
}

/// Of `users`, those who chose the daily digest.
#[diesel::dsl::auto_type]
pub(crate) fn daily_readers(users: Vec<i64>) -> _ {
    let daily: &'static str = issue_tracker_domain::Delivery::Daily.as_str();
    crate::schema::users::table
        .filter(crate::schema::users::id.eq_any(users))
        .filter(crate::schema::users::activity_delivery.eq(daily))
        .select(crate::schema::users::id)
}

/// Tells the active users among `names` that they were newly mentioned (in the description of
/// `issue`, or in `comment`), in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) fn tell_mentioned<C>(
    conn: &mut C,
    issue: IssueId,
    title: &str,
    names: Vec<String>,
    comment: Option<issue_tracker_domain::CommentId>,
    origin: &Origin,
    now: NaiveDateTime,
    debounce: Duration,
) -> QueryResult<usize>
where
    C: Connection,
    InsertEntries: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
    lock_open_activities: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
    InsertActivities: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
    for<'a> open_activity_ids: diesel::query_dsl::LoadQuery<'a, C, (i64, i64)>,
    for<'a> active_people: diesel::query_dsl::LoadQuery<'a, C, (i64, String)>,
    for<'a> daily_readers: diesel::query_dsl::LoadQuery<'a, C, i64>,
{
    let mentioned: Vec<UserId> = active_named(conn, names)?
        .into_iter()
        .map(|(id, _)| UserId::new(id))
        .collect();
    if mentioned.is_empty() {
        return Ok(0);
    }
    let event = IssueEvent::Mentioned { mentioned, comment };
    tell(conn, issue, title, &[], &event, origin, now, debounce)
}

/// Writes `entries` about `issue`, in the caller's transaction.
fn write_entries<C>(
    conn: &mut C,
    issue: i64,
    origin: &Origin,
    entries: &[InboxEntry],
    emails: &[Option<i64>],
    now: NaiveDateTime,
) -> QueryResult<usize>
where
    C: Connection,
    InsertEntries: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
{
    let actor = origin.actor.as_ref().map(|a| a.username.clone());
    let mut written = 0;
    for (chunk, emails) in entries
        .chunks(ENTRIES_PER_INSERT)
        .zip(emails.chunks(ENTRIES_PER_INSERT))
    {
        let rows: Vec<InboxRow> = chunk
            .iter()
            .zip(emails)
            .map(|(entry, email)| InboxRow {
                user_id: entry.recipient.get(),
                issue_id: issue,
                reason: entry.reason.as_str(),
                kind: entry.kind.as_str(),
                actor_username: actor.clone(),
                summary: entry.summary.clone(),
                unread: true,
                done: false,
                created_at: now,
                updated_at: now,
                email_id: *email,
                comment_id: entry.comment.map(|c| c.get()),
            })
            .collect();
        written += diesel::insert_into(inbox::table)
            .values(rows)
            .execute(conn)?;
    }
    Ok(written)
}

type EntryRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
    bool,
    NaiveDateTime,
);

/// The columns an [`EntryRow`] is read from.
#[diesel::dsl::auto_type]
fn entry_columns() -> _ {
    (
        inbox::id,
        inbox::issue_id,
        inbox::reason,
        inbox::kind,
        inbox::actor_username,
        inbox::summary,
        inbox::unread,
        inbox::updated_at,
    )
}

fn entry_of(
    (id, issue, reason, kind, actor, summary, unread, updated_at): EntryRow,
) -> InboxNotification {
    InboxNotification {
        id: InboxId::from_stored(id),
        issue: IssueId::from_stored(issue),
        // Only the domain's words are ever written; an unknown one would be a bug, shown as the
        // plainest reason rather than failing the whole inbox.
        reason: parse_watch_reason(&reason).unwrap_or(WatchReason::Manual),
        kind: InboxType::parse(&kind).unwrap_or(InboxType::Comment),
        actor,
        summary,
        unread,
        updated_at: utc(updated_at),
    }
}

/// Which entries of an inbox a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxFilter {
    /// Read ones too (`?all=true`).
    pub all: bool,
    /// Only those about this issue.
    pub issue: Option<IssueId>,
}

/// How far an inbox has changed: the newest `updated_at` of its entries (done ones included),
/// and how many entries it ever had. Any write to it moves one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxVersion {
    /// The last change (`None`: never had an entry).
    pub changed_at: Option<DateTime<Utc>>,
    /// The largest entry id (`0`: none).
    pub last_id: i64,
}

impl Database {
    /// A page of `user`'s inbox, newest first, and how many entries the filter matches.
    pub fn inbox(
        &self,
        user: &User,
        filter: InboxFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<InboxNotification>, i64), StoreError> {
        let user_id = user.id.get();
        with_conn!(self, |conn| {
            let matching = || {
                let mut query = inbox::table
                    .filter(inbox::user_id.eq(user_id))
                    .filter(inbox::done.eq(false))
                    .into_boxed();
                if !filter.all {
                    query = query.filter(inbox::unread.eq(true));
                }
                if let Some(issue) = filter.issue {
                    query = query.filter(inbox::issue_id.eq(issue.get()));
                }
                query
            };
            let total: i64 = matching().count().get_result(conn)?;
            let rows: Vec<EntryRow> = matching()
                .order(inbox::id.desc())
                .offset(offset)
                .limit(limit)
                .select(entry_columns())
                .load(conn)?;
            Ok((rows.into_iter().map(entry_of).collect(), total))
        })
    }

    /// `user`'s entries after id `after`, oldest first, at most `limit`, never skipping one that
    /// commits later with a smaller id (the feed's horizon, as the history's): what the live
    /// stream sends. Done and read entries too: the stream tells what arrived.
    pub fn inbox_after(
        &self,
        user: &User,
        after: i64,
        limit: i64,
    ) -> Result<Vec<InboxNotification>, StoreError> {
        let user_id = user.id.get();
        with_conn!(self, |conn| {
            let Some(through) = conn.settled_through(Feed::Inbox)? else {
                return Ok(Vec::new());
            };
            let rows: Vec<EntryRow> = inbox::table
                .filter(inbox::user_id.eq(user_id))
                .filter(inbox::id.gt(after))
                .filter(inbox::id.le(through))
                .order(inbox::id.asc())
                .limit(limit)
                .select(entry_columns())
                .load(conn)?;
            Ok(rows.into_iter().map(entry_of).collect())
        })
    }

    /// How far `user`'s inbox has changed (for `ETag` and `Last-Modified`): one indexed read.
    pub fn inbox_version(&self, user: &User) -> Result<InboxVersion, StoreError> {
        let user_id = user.id.get();
        with_conn!(self, |conn| {
            let (changed_at, last_id): (Option<NaiveDateTime>, Option<i64>) = inbox::table
                .filter(inbox::user_id.eq(user_id))
                .select((
                    diesel::dsl::max(inbox::updated_at),
                    diesel::dsl::max(inbox::id),
                ))
                .get_result(conn)?;
            Ok(InboxVersion {
                changed_at: changed_at.map(utc),
                last_id: last_id.unwrap_or(0),
            })
        })
    }

    /// Marks one of `user`'s entries read (`unread: false`) or unread again; the entry after, or
    /// `None` when they have no such entry (or it is done).
    pub fn mark_inbox_entry(
        &self,
        user: &User,
        id: InboxId,
        unread: bool,
    ) -> Result<Option<InboxNotification>, StoreError> {
        let (user_id, now) = (user.id.get(), now_micros());
        with_write_conn!(self, |conn| {
            let mine = inbox::table
                .filter(inbox::id.eq(id.get()))
                .filter(inbox::user_id.eq(user_id))
                .filter(inbox::done.eq(false));
            // Unchanged entries keep their `updated_at`, so that a repeated mark does not move
            // the inbox's version.
            diesel::update(mine.filter(inbox::unread.ne(unread)))
                .set((inbox::unread.eq(unread), inbox::updated_at.eq(now)))
                .execute(conn)?;
            Ok(mine
                .select(entry_columns())
                .get_result::<EntryRow>(conn)
                .optional()?
                .map(entry_of))
        })
    }

    /// Marks `user`'s unread entries read: all of them, or those that arrived at or before
    /// `up_to`. How many changed.
    pub fn mark_inbox_read(
        &self,
        user: &User,
        up_to: Option<DateTime<Utc>>,
    ) -> Result<usize, StoreError> {
        let (user_id, now) = (user.id.get(), now_micros());
        let up_to = up_to.map(|at| at.naive_utc());
        // Without a bound, up to the last time both databases store and compare alike (SQLite
        // compares text, and years past 9999 sort before the others there).
        let last = chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
            .and_then(|day| day.and_hms_opt(23, 59, 59))
            .unwrap_or_default();
        let up_to = up_to.map_or(last, |at| at.min(last));
        with_write_conn!(self, |conn| {
            Ok(diesel::update(
                inbox::table
                    .filter(inbox::user_id.eq(user_id))
                    .filter(inbox::unread.eq(true))
                    .filter(inbox::done.eq(false))
                    .filter(inbox::created_at.le(up_to)),
            )
            .set((inbox::unread.eq(false), inbox::updated_at.eq(now)))
            .execute(conn)?)
        })
    }

    /// Marks one of `user`'s entries done: gone from their inbox. Whether they had it.
    pub fn mark_inbox_done(&self, user: &User, id: InboxId) -> Result<bool, StoreError> {
        let (user_id, now) = (user.id.get(), now_micros());
        with_write_conn!(self, |conn| {
            let changed = diesel::update(
                inbox::table
                    .filter(inbox::id.eq(id.get()))
                    .filter(inbox::user_id.eq(user_id))
                    .filter(inbox::done.eq(false)),
            )
            .set((
                inbox::done.eq(true),
                inbox::unread.eq(false),
                inbox::updated_at.eq(now),
            ))
            .execute(conn)?;
            Ok(changed > 0)
        })
    }
}
