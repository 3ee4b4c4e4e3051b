//! `issue-tracker-worker`: takes notification jobs from Redis and sends the emails over SMTP.

const HELP: &str = "The issue tracker's email worker.\n\n\
Reads notification ids from the Redis stream (REDIS_URL, default redis://localhost:6379), \
claims each in the database (DATABASE_URL), renders the email from current data and sends \
it over SMTP (EMAIL_HOST, ...; without it, writes .eml files under ./data/mail/). \
Temporary failures are retried with exponential backoff, permanent ones marked dead. Run \
as many as you like. SIGTERM or Ctrl-C: finishes the emails in hand, then exits.";

fn main() {
    issue_tracker_app::binary_main("issue-tracker-worker", HELP, || {
        issue_tracker_app::run_role_blocking(issue_tracker_app::Role::Worker)
    });
}
