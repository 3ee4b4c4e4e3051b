//! Settings of the issue tracker, built once at start-up and passed down as one value.
//!
//! Layers, highest first: environment variables (the original project's names, upper case), a
//! `.env` file in the working directory, `config/issue-tracker.toml` in the working directory, and
//! the defaults compiled in from the repository's `config/default.toml`. A bad value stops
//! start-up with a message naming the setting.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The compiled-in defaults (the repository's `config/default.toml`).
pub const DEFAULTS_TOML: &str = include_str!("../../../config/default.toml");

/// Where the embedded default database lives, relative to the working directory.
pub const DEFAULT_SQLITE_PATH: &str = "data/issue-tracker.sqlite3";

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value has the wrong type or form.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The environment variable's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The layers could not be read.
    #[error("cannot read settings: {0}")]
    Source(String),
}

/// The longest duration any setting may name: 10 years. Longer ones overflow date arithmetic
/// (a token expiry past year 262,143 panics), and mean "never" in practice anyway.
pub const MAX_SECONDS: f64 = 315_360_000.0;

/// Refuses a value outside `low..=high`, naming the setting and the range.
fn in_range<T: PartialOrd + std::fmt::Display>(
    name: &str,
    value: T,
    low: T,
    high: T,
) -> Result<(), SettingsError> {
    if value < low || value > high {
        return Err(invalid(
            name,
            format!("{value} is out of range: must be between {low} and {high}"),
        ));
    }
    Ok(())
}

/// An origin as browsers send it: `http://` or `https://`, a host, an optional port, nothing else.
fn check_origin(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| format!("{text:?} must start with http:// or https://"))?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, _)) if !host.ends_with(']') && host.contains(':') => (rest, None),
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && (host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            || (host.starts_with('[')
                && host.ends_with(']')
                && host[1..host.len() - 1]
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok()));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err(format!(
            "{text:?} is not an origin (scheme://host[:port], no path, user or query)"
        ));
    }
    Ok(text.to_ascii_lowercase())
}

fn invalid(name: &str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        name: name.to_uppercase(),
        reason: reason.into(),
    }
}

/// A secret that never reaches a log: its `Debug` prints stars.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// Which database, parsed from `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A PostgreSQL connection URL, as given.
    Postgres(String),
    /// A SQLite file path.
    Sqlite(PathBuf),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The URL may hold a password.
            DatabaseUrl::Postgres(url) => write!(f, "Postgres({})", redact_url(url)),
            DatabaseUrl::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
        }
    }
}

/// Replaces the password of `scheme://user:password@host` with stars.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((credentials, host)) = rest.rsplit_once('@') {
            if let Some((user, _)) = credentials.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_owned()
}

impl DatabaseUrl {
    /// Parses `postgres://...`, `postgresql://...` or `sqlite://PATH`; empty means the embedded
    /// default.
    ///
    /// ```
    /// use issue_tracker_config::DatabaseUrl;
    /// assert_eq!(
    ///     DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(),
    ///     DatabaseUrl::Sqlite("/tmp/x.db".into())
    /// );
    /// assert!(DatabaseUrl::parse("mysql://x").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<DatabaseUrl, String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH)));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(value.to_owned()));
        }
        if let Some(path) = value.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://data/db.sqlite3".into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        Err("expected postgres://..., postgresql://... or sqlite://PATH".into())
    }
}

/// How to talk TLS to the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTls {
    /// Plain SMTP.
    None,
    /// Upgrade with STARTTLS.
    StartTls,
    /// TLS from the first byte (usually port 465).
    Implicit,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// SMTP settings.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// Server host; `None` writes `.eml` files instead.
    pub host: Option<String>,
    /// Server port.
    pub port: u16,
    /// Login user, if any.
    pub user: Option<String>,
    /// Login password.
    pub password: Secret,
    /// Sender address.
    pub from: String,
    /// TLS mode.
    pub tls: EmailTls,
}

/// Every setting, typed and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Accepted for compatibility; unused.
    pub secret_key: Secret,
    /// Development mode.
    pub debug: bool,
    /// Host names answered for; `None` = all (`*`).
    pub allowed_hosts: Option<Vec<String>>,
    /// The database.
    pub database_url: DatabaseUrl,
    /// Pool size.
    pub database_pool_size: u32,
    /// How long to wait for a pooled connection.
    pub database_pool_timeout: Duration,
    /// Listen address.
    pub bind_address: SocketAddr,
    /// HTTP worker threads (0 = per core).
    pub http_workers: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Largest unpaginated list.
    pub list_cap: usize,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// bcrypt cost.
    pub bcrypt_cost: u32,
    /// Redis URL, when configured.
    pub redis_url: Option<Secret>,
    /// SMTP.
    pub email: EmailSettings,
    /// Delay from assignment to email.
    pub assign_delay: Duration,
    /// Report interval.
    pub report_interval: Duration,
    /// Origins allowed to call the API from a browser (CORS); empty = CORS off.
    pub cors_allowed_origins: Vec<String>,
    /// Requests per minute per API token.
    pub rate_limit_per_token: u64,
    /// Requests per minute per client address without a token.
    pub rate_limit_per_address: u64,
    /// Failed logins allowed per client address per minute.
    pub login_failures_per_address: u32,
    /// Failed logins allowed per (username, client address) per minute.
    pub login_failures_per_username: u32,
    /// Failed logins allowed per username per minute from all addresses together (a ceiling high
    /// enough that one address cannot lock a user out).
    pub login_failures_per_username_global: u32,
    /// How long a client may take to send a request's headers (408 or close after).
    pub request_header_timeout: Duration,
    /// How long a client may take to send a request's body (408 after).
    pub request_body_timeout: Duration,
    /// Addresses of reverse proxies whose `X-Forwarded-*` / `Forwarded` headers are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The address users reach the service at (`https://issues.example.com`), without a trailing
    /// slash; links (`Link` headers) are built from it when set.
    pub public_url: Option<String>,
    /// The notification pipeline's timings and names.
    pub pipeline: PipelineSettings,
    /// Log format.
    pub log_format: LogFormat,
}

/// Timings and names of the notification pipeline (worker and beat).
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// How often beat relays due notifications to the queue.
    pub relay_interval: Duration,
    /// How long a worker holds a notification while sending it.
    pub sending_lease: Duration,
    /// When an enqueued but still pending notification is enqueued again.
    pub requeue_after: Duration,
    /// When an unacknowledged queue entry is taken over.
    pub reclaim_idle: Duration,
    /// Bound of the whole SMTP exchange of one email (at most half of `sending_lease`).
    pub email_timeout: Duration,
    /// First retry delay.
    pub retry_backoff: Duration,
    /// Longest retry delay.
    pub retry_backoff_max: Duration,
    /// Attempts before dead.
    pub max_attempts: u32,
    /// Emails one worker sends at once.
    pub worker_concurrency: usize,
    /// Redis stream key.
    pub queue_stream: String,
    /// Redis consumer group.
    pub queue_group: String,
    /// Folder of `.eml` files when no SMTP server is set.
    pub mail_dir: PathBuf,
}

#[derive(Deserialize)]
struct Raw {
    secret_key: String,
    debug: bool,
    allowed_hosts: String,
    database_url: String,
    database_pool_size: u32,
    database_pool_timeout: f64,
    bind_address: String,
    http_workers: usize,
    max_body_bytes: usize,
    list_cap: usize,
    token_ttl: u64,
    bcrypt_cost: u32,
    redis_url: String,
    email_host: String,
    email_port: u16,
    email_host_user: String,
    email_host_password: String,
    email_from: String,
    email_tls: String,
    email_use_tls: bool,
    email_use_ssl: bool,
    assign_report_schedule: f64,
    report_schedule_hours: f64,
    report_schedule_minutes: f64,
    report_schedule_seconds: f64,
    cors_allowed_origins: String,
    rate_limit_per_token: u64,
    rate_limit_per_address: u64,
    login_failures_per_address: u32,
    login_failures_per_username: u32,
    login_failures_per_username_global: u32,
    request_header_timeout: f64,
    request_body_timeout: f64,
    trusted_proxies: String,
    public_url: String,
    relay_interval: f64,
    sending_lease: f64,
    requeue_after: f64,
    reclaim_idle: f64,
    email_timeout: f64,
    retry_backoff: f64,
    retry_backoff_max: f64,
    max_attempts: u32,
    worker_concurrency: usize,
    queue_stream: String,
    queue_group: String,
    mail_dir: String,
    log_format: String,
}

/// The names of every setting (lower case as in TOML; upper case in the environment).
pub const SETTING_NAMES: &[&str] = &[
    "secret_key",
    "debug",
    "allowed_hosts",
    "database_url",
    "database_pool_size",
    "database_pool_timeout",
    "bind_address",
    "http_workers",
    "max_body_bytes",
    "list_cap",
    "token_ttl",
    "bcrypt_cost",
    "redis_url",
    "email_host",
    "email_port",
    "email_host_user",
    "email_host_password",
    "email_from",
    "email_tls",
    "email_use_tls",
    "email_use_ssl",
    "assign_report_schedule",
    "report_schedule_hours",
    "report_schedule_minutes",
    "report_schedule_seconds",
    "cors_allowed_origins",
    "rate_limit_per_token",
    "rate_limit_per_address",
    "login_failures_per_address",
    "login_failures_per_username",
    "login_failures_per_username_global",
    "request_header_timeout",
    "request_body_timeout",
    "trusted_proxies",
    "public_url",
    "relay_interval",
    "sending_lease",
    "requeue_after",
    "reclaim_idle",
    "email_timeout",
    "retry_backoff",
    "retry_backoff_max",
    "max_attempts",
    "worker_concurrency",
    "queue_stream",
    "queue_group",
    "mail_dir",
    "log_format",
];

impl Settings {
    /// Reads the process environment, `./.env` and `./config/issue-tracker.toml` over the defaults.
    pub fn load() -> Result<Settings, SettingsError> {
        let mut variables: HashMap<String, String> = HashMap::new();
        if let Ok(entries) = dotenvy::from_path_iter(".env") {
            for entry in entries {
                let (key, value) =
                    entry.map_err(|e| SettingsError::Source(format!(".env: {e}")))?;
                variables.insert(key, value);
            }
        }
        variables.extend(std::env::vars());
        Settings::from_variables(&variables, Some("config/issue-tracker"))
    }

    /// Builds settings from a map of environment-style variables over the defaults (and an
    /// optional TOML file path without extension). Tests use this with their own map.
    pub fn from_variables(
        variables: &HashMap<String, String>,
        file: Option<&str>,
    ) -> Result<Settings, SettingsError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULTS_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(file) = file {
            builder = builder.add_source(config::File::with_name(file).required(false));
        }
        for name in SETTING_NAMES {
            if let Some(value) = variables.get(&name.to_uppercase()) {
                if !value.trim().is_empty() {
                    builder = builder
                        .set_override(*name, value.trim().to_owned())
                        .map_err(|e| invalid(name, e.to_string()))?;
                }
            }
        }
        let built = builder
            .build()
            .map_err(|e| SettingsError::Source(e.to_string()))?;
        let raw: Raw = built.try_deserialize().map_err(|e| {
            let text = e.to_string();
            let name = SETTING_NAMES
                .iter()
                .find(|name| text.contains(&format!("`{name}`")))
                .copied()
                .unwrap_or("settings");
            invalid(name, text)
        })?;
        Settings::check(raw)
    }

    fn check(raw: Raw) -> Result<Settings, SettingsError> {
        let allowed_hosts = {
            let hosts: Vec<String> = raw
                .allowed_hosts
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect();
            if hosts.iter().any(|h| h == "*") {
                None
            } else {
                Some(hosts)
            }
        };
        let database_url =
            DatabaseUrl::parse(&raw.database_url).map_err(|e| invalid("database_url", e))?;
        in_range("database_pool_size", raw.database_pool_size, 1, 1_000)?;
        in_range("http_workers", raw.http_workers, 0, 1_024)?;
        in_range("max_body_bytes", raw.max_body_bytes, 1_024, 1 << 30)?;
        in_range("list_cap", raw.list_cap, 1, 100_000)?;
        in_range("token_ttl", raw.token_ttl, 1, MAX_SECONDS as u64)?;
        in_range(
            "rate_limit_per_token",
            raw.rate_limit_per_token,
            1,
            1_000_000_000,
        )?;
        in_range(
            "rate_limit_per_address",
            raw.rate_limit_per_address,
            1,
            1_000_000_000,
        )?;
        in_range(
            "login_failures_per_address",
            raw.login_failures_per_address,
            1,
            1_000_000,
        )?;
        in_range(
            "login_failures_per_username",
            raw.login_failures_per_username,
            1,
            1_000_000,
        )?;
        in_range(
            "login_failures_per_username_global",
            raw.login_failures_per_username_global,
            raw.login_failures_per_username,
            1_000_000,
        )?;
        in_range("max_attempts", raw.max_attempts, 1, 1_000)?;
        in_range("worker_concurrency", raw.worker_concurrency, 1, 10_000)?;
        let bind_address = raw
            .bind_address
            .parse()
            .map_err(|_| invalid("bind_address", "expected HOST:PORT, e.g. 127.0.0.1:8000"))?;
        in_range("bcrypt_cost", raw.bcrypt_cost, 4, 31)?;
        let tls = match raw.email_tls.to_ascii_lowercase().as_str() {
            _ if raw.email_use_ssl => EmailTls::Implicit,
            _ if raw.email_use_tls => EmailTls::StartTls,
            "none" => EmailTls::None,
            "starttls" => EmailTls::StartTls,
            "tls" | "ssl" => EmailTls::Implicit,
            _ => return Err(invalid("email_tls", "expected none, starttls or tls")),
        };
        // Every duration is at most MAX_SECONDS: larger values would overflow date arithmetic.
        let up_to = |name: &str, value: f64, unit_seconds: f64| -> Result<f64, SettingsError> {
            let most = MAX_SECONDS / unit_seconds;
            if value.is_finite() && value >= 0.0 && value <= most {
                Ok(value)
            } else {
                Err(invalid(
                    name,
                    format!("must be a number between 0 and {most}"),
                ))
            }
        };
        let assign = up_to("assign_report_schedule", raw.assign_report_schedule, 60.0)?;
        let report_seconds = up_to("report_schedule_hours", raw.report_schedule_hours, 3600.0)?
            * 3600.0
            + up_to("report_schedule_minutes", raw.report_schedule_minutes, 60.0)? * 60.0
            + up_to("report_schedule_seconds", raw.report_schedule_seconds, 1.0)?;
        let report_seconds = report_seconds.round();
        if !(1.0..=MAX_SECONDS).contains(&report_seconds) {
            return Err(invalid(
                "report_schedule_hours, report_schedule_minutes, report_schedule_seconds",
                format!("the report interval (hours + minutes + seconds) must be between 1 second and {MAX_SECONDS} seconds"),
            ));
        }
        let seconds = |name: &str, value: f64| -> Result<Duration, SettingsError> {
            if value.is_finite() && value > 0.0 && value <= MAX_SECONDS {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(invalid(
                    name,
                    format!("must be a number of seconds above 0 and at most {MAX_SECONDS}"),
                ))
            }
        };
        let pool_timeout = seconds("database_pool_timeout", raw.database_pool_timeout)?;
        let request_header_timeout = seconds("request_header_timeout", raw.request_header_timeout)?;
        let request_body_timeout = seconds("request_body_timeout", raw.request_body_timeout)?;
        let trusted_proxies = raw
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<std::net::IpAddr>()
                    .map_err(|_| invalid("trusted_proxies", format!("{p:?} is not an IP address")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let public_url = match raw.public_url.trim().trim_end_matches('/') {
            "" => None,
            url => Some(check_origin(url).map_err(|e| invalid("public_url", e))?),
        };
        let cors_allowed_origins = raw
            .cors_allowed_origins
            .split(',')
            .map(|o| o.trim().trim_end_matches('/'))
            .filter(|o| !o.is_empty())
            .map(|o| {
                if o == "*" {
                    Ok(o.to_owned())
                } else {
                    check_origin(o).map_err(|e| invalid("cors_allowed_origins", e))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pipeline = PipelineSettings {
            // Beat's scheduler (tokio-cron-scheduler) counts in whole seconds.
            relay_interval: Duration::from_secs(
                seconds("relay_interval", raw.relay_interval)?
                    .as_secs_f64()
                    .round()
                    .max(1.0) as u64,
            ),
            sending_lease: seconds("sending_lease", raw.sending_lease)?,
            requeue_after: seconds("requeue_after", raw.requeue_after)?,
            reclaim_idle: seconds("reclaim_idle", raw.reclaim_idle)?,
            email_timeout: seconds("email_timeout", raw.email_timeout)?,
            retry_backoff: seconds("retry_backoff", raw.retry_backoff)?,
            retry_backoff_max: seconds("retry_backoff_max", raw.retry_backoff_max)?,
            max_attempts: raw.max_attempts,
            worker_concurrency: raw.worker_concurrency,
            queue_stream: raw.queue_stream,
            queue_group: raw.queue_group,
            mail_dir: PathBuf::from(raw.mail_dir),
        };
        if pipeline.email_timeout * 2 > pipeline.sending_lease {
            return Err(invalid(
                "email_timeout",
                "must be at most half of SENDING_LEASE, so that a send always ends inside its lease (or another worker could take it over and send it again)",
            ));
        }
        let log_format = match raw.log_format.to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(invalid("log_format", "expected text or json")),
        };
        let optional = |value: String| (!value.trim().is_empty()).then(|| value.trim().to_owned());
        Ok(Settings {
            secret_key: Secret::new(raw.secret_key),
            debug: raw.debug,
            allowed_hosts,
            database_url,
            database_pool_size: raw.database_pool_size,
            database_pool_timeout: pool_timeout,
            bind_address,
            http_workers: raw.http_workers,
            max_body_bytes: raw.max_body_bytes,
            list_cap: raw.list_cap,
            token_ttl: Duration::from_secs(raw.token_ttl),
            bcrypt_cost: raw.bcrypt_cost,
            redis_url: optional(raw.redis_url).map(Secret::new),
            email: EmailSettings {
                host: optional(raw.email_host),
                port: raw.email_port,
                user: optional(raw.email_host_user),
                password: Secret::new(raw.email_host_password),
                from: raw.email_from,
                tls,
            },
            assign_delay: Duration::from_secs_f64(assign * 60.0),
            report_interval: Duration::from_secs_f64(report_seconds),
            cors_allowed_origins,
            rate_limit_per_token: raw.rate_limit_per_token,
            rate_limit_per_address: raw.rate_limit_per_address,
            login_failures_per_address: raw.login_failures_per_address,
            login_failures_per_username: raw.login_failures_per_username,
            login_failures_per_username_global: raw.login_failures_per_username_global,
            request_header_timeout,
            request_body_timeout,
            trusted_proxies,
            public_url,
            pipeline,
            log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_variables(&map, None)
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = with(&[]).unwrap();
        assert_eq!(s.bind_address.to_string(), "127.0.0.1:8000");
        assert_eq!(
            s.allowed_hosts,
            Some(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        );
        assert_eq!(
            s.database_url,
            DatabaseUrl::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH))
        );
        assert_eq!(s.token_ttl, Duration::from_secs(2_592_000));
        assert_eq!(s.bcrypt_cost, 12);
        assert_eq!(s.assign_delay, Duration::from_secs(12 * 60));
        assert_eq!(s.report_interval, Duration::from_secs(24 * 3600));
        assert_eq!(s.email.tls, EmailTls::None);
        assert_eq!(s.email.host, None);
    }

    #[test]
    fn environment_names_and_decimals() {
        let s = with(&[
            ("ASSIGN_REPORT_SCHEDULE", "0.5"),
            ("REPORT_SCHEDULE_HOURS", "0"),
            ("REPORT_SCHEDULE_MINUTES", "1.5"),
            ("REPORT_SCHEDULE_SECONDS", "20"),
            ("DEBUG", "True"),
            ("ALLOWED_HOSTS", "*"),
            ("EMAIL_USE_TLS", "True"),
        ])
        .unwrap();
        assert_eq!(s.assign_delay, Duration::from_secs(30));
        assert_eq!(s.report_interval, Duration::from_secs(110));
        assert!(s.debug);
        assert_eq!(s.allowed_hosts, None);
        assert_eq!(s.email.tls, EmailTls::StartTls);
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (name, value) in [
            ("BCRYPT_COST", "abc"),
            ("BCRYPT_COST", "3"),
            ("DATABASE_URL", "mysql://x"),
            ("BIND_ADDRESS", "nowhere"),
            ("EMAIL_TLS", "maybe"),
            ("TOKEN_TTL", "-5"),
            ("ASSIGN_REPORT_SCHEDULE", "-1"),
        ] {
            let error = with(&[(name, value)]).unwrap_err().to_string();
            assert!(error.contains(name), "{name}={value}: {error}");
        }
    }

    /// Every numeric setting at and past its extremes: the extremes start, anything past them is
    /// refused naming the setting (audit finding B18: TOKEN_TTL=100000000000000 used to be
    /// accepted and then made every login panic).
    #[test]
    fn every_numeric_setting_has_a_range() {
        let huge = "100000000000000";
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("DATABASE_POOL_SIZE", &["1", "1000"], &["0", "1001", huge]),
            (
                "DATABASE_POOL_TIMEOUT",
                &["0.1", "315360000"],
                &["0", "-1", huge, "NaN", "inf"],
            ),
            ("HTTP_WORKERS", &["0", "1024"], &["1025", huge]),
            ("MAX_BODY_BYTES", &["1024", "1073741824"], &["1023", huge]),
            ("LIST_CAP", &["1", "100000"], &["0", "100001", huge]),
            ("TOKEN_TTL", &["1", "315360000"], &["0", "315360001", huge]),
            ("BCRYPT_COST", &["4", "31"], &["3", "32", huge]),
            ("RATE_LIMIT_PER_TOKEN", &["1", "1000000000"], &["0", huge]),
            ("RATE_LIMIT_PER_ADDRESS", &["1", "1000000000"], &["0", huge]),
            (
                "LOGIN_FAILURES_PER_ADDRESS",
                &["1", "1000000"],
                &["0", "1000001"],
            ),
            (
                "LOGIN_FAILURES_PER_USERNAME",
                &["1", "1000"],
                &["0", "1000001"],
            ),
            (
                "LOGIN_FAILURES_PER_USERNAME_GLOBAL",
                &["20", "1000000"],
                &["19", "1000001"],
            ),
            (
                "REQUEST_HEADER_TIMEOUT",
                &["0.5", "315360000"],
                &["0", huge],
            ),
            ("REQUEST_BODY_TIMEOUT", &["0.5", "315360000"], &["0", huge]),
            (
                "ASSIGN_REPORT_SCHEDULE",
                &["0", "5256000"],
                &["-1", "5256001", huge, "1e300"],
            ),
            (
                "REPORT_SCHEDULE_HOURS",
                &["1", "87600"],
                &["-1", "87601", "1e300"],
            ),
            (
                "REPORT_SCHEDULE_SECONDS",
                &["315000000"],
                &["315360001", "1e300"],
            ),
            ("RELAY_INTERVAL", &["1", "315360000"], &["0", "1e300"]),
            ("SENDING_LEASE", &["60", "315360000"], &["0", "59", "1e300"]),
            ("REQUEUE_AFTER", &["1", "315360000"], &["0", "1e300"]),
            ("RECLAIM_IDLE", &["1", "315360000"], &["0", "1e300"]),
            ("EMAIL_TIMEOUT", &["0.1", "30"], &["0", "31", "1e300"]),
            ("RETRY_BACKOFF", &["0.1", "315360000"], &["0", "1e300"]),
            ("RETRY_BACKOFF_MAX", &["0.1", "315360000"], &["0", "1e300"]),
            ("MAX_ATTEMPTS", &["1", "1000"], &["0", "1001", huge]),
            ("WORKER_CONCURRENCY", &["1", "10000"], &["0", "10001", huge]),
            ("EMAIL_PORT", &["1", "65535"], &["65536", "-1"]),
        ];
        for (name, good, bad) in cases {
            for value in *good {
                if let Err(error) = with(&[(name, value)]) {
                    panic!("{name}={value} refused: {error}");
                }
            }
            for value in *bad {
                let error = with(&[(name, value)])
                    .err()
                    .unwrap_or_else(|| panic!("{name}={value} accepted"))
                    .to_string();
                assert!(error.contains(name), "{name}={value}: {error}");
            }
        }
    }

    #[test]
    fn origins_and_addresses_are_checked() {
        for (name, value) in [
            ("CORS_ALLOWED_ORIGINS", "example.com"),
            ("CORS_ALLOWED_ORIGINS", "https://a.example/path"),
            ("CORS_ALLOWED_ORIGINS", "https://user@a.example"),
            ("PUBLIC_URL", "ftp://a.example"),
            ("PUBLIC_URL", "https://a.example:99999"),
            ("TRUSTED_PROXIES", "10.0.0.1,proxy.local"),
        ] {
            let error = with(&[(name, value)]).unwrap_err().to_string();
            assert!(error.contains(name), "{name}={value}: {error}");
        }
        let s = with(&[
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("PUBLIC_URL", "https://Issues.example.com/"),
            ("TRUSTED_PROXIES", "10.0.0.1, ::1"),
        ])
        .unwrap();
        assert_eq!(s.cors_allowed_origins, ["*"]);
        assert_eq!(s.public_url.as_deref(), Some("https://issues.example.com"));
        assert_eq!(s.trusted_proxies.len(), 2);
    }

    #[test]
    fn secrets_do_not_print() {
        let s = with(&[
            ("EMAIL_HOST_PASSWORD", "hunter2"),
            ("DATABASE_URL", "postgres://u:pw@h/db"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains(":pw@"));
    }
}
