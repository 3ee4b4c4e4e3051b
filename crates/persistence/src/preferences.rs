//! Which emails each user wants (the assignment email, the consolidated report, the emails
//! about issues they watch).

use diesel::prelude::*;
use issue_tracker_domain::{EventType, FieldChange, NotificationPreferences, Origin, UserId};
use serde_json::Value;

use crate::events::{insert_event, user_event};
use crate::rows::{now_micros, UserRow};
use crate::schema::users;
use crate::{with_conn, with_write_conn, Database, StoreError};

/// A change of preferences: `None` keeps the current value.
#[derive(Debug, Clone, Copy, Default)]
pub struct PreferenceChanges {
    /// The assignment email.
    pub assignment: Option<bool>,
    /// The consolidated report.
    pub report: Option<bool>,
    /// The emails about watched issues.
    pub activity: Option<bool>,
}

impl Database {
    /// A user's preferences; `None` when there is no such user.
    pub fn notification_preferences(
        &self,
        user: UserId,
    ) -> Result<Option<NotificationPreferences>, StoreError> {
        with_conn!(self, |conn| {
            Ok(users::table
                .find(user.get())
                .select((
                    users::notify_assignment,
                    users::notify_report,
                    users::notify_activity,
                ))
                .get_result::<(bool, bool, bool)>(conn)
                .optional()?
                .map(|(assignment, report, activity)| NotificationPreferences {
                    assignment,
                    report,
                    activity,
                }))
        })
    }

    /// Applies `changes`; a `user.updated` event records what changed (nothing when nothing
    /// did). The preferences after, or `None` when there is no such user.
    pub fn set_notification_preferences(
        &self,
        user: UserId,
        changes: PreferenceChanges,
        origin: &Origin,
    ) -> Result<Option<NotificationPreferences>, StoreError> {
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let found = users::table
                    .find(user.get())
                    .select((
                        UserRow::as_select(),
                        users::notify_assignment,
                        users::notify_report,
                        users::notify_activity,
                    ))
                    .get_result::<(UserRow, bool, bool, bool)>(conn)
                    .optional()?;
                let Some((row, assignment, report, activity)) = found else {
                    return Ok(None);
                };
                let before = NotificationPreferences {
                    assignment,
                    report,
                    activity,
                };
                let after = NotificationPreferences {
                    assignment: changes.assignment.unwrap_or(assignment),
                    report: changes.report.unwrap_or(report),
                    activity: changes.activity.unwrap_or(activity),
                };
                let fields: Vec<FieldChange> = [
                    ("notify_assignment", before.assignment, after.assignment),
                    ("notify_report", before.report, after.report),
                    ("notify_activity", before.activity, after.activity),
                ]
                .into_iter()
                .filter(|(_, old, new)| old != new)
                .map(|(field, old, new)| {
                    FieldChange::new(field, Value::from(old), Value::from(new))
                })
                .collect();
                if fields.is_empty() {
                    return Ok(Some(before));
                }
                diesel::update(users::table.find(user.get()))
                    .set((
                        users::notify_assignment.eq(after.assignment),
                        users::notify_report.eq(after.report),
                        users::notify_activity.eq(after.activity),
                    ))
                    .execute(conn)?;
                let user = row.into();
                insert_event(
                    conn,
                    &user_event(EventType::UserUpdated, &user, origin, &fields, now),
                )?;
                Ok(Some(after))
            })
        })
    }
}
