//! The fan-out: one pending delivery per endpoint that wants an event, written in the event's
//! own transaction.

use super::*;

/// Writes one pending delivery per active endpoint that wants the event just inserted on this
/// connection: PostgreSQL's `currval` (this session's), SQLite's newest event (writers are
/// serialised; `last_insert_rowid()` would move with each delivery the statement inserts). A query
/// type of its own so that diesel keeps it prepared.
#[derive(Debug, Clone, Copy, QueryId)]
pub(crate) struct FanOut {
    /// `%"<event type>"%`: matches the type in the endpoint's JSON list.
    pattern: &'static str,
}

impl FanOut {
    /// `%"<name>"%` for a type: made once per type from the domain's names (no allocation
    /// per event).
    pub(crate) fn pattern_of(event_type: EventType) -> &'static str {
        static PATTERNS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
            EventType::ALL
                .iter()
                .map(|t| format!("%\"{}\"%", t.as_str()))
                .collect()
        });
        let index = EventType::ALL
            .iter()
            .position(|t| *t == event_type)
            .expect("ALL lists every event type");
        &PATTERNS[index]
    }

    pub(crate) fn new(event_type: EventType) -> FanOut {
        FanOut {
            pattern: Self::pattern_of(event_type),
        }
    }
}

impl FanOut {
    /// The statement in either dialect: `newest_event` is the SQL naming the event just inserted.
    fn walk<'b, DB>(
        &'b self,
        mut out: AstPass<'_, 'b, DB>,
        backend: crate::Backend,
        newest_event: &str,
    ) -> QueryResult<()>
    where
        DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<Text>,
        &'static str: diesel::serialize::ToSql<Text, DB>,
    {
        let now = clock::now_text(backend);
        out.push_sql(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, \
             next_attempt_at, created_at) SELECT id, ",
        );
        out.push_sql(newest_event);
        out.push_sql(", 'pending', 0, ");
        out.push_sql(now);
        out.push_sql(", ");
        out.push_sql(now);
        // Endpoints wanting the event.
        out.push_sql(" FROM webhooks WHERE active AND (events = '[\"*\"]' OR events LIKE ");
        out.push_bind_param::<Text, _>(&self.pattern)?;
        out.push_sql(")");
        Ok(())
    }
}

impl QueryFragment<diesel::pg::Pg> for FanOut {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        self.walk(out, crate::Backend::Postgres, "currval('events_id_seq')")
    }
}

impl QueryFragment<diesel::sqlite::Sqlite> for FanOut {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, diesel::sqlite::Sqlite>) -> QueryResult<()> {
        self.walk(out, crate::Backend::Sqlite, "(SELECT max(id) FROM events)")
    }
}

impl RunQueryDsl<diesel::pg::PgConnection> for FanOut {}
impl RunQueryDsl<diesel::sqlite::SqliteConnection> for FanOut {}

/// Writes the deliveries of the event just inserted, on either database.
pub(crate) trait FanOutConnection {
    /// Runs [`FanOut`] for an event of this type.
    fn fan_out(&mut self, event_type: EventType) -> QueryResult<()>;
}

impl FanOutConnection for diesel::pg::PgConnection {
    fn fan_out(&mut self, event_type: EventType) -> QueryResult<()> {
        FanOut::new(event_type).execute(self).map(|_| ())
    }
}

impl FanOutConnection for diesel::sqlite::SqliteConnection {
    /// SQLite: only when an endpoint is active. An `INSERT ... SELECT` costs a write statement
    /// even when it inserts nothing (a third of the `POST` rate, measured), a read costs a few
    /// microseconds. Writers are serialised, so no endpoint can appear in between.
    fn fan_out(&mut self, event_type: EventType) -> QueryResult<()> {
        let any: bool = diesel::select(diesel::dsl::exists(
            webhooks::table.filter(webhooks::active.eq(true)),
        ))
        .get_result(self)?;
        if any {
            FanOut::new(event_type).execute(self)?;
        }
        Ok(())
    }
}
