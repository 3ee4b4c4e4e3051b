//! Beat: the clock of the notification pipeline, on tokio-cron-scheduler.
//!
//! Three repeated jobs: the relay (every `RELAY_INTERVAL`, default 1 s) moves due notifications
//! to the queue; the report check (every second, or every report interval if shorter) creates the
//! reports of the current period the first time it sees that period; the digest check does the
//! same for the daily digests (periods of `DIGEST_INTERVAL` starting at `DIGEST_HOUR`). Periods are aligned to the
//! database's clock (`floor(unix seconds / interval)`), and report rows have a unique
//! `report:{user}:{period}` key, so any number of beats, restarts or missed ticks still give
//! exactly one report per user and period.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use issue_tracker_config::PipelineSettings;
use issue_tracker_domain::digest_period;
use issue_tracker_notifier::{
    create_digests, create_reports, current_period, PipelineError, Relay,
};
use issue_tracker_persistence::Database;
use issue_tracker_queue::JobQueue;
use tokio::sync::watch;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// Beat could not start its scheduler.
#[derive(Debug, thiserror::Error)]
#[error("scheduler error: {0}")]
pub struct BeatError(String);

impl From<JobSchedulerError> for BeatError {
    fn from(error: JobSchedulerError) -> Self {
        BeatError(error.to_string())
    }
}

type Boxed<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, PipelineError>> + Send>>;

/// A job that makes the rows of a period (reports, digests) the first time it sees that period:
/// now (the period beat starts in gets them, none missed across a restart; their unique keys make
/// it a no-op if another beat made them), then whenever `current` moves on.
async fn add_periodic(
    scheduler: &JobScheduler,
    what: &'static str,
    check_every: Duration,
    current: Arc<dyn Fn() -> Boxed<i64> + Send + Sync>,
    create: Arc<dyn Fn(Database) -> Boxed<(i64, usize)> + Send + Sync>,
    db: Database,
) -> Result<(), BeatError> {
    let first = create(db.clone()).await;
    let last_period: Arc<Mutex<Option<i64>>> = Arc::new(Mutex::new(match first {
        Ok((period, created)) => {
            tracing::info!(what, period, created, "rows of the period created");
            Some(period)
        }
        Err(error) => {
            tracing::warn!(what, %error, "cannot create the rows of the period; retrying next tick");
            None
        }
    }));
    scheduler
        .add(Job::new_repeated_async(check_every, move |_, _| {
            let (db, current, create) = (db.clone(), current.clone(), create.clone());
            let last_period = last_period.clone();
            Box::pin(async move {
                let now = match current().await {
                    Ok(now) => now,
                    Err(error) => {
                        tracing::warn!(%error, "cannot read the database's clock; retrying next tick");
                        return;
                    }
                };
                if *last_period.lock().unwrap_or_else(|p| p.into_inner()) == Some(now) {
                    return;
                }
                match create(db).await {
                    Ok((period, created)) => {
                        *last_period.lock().unwrap_or_else(|p| p.into_inner()) = Some(period);
                        tracing::info!(what, period, created, "rows of the period created");
                    }
                    Err(error) => {
                        tracing::warn!(what, %error, "cannot create the rows of the period; retrying next tick")
                    }
                }
            })
        })?)
        .await?;
    Ok(())
}

/// Runs beat until `shutdown` turns true.
pub async fn run_beat(
    db: Database,
    queue: JobQueue,
    settings: &PipelineSettings,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), BeatError> {
    let scheduler = JobScheduler::new().await?;
    let relay = Relay::new(db.clone(), queue.clone(), settings);
    let relay_failures = Arc::new(Mutex::new(0u32));
    scheduler
        .add(Job::new_repeated_async(
            settings.relay_interval,
            move |_, _| {
                let relay = relay.clone();
                let failures = relay_failures.clone();
                Box::pin(async move {
                    match relay.tick().await {
                        Ok(count) => {
                            *failures.lock().unwrap_or_else(|p| p.into_inner()) = 0;
                            if count > 0 {
                                tracing::info!(count, "enqueued due notifications");
                            }
                        }
                        Err(error) => {
                            let mut failures = failures.lock().unwrap_or_else(|p| p.into_inner());
                            *failures += 1;
                            if *failures <= 3 || failures.is_multiple_of(60) {
                                tracing::warn!(%error, "relay tick failed; retrying next tick");
                            }
                        }
                    }
                })
            },
        )?)
        .await?;

    let interval = settings.report_interval();
    let reports_db = db.clone();
    add_periodic(
        &scheduler,
        "reports",
        interval.min(Duration::from_secs(1)),
        Arc::new(move || {
            let db = reports_db.clone();
            Box::pin(async move { current_period(&db, interval).await })
        }),
        Arc::new(move |db: Database| Box::pin(async move { create_reports(&db, interval).await })),
        db.clone(),
    )
    .await?;
    let (hour, every) = (settings.digest_hour, settings.digest_interval);
    let digests_db = db.clone();
    add_periodic(
        &scheduler,
        "digests",
        every.min(Duration::from_secs(1)),
        Arc::new(move || {
            let db = digests_db.clone();
            Box::pin(async move {
                let now = current_period(&db, Duration::from_secs(1)).await?;
                Ok(digest_period(now, hour, every))
            })
        }),
        Arc::new(move |db: Database| {
            Box::pin(async move { create_digests(&db, hour, every).await })
        }),
        db.clone(),
    )
    .await?;

    scheduler.start().await?;
    tracing::info!(queue = queue.kind(), relay_every = ?settings.relay_interval, report_every = ?interval, "beat started");
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    let mut scheduler = scheduler;
    scheduler.shutdown().await?;
    tracing::info!("beat stopped");
    Ok(())
}
