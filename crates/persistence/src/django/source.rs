//! Reading a Django deployment's database (the original's): `auth_user`, DRF's
//! `authtoken_token` and `issuetracker_issue`, on PostgreSQL or SQLite, in pages by id so that
//! memory stays bounded whatever the size of the tables.

use chrono::NaiveDateTime;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::sqlite::SqliteConnection;

use crate::StoreError;

/// A Django database opened for reading.
pub enum DjangoSource {
    /// `postgres://...` (or `postgresql://`).
    Postgres(PgConnection),
    /// `sqlite:////absolute/path` or `sqlite:///relative/path`.
    Sqlite(SqliteConnection),
}

impl std::fmt::Debug for DjangoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DjangoSource::Postgres(_) => "DjangoSource::Postgres",
            DjangoSource::Sqlite(_) => "DjangoSource::Sqlite",
        })
    }
}

/// A row of `auth_user`. Text columns are `None` when NULL (which Django never writes).
#[derive(Debug, Clone, QueryableByName)]
pub struct DjangoUser {
    /// `id`.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// `username` (Django allows Unicode letters).
    #[diesel(sql_type = Nullable<Text>)]
    pub username: Option<String>,
    /// Django's hash string (`algorithm$...`, or `!...` for an unusable password).
    #[diesel(sql_type = Nullable<Text>)]
    pub password: Option<String>,
    /// `email` (may be empty).
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
    /// `is_staff` as 0 or 1.
    #[diesel(sql_type = BigInt)]
    pub is_staff: i64,
    /// `is_superuser` as 0 or 1.
    #[diesel(sql_type = BigInt)]
    pub is_superuser: i64,
    /// `is_active` as 0 or 1.
    #[diesel(sql_type = BigInt)]
    pub is_active: i64,
    /// `date_joined` in UTC, as text (`YYYY-MM-DD HH:MM:SS[.ffffff]`).
    #[diesel(sql_type = Nullable<Text>)]
    pub date_joined: Option<String>,
}

impl DjangoUser {
    /// `date_joined` read, if it reads.
    pub fn joined(&self) -> Option<NaiveDateTime> {
        let text = self.date_joined.as_deref()?.trim();
        // SQLite keeps what Django wrote: UTC, perhaps with a `+00:00` after the seconds.
        let cut = text
            .char_indices()
            .skip(19)
            .find(|(_, c)| matches!(c, '+' | '-' | 'Z'))
            .map_or(text.len(), |(at, _)| at);
        let text = &text[..cut];
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    }
}

/// A row of DRF's `authtoken_token`: one per user, its key in plain text.
#[derive(Debug, Clone, QueryableByName)]
pub struct DjangoToken {
    /// The user it belongs to.
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    /// The key (40 hex characters).
    #[diesel(sql_type = Nullable<Text>)]
    pub key: Option<String>,
}

/// A row of `issuetracker_issue`; its two users are usernames.
#[derive(Debug, Clone, QueryableByName)]
pub struct DjangoIssue {
    /// `id`.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// `title`.
    #[diesel(sql_type = Nullable<Text>)]
    pub title: Option<String>,
    /// `description`.
    #[diesel(sql_type = Nullable<Text>)]
    pub description: Option<String>,
    /// `status`.
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
    /// `assigned_to_id`: a username.
    #[diesel(sql_type = Nullable<Text>)]
    pub assigned_to: Option<String>,
    /// `created_by_id`: a username.
    #[diesel(sql_type = Nullable<Text>)]
    pub created_by: Option<String>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many rows each table holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceCounts {
    /// `auth_user`.
    pub users: u64,
    /// `authtoken_token`.
    pub tokens: u64,
    /// `issuetracker_issue`.
    pub issues: u64,
}

const TABLES: [&str; 3] = ["auth_user", "authtoken_token", "issuetracker_issue"];

fn flag(column: &str) -> String {
    format!("CAST(CASE WHEN {column} THEN 1 ELSE 0 END AS BIGINT) AS {column}")
}

impl DjangoSource {
    /// Opens the database at a dj-database-url style URL, and checks that it holds the three
    /// tables.
    pub fn open(url: &str) -> Result<DjangoSource, StoreError> {
        let unavailable = |what: String| StoreError::Unavailable(what.into());
        let mut source = if let Some(path) = url.strip_prefix("sqlite:///") {
            // sqlite:////abs/path keeps its leading slash; sqlite:///rel/path is relative.
            if path.is_empty() || !std::path::Path::new(path).is_file() {
                return Err(unavailable(format!("no SQLite database at {path:?}")));
            }
            let conn = SqliteConnection::establish(path)
                .map_err(|e| unavailable(format!("cannot open {path}: {e}")))?;
            DjangoSource::Sqlite(conn)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let conn = PgConnection::establish(url)
                .map_err(|e| unavailable(format!("cannot connect to the Django database: {e}")))?;
            DjangoSource::Postgres(conn)
        } else {
            return Err(unavailable(
                "the Django DATABASE_URL must start with sqlite:/// or postgres://".into(),
            ));
        };
        for table in TABLES {
            if !source.has_table(table)? {
                return Err(unavailable(format!(
                    "the Django database has no table {table}: is it the issue tracker's, migrated?"
                )));
            }
        }
        Ok(source)
    }

    fn has_table(&mut self, table: &str) -> Result<bool, StoreError> {
        let found = match self {
            DjangoSource::Postgres(conn) => diesel::sql_query(
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = $1",
            )
            .bind::<Text, _>(table)
            .get_result::<Count>(conn)?,
            DjangoSource::Sqlite(conn) => diesel::sql_query(
                "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
            )
            .bind::<Text, _>(table)
            .get_result::<Count>(conn)?,
        };
        Ok(found.n > 0)
    }

    /// How many rows each table holds.
    pub fn counts(&mut self) -> Result<SourceCounts, StoreError> {
        let mut count = |table: &str| -> Result<u64, StoreError> {
            let sql = format!("SELECT count(*) AS n FROM {table}");
            let n = match self {
                DjangoSource::Postgres(conn) => diesel::sql_query(sql).get_result::<Count>(conn)?,
                DjangoSource::Sqlite(conn) => diesel::sql_query(sql).get_result::<Count>(conn)?,
            };
            Ok(n.n.max(0) as u64)
        };
        Ok(SourceCounts {
            users: count(TABLES[0])?,
            tokens: count(TABLES[1])?,
            issues: count(TABLES[2])?,
        })
    }

    /// Up to `limit` users with an id above `after`, by id. (Ordered by the table's column, not
    /// the output's `CAST`: ordering by the cast sorted the whole table for every page.)
    pub fn users(&mut self, after: i64, limit: i64) -> Result<Vec<DjangoUser>, StoreError> {
        let columns = format!(
            "CAST(id AS BIGINT) AS id, username, password, email, {}, {}, {}",
            flag("is_staff"),
            flag("is_superuser"),
            flag("is_active")
        );
        Ok(match self {
            DjangoSource::Postgres(conn) => diesel::sql_query(format!(
                "SELECT {columns}, to_char(date_joined AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD HH24:MI:SS.US') AS date_joined \
                 FROM auth_user WHERE auth_user.id > $1 ORDER BY auth_user.id LIMIT $2"
            ))
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(limit)
            .load(conn)?,
            DjangoSource::Sqlite(conn) => diesel::sql_query(format!(
                "SELECT {columns}, CAST(date_joined AS TEXT) AS date_joined \
                 FROM auth_user WHERE auth_user.id > ? ORDER BY auth_user.id LIMIT ?"
            ))
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(limit)
            .load(conn)?,
        })
    }

    /// Up to `limit` tokens of users with an id above `after`, by user.
    pub fn tokens(&mut self, after: i64, limit: i64) -> Result<Vec<DjangoToken>, StoreError> {
        Ok(match self {
            DjangoSource::Postgres(conn) => diesel::sql_query(
                "SELECT CAST(user_id AS BIGINT) AS user_id, key FROM authtoken_token t \
                 WHERE t.user_id > $1 ORDER BY t.user_id LIMIT $2",
            )
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(limit)
            .load(conn)?,
            DjangoSource::Sqlite(conn) => diesel::sql_query(
                "SELECT CAST(user_id AS BIGINT) AS user_id, key FROM authtoken_token t \
                 WHERE t.user_id > ? ORDER BY t.user_id LIMIT ?",
            )
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(limit)
            .load(conn)?,
        })
    }

    /// Up to `limit` issues with an id above `after`, by id.
    pub fn issues(&mut self, after: i64, limit: i64) -> Result<Vec<DjangoIssue>, StoreError> {
        let columns = "CAST(id AS BIGINT) AS id, title, description, status, CAST(assigned_to_id AS TEXT) AS \
                       assigned_to, CAST(created_by_id AS TEXT) AS created_by";
        Ok(match self {
            DjangoSource::Postgres(conn) => diesel::sql_query(format!(
                "SELECT {columns} FROM issuetracker_issue i WHERE i.id > $1 ORDER BY i.id LIMIT $2"
            ))
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(limit)
            .load(conn)?,
            DjangoSource::Sqlite(conn) => diesel::sql_query(format!(
                "SELECT {columns} FROM issuetracker_issue i WHERE i.id > ? ORDER BY i.id LIMIT ?"
            ))
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(limit)
            .load(conn)?,
        })
    }
}
