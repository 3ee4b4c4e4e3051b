//! Three beat processes at once, one killed (SIGKILL) and restarted: exactly one report per user
//! per period, and no period missed.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use issue_tracker_domain::Status;
use issue_tracker_persistence::{NewIssue, NewUser};
use issue_tracker_testkit::{Kind, RedisServer, TestDb};

fn spawn_beat(db: &TestDb, redis: &RedisServer) -> Child {
    Command::new(env!("CARGO_BIN_EXE_issue-tracker-beat"))
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", redis.url())
        .env("REPORT_SCHEDULE_HOURS", "0")
        .env("REPORT_SCHEDULE_SECONDS", "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start beat")
}

fn three_beats(kind: Kind) {
    let db = TestDb::new(kind);
    let redis = RedisServer::start();
    let mut users = Vec::new();
    for name in ["ann", "bob", "carl"] {
        users.push(
            db.db
                .create_user(
                    &NewUser {
                        username: name.into(),
                        email: format!("{name}@example.com"),
                        password_hash: "x".into(),
                        is_staff: false,
                        is_superuser: false,
                    },
                    &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
                )
                .unwrap(),
        );
    }
    // bob and carl have issues; ann has none and gets no report.
    for (title, assignee) in [("one", "bob"), ("two", "carl"), ("three", "bob")] {
        let issue = NewIssue {
            title: &issue_tracker_domain::Title::parse(title).unwrap(),
            description: &issue_tracker_domain::Description::parse("d").unwrap(),
            status: Status::Open,
            assignee,
        };
        db.db
            .create_issue(
                &users[0],
                &issue,
                Duration::from_secs(3600),
                &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
                Duration::from_secs(120),
            )
            .unwrap()
            .unwrap();
    }
    let mut beats: Vec<Child> = (0..3).map(|_| spawn_beat(&db, &redis)).collect();
    std::thread::sleep(Duration::from_millis(3_500));
    beats[1].kill().unwrap();
    beats[1].wait().unwrap();
    std::thread::sleep(Duration::from_millis(2_000));
    beats[1] = spawn_beat(&db, &redis);
    std::thread::sleep(Duration::from_millis(4_500));
    for beat in &mut beats {
        beat.kill().ok();
        beat.wait().ok();
    }

    let mut periods: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for notification in db.db.list_notifications(None, 10_000).unwrap() {
        if notification.kind == "report" {
            periods
                .entry(notification.recipient)
                .or_default()
                .push(notification.period.expect("a report has a period"));
        }
    }
    assert_eq!(
        periods.keys().cloned().collect::<Vec<_>>(),
        ["bob", "carl"],
        "{kind:?}"
    );
    let expected: BTreeSet<i64> = periods["bob"].iter().copied().collect();
    for (user, list) in &periods {
        let unique: BTreeSet<i64> = list.iter().copied().collect();
        assert_eq!(
            unique.len(),
            list.len(),
            "{kind:?}: {user} got a period twice: {list:?}"
        );
        let (first, last) = (*unique.first().unwrap(), *unique.last().unwrap());
        assert_eq!(
            unique.len() as i64,
            last - first + 1,
            "{kind:?}: {user} missed a period: {list:?}"
        );
        assert_eq!(unique, expected, "{kind:?}: users disagree on periods");
    }
    // About 10 s of 2-second periods.
    assert!(
        (4..=7).contains(&expected.len()),
        "{kind:?}: {} periods",
        expected.len()
    );
}

#[test]
fn three_beats_one_restarted_postgres() {
    three_beats(Kind::Postgres);
}

#[test]
fn three_beats_one_restarted_sqlite() {
    three_beats(Kind::Sqlite);
}

#[test]
fn sigterm_stops_beat_cleanly() {
    let db = TestDb::new(Kind::Sqlite);
    let redis = RedisServer::start();
    let mut beat = spawn_beat(&db, &redis);
    std::thread::sleep(Duration::from_secs(1));
    assert!(beat.try_wait().unwrap().is_none(), "beat exited by itself");
    Command::new("kill")
        .args(["-TERM", &beat.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = beat.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "beat ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}
