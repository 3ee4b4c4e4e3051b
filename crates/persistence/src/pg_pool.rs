//! PostgreSQL connections for r2d2, tested before reuse only when they may have gone stale.
//!
//! r2d2 tests every connection it hands out with a `SELECT 1` round trip. A request takes a
//! connection two or three times (its token, then its work), so that was up to three extra round
//! trips a request: skipping the test for connections in constant use took `GET` of one issue
//! from about 5,900 to 8,500 req/s on the 2-core machine. As HikariCP does (its "alive bypass
//! window"), a connection given back less than [`RECENT`] ago, with no failed statement since
//! it was last known good, is handed out untested; any other is tested first, and replaced when
//! the test fails.
//!
//! A connection whose server refused a write as read-only (SQLSTATE 25006: the primary was
//! demoted in a failover, or turned read-only) is dropped when it is given back: the next
//! connection goes through libpq's `target_session_attrs=read-write` to the writable host.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{CacheSize, Connection, Instrumentation, InstrumentationEvent};
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection, R2D2Connection};

/// How recently a connection must have been given back to be handed out untested.
pub const RECENT: Duration = Duration::from_millis(500);

/// Opens and vets the pool's PostgreSQL connections.
pub struct PgManager {
    connections: ConnectionManager<PgConnection>,
    /// Behind a transaction-mode pooler: no prepared statement kept on the server.
    transaction_pooling: bool,
}

impl PgManager {
    pub(crate) fn new(url: &str, transaction_pooling: bool) -> PgManager {
        PgManager {
            connections: ConnectionManager::new(url),
            transaction_pooling,
        }
    }
}

/// A pooled PostgreSQL connection: the connection itself (through `Deref`), and what the pool
/// knows of its health.
pub struct PgSession {
    conn: PgConnection,
    /// When the pool last had it back.
    given_back: Instant,
    /// Set by the connection's instrumentation when a statement fails.
    failed: Arc<AtomicBool>,
    /// Set when its server refused a write as read-only.
    read_only: Arc<AtomicBool>,
}

impl std::ops::Deref for PgSession {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PgSession {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

/// Notes a failed statement (a lost connection shows first as one), and a refusal to write.
struct NoteFailures {
    failed: Arc<AtomicBool>,
    read_only: Arc<AtomicBool>,
}

impl Instrumentation for NoteFailures {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::FinishQuery {
            error: Some(error), ..
        } = event
        {
            self.failed.store(true, Ordering::Relaxed);
            if matches!(
                error,
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ReadOnlyTransaction,
                    _
                )
            ) {
                self.read_only.store(true, Ordering::Relaxed);
            }
        }
    }
}

impl ManageConnection for PgManager {
    type Connection = PgSession;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgSession, Self::Error> {
        let mut conn = self.connections.connect()?;
        if self.transaction_pooling {
            // A named statement prepared in one server session is missing (or already exists)
            // in the next transaction's; without the cache diesel sends each query as one
            // unnamed Parse/Bind/Execute, which a transaction pooler forwards whole.
            conn.set_prepared_statement_cache_size(CacheSize::Disabled);
        }
        let failed = Arc::new(AtomicBool::new(false));
        let read_only = Arc::new(AtomicBool::new(false));
        conn.set_instrumentation(NoteFailures {
            failed: Arc::clone(&failed),
            read_only: Arc::clone(&read_only),
        });
        Ok(PgSession {
            conn,
            given_back: Instant::now(),
            failed,
            read_only,
        })
    }

    fn is_valid(&self, session: &mut PgSession) -> Result<(), Self::Error> {
        let suspect = session.failed.swap(false, Ordering::Relaxed);
        if !suspect && session.given_back.elapsed() < RECENT {
            return Ok(());
        }
        session.conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, session: &mut PgSession) -> bool {
        session.given_back = Instant::now();
        session.read_only.load(Ordering::Relaxed) || self.connections.has_broken(&mut session.conn)
    }
}
