//! What the stores answer when something goes wrong, with its cause kept.

/// Why the database is unavailable: the pool's or the driver's own error, kept as the source, or
/// a description where there is none.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong in the store. Each variant keeps its cause as `source()`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had in time: the database is down or saturated.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// A unique constraint refused the write (e.g. a taken username).
    #[error("already exists")]
    Conflict,
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[source] diesel::result::Error),
    /// Migrations could not be read or applied.
    #[error("migrations failed: {0}")]
    Migration(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        match error {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => StoreError::Conflict,
            // The connection was lost (the server restarted, or dropped it): the database is
            // unavailable for this request, not wrong.
            // Or it reaches a server that turned read-only (a primary demoted in a failover,
            // SQLSTATE 25006): the pool drops that connection (pg_pool.rs) and the next one
            // finds the writable host.
            diesel::result::Error::DatabaseError(
                kind @ (diesel::result::DatabaseErrorKind::ClosedConnection
                | diesel::result::DatabaseErrorKind::UnableToSendCommand
                | diesel::result::DatabaseErrorKind::ReadOnlyTransaction),
                info,
            ) => StoreError::Unavailable(format!("{kind:?}: {}", info.message()).into()),
            other => StoreError::Query(other),
        }
    }
}

impl From<r2d2_error::PoolError> for StoreError {
    fn from(error: r2d2_error::PoolError) -> Self {
        StoreError::Unavailable(Box::new(error))
    }
}

mod r2d2_error {
    pub use diesel::r2d2::PoolError;
}
