//! Every setting, declared once: its slice, field, environment name, type, default, what it
//! accepts and one line of documentation. The structs, the reader, the documentation table and
//! `config/default.toml` are all derived from this one list.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::kinds::*;
use crate::{DatabaseUrl, EmailTls, LogFormat, Secret};

/// Declares the settings: generates `Settings` (one field per slice), one struct per slice, and
/// [`declarations`] (the list the reader, the docs and the checks walk).
macro_rules! settings {
    ($(
        #[doc = $slice_doc:literal]
        $slice:ident: $Slice:ident {
            $(
                #[doc = $doc:literal]
                $field:ident $env:literal : $ty:ty = $default:literal, $kind:expr;
            )*
        }
    )*) => {
        /// Every setting, typed and checked, in one slice per part of the service: each crate
        /// takes only the slice it needs.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $(#[doc = $slice_doc] pub $slice: $Slice,)*
        }

        $(
            #[doc = $slice_doc]
            #[derive(Debug, Clone)]
            pub struct $Slice {
                $(#[doc = $doc] pub $field: $ty,)*
            }
        )*

        /// Every setting's declaration, in the order of the documentation.
        pub fn declarations() -> Vec<Declaration> {
            vec![$($(Declaration {
                slice: stringify!($slice),
                name: $env,
                default: $default,
                accepts: { let kind: Kind<$ty> = $kind; kind.accepts().to_owned() },
                doc: $doc.trim(),
            },)*)*]
        }

        impl Settings {
            /// Reads every setting through `lookup` (which gives a setting's text, or `None` for
            /// its default), naming the setting in any error.
            pub(crate) fn read(
                lookup: &dyn Fn(&str) -> Option<String>,
            ) -> Result<Settings, crate::SettingsError> {
                Ok(Settings {
                    $($slice: $Slice {
                        $($field: crate::read_one(lookup, $env, $default, $kind)?,)*
                    },)*
                })
            }
        }
    };
}

/// One setting as declared.
#[derive(Debug, Clone)]
pub struct Declaration {
    /// The slice of [`Settings`] it belongs to.
    pub slice: &'static str,
    /// Its environment variable (upper case; lower case in TOML files).
    pub name: &'static str,
    /// Its default, as text.
    pub default: &'static str,
    /// What it accepts.
    pub accepts: String,
    /// One line on what it does.
    pub doc: &'static str,
}

settings! {
    /// The process: logs and compatibility.
    general: GeneralSettings {
        /// Log lines: human-readable `text` or `json` (filter with `RUST_LOG`, default `info`).
        log_format "LOG_FORMAT": LogFormat = "text", log_format();
        /// Development mode (more detail in logs; never internals in responses).
        debug "DEBUG": bool = "false", boolean();
        /// Signs the reports' one-click unsubscribe links (with `PUBLIC_URL`); empty: reports carry none. Keep it secret and stable.
        secret_key "SECRET_KEY": Secret = "", secret();
    }
    /// The database and its connection pool.
    database: DatabaseSettings {
        /// The database (`sqlite:///tmp/x.db` is `/tmp/x.db`); empty: `./data/issue-tracker.sqlite3` (WAL).
        url "DATABASE_URL": DatabaseUrl = "", database_url();
        /// Connections per process; 0 = 16 on PostgreSQL, 12 on SQLite (each SQLite connection keeps its own page cache, schema and statements in this process's memory).
        pool_size "DATABASE_POOL_SIZE": u32 = "0", integer(0, 1_000);
        /// How long to wait for a free connection before answering 503.
        pool_timeout "DATABASE_POOL_TIMEOUT": Duration = "5", seconds();
        /// PostgreSQL is reached through a pooler in transaction mode (PgBouncer): no server-side prepared statements are kept.
        transaction_pooling "DATABASE_TRANSACTION_POOLING": bool = "false", boolean();
    }
    /// The HTTP server: where it listens, what it answers for, its limits.
    http: HttpSettings {
        /// Where the server listens.
        bind_address "BIND_ADDRESS": SocketAddr = "127.0.0.1:8000", socket_address();
        /// Let several server processes on one host listen on the same `BIND_ADDRESS` (`SO_REUSEPORT`; the kernel spreads connections).
        reuse_port "REUSE_PORT": bool = "false", boolean();
        /// Host names answered for (the `Host` header without its port); others get 400.
        allowed_hosts "ALLOWED_HOSTS": Option<Vec<String>> = "127.0.0.1,localhost", host_patterns();
        /// HTTP worker threads; 0 = one per CPU core.
        workers "HTTP_WORKERS": usize = "0", integer(0, 1_024);
        /// Largest request body in bytes; larger gets 413.
        max_body_bytes "MAX_BODY_BYTES": usize = "1048576", integer(1_024, 1 << 30);
        /// Most issues `GET /api/issue/` answers without `page`/`per_page` (past it, the first page with `Link`).
        list_cap "LIST_CAP": usize = "10000", integer(1, 100_000);
        /// Seconds a client may take to send a request's headers (then 408 and the connection closed).
        request_header_timeout "REQUEST_HEADER_TIMEOUT": Duration = "10", seconds();
        /// Seconds a client may take to send a request's body (then 408; nothing is written).
        request_body_timeout "REQUEST_BODY_TIMEOUT": Duration = "30", seconds();
        /// Origins allowed to call the API from a browser (CORS); empty turns CORS off.
        cors_allowed_origins "CORS_ALLOWED_ORIGINS": Vec<String> = "", origins();
        /// Reverse proxies whose `X-Forwarded-*` / `Forwarded` headers are believed; empty = nobody.
        trusted_proxies "TRUSTED_PROXIES": Vec<IpAddr> = "", ip_addresses();
        /// The address users reach the service at; links are built from it (empty: from the request).
        public_url "PUBLIC_URL": Option<String> = "", optional_origin();
        /// Requests per minute per API token (429 past it).
        rate_limit_per_token "RATE_LIMIT_PER_TOKEN": u64 = "20000", integer(1, 1_000_000_000);
        /// Requests per minute per client address, for requests without a valid token.
        rate_limit_per_address "RATE_LIMIT_PER_ADDRESS": u64 = "5000", integer(1, 1_000_000_000);
        /// Failed logins per minute per client address.
        login_failures_per_address "LOGIN_FAILURES_PER_ADDRESS": u32 = "50", integer(1, 1_000_000);
        /// Failed logins per minute per (username, client address).
        login_failures_per_username "LOGIN_FAILURES_PER_USERNAME": u32 = "20", integer(1, 1_000_000);
        /// Failed logins per minute per username from all addresses together (at least the one above).
        login_failures_per_username_global "LOGIN_FAILURES_PER_USERNAME_GLOBAL": u32 = "1000", integer(1, 1_000_000);
        /// Live streams (`/api/notifications/stream/`, `/api/events/stream/`) one API token may hold open at once (429 past it).
        streams_per_token "STREAMS_PER_TOKEN": usize = "5", integer(1, 1_000);
        /// Live streams one server process holds open at once (429 past it).
        streams_per_server "STREAMS_PER_SERVER": usize = "1000", integer(1, 1_000_000);
        /// How often a live stream looks for what is new (seconds): a change written through any server reaches every stream within it.
        stream_poll "STREAM_POLL_INTERVAL": Duration = "0.5", seconds();
        /// Seconds of silence after which a live stream sends a heartbeat comment.
        stream_heartbeat "STREAM_HEARTBEAT": Duration = "15", seconds();
    }
    /// The staff web admin at `/admin/`.
    admin: AdminSettings {
        /// Longest life of an admin session, however busy (hours).
        session_lifetime "ADMIN_SESSION_LIFETIME": Duration = "12", duration_in("hours", 3600.0);
        /// An admin session unused for this long ends (minutes).
        session_idle "ADMIN_SESSION_IDLE": Duration = "30", duration_in("minutes", 60.0);
        /// The site is served over HTTPS: admin cookies are marked `Secure`.
        secure_cookies "ADMIN_SECURE_COOKIES": bool = "false", boolean();
    }
    /// Accounts: passwords and API tokens.
    accounts: AccountSettings {
        /// Lifetime of an API token (30 days by default).
        token_ttl "TOKEN_TTL": Duration = "2592000", integer_seconds();
        /// bcrypt work factor for passwords (lower only in tests).
        bcrypt_cost "BCRYPT_COST": u32 = "12", integer(4, 31);
    }
    /// The SMTP server emails go through.
    email: EmailSettings {
        /// SMTP server; empty: each email is written to a `.eml` file under `MAIL_DIR`.
        host "EMAIL_HOST": Option<String> = "", optional_text();
        /// SMTP port.
        port "EMAIL_PORT": u16 = "25", integer(1, 65_535);
        /// SMTP login user; empty: no login.
        user "EMAIL_HOST_USER": Option<String> = "", optional_text();
        /// SMTP login password.
        password "EMAIL_HOST_PASSWORD": Secret = "", secret();
        /// Sender address.
        from "EMAIL_FROM": String = "issue-tracker@localhost", text();
        /// TLS towards the SMTP server (`tls` is implicit TLS, usually port 465).
        tls "EMAIL_TLS": EmailTls = "none", email_tls();
        /// Django's name for `EMAIL_TLS=starttls`, honoured.
        use_tls "EMAIL_USE_TLS": bool = "false", boolean();
        /// Django's name for `EMAIL_TLS=tls`, honoured (wins over `EMAIL_USE_TLS`).
        use_ssl "EMAIL_USE_SSL": bool = "false", boolean();
        /// Where emails go when `EMAIL_HOST` is empty.
        mail_dir "MAIL_DIR": PathBuf = "data/mail", path();
    }
    /// The job queue between beat and workers.
    queue: QueueSettings {
        /// Redis: the job queue, shared rate limits, `/ready` (worker and beat: `redis://localhost:6379` when empty). With `REDIS_SENTINELS`, only its password and database count.
        redis_url "REDIS_URL": Option<Secret> = "", optional_secret_url();
        /// Sentinels that know the Redis master (`host:port,...`); set, they are asked where the master is, and again after a failover (`REDIS_URL` then gives only its password and database).
        sentinels "REDIS_SENTINELS": Vec<String> = "", host_ports();
        /// The master's name in the Sentinels' configuration.
        sentinel_master "REDIS_SENTINEL_MASTER": String = "mymaster", text();
        /// The Sentinels' own password, if they require one.
        sentinel_password "REDIS_SENTINEL_PASSWORD": Option<Secret> = "", optional_secret();
        /// Redis stream of the job queue's bulk lane; assignment emails go ahead in `<QUEUE_STREAM>:urgent`.
        stream "QUEUE_STREAM": String = "issue-tracker:notifications", text();
        /// Redis consumer group of the workers.
        group "QUEUE_GROUP": String = "workers", text();
    }
    /// When emails go out, and how the worker and beat keep them single.
    pipeline: PipelineSettings {
        /// Minutes from an assignment to its email.
        assign_delay "ASSIGN_REPORT_SCHEDULE": Duration = "12", duration_in("minutes", 60.0);
        /// Seconds a watcher's email waits for more of the same burst (comments, status changes on one issue within it make one email).
        notify_debounce "NOTIFY_DEBOUNCE": Duration = "120", duration_in("seconds", 1.0);
        /// Hour of the day (UTC, by the database's clock) the daily digests go out, for the users who chose them.
        digest_hour "DIGEST_HOUR": u32 = "8", integer(0, 23);
        /// Seconds between two digests (a day; shorter only for tests and demonstrations).
        digest_interval "DIGEST_INTERVAL": Duration = "86400", whole_seconds();
        /// Hours of the report interval (the interval is hours + minutes + seconds, at least 1 s).
        report_hours "REPORT_SCHEDULE_HOURS": Duration = "24", duration_in("hours", 3600.0);
        /// Minutes of the report interval.
        report_minutes "REPORT_SCHEDULE_MINUTES": Duration = "0", duration_in("minutes", 60.0);
        /// Seconds of the report interval.
        report_seconds "REPORT_SCHEDULE_SECONDS": Duration = "0", duration_in("seconds", 1.0);
        /// How often beat moves due notifications to the queue.
        relay_interval "RELAY_INTERVAL": Duration = "1", whole_seconds();
        /// How long a worker holds a notification while sending it (at least twice `EMAIL_TIMEOUT`).
        sending_lease "SENDING_LEASE": Duration = "60", seconds();
        /// An enqueued notification still pending after this long is enqueued again.
        requeue_after "REQUEUE_AFTER": Duration = "60", seconds();
        /// A queue entry a worker has not acknowledged after this long is taken over.
        reclaim_idle "RECLAIM_IDLE": Duration = "60", seconds();
        /// Bound of one email's whole SMTP exchange (at most half of `SENDING_LEASE`).
        email_timeout "EMAIL_TIMEOUT": Duration = "30", seconds();
        /// First wait before retrying a temporary failure (then doubling).
        retry_backoff "RETRY_BACKOFF": Duration = "30", seconds();
        /// Longest wait before retrying a temporary failure.
        retry_backoff_max "RETRY_BACKOFF_MAX": Duration = "3600", seconds();
        /// Attempts before a notification is dead.
        max_attempts "MAX_ATTEMPTS": u32 = "10", integer(1, 1_000);
        /// Emails one worker sends at once.
        worker_concurrency "WORKER_CONCURRENCY": usize = "64", integer(1, 10_000);
    }
    /// Replies by email: the reply address, the LMTP listener, the limits.
    incoming: IncomingSettings {
        /// Where replies go, with `%{token}` where each email's token goes (`reply+%{token}@tracker.example.com`); needs `SECRET_KEY`. Empty: emails carry no `Reply-To` and nothing is received.
        address "INCOMING_EMAIL_ADDRESS": Option<String> = "", reply_address_pattern();
        /// How long a reply address works after its email was sent (seconds; a year by default).
        token_ttl "INCOMING_EMAIL_TOKEN_TTL": Duration = "31536000", seconds();
        /// Largest message turned into a comment (bytes); a larger one is refused.
        max_bytes "INCOMING_EMAIL_MAX_BYTES": usize = "10485760", integer(1_024, 1 << 30);
        /// Refuse a reply whose `From` is not the address of the reply address's user (DKIM and SPF are the mail server's job).
        check_sender "INCOMING_EMAIL_CHECK_SENDER": bool = "true", boolean();
        /// Where the worker listens for LMTP deliveries (IP:PORT); empty: no listener.
        bind "INCOMING_EMAIL_BIND": Option<SocketAddr> = "", optional_socket_address();
    }
    /// Webhook deliveries, made by the worker.
    webhooks: WebhookSettings {
        /// Webhook hosts allowed to resolve to loopback, private, link-local or metadata addresses (for tests and private deployments); others are refused at connect time.
        allowed_hosts "WEBHOOK_ALLOWED_HOSTS": Option<Vec<String>> = "", host_patterns();
        /// Bound of one delivery attempt (connect, send, response); past it the attempt failed.
        timeout "WEBHOOK_TIMEOUT": Duration = "10", seconds();
        /// Waits before each retry of a failed attempt (the Standard Webhooks schedule); after the last, the delivery failed.
        retry_schedule "WEBHOOK_RETRY_SCHEDULE": Vec<Duration> = "5,300,1800,7200,18000,36000,36000", seconds_list();
        /// Deliveries one worker makes at once.
        concurrency "WEBHOOK_CONCURRENCY": usize = "64", integer(1, 10_000);
        /// How often an idle worker looks for due deliveries.
        poll_interval "WEBHOOK_POLL_INTERVAL": Duration = "0.5", seconds();
    }
}

impl EmailSettings {
    /// The TLS mode, with Django's `EMAIL_USE_SSL` and `EMAIL_USE_TLS` taking precedence.
    pub fn transport_security(&self) -> EmailTls {
        if self.use_ssl {
            EmailTls::Implicit
        } else if self.use_tls {
            EmailTls::StartTls
        } else {
            self.tls
        }
    }
}

impl PipelineSettings {
    /// The report interval: hours + minutes + seconds, rounded to whole seconds.
    pub fn report_interval(&self) -> Duration {
        let total = self.report_hours + self.report_minutes + self.report_seconds;
        Duration::from_secs(total.as_secs_f64().round() as u64)
    }
}
