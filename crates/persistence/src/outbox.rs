//! The outbox's writes: a notification row is written in the same transaction as the change
//! that causes it (an assignment), or once per user and period (reports), so that an email exists
//! exactly when its cause does.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use issue_tracker_domain::{NotificationKind, NotificationStatus};

use crate::schema::notifications;
use crate::{with_write_conn, Database, StoreError};

/// An assignment notification's row, as a type: [`insert_assignment`] is generic over the
/// connection, with this as its bound.
type AssignmentRow = (
    diesel::dsl::Eq<notifications::kind, &'static str>,
    diesel::dsl::Eq<notifications::recipient_id, i64>,
    diesel::dsl::Eq<notifications::issue_id, Option<i64>>,
    diesel::dsl::Eq<notifications::dedupe_key, String>,
    diesel::dsl::Eq<notifications::status, &'static str>,
    diesel::dsl::Eq<notifications::send_after, crate::clock::DatabaseNow>,
    diesel::dsl::Eq<notifications::attempts, i32>,
    diesel::dsl::Eq<notifications::created_at, NaiveDateTime>,
);
type InsertAssignment =
    diesel::dsl::Values<diesel::dsl::insert_into<notifications::table>, AssignmentRow>;

/// Inserts the pending assignment notification of an issue for its assignee, due after the
/// assignment delay by the database's clock, on either database.
pub(crate) fn insert_assignment<C>(
    conn: &mut C,
    issue: i64,
    recipient: i64,
    now: NaiveDateTime,
    delay: Duration,
) -> QueryResult<usize>
where
    C: Connection,
    InsertAssignment: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
{
    let key = assignment_key(issue, recipient, now.and_utc().timestamp_micros());
    diesel::insert_into(notifications::table)
        .values((
            notifications::kind.eq(NotificationKind::Assignment.as_str()),
            notifications::recipient_id.eq(recipient),
            notifications::issue_id.eq(Some(issue)),
            notifications::dedupe_key.eq(key),
            notifications::status.eq(NotificationStatus::Pending.as_str()),
            notifications::send_after.eq(crate::clock::later(delay)),
            notifications::attempts.eq(0),
            notifications::created_at.eq(now),
        ))
        .execute(conn)
}

/// An assignment's dedupe key: unique per write (`micros`, the write's time), so that only a
/// repeated write of the same row could collide.
pub(crate) fn assignment_key(issue: i64, recipient: i64, micros: i64) -> String {
    format!("assignment:{issue}:{recipient}:{micros}")
}

/// [`assignment_key`] in PostgreSQL's SQL, for the create statement that knows the issue's id
/// only inside itself: `id` and `assigned_to_id` are the new row's, and the micros are bound
/// right after this text. `tests/create_statement.rs` proves both write the same rows.
pub(crate) const ASSIGNMENT_KEY_SQL: &str =
    "'assignment:' || id || ':' || assigned_to_id || ':' || ";

/// The update that cancels an issue's pending notifications, as a type: [`cancel_pending_of_issue`]
/// is generic over the connection, with this as its bound.
type CancelPending<'a> = diesel::dsl::Update<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            diesel::dsl::Filter<
                notifications::table,
                diesel::dsl::Eq<notifications::issue_id, i64>,
            >,
            diesel::dsl::Eq<notifications::status, &'static str>,
        >,
        diesel::dsl::Eq<notifications::kind, &'static str>,
    >,
    (
        diesel::dsl::Eq<notifications::status, &'static str>,
        diesel::dsl::Eq<notifications::last_error, &'a str>,
    ),
>;

/// Cancels the pending assignment emails of an issue (it was reassigned or deleted), on either
/// database. Its watchers' emails stay: they tell of the reassignment or the deletion.
pub(crate) fn cancel_pending_of_issue<'a, C>(
    conn: &mut C,
    issue: i64,
    reason: &'a str,
) -> QueryResult<usize>
where
    C: Connection,
    CancelPending<'a>: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
{
    diesel::update(
        notifications::table
            .filter(notifications::issue_id.eq(issue))
            .filter(notifications::status.eq(NotificationStatus::Pending.as_str()))
            .filter(notifications::kind.eq(NotificationKind::Assignment.as_str())),
    )
    .set((
        notifications::status.eq(NotificationStatus::Cancelled.as_str()),
        notifications::last_error.eq(reason),
    ))
    .execute(conn)
}

/// One report statement for both databases: `{now}` is the database's clock, `{period}` the
/// bound period number.
const REPORTS_SQL: &str = "\
INSERT INTO notifications (kind, recipient_id, period, dedupe_key, status, send_after, attempts, created_at)
SELECT 'report', u.id, {period}, 'report:' || u.id || ':' || {period}, 'pending', {now}, 0, {now}
FROM users u
WHERE u.is_active AND EXISTS (SELECT 1 FROM issues i WHERE i.assigned_to_id = u.id)
ON CONFLICT (dedupe_key) DO NOTHING";

/// The daily digests of `{period}`, for both databases: one row per active user who chose the
/// digest and has unread entries not emailed yet, keyed `digest:{user}:{period}`; then those
/// entries are marked as the digest's. `{now}` is the database's clock.
const DIGESTS_SQL: &str = "\
INSERT INTO notifications (kind, recipient_id, period, dedupe_key, status, send_after, attempts, created_at)
SELECT 'digest', u.id, {period}, 'digest:' || u.id || ':' || {period}, 'pending', {now}, 0, {now}
FROM users u
WHERE u.is_active AND u.activity_delivery = 'daily' AND EXISTS (
    SELECT 1 FROM inbox i WHERE i.user_id = u.id AND i.email_id IS NULL AND i.digest_id IS NULL
      AND i.unread AND NOT i.done)
ON CONFLICT (dedupe_key) DO NOTHING";

const DIGEST_ENTRIES_SQL: &str = "\
UPDATE inbox SET digest_id = (
    SELECT n.id FROM notifications n WHERE n.dedupe_key = 'digest:' || inbox.user_id || ':' || {period})
WHERE email_id IS NULL AND digest_id IS NULL AND unread AND NOT done
  AND EXISTS (SELECT 1 FROM notifications n
      WHERE n.dedupe_key = 'digest:' || inbox.user_id || ':' || {period} AND n.status = 'pending')";

impl Database {
    /// Creates the daily digests of `period` (one per user who chose it and has unread entries
    /// not emailed yet) and gives them those entries, in one transaction; a second call for the
    /// same period adds nothing. How many digests were new.
    pub fn create_digests(&self, period: i64) -> Result<usize, StoreError> {
        let backend = self.backend();
        // The one parameter, used twice in each statement.
        let period_sql = backend.first_parameter();
        let insert = DIGESTS_SQL
            .replace("{period}", period_sql)
            .replace("{now}", crate::clock::now_text(backend));
        let mark = DIGEST_ENTRIES_SQL.replace("{period}", period_sql);
        Ok(with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let created = diesel::sql_query(&insert)
                    .bind::<BigInt, _>(period)
                    .execute(conn)?;
                diesel::sql_query(&mark)
                    .bind::<BigInt, _>(period)
                    .execute(conn)?;
                Ok::<_, diesel::result::Error>(created)
            })?
        }))
    }

    /// Creates the report of `period` for every active user with assigned issues, in one
    /// statement; the unique `report:{user}:{period}` key makes a second call (another beat, a
    /// restart) add nothing. Returns how many were created.
    pub fn create_reports(&self, period: i64) -> Result<usize, StoreError> {
        let backend = self.backend();
        let sql = REPORTS_SQL
            .replace("{period}", backend.first_parameter())
            .replace("{now}", crate::clock::now_text(backend));
        Ok(with_write_conn!(self, |conn| {
            diesel::sql_query(&sql)
                .bind::<BigInt, _>(period)
                .execute(conn)?
        }))
    }
}
