//! Read snapshots: several reads of one request on one SQLite connection, in one read
//! transaction.
//!
//! Each SQLite statement outside a transaction opens and closes a read transaction of its own,
//! and each of those takes and drops a lock in the WAL's shared-memory index: a `fcntl` system
//! call and a process-wide mutex whenever no other connection of the process holds the same
//! lock. A profile of `GET /api/issue/{id}/` on SQLite put 12 % of the server's time there (two
//! statements per request: the token, then the issue), and each statement also took a
//! connection from the pool and gave it back. In a snapshot, the first read takes the lock and
//! the connection, the last gives them back; the reads also agree with each other (a token
//! revoked between them cannot be seen valid by one and not by the other).
//!
//! How: the connection is parked in a thread-local while the snapshot is open, and
//! [`with_conn!`](crate::with_conn) takes it from there instead of from the pool. Writes never
//! use it (they go through the write lock and a connection of their own), so a write inside a
//! snapshot is committed, but the snapshot's later reads do not see it: snapshots are for
//! requests that only read. On PostgreSQL a snapshot changes nothing: each statement is one
//! round trip either way, and a transaction would add two.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::r2d2::{ConnectionManager, PooledConnection};
use diesel::sqlite::SqliteConnection;

use crate::database::{Database, SqliteStore};
use crate::error::StoreError;

type PooledSqlite = PooledConnection<ConnectionManager<SqliteConnection>>;

/// The open snapshot's connection, and which database it belongs to.
struct Pinned {
    database: Arc<()>,
    conn: PooledSqlite,
}

thread_local! {
    static PINNED: RefCell<Option<Pinned>> = const { RefCell::new(None) };
    /// Set while reads run in place (see [`Database::try_read_in_place`]): a write there would
    /// wait for the write lock on the server's event loop.
    static IN_PLACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is running reads in place; writes check it (in debug builds) to catch a
/// write slipped into such reads.
pub(crate) fn reading_in_place() -> bool {
    IN_PLACE.with(|flag| flag.get())
}

/// A SQLite connection for one query: the open snapshot's, or one from the pool.
#[doc(hidden)]
pub struct SqliteCheckout(Checkout);

enum Checkout {
    /// Taken from the pool; goes back when dropped.
    Pooled(PooledSqlite),
    /// Taken from this thread's snapshot; goes back to it when dropped.
    Pinned(Option<Pinned>),
}

impl SqliteStore {
    /// A connection for a read: the snapshot's, when this thread has one open on this database
    /// (and no other query of it holds it), otherwise one from the pool.
    #[doc(hidden)]
    pub fn reader(&self) -> Result<SqliteCheckout, StoreError> {
        let pinned = PINNED.with(|slot| {
            let mut slot = slot.borrow_mut();
            match &*slot {
                Some(pinned) if Arc::ptr_eq(&pinned.database, &self.identity) => slot.take(),
                _ => None,
            }
        });
        match pinned {
            Some(pinned) => Ok(SqliteCheckout(Checkout::Pinned(Some(pinned)))),
            None => Ok(SqliteCheckout(Checkout::Pooled(self.pool.get()?))),
        }
    }
}

impl Deref for SqliteCheckout {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match &self.0 {
            Checkout::Pooled(conn) => conn,
            Checkout::Pinned(pinned) => &pinned.as_ref().expect("held until dropped").conn,
        }
    }
}

impl DerefMut for SqliteCheckout {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match &mut self.0 {
            Checkout::Pooled(conn) => conn,
            Checkout::Pinned(pinned) => &mut pinned.as_mut().expect("held until dropped").conn,
        }
    }
}

impl Drop for SqliteCheckout {
    fn drop(&mut self) {
        if let Checkout::Pinned(pinned) = &mut self.0 {
            let pinned = pinned.take();
            PINNED.with(|slot| *slot.borrow_mut() = pinned);
        }
    }
}

/// Closes the snapshot however its work ends (a panic included): the read transaction is
/// ended before the connection goes back to the pool.
struct OpenSnapshot;

impl Drop for OpenSnapshot {
    fn drop(&mut self) {
        if let Some(mut pinned) = PINNED.with(|slot| slot.borrow_mut().take()) {
            if AnsiTransactionManager::commit_transaction(&mut *pinned.conn).is_err() {
                // Left in a transaction, the connection is discarded by the pool (diesel's
                // manager reports it broken) instead of being handed out.
                let _ = AnsiTransactionManager::rollback_transaction(&mut *pinned.conn);
            }
        }
    }
}

/// Begins the read transaction on `conn` and parks it for this thread's reads; the snapshot
/// closes when the returned guard is dropped.
fn open_snapshot(store: &SqliteStore, mut conn: PooledSqlite) -> Result<OpenSnapshot, StoreError> {
    AnsiTransactionManager::begin_transaction(&mut *conn)?;
    PINNED.with(|slot| {
        *slot.borrow_mut() = Some(Pinned {
            database: Arc::clone(&store.identity),
            conn,
        })
    });
    Ok(OpenSnapshot)
}

fn snapshot_open() -> bool {
    PINNED.with(|slot| slot.borrow().is_some())
}

impl Database {
    /// Runs `reads` with every read of this thread on this database in one snapshot (see the
    /// module's doc). Nested calls join the open snapshot.
    pub fn read_snapshot<T, E: From<StoreError>>(
        &self,
        reads: impl FnOnce(&Database) -> Result<T, E>,
    ) -> Result<T, E> {
        let Database::Sqlite(store) = self else {
            return reads(self);
        };
        if snapshot_open() {
            return reads(self);
        }
        let conn = store.pool.get().map_err(StoreError::from)?;
        let _open = open_snapshot(store, conn)?;
        reads(self)
    }

    /// Runs `reads` in a snapshot on this thread if it can start at once: on SQLite with an
    /// idle connection in the pool. Otherwise (PostgreSQL, whose every query is a network round
    /// trip, or no idle connection) gives `reads` back untouched, for the caller to run where
    /// waiting is allowed.
    ///
    /// For an async server's reads of a few rows by key: such a read costs a few microseconds
    /// on SQLite, less than handing it to another thread and back (measured on `GET` one issue:
    /// 24 instead of 33 to 44 microseconds of CPU a request). `reads` must not write (a debug
    /// build panics if it does); nor may it scan: it holds up every other request of its thread.
    pub fn try_read_in_place<T, E, F>(&self, reads: F) -> Result<Result<T, E>, F>
    where
        F: FnOnce(&Database) -> Result<T, E>,
        E: From<StoreError>,
    {
        let Database::Sqlite(store) = self else {
            return Err(reads);
        };
        if snapshot_open() {
            return Err(reads);
        }
        let Some(conn) = store.pool.try_get() else {
            return Err(reads);
        };
        let _open = match open_snapshot(store, conn) {
            Ok(open) => open,
            Err(error) => return Ok(Err(error.into())),
        };
        IN_PLACE.with(|flag| flag.set(true));
        let _in_place = InPlace;
        Ok(reads(self))
    }
}

/// Clears the in-place flag however the reads end.
struct InPlace;

impl Drop for InPlace {
    fn drop(&mut self) {
        IN_PLACE.with(|flag| flag.set(false));
    }
}

#[cfg(test)]
mod tests {
    use issue_tracker_domain::IssueId;

    use crate::group_commit::tests::{create, database};
    use crate::{Database, StoreError};

    fn exists(db: &Database, id: i64) -> bool {
        db.get_issue(IssueId::from_stored(id)).unwrap().is_some()
    }

    /// Reads in a snapshot do not see a write committed between them; the next snapshot does.
    #[test]
    fn a_snapshot_reads_one_instant() {
        let (db, _) = database("snapshot");
        let first = create(&db, "first", "bob").unwrap();
        let (before, during) = db
            .read_snapshot(|db| -> Result<_, StoreError> {
                let before = exists(db, first + 1);
                let writer = db.clone();
                std::thread::spawn(move || create(&writer, "second", "bob"))
                    .join()
                    .unwrap()
                    .unwrap();
                Ok((before, exists(db, first + 1)))
            })
            .unwrap();
        assert_eq!((before, during), (false, false));
        assert!(exists(&db, first + 1), "seen once the snapshot is closed");
    }

    /// In place only on SQLite with an idle connection; otherwise the reads come back unrun.
    #[test]
    fn reads_run_in_place_only_with_a_connection_free() {
        let (db, _) = database("in-place");
        let id = create(&db, "here", "bob").unwrap();
        let ran = db.try_read_in_place(|db| Ok::<_, StoreError>(exists(db, id)));
        assert!(matches!(ran, Ok(Ok(true))));
        let Database::Sqlite(store) = &db else {
            unreachable!()
        };
        let idle = store.pool.state().idle_connections as usize;
        let mut held = Vec::new();
        while let Some(conn) = store.pool.try_get() {
            held.push(conn);
        }
        assert!(held.len() >= idle);
        let unrun = db.try_read_in_place(|_| -> Result<(), StoreError> {
            unreachable!("no connection is free")
        });
        assert!(unrun.is_err(), "given back to run elsewhere");
        drop(held);
        assert!(matches!(
            db.try_read_in_place(|db| Ok::<_, StoreError>(exists(db, id))),
            Ok(Ok(true))
        ));
    }

    /// A write among reads run in place is a bug: it would wait for the write lock on the
    /// server's thread. Debug builds (the tests') stop it.
    #[test]
    #[cfg(debug_assertions)]
    fn a_write_in_place_is_caught() {
        let (db, _) = database("in-place-write");
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.try_read_in_place(|db| Ok::<_, StoreError>(create(db, "sneaky", "bob")))
        }));
        assert!(caught.is_err());
        assert!(
            db.try_read_in_place(|db| Ok::<_, StoreError>(exists(db, 1)))
                .is_ok(),
            "the thread reads in place again afterwards"
        );
    }
}
