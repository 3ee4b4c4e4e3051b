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
    pub(crate) fn pattern_of(event_type: EventType) -> &'static str {
        // One static string per type: no allocation per event.
        macro_rules! patterns {
            ($($variant:ident => $name:literal),* $(,)?) => {
                match event_type { $(EventType::$variant => concat!("%\"", $name, "\"%"),)* }
            };
        }
        patterns!(
            IssueCreated => "issue.created",
            IssueUpdated => "issue.updated",
            IssueDeleted => "issue.deleted",
            UserCreated => "user.created",
            UserUpdated => "user.updated",
            UserPasswordChanged => "user.password_changed",
            TokensRevoked => "user.tokens_revoked",
            ScopedTokenCreated => "user.token_created",
            CommentCreated => "comment.created",
            CommentEdited => "comment.edited",
            CommentDeleted => "comment.deleted",
            LabelAdded => "label.added",
            LabelRemoved => "label.removed",
        )
    }

    pub(crate) fn new(event_type: EventType) -> FanOut {
        FanOut {
            pattern: Self::pattern_of(event_type),
        }
    }
}

/// The SELECT part shared by both dialects: endpoints wanting the event.
const WANTING: &str = " FROM webhooks WHERE active AND (events = '[\"*\"]' OR events LIKE ";

impl QueryFragment<diesel::pg::Pg> for FanOut {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, \
             next_attempt_at, created_at) SELECT id, currval('events_id_seq'), 'pending', 0, \
             (statement_timestamp() AT TIME ZONE 'UTC'), (statement_timestamp() AT TIME ZONE 'UTC')",
        );
        out.push_sql(WANTING);
        out.push_bind_param::<Text, _>(&self.pattern)?;
        out.push_sql(")");
        Ok(())
    }
}

impl QueryFragment<diesel::sqlite::Sqlite> for FanOut {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::sqlite::Sqlite>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, \
             next_attempt_at, created_at) SELECT id, (SELECT max(id) FROM events), 'pending', 0, \
             strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')",
        );
        out.push_sql(WANTING);
        out.push_bind_param::<Text, _>(&self.pattern)?;
        out.push_sql(")");
        Ok(())
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
