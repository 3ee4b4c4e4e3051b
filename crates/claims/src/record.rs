//! The record step: write the outcome of an action already taken, retrying while the store is
//! away. An email the SMTP server accepted, or an event a receiver took, must not be sent again
//! because its outcome could not be written. [`record`] runs the write on the blocking pool until
//! it succeeds, retrying every [`RECORD_RETRY`] while the store fails; after shutdown is asked
//! for, for at most the given grace, and then gives the outcome up (its claim runs out and the
//! work is done again: at least once, never lost).

use std::time::Duration;

use issue_tracker_persistence::{Database, StoreError};
use tokio::sync::watch;

/// How often an outcome that could not be written is tried again. Short, so that when the
/// database comes back the outcome is written before another worker can take the expired lease.
pub const RECORD_RETRY: Duration = Duration::from_millis(250);

/// How a [`record`] ended.
#[derive(Debug)]
pub enum Recorded<T> {
    /// The write ran; what it returned (whether the claim was still current is the caller's to
    /// read from it), and how many tries failed before.
    Written {
        /// The write's result.
        value: T,
        /// Failed tries before it.
        failures: u32,
    },
    /// Shutdown was asked for and the grace passed before the write could run.
    GaveUp {
        /// Failed tries.
        failures: u32,
    },
    /// The write panicked (a bug, logged by the caller): not tried again.
    Panicked(String),
}

/// Runs `write` on the blocking pool until it returns `Ok`, retrying every [`RECORD_RETRY`]
/// while it fails; `failed` hears of each failure (the caller logs, and may note that an outcome
/// is pending). After `shutdown` turns true, tries for at most `grace` more.
pub async fn record<T, F>(
    db: &Database,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
    write: F,
    mut failed: impl FnMut(u32, &StoreError),
) -> Recorded<T>
where
    F: Fn(&Database) -> Result<T, StoreError> + Clone + Send + 'static,
    T: Send + 'static,
{
    let mut failures = 0u32;
    let mut stopping_since: Option<tokio::time::Instant> = None;
    loop {
        let (db, write) = (db.clone(), write.clone());
        match tokio::task::spawn_blocking(move || write(&db)).await {
            Ok(Ok(value)) => return Recorded::Written { value, failures },
            Ok(Err(error)) => {
                failures += 1;
                failed(failures, &error);
            }
            Err(error) => return Recorded::Panicked(error.to_string()),
        }
        if *shutdown.borrow() {
            let since = *stopping_since.get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() >= grace {
                return Recorded::GaveUp { failures };
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RECORD_RETRY) => {}
            _ = shutdown.changed(), if !*shutdown.borrow() => {}
        }
    }
}

/// Whether a failure is worth a log line: the first three, then every fortieth (ten seconds of
/// retries), so that a long outage does not flood the log.
pub fn worth_logging(failures: u32) -> bool {
    failures <= 3 || failures.is_multiple_of(40)
}
