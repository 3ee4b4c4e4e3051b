//! `issue-tracker-worker`: takes notification jobs from Redis and sends the emails over SMTP.

use clap::Parser;

/// The issue tracker's email worker.
///
/// Reads notification ids from the Redis stream (REDIS_URL, default redis://localhost:6379),
/// claims each in the database (DATABASE_URL), renders the email from current data and sends it
/// over SMTP (EMAIL_HOST, ...; without it, writes .eml files under ./data/mail/). Temporary
/// failures are retried with exponential backoff, permanent ones marked dead. Run as many as you
/// like. SIGTERM or Ctrl-C: finishes the emails in hand, then exits.
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
    issue_tracker_app::run_worker(&settings, db, queue, shutdown).await
}
