//! Every log line written while handling a request carries the request's id (its own test binary:
//! it installs a global log subscriber).

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use issue_tracker_api::AppState;
use issue_tracker_config::Settings;
use issue_tracker_testkit::{Kind, TestDb};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_of_a_request_carry_its_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter("info")
        .with_writer(move || writer.clone())
        .init();
    let database = TestDb::new(Kind::Sqlite);
    let vars = [
        ("DATABASE_URL".to_string(), database.url.clone()),
        ("BCRYPT_COST".into(), "4".into()),
    ]
    .into_iter()
    .collect();
    let settings = Settings::from_variables(&vars, None).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let state = AppState::new(database.db.clone(), &settings);
    std::thread::spawn(move || issue_tracker_api::run(state, listener));
    let client = reqwest::Client::new();
    let mut reply = None;
    for _ in 0..100 {
        match client
            .get(format!("{base}/api/issue/"))
            .header("X-Request-Id", "trace-me-42")
            .send()
            .await
        {
            Ok(response) => {
                reply = Some(response);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    let reply = reply.expect("server up");
    assert_eq!(reply.status(), 401);
    assert_eq!(reply.headers()["x-request-id"], "trace-me-42");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter(|line| line.contains("/api/issue/"))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(!lines.is_empty(), "no access log line:\n{text}");
    for line in lines {
        assert_eq!(line["span"]["request_id"], "trace-me-42", "{line}");
        assert_eq!(line["fields"]["status"], 401);
    }
}
