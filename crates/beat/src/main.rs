//! `issue-tracker-beat`: the clock of the notification pipeline.

const HELP: &str = "The issue tracker's scheduler (\"beat\").\n\n\
Every RELAY_INTERVAL (1 s) moves due notifications from the database (DATABASE_URL) to the \
Redis queue (REDIS_URL, default redis://localhost:6379); every report period \
(REPORT_SCHEDULE_HOURS + _MINUTES + _SECONDS, default 24 h) creates one consolidated \
report per assigned user. Running several beats at once is safe: they never double a \
report. SIGTERM or Ctrl-C stops it.";

fn main() {
    issue_tracker_app::binary_main("issue-tracker-beat", HELP, || {
        issue_tracker_app::run_role_blocking(issue_tracker_app::Role::Beat)
    });
}
