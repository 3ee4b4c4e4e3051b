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
    issue_tracker_app::exit_on_error(run());
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    issue_tracker_app::run_role(issue_tracker_app::Role::Beat).await
}
