//! The server binary refuses a database whose migrations are not applied, and says what to do.

use std::process::Command;

/// A folder of its own with a migrated SQLite file, and a free port for a server on it.
fn migrated_sqlite(name: &str) -> (std::path::PathBuf, std::path::PathBuf, u16) {
    use issue_tracker_persistence::{Database, PoolSettings};
    let dir = std::env::temp_dir().join(format!("issue-tracker-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("db.sqlite3");
    Database::connect_sqlite(&file, PoolSettings::default())
        .unwrap()
        .run_migrations()
        .unwrap();
    (dir, file, issue_tracker_testkit::free_port())
}

#[test]
fn refuses_an_unmigrated_database() {
    let dir = std::env::temp_dir().join(format!("issue-tracker-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_issue-tracker-server"))
        .current_dir(&dir)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/fresh.sqlite3", dir.display()),
        )
        .env("BIND_ADDRESS", "127.0.0.1:0")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("issue-tracker migrate"), "{stderr}");
}

#[test]
fn help_describes_the_settings() {
    let output = Command::new(env!("CARGO_BIN_EXE_issue-tracker-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("DATABASE_URL"));
}

/// `REUSE_PORT=true` lets several server processes listen on one port (issue 10's "N servers on
/// one host"); without it, a second server on a taken port stops with an error that says so.
#[test]
fn servers_share_a_port_only_with_reuse_port() {
    use std::process::{Child, Stdio};

    struct Killed(Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let (dir, file, port) = migrated_sqlite("reuse");
    let start = |reuse: &str| {
        Command::new(env!("CARGO_BIN_EXE_issue-tracker-server"))
            .current_dir(&dir)
            .env("DATABASE_URL", format!("sqlite://{}", file.display()))
            .env("BIND_ADDRESS", format!("127.0.0.1:{port}"))
            .env("REUSE_PORT", reuse)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let health = || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut stream| {
            use std::io::{Read, Write};
            let _ = stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            reply.starts_with("HTTP/1.1 200")
        })
    };
    let wait_until = |check: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !check() {
            assert!(std::time::Instant::now() < deadline, "timed out");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };

    // Without REUSE_PORT the second server cannot listen, and says why.
    let first = Killed(start("false"));
    wait_until(&health);
    let second = start("false").wait_with_output().unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    drop(first);

    // With it, three servers share the port and all keep running.
    let mut servers: Vec<Killed> = (0..3).map(|_| Killed(start("true"))).collect();
    wait_until(&health);
    std::thread::sleep(std::time::Duration::from_millis(500));
    for server in &mut servers {
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "a server sharing the port exited"
        );
    }
    for _ in 0..20 {
        assert!(health());
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Log lines are written by a thread of their own, through a buffer: SIGTERM must still see every
/// request's line on stderr before the process ends (none left in the queue or the buffer).
#[test]
fn every_request_is_logged_before_a_graceful_stop() {
    use std::io::{Read, Write};
    use std::process::Stdio;

    let (dir, file, port) = migrated_sqlite("logs");
    let server = Command::new(env!("CARGO_BIN_EXE_issue-tracker-server"))
        .current_dir(&dir)
        .env("DATABASE_URL", format!("sqlite://{}", file.display()))
        .env("BIND_ADDRESS", format!("127.0.0.1:{port}"))
        .env("RATE_LIMIT_PER_ADDRESS", "100000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let get = |path: &str| -> Option<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).ok()?;
        Some(reply)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while get("/health").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let requests = 500;
    for n in 0..requests {
        let reply = get(&format!("/health?n={n}")).expect("answered");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
    let stopped = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let output = server.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let logged = stderr
        .lines()
        .filter(|line| line.contains("path=/health") && line.contains("status=200"))
        .count();
    // Plus the readiness poll that was answered.
    assert_eq!(logged, requests + 1, "{stderr}");
    // The last line, written as `main` returns, is there too.
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    assert!(stderr.contains("the server stopped"), "{stderr}");
}
