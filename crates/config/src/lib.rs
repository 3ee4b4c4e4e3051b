//! Settings of the issue tracker, built once at start-up and passed down as one value.
//!
//! Layers, highest first: environment variables (the original project's names, upper case), a
//! `.env` file in the working directory, `config/issue-tracker.toml` in the working directory, and
//! the defaults. Each setting is declared once, in `settings.rs` (slice, name, type, default, what
//! it accepts, one line of doc); the structs, the reader, the documentation's table and
//! `config/default.toml` derive from that. A bad value stops start-up with a message naming the
//! setting.

use std::collections::HashMap;
use std::path::PathBuf;

pub mod kinds;
mod settings;

pub use kinds::{Kind, MAX_SECONDS};
pub use settings::{
    declarations, AccountSettings, AdminSettings, DatabaseSettings, Declaration, EmailSettings,
    GeneralSettings, HttpSettings, PipelineSettings, QueueSettings, Settings, WebhookSettings,
};

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

/// Connections per process when `DATABASE_POOL_SIZE` is 0 (its default), on PostgreSQL.
pub const DEFAULT_POSTGRES_CONNECTIONS: u32 = 16;
/// The same on SQLite: each connection holds its own page cache, parsed schema and prepared
/// statements (about 0.7 MB under load) in this process rather than in a database server.
/// Twelve made writes as fast as sixteen, and the benchmark's peak RSS 2.5 MB lower; eight made
/// `POST` 15 % slower (the writer and the search indexer hold connections of the pool).
pub const DEFAULT_SQLITE_CONNECTIONS: u32 = 12;

impl DatabaseSettings {
    /// The pool's size: `DATABASE_POOL_SIZE`, or the database's default when it is 0.
    pub fn connections(&self) -> u32 {
        match (self.pool_size, &self.url) {
            (0, DatabaseUrl::Postgres(_)) => DEFAULT_POSTGRES_CONNECTIONS,
            (0, DatabaseUrl::Sqlite(_)) => DEFAULT_SQLITE_CONNECTIONS,
            (size, _) => size,
        }
    }
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

/// Reads one setting: its text from `lookup` (or its default), parsed by its kind.
fn read_one<T>(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: &str,
    kind: Kind<T>,
) -> Result<T, SettingsError> {
    let text = lookup(name).unwrap_or_else(|| default.to_owned());
    kind.parse(text.trim())
        .map_err(|reason| invalid(name, reason))
}

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

    /// Builds settings from a map of environment-style variables over an optional TOML file (a
    /// path without its extension) over the defaults. Empty values count as unset. Tests use
    /// this with their own map.
    pub fn from_variables(
        variables: &HashMap<String, String>,
        file: Option<&str>,
    ) -> Result<Settings, SettingsError> {
        let file_values = match file {
            Some(file) => read_file(file)?,
            None => HashMap::new(),
        };
        let lookup = |name: &str| {
            let set = |value: &String| (!value.trim().is_empty()).then(|| value.clone());
            variables
                .get(name)
                .and_then(set)
                .or_else(|| file_values.get(&name.to_ascii_lowercase()).and_then(set))
        };
        let settings = Settings::read(&lookup)?;
        settings.check_relations()?;
        Ok(settings)
    }

    /// The rules that tie settings together.
    fn check_relations(&self) -> Result<(), SettingsError> {
        let http = &self.http;
        if http.login_failures_per_username_global < http.login_failures_per_username {
            return Err(invalid(
                "LOGIN_FAILURES_PER_USERNAME_GLOBAL",
                format!(
                    "{} is out of range: must be at least LOGIN_FAILURES_PER_USERNAME ({})",
                    http.login_failures_per_username_global, http.login_failures_per_username
                ),
            ));
        }
        let pipeline = &self.pipeline;
        let report = pipeline.report_interval().as_secs_f64();
        if !(1.0..=MAX_SECONDS).contains(&report) {
            return Err(invalid(
                "REPORT_SCHEDULE_HOURS, REPORT_SCHEDULE_MINUTES, REPORT_SCHEDULE_SECONDS",
                format!("the report interval (hours + minutes + seconds) must be between 1 second and {MAX_SECONDS} seconds"),
            ));
        }
        if self.incoming.address.is_some() && self.general.secret_key.expose().is_empty() {
            return Err(invalid(
                "INCOMING_EMAIL_ADDRESS",
                "needs SECRET_KEY: the reply addresses are signed with it",
            ));
        }
        if pipeline.email_timeout * 2 > pipeline.sending_lease {
            return Err(invalid(
                "EMAIL_TIMEOUT",
                "must be at most half of SENDING_LEASE, so that a send always ends inside its lease (or another worker could take it over and send it again)",
            ));
        }
        Ok(())
    }
}

/// The values of a TOML settings file, by lower-case name; a name that is no setting is an error
/// (a typo would otherwise be silently ignored).
fn read_file(file: &str) -> Result<HashMap<String, String>, SettingsError> {
    let built = config::Config::builder()
        .add_source(config::File::with_name(file).required(false))
        .build()
        .map_err(|e| SettingsError::Source(e.to_string()))?;
    let table = built
        .try_deserialize::<HashMap<String, config::Value>>()
        .map_err(|e| SettingsError::Source(e.to_string()))?;
    let known: Vec<String> = declarations()
        .iter()
        .map(|d| d.name.to_ascii_lowercase())
        .collect();
    let mut values = HashMap::new();
    for (key, value) in table {
        if !known.contains(&key) {
            return Err(SettingsError::Source(format!(
                "{file}.toml: {key:?} is not a setting"
            )));
        }
        let text = value
            .into_string()
            .map_err(|e| invalid(&key, e.to_string()))?;
        values.insert(key, text);
    }
    Ok(values)
}

/// The settings table of the documentation (Markdown), generated from the declarations.
pub fn settings_table() -> String {
    let mut table =
        String::from("| variable | what it does | accepts | default |\n|---|---|---|---|\n");
    let mut slice = "";
    for declaration in declarations() {
        if declaration.slice != slice {
            slice = declaration.slice;
            table.push_str(&format!("| **{slice}** | | | |\n"));
        }
        let default = if declaration.default.is_empty() {
            "empty".to_owned()
        } else {
            format!("`{}`", declaration.default)
        };
        table.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            declaration.name,
            declaration.doc.replace('|', "\\|"),
            declaration.accepts.replace('|', "\\|"),
            default
        ));
    }
    table
}

const TABLE_BEGIN: &str = "<!-- settings table: begin (generated; do not edit by hand) -->\n";
const TABLE_END: &str = "<!-- settings table: end -->";

/// `document` with the text between its settings-table markers replaced by [`settings_table`].
pub fn splice_settings_table(document: &str) -> Result<String, String> {
    let (before, rest) = document
        .split_once(TABLE_BEGIN)
        .ok_or("the document has no settings table marker")?;
    let (_, after) = rest
        .split_once(TABLE_END)
        .ok_or("the settings table has no end marker")?;
    Ok(format!(
        "{before}{TABLE_BEGIN}{}{TABLE_END}{after}",
        settings_table()
    ))
}

/// `config/default.toml`: every setting with its default and documentation, generated from the
/// declarations (a starting point for `config/issue-tracker.toml`).
pub fn default_toml() -> String {
    let mut text = String::from(
        "# Every setting with its default, generated from crates/config/src/settings.rs (do not edit:\n\
         # `cargo run -p issue-tracker-config --example settings-docs` rewrites it). Copy what you\n\
         # change to config/issue-tracker.toml, or set the upper-case environment variable.\n",
    );
    let mut slice = "";
    for declaration in declarations() {
        if declaration.slice != slice {
            slice = declaration.slice;
            text.push_str(&format!("\n# [{slice}]\n"));
        }
        // Numbers and booleans bare, everything else a TOML string.
        let bare = declaration.default.parse::<f64>().is_ok()
            || matches!(declaration.default, "true" | "false");
        let value = if bare {
            declaration.default.to_owned()
        } else {
            format!("{:?}", declaration.default)
        };
        text.push_str(&format!(
            "# {} Accepts: {}.\n{} = {value}\n",
            declaration.doc,
            declaration.accepts,
            declaration.name.to_ascii_lowercase(),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        assert_eq!(s.http.bind_address.to_string(), "127.0.0.1:8000");
        assert_eq!(
            s.http.allowed_hosts,
            Some(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        );
        assert_eq!(
            s.database.url,
            DatabaseUrl::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH))
        );
        assert_eq!(s.accounts.token_ttl, Duration::from_secs(2_592_000));
        assert_eq!(s.accounts.bcrypt_cost, 12);
        assert_eq!(s.pipeline.assign_delay, Duration::from_secs(12 * 60));
        assert_eq!(s.pipeline.report_interval(), Duration::from_secs(24 * 3600));
        assert_eq!(s.email.transport_security(), EmailTls::None);
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
        assert_eq!(s.pipeline.assign_delay, Duration::from_secs(30));
        assert_eq!(s.pipeline.report_interval(), Duration::from_secs(110));
        assert!(s.general.debug);
        assert_eq!(s.http.allowed_hosts, None);
        assert_eq!(s.email.transport_security(), EmailTls::StartTls);
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

    #[test]
    fn the_pool_size_follows_the_database_unless_set() {
        let size = |pairs: &[(&str, &str)]| with(pairs).unwrap().database.connections();
        assert_eq!(size(&[("DATABASE_URL", "postgres://u@h/db")]), 16);
        assert_eq!(size(&[("DATABASE_URL", "sqlite:///tmp/x.db")]), 12);
        assert_eq!(size(&[]), 12, "the embedded default is SQLite");
        for url in ["postgres://u@h/db", "sqlite:///tmp/x.db"] {
            assert_eq!(
                size(&[("DATABASE_URL", url), ("DATABASE_POOL_SIZE", "20")]),
                20
            );
        }
    }

    /// Every numeric setting at and past its extremes: the extremes start, anything past them is
    /// refused naming the setting (audit finding B18: TOKEN_TTL=100000000000000 used to be
    /// accepted and then made every login panic).
    #[test]
    fn every_numeric_setting_has_a_range() {
        let huge = "100000000000000";
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "DATABASE_POOL_SIZE",
                &["0", "1", "1000"],
                &["-1", "1001", huge],
            ),
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
        assert_eq!(s.http.cors_allowed_origins, ["*"]);
        assert_eq!(
            s.http.public_url.as_deref(),
            Some("https://issues.example.com")
        );
        assert_eq!(s.http.trusted_proxies.len(), 2);
    }

    /// The documentation's settings table and `config/default.toml` are generated from the
    /// declarations; this fails when either is out of date (rewrite them with
    /// `cargo run -p issue-tracker-config --example settings-docs`).
    #[test]
    fn generated_documentation_is_current() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let operations = std::fs::read_to_string(format!("{root}/docs/operations.md")).unwrap();
        assert_eq!(
            splice_settings_table(&operations).unwrap(),
            operations,
            "docs/operations.md's settings table is out of date: run `cargo run -p issue-tracker-config --example settings-docs`"
        );
        let toml = std::fs::read_to_string(format!("{root}/config/default.toml")).unwrap();
        assert_eq!(
            default_toml(),
            toml,
            "config/default.toml is out of date: run `cargo run -p issue-tracker-config --example settings-docs`"
        );
    }

    /// Every declared default parses, and config/default.toml read as a settings file gives the
    /// defaults.
    #[test]
    fn the_generated_default_file_reads_back() {
        let dir = std::env::temp_dir().join(format!("settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("defaults.toml"), default_toml()).unwrap();
        let from_file = Settings::from_variables(
            &HashMap::new(),
            Some(dir.join("defaults").to_str().unwrap()),
        )
        .unwrap();
        assert_eq!(
            format!("{from_file:?}"),
            format!("{:?}", with(&[]).unwrap())
        );
        std::fs::write(dir.join("typo.toml"), "bind_adress = \"0.0.0.0:80\"\n").unwrap();
        let error =
            Settings::from_variables(&HashMap::new(), Some(dir.join("typo").to_str().unwrap()))
                .unwrap_err()
                .to_string();
        assert!(error.contains("bind_adress"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
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
