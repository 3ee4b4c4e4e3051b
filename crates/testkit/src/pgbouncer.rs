//! A private PgBouncer in transaction pooling mode in front of the tests' PostgreSQL: the usual
//! way many processes share one PostgreSQL, and the mode that breaks session state (prepared
//! statements, session locks, `SET`) that a direct connection keeps.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::{admin_url, free_port, TestDb};

/// A `pgbouncer` of the test's own, on a port of its own, serving every database of the tests'
/// PostgreSQL server.
pub struct PgBouncer {
    /// Its port.
    pub port: u16,
    user: String,
    child: Option<Child>,
    dir: PathBuf,
}

/// `user`, `host`, `port` of a `postgres://user[:password]@host:port/db` URL.
fn server_of(url: &str) -> (String, String, String) {
    let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let (user, rest) = rest.split_once('@').unwrap_or(("postgres", rest));
    let user = user.split(':').next().unwrap_or("postgres").to_owned();
    let address = rest.split('/').next().unwrap_or("127.0.0.1:5432");
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "5432"));
    (user, host.to_owned(), port.to_owned())
}

impl PgBouncer {
    /// Starts PgBouncer in transaction mode with at most `server_connections` server connections
    /// per database: fewer than the clients' connections, so that consecutive transactions of one
    /// client connection land on different server sessions, as they do under load.
    pub fn start(server_connections: u32) -> PgBouncer {
        PgBouncer::start_listening(server_connections, &[])
    }

    /// Like [`PgBouncer::start`], listening on these addresses too (besides 127.0.0.1): for
    /// processes in another network namespace.
    pub fn start_listening(server_connections: u32, also: &[&str]) -> PgBouncer {
        let (user, host, upstream_port) = server_of(&admin_url());
        let listen = std::iter::once("127.0.0.1")
            .chain(also.iter().copied())
            .collect::<Vec<_>>()
            .join(",");
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("issue-tracker-pgbouncer-{port}"));
        std::fs::create_dir_all(&dir).expect("pgbouncer dir");
        std::fs::write(dir.join("users.txt"), format!("\"{user}\" \"\"\n")).expect("auth file");
        let config = format!(
            "[databases]\n\
             * = host={host} port={upstream_port}\n\
             [pgbouncer]\n\
             listen_addr = {listen}\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {auth}\n\
             pool_mode = transaction\n\
             default_pool_size = {server_connections}\n\
             max_client_conn = 1000\n\
             server_reset_query =\n\
             ignore_startup_parameters = extra_float_digits\n",
            auth = dir.join("users.txt").display(),
        );
        std::fs::write(dir.join("pgbouncer.ini"), config).expect("pgbouncer config");
        let mut bouncer = PgBouncer {
            port,
            user,
            child: None,
            dir,
        };
        bouncer.restart();
        bouncer
    }

    /// `DATABASE_URL` of `db` through this PgBouncer.
    pub fn url(&self, db: &TestDb) -> String {
        self.url_for(
            db.url
                .rsplit('/')
                .next()
                .expect("a PostgreSQL test database"),
        )
    }

    /// `DATABASE_URL` of the database `name` through this PgBouncer.
    pub fn url_for(&self, name: &str) -> String {
        format!("postgres://{}@127.0.0.1:{}/{name}", self.user, self.port)
    }

    /// Kills it (every client connection through it breaks).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let mut command = Command::new("pgbouncer");
        // PgBouncer refuses to run as root; it switches to the given user itself.
        let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if as_root {
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(self.dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer must be installed for the tests (scripts/test installs it)");
        self.child = Some(child);
        crate::wait_for_port(self.port, "pgbouncer");
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
