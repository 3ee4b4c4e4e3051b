//! The live streams across a server restart, as processes: a client whose stream ended when its
//! server was killed resumes with `Last-Event-ID` on the restarted server, and on a second
//! server, and receives exactly what it missed, once and in order, then what follows, live. On
//! both databases; the notification stream and the history feed's stream alike.

mod deployment;

use std::collections::HashMap;
use std::time::Duration;

use deployment::{make_user, token, wait_until_serving, Process, Role};
use issue_tracker_testkit::{free_port, Kind, TestDb};
use serde_json::{json, Value};

const SOON: Duration = Duration::from_secs(5);

/// One server process on a port of its own; short stream polls and heartbeats.
fn server(db: &TestDb, dir: &std::path::Path, name: &str, port: u16) -> Process {
    let vars: HashMap<String, String> = [
        ("DATABASE_URL", db.url.clone()),
        ("BIND_ADDRESS", format!("127.0.0.1:{port}")),
        ("HTTP_WORKERS", "1".into()),
        ("DATABASE_POOL_SIZE", "4".into()),
        ("BCRYPT_COST", "4".into()),
        ("LOG_FORMAT", "json".into()),
        ("RUST_LOG", "info".into()),
        ("STREAM_POLL_INTERVAL", "0.1".into()),
        ("STREAM_HEARTBEAT", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Process::spawn(Role::Server, dir.join(format!("{name}.log")), vars)
}

async fn call(base: &str, method: &str, path: &str, token: Option<&str>, body: Value) -> Value {
    let client = reqwest::Client::new();
    let mut request = client
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .json(&body);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Token {token}"));
    }
    let response = request.send().await.expect("request");
    assert!(response.status().is_success(), "{method} {path}");
    response.json().await.unwrap_or(Value::Null)
}

/// The `(id, data)` of server-sent messages as they arrive, past comments and the retry line.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(base: &str, path: &str, token: &str, last_event_id: Option<i64>) -> Stream {
        let mut request = reqwest::Client::new()
            .get(format!("{base}{path}"))
            .header("Authorization", format!("Token {token}"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("stream");
        assert_eq!(response.status(), 200, "{base}{path}");
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next message; `None` when nothing came within [`SOON`] or the stream ended.
    async fn message(&mut self) -> Option<(i64, Value)> {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    frame
                        .lines()
                        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
                        .map(str::to_owned)
                };
                if let (Some(id), Some(data)) = (field("id"), field("data")) {
                    return Some((id.parse().unwrap(), serde_json::from_str(&data).unwrap()));
                }
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Whether the stream ends (its server went away) within [`SOON`].
    async fn ends(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }
}

fn summary_ends(data: &Value, body: &str) -> bool {
    data["summary"]
        .as_str()
        .is_some_and(|s| s.ends_with(&format!(": {body}")))
}

async fn streams_resume_across_a_restart_and_on_a_second_server(kind: Kind) {
    let db = TestDb::new(kind);
    for (name, staff) in [("ann", false), ("bob", false), ("boss", true)] {
        make_user(&db.db, name, staff);
    }
    let dir = std::env::temp_dir().join(format!("issue-tracker-streams-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let (first_port, second_port) = (free_port(), free_port());
    let first = format!("http://127.0.0.1:{first_port}");
    let second = format!("http://127.0.0.1:{second_port}");
    let mut first_server = server(&db, &dir, "first", first_port);
    let _second_server = server(&db, &dir, "second", second_port);
    wait_until_serving(&first, &dir).await;
    wait_until_serving(&second, &dir).await;
    let (ann, bob, boss) = (
        token(&first, "ann").await,
        token(&first, "bob").await,
        token(&first, "boss").await,
    );
    let issue = call(
        &first,
        "POST",
        "/api/issue/",
        Some(&ann),
        json!({"title": "Printer", "description": "d", "status": "open", "assigned_to": "ann"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let comment = |base: &str, body: &str| {
        let (base, body, bob) = (base.to_owned(), body.to_owned(), bob.clone());
        async move {
            call(
                &base,
                "POST",
                &format!("/api/issue/{issue}/comments/"),
                Some(&bob),
                json!({ "body": body }),
            )
            .await;
        }
    };

    // Both streams on the first server, live.
    let mut inbox = Stream::open(&first, "/api/notifications/stream/", &ann, None).await;
    let mut feed = Stream::open(&first, "/api/events/stream/", &boss, None).await;
    comment(&first, "one").await;
    let (seen, data) = inbox.message().await.expect("live, before the restart");
    assert!(summary_ends(&data, "one"), "{data}");
    let (feed_seen, data) = feed.message().await.expect("the feed, live");
    assert_eq!(data["type"], json!("comment.created"));

    // The first server dies; what happens meanwhile is written through the second.
    first_server.kill();
    assert!(inbox.ends().await, "the stream outlived its server");
    comment(&second, "two").await;
    comment(&second, "three").await;

    // Restarted, it gives exactly what was missed, in order, then what follows.
    first_server.start();
    wait_until_serving(&first, &dir).await;
    let mut inbox = Stream::open(&first, "/api/notifications/stream/", &ann, Some(seen)).await;
    let mut missed = Vec::new();
    for _ in 0..2 {
        missed.push(inbox.message().await.expect("a missed entry"));
    }
    assert!(summary_ends(&missed[0].1, "two") && summary_ends(&missed[1].1, "three"));
    assert!(seen < missed[0].0 && missed[0].0 < missed[1].0);
    comment(&second, "four").await;
    let (fourth, data) = inbox.message().await.expect("live after the restart");
    assert!(
        fourth > missed[1].0 && summary_ends(&data, "four"),
        "{data}"
    );
    assert_eq!(inbox.message().await, None, "nothing repeated");

    // The history feed resumes on the second server from where the first one stopped.
    let mut feed = Stream::open(&second, "/api/events/stream/", &boss, Some(feed_seen)).await;
    let mut bodies = Vec::new();
    while let Some((id, data)) = feed.message().await {
        assert!(id > feed_seen);
        if data["type"] == json!("comment.created") {
            bodies.push(data["data"].to_string());
        }
        if bodies.len() == 3 {
            break;
        }
    }
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    for (said, body) in bodies.iter().zip(["two", "three", "four"]) {
        assert!(
            said.contains(&format!("\"{body}\"")),
            "{said} is not {body}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_streams_resume_across_a_restart_and_on_a_second_server() {
    streams_resume_across_a_restart_and_on_a_second_server(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_streams_resume_across_a_restart_and_on_a_second_server() {
    streams_resume_across_a_restart_and_on_a_second_server(Kind::Sqlite).await;
}
