//! `issue-tracker-beat`: the clock of the notification pipeline.

use clap::Parser;

/// The issue tracker's scheduler ("beat").
///
/// Every RELAY_INTERVAL (1 s) moves due notifications from the database (DATABASE_URL) to the
/// Redis queue (REDIS_URL, default redis://localhost:6379); every report period
/// (REPORT_SCHEDULE_HOURS + _MINUTES + _SECONDS, default 24 h) creates one consolidated report per
/// assigned user. Running several beats at once is safe: they never double a report. SIGTERM or
/// Ctrl-C stops it.
#[derive(Parser)]
#[command(version)]
struct Args {}

fn main() {
    Args::parse();
    if let Err(error) = run() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let settings = issue_tracker_app::load_settings()?;
    issue_tracker_app::init_tracing(settings.log_format);
    let db = issue_tracker_app::open_database(&settings)?;
    issue_tracker_app::ensure_migrated(&db)?;
    let shutdown = issue_tracker_app::shutdown_signal();
    let default = issue_tracker_app::DEFAULT_REDIS_URL;
    let Some(queue) =
        issue_tracker_app::connect_queue(&settings, Some(default), shutdown.clone()).await?
    else {
        return Ok(());
    };
    issue_tracker_app::run_beat(&settings, db, queue, shutdown).await
}
