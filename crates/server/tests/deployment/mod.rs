//! A deployment on one machine, as processes: N API servers sharing one port (`REUSE_PORT`),
//! N workers, N beats, one PostgreSQL reached through PgBouncer in transaction mode, a private
//! Redis and the test's SMTP server. Each process logs JSON to its own file, kept across restarts.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use issue_tracker_domain::{Origin, Via};
use issue_tracker_persistence::NewUser;
use issue_tracker_testkit::{free_port, Kind, PgBouncer, RedisServer, SmtpServer, TestDb};

/// Which program a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Worker,
    Beat,
}

/// A binary of this workspace. The server's path is known to this package's tests; the others are
/// built beside it by `cargo test --workspace` (scripts/test).
pub fn binary(name: &str) -> PathBuf {
    let server = Path::new(env!("CARGO_BIN_EXE_issue-tracker-server"));
    let path = server.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --workspace, or ./scripts/test)",
        path.display()
    );
    path
}

/// One process of the deployment; restarting it appends to the same log.
pub struct Process {
    pub role: Role,
    pub log: PathBuf,
    child: Option<Child>,
    vars: HashMap<String, String>,
    /// The network namespace it runs in, if not the host's.
    netns: Option<String>,
}

impl Process {
    pub fn spawn(role: Role, log: PathBuf, vars: HashMap<String, String>) -> Process {
        Process::spawn_in(role, log, vars, None)
    }

    /// Runs it inside the network namespace `netns` (`ip netns exec`).
    pub fn spawn_in(
        role: Role,
        log: PathBuf,
        vars: HashMap<String, String>,
        netns: Option<String>,
    ) -> Process {
        let mut process = Process {
            role,
            log,
            child: None,
            vars,
            netns,
        };
        process.start();
        process
    }

    pub fn start(&mut self) {
        let program = match self.role {
            Role::Server => binary("issue-tracker-server"),
            Role::Worker => binary("issue-tracker-worker"),
            Role::Beat => binary("issue-tracker-beat"),
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("process log");
        let mut command = match &self.netns {
            Some(netns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns]).arg(program);
                command
            }
            None => Command::new(program),
        };
        let child = command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.vars)
            .current_dir(self.log.parent().unwrap())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start a process");
        self.child = Some(child);
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for it to exit.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether it is still running (it did not exit by itself).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }

    /// Log lines containing every one of `parts`.
    pub fn log_lines_with(&self, parts: &[&str]) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| parts.iter().all(|part| line.contains(part)))
            .count()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How many of each, and how often reports fall due.
pub struct Shape {
    pub servers: usize,
    pub workers: usize,
    pub beats: usize,
    pub report_seconds: u64,
    /// PgBouncer's server connections per database (fewer than the processes' connections).
    pub server_connections: u32,
}

pub struct Cluster {
    pub db: TestDb,
    pub bouncer: PgBouncer,
    pub redis: RedisServer,
    pub smtp: SmtpServer,
    pub base: String,
    pub dir: PathBuf,
    pub servers: Vec<Process>,
    pub workers: Vec<Process>,
    pub beats: Vec<Process>,
    vars: HashMap<String, String>,
}

impl Cluster {
    /// Starts the services; the processes come with [`Cluster::start_processes`], so that users
    /// and data can be made first.
    pub async fn new(shape: &Shape, extra: &[(&str, &str)]) -> Cluster {
        let db = TestDb::new(Kind::Postgres);
        let bouncer = PgBouncer::start(shape.server_connections);
        let redis = RedisServer::start();
        let smtp = SmtpServer::start().await;
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("issue-tracker-cluster-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut vars = process_vars(
            bouncer.url(&db),
            redis.url(),
            format!("127.0.0.1:{port}"),
            smtp.port,
        );
        for (k, v) in [
            ("REUSE_PORT", "true".to_owned()),
            ("HTTP_WORKERS", "2".into()),
            ("LIST_CAP", "100000".into()),
            ("EMAIL_TIMEOUT", "3".into()),
            ("SENDING_LEASE", "6".into()),
            ("REQUEUE_AFTER", "3".into()),
            ("RECLAIM_IDLE", "3".into()),
            ("RETRY_BACKOFF", "0.5".into()),
            ("RETRY_BACKOFF_MAX", "1".into()),
            ("REPORT_SCHEDULE_HOURS", "0".into()),
            ("REPORT_SCHEDULE_SECONDS", shape.report_seconds.to_string()),
            ("RATE_LIMIT_PER_TOKEN", "1000000".into()),
            ("RATE_LIMIT_PER_ADDRESS", "1000000".into()),
        ] {
            vars.insert(k.to_owned(), v);
        }
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Cluster {
            db,
            bouncer,
            redis,
            smtp,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            servers: Vec::new(),
            workers: Vec::new(),
            beats: Vec::new(),
            vars,
        }
    }

    pub fn start_processes(&mut self, shape: &Shape) {
        for (role, count) in [
            (Role::Server, shape.servers),
            (Role::Worker, shape.workers),
            (Role::Beat, shape.beats),
        ] {
            for index in 0..count {
                let log = self
                    .dir
                    .join(format!("{role:?}-{index}.log").to_lowercase());
                let process = Process::spawn(role, log, self.vars.clone());
                match role {
                    Role::Server => self.servers.push(process),
                    Role::Worker => self.workers.push(process),
                    Role::Beat => self.beats.push(process),
                }
            }
        }
    }

    /// Waits until `/health` answers through the shared port.
    pub async fn wait_until_serving(&self) {
        wait_until_serving(&self.base, &self.dir).await;
    }

    /// Makes a user (password `pw-<name>`) directly in the database.
    pub fn user(&self, name: &str, staff: bool) {
        make_user(&self.db.db, name, staff);
    }

    pub async fn token(&self, name: &str) -> String {
        token(&self.base, name).await
    }

    /// Every process's log lines containing every one of `parts`, per process.
    pub fn served(&self, parts: &[&str]) -> Vec<usize> {
        self.servers
            .iter()
            .map(|server| server.log_lines_with(parts))
            .collect()
    }

    /// The notification ids a worker may have in flight (status `sending`).
    pub fn sending(&self) -> Vec<i64> {
        self.db
            .db
            .list_notifications(None, 1_000_000)
            .unwrap()
            .into_iter()
            .filter(|n| n.status == "sending")
            .map(|n| n.id.get())
            .collect()
    }
}

/// Waits (30 s at most) until `/health` at `base` answers; `logs` is named if it never does.
pub async fn wait_until_serving(base: &str, logs: &Path) {
    let client = fresh_connections();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{base}/health")).send().await {
            if response.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no server answered at {base}: see {}",
            logs.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A token of user `name` (password `pw-<name>`), from the server at `base`.
pub async fn token(base: &str, name: &str) -> String {
    issue_tracker_testkit::api_token(&reqwest::Client::new(), base, name).await
}

/// Makes a user (password `pw-<name>`, address `<name>@example.com`) directly in the database.
pub fn make_user(db: &issue_tracker_persistence::Database, name: &str, staff: bool) {
    db.create_user(
        &NewUser {
            username: name.into(),
            email: format!("{name}@example.com"),
            password_hash: bcrypt::hash(format!("pw-{name}"), 4).unwrap(),
            is_staff: staff,
            is_superuser: false,
        },
        &Origin::system(Via::Cli),
    )
    .expect("create user");
}

/// What every process of a test deployment reads: the database through PgBouncer (transaction
/// mode), Redis, where to listen, the test's SMTP server, JSON logs, fast bcrypt, emails due at
/// once and relayed every second.
pub fn process_vars(
    database_url: String,
    redis_url: String,
    bind: String,
    smtp_port: u16,
) -> HashMap<String, String> {
    [
        ("DATABASE_URL", database_url),
        ("DATABASE_TRANSACTION_POOLING", "true".into()),
        ("DATABASE_POOL_SIZE", "4".into()),
        ("REDIS_URL", redis_url),
        ("BIND_ADDRESS", bind),
        ("HTTP_WORKERS", "1".into()),
        ("LOG_FORMAT", "json".into()),
        ("RUST_LOG", "info".into()),
        ("BCRYPT_COST", "4".into()),
        ("EMAIL_HOST", "127.0.0.1".into()),
        ("EMAIL_PORT", smtp_port.to_string()),
        ("EMAIL_FROM", "tracker@example.com".into()),
        ("ASSIGN_REPORT_SCHEDULE", "0".into()),
        ("RELAY_INTERVAL", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A client that opens a new connection for every request, so that the kernel spreads them over
/// the servers sharing the port.
pub fn fresh_connections() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Message-IDs received, each counted.
pub fn message_ids(smtp: &SmtpServer) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in smtp.received() {
        *counts
            .entry(message.header("Message-ID").unwrap_or_default())
            .or_insert(0) += 1;
    }
    counts
}

/// A network namespace joined to the host by a veth pair: a host of its own on this machine,
/// `host_ip` on the host's side, `ns_ip` inside, and `unroutable_ip` in the same subnet with
/// nobody behind it (connections to it hang, then fail: a network partition).
pub struct NetNs {
    pub name: String,
    pub host_ip: String,
    pub ns_ip: String,
    pub unroutable_ip: String,
    host_link: String,
}

fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .expect("iproute2's ip (scripts/test installs it)");
    assert!(
        status.success(),
        "ip {} failed (network namespaces need root)",
        args.join(" ")
    );
}

impl NetNs {
    pub fn new() -> NetNs {
        let id = std::process::id() % 200 + 20;
        let name = format!("it-{}", std::process::id());
        let host_link = format!("ith{}", std::process::id() % 100_000);
        let ns_link = format!("itn{}", std::process::id() % 100_000);
        let (host_ip, ns_ip) = (format!("10.213.{id}.1"), format!("10.213.{id}.2"));
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", &ns_link,
        ]);
        ip(&["link", "set", &ns_link, "netns", &name]);
        ip(&["addr", "add", &format!("{host_ip}/24"), "dev", &host_link]);
        ip(&["link", "set", &host_link, "up"]);
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{ns_ip}/24"),
            "dev",
            &ns_link,
        ]);
        ip(&["-n", &name, "link", "set", &ns_link, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        NetNs {
            name,
            host_ip,
            ns_ip,
            unroutable_ip: format!("10.213.{id}.3"),
            host_link,
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
