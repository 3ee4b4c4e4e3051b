//! SQLite's search index, brought up to date in batches (PostgreSQL's trigram indexes need no
//! help).

use super::*;

impl Database {
    /// SQLite: moves up to `limit` issues written since the last call into the search index, in
    /// one transaction (written in batches, the index costs a few microseconds an issue instead
    /// of a segment per request); returns how many. Searches are right whether or not this runs:
    /// issues not indexed yet are read from the table. Nothing to do on PostgreSQL.
    pub fn index_pending_search(&self, limit: i64) -> Result<usize, StoreError> {
        let Database::Sqlite(store) = self else {
            return Ok(0);
        };
        {
            // Most calls find nothing: look without the write lock.
            let conn = &mut *store.pool.get()?;
            let any: bool = diesel::select(diesel::dsl::exists(
                issues_search_pending::table.select(issues_search_pending::issue_id),
            ))
            .get_result(conn)?;
            if !any {
                return Ok(0);
            }
        }
        const BATCH: &str = "SELECT issue_id FROM issues_search_pending ORDER BY issue_id LIMIT ?1";
        let _guard = self.write_guard();
        let conn = &mut *store.pool.get()?;
        Ok(conn.immediate_transaction(|conn| {
            diesel::sql_query(format!(
                "DELETE FROM issues_search WHERE rowid IN ({BATCH})"
            ))
            .bind::<BigInt, _>(limit)
            .execute(conn)?;
            diesel::sql_query(format!(
                "INSERT INTO issues_search (rowid, title, description) \
                 SELECT id, title, description FROM issues WHERE id IN ({BATCH})"
            ))
            .bind::<BigInt, _>(limit)
            .execute(conn)?;
            diesel::sql_query(format!(
                "DELETE FROM issues_search_pending WHERE issue_id IN ({BATCH})"
            ))
            .bind::<BigInt, _>(limit)
            .execute(conn)
        })?)
    }
}
