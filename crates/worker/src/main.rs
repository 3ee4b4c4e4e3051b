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
    issue_tracker_app::exit_on_error(run());
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    issue_tracker_app::run_role(issue_tracker_app::Role::Worker).await
}
