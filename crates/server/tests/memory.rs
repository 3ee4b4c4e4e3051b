//! The server process's memory under attacker-chosen keys (audit finding B11): failed logins
//! with huge usernames and thousands of distinct searches must not keep what they sent. The
//! server runs as its own process, so that its resident memory is measured alone.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use issue_tracker_persistence::{Database, NewUser, PoolSettings};
use serde_json::json;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacker_chosen_keys_do_not_grow_memory() {
    let dir = std::env::temp_dir().join(format!("issue-tracker-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("db.sqlite3");
    let db = Database::connect_sqlite(&file, PoolSettings::default()).unwrap();
    db.run_migrations().unwrap();
    db.create_user(
        &NewUser {
            username: "ann".into(),
            email: "ann@example.com".into(),
            password_hash: bcrypt::hash("pw-ann", 4).unwrap(),
            is_staff: false,
            is_superuser: false,
        },
        &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
    )
    .unwrap();
    let port = issue_tracker_testkit::free_port();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_issue-tracker-server"))
            .current_dir(&dir)
            .env("DATABASE_URL", format!("sqlite://{}", file.display()))
            .env("BIND_ADDRESS", format!("127.0.0.1:{port}"))
            .env("BCRYPT_COST", "4")
            .env("HTTP_WORKERS", "2")
            .env("LOGIN_FAILURES_PER_ADDRESS", "1000000")
            .env("LOGIN_FAILURES_PER_USERNAME", "1000000")
            .env("LOGIN_FAILURES_PER_USERNAME_GLOBAL", "1000000")
            .env("RATE_LIMIT_PER_ADDRESS", "1000000")
            .env("RATE_LIMIT_PER_TOKEN", "1000000")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = server.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut token = None;
    for _ in 0..100 {
        if let Ok(reply) = client
            .post(format!("{base}/api/user/get_auth_token/"))
            .json(&json!({"username": "ann", "password": "pw-ann"}))
            .send()
            .await
        {
            let body: serde_json::Value = reply.json().await.unwrap();
            token = body["token"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = token.expect("the server did not start");
    // A password over 72 bytes is refused before hashing: this measures the maps, not bcrypt.
    let password = "p".repeat(100);
    let round = |n: usize| {
        let (client, base, password, token) = (
            client.clone(),
            base.clone(),
            password.clone(),
            token.clone(),
        );
        async move {
            let username = format!("{n:08}{}", "u".repeat(10_000));
            let login = client
                .post(format!("{base}/api/user/get_auth_token/"))
                .json(&json!({"username": username, "password": password}))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(login, 400);
            let search = client
                .get(format!("{base}/api/issue/?page=2&q={n:0>200}"))
                .header("Authorization", format!("Token {token}"))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(search, 200);
        }
    };
    // Warm up (allocator arenas, pools), then measure.
    for n in 0..500 {
        round(n).await;
    }
    let before = rss_kb(pid);
    for n in 500..5_500 {
        round(n).await;
    }
    let after = rss_kb(pid);
    let _ = std::fs::remove_dir_all(&dir);
    // Keeping the usernames would take 5,000 x 10 kB = 50 MB.
    assert!(
        after.saturating_sub(before) < 10_000,
        "resident memory went from {before} kB to {after} kB over 5,000 failed logins with 10 kB usernames and 5,000 distinct searches (10,000 requests)"
    );
}
