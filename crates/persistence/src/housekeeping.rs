//! SQLite's maintenance threads: the search index kept up to date and the WAL checkpointed, in
//! the background, by the process that holds the database. Nothing on PostgreSQL.

use crate::Database;

impl Database {
    /// On SQLite, in the background: brings the search index up to date every 50 ms (see
    /// `Database::index_pending_search`; batches of up to 200 issues, without a pause while a full
    /// batch was found); and, on a thread of its own, checkpoints the WAL every 100 ms without
    /// blocking writers, so that a commit seldom meets a checkpoint of its own (SQLite runs one in the
    /// committing connection when the WAL reaches `wal_autocheckpoint` pages; with its `fsync`s that
    /// commit took 30 to 70 ms, and every request of its group waited). Not on the indexer's pauses,
    /// as it was: under sustained writes the indexer finds a full batch every time and never pauses,
    /// and a slow checkpoint `fsync` would hold up the indexing. Nothing on PostgreSQL.
    pub fn spawn_sqlite_housekeeping(&self) {
        if self.backend() != crate::Backend::Sqlite {
            return;
        }
        const BATCH: i64 = 200;
        const TICK: std::time::Duration = std::time::Duration::from_millis(50);
        const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
        let indexer = self.clone();
        std::thread::Builder::new()
            .name("sqlite-search-index".into())
            .spawn(move || loop {
                match indexer.index_pending_search(BATCH) {
                    Ok(done) if done as i64 == BATCH => continue,
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "search index: cannot bring it up to date; retrying")
                    }
                }
                std::thread::sleep(TICK);
            })
            .expect("start the SQLite search index thread");
        let checkpointer = self.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || loop {
                if let Err(error) = checkpointer.checkpoint() {
                    tracing::warn!(%error, "WAL checkpoint failed; retrying");
                }
                std::thread::sleep(CHECKPOINT_EVERY);
            })
            .expect("start the SQLite checkpoint thread");
    }
}
