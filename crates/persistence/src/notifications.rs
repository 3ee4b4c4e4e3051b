//! The outbox: notification rows written with the changes that cause them, claimed by the relay
//! (to enqueue) and by workers (to send), with leases so that a crashed process loses nothing.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use issue_tracker_domain::{
    AssignmentEmail, NotificationKind, NotificationStatus, ReportEmail, ReportLine, UserId,
};

use crate::clock;
use crate::rows::utc;
use crate::schema::{issues, notifications, users};
use crate::{with_conn, with_write_conn, Backend, Database, StoreError};

diesel::alias!(users as report_creators: ReportCreatorAlias);

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

/// A notification a worker now holds, until `lease` runs out.
#[derive(Debug, Clone)]
pub struct ClaimedNotification {
    /// Row id (also in the Message-ID).
    pub id: i64,
    /// Assignment or report.
    pub kind: NotificationKind,
    /// Who gets it.
    pub recipient: UserId,
    /// The issue (assignments).
    pub issue_id: Option<i64>,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// Identifies this claim: outcomes are recorded only while it is still the current one.
    pub claim_token: i64,
}

/// What to send for a claimed notification, read from current data.
#[derive(Debug, Clone)]
pub enum Content {
    /// Send the assignment email to this address.
    Assignment {
        /// Recipient address.
        to: String,
        /// What it says.
        email: AssignmentEmail,
    },
    /// Send the report to this address.
    Report {
        /// Recipient address.
        to: String,
        /// What it says.
        email: ReportEmail,
    },
    /// Not to be sent (reassigned, deleted, inactive user, no address, nothing to report).
    Stale(String),
}

/// A notification as an admin sees it.
#[derive(Debug, Clone)]
pub struct NotificationInfo {
    /// Id.
    pub id: i64,
    /// Kind.
    pub kind: String,
    /// Recipient's username.
    pub recipient: String,
    /// Status.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// Due at.
    pub send_after: chrono::DateTime<chrono::Utc>,
    /// Last failure, if any.
    pub last_error: Option<String>,
    /// Report period number (reports).
    pub period: Option<i64>,
}

#[derive(QueryableByName)]
pub(crate) struct IdRow {
    #[diesel(sql_type = BigInt)]
    pub(crate) id: i64,
}

/// `{now}` and `{cutoff}` are the database's clock (see `clock`), `{limit}` the bound parameter.
const RELAY_SQL_POSTGRES: &str = "\
UPDATE notifications SET enqueued_at = {now}
WHERE id IN (
    SELECT id FROM notifications
    WHERE ((status = 'pending' AND send_after <= {now}) OR (status = 'sending' AND lease_until < {now}))
      AND (enqueued_at IS NULL OR enqueued_at < {cutoff})
    ORDER BY send_after
    LIMIT $1
    FOR UPDATE SKIP LOCKED)
  AND (enqueued_at IS NULL OR enqueued_at < {cutoff})
RETURNING id";

const RELAY_SQL_SQLITE: &str = "\
UPDATE notifications SET enqueued_at = {now}
WHERE id IN (
    SELECT id FROM notifications
    WHERE ((status = 'pending' AND send_after <= {now}) OR (status = 'sending' AND lease_until < {now}))
      AND (enqueued_at IS NULL OR enqueued_at < {cutoff})
    ORDER BY send_after
    LIMIT ?1)
RETURNING id";

/// A claim token unique in practice: a per-process random start and a counter.
fn new_claim_token() -> i64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        hasher.write_u32(std::process::id());
        hasher.finish()
    });
    (seed.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed)) >> 1) as i64
}

const REPORTS_SQL_POSTGRES: &str = "\
INSERT INTO notifications (kind, recipient_id, period, dedupe_key, status, send_after, attempts, created_at)
SELECT 'report', u.id, $1, 'report:' || u.id || ':' || $1, 'pending',
       statement_timestamp() AT TIME ZONE 'UTC', 0, statement_timestamp() AT TIME ZONE 'UTC'
FROM users u
WHERE u.is_active AND EXISTS (SELECT 1 FROM issues i WHERE i.assigned_to_id = u.id)
ON CONFLICT (dedupe_key) DO NOTHING";

const REPORTS_SQL_SQLITE: &str = "\
INSERT INTO notifications (kind, recipient_id, period, dedupe_key, status, send_after, attempts, created_at)
SELECT 'report', u.id, ?1, 'report:' || u.id || ':' || ?1, 'pending',
       strftime('%Y-%m-%d %H:%M:%f', 'now'), 0, strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM users u
WHERE u.is_active AND EXISTS (SELECT 1 FROM issues i WHERE i.assigned_to_id = u.id)
ON CONFLICT (dedupe_key) DO NOTHING";

impl Database {
    /// Marks up to `limit` due notifications as enqueued and returns their ids, for the relay to
    /// put on the queue. Due means pending and past `send_after`, or held by a worker whose lease
    /// ran out; rows enqueued less than `requeue_after` ago are left alone (they are in the queue).
    /// On PostgreSQL, `SKIP LOCKED` keeps two relays from taking the same rows.
    pub fn claim_due_for_enqueue(
        &self,
        requeue_after: Duration,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let backend = self.backend();
        let template = match backend {
            Backend::Postgres => RELAY_SQL_POSTGRES,
            Backend::Sqlite => RELAY_SQL_SQLITE,
        };
        let sql = template
            .replace("{now}", clock::now_text(backend))
            .replace("{cutoff}", &clock::earlier_text(backend, requeue_after));
        let rows: Vec<IdRow> = with_write_conn!(self, |conn| {
            diesel::sql_query(&sql)
                .bind::<BigInt, _>(limit)
                .load(conn)?
        });
        Ok(rows.into_iter().map(|row| row.id).collect())
    }

    /// Undoes [`Database::claim_due_for_enqueue`] for ids the queue did not take, so the next
    /// relay tick tries them again at once.
    pub fn release_enqueued(&self, ids: &[i64]) -> Result<(), StoreError> {
        with_write_conn!(self, |conn| {
            diesel::update(notifications::table.filter(notifications::id.eq_any(ids)))
                .set(notifications::enqueued_at.eq(None::<NaiveDateTime>))
                .execute(conn)?
        });
        Ok(())
    }

    /// Claims a notification for sending if it is due and nobody holds it; `None` otherwise (sent,
    /// cancelled, held by another worker, or not yet due after a backoff).
    pub fn claim_for_sending(
        &self,
        id: i64,
        lease: Duration,
    ) -> Result<Option<ClaimedNotification>, StoreError> {
        let token = new_claim_token();
        let claimed = with_write_conn!(self, |conn| {
            diesel::update(
                notifications::table
                    .filter(notifications::id.eq(id))
                    .filter(
                        notifications::status
                            .eq(NotificationStatus::Pending.as_str())
                            .and(notifications::send_after.le(clock::now()))
                            .or(notifications::status
                                .eq(NotificationStatus::Sending.as_str())
                                .and(notifications::lease_until.lt(clock::now().nullable()))),
                    ),
            )
            .set((
                notifications::status.eq(NotificationStatus::Sending.as_str()),
                notifications::lease_until.eq(clock::later(lease).nullable()),
                notifications::attempts.eq(notifications::attempts + 1),
                notifications::claim_token.eq(Some(token)),
            ))
            .returning((
                notifications::id,
                notifications::kind,
                notifications::recipient_id,
                notifications::issue_id,
                notifications::attempts,
            ))
            .get_result::<(i64, String, i64, Option<i64>, i32)>(conn)
            .optional()?
        });
        Ok(
            claimed.and_then(|(id, kind, recipient, issue_id, attempts)| {
                Some(ClaimedNotification {
                    id,
                    kind: NotificationKind::parse(&kind)?,
                    recipient: UserId::new(recipient),
                    issue_id,
                    attempts,
                    claim_token: token,
                })
            }),
        )
    }

    /// Reads what a claimed notification should say now.
    pub fn notification_content(
        &self,
        claimed: &ClaimedNotification,
    ) -> Result<Content, StoreError> {
        with_conn!(self, |conn| {
            let recipient = users::table
                .find(claimed.recipient.get())
                .select((users::username, users::email, users::is_active))
                .first::<(String, String, bool)>(conn)
                .optional()?;
            let Some((username, address, active)) = recipient else {
                return Ok(Content::Stale("the recipient no longer exists".into()));
            };
            if !active {
                return Ok(Content::Stale(format!("{username} is inactive")));
            }
            if address.trim().is_empty() {
                return Ok(Content::Stale(format!("{username} has no email address")));
            }
            match claimed.kind {
                NotificationKind::Assignment => {
                    let Some(issue_id) = claimed.issue_id else {
                        return Ok(Content::Stale("no issue".into()));
                    };
                    let issue = issues::table
                        .find(issue_id)
                        .select((issues::title, issues::assigned_to_id))
                        .first::<(String, i64)>(conn)
                        .optional()?;
                    match issue {
                        None => Ok(Content::Stale(format!("issue {issue_id} was deleted"))),
                        Some((_, assignee)) if assignee != claimed.recipient.get() => {
                            Ok(Content::Stale(format!("issue {issue_id} was reassigned")))
                        }
                        Some((title, _)) => Ok(Content::Assignment {
                            to: address,
                            email: AssignmentEmail {
                                issue_id,
                                title,
                                assignee: username,
                            },
                        }),
                    }
                }
                NotificationKind::Report => {
                    let lines = issues::table
                        .inner_join(
                            report_creators
                                .on(issues::created_by_id.eq(report_creators.field(users::id))),
                        )
                        .filter(issues::assigned_to_id.eq(claimed.recipient.get()))
                        .order(issues::id)
                        .select((
                            issues::id,
                            issues::title,
                            report_creators.field(users::username),
                            issues::description,
                            issues::status,
                        ))
                        .load::<(i64, String, String, String, String)>(conn)?;
                    if lines.is_empty() {
                        return Ok(Content::Stale(format!("{username} has no assigned issues")));
                    }
                    Ok(Content::Report {
                        to: address,
                        email: ReportEmail {
                            username,
                            issues: lines
                                .into_iter()
                                .map(|(id, title, created_by, description, status)| ReportLine {
                                    id,
                                    title,
                                    created_by,
                                    description,
                                    status,
                                })
                                .collect(),
                        },
                    })
                }
            }
        })
    }

    /// Records the outcome of a claim, only if `claim` is still the current claim of the row:
    /// a worker whose lease ran out and was claimed again by another cannot overwrite it.
    /// Returns false when nothing matched (the caller logs it).
    fn finish(
        &self,
        claim: &ClaimedNotification,
        status: NotificationStatus,
        error: Option<&str>,
        retry_in: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let changed = with_write_conn!(self, |conn| {
            diesel::update(
                notifications::table
                    .filter(notifications::id.eq(claim.id))
                    .filter(notifications::status.eq(NotificationStatus::Sending.as_str()))
                    .filter(notifications::claim_token.eq(claim.claim_token)),
            )
            .set((
                notifications::status.eq(status.as_str()),
                notifications::lease_until.eq(None::<NaiveDateTime>),
                notifications::claim_token.eq(None::<i64>),
                notifications::last_error.eq(error),
                (status == NotificationStatus::Sent)
                    .then(|| notifications::sent_at.eq(clock::now().nullable())),
                retry_in.map(|wait| notifications::send_after.eq(clock::later(wait))),
                retry_in.map(|_| notifications::enqueued_at.eq(None::<NaiveDateTime>)),
            ))
            .execute(conn)?
        });
        Ok(changed > 0)
    }

    /// The SMTP server accepted it.
    pub fn mark_sent(&self, claim: &ClaimedNotification) -> Result<bool, StoreError> {
        self.finish(claim, NotificationStatus::Sent, None, None)
    }

    /// A temporary failure: pending again, not before `retry_in` (by the database's clock).
    pub fn mark_retry(
        &self,
        claim: &ClaimedNotification,
        error: &str,
        retry_in: Duration,
    ) -> Result<bool, StoreError> {
        self.finish(
            claim,
            NotificationStatus::Pending,
            Some(error),
            Some(retry_in),
        )
    }

    /// A permanent failure: dead until an admin retries it.
    pub fn mark_dead(&self, claim: &ClaimedNotification, error: &str) -> Result<bool, StoreError> {
        self.finish(claim, NotificationStatus::Dead, Some(error), None)
    }

    /// Not to be sent, with the reason.
    pub fn mark_cancelled(
        &self,
        claim: &ClaimedNotification,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.finish(claim, NotificationStatus::Cancelled, Some(reason), None)
    }

    /// The database's clock (UTC): report periods are counted by it, so beats whose clocks
    /// disagree still agree on the period.
    pub fn database_now(&self) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        #[derive(QueryableByName)]
        struct Now {
            #[diesel(sql_type = Timestamp)]
            now: NaiveDateTime,
        }
        let sql = format!("SELECT {} AS now", clock::now_text(self.backend()));
        let row: Now = with_conn!(self, |conn| diesel::sql_query(&sql).get_result(conn)?);
        Ok(utc(row.now))
    }

    /// Creates the report of `period` for every active user with assigned issues, in one
    /// statement; the unique `report:{user}:{period}` key makes a second call (another beat, a
    /// restart) add nothing. Returns how many were created.
    pub fn create_reports(&self, period: i64) -> Result<usize, StoreError> {
        Ok(with_write_conn!(self, |conn| {
            let sql = match self {
                Database::Postgres(_) => REPORTS_SQL_POSTGRES,
                Database::Sqlite(_) => REPORTS_SQL_SQLITE,
            };
            diesel::sql_query(sql)
                .bind::<BigInt, _>(period)
                .execute(conn)?
        }))
    }

    /// Notifications for admins, newest first, optionally of one status.
    pub fn list_notifications(
        &self,
        status: Option<NotificationStatus>,
        limit: i64,
    ) -> Result<Vec<NotificationInfo>, StoreError> {
        with_conn!(self, |conn| {
            let mut query = notifications::table
                .inner_join(users::table.on(notifications::recipient_id.eq(users::id)))
                .select((
                    notifications::id,
                    notifications::kind,
                    users::username,
                    notifications::status,
                    notifications::attempts,
                    notifications::send_after,
                    notifications::last_error,
                    notifications::period,
                ))
                .order(notifications::id.desc())
                .limit(limit)
                .into_boxed();
            if let Some(status) = status {
                query = query.filter(notifications::status.eq(status.as_str()));
            }
            let rows = query.load::<(
                i64,
                String,
                String,
                String,
                i32,
                NaiveDateTime,
                Option<String>,
                Option<i64>,
            )>(conn)?;
            Ok(rows
                .into_iter()
                .map(
                    |(id, kind, recipient, status, attempts, send_after, last_error, period)| {
                        NotificationInfo {
                            id,
                            kind,
                            recipient,
                            status,
                            attempts,
                            send_after: utc(send_after),
                            last_error,
                            period,
                        }
                    },
                )
                .collect())
        })
    }

    /// Makes a dead notification pending again, due now; false unless it was dead.
    pub fn retry_notification(&self, id: i64) -> Result<bool, StoreError> {
        let changed = with_write_conn!(self, |conn| {
            diesel::update(
                notifications::table
                    .filter(notifications::id.eq(id))
                    .filter(notifications::status.eq(NotificationStatus::Dead.as_str())),
            )
            .set((
                notifications::status.eq(NotificationStatus::Pending.as_str()),
                notifications::attempts.eq(0),
                notifications::send_after.eq(clock::now()),
                notifications::enqueued_at.eq(None::<NaiveDateTime>),
                notifications::last_error.eq(None::<String>),
            ))
            .execute(conn)?
        });
        Ok(changed > 0)
    }

    /// How many notifications are in each status.
    pub fn count_notifications(&self) -> Result<Vec<(String, i64)>, StoreError> {
        with_conn!(self, |conn| {
            Ok(notifications::table
                .group_by(notifications::status)
                .select((notifications::status, diesel::dsl::count_star()))
                .load::<(String, i64)>(conn)?)
        })
    }
}
