//! SQLite writes of this process, one at a time, with group commit for the hot path.
//!
//! SQLite lets one writer in at a time, and each commit appends every page it changed to the WAL:
//! an issue with its outbox row, its event and their indexes is about fifteen pages, mostly the
//! same right-most leaves as the previous issue's. When several requests wait to write, the
//! first opens a transaction, each runs its writes in a savepoint of it (a failed one undoes only
//! its own), and the last of the queue commits for all: the shared pages go to the WAL once per
//! group instead of once per request. Nobody is answered before the group is committed, so an
//! acknowledged write is as durable as before; if the commit fails, every member gets the error.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use crate::error::StoreError;

/// Most writes in one group: bounds how long the first member waits for its answer.
const MAX_GROUP: usize = 64;
/// A group smaller than this stays open for [`LINGER`] after its last member, for more to join.
const LINGER_BELOW: usize = 16;
/// How long a small group waits for more members before it commits.
const LINGER: Duration = Duration::from_micros(200);
/// How long a member waits before checking that its group is still being closed (a member
/// that panicked last would leave it open).
const CHECK_EVERY: Duration = Duration::from_millis(20);

/// The writer of one SQLite database in this process.
#[derive(Default)]
pub struct Writer {
    state: Mutex<WriterState>,
    /// Group writers waiting for `state`: while there are some, the holder leaves the group open
    /// for them.
    waiting: AtomicUsize,
    done: Mutex<Done>,
    done_changed: Condvar,
}

/// Held while writing.
#[derive(Default)]
pub struct WriterState {
    /// The connection groups are written on (taken from the pool at the first group write).
    conn: Option<PooledConnection<ConnectionManager<SqliteConnection>>>,
    /// The open group's number.
    open: Option<u64>,
    members: usize,
    last_group: u64,
}

#[derive(Default)]
struct Done {
    /// Every group up to this one is closed.
    through: u64,
    /// Recent groups whose commit failed, with the error.
    failed: VecDeque<(u64, String)>,
}

impl Writer {
    /// Takes the write lock for a plain write (on a connection of its own): first commits the
    /// open group, if any, whose transaction would otherwise hold SQLite's lock.
    pub(crate) fn lock(&self) -> MutexGuard<'_, WriterState> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.close(&mut state);
        state
    }

    /// Runs `write` in the current group (opening one if none is open) and returns its result
    /// once the group is committed.
    pub(crate) fn write<T>(
        &self,
        pool: &Pool<ConnectionManager<SqliteConnection>>,
        write: impl FnOnce(&mut SqliteConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let mut state = state;
        if state.conn.is_none() {
            state.conn = Some(pool.get()?);
        }
        let group = match state.open {
            Some(group) => group,
            None => {
                let conn = state.conn.as_deref_mut().expect("taken above");
                AnsiTransactionManager::begin_transaction_sql(conn, "BEGIN IMMEDIATE")?;
                state.last_group += 1;
                state.open = Some(state.last_group);
                state.members = 0;
                state.last_group
            }
        };
        let conn = state.conn.as_deref_mut().expect("taken above");
        // A savepoint: a write that fails undoes only itself.
        let result = conn.transaction(write);
        state.members += 1;
        if state.members >= MAX_GROUP {
            self.close(&mut state);
        } else if self.waiting.load(Ordering::SeqCst) == 0 {
            if state.members < LINGER_BELOW {
                // Nobody is waiting right now, but under load the next writers are a few
                // microseconds away: leave the group open a moment for them to join.
                drop(state);
                std::thread::sleep(LINGER);
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.open == Some(group) && self.waiting.load(Ordering::SeqCst) == 0 {
                    self.close(&mut state);
                }
            } else {
                self.close(&mut state);
                drop(state);
            }
        } else {
            drop(state);
        }
        // A failed write has nothing in the group: its error at once.
        let value = result?;
        self.wait_for(group)?;
        Ok(value)
    }

    /// Commits the open group, if any, and tells its members.
    fn close(&self, state: &mut WriterState) {
        let Some(group) = state.open.take() else {
            return;
        };
        let conn = state.conn.as_deref_mut().expect("a group has a connection");
        let committed = AnsiTransactionManager::commit_transaction(conn);
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(error) = committed {
            tracing::warn!(%error, members = state.members, "a group of SQLite writes could not be committed");
            let _ = AnsiTransactionManager::rollback_transaction(conn);
            if done.failed.len() >= 1_024 {
                done.failed.pop_front();
            }
            done.failed.push_back((group, error.to_string()));
            // The connection may be in a bad state: the next group takes a fresh one.
            state.conn = None;
        }
        done.through = group;
        self.done_changed.notify_all();
    }

    /// Waits until `group` is closed; its commit's error if it failed.
    fn wait_for(&self, group: u64) -> Result<(), StoreError> {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        while done.through < group {
            let (next, timeout) = self
                .done_changed
                .wait_timeout(done, CHECK_EVERY)
                .unwrap_or_else(|p| p.into_inner());
            done = next;
            if timeout.timed_out() && done.through < group {
                // Nobody is closing it (its last member panicked): close it here.
                drop(done);
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.open == Some(group) && self.waiting.load(Ordering::SeqCst) == 0 {
                    self.close(&mut state);
                }
                drop(state);
                done = self.done.lock().unwrap_or_else(|p| p.into_inner());
            }
        }
        match done.failed.iter().find(|(failed, _)| *failed == group) {
            Some((_, error)) => Err(StoreError::Unavailable(format!(
                "the write could not be committed: {error}"
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use diesel::prelude::*;
    use issue_tracker_domain::{Origin, Status, Via};

    use crate::schema::issues;
    use crate::{Database, NewIssue, NewUser, PoolSettings};

    fn database(name: &str) -> (Database, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("group-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite3");
        let db = Database::connect_sqlite(&path, PoolSettings::default()).unwrap();
        db.run_migrations().unwrap();
        for name in ["ann", "bob", "gone"] {
            db.create_user(
                &NewUser {
                    username: name.into(),
                    email: String::new(),
                    password_hash: "x".into(),
                    is_staff: false,
                    is_superuser: false,
                },
                &Origin::system(Via::Cli),
            )
            .unwrap();
        }
        db.set_active("gone", false, &Origin::system(Via::Cli))
            .unwrap();
        (db, path)
    }

    fn create(db: &Database, title: &str, assignee: &str) -> Option<i64> {
        let ann = db.find_user("ann").unwrap().unwrap();
        let new = NewIssue {
            title,
            description: "d",
            status: Status::Open,
            assignee,
        };
        db.create_issue(&ann, &new, Duration::ZERO, &Origin::system(Via::Cli))
            .unwrap()
            .map(|issue| issue.id.get())
    }

    /// Sixteen threads creating at once, with members that fail (after writing) and plain writes
    /// in between: every acknowledged issue is on disk (read through a new connection after the
    /// pool is gone), nothing of a failed member is, and the writes really were grouped.
    #[test]
    fn concurrent_writers_share_commits_and_a_failed_member_undoes_only_itself() {
        let (db, path) = database("burst");
        let mut threads = Vec::new();
        for thread in 0..16 {
            let db = db.clone();
            threads.push(std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0..100 {
                    match (thread + i) % 10 {
                        // A member that writes, then fails.
                        0 => {
                            let Database::Sqlite(store) = &db else {
                                unreachable!()
                            };
                            let failed = store.writer.write(&store.pool, |conn| {
                                diesel::sql_query(
                                    "INSERT INTO issues (title, description, status, created_by_id, \
                                     assigned_to_id, created_at, updated_at) VALUES ('doomed', \
                                     '', 'open', 1, 2, '2026-01-01 00:00:00', \
                                     '2026-01-01 00:00:00')",
                                )
                                .execute(conn)?;
                                Err::<(), _>(crate::StoreError::Conflict)
                            });
                            assert!(
                                matches!(failed, Err(crate::StoreError::Conflict)),
                                "the member's own error, after its write: {failed:?}"
                            );
                        }
                        // Refused inside the group (inactive assignee): writes nothing.
                        1 => assert_eq!(create(&db, "refused", "gone"), None),
                        // A plain write, which closes any open group first.
                        2 => {
                            db.index_pending_search(50).unwrap();
                        }
                        _ => acknowledged.push(create(&db, &format!("t{thread}-{i}"), "bob").unwrap()),
                    }
                }
                acknowledged
            }));
        }
        let acknowledged: Vec<i64> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("no writer hung or panicked"))
            .collect();
        let Database::Sqlite(store) = &db else {
            unreachable!()
        };
        let groups = store.writer.state.lock().unwrap().last_group;
        drop(db);
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        let stored: Vec<(i64, String)> = issues::table
            .select((issues::id, issues::title))
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            stored.len(),
            acknowledged.len(),
            "exactly the acknowledged issues"
        );
        assert!(stored.iter().all(|(_, title)| title.starts_with('t')));
        let outbox: i64 = crate::schema::notifications::table
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(outbox as usize, acknowledged.len(), "one outbox row each");
        assert!(
            (groups as usize) < acknowledged.len(),
            "{groups} commits for {} writes: nothing was grouped",
            acknowledged.len()
        );
    }
}
