//! Rows as stored, converted to domain values at the edge.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use issue_tracker_domain::{Issue, IssueId, Status, User, UserId};

use crate::schema::users;

/// Times are stored as UTC `TIMESTAMP` (both backends can map it) with microsecond precision, so
/// that SQLite and PostgreSQL return the same values.
pub(crate) fn now_micros() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond_micros()
}

trait MicrosExt {
    fn with_nanosecond_micros(self) -> Self;
}

impl MicrosExt for NaiveDateTime {
    fn with_nanosecond_micros(self) -> Self {
        use chrono::Timelike;
        let micros = self.nanosecond() / 1_000 * 1_000;
        self.with_nanosecond(micros).unwrap_or(self)
    }
}

pub(crate) fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    #[diesel(deserialize_as = crate::stamp::Stamp)]
    pub date_joined: NaiveDateTime,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId::new(row.id),
            username: row.username,
            email: row.email,
            is_active: row.is_active,
            is_staff: row.is_staff,
            is_superuser: row.is_superuser,
            date_joined: utc(row.date_joined),
        }
    }
}

#[derive(Queryable)]
pub(crate) struct IssueRow {
    pub id: i64,
    pub created_by_id: i64,
    pub title: String,
    pub description: String,
    pub status: String,
    pub assigned_to_id: i64,
    #[diesel(deserialize_as = crate::stamp::Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = crate::stamp::Stamp)]
    pub updated_at: NaiveDateTime,
    /// A JSON array of the label names (a copy; see labels.rs), NULL for none.
    pub label_names: Option<String>,
}

/// The issue a row holds. A status that is neither `open` nor `closed` (the CHECK constraint
/// allows no other, so only a hand edit or a damaged database gives one) is an error, never
/// silently read as `open`.
pub(crate) fn issue_from_row(
    row: IssueRow,
    created_by: String,
    assigned_to: String,
    labels: Vec<String>,
) -> Result<Issue, diesel::result::Error> {
    let status = Status::parse(&row.status).map_err(|_| {
        diesel::result::Error::DeserializationError(
            format!("issue {} has the stored status {:?}", row.id, row.status).into(),
        )
    })?;
    Ok(Issue {
        // Stored ids come from a sequence and are always positive.
        id: IssueId::new(row.id)
            .unwrap_or_else(|| panic!("stored issue id {} is not positive", row.id)),
        created_by,
        title: row.title,
        description: row.description,
        status,
        assigned_to,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        labels,
    })
}
