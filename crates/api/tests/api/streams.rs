//! The live streams (server-sent events): what they carry, resuming with `Last-Event-ID` on the
//! same server or another, heartbeats, the bounds, revocation, and the refusals.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

/// Short polls and heartbeats, two streams per token.
const FAST: &[(&str, &str)] = &[
    ("STREAM_POLL_INTERVAL", "0.1"),
    ("STREAM_HEARTBEAT", "1"),
    ("STREAMS_PER_TOKEN", "2"),
];

/// One server-sent message.
#[derive(Debug, Clone, PartialEq)]
enum Sse {
    Message { id: i64, event: String, data: Value },
    Comment(String),
    Retry,
}

pub(crate) struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    pub(crate) async fn open(
        base: &str,
        path: &str,
        token: &str,
        last_event_id: Option<i64>,
    ) -> Stream {
        let mut request = reqwest::Client::new()
            .get(format!("{base}{path}"))
            .header("Authorization", format!("Token {token}"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next frame within `within`; `None` when nothing came, `Some(None)` when the stream
    /// ended.
    async fn next(&mut self, within: Duration) -> Option<Option<Sse>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                return Some(Some(parse(&frame)));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?;
            match chunk.expect("a chunk") {
                Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                None => return Some(None),
            }
        }
    }

    /// The next data message within `within`, past comments and the retry line.
    pub(crate) async fn message(&mut self, within: Duration) -> Option<(i64, String, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(Some(Sse::Message { id, event, data })) => return Some((id, event, data)),
                Some(Some(_)) => continue,
                Some(None) | None => return None,
            }
        }
    }
}

fn parse(frame: &str) -> Sse {
    let frame = frame.trim_end();
    if let Some(comment) = frame.strip_prefix(':') {
        return Sse::Comment(comment.trim().to_owned());
    }
    if frame.starts_with("retry:") {
        return Sse::Retry;
    }
    let field = |name: &str| {
        frame
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {frame:?}"))
            .to_owned()
    };
    Sse::Message {
        id: field("id").parse().unwrap(),
        event: field("event"),
        data: serde_json::from_str(&field("data")).unwrap(),
    }
}

const SOON: Duration = Duration::from_secs(3);

async fn the_notification_stream_delivers_resumes_and_ends_with_its_token(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let issue = app.issue(&ann, "Printer", "ann").await["id"]
        .as_i64()
        .unwrap();
    app.comment(&bob, issue, "before the stream").await;
    let mut live = Stream::open(&app.base, "/api/notifications/stream/", &ann, None).await;
    assert_eq!(live.next(SOON).await, Some(Some(Sse::Retry)));
    // Opened without a resume point: from now on, not what was there before.
    app.comment(&bob, issue, "one").await;
    let (first, event, data) = live.message(SOON).await.expect("the new entry, live");
    assert_eq!(event, "notification");
    assert_eq!(
        (data["type"].clone(), data["id"].clone()),
        (json!("comment"), json!(first))
    );
    assert!(
        data["summary"].as_str().unwrap().ends_with(": one"),
        "{data}"
    );
    for body in ["two", "three"] {
        app.comment(&bob, issue, body).await;
    }
    let (second, _, _) = live.message(SOON).await.unwrap();
    let (third, _, data) = live.message(SOON).await.unwrap();
    assert!(first < second && second < third);
    assert!(data["summary"].as_str().unwrap().ends_with(": three"));
    // Silence: a heartbeat comment.
    let heard = live.next(SOON).await.flatten();
    assert_eq!(heard, Some(Sse::Comment("heartbeat".into())));
    drop(live);

    // Missed while away: resuming with Last-Event-ID sends exactly what followed, once, on
    // another server too.
    app.comment(&bob, issue, "four").await;
    let other = app.another_server(FAST);
    let mut resumed = Stream::open(&other, "/api/notifications/stream/", &ann, Some(third)).await;
    let (fourth, _, data) = resumed.message(SOON).await.expect("the missed entry");
    assert!(fourth > third);
    assert!(data["summary"].as_str().unwrap().ends_with(": four"));
    // A change through the first server reaches the stream held by the second.
    app.comment(&bob, issue, "five").await;
    let (fifth, _, data) = resumed.message(SOON).await.expect("across servers");
    assert!(fifth > fourth && data["summary"].as_str().unwrap().ends_with(": five"));

    // The token is revoked: its stream ends.
    let logout = app
        .send("POST", "/api/user/logout/", Some(&ann), None)
        .await;
    assert_eq!(logout.status, 204);
    let mut ended = false;
    for _ in 0..10 {
        match resumed.next(SOON).await {
            Some(None) => {
                ended = true;
                break;
            }
            Some(Some(Sse::Comment(_))) => continue,
            other => panic!("after revocation: {other:?}"),
        }
    }
    assert!(ended, "the stream outlived its token");
}

async fn streams_are_bounded_per_token_and_free_their_place(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let path = "/api/notifications/stream/";
    let first = Stream::open(&app.base, path, &ann, None).await;
    let _second = Stream::open(&app.base, path, &ann, None).await;
    let third = app.send("GET", path, Some(&ann), None).await;
    assert_eq!(third.status, 429, "{}", third.text);
    assert!(third.json()["detail"]
        .as_str()
        .unwrap()
        .contains("STREAMS_PER_TOKEN"));
    assert!(third.header("retry-after").is_some());
    // Another token of the same user has its own share.
    let other = app.login("ann", "pw-ann").await;
    let _fourth = Stream::open(&app.base, path, &other, None).await;
    // A closed stream gives its place back (noticed at the next heartbeat at the latest).
    drop(first);
    let mut reopened = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut response = reqwest::Client::new()
            .get(app.url(path))
            .header("Authorization", format!("Token {ann}"))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            reopened = true;
            let _ = response.chunk().await;
            break;
        }
    }
    assert!(reopened, "the place of a closed stream never came back");
}

async fn the_event_stream_is_for_staff_and_replays_from_a_resume_point(app: TestApp) {
    app.create_user_full("boss", "pw-boss", "boss@example.com", true);
    let boss = app.login("boss", "pw-boss").await;
    let ann = app.user_with_token("ann").await;
    let issue = app.issue(&ann, "Printer", "ann").await["id"]
        .as_i64()
        .unwrap();
    // Not staff: 403; a bad resume point: 400, keyed by its name.
    let refused = app
        .send("GET", "/api/events/stream/", Some(&ann), None)
        .await;
    assert_eq!(refused.status, 403);
    let bad = app
        .raw(
            "GET",
            "/api/events/stream/",
            &[
                ("Authorization", &format!("Token {boss}")),
                ("Last-Event-ID", "x"),
            ],
            Vec::new(),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json(),
        json!({"Last-Event-ID": ["A valid integer is required."]})
    );
    let bad = app
        .send("GET", "/api/events/stream/?after=-1", Some(&boss), None)
        .await;
    assert_eq!(
        (bad.status, bad.json()),
        (400, json!({"after": ["A valid integer is required."]}))
    );

    // From the start: every event once, in order, as GET /api/events/ gives them.
    let feed = app
        .send("GET", "/api/events/?after=0", Some(&boss), None)
        .await
        .json();
    let expected: Vec<i64> = feed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    let mut live = Stream::open(&app.base, "/api/events/stream/?after=0", &boss, None).await;
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        let (id, event, data) = live.message(SOON).await.expect("the history");
        assert_eq!(json!(event), data["type"]);
        seen.push(id);
    }
    assert_eq!(seen, expected);
    app.comment(&ann, issue, "live").await;
    let (id, event, data) = live.message(SOON).await.expect("a new event, live");
    assert!(id > *expected.last().unwrap());
    assert_eq!(event, "comment.created");
    assert_eq!(data["data"]["issue"], json!(issue));
}

pub(crate) async fn spawn_fast(kind: issue_tracker_testkit::Kind) -> TestApp {
    crate::common::spawn_with(kind, FAST).await
}

both_databases!(
    |kind| crate::streams::spawn_fast(kind).await;
    the_notification_stream_delivers_resumes_and_ends_with_its_token,
    streams_are_bounded_per_token_and_free_their_place,
    the_event_stream_is_for_staff_and_replays_from_a_resume_point,
);
