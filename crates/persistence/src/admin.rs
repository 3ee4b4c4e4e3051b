//! What admins see of the outbox, and what they may do to it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use issue_tracker_domain::{NotificationId, NotificationStatus};

use crate::clock;
use crate::rows::utc;
use crate::schema::{notifications, users};
use crate::{with_conn, with_write_conn, Database, StoreError};

/// Which notifications an admin list shows, in which order.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    /// Only this status.
    pub status: Option<NotificationStatus>,
    /// Only recipients whose username contains this (any case).
    pub recipient: Option<String>,
    /// The order.
    pub order: NotificationOrder,
}

/// The orders of the notification list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NotificationOrder {
    /// Newest first.
    #[default]
    Newest,
    /// Oldest first.
    Oldest,
    /// Soonest due first.
    DueFirst,
    /// Latest due first.
    DueLast,
}

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
        let filter = NotificationFilter {
            status,
            ..NotificationFilter::default()
        };
        Ok(self.list_notifications_page(&filter, 0, limit)?.0)
    }

    /// A page of notifications matching `filter`, in its order, with the total that match.
    pub fn list_notifications_page(
        &self,
        filter: &NotificationFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<NotificationInfo>, i64), StoreError> {
        let pattern = filter.recipient.as_deref().map(crate::issues::like_pattern);
        with_conn!(self, |conn| {
            // The filtered rows, for the count and for the page.
            let matching = || {
                let mut query = notifications::table
                    .inner_join(users::table.on(notifications::recipient_id.eq(users::id)))
                    .into_boxed();
                if let Some(status) = filter.status {
                    query = query.filter(notifications::status.eq(status.as_str()));
                }
                if let Some(pattern) = &pattern {
                    query = query.filter(
                        crate::issues::lower(users::username)
                            .like(pattern.clone())
                            .escape('\\'),
                    );
                }
                query
            };
            let total = matching().count().get_result::<i64>(conn)?;
            let query = matching()
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
                .offset(offset)
                .limit(limit);
            let query = match filter.order {
                NotificationOrder::Newest => query.order(notifications::id.desc()),
                NotificationOrder::Oldest => query.order(notifications::id.asc()),
                NotificationOrder::DueFirst => {
                    query.order((notifications::send_after.asc(), notifications::id.asc()))
                }
                NotificationOrder::DueLast => {
                    query.order((notifications::send_after.desc(), notifications::id.desc()))
                }
            };
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
            let rows = rows
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
                .collect::<Vec<_>>();
            Ok((rows, total))
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
