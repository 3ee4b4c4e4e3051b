//! The worker process killed (SIGKILL) in the middle of a job: the email is still delivered, at
//! most once more than needed, and the extra copy only when the kill fell after the SMTP server
//! had accepted the message. Both for an assignment email and for a watcher's email (a comment).

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

/// What the email in flight is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Email {
    /// The assignee's assignment email.
    Assignment,
    /// The assignee's email about a comment on the issue (assignment emails held back).
    Activity,
}

impl Email {
    fn kind(self) -> &'static str {
        match self {
            Email::Assignment => "assignment",
            Email::Activity => "activity",
        }
    }
}

async fn killed_mid_job(kind: Kind, mode: SmtpMode, email: Email) -> (Pipeline, usize) {
    let smtp = SmtpServer::start().await;
    let held_back = match email {
        Email::Assignment => "0",
        Email::Activity => "10",
    };
    let extra = [
        ("EMAIL_TIMEOUT", "3"),
        ("SENDING_LEASE", "6"),
        ("ASSIGN_REPORT_SCHEDULE", held_back),
        ("NOTIFY_DEBOUNCE", "0"),
    ];
    let pipeline =
        Pipeline::start_with(kind, smtp, Some(&shared_redis()), &extra, Roles::NoWorker).await;
    // The worker process must use the same stream as the beat in this process.
    let vars = pipeline.process_variables(&shared_redis(), &extra);
    pipeline.user("ann");
    pipeline.user("bob");
    pipeline.smtp.set_mode(mode);
    let mut worker = spawn_worker(&vars);
    let ann = pipeline.token("ann").await;
    let issue = pipeline.create_issue(&ann, "survives a crash", "bob").await;
    if email == Email::Activity {
        let (status, _) = pipeline
            .call(
                "POST",
                &format!("/api/issue/{issue}/comments/"),
                &ann,
                Some(serde_json::json!({"body": "still there?"})),
            )
            .await;
        assert_eq!(status, 201);
    }
    let of_kind = |statuses: Vec<(String, String, String)>| -> Vec<String> {
        statuses
            .into_iter()
            .filter(|(k, _, _)| k == email.kind())
            .map(|(_, _, status)| status)
            .collect()
    };
    let stuck = match mode {
        SmtpMode::StallAfterData => {
            eventually(Duration::from_secs(10), || {
                pipeline.smtp.received().len() == 1
            })
            .await
        }
        _ => {
            eventually(Duration::from_secs(10), || {
                of_kind(pipeline.statuses()).iter().any(|s| s == "sending")
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
        let statuses = of_kind(pipeline.statuses());
        !statuses.is_empty() && statuses.iter().all(|status| status == "sent")
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
    for (kind, email) in [
        (Kind::Postgres, Email::Assignment),
        (Kind::Sqlite, Email::Assignment),
        (Kind::Postgres, Email::Activity),
        (Kind::Sqlite, Email::Activity),
    ] {
        let (pipeline, count) = killed_mid_job(kind, SmtpMode::StallAfterData, email).await;
        assert_eq!(
            count, 2,
            "{kind:?} {email:?}: exactly one copy more than needed"
        );
        let ids = message_ids(&pipeline.smtp);
        assert_eq!(
            ids.len(),
            1,
            "{kind:?} {email:?}: both copies carry the same Message-ID: {ids:?}"
        );
        pipeline.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_before_the_server_accepted_delivers_exactly_once() {
    for (kind, email) in [
        (Kind::Postgres, Email::Assignment),
        (Kind::Sqlite, Email::Assignment),
        (Kind::Postgres, Email::Activity),
        (Kind::Sqlite, Email::Activity),
    ] {
        let (pipeline, count) = killed_mid_job(kind, SmtpMode::StallBeforeData, email).await;
        assert_eq!(count, 1, "{kind:?} {email:?}");
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
