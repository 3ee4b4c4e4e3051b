//! The notification pipeline under faults, with real parts and a fault-injecting TCP proxy
//! (`testkit::FaultProxy`) in front of PostgreSQL or Redis: an SMTP server that stops answering
//! after DATA, the database unreachable while emails are in flight, Redis paused, a worker and
//! beat whose clocks are 30 s ahead. Each ends with every email delivered exactly once, or (for
//! the stalled server) with a bounded number of attempts and the notification dead.

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{message_ids, shared_redis, Pipeline, Roles};
use issue_tracker_testkit::{
    eventually, libfaketime, Fault, FaultProxy, Kind, SmtpMode, SmtpServer,
};

/// Starts a binary, with its wall clock moved by `clock` (`+30s`) when given. The library is
/// preloaded into the binary itself (not through the `faketime` wrapper), so that killing the
/// child kills the program.
fn spawn(binary: &std::path::Path, vars: &HashMap<String, String>, clock: Option<&str>) -> Child {
    let mut command = Command::new(binary);
    if let Some(offset) = clock {
        command
            .env("LD_PRELOAD", libfaketime())
            .env("FAKETIME", offset)
            // Only the wall clock is off, as on a host whose NTP failed.
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    }
    command
        .envs(vars)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()))
}

fn worker_binary() -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_issue-tracker-worker").into()
}

/// The beat binary, built beside the worker by `cargo test --workspace`.
fn beat_binary() -> std::path::PathBuf {
    let path = worker_binary().with_file_name("issue-tracker-beat");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (scripts/test does)",
        path.display()
    );
    path
}

fn attempts(pipeline: &Pipeline) -> Vec<(String, i32)> {
    pipeline
        .db
        .db
        .list_notifications(None, 100)
        .unwrap()
        .into_iter()
        .map(|n| (n.status, n.attempts))
        .collect()
}

/// A server that takes the message and never answers after the final `.`: each attempt ends
/// after EMAIL_TIMEOUT (a temporary failure), attempts never overlap, and the notification is
/// dead after MAX_ATTEMPTS instead of being sent again every lease period forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_smtp_server_that_stalls_after_data_gets_bounded_attempts_then_dead() {
    for (kind, redis) in [(Kind::Postgres, Some(shared_redis())), (Kind::Sqlite, None)] {
        let smtp = SmtpServer::start().await;
        smtp.set_mode(SmtpMode::StallAfterData);
        let pipeline = Pipeline::start_with(
            kind,
            smtp,
            redis.as_deref(),
            &[
                ("EMAIL_TIMEOUT", "2"),
                ("SENDING_LEASE", "5"),
                ("MAX_ATTEMPTS", "3"),
            ],
            Roles::All,
        )
        .await;
        pipeline.user("ann");
        pipeline.user("bob");
        let ann = pipeline.token("ann").await;
        pipeline.create_issue(&ann, "stalls", "bob").await;
        let dead = eventually(Duration::from_secs(30), || {
            attempts(&pipeline) == [("dead".to_owned(), 3)]
        })
        .await;
        assert!(
            dead,
            "{kind:?}: not dead after 3 attempts: {:?}",
            attempts(&pipeline)
        );
        // Nothing more is tried.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let received = pipeline.smtp.received();
        assert_eq!(received.len(), 3, "{kind:?}: one DATA per attempt");
        for pair in received.windows(2) {
            let gap = pair[1].at - pair[0].at;
            assert!(
                gap >= Duration::from_millis(1900),
                "{kind:?}: an attempt started {gap:?} after the previous one: two in flight"
            );
        }
        assert_eq!(attempts(&pipeline), [("dead".to_owned(), 3)], "{kind:?}");
        pipeline.stop().await;
    }
}

/// SIGTERM while a send is stalled: the worker exits within EMAIL_TIMEOUT + RECORD_GRACE (+ a
/// second of slack), having recorded the attempt as a temporary failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_a_stalled_send_exits_within_the_documented_bound() {
    let smtp = SmtpServer::start().await;
    smtp.set_mode(SmtpMode::StallAfterData);
    let extra = [("EMAIL_TIMEOUT", "3"), ("SENDING_LEASE", "10")];
    let pipeline = Pipeline::start_with(
        Kind::Postgres,
        smtp,
        Some(&shared_redis()),
        &extra,
        Roles::NoWorker,
    )
    .await;
    let vars = pipeline.process_variables(&shared_redis(), &extra);
    pipeline.user("ann");
    pipeline.user("bob");
    let mut worker = spawn(&worker_binary(), &vars, None);
    let ann = pipeline.token("ann").await;
    pipeline.create_issue(&ann, "stalls", "bob").await;
    assert!(
        eventually(Duration::from_secs(10), || !pipeline
            .smtp
            .received()
            .is_empty())
        .await,
        "the worker never reached the SMTP server"
    );
    let asked = Instant::now();
    Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    let bound =
        Duration::from_secs(3) + issue_tracker_notifier::RECORD_GRACE + Duration::from_secs(2);
    let stopped = eventually(bound, || worker.try_wait().unwrap().is_some()).await;
    let took = asked.elapsed();
    if !stopped {
        worker.kill().ok();
    }
    assert!(
        stopped,
        "the worker did not exit within {bound:?} of SIGTERM"
    );
    assert!(worker.wait().unwrap().success());
    assert_eq!(
        attempts(&pipeline),
        [("pending".to_owned(), 1)],
        "the timed-out attempt is recorded as a temporary failure (exited after {took:?})"
    );
    pipeline.stop().await;
}

/// PostgreSQL unreachable for 10 s (every connection cut) while ten emails are in flight: the
/// SMTP server accepts them during the outage, the worker keeps each `sent` and records it when
/// the database is back, and nothing is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_unreachable_for_10_s_while_emails_are_in_flight() {
    let smtp = SmtpServer::start().await;
    smtp.set_mode(SmtpMode::AcceptAfter(Duration::from_millis(1500)));
    let (proxy_tx, proxy_rx) = std::sync::mpsc::channel();
    let pipeline = Pipeline::start_full(
        Kind::Postgres,
        smtp,
        Some(&shared_redis()),
        &[("DATABASE_POOL_TIMEOUT", "2")],
        Roles::All,
        |url| {
            let (proxy, proxied) = futures_block(FaultProxy::in_front_of(url));
            proxy_tx.send(proxy).unwrap();
            proxied
        },
    )
    .await;
    let proxy = proxy_rx.recv().unwrap();
    pipeline.user("ann");
    pipeline.user("bob");
    let ann = pipeline.token("ann").await;
    for n in 0..10 {
        pipeline
            .create_issue(&ann, &format!("in flight {n}"), "bob")
            .await;
    }
    assert!(
        eventually(Duration::from_secs(10), || !pipeline
            .smtp
            .received()
            .is_empty())
        .await,
        "no email reached the SMTP server"
    );
    proxy.set(Fault::Cut);
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.set(Fault::Pass);
    let all_sent = eventually(Duration::from_secs(40), || {
        let statuses = pipeline.statuses();
        statuses.len() == 10 && statuses.iter().all(|(_, _, s)| s == "sent")
    })
    .await;
    // Let any second copy arrive.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(all_sent, "not all sent: {:?}", pipeline.statuses());
    let ids = message_ids(&pipeline.smtp);
    assert_eq!(ids.len(), 10, "{ids:?}");
    assert!(ids.values().all(|&n| n == 1), "sent twice: {ids:?}");
    pipeline.stop().await;
    drop(proxy);
}

/// Redis paused (connections open, nothing answered) for 10 s while issues are assigned: the API
/// never waits on it, and once it answers again every email arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_paused_for_10_s_loses_and_doubles_nothing() {
    let (proxy, redis) = FaultProxy::in_front_of(&shared_redis()).await;
    let smtp = SmtpServer::start().await;
    let pipeline = Pipeline::start_with(Kind::Postgres, smtp, Some(&redis), &[], Roles::All).await;
    pipeline.user("ann");
    pipeline.user("bob");
    let ann = pipeline.token("ann").await;
    pipeline.create_issue(&ann, "before the pause", "bob").await;
    assert!(
        eventually(Duration::from_secs(10), || pipeline.smtp.received().len()
            == 1)
        .await,
        "the pipeline does not work before the pause"
    );
    proxy.set(Fault::Pause);
    let paused = Instant::now();
    for n in 0..10 {
        let started = Instant::now();
        pipeline
            .create_issue(&ann, &format!("paused {n}"), "bob")
            .await;
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "an API request waited on the paused Redis"
        );
    }
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(paused.elapsed())).await;
    proxy.set(Fault::Pass);
    let all_sent = eventually(Duration::from_secs(40), || {
        let statuses = pipeline.statuses();
        statuses.len() == 11 && statuses.iter().all(|(_, _, s)| s == "sent")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(all_sent, "not all sent: {:?}", pipeline.statuses());
    let ids = message_ids(&pipeline.smtp);
    assert_eq!(ids.len(), 11, "{ids:?}");
    assert!(ids.values().all(|&n| n == 1), "sent twice: {ids:?}");
    pipeline.stop().await;
}

/// A worker and a beat whose clocks are 30 s ahead (libfaketime) still send an assignment email
/// after its delay, not at once: due times are the database's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_and_beat_30_s_ahead_neither_send_early_nor_hold_back() {
    let smtp = SmtpServer::start().await;
    // 6 seconds.
    let extra = [("ASSIGN_REPORT_SCHEDULE", "0.1")];
    let pipeline = Pipeline::start_with(
        Kind::Postgres,
        smtp,
        Some(&shared_redis()),
        &extra,
        Roles::ApiOnly,
    )
    .await;
    let vars = pipeline.process_variables(&shared_redis(), &extra);
    let mut worker = spawn(&worker_binary(), &vars, Some("+30s"));
    let mut beat = spawn(&beat_binary(), &vars, Some("+30s"));
    pipeline.user("ann");
    pipeline.user("bob");
    let ann = pipeline.token("ann").await;
    // Both processes up and connected before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let created = Instant::now();
    pipeline.create_issue(&ann, "on time", "bob").await;
    let arrived = eventually(Duration::from_secs(20), || {
        !pipeline.smtp.received().is_empty()
    })
    .await;
    let waited = created.elapsed();
    for child in [&mut worker, &mut beat] {
        child.kill().ok();
        child.wait().ok();
    }
    assert!(arrived, "no email within 20 s: {:?}", pipeline.statuses());
    let at = pipeline.smtp.received()[0].at - created;
    assert!(
        at >= Duration::from_millis(5900),
        "sent {at:?} after the assignment: before its 6 s delay (waited {waited:?})"
    );
    assert!(
        at <= Duration::from_secs(10),
        "held back: sent after {at:?}"
    );
    pipeline.stop().await;
}

/// Runs a future to completion from synchronous code inside the test's runtime.
fn futures_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

/// A worker whose lease ran out cannot record an outcome over the claim another worker now
/// holds: outcomes are fenced by the claim token, on both databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_claim_cannot_overwrite_a_newer_one() {
    for kind in [Kind::Postgres, Kind::Sqlite] {
        // Assignments due in 10 hours: nothing in this test's pipeline touches the row.
        let smtp = SmtpServer::start().await;
        let pipeline = Pipeline::start_with(
            kind,
            smtp,
            None,
            &[("ASSIGN_REPORT_SCHEDULE", "0")],
            Roles::ApiOnly,
        )
        .await;
        pipeline.user("ann");
        pipeline.user("bob");
        let ann = pipeline.token("ann").await;
        pipeline.create_issue(&ann, "contested", "bob").await;
        let db = &pipeline.db.db;
        let id = db.list_notifications(None, 1).unwrap()[0].id;
        let stale = db
            .claim_for_sending(id, Duration::from_millis(200))
            .unwrap()
            .expect("first claim");
        assert!(
            db.claim_for_sending(id, Duration::from_secs(60))
                .unwrap()
                .is_none(),
            "{kind:?}: claimed twice while the lease holds"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let current = db
            .claim_for_sending(id, Duration::from_secs(60))
            .unwrap()
            .expect("a claim after the lease ran out");
        assert_ne!(stale.claim_token, current.claim_token);
        // The stale worker's retry, dead and sent all match nothing.
        assert!(!db
            .mark_retry(&stale, "late", Duration::from_secs(1))
            .unwrap());
        assert!(!db.mark_dead(&stale, "late").unwrap());
        assert!(!db.mark_sent(&stale).unwrap());
        assert_eq!(attempts(&pipeline), [("sending".to_owned(), 2)], "{kind:?}");
        // The current holder records its outcome.
        assert!(db.mark_sent(&current).unwrap());
        assert_eq!(attempts(&pipeline), [("sent".to_owned(), 2)], "{kind:?}");
        pipeline.stop().await;
    }
}

/// A worker and a beat started while PostgreSQL is unreachable keep running, say so, and do
/// their work once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_and_beat_started_while_the_database_is_down_wait_for_it() {
    let smtp = SmtpServer::start().await;
    let pipeline = Pipeline::start_with(
        Kind::Postgres,
        smtp,
        Some(&shared_redis()),
        &[],
        Roles::ApiOnly,
    )
    .await;
    let (proxy, proxied) = FaultProxy::in_front_of(&pipeline.db.url).await;
    proxy.set(Fault::Cut);
    let mut vars = pipeline.process_variables(&shared_redis(), &[]);
    vars.insert("DATABASE_URL".into(), proxied);
    vars.insert("DATABASE_POOL_TIMEOUT".into(), "1".into());
    let log = std::env::temp_dir().join(format!("it-worker-{}.log", uuid::Uuid::new_v4()));
    let mut worker = Command::new(worker_binary())
        .envs(&vars)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut beat = spawn(&beat_binary(), &vars, None);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let worker_exit = worker.try_wait().unwrap();
    let beat_exit = beat.try_wait().unwrap();
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    pipeline.user("ann");
    pipeline.user("bob");
    let ann = pipeline.token("ann").await;
    pipeline.create_issue(&ann, "after the outage", "bob").await;
    proxy.set(Fault::Pass);
    // The assignment email (beat also sends bob a report: he has an assigned issue).
    let delivered = eventually(Duration::from_secs(30), || {
        pipeline
            .smtp
            .received()
            .iter()
            .any(|m| m.header("Subject").as_deref() == Some("New Issue assigned"))
    })
    .await;
    for child in [&mut worker, &mut beat] {
        child.kill().ok();
        child.wait().ok();
    }
    let later = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert!(
        worker_exit.is_none(),
        "the worker exited: {worker_exit:?}\n{said}"
    );
    assert!(beat_exit.is_none(), "beat exited: {beat_exit:?}");
    assert!(
        said.contains("the database is unavailable"),
        "the worker did not say why it waits:\n{said}"
    );
    assert!(
        delivered,
        "nothing delivered once the database was back: {:?}\n{later}",
        pipeline.statuses()
    );
    pipeline.stop().await;
}
