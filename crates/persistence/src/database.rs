//! The stores' entry: `Database`, a PostgreSQL or a SQLite pool, how each is opened and set
//! up (SQLite's pragmas, PostgreSQL's pool), migrations, and the two dispatch macros that run one
//! body of diesel code on either backend's connection.

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};

use crate::pg_pool::PgManager;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::StoreError;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Which database engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite (the embedded default).
    Sqlite,
}

impl Backend {
    /// How raw SQL names the first bound parameter.
    pub(crate) fn first_parameter(self) -> &'static str {
        match self {
            Backend::Postgres => "$1",
            Backend::Sqlite => "?1",
        }
    }
}

/// Pool sizing.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections held.
    pub max_size: u32,
    /// How long a caller waits for a free connection.
    pub timeout: Duration,
    /// PostgreSQL is reached through a pooler in transaction mode (PgBouncer): consecutive
    /// transactions of one connection may run on different server sessions, so no prepared
    /// statement is kept on the server (each query is sent with its parameters in one message).
    pub transaction_pooling: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_size: 16,
            timeout: Duration::from_secs(5),
            transaction_pooling: false,
        }
    }
}

/// A pool of connections to one database. Cheap to clone.
#[derive(Clone)]
pub enum Database {
    /// PostgreSQL pool.
    Postgres(Pool<PgManager>),
    /// SQLite pool, and the lock that lets one writer at a time in.
    Sqlite(SqliteStore),
}

/// SQLite allows one writer at a time; when two collide, the loser sleeps in `busy_timeout`
/// steps of up to 100 ms. Queuing this process's writers on a mutex instead keeps write latency
/// flat. (Other processes, such as the admin CLI, still rely on `busy_timeout`.)
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: Pool<ConnectionManager<SqliteConnection>>,
    pub(crate) writer: std::sync::Arc<crate::group_commit::Writer>,
    /// Tells this database's read snapshot from another's (see `snapshot`).
    pub(crate) identity: std::sync::Arc<()>,
}

/// Held while writing to SQLite; nothing on PostgreSQL.
pub(crate) type WriteGuard<'a> =
    Option<std::sync::MutexGuard<'a, crate::group_commit::WriterState>>;

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Database({:?})", self.backend())
    }
}

/// Runs `$body` with `$conn` bound to a pooled connection of whichever backend `$db` is; the body
/// is compiled once per backend.
#[macro_export]
#[doc(hidden)]
macro_rules! with_conn {
    ($db:expr, |$conn:ident| $body:expr) => {
        match $db {
            $crate::Database::Postgres(pool) => {
                let $conn: &mut diesel::pg::PgConnection = &mut *pool.get()?;
                $body
            }
            $crate::Database::Sqlite(store) => {
                // The open read snapshot's connection, if any (see `snapshot`).
                let $conn: &mut diesel::sqlite::SqliteConnection = &mut *store.reader()?;
                $body
            }
        }
    };
}

/// Like [`with_conn!`], for writes: on SQLite, takes the write lock before the connection (always
/// in that order, so that writers waiting for the lock never hold connections others need), and
/// never a read snapshot's connection.
#[macro_export]
#[doc(hidden)]
macro_rules! with_write_conn {
    ($db:expr, |$conn:ident| $body:expr) => {{
        let _guard = $db.write_guard();
        match $db {
            $crate::Database::Postgres(pool) => {
                let $conn: &mut diesel::pg::PgConnection = &mut *pool.get()?;
                $body
            }
            $crate::Database::Sqlite(store) => {
                let $conn: &mut diesel::sqlite::SqliteConnection = &mut *store.pool.get()?;
                $body
            }
        }
    }};
}

/// Sets up each new SQLite connection: WAL for concurrent readers, a busy timeout instead of
/// instant "database is locked" errors, and foreign keys (off by default in SQLite). A page cache
/// of 256 KiB per connection instead of SQLite's 2 MB: each connection of the pool keeps its own
/// in this process, and under reads they filled (16 connections took the server's peak RSS from
/// 38 to 47 MB in the side-by-side benchmark); a page beyond it is read again from the kernel's
/// page cache, which holds the file once. Temporary
/// storage in memory: a group commit runs each member in a savepoint, whose statement journal
/// SQLite spills to a temporary file past 64 KiB; with a group of ten that was 35 `pwrite`s a
/// created issue (counted with `perf stat`), against 6 in memory, and 8 to 15 % more creations
/// per second.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 10000; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -256;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// A migration's error, or the database's while migrating (what `Connection::transaction` needs).
struct MigrationFailed(Box<dyn std::error::Error + Send + Sync>);

impl From<diesel::result::Error> for MigrationFailed {
    fn from(error: diesel::result::Error) -> Self {
        MigrationFailed(Box::new(error))
    }
}

fn postgres_pool(settings: PoolSettings) -> diesel::r2d2::Builder<PgManager> {
    // Each connection is tested before it is handed out, unless it is in constant use (see
    // `pg_pool`).
    Pool::builder()
        .max_size(settings.max_size)
        .connection_timeout(settings.timeout)
}

impl Database {
    /// Opens a pool for a PostgreSQL URL. Connections are made lazily, but one is tried now so that
    /// a wrong URL fails at start-up.
    pub fn connect_postgres(url: &str, settings: PoolSettings) -> Result<Database, StoreError> {
        // Every connection is opened up front: opening one under load stalls requests.
        let pool = postgres_pool(settings)
            .min_idle(Some(settings.max_size))
            .build(PgManager::new(url, settings.transaction_pooling))
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        Ok(Database::Postgres(pool))
    }

    /// Opens a pool for a PostgreSQL URL without connecting: connections are opened in the
    /// background and retried, so a worker or beat started while PostgreSQL is down (or short of
    /// connections) keeps running and gets its connections when they can be had.
    pub fn connect_postgres_lazily(url: &str, settings: PoolSettings) -> Database {
        let pool = postgres_pool(settings)
            .min_idle(Some(0))
            .build_unchecked(PgManager::new(url, settings.transaction_pooling));
        Database::Postgres(pool)
    }

    /// Opens (creating if needed) a SQLite file, and its parent folder.
    pub fn connect_sqlite(path: &Path, settings: PoolSettings) -> Result<Database, StoreError> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Unavailable(
                        format!("cannot create {}: {e}", parent.display()).into(),
                    )
                })?;
            }
        }
        let url = path.to_string_lossy().into_owned();
        // WAL is a property of the file: set it once, from one connection, before the pool opens
        // several (switching modes from many connections at once fails with "database is locked").
        {
            use diesel::Connection;
            let mut conn = SqliteConnection::establish(&url)
                .map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}").into()))?;
            conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
        }
        let pool = Pool::builder()
            .max_size(settings.max_size)
            .connection_timeout(settings.timeout)
            .connection_customizer(Box::new(SqlitePragmas))
            // r2d2 would run `SELECT 1` on every checkout to test the connection; SQLite parses
            // it anew each time (it ran on every request). A SQLite connection is a file handle
            // in this process: it does not go stale as a network connection does.
            .test_on_check_out(false)
            .build(ConnectionManager::<SqliteConnection>::new(url))
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        Ok(Database::Sqlite(SqliteStore {
            pool,
            writer: Default::default(),
            identity: Default::default(),
        }))
    }

    /// The engine behind this pool.
    pub fn backend(&self) -> Backend {
        match self {
            Database::Postgres(_) => Backend::Postgres,
            Database::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Open and idle connections of the pool.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = match self {
            Database::Postgres(pool) => pool.state(),
            Database::Sqlite(store) => store.pool.state(),
        };
        (state.connections, state.idle_connections)
    }

    /// The pool's size.
    pub fn max_connections(&self) -> u32 {
        match self {
            Database::Postgres(pool) => pool.max_size(),
            Database::Sqlite(store) => store.pool.max_size(),
        }
    }

    /// Applies every pending migration; returns the versions applied.
    pub fn run_migrations(&self) -> Result<Vec<String>, StoreError> {
        let applied = match self {
            Database::Postgres(pool) => {
                use diesel::Connection;
                let conn = &mut *pool.get()?;
                // One migrator at a time across processes, and all pending migrations or none.
                // The lock is the transaction's, not the session's: behind a transaction-mode
                // pooler a session lock would stay with whichever server session took it, and an
                // unlock could reach another one.
                conn.transaction(|conn| {
                    conn.batch_execute("SELECT pg_advisory_xact_lock(727274)")?;
                    conn.run_pending_migrations(POSTGRES_MIGRATIONS)
                        .map(|versions| versions.iter().map(|v| v.to_string()).collect())
                        .map_err(MigrationFailed)
                })
                .map_err(|error: MigrationFailed| error.0)
            }
            Database::Sqlite(store) => {
                let _guard = self.write_guard();
                let conn = &mut *store.pool.get()?;
                conn.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(|versions| versions.iter().map(|v| v.to_string()).collect())
            }
        };
        applied.map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// The versions of the migrations not yet applied.
    pub fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let pending = with_conn!(self, |conn| {
            let source = match self {
                Database::Postgres(_) => POSTGRES_MIGRATIONS,
                Database::Sqlite(_) => SQLITE_MIGRATIONS,
            };
            conn.pending_migrations(source).map(|list| {
                list.iter()
                    .map(|m| m.name().to_string())
                    .collect::<Vec<_>>()
            })
        });
        pending.map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// SQLite: copies the WAL's new pages into the database file without blocking writers
    /// (`PRAGMA wal_checkpoint(PASSIVE)`), so that requests seldom meet a checkpoint of their own;
    /// returns the WAL's length in pages. Nothing on PostgreSQL.
    pub fn checkpoint(&self) -> Result<i64, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Checkpoint {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            log: i64,
        }
        let Database::Sqlite(store) = self else {
            return Ok(0);
        };
        let conn = &mut *store.pool.get()?;
        let row: Checkpoint = diesel::RunQueryDsl::get_result(
            diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)"),
            conn,
        )?;
        Ok(row.log)
    }

    /// On SQLite, waits for this process's write lock; call before taking a connection.
    pub(crate) fn write_guard(&self) -> WriteGuard<'_> {
        debug_assert!(
            !crate::snapshot::reading_in_place(),
            "a write among reads run in place"
        );
        match self {
            Database::Postgres(_) => None,
            Database::Sqlite(store) => Some(store.writer.lock()),
        }
    }

    /// Checks that a connection can be had and answers a trivial query.
    pub fn ping(&self) -> Result<(), StoreError> {
        with_conn!(self, |conn| conn.batch_execute("SELECT 1")?);
        Ok(())
    }
}

/// Creates an empty PostgreSQL database `name` through the server `admin_url` points at (tests
/// and benchmarks make one per run). `name` must be a plain identifier.
pub fn create_postgres_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    on_postgres_server(admin_url, &format!("CREATE DATABASE {}", identifier(name)))
}

/// Drops a PostgreSQL database, closing its connections first.
pub fn drop_postgres_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    on_postgres_server(
        admin_url,
        &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", identifier(name)),
    )
}

/// Closes every connection to a PostgreSQL database but the caller's, as a restart or a failover
/// of the server would.
pub fn close_postgres_connections(admin_url: &str, name: &str) -> Result<(), StoreError> {
    on_postgres_server(
        admin_url,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            identifier(name)
        ),
    )
}

/// `name`, checked to be a plain identifier (it is written into the statement).
fn identifier(name: &str) -> &str {
    assert!(
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "bad database name"
    );
    name
}

fn on_postgres_server(admin_url: &str, statement: &str) -> Result<(), StoreError> {
    use diesel::Connection;
    let mut conn = PgConnection::establish(admin_url).map_err(|e| {
        StoreError::Unavailable(format!("cannot connect to {admin_url}: {e}").into())
    })?;
    conn.batch_execute(statement)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;

    use crate::{Database, PoolSettings};

    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = BigInt)]
        value: i64,
    }

    /// `PRAGMA name`'s value, from the column SQLite names `column`.
    fn pragma(conn: &mut SqliteConnection, name: &str, column: &str) -> i64 {
        diesel::sql_query(format!("SELECT {column} AS value FROM pragma_{name}()"))
            .get_result::<Setting>(conn)
            .unwrap()
            .value
    }

    /// Every connection the pool hands out is set up, not only the first: the page cache bound is
    /// what keeps the server's memory flat as connections fill theirs.
    #[test]
    fn every_pooled_sqlite_connection_is_set_up() {
        let dir = std::env::temp_dir().join(format!("pragmas-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db =
            Database::connect_sqlite(&dir.join("db.sqlite3"), PoolSettings::default()).unwrap();
        let Database::Sqlite(store) = &db else {
            unreachable!()
        };
        let mut held = Vec::new();
        for _ in 0..store.pool.max_size() {
            let mut conn = store.pool.get().unwrap();
            let cache = pragma(&mut conn, "cache_size", "cache_size");
            assert_eq!(cache, -256, "KiB of page cache");
            let temp = pragma(&mut conn, "temp_store", "temp_store");
            assert_eq!(temp, 2, "temporary storage in memory");
            assert_eq!(pragma(&mut conn, "foreign_keys", "foreign_keys"), 1);
            assert_eq!(pragma(&mut conn, "busy_timeout", "timeout"), 10_000);
            held.push(conn);
        }
        drop(held);
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
