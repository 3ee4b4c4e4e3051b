//! Writing many rows at once, each backend its fastest way: PostgreSQL's `COPY ... FROM STDIN`
//! (text format), SQLite's multi-row `INSERT`s in the import's one transaction.

use std::fmt::Write as _;

use chrono::NaiveDateTime;
use diesel::pg::{CopyFormat, PgConnection};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use crate::schema::{api_tokens, events, issues, users};

#[derive(Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub(super) struct NewUserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = api_tokens, treat_none_as_default_value = false)]
pub(super) struct NewTokenRow {
    pub user_id: i64,
    pub key_hash: String,
    pub prefix: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub scopes: String,
}

#[derive(Insertable)]
#[diesel(table_name = issues, treat_none_as_default_value = false)]
pub(super) struct NewIssueRow {
    pub id: i64,
    pub created_by_id: i64,
    pub title: String,
    pub description: String,
    pub status: String,
    pub assigned_to_id: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// An event of the import: no actor, no request, `via: "import"`.
#[derive(Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub(super) struct NewEventRow {
    pub kind: &'static str,
    pub created_at: NaiveDateTime,
    pub via: &'static str,
    pub issue_id: Option<i64>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub changes: String,
}

/// What a bulk load set aside to put back at its end (PostgreSQL: secondary indexes and foreign
/// keys of the tables it fills, as SQL to run again).
#[derive(Debug, Default)]
pub(super) struct SetAside {
    restore: Vec<String>,
}

/// Many rows of each table at once.
pub(super) trait BulkWrite {
    /// Before the rows: what makes a bulk load slow and can be rebuilt in one pass afterwards.
    fn set_aside(&mut self) -> QueryResult<SetAside>;
    /// After the rows: puts back what [`BulkWrite::set_aside`] took (checking every row).
    fn put_back(&mut self, aside: SetAside) -> QueryResult<()>;
    fn write_users(&mut self, rows: &[NewUserRow]) -> QueryResult<()>;
    fn write_tokens(&mut self, rows: &[NewTokenRow]) -> QueryResult<()>;
    fn write_issues(&mut self, rows: &[NewIssueRow]) -> QueryResult<()>;
    fn write_events(&mut self, rows: &[NewEventRow]) -> QueryResult<()>;
}

/// Rows per `INSERT` on SQLite: under its 32,766 bound parameters with ten columns.
const SQLITE_ROWS: usize = 1_000;

impl BulkWrite for SqliteConnection {
    fn set_aside(&mut self) -> QueryResult<SetAside> {
        Ok(SetAside::default())
    }

    fn put_back(&mut self, _: SetAside) -> QueryResult<()> {
        Ok(())
    }

    fn write_users(&mut self, rows: &[NewUserRow]) -> QueryResult<()> {
        for chunk in rows.chunks(SQLITE_ROWS) {
            diesel::insert_into(users::table)
                .values(chunk)
                .execute(self)?;
        }
        Ok(())
    }

    fn write_tokens(&mut self, rows: &[NewTokenRow]) -> QueryResult<()> {
        for chunk in rows.chunks(SQLITE_ROWS) {
            diesel::insert_into(api_tokens::table)
                .values(chunk)
                .execute(self)?;
        }
        Ok(())
    }

    fn write_issues(&mut self, rows: &[NewIssueRow]) -> QueryResult<()> {
        for chunk in rows.chunks(SQLITE_ROWS) {
            diesel::insert_into(issues::table)
                .values(chunk)
                .execute(self)?;
        }
        Ok(())
    }

    fn write_events(&mut self, rows: &[NewEventRow]) -> QueryResult<()> {
        for chunk in rows.chunks(SQLITE_ROWS) {
            diesel::insert_into(events::table)
                .values(chunk)
                .execute(self)?;
        }
        Ok(())
    }
}

/// A value in `COPY`'s text format: backslash, tab, newline and carriage return escaped.
fn text(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn time(out: &mut String, at: NaiveDateTime) {
    let _ = write!(out, "{}", at.format("%Y-%m-%d %H:%M:%S%.6f"));
}

fn flag(value: bool) -> &'static str {
    if value {
        "t"
    } else {
        "f"
    }
}

/// Runs one `COPY table (columns) FROM STDIN` with `data` (text format, one line per row).
fn copy<C>(conn: &mut PgConnection, columns: C, data: &str) -> QueryResult<()>
where
    C: diesel::pg::CopyTarget,
    C::Table: Default,
{
    diesel::copy_from(C::Table::default())
        .from_raw_data(columns, |sink: &mut dyn std::io::Write| {
            sink.write_all(data.as_bytes())
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
        })
        .with_format(CopyFormat::Text)
        .execute(conn)
        .map(drop)
}

#[derive(QueryableByName)]
struct Definition {
    #[diesel(sql_type = diesel::sql_types::Text)]
    drop: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    create: String,
}

/// The tables a bulk load fills, whose indexes and foreign keys it rebuilds once at the end.
const FILLED: &str = "'issues', 'events', 'api_tokens'";

impl BulkWrite for PgConnection {
    /// Drops the secondary indexes (the trigram ones above all: a row at a time they cost more
    /// than the rows) and the foreign keys of the filled tables, in the import's transaction:
    /// built again in one pass, and every key checked in one query, at the end. Unique and
    /// primary keys stay, so a duplicate still fails at once.
    fn set_aside(&mut self) -> QueryResult<SetAside> {
        diesel::sql_query("SET LOCAL maintenance_work_mem = '256MB'").execute(self)?;
        let definitions: Vec<Definition> = diesel::sql_query(format!(
            "SELECT format('DROP INDEX %I', indexname) AS drop, indexdef AS create \
             FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ({FILLED}) \
             AND indexname NOT IN (SELECT conname FROM pg_constraint) \
             UNION ALL \
             SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname), \
             format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, \
             pg_get_constraintdef(oid)) \
             FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text IN ({FILLED})"
        ))
        .load(self)?;
        let mut aside = SetAside::default();
        for definition in definitions {
            diesel::sql_query(&definition.drop).execute(self)?;
            aside.restore.push(definition.create);
        }
        Ok(aside)
    }

    fn put_back(&mut self, aside: SetAside) -> QueryResult<()> {
        for statement in aside.restore {
            diesel::sql_query(statement).execute(self)?;
        }
        Ok(())
    }

    fn write_users(&mut self, rows: &[NewUserRow]) -> QueryResult<()> {
        let mut data = String::new();
        for row in rows {
            let _ = write!(data, "{}\t", row.id);
            text(&mut data, &row.username);
            data.push('\t');
            text(&mut data, &row.email);
            data.push('\t');
            text(&mut data, &row.password_hash);
            let _ = write!(
                data,
                "\t{}\t{}\t{}\t",
                flag(row.is_active),
                flag(row.is_staff),
                flag(row.is_superuser)
            );
            time(&mut data, row.date_joined);
            data.push('\n');
        }
        copy(
            self,
            (
                users::id,
                users::username,
                users::email,
                users::password_hash,
                users::is_active,
                users::is_staff,
                users::is_superuser,
                users::date_joined,
            ),
            &data,
        )
    }

    fn write_tokens(&mut self, rows: &[NewTokenRow]) -> QueryResult<()> {
        let mut data = String::new();
        for row in rows {
            let _ = write!(data, "{}\t{}\t{}\t", row.user_id, row.key_hash, row.prefix);
            time(&mut data, row.created_at);
            data.push('\t');
            time(&mut data, row.expires_at);
            data.push('\t');
            text(&mut data, &row.scopes);
            data.push('\n');
        }
        copy(
            self,
            (
                api_tokens::user_id,
                api_tokens::key_hash,
                api_tokens::prefix,
                api_tokens::created_at,
                api_tokens::expires_at,
                api_tokens::scopes,
            ),
            &data,
        )
    }

    fn write_issues(&mut self, rows: &[NewIssueRow]) -> QueryResult<()> {
        let mut data = String::new();
        for row in rows {
            let _ = write!(data, "{}\t{}\t", row.id, row.created_by_id);
            text(&mut data, &row.title);
            data.push('\t');
            text(&mut data, &row.description);
            let _ = write!(data, "\t{}\t{}\t", row.status, row.assigned_to_id);
            time(&mut data, row.created_at);
            data.push('\t');
            time(&mut data, row.updated_at);
            data.push('\n');
        }
        copy(
            self,
            (
                issues::id,
                issues::created_by_id,
                issues::title,
                issues::description,
                issues::status,
                issues::assigned_to_id,
                issues::created_at,
                issues::updated_at,
            ),
            &data,
        )
    }

    fn write_events(&mut self, rows: &[NewEventRow]) -> QueryResult<()> {
        let mut data = String::new();
        for row in rows {
            data.push_str(row.kind);
            data.push('\t');
            time(&mut data, row.created_at);
            let _ = write!(data, "\t{}\t", row.via);
            match row.issue_id {
                Some(id) => {
                    let _ = write!(data, "{id}");
                }
                None => data.push_str("\\N"),
            }
            data.push('\t');
            match row.user_id {
                Some(id) => {
                    let _ = write!(data, "{id}");
                }
                None => data.push_str("\\N"),
            }
            data.push('\t');
            match &row.username {
                Some(name) => text(&mut data, name),
                None => data.push_str("\\N"),
            }
            data.push('\t');
            text(&mut data, &row.changes);
            data.push('\n');
        }
        copy(
            self,
            (
                events::kind,
                events::created_at,
                events::via,
                events::issue_id,
                events::user_id,
                events::username,
                events::changes,
            ),
            &data,
        )
    }
}
