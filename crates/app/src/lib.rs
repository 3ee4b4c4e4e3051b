//! What the binaries share: turning settings into a database pool, logging, and serving the API.
//! Keeping it here keeps each `main()` a few lines long.

use std::net::TcpListener;

use anyhow::{bail, Context};
use issue_tracker_api::AppState;
use issue_tracker_config::{DatabaseUrl, LogFormat, Settings};
use issue_tracker_persistence::{Database, PoolSettings};

/// Loads settings from the environment, `.env` and `config/`, naming any bad setting.
pub fn load_settings() -> anyhow::Result<Settings> {
    Settings::load().context("cannot start")
}

/// Starts logging to stderr: text or JSON lines, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Opens the pool `DATABASE_URL` names.
pub fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let pool = PoolSettings {
        max_size: settings.database_pool_size,
        timeout: settings.database_pool_timeout,
    };
    let db = match &settings.database_url {
        DatabaseUrl::Postgres(url) => Database::connect_postgres(url, pool),
        DatabaseUrl::Sqlite(path) => Database::connect_sqlite(path, pool),
    }
    .with_context(|| format!("cannot open the database {:?}", settings.database_url))?;
    db.ping()
        .with_context(|| format!("cannot reach the database {:?}", settings.database_url))?;
    Ok(db)
}

/// Refuses a database whose migrations are not all applied.
pub fn ensure_migrated(db: &Database) -> anyhow::Result<()> {
    let pending = db.pending_migrations()?;
    if !pending.is_empty() {
        bail!(
            "the database has {} unapplied migration(s) ({}); run `issue-tracker migrate` first",
            pending.len(),
            pending.join(", ")
        );
    }
    Ok(())
}

/// Serves the API until SIGINT or SIGTERM, then finishes the requests in flight.
pub fn serve(settings: Settings, db: Database) -> anyhow::Result<()> {
    let address = settings.bind_address;
    let listener =
        TcpListener::bind(address).with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(%address, backend = ?db.backend(), "serving the API on http://{address}/api/issue/");
    let state = AppState::new(db, settings);
    issue_tracker_api::run(state, listener).context("the server stopped with an error")
}
