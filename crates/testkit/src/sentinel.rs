//! A Redis master, its replica and three Sentinels watching them, each a private process on a
//! loopback port of its own, so that a test can kill the master and let Sentinel promote the
//! replica.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// The name the Sentinels know the master by.
pub const SENTINEL_MASTER: &str = "mymaster";

/// A master, a replica and three Sentinels.
pub struct RedisSentinels {
    /// The master's port (until a failover).
    pub master_port: u16,
    /// The replica's port (the master after a failover).
    pub replica_port: u16,
    /// The Sentinels' ports.
    pub sentinel_ports: Vec<u16>,
    dir: PathBuf,
    master: Option<Child>,
    others: Vec<Child>,
}

fn redis_server(args: &[String]) -> Child {
    Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed for the tests (scripts/test installs it)")
}

/// `redis-cli -p port args...`, its answer.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

impl RedisSentinels {
    /// Starts them and waits until the Sentinels know the replica and one another (a failover
    /// needs a majority of them to agree).
    pub fn start() -> RedisSentinels {
        let (master_port, replica_port) = (free_port(), free_port());
        let sentinel_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let dir = std::env::temp_dir().join(format!("issue-tracker-sentinels-{master_port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let node = |port: u16, extra: &[String]| {
            let mut args: Vec<String> = [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &dir.display().to_string(),
                "--dbfilename",
                &format!("dump-{port}.rdb"),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend_from_slice(extra);
            redis_server(&args)
        };
        let master = node(master_port, &[]);
        crate::wait_for_port(master_port, "redis master");
        let replica = node(
            replica_port,
            &[
                "--replicaof".into(),
                "127.0.0.1".into(),
                master_port.to_string(),
            ],
        );
        crate::wait_for_port(replica_port, "redis replica");
        let mut others = vec![replica];
        for port in &sentinel_ports {
            let config = dir.join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &config,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n\
                     sentinel failover-timeout {SENTINEL_MASTER} 4000\n\
                     sentinel parallel-syncs {SENTINEL_MASTER} 1\n",
                    dir = dir.display()
                ),
            )
            .unwrap();
            others.push(redis_server(&[
                config.display().to_string(),
                "--sentinel".into(),
            ]));
            crate::wait_for_port(*port, "redis sentinel");
        }
        let set = RedisSentinels {
            master_port,
            replica_port,
            sentinel_ports,
            dir,
            master: Some(master),
            others,
        };
        let started = Instant::now();
        loop {
            let ready = set.sentinel_ports.iter().all(|port| {
                let replicas = redis_cli(*port, &["SENTINEL", "replicas", SENTINEL_MASTER]);
                let peers = redis_cli(*port, &["SENTINEL", "sentinels", SENTINEL_MASTER]);
                replicas.contains(&replica_port.to_string())
                    && set
                        .sentinel_ports
                        .iter()
                        .filter(|other| *other != port)
                        .all(|other| peers.contains(&other.to_string()))
            }) && redis_cli(replica_port, &["INFO", "replication"])
                .contains("master_link_status:up");
            if ready {
                return set;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the Sentinels never found the replica and one another"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `host:port` of each Sentinel (`REDIS_SENTINELS`).
    pub fn sentinels(&self) -> Vec<String> {
        self.sentinel_ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect()
    }

    /// SIGKILLs the master.
    pub fn kill_master(&mut self) {
        if let Some(mut master) = self.master.take() {
            let _ = master.kill();
            let _ = master.wait();
        }
    }

    /// The port of the master the Sentinels name now.
    pub fn current_master_port(&self) -> Option<u16> {
        let answer = redis_cli(
            self.sentinel_ports[0],
            &["SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER],
        );
        answer
            .lines()
            .nth(1)
            .and_then(|port| port.trim().parse().ok())
    }
}

impl Drop for RedisSentinels {
    fn drop(&mut self) {
        self.kill_master();
        for child in &mut self.others {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
