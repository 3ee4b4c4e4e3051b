//! The watchers' emails about an issue (`activity`): a change's inbox entries join their
//! recipients' open email about the issue, or open one due after the debounce, so that a burst
//! of changes makes one email per person. Set-based: a handful of statements per change, whatever
//! the number of watchers (one issue with 5,000 of them is `scripts/bench`'s storm).

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_dsl::LoadQuery;
use issue_tracker_domain::{NotificationKind, NotificationStatus};

use crate::clock::DatabaseNow;
use crate::schema::notifications;

/// How many recipients one statement names (SQLite binds at most 32,766 values).
pub(crate) const RECIPIENTS_PER_STATEMENT: usize = 1_000;

/// How many times a writer tries again after losing a race with another writer of the same
/// issue; past it the change is refused (the client sees an error and may retry).
const RACES: usize = 5;

/// The open activity emails about `issue` of `recipients`: pending, never tried.
#[diesel::dsl::auto_type]
pub(crate) fn open_activities(recipients: Vec<i64>, issue: i64) -> _ {
    let activity: &'static str = NotificationKind::Activity.as_str();
    let pending: &'static str = NotificationStatus::Pending.as_str();
    notifications::table
        .filter(notifications::kind.eq(activity))
        .filter(notifications::issue_id.eq(issue))
        .filter(notifications::recipient_id.eq_any(recipients))
        .filter(notifications::status.eq(pending))
        .filter(notifications::attempts.eq(0_i32))
}

/// Locks [`open_activities`] by a no-op update until the caller's transaction ends: a worker's
/// claim waits for it, so an entry that joins an email is committed before the email's content
/// is read.
#[diesel::dsl::auto_type]
pub(crate) fn lock_open_activities(recipients: Vec<i64>, issue: i64) -> _ {
    let target: open_activities = open_activities(recipients, issue);
    diesel::dsl::update(target).set(notifications::attempts.eq(notifications::attempts))
}

/// `(recipient, email)` of [`open_activities`].
#[diesel::dsl::auto_type]
pub(crate) fn open_activity_ids(recipients: Vec<i64>, issue: i64) -> _ {
    let target: open_activities = open_activities(recipients, issue);
    target.select((notifications::recipient_id, notifications::id))
}

/// A new activity email's row, due after the debounce by the database's clock.
type ActivityRow = (
    diesel::dsl::Eq<notifications::kind, &'static str>,
    diesel::dsl::Eq<notifications::recipient_id, i64>,
    diesel::dsl::Eq<notifications::issue_id, Option<i64>>,
    diesel::dsl::Eq<notifications::dedupe_key, String>,
    diesel::dsl::Eq<notifications::status, &'static str>,
    diesel::dsl::Eq<notifications::send_after, DatabaseNow>,
    diesel::dsl::Eq<notifications::attempts, i32>,
    diesel::dsl::Eq<notifications::created_at, NaiveDateTime>,
);

/// The insert of new activity emails, as a type: [`activity_emails`] is generic over the
/// connection, with this as its bound. Refused whole by the partial unique index
/// `notifications_open_activity_idx` when another transaction opened one of them meanwhile.
pub(crate) type InsertActivities =
    diesel::dsl::Values<diesel::dsl::insert_into<notifications::table>, Vec<ActivityRow>>;

/// An activity email's dedupe key: unique per recipient, issue and write.
pub(crate) fn activity_key(issue: i64, recipient: i64, micros: i64) -> String {
    format!("activity:{issue}:{recipient}:{micros}")
}

/// The activity email about `issue` that the new inbox entry of each of `recipients` joins: the
/// open one (a burst), or a new one due after `debounce`. Recipient → email id, every recipient
/// present.
pub(crate) fn activity_emails<C>(
    conn: &mut C,
    recipients: &[i64],
    issue: i64,
    now: NaiveDateTime,
    debounce: Duration,
) -> QueryResult<HashMap<i64, i64>>
where
    C: Connection,
    lock_open_activities: RunQueryDsl<C> + ExecuteDsl<C>,
    InsertActivities: RunQueryDsl<C> + ExecuteDsl<C>,
    for<'a> open_activity_ids: LoadQuery<'a, C, (i64, i64)>,
{
    let micros = now.and_utc().timestamp_micros();
    let mut emails = HashMap::with_capacity(recipients.len());
    for chunk in recipients.chunks(RECIPIENTS_PER_STATEMENT) {
        let mut without: Vec<i64> = chunk.to_vec();
        for _ in 0..RACES {
            join_open(conn, &mut without, issue, &mut emails)?;
            if without.is_empty() {
                break;
            }
            let rows: Vec<ActivityRow> = without
                .iter()
                .map(|&recipient| {
                    (
                        notifications::kind.eq(NotificationKind::Activity.as_str()),
                        notifications::recipient_id.eq(recipient),
                        notifications::issue_id.eq(Some(issue)),
                        notifications::dedupe_key.eq(activity_key(issue, recipient, micros)),
                        notifications::status.eq(NotificationStatus::Pending.as_str()),
                        notifications::send_after.eq(crate::clock::later(debounce)),
                        notifications::attempts.eq(0),
                        notifications::created_at.eq(now),
                    )
                })
                .collect();
            // In a savepoint: on PostgreSQL a refused insert would otherwise spoil the
            // transaction. Refused means a concurrent writer opened one of them: the next round
            // joins that one and opens the rest.
            let inserted = conn.transaction(|conn| {
                diesel::insert_into(notifications::table)
                    .values(rows)
                    .execute(conn)
            });
            match inserted {
                Ok(_) => join_open(conn, &mut without, issue, &mut emails)?,
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => continue,
                Err(other) => return Err(other),
            }
            if without.is_empty() {
                break;
            }
        }
        if !without.is_empty() {
            return Err(diesel::result::Error::RollbackTransaction);
        }
    }
    Ok(emails)
}

/// Joins the open emails of the recipients in `without`: locks them, records them in `emails`
/// and takes their recipients out of `without`.
///
/// Locked first, read second: an email read but not locked could be claimed by a worker before
/// the caller's entries commit. A concurrent writer may open an email between the two
/// statements; then more rows are read than were locked, and locking again takes the new ones too
/// (those locked stay locked until the caller's transaction ends).
fn join_open<C>(
    conn: &mut C,
    without: &mut Vec<i64>,
    issue: i64,
    emails: &mut HashMap<i64, i64>,
) -> QueryResult<()>
where
    C: Connection,
    lock_open_activities: RunQueryDsl<C> + ExecuteDsl<C>,
    for<'a> open_activity_ids: LoadQuery<'a, C, (i64, i64)>,
{
    if without.is_empty() {
        return Ok(());
    }
    for _ in 0..RACES {
        let locked = lock_open_activities(without.clone(), issue).execute(conn)?;
        let open: Vec<(i64, i64)> = open_activity_ids(without.clone(), issue).load(conn)?;
        if open.len() <= locked {
            for (recipient, email) in open {
                emails.insert(recipient, email);
            }
            without.retain(|recipient| !emails.contains_key(recipient));
            return Ok(());
        }
    }
    Err(diesel::result::Error::RollbackTransaction)
}
