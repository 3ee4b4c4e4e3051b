//! Real parts for tests: a fresh database per test (PostgreSQL database or SQLite file, dropped
//! afterwards), an SMTP server speaking SMTP over TCP whose answers a test controls, private
//! `redis-server` processes that a test may stop and restart without touching the shared one, a
//! private PgBouncer in transaction mode, and a fault-injecting TCP proxy to put in front of any
//! of them.

mod database;
mod lmtp;
mod login;
mod pgbouncer;
mod proxy;
mod redis;
mod replication;
mod sentinel;
mod smtp;
mod webhook_receiver;

pub use database::{admin_url, Kind, TestDb};
pub use lmtp::{lmtp_deliver, Answers as LmtpAnswers};
pub use login::api_token;
pub use pgbouncer::PgBouncer;
pub use proxy::{Fault, FaultProxy};
pub use redis::RedisServer;
pub use replication::{libfaketime, psql, PostgresPair};
pub use sentinel::{redis_cli, RedisSentinels, SENTINEL_MASTER};
pub use smtp::{Received, SmtpMode, SmtpServer};
pub use webhook_receiver::{Received as WebhookRequest, Reply as WebhookReply, WebhookReceiver};

use std::net::TcpListener as StdListener;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Waits (up to 10 s) until something accepts connections on 127.0.0.1:`port`; panics naming
/// `what` otherwise.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `check` every 50 ms until it is true or `timeout` passes; returns whether it became true.
pub async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs async test bodies on both databases. `both_databases!(|kind| ARG; name, ...)` makes, for
/// each `name`, a module with a `postgres` and a `sqlite` test calling `name(ARG).await`, where
/// `kind` is that test's [`Kind`] (`ARG` is typically a server spawned on a fresh database of that
/// kind). Without `|kind| ARG;`, each body gets the `Kind` itself.
#[macro_export]
macro_rules! both_databases {
    (|$kind:ident| $argument:expr; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let $kind = $crate::Kind::Postgres;
                    super::$name($argument).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $kind = $crate::Kind::Sqlite;
                    super::$name($argument).await;
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $crate::both_databases!(|kind| kind; $($name),*);
    };
}
