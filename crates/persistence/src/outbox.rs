//! The outbox's writes: a notification row is written in the same transaction as the change
//! that causes it (an assignment), or once per user and period (reports), so that an email exists
//! exactly when its cause does.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::{with_write_conn, Database, StoreError};

/// Inserts the pending assignment notification of an issue for its assignee, due after the
/// assignment delay by the database's clock. A macro so that it compiles for each backend inside
/// `with_conn!`.
macro_rules! insert_assignment {
    ($conn:expr, $issue:expr, $recipient:expr, $now:expr, $delay:expr) => {{
        let (issue, recipient, now): (i64, i64, chrono::NaiveDateTime) = ($issue, $recipient, $now);
        let key = format!(
            "assignment:{issue}:{recipient}:{}",
            now.and_utc().timestamp_micros()
        );
        diesel::insert_into($crate::schema::notifications::table)
            .values((
                $crate::schema::notifications::kind
                    .eq(issue_tracker_domain::NotificationKind::Assignment.as_str()),
                $crate::schema::notifications::recipient_id.eq(recipient),
                $crate::schema::notifications::issue_id.eq(Some(issue)),
                $crate::schema::notifications::dedupe_key.eq(&key),
                $crate::schema::notifications::status
                    .eq(issue_tracker_domain::NotificationStatus::Pending.as_str()),
                $crate::schema::notifications::send_after.eq($crate::clock::later($delay)),
                $crate::schema::notifications::attempts.eq(0),
                $crate::schema::notifications::created_at.eq(now),
            ))
            .execute($conn)
    }};
}
pub(crate) use insert_assignment;

/// Cancels the pending notifications of an issue (it was reassigned or deleted).
macro_rules! cancel_pending_of_issue {
    ($conn:expr, $issue:expr, $reason:expr) => {{
        let issue: i64 = $issue;
        let reason: &str = $reason;
        diesel::update(
            $crate::schema::notifications::table
                .filter($crate::schema::notifications::issue_id.eq(issue))
                .filter(
                    $crate::schema::notifications::status
                        .eq(issue_tracker_domain::NotificationStatus::Pending.as_str()),
                ),
        )
        .set((
            $crate::schema::notifications::status
                .eq(issue_tracker_domain::NotificationStatus::Cancelled.as_str()),
            $crate::schema::notifications::last_error.eq(reason),
        ))
        .execute($conn)
    }};
}
pub(crate) use cancel_pending_of_issue;

#[derive(QueryableByName)]
pub(crate) struct IdRow {
    #[diesel(sql_type = BigInt)]
    pub(crate) id: i64,
}

/// One report statement for both databases: `{now}` is the database's clock, `{period}` the
/// bound period number.
const REPORTS_SQL: &str = "\
INSERT INTO notifications (kind, recipient_id, period, dedupe_key, status, send_after, attempts, created_at)
SELECT 'report', u.id, {period}, 'report:' || u.id || ':' || {period}, 'pending', {now}, 0, {now}
FROM users u
WHERE u.is_active AND EXISTS (SELECT 1 FROM issues i WHERE i.assigned_to_id = u.id)
ON CONFLICT (dedupe_key) DO NOTHING";

impl Database {
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
