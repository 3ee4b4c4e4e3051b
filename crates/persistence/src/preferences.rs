//! Which emails each user wants (the assignment email, the consolidated report, the emails
//! about issues they watch).

use diesel::prelude::*;
use issue_tracker_domain::{
    Delivery, EventType, FieldChange, InboxTypes, NotificationPreferences, Origin, UserId,
};
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
    /// Which kinds of change email them.
    pub activity_types: Option<InboxTypes>,
    /// At once or daily.
    pub delivery: Option<Delivery>,
}

/// The columns the preferences are read from.
#[diesel::dsl::auto_type]
pub(crate) fn preference_columns() -> _ {
    (
        users::notify_assignment,
        users::notify_report,
        users::notify_activity,
        users::activity_muted,
        users::activity_delivery,
    )
}

/// The row [`preference_columns`] reads.
pub(crate) type PreferenceRow = (bool, bool, bool, String, String);

/// The preferences a row holds.
pub(crate) fn preferences_of(
    (assignment, report, activity, muted, delivery): PreferenceRow,
) -> NotificationPreferences {
    NotificationPreferences {
        assignment,
        report,
        activity,
        activity_types: InboxTypes::from_muted(&muted),
        // Only the domain's words are written (a CHECK constraint keeps it so).
        delivery: Delivery::parse(&delivery).unwrap_or(Delivery::Instant),
    }
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
                .select(preference_columns())
                .get_result::<PreferenceRow>(conn)
                .optional()?
                .map(preferences_of))
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
                    .select((UserRow::as_select(), preference_columns()))
                    .get_result::<(UserRow, PreferenceRow)>(conn)
                    .optional()?;
                let Some((row, stored)) = found else {
                    return Ok(None);
                };
                let before = preferences_of(stored);
                let after = NotificationPreferences {
                    assignment: changes.assignment.unwrap_or(before.assignment),
                    report: changes.report.unwrap_or(before.report),
                    activity: changes.activity.unwrap_or(before.activity),
                    activity_types: changes.activity_types.unwrap_or(before.activity_types),
                    delivery: changes.delivery.unwrap_or(before.delivery),
                };
                let mut fields: Vec<FieldChange> = [
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
                if before.activity_types != after.activity_types {
                    let list =
                        |types: InboxTypes| serde_json::to_value(types).unwrap_or(Value::Null);
                    fields.push(FieldChange::new(
                        "activity_types",
                        list(before.activity_types),
                        list(after.activity_types),
                    ));
                }
                if before.delivery != after.delivery {
                    fields.push(FieldChange::new(
                        "delivery",
                        Value::from(before.delivery.as_str()),
                        Value::from(after.delivery.as_str()),
                    ));
                }
                if fields.is_empty() {
                    return Ok(Some(before));
                }
                diesel::update(users::table.find(user.get()))
                    .set((
                        users::notify_assignment.eq(after.assignment),
                        users::notify_report.eq(after.report),
                        users::notify_activity.eq(after.activity),
                        users::activity_muted.eq(after.activity_types.muted()),
                        users::activity_delivery.eq(after.delivery.as_str()),
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
