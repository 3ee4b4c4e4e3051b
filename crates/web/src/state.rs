use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use issue_tracker_domain::IssueFilter;

use issue_tracker_config::{AccountSettings, HttpSettings, Secret, Settings};
use issue_tracker_persistence::Database;

use crate::error::ApiError;

/// The settings the API reads: its own slice, the accounts' and the few others it needs.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The HTTP server's settings.
    pub http: HttpSettings,
    /// Passwords and tokens.
    pub accounts: AccountSettings,
    /// Delay from an assignment to its email (written into the outbox row).
    pub assign_delay: Duration,
    /// How long a watcher's email waits for more of the same burst (`NOTIFY_DEBOUNCE`).
    pub notify_debounce: Duration,
    /// Redis (or the Sentinels that know its master), for shared rate limits and `/ready`.
    pub redis: Option<issue_tracker_queue::RedisEndpoint>,
    /// Signs the reports' unsubscribe links (`SECRET_KEY`).
    pub secret_key: Secret,
    /// Hosts webhooks may register with an internal address (`WEBHOOK_ALLOWED_HOSTS`).
    pub webhook_allowed_hosts: Option<Vec<String>>,
}

impl From<&Settings> for ApiSettings {
    fn from(settings: &Settings) -> Self {
        ApiSettings {
            http: settings.http.clone(),
            accounts: settings.accounts.clone(),
            assign_delay: settings.pipeline.assign_delay,
            notify_debounce: settings.pipeline.notify_debounce,
            redis: issue_tracker_queue::RedisEndpoint::from_queue_settings(&settings.queue),
            secret_key: settings.general.secret_key.clone(),
            webhook_allowed_hosts: settings.webhooks.allowed_hosts.clone(),
        }
    }
}

/// What every handler shares: the database pool and the settings.
#[derive(Clone)]
pub struct AppState {
    /// The pool.
    pub db: Database,
    /// The settings, read once.
    pub settings: Arc<ApiSettings>,
    /// A bcrypt hash of a random password at the configured cost: a login for an unknown user is
    /// checked against it, so it costs the same time as a wrong password.
    pub dummy_hash: Arc<str>,
    /// Turns for checking imported (Django) password hashes.
    pub password_gate: Arc<crate::password_gate::PasswordGate>,
    /// Failed-login counters.
    pub login_throttle: Arc<crate::throttle::LoginThrottle>,
    /// Request rate limits.
    pub rate_limiter: Arc<crate::ratelimit::RateLimiter>,
    /// Prometheus instruments.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The live streams open on this server.
    pub streams: Arc<crate::streams::StreamSlots>,
    /// Recent counts of filtered lists (see [`AppState::counted`]).
    count_cache: Arc<std::sync::Mutex<HashMap<IssueFilter, CachedCount>>>,
}

struct CachedCount {
    at: Instant,
    count: i64,
    refreshing: bool,
}

/// How long a list count may be reused. Counting a million rows on every page request would cost
/// more than the page; a total two seconds old is fine for `X-Total-Count` and `Link`.
const COUNT_TTL: Duration = Duration::from_secs(2);
/// Most list counts kept at once.
const MAX_CACHED_COUNTS: usize = 10_000;

impl AppState {
    /// Builds the state; computes the dummy hash (one bcrypt run).
    pub fn new(db: Database, settings: &Settings) -> AppState {
        let settings = ApiSettings::from(settings);
        let random = issue_tracker_domain::NewToken::generate().key;
        let dummy_hash = bcrypt::hash(random, settings.accounts.bcrypt_cost).unwrap_or_else(|e| {
            panic!(
                "bcrypt cannot hash at cost {}: {e}",
                settings.accounts.bcrypt_cost
            )
        });
        let settings_limits = (
            settings.http.rate_limit_per_token,
            settings.http.rate_limit_per_address,
        );
        let login_throttle =
            crate::throttle::LoginThrottle::new(login_limits(&settings), LOGIN_WINDOW);
        AppState {
            db,
            settings: Arc::new(settings),
            dummy_hash: dummy_hash.into(),
            password_gate: Arc::new(crate::password_gate::PasswordGate::per_core()),
            login_throttle: Arc::new(login_throttle),
            count_cache: Arc::default(),
            metrics: Arc::default(),
            streams: Arc::default(),
            rate_limiter: Arc::new(crate::ratelimit::RateLimiter::new(
                settings_limits.0,
                settings_limits.1,
                None,
            )),
        }
    }

    /// Counts rate limits in Redis when `REDIS_URL` is set and Redis answers; otherwise they stay
    /// in this process (and a warning says so).
    pub async fn connect_shared_limits(&mut self) {
        let Some(endpoint) = &self.settings.redis else {
            return;
        };
        match issue_tracker_queue::SharedCounter::connect(endpoint).await {
            Ok(shared) => {
                self.rate_limiter = Arc::new(crate::ratelimit::RateLimiter::new(
                    self.settings.http.rate_limit_per_token,
                    self.settings.http.rate_limit_per_address,
                    Some(shared.clone()),
                ));
                self.login_throttle = Arc::new(
                    crate::throttle::LoginThrottle::new(login_limits(&self.settings), LOGIN_WINDOW)
                        .with_shared(shared),
                );
            }
            Err(error) => {
                tracing::warn!(%error, "Redis unreachable at start: rate limits are counted per process")
            }
        }
    }

    /// How many issues match `filter`, counted at most every two seconds per filter. Blocking.
    /// When a count goes stale, one request recounts while the others keep the stale figure, so
    /// that a busy list does not make every concurrent request count at once.
    pub fn counted(&self, db: &Database, filter: &IssueFilter) -> Result<i64, ApiError> {
        let now = Instant::now();
        {
            let mut cache = self.count_cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = cache.get_mut(filter) {
                if now.duration_since(entry.at) < COUNT_TTL || entry.refreshing {
                    return Ok(entry.count);
                }
                entry.refreshing = true;
            }
        }
        let counted = db.count_issues_filtered(filter);
        let mut cache = self.count_cache.lock().unwrap_or_else(|p| p.into_inner());
        let count = match counted {
            Ok(count) => count,
            Err(error) => {
                if let Some(entry) = cache.get_mut(filter) {
                    entry.refreshing = false;
                }
                return Err(error.into());
            }
        };
        if cache.len() >= MAX_CACHED_COUNTS {
            cache.retain(|_, entry| now.duration_since(entry.at) < COUNT_TTL);
            if cache.len() >= MAX_CACHED_COUNTS {
                // Bounded whatever filters clients send (each key is at most a few hundred
                // bytes: list parameters are length-limited).
                cache.clear();
            }
        }
        cache.insert(
            filter.clone(),
            CachedCount {
                at: now,
                count,
                refreshing: false,
            },
        );
        Ok(count)
    }

    /// Runs blocking store work on the blocking pool, off the async executor.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&issue_tracker_persistence::Database) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.db.clone();
        // Log lines of the blocking part keep the request's id.
        let span = tracing::Span::current();
        actix_web::web::block(move || span.in_scope(|| work(&db))).await?
    }
}

/// Failed logins are counted per minute.
const LOGIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

fn login_limits(settings: &ApiSettings) -> crate::throttle::LoginLimits {
    crate::throttle::LoginLimits {
        per_address: settings.http.login_failures_per_address,
        per_username: settings.http.login_failures_per_username,
        per_username_global: settings.http.login_failures_per_username_global,
    }
}
