//! A `LIMIT` written as a literal on SQLite (see `LoadPage` in issues.rs for why).

use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::BigInt;
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel::{QueryResult, RunQueryDsl};

/// The literal limit of every page of up to this many rows.
pub(crate) const LITERAL_LIMIT: i64 = 100;

/// `query LIMIT <limit> OFFSET ?`, the limit spelled out in the SQL. `query` must have no limit
/// or offset of its own.
pub(crate) struct LiteralLimit<Q> {
    pub query: Q,
    pub limit: i64,
    pub offset: i64,
}

impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for LiteralLimit<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        // An i64 printed by Rust: digits and a sign only, nothing to escape.
        out.push_sql(&format!(" LIMIT {} OFFSET ", self.limit));
        out.push_bind_param::<BigInt, _>(&self.offset)?;
        Ok(())
    }
}

impl<Q> QueryId for LiteralLimit<Q> {
    type QueryId = ();
    // Cached by its SQL text, which holds the limit.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for LiteralLimit<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> RunQueryDsl<SqliteConnection> for LiteralLimit<Q> {}
