//! A PostgreSQL primary with a synchronous streaming standby, each a private cluster on a
//! loopback port of its own (made with `initdb` and `pg_basebackup` from the machine's PostgreSQL
//! binaries), to fail over as Patroni or an operator would: stop the primary hard, promote the
//! standby, clear its `synchronous_standby_names`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::free_port;

/// The directory of the machine's PostgreSQL server binaries (`initdb`, `pg_ctl`, ...).
fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries under /usr/lib/postgresql")
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("initdb under /usr/lib/postgresql/*/bin")
}

/// libfaketime's library for multithreaded programs (Debian's `faketime` package; scripts/test
/// installs it).
pub fn libfaketime() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("faketime/libfaketimeMT.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketimeMT.so.1")])
        .find(|path| path.exists());
    found.expect("libfaketime is not installed (apt-get install faketime; scripts/test does)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL binary as the `postgres` user when the tests run as root (PostgreSQL refuses
/// to run as root), with `env` added.
fn pg(program: &str, args: &[&str], env: &[(&str, String)]) -> Output {
    let binary = pg_bin().join(program);
    let mut command = if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", "env"]);
        for (name, value) in env {
            command.arg(format!("{name}={value}"));
        }
        command.arg(&binary);
        command
    } else {
        let mut command = Command::new(&binary);
        command.envs(env.iter().map(|(n, v)| (*n, v.as_str())));
        command
    };
    let output = command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// SQL through `psql` on `port` of 127.0.0.1; the rows as text.
pub fn psql(port: u16, database: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-c",
            sql,
        ])
        .output()
        .expect("psql");
    assert!(
        output.status.success(),
        "psql on {port}: {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A primary and its synchronous standby.
pub struct PostgresPair {
    /// The primary's port (until the failover).
    pub primary_port: u16,
    /// The standby's port (the primary after the failover).
    pub standby_port: u16,
    dir: PathBuf,
    primary_up: bool,
    standby_up: bool,
}

impl PostgresPair {
    /// Starts both and waits until the standby replicates synchronously. `standby_clock` moves
    /// the standby's wall clock (libfaketime's `+4s`), as on another host whose clock is off.
    pub fn start(standby_clock: Option<&str>) -> PostgresPair {
        let (primary_port, standby_port) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("issue-tracker-pg-pair-{primary_port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres", dir.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let mut pair = PostgresPair {
            primary_port,
            standby_port,
            dir,
            primary_up: false,
            standby_up: false,
        };
        let primary = pair.data("primary");
        pg(
            "initdb",
            &[
                "-D",
                &primary,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            &[],
        );
        pair.configure(
            "primary",
            &format!(
                "port = {primary_port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
                 wal_level = replica\nmax_wal_senders = 4\nsynchronous_standby_names = 'standby1'\n\
                 synchronous_commit = on\nfsync = off\nshared_buffers = 32MB\nmax_connections = 60\n",
                pair.dir.display()
            ),
        );
        pair.pg_ctl("primary", &["start", "-w", "-t", "60"], &[]);
        pair.primary_up = true;
        let standby = pair.data("standby");
        pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &standby,
                "-X",
                "stream",
                "-R",
                "--no-sync",
            ],
            &[],
        );
        pair.configure(
            "standby",
            &format!(
                // pg_basebackup -R wrote primary_conninfo; the walreceiver introduces itself by
                // cluster_name, the name synchronous_standby_names waits for.
                "port = {standby_port}\ncluster_name = 'standby1'\n"
            ),
        );
        let clock: Vec<(&str, String)> = match standby_clock {
            Some(offset) => vec![
                ("LD_PRELOAD", libfaketime().display().to_string()),
                ("FAKETIME", offset.to_owned()),
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
            ],
            None => Vec::new(),
        };
        pair.pg_ctl("standby", &["start", "-w", "-t", "60"], &clock);
        pair.standby_up = true;
        let started = Instant::now();
        while psql(
            primary_port,
            "postgres",
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby1' AND sync_state = 'sync'",
        ) != "1"
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the standby never replicated synchronously"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        pair
    }

    fn data(&self, node: &str) -> String {
        self.dir.join(node).display().to_string()
    }

    fn configure(&self, node: &str, lines: &str) {
        use std::io::Write;
        let path = Path::new(&self.data(node)).join("postgresql.conf");
        let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(lines.as_bytes()).unwrap();
    }

    fn pg_ctl(&self, node: &str, args: &[&str], env: &[(&str, String)]) {
        let (data, log) = (
            self.data(node),
            self.dir.join(format!("{node}.log")).display().to_string(),
        );
        let mut all = vec!["-D", data.as_str(), "-l", log.as_str()];
        all.extend_from_slice(args);
        pg("pg_ctl", &all, env);
    }

    /// A database on the primary.
    pub fn create_database(&self, name: &str) {
        psql(
            self.primary_port,
            "postgres",
            &format!("CREATE DATABASE {name}"),
        );
    }

    /// The URL that names both hosts and lets libpq find the writable one.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{database}?target_session_attrs=read-write&connect_timeout=2",
            self.primary_port, self.standby_port
        )
    }

    /// Stops the primary hard (`pg_ctl stop -m immediate`: no checkpoint, connections cut).
    pub fn kill_primary(&mut self) {
        self.pg_ctl("primary", &["stop", "-m", "immediate"], &[]);
        self.primary_up = false;
    }

    /// Promotes the standby and clears its `synchronous_standby_names` (it has no standby of its
    /// own: its commits would wait forever), as Patroni does.
    pub fn promote_standby(&self) {
        self.pg_ctl("standby", &["promote", "-w", "-t", "60"], &[]);
        psql(
            self.standby_port,
            "postgres",
            "ALTER SYSTEM SET synchronous_standby_names = ''",
        );
        psql(self.standby_port, "postgres", "SELECT pg_reload_conf()");
    }
}

impl Drop for PostgresPair {
    fn drop(&mut self) {
        for (node, up) in [("primary", self.primary_up), ("standby", self.standby_up)] {
            if up {
                let _ = Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(pg_bin().join("pg_ctl"))
                    .args(["-D", &self.data(node), "stop", "-m", "immediate"])
                    .output();
                let _ = Command::new(pg_bin().join("pg_ctl"))
                    .args(["-D", &self.data(node), "stop", "-m", "immediate"])
                    .output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
