//! What admins see of the outbox, and what they may do to it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use issue_tracker_domain::{NotificationId, NotificationStatus};

use crate::clock;
use crate::rows::utc;
use crate::schema::{notifications, users};
use crate::{with_conn, with_write_conn, Database, StoreError};

/// A notification as an admin sees it.
#[derive(Debug, Clone)]
pub struct NotificationInfo {
    /// Id.
    pub id: NotificationId,
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

impl Database {
    /// Notifications for admins, newest first, optionally of one status.
    pub fn list_notifications(
        &self,
        status: Option<NotificationStatus>,
        limit: i64,
    ) -> Result<Vec<NotificationInfo>, StoreError> {
        self.list_notifications_page(status, 0, limit)
    }

    /// A page of [`Database::list_notifications`].
    pub fn list_notifications_page(
        &self,
        status: Option<NotificationStatus>,
        offset: i64,
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
                .offset(offset)
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
                            id: NotificationId::from_stored(id),
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
    pub fn retry_notification(&self, id: NotificationId) -> Result<bool, StoreError> {
        let changed = with_write_conn!(self, |conn| {
            diesel::update(
                notifications::table
                    .filter(notifications::id.eq(id.get()))
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
