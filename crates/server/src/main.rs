//! `issue-tracker-server`: the REST API. Configured by environment variables (see the README).

const HELP: &str = "The issue tracker's REST API server.\n\n\
Settings come from environment variables, a `.env` file and `config/issue-tracker.toml` in \
the working directory (DATABASE_URL, BIND_ADDRESS, ALLOWED_HOSTS, TOKEN_TTL, BCRYPT_COST, \
...; the README lists them all). Refuses to start on a database with unapplied migrations: \
run `issue-tracker migrate` first.";

fn main() {
    issue_tracker_app::binary_main("issue-tracker-server", HELP, run);
}

fn run() -> anyhow::Result<()> {
    let settings = issue_tracker_app::load_settings()?;
    let _logs = issue_tracker_app::init_tracing(settings.general.log_format);
    let db = issue_tracker_app::open_database(&settings)?;
    issue_tracker_app::ensure_migrated(&db)?;
    issue_tracker_app::serve(settings, db)
}
