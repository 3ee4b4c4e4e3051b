//! A whole pipeline for a test: API server, beat and worker in this process (or the worker as a
//! process), a fresh database, a queue (a real Redis or the in-process one) and the test's own
//! SMTP server.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::Duration;

use issue_tracker_api::AppState;
use issue_tracker_config::Settings;
use issue_tracker_persistence::NewUser;
use issue_tracker_queue::JobQueue;
use issue_tracker_testkit::{Kind, SmtpServer, TestDb};
use serde_json::{json, Value};
use tokio::sync::watch;

pub const SHARED_REDIS: &str = "redis://127.0.0.1:6379";

pub fn shared_redis() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| SHARED_REDIS.to_owned())
}

/// The environment of a pipeline: what a process would read.
pub fn variables(
    db: &TestDb,
    smtp_port: u16,
    redis: Option<&str>,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let stream = format!("it:{}", uuid::Uuid::new_v4().simple());
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", db.url.clone()),
        ("BCRYPT_COST", "4".into()),
        ("HTTP_WORKERS", "1".into()),
        ("DATABASE_POOL_SIZE", "8".into()),
        ("EMAIL_HOST", "127.0.0.1".into()),
        ("EMAIL_PORT", smtp_port.to_string()),
        ("EMAIL_FROM", "tracker@example.com".into()),
        ("EMAIL_TIMEOUT", "3".into()),
        ("SENDING_LEASE", "6".into()),
        ("REQUEUE_AFTER", "3".into()),
        ("RECLAIM_IDLE", "3".into()),
        ("RELAY_INTERVAL", "1".into()),
        ("RETRY_BACKOFF", "0.5".into()),
        ("RETRY_BACKOFF_MAX", "1".into()),
        ("ASSIGN_REPORT_SCHEDULE", "0".into()),
        // Reports off the way unless a test asks: one per 10 hours.
        ("REPORT_SCHEDULE_HOURS", "10".into()),
        ("QUEUE_STREAM", stream),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(redis) = redis {
        vars.insert("REDIS_URL".into(), redis.to_owned());
    }
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    vars
}

pub struct Pipeline {
    pub db: TestDb,
    pub smtp: SmtpServer,
    pub settings: Settings,
    pub base: String,
    pub client: reqwest::Client,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub enum Roles {
    /// API, beat and worker in this process.
    All,
    /// API and beat here; the worker runs elsewhere (a process the test controls).
    NoWorker,
    /// Only the API here; worker and beat run elsewhere.
    ApiOnly,
}

impl Pipeline {
    pub async fn start(kind: Kind, redis: Option<&str>, extra: &[(&str, &str)]) -> Pipeline {
        let smtp = SmtpServer::start().await;
        Pipeline::start_with(kind, smtp, redis, extra, Roles::All).await
    }

    pub async fn start_with(
        kind: Kind,
        smtp: SmtpServer,
        redis: Option<&str>,
        extra: &[(&str, &str)],
        roles: Roles,
    ) -> Pipeline {
        Pipeline::start_full(kind, smtp, redis, extra, roles, |url| url.to_owned()).await
    }

    /// Like [`Pipeline::start_with`]; the worker in this process reaches the database at
    /// `worker_database(url)` (a fault proxy in front of it, say).
    pub async fn start_full(
        kind: Kind,
        smtp: SmtpServer,
        redis: Option<&str>,
        extra: &[(&str, &str)],
        roles: Roles,
        worker_database: impl FnOnce(&str) -> String,
    ) -> Pipeline {
        if std::env::var_os("RUST_LOG").is_some() {
            // For the whole test process: the writer must outlive every test.
            std::mem::forget(issue_tracker_app::init_tracing(
                issue_tracker_config::LogFormat::Text,
            ));
        }
        let db = TestDb::new(kind);
        let vars = variables(&db, smtp.port, redis, extra);
        let settings = Settings::from_variables(&vars, None).expect("settings");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = AppState::new(db.db.clone(), &settings);
        std::thread::spawn(move || issue_tracker_api::run(state, listener));
        let (stop, shutdown) = watch::channel(false);
        let queue = match &settings.queue.redis_url {
            Some(url) => JobQueue::connect_redis(&issue_tracker_queue::RedisQueueConfig {
                endpoint: issue_tracker_queue::RedisEndpoint::Url(url.expose().to_owned()),
                stream: settings.queue.stream.clone(),
                group: settings.queue.group.clone(),
                block: Duration::from_millis(500),
            })
            .await
            .expect("Redis must be running for the tests"),
            None => JobQueue::in_process(),
        };
        let mut tasks = Vec::new();
        if !matches!(roles, Roles::ApiOnly) {
            let (settings, db, queue, shutdown) = (
                settings.clone(),
                db.db.clone(),
                queue.clone(),
                shutdown.clone(),
            );
            tasks.push(tokio::spawn(async move {
                issue_tracker_app::run_beat(&settings, db, queue, shutdown)
                    .await
                    .expect("beat");
            }));
        }
        if matches!(roles, Roles::All) {
            let mut worker_vars = vars.clone();
            let url = worker_database(&db.url);
            worker_vars.insert("DATABASE_URL".into(), url);
            let worker_settings = Settings::from_variables(&worker_vars, None).expect("settings");
            let worker_db = if worker_vars["DATABASE_URL"] == db.url {
                db.db.clone()
            } else {
                issue_tracker_app::open_database_lazily(&worker_settings).expect("worker database")
            };
            let (settings, db, queue, shutdown) =
                (worker_settings, worker_db, queue.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                issue_tracker_app::run_worker(&settings, db, queue, shutdown)
                    .await
                    .expect("worker");
            }));
        }
        Pipeline {
            db,
            smtp,
            settings,
            base,
            client: reqwest::Client::new(),
            stop,
            tasks,
        }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// The environment of a worker or beat process joining this pipeline: same database, SMTP
    /// server and queue stream, with Redis at `redis` and the `extra` settings.
    pub fn process_variables(
        &self,
        redis: &str,
        extra: &[(&str, &str)],
    ) -> HashMap<String, String> {
        let mut vars = variables(&self.db, self.smtp.port, Some(redis), extra);
        vars.insert("QUEUE_STREAM".into(), self.settings.queue.stream.clone());
        vars
    }

    pub fn user(&self, name: &str) {
        self.db
            .db
            .create_user(
                &NewUser {
                    username: name.into(),
                    email: format!("{name}@example.com"),
                    password_hash: bcrypt::hash(format!("pw-{name}"), 4).unwrap(),
                    is_staff: false,
                    is_superuser: false,
                },
                &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
            )
            .expect("create user");
    }

    pub async fn token(&self, name: &str) -> String {
        issue_tracker_testkit::api_token(&self.client, &self.base, name).await
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{}{}", self.base, path))
            .header("Authorization", format!("Token {token}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn create_issue(&self, token: &str, title: &str, assignee: &str) -> i64 {
        let (status, body) = self
            .call(
                "POST",
                "/api/issue/",
                token,
                Some(json!({"title": title, "description": format!("about {title}"), "status": "open", "assigned_to": assignee})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    }

    /// Posts an email's `List-Unsubscribe` link (under `https://issues.example.com`) as a mail
    /// provider does (RFC 8058), to this pipeline's server; the status.
    pub async fn one_click(&self, list_unsubscribe: &str) -> u16 {
        let path = list_unsubscribe
            .trim()
            .strip_prefix("<https://issues.example.com")
            .and_then(|rest| rest.strip_suffix('>'))
            .unwrap_or_else(|| panic!("{list_unsubscribe}"))
            .to_owned();
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub fn statuses(&self) -> Vec<(String, String, String)> {
        let mut rows: Vec<_> = self
            .db
            .db
            .list_notifications(None, 10_000)
            .unwrap()
            .into_iter()
            .map(|n| (n.kind, n.recipient, n.status))
            .collect();
        rows.reverse();
        rows
    }
}

/// Message-IDs of the received messages, each counted.
pub fn message_ids(smtp: &SmtpServer) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in smtp.received() {
        *counts
            .entry(message.header("Message-ID").unwrap_or_default())
            .or_insert(0) += 1;
    }
    counts
}
