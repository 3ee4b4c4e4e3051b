//! `issue-tracker notifications`: list the outbox, retry a dead email, create reports now.

use anyhow::{anyhow, bail};
use clap::Subcommand;
use issue_tracker_config::Settings;
use issue_tracker_domain::{NotificationId, NotificationStatus};

use crate::migrated;

#[derive(Subcommand)]
pub enum NotificationAction {
    /// Make a dead notification pending again, due now: it goes out once.
    Retry {
        /// The notification id (see `issue-tracker notifications --status dead`).
        id: i64,
    },
    /// Create the reports of the current period now (beat does this by itself; this is for a
    /// first look, or after an outage of every beat). Never doubles a report.
    CreateReports,
}

/// Runs `notifications [--status S] [--limit N] [ACTION]`.
pub fn run(
    settings: &Settings,
    status: Option<String>,
    limit: i64,
    action: Option<NotificationAction>,
) -> anyhow::Result<()> {
    let db = migrated(settings)?;
    match action {
        Some(NotificationAction::Retry { id }) => {
            let retried = match NotificationId::new(id) {
                Some(id) => db.retry_notification(id)?,
                None => false,
            };
            if !retried {
                bail!("notification {id} is not dead (only dead notifications can be retried)");
            }
            println!("Notification {id} is pending again and will be sent once.");
            return Ok(());
        }
        Some(NotificationAction::CreateReports) => {
            let period = issue_tracker_domain::report_period(
                chrono::Utc::now().timestamp(),
                settings.pipeline.report_interval(),
            );
            let started = std::time::Instant::now();
            let created = db.create_reports(period)?;
            println!(
                "Created {created} report(s) for period {period} in {:.3} s.",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        None => {}
    }
    let status = match status {
        Some(word) => Some(NotificationStatus::parse(&word).ok_or_else(|| {
            anyhow!(
                "unknown status {word:?}: use pending, sending, sent, dead, cancelled or skipped"
            )
        })?),
        None => None,
    };
    println!(
        "{:>8}  {:<10} {:<20} {:<9} {:>8}  {:<20} last error",
        "id", "kind", "recipient", "status", "attempts", "send after"
    );
    for n in db.list_notifications(status, limit.max(1))? {
        println!(
            "{:>8}  {:<10} {:<20} {:<9} {:>8}  {:<20} {}",
            n.id,
            n.kind,
            n.recipient,
            n.status,
            n.attempts,
            n.send_after.format("%Y-%m-%d %H:%M:%S"),
            n.last_error.unwrap_or_default()
        );
    }
    Ok(())
}
