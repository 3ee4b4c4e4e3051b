//! Claims on the outbox: the relay marks due rows as enqueued, a worker claims a row with a lease
//! and a fresh claim token, reads what to send from current data, and records the outcome only
//! while its claim is still the current one.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use issue_tracker_domain::{
    activity_content, assignment_content, digest_content, recipient_check, report_content,
    ActivityEmail, ActivityLine, DigestLine, EmailContent, IssueId, IssueNow, NotificationId,
    NotificationKind, NotificationStatus, Recipient, ReportLine, UserId,
};

use crate::clock;
use crate::preferences::{preference_columns, preferences_of, PreferenceRow};
use crate::rows::utc;
use crate::schema::{comments, inbox, issues, notifications, users};
use crate::{with_conn, with_write_conn, Backend, Database, StoreError};

diesel::alias!(users as report_creators: ReportCreatorAlias);

/// A notification a worker now holds, until `lease` runs out.
#[derive(Debug, Clone)]
pub struct ClaimedNotification {
    /// Row id (also in the Message-ID).
    pub id: NotificationId,
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

/// What to send for a claimed notification (decided by the domain's rules from current data).
pub type Content = EmailContent;

/// One relay statement for both databases: `{now}` and `{cutoff}` are the database's clock (see
/// `clock`), `{limit}` the bound parameter, and `{lock}` PostgreSQL's `FOR UPDATE SKIP LOCKED`,
/// which keeps two relays from taking the same rows (SQLite has one writer at a time anyway).
/// The outer condition is checked again after the lock, for rows another relay just took.
const RELAY_SQL: &str = "\
UPDATE notifications SET enqueued_at = {now}
WHERE id IN (
    SELECT id FROM notifications
    WHERE ((status = 'pending' AND send_after <= {now}) OR (status = 'sending' AND lease_until < {now}))
      AND (enqueued_at IS NULL OR enqueued_at < {cutoff})
    ORDER BY send_after
    LIMIT {limit}{lock})
  AND (enqueued_at IS NULL OR enqueued_at < {cutoff})
RETURNING id, kind";

/// A due notification the relay moves to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueNotification {
    /// The row's id.
    pub id: i64,
    /// Whether it goes ahead of the others ([`NotificationKind::is_urgent`]).
    pub urgent: bool,
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
}

/// A claim token unique in practice: a per-process random start and a counter.
pub(crate) fn new_claim_token() -> i64 {
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

impl Database {
    /// Marks up to `limit` due notifications as enqueued and returns them, for the relay to put
    /// on the queue. Due means pending and past `send_after`, or held by a worker whose lease
    /// ran out; rows enqueued less than `requeue_after` ago are left alone (they are in the queue).
    /// On PostgreSQL, `SKIP LOCKED` keeps two relays from taking the same rows.
    pub fn claim_due_for_enqueue(
        &self,
        requeue_after: Duration,
        limit: i64,
    ) -> Result<Vec<DueNotification>, StoreError> {
        let backend = self.backend();
        let lock = match backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = RELAY_SQL
            .replace("{limit}", backend.first_parameter())
            .replace("{lock}", lock)
            .replace("{now}", clock::now_text(backend))
            .replace("{cutoff}", &clock::earlier_text(backend, requeue_after));
        let rows: Vec<DueRow> = with_write_conn!(self, |conn| {
            diesel::sql_query(&sql)
                .bind::<BigInt, _>(limit)
                .load(conn)?
        });
        Ok(rows
            .into_iter()
            .map(|row| DueNotification {
                id: row.id,
                urgent: NotificationKind::parse(&row.kind).is_some_and(NotificationKind::is_urgent),
            })
            .collect())
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
        id: NotificationId,
        lease: Duration,
    ) -> Result<Option<ClaimedNotification>, StoreError> {
        let token = new_claim_token();
        let claimed = with_write_conn!(self, |conn| {
            diesel::update(
                notifications::table
                    .filter(notifications::id.eq(id.get()))
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
                    id: NotificationId::from_stored(id),
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
                .select((
                    users::username,
                    users::email,
                    users::is_active,
                    users::is_staff,
                    preference_columns(),
                ))
                .get_result::<(String, String, bool, bool, PreferenceRow)>(conn)
                .optional()?
                .map(|(username, email, active, staff, preferences)| Recipient {
                    username,
                    email,
                    active,
                    preferences: preferences_of(preferences),
                    staff,
                });
            let recipient = match recipient_check(claimed.kind, recipient) {
                Ok(recipient) => recipient,
                Err(instead) => return Ok(instead),
            };
            match claimed.kind {
                NotificationKind::Assignment => {
                    let Some(issue_id) = claimed.issue_id else {
                        return Ok(Content::Stale("no issue".into()));
                    };
                    let issue = issues::table
                        .find(issue_id)
                        .select((issues::title, issues::assigned_to_id))
                        .get_result::<(String, i64)>(conn)
                        .optional()?
                        .map(|(title, assignee)| IssueNow {
                            title,
                            assignee: UserId::new(assignee),
                        });
                    Ok(assignment_content(
                        recipient,
                        claimed.recipient,
                        IssueId::from_stored(issue_id),
                        issue,
                    ))
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
                        .load::<(i64, String, String, String, String)>(conn)?
                        .into_iter()
                        .map(|(id, title, created_by, description, status)| ReportLine {
                            id,
                            title,
                            created_by,
                            description,
                            status,
                        })
                        .collect();
                    Ok(report_content(recipient, lines))
                }
                NotificationKind::Digest => {
                    let lines = inbox::table
                        .filter(inbox::digest_id.eq(claimed.id.get()))
                        .filter(inbox::unread.eq(true))
                        .filter(inbox::done.eq(false))
                        .order(inbox::id)
                        .select((inbox::issue_id, inbox::kind, inbox::summary))
                        .load::<(i64, String, String)>(conn)?
                        .into_iter()
                        .map(|(issue_id, kind, summary)| DigestLine {
                            issue_id,
                            kind,
                            summary,
                        })
                        .collect();
                    Ok(digest_content(recipient, lines))
                }
                NotificationKind::Activity => {
                    let Some(issue_id) = claimed.issue_id else {
                        return Ok(Content::Stale("no issue".into()));
                    };
                    let entries: Vec<(String, String, String, Option<i64>)> = inbox::table
                        .filter(inbox::email_id.eq(claimed.id.get()))
                        .order(inbox::id)
                        .select((
                            inbox::kind,
                            inbox::summary,
                            inbox::reason,
                            inbox::comment_id,
                        ))
                        .load(conn)?;
                    let said: Vec<i64> = entries.iter().filter_map(|e| e.3).collect();
                    let bodies: Vec<(i64, String)> = if said.is_empty() {
                        Vec::new()
                    } else {
                        comments::table
                            .filter(comments::id.eq_any(&said))
                            .select((comments::id, comments::body))
                            .load(conn)?
                    };
                    let title = issues::table
                        .find(issue_id)
                        .select(issues::title)
                        .get_result::<String>(conn)
                        .optional()?;
                    let reason = entries
                        .last()
                        .map_or_else(String::new, |(_, _, reason, _)| reason.clone());
                    let lines = entries
                        .into_iter()
                        .map(|(kind, summary, _, comment)| ActivityLine {
                            kind,
                            summary,
                            comment: comment.and_then(|id| {
                                bodies
                                    .iter()
                                    .find(|(c, _)| *c == id)
                                    .map(|(_, b)| b.clone())
                            }),
                        })
                        .collect();
                    Ok(activity_content(
                        recipient,
                        ActivityEmail {
                            issue_id,
                            title,
                            reason,
                            lines,
                        },
                    ))
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
                    .filter(notifications::id.eq(claim.id.get()))
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

    /// Not sent: its recipient turned this kind of email off.
    pub fn mark_skipped(
        &self,
        claim: &ClaimedNotification,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.finish(claim, NotificationStatus::Skipped, Some(reason), None)
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
}
