//! What the binaries share: turning settings into a database pool, logging, and serving the API.
//! Keeping it here keeps each `main()` a few lines long.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::{bail, Context};
use issue_tracker_config::{DatabaseUrl, LogFormat, Settings};
use issue_tracker_mailer::Mailer;
use issue_tracker_notifier::Worker;
use issue_tracker_persistence::{Database, PoolSettings};
use issue_tracker_queue::{JobQueue, RedisQueueConfig};
use issue_tracker_web::AppState;
use tokio::sync::watch;

/// Where worker and beat find Redis when `REDIS_URL` is not set.
pub const DEFAULT_REDIS_URL: &str = "redis://localhost:6379";

/// Loads settings from the environment, `.env` and `config/`, naming any bad setting.
pub fn load_settings() -> anyhow::Result<Settings> {
    Settings::load().context("cannot start")
}

/// Keeps the log writer running; dropping it writes out what is still queued. Hold it until
/// `main` returns.
#[must_use = "logging stops (and queued lines may be lost) when the guard is dropped"]
pub struct LogGuard(#[allow(dead_code)] tracing_appender::non_blocking::WorkerGuard);

/// Starts logging to stderr: text or JSON lines, filtered by `RUST_LOG` (default `info`).
///
/// Lines are formatted where they happen and written by a thread of their own, through a buffer
/// flushed whenever the queue runs empty: under load many lines go out in one `write`, and no
/// request waits on the terminal or the pipe. Writing each line to stderr directly cost 17 % of
/// the `GET`s per second on SQLite (measured with `RUST_LOG=warn` against `info`). The queue
/// is not lossy: when it is full (10,000 lines), a request waits rather than drop a line.
pub fn init_tracing(format: LogFormat) -> LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        // A bounded backlog (a few MB at most) keeps memory flat if the writer falls behind.
        .buffered_lines_limit(10_000)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    LogGuard(guard)
}

/// Opens the pool `DATABASE_URL` names.
pub fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let pool = PoolSettings {
        max_size: settings.database.connections(),
        timeout: settings.database.pool_timeout,
        transaction_pooling: settings.database.transaction_pooling,
    };
    let db = match &settings.database.url {
        DatabaseUrl::Postgres(url) => Database::connect_postgres(url, pool),
        DatabaseUrl::Sqlite(path) => Database::connect_sqlite(path, pool),
    }
    .with_context(|| format!("cannot open the database {:?}", settings.database.url))?;
    db.ping()
        .with_context(|| format!("cannot reach the database {:?}", settings.database.url))?;
    Ok(db)
}

/// Opens the pool `DATABASE_URL` names without waiting for PostgreSQL: for worker and beat, which
/// must start (and say so) while the database is down, then get connections when it is back.
pub fn open_database_lazily(settings: &Settings) -> anyhow::Result<Database> {
    let pool = PoolSettings {
        max_size: settings.database.connections(),
        timeout: settings.database.pool_timeout,
        transaction_pooling: settings.database.transaction_pooling,
    };
    Ok(match &settings.database.url {
        DatabaseUrl::Postgres(url) => Database::connect_postgres_lazily(url, pool),
        DatabaseUrl::Sqlite(path) => Database::connect_sqlite(path, pool)
            .with_context(|| format!("cannot open the database {:?}", settings.database.url))?,
    })
}

/// Waits until the database answers and has every migration applied, logging while it does not
/// (once, then every minute), retrying with backoff up to 10 s. `None` when shutdown came first.
pub async fn wait_for_database(
    db: &Database,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<()>> {
    let mut wait = std::time::Duration::from_millis(500);
    let mut last_log: Option<std::time::Instant> = None;
    loop {
        let probe = db.clone();
        let checked = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
            probe.ping()?;
            Ok(probe.pending_migrations()?)
        })
        .await?;
        match checked {
            Ok(pending) if pending.is_empty() => {
                if last_log.is_some() {
                    tracing::info!("the database is available");
                }
                return Ok(Some(()));
            }
            Ok(pending) => {
                if last_log.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(60)) {
                    tracing::warn!(pending = %pending.join(", "), "the database has unapplied migrations; run `issue-tracker migrate`; waiting");
                    last_log = Some(std::time::Instant::now());
                }
            }
            Err(error) => {
                if last_log.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(60)) {
                    tracing::warn!(error = %format!("{error:#}"), retry_in = ?wait, "the database is unavailable; waiting for it");
                    last_log = Some(std::time::Instant::now());
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return Ok(None),
        }
        wait = (wait * 2).min(std::time::Duration::from_secs(10));
    }
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

/// A listening socket on `address`; with `reuse_port`, `SO_REUSEPORT`, so that several server
/// processes on one host can share the port (the kernel spreads new connections over them).
fn listen(address: std::net::SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // As std's `TcpListener::bind` does: a restarted server can bind while old connections linger.
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Serves the API until SIGINT or SIGTERM, then finishes the requests in flight.
pub fn serve(settings: Settings, db: Database) -> anyhow::Result<()> {
    let address = settings.http.bind_address;
    let listener = listen(address, settings.http.reuse_port)
        .with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(%address, backend = ?db.backend(), "serving the API on http://{address}/api/issue/");
    db.spawn_sqlite_housekeeping();
    let state = AppState::new(db, &settings);
    let admin = issue_tracker_admin::mount(
        settings.admin.clone(),
        issue_tracker_admin::ReportInterval(settings.pipeline.report_interval()),
        settings.http.max_body_bytes,
    );
    // The admin's routes first: they own /admin/, the API's the rest.
    issue_tracker_web::run_with(state, listener, vec![admin, issue_tracker_api::mount()])
        .context("the server stopped with an error")?;
    tracing::info!("the server stopped: every request in flight was answered");
    Ok(())
}

/// Connects the job queue: Redis at `REDIS_URL` (or `default_url` when unset), waiting for it to
/// come up if it is down, or the in-process queue when neither is given.
pub async fn connect_queue(
    settings: &Settings,
    default_url: Option<&str>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<JobQueue>> {
    let endpoint = match (
        issue_tracker_queue::RedisEndpoint::from_queue_settings(&settings.queue),
        default_url,
    ) {
        (Some(endpoint), _) => endpoint,
        (None, Some(url)) => issue_tracker_queue::RedisEndpoint::Url(url.to_owned()),
        (None, None) => return Ok(Some(JobQueue::in_process())),
    };
    let config = RedisQueueConfig {
        endpoint: endpoint.clone(),
        stream: settings.queue.stream.clone(),
        group: settings.queue.group.clone(),
        block: std::time::Duration::from_secs(1),
    };
    let mut attempt = 0u32;
    loop {
        match JobQueue::connect_redis(&config).await {
            Ok(queue) => return Ok(Some(queue)),
            Err(error) => {
                attempt += 1;
                if attempt == 1 || attempt.is_multiple_of(30) {
                    tracing::warn!(redis = %endpoint.describe(), %error, "Redis is not reachable; waiting for it");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return Ok(None),
        }
    }
}

/// The mailer the settings describe (SMTP, or `.eml` files under `MAIL_DIR`).
pub fn build_mailer(settings: &Settings) -> anyhow::Result<Arc<Mailer>> {
    let mailer = Mailer::new(
        &settings.email,
        settings.pipeline.email_timeout,
        settings.pipeline.worker_concurrency as u32,
        settings.email.mail_dir.clone(),
    )
    .context("cannot set up email")?;
    let secret = settings.general.secret_key.expose();
    let mailer = match &settings.http.public_url {
        Some(url) if !secret.is_empty() => mailer.with_unsubscribe_links(url, secret.as_bytes()),
        Some(url) => {
            tracing::warn!("SECRET_KEY is empty: reports carry no one-click unsubscribe link");
            mailer.with_public_url(url)
        }
        None => mailer,
    };
    Ok(Arc::new(mailer))
}

/// A flag that turns true on SIGINT (Ctrl-C) or SIGTERM. Call inside a tokio runtime.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    forward_signals(sender);
    receiver
}

/// Sets `sender` to true on SIGINT (Ctrl-C) or SIGTERM. Call inside a tokio runtime.
pub fn forward_signals(sender: watch::Sender<bool>) {
    tokio::spawn(async move {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = interrupt => {}
            _ = terminate => {}
        }
        tracing::info!("shutting down");
        let _ = sender.send(true);
    });
}

/// A consumer name unique among workers: host, process and a random suffix.
pub fn consumer_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..8])
}

/// Runs a worker until shutdown.
pub async fn run_worker(
    settings: &Settings,
    db: Database,
    queue: JobQueue,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mailer = build_mailer(settings)?;
    // Webhooks are delivered by the same process, from their own outbox in the database.
    let webhooks = issue_tracker_webhooks::Deliverer::new(db.clone(), settings.webhooks.clone())
        .context("cannot build the webhook HTTP client")?;
    let replies = issue_tracker_replies::Replies::from_settings(db.clone(), settings);
    let listener = match (&replies, settings.incoming.bind) {
        (Some(replies), Some(bind)) => {
            let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| {
                format!("cannot listen for LMTP on {bind} (INCOMING_EMAIL_BIND)")
            })?;
            Some(issue_tracker_replies::lmtp::serve(
                listener,
                replies.clone(),
                shutdown.clone(),
            ))
        }
        (None, Some(_)) => {
            tracing::warn!(
                "INCOMING_EMAIL_BIND is set but INCOMING_EMAIL_ADDRESS is empty: no LMTP listener"
            );
            None
        }
        _ => None,
    };
    let emails = Worker::new(
        db,
        queue,
        mailer,
        settings.pipeline.clone(),
        consumer_name(),
    )
    .with_reply_addresses(issue_tracker_notifier::ReplyAddresses::from_settings(
        settings,
    ))
    .run(shutdown.clone());
    let lmtp = async {
        if let Some(listener) = listener {
            listener.await;
        }
    };
    // Boxed: three deep state machines side by side overflow the compiler's layout depth.
    tokio::join!(
        Box::pin(emails),
        Box::pin(webhooks.run(shutdown)),
        Box::pin(lmtp)
    );
    Ok(())
}

/// Runs beat until shutdown.
pub async fn run_beat(
    settings: &Settings,
    db: Database,
    queue: JobQueue,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    issue_tracker_scheduler::run_beat(db, queue, &settings.pipeline, shutdown)
        .await
        .context("beat failed")
}

/// `issue-tracker run`: the API server, a worker and beat in one process. The queue is in-process
/// unless `REDIS_URL` is set. Ctrl-C or SIGTERM stops all three.
pub fn run_all(settings: Settings, db: Database) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let background_settings = settings.clone();
    let background_db = db.clone();
    let (stop, shutdown) = watch::channel(false);
    let signals = stop.clone();
    let background = runtime.spawn(async move {
        forward_signals(signals);
        let Some(queue) = connect_queue(&background_settings, None, shutdown.clone()).await? else {
            return Ok(());
        };
        tracing::info!(
            queue = queue.kind(),
            "worker and beat running in this process"
        );
        let worker = run_worker(
            &background_settings,
            background_db.clone(),
            queue.clone(),
            shutdown.clone(),
        );
        let beat = run_beat(&background_settings, background_db, queue, shutdown);
        let (worker, beat) = tokio::join!(worker, beat);
        worker.and(beat)
    });
    let served = serve(settings, db);
    // The server stopped (signal or error): make sure the others stop too.
    let _ = stop.send(true);
    let background = runtime.block_on(async move {
        match tokio::time::timeout(std::time::Duration::from_secs(70), background).await {
            Ok(joined) => joined.map_err(|e| anyhow::anyhow!(e))?,
            Err(_) => Ok(()),
        }
    });
    served.and(background)
}

/// A role of the notification pipeline, run as its own process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `issue-tracker-worker`.
    Worker,
    /// `issue-tracker-beat`.
    Beat,
}

/// The whole `main` of `issue-tracker-worker` and `issue-tracker-beat`: settings, logging, a
/// migrated database, Redis (waiting for it if it is down), then the role until SIGINT/SIGTERM.
pub async fn run_role(role: Role) -> anyhow::Result<()> {
    let settings = load_settings()?;
    let _logs = init_tracing(settings.general.log_format);
    let db = open_database_lazily(&settings)?;
    let shutdown = shutdown_signal();
    if wait_for_database(&db, shutdown.clone()).await?.is_none() {
        return Ok(());
    }
    let Some(queue) = connect_queue(&settings, Some(DEFAULT_REDIS_URL), shutdown.clone()).await?
    else {
        return Ok(());
    };
    match role {
        Role::Worker => run_worker(&settings, db, queue, shutdown).await,
        Role::Beat => run_beat(&settings, db, queue, shutdown).await,
    }
}

/// The `main` of a binary: answers `--help` (with `help`: its first line is the summary) and
/// `--version`, runs `run`, and ends the process with status 1 and the error's causes on stderr
/// when it fails.
pub fn binary_main(
    name: &'static str,
    help: &'static str,
    run: impl FnOnce() -> anyhow::Result<()>,
) {
    clap::Command::new(name)
        .version(env!("CARGO_PKG_VERSION"))
        .about(help.lines().next().unwrap_or_default())
        .long_about(help)
        .get_matches();
    exit_on_error(run());
}

/// Runs the worker or beat on a new multi-threaded runtime until SIGINT or SIGTERM.
pub fn run_role_blocking(role: Role) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run_role(role))
}

/// Ends the process with status 1 and the error's causes on stderr when `result` is an error:
/// the end of every binary's `main`.
pub fn exit_on_error(result: anyhow::Result<()>) {
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};
    use issue_tracker_persistence::{Database, PoolSettings};

    /// Under sustained writes the search indexer finds a full batch every time and never pauses;
    /// the WAL must still be checkpointed into the database file all along (it used to be only
    /// on the indexer's pauses, so commits ran the checkpoints themselves, 30 to 70 ms each).
    #[test]
    fn the_wal_is_checkpointed_while_the_search_indexer_never_pauses() {
        let dir = std::env::temp_dir().join(format!("app-checkpoint-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite3");
        let db = Database::connect_sqlite(&path, PoolSettings::default()).unwrap();
        db.run_migrations().unwrap();
        let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        // Thousands of issues waiting for the index (each noted by the insert trigger), then
        // everything copied into the database file.
        conn.batch_execute(
            "INSERT INTO users (username, password_hash, date_joined) \
             VALUES ('ann', 'x', '2026-01-01 00:00:00'); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) \
             INSERT INTO issues (created_by_id, title, description, status, assigned_to_id, \
             created_at, updated_at) SELECT 1, 'issue number ' || i, \
             'a description long enough to index, for issue ' || i, 'open', 1, \
             '2026-01-01 00:00:00', '2026-01-01 00:00:00' FROM n; \
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        db.spawn_sqlite_housekeeping();
        std::thread::sleep(std::time::Duration::from_millis(700));
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let pending = diesel::sql_query("SELECT count(*) AS n FROM issues_search_pending")
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n;
        let after = std::fs::metadata(&path).unwrap().len();
        assert!(
            pending > 0,
            "the indexer was busy all along (otherwise it paused)"
        );
        assert!(
            after > before,
            "the index's pages reached the database file ({before} -> {after} bytes; {pending} \
             issues still to index)"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
