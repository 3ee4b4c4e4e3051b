//! The feed never skips an event on PostgreSQL, whatever the order in which writers commit: a
//! transaction that took an event id and stays open 30 s holds the feed back until it commits,
//! and a reader following `?after=` under concurrent writers gets every event once, in order.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{spawn, Kind, TestApp};

async fn staff(app: &TestApp, name: &str) -> String {
    app.create_user_full(name, &format!("pw-{name}"), "", true);
    app.login(name, &format!("pw-{name}")).await
}

/// One page of the feed after `after` (the whole of it, up to 100).
async fn feed_after(app: &TestApp, token: &str, after: i64) -> Vec<Value> {
    let reply = app
        .send(
            "GET",
            &format!("/api/history/?after={after}&per_page=100"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json().as_array().unwrap().clone()
}

fn ids(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
        .output()
        .expect("psql");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The last event id handed out (taken or not yet visible), read outside any transaction.
fn handed_out(url: &str) -> i64 {
    last_of(url, "events_id_seq")
}

/// The last value `sequence` handed out.
fn last_of(url: &str, sequence: &str) -> i64 {
    psql(url, &format!("SELECT last_value FROM {sequence}"))
        .parse()
        .unwrap()
}

const EVENT: &str = "INSERT INTO events (kind, created_at, via, changes) \
                     VALUES ('issue.created', now() AT TIME ZONE 'UTC', 'cli', '[]');";

/// A psql session that begins a transaction, writes an event (taking the next id) and holds the
/// transaction open until told to commit.
struct OpenWriter {
    child: Child,
}

impl OpenWriter {
    /// Runs `insert` (which takes an id from `sequence`) in a transaction left open.
    fn start(url: &str, insert: &str, sequence: &str) -> OpenWriter {
        let before = last_of(url, sequence);
        let mut child = Command::new("psql")
            .args([url, "-v", "ON_ERROR_STOP=1", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("psql");
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(format!("BEGIN;\n{insert}\n").as_bytes())
            .unwrap();
        let started = Instant::now();
        while last_of(url, sequence) == before {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "psql never wrote"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        OpenWriter { child }
    }

    fn commit(mut self) {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(b"COMMIT;\n").unwrap();
        drop(stdin);
        assert!(self.child.wait().unwrap().success(), "the commit failed");
    }
}

/// A transaction that took an event id and then stays open 30 s (as a lock wait or a slow commit
/// would): no later event is served until it commits, and then it is served, in order, to the
/// reader that was waiting. Before the horizon, the feed passed the gap after five seconds and
/// the reader never saw the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_open_for_30_seconds_holds_the_feed_back_and_is_not_skipped() {
    let app = spawn(Kind::Postgres).await;
    let url = app.database_url().to_owned();
    let token = staff(&app, "boss").await;
    app.issue(&token, "before", "boss").await;
    let seen = feed_after(&app, &token, 0).await;
    let mut after = *ids(&seen).last().expect("the first events");

    let writer = OpenWriter::start(&url, EVENT, "events_id_seq");
    let pending = handed_out(&url);
    for n in 0..3 {
        app.issue(&token, &format!("while open {n}"), "boss").await;
    }
    assert!(handed_out(&url) > pending + 2);
    // For 30 s the reader polls: nothing past the open transaction's id may come.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let page = feed_after(&app, &token, after).await;
        assert!(
            ids(&page).iter().all(|id| *id < pending),
            "served {:?} while event {pending} was still being written ({:?} in)",
            ids(&page),
            started.elapsed()
        );
        if let Some(last) = ids(&page).last() {
            after = *last;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    writer.commit();
    let page = feed_after(&app, &token, after).await;
    assert_eq!(
        ids(&page),
        (pending..pending + 4).collect::<Vec<_>>(),
        "after the commit, the held event and the three after it, in order"
    );
}

/// The notification stream has the same horizon: an inbox entry whose transaction stays open
/// holds back the entries after it, which then come in order; none is skipped. Before the
/// horizon, the stream served the later entry and never the held one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_entry_written_slowly_holds_the_stream_back_and_is_not_skipped() {
    let app = crate::streams::spawn_fast(Kind::Postgres).await;
    let url = app.database_url().to_owned();
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let issue = app.issue(&ann, "Printer", "ann").await["id"]
        .as_i64()
        .unwrap();
    let ann_id = app.db.find_user("ann").unwrap().unwrap().id.get();
    // A first entry, so that the sequence has handed out an id (its first stays its last value).
    app.comment(&bob, issue, "before the stream").await;
    let mut live =
        crate::streams::Stream::open(&app.base, "/api/notifications/stream/", &ann, None).await;
    let held = format!(
        "INSERT INTO inbox (user_id, issue_id, reason, kind, summary, unread, done, created_at, updated_at) \
         VALUES ({ann_id}, {issue}, 'author', 'comment', 'held: written slowly', true, false, \
         now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC');"
    );
    let writer = OpenWriter::start(&url, &held, "inbox_id_seq");
    let pending = last_of(&url, "inbox_id_seq");
    app.comment(&bob, issue, "after the held one").await;
    assert!(last_of(&url, "inbox_id_seq") > pending);
    // While it is open, nothing past it may come.
    assert_eq!(
        live.message(Duration::from_secs(3)).await,
        None,
        "an entry after {pending} was served while {pending} was being written"
    );
    writer.commit();
    let (first, _, data) = live
        .message(Duration::from_secs(5))
        .await
        .expect("the held entry");
    assert_eq!(
        (first, data["summary"].clone()),
        (pending, json!("held: written slowly"))
    );
    let (second, _, data) = live
        .message(Duration::from_secs(5))
        .await
        .expect("the one after");
    assert!(second > first, "{second} after {first}");
    assert!(data["summary"]
        .as_str()
        .unwrap()
        .ends_with(": after the held one"));
}

/// Writers of every kind at once (issues, changes, comments, labels), each a transaction of its
/// own, while a reader follows the feed by `?after=`: at the end the reader has every event of
/// the table exactly once, in id order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_following_the_feed_under_concurrent_writers_misses_nothing() {
    let app = std::sync::Arc::new(spawn(Kind::Postgres).await);
    let token = staff(&app, "boss").await;
    let reply = app
        .send(
            "POST",
            "/api/labels/",
            Some(&token),
            Some(json!({"name": "bug"})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let writing = Duration::from_secs(6);
    let mut writers = Vec::new();
    for w in 0..6 {
        let app = app.clone();
        let token = token.clone();
        writers.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut n = 0;
            while started.elapsed() < writing {
                let issue = app.issue(&token, &format!("w{w} n{n}"), "boss").await;
                let id = issue["id"].as_i64().unwrap();
                let path = format!("/api/issue/{id}/");
                let edit = app
                    .send(
                        "PATCH",
                        &path,
                        Some(&token),
                        Some(json!({"status": "closed"})),
                    )
                    .await;
                assert_eq!(edit.status, 200, "{}", edit.text);
                let comment = app
                    .send(
                        "POST",
                        &format!("/api/issue/{id}/comments/"),
                        Some(&token),
                        Some(json!({"body": "seen"})),
                    )
                    .await;
                assert_eq!(comment.status, 201, "{}", comment.text);
                let label = app
                    .send(
                        "POST",
                        &format!("/api/issue/{id}/labels/"),
                        Some(&token),
                        Some(json!({"labels": ["bug"]})),
                    )
                    .await;
                assert_eq!(label.status, 200, "{}", label.text);
                n += 1;
            }
        }));
    }
    let mut read = Vec::new();
    let mut after = 0;
    let mut quiet_since: Option<Instant> = None;
    loop {
        let page = feed_after(&app, &token, after).await;
        let done = writers.iter().all(|w| w.is_finished());
        if page.is_empty() {
            // Finished once the writers are done and the feed stayed empty for a while.
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if done && since.elapsed() > Duration::from_secs(1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        quiet_since = None;
        let page_ids = ids(&page);
        after = *page_ids.last().unwrap();
        read.extend(page_ids);
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let all: Vec<i64> = psql(app.database_url(), "SELECT id FROM events ORDER BY id")
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    assert!(all.len() > 100, "only {} events written", all.len());
    assert_eq!(read, all, "the reader's events differ from the table's");
}
