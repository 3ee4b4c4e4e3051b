//! "Now" as the database sees it. Due times (`send_after`, leases, report periods) are written and
//! compared with the database's clock inside the statements, so that a process whose own clock is
//! off neither sends early nor holds emails back. On SQLite the database lives in the process, so
//! its clock is the process's.

use std::time::Duration;

use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Double, Text, Timestamp};
use diesel::QueryResult;

use crate::Backend;

/// Seconds, capped at 100 years (a longer delay is "never" for our purposes).
fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64().min(3_153_600_000.0)
}

/// SQL for the database's current UTC time as a `TIMESTAMP`.
pub(crate) fn now_text(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "(statement_timestamp() AT TIME ZONE 'UTC')",
        Backend::Sqlite => "strftime('%Y-%m-%d %H:%M:%f', 'now')",
    }
}

/// SQL for the database's current UTC time moved by `secs` (from settings, never client input).
fn shifted_text(backend: Backend, secs: f64) -> String {
    match backend {
        Backend::Postgres => format!(
            "((statement_timestamp() AT TIME ZONE 'UTC') + make_interval(secs => {secs:.6}))"
        ),
        Backend::Sqlite => format!("strftime('%Y-%m-%d %H:%M:%f', 'now', '{secs:+.3} seconds')"),
    }
}

/// SQL for the database's current UTC time minus `offset`.
pub(crate) fn earlier_text(backend: Backend, offset: Duration) -> String {
    shifted_text(backend, -seconds(offset))
}

/// The database's current UTC time moved by a number of seconds, as an expression for diesel's
/// DSL. The offset is a bound parameter, so the statement's text stays the same and diesel keeps
/// it prepared (an SQL literal with the offset written in would be prepared anew on every call:
/// that cost a quarter of SQLite's POST throughput).
#[derive(Debug, Clone, diesel::query_builder::QueryId, diesel::expression::ValidGrouping)]
pub(crate) struct DatabaseNow {
    seconds: f64,
    /// The same offset as an SQLite date modifier (`+720.000 seconds`).
    modifier: String,
}

impl DatabaseNow {
    fn shifted(seconds: f64) -> DatabaseNow {
        DatabaseNow {
            seconds,
            modifier: format!("{seconds:+.3} seconds"),
        }
    }
}

impl diesel::Expression for DatabaseNow {
    type SqlType = Timestamp;
}

impl<QS> diesel::AppearsOnTable<QS> for DatabaseNow {}

impl<QS> diesel::SelectableExpression<QS> for DatabaseNow {}

impl QueryFragment<diesel::pg::Pg> for DatabaseNow {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("((statement_timestamp() AT TIME ZONE 'UTC') + make_interval(secs => ");
        out.push_bind_param::<Double, _>(&self.seconds)?;
        out.push_sql("))");
        Ok(())
    }
}

impl QueryFragment<diesel::sqlite::Sqlite> for DatabaseNow {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::sqlite::Sqlite>) -> QueryResult<()> {
        out.push_sql("strftime('%Y-%m-%d %H:%M:%f', 'now', ");
        out.push_bind_param::<Text, _>(&self.modifier)?;
        out.push_sql(")");
        Ok(())
    }
}

/// The database's "now", as an expression for diesel's DSL.
pub(crate) fn now() -> DatabaseNow {
    DatabaseNow::shifted(0.0)
}

/// The database's "now" plus `offset`, as an expression for diesel's DSL.
pub(crate) fn later(offset: Duration) -> DatabaseNow {
    DatabaseNow::shifted(seconds(offset))
}
