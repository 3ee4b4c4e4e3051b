//! "Now" as the database sees it. Due times (`send_after`, leases, report periods) are written and
//! compared with the database's clock inside the statements, so that a process whose own clock is
//! off neither sends early nor holds emails back. On SQLite the database lives in the process, so
//! its clock is the process's.

use std::time::Duration;

use diesel::dsl::sql;
use diesel::expression::SqlLiteral;
use diesel::sql_types::Timestamp;

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

/// SQL for the database's current UTC time plus `offset`.
pub(crate) fn later_text(backend: Backend, offset: Duration) -> String {
    shifted_text(backend, seconds(offset))
}

/// SQL for the database's current UTC time minus `offset`.
pub(crate) fn earlier_text(backend: Backend, offset: Duration) -> String {
    shifted_text(backend, -seconds(offset))
}

/// The database's "now", as an expression for diesel's DSL.
pub(crate) fn now(backend: Backend) -> SqlLiteral<Timestamp> {
    sql::<Timestamp>(now_text(backend))
}

/// The database's "now" plus `offset`, as an expression for diesel's DSL.
pub(crate) fn later(backend: Backend, offset: Duration) -> SqlLiteral<Timestamp> {
    sql::<Timestamp>(&later_text(backend, offset))
}
