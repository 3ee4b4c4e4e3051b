//! The worker process killed (SIGKILL) in the middle of a job: the email is still delivered, at
//! most once more than needed, and the extra copy only when the kill fell after the SMTP server
//! had accepted the message.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{message_ids, shared_redis, Pipeline, Roles};
use issue_tracker_testkit::{eventually, Kind, SmtpMode, SmtpServer};

fn spawn_worker(vars: &std::collections::HashMap<String, String>) -> Child {
    Command::new(env!("CARGO_BIN_EXE_issue-tracker-worker"))
        .envs(vars)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the worker")
}

async fn killed_mid_job(kind: Kind, mode: SmtpMode) -> (Pipeline, usize) {
    let smtp = SmtpServer::start().await;
    let extra = [("EMAIL_TIMEOUT", "3"), ("SENDING_LEASE", "6")];
    let pipeline =
        Pipeline::start_with(kind, smtp, Some(&shared_redis()), &extra, Roles::NoWorker).await;
    // The worker process must use the same stream as the beat in this process.
    let vars = pipeline.process_variables(&shared_redis(), &extra);
    pipeline.user("ann");
    pipeline.user("bob");
    pipeline.smtp.set_mode(mode);
    let mut worker = spawn_worker(&vars);
    let ann = pipeline.token("ann").await;
    pipeline.create_issue(&ann, "survives a crash", "bob").await;
    let stuck = match mode {
        SmtpMode::StallAfterData => {
            eventually(Duration::from_secs(10), || {
                pipeline.smtp.received().len() == 1
            })
            .await
        }
        _ => {
            eventually(Duration::from_secs(10), || {
                pipeline.statuses().iter().any(|(_, _, s)| s == "sending")
            })
            .await
        }
    };
    assert!(
        stuck,
        "the worker never reached the stalling SMTP server: {:?}",
        pipeline.statuses()
    );
    worker.kill().expect("SIGKILL the worker");
    worker.wait().unwrap();
    pipeline.smtp.set_mode(SmtpMode::Accept);
    let mut replacement = spawn_worker(&vars);
    let delivered = eventually(Duration::from_secs(30), || {
        pipeline
            .statuses()
            .iter()
            .all(|(_, _, status)| status == "sent")
    })
    .await;
    // Let anything that would arrive twice arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    replacement.kill().ok();
    replacement.wait().ok();
    assert!(
        delivered,
        "not delivered after the kill: {:?}",
        pipeline.statuses()
    );
    let count = pipeline.smtp.received().len();
    (pipeline, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_after_the_server_accepted_delivers_one_extra_copy_with_the_same_message_id() {
    for kind in [Kind::Postgres, Kind::Sqlite] {
        let (pipeline, count) = killed_mid_job(kind, SmtpMode::StallAfterData).await;
        assert_eq!(count, 2, "{kind:?}: exactly one copy more than needed");
        let ids = message_ids(&pipeline.smtp);
        assert_eq!(
            ids.len(),
            1,
            "{kind:?}: both copies carry the same Message-ID: {ids:?}"
        );
        pipeline.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_before_the_server_accepted_delivers_exactly_once() {
    for kind in [Kind::Postgres, Kind::Sqlite] {
        let (pipeline, count) = killed_mid_job(kind, SmtpMode::StallBeforeData).await;
        assert_eq!(count, 1, "{kind:?}");
        pipeline.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_stops_the_worker_cleanly() {
    let smtp = SmtpServer::start().await;
    let pipeline = Pipeline::start_with(
        Kind::Postgres,
        smtp,
        Some(&shared_redis()),
        &[],
        Roles::NoWorker,
    )
    .await;
    let vars = pipeline.process_variables(&shared_redis(), &[]);
    let mut worker = spawn_worker(&vars);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker exited by itself"
    );
    Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    let stopped = eventually(Duration::from_secs(10), || {
        worker.try_wait().unwrap().is_some()
    })
    .await;
    assert!(stopped, "the worker ignored SIGTERM");
    assert!(worker.wait().unwrap().success());
    pipeline.stop().await;
}
