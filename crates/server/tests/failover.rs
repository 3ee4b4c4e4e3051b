//! PostgreSQL fails over under load, as Patroni or an operator would do it: a primary with a
//! synchronous standby (its clock four seconds ahead, as on another host), a server, a worker and a
//! beat reaching them through one `DATABASE_URL` naming both hosts
//! (`target_session_attrs=read-write`), a client making assignments; then the primary is stopped
//! hard and the standby promoted. Every write the client saw acknowledged is on the new primary,
//! every assignment email arrives, the reports go on with one per user and period, no process
//! needed a restart, and requests during the switch were answered 503, never 500.

mod deployment;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use deployment::{binary, make_user, process_vars, Process, Role};
use issue_tracker_testkit::{free_port, psql, PostgresPair, RedisServer, SmtpServer};
use serde_json::{json, Value};

/// What the client saw of one attempt to make an assignment.
enum Attempt {
    Acknowledged(i64),
    Unavailable,
    Other(u16, String),
}

async fn assign(client: &reqwest::Client, base: &str, token: &str, n: usize) -> Attempt {
    let sent = client
        .post(format!("{base}/api/issue/"))
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"title": format!("failover {n}"), "description": "d", "status": "open", "assigned_to": "bob"}))
        .send()
        .await;
    let Ok(response) = sent else {
        return Attempt::Unavailable;
    };
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let text = response.text().await.unwrap_or_default();
    match status {
        201 => Attempt::Acknowledged(
            serde_json::from_str::<Value>(&text).unwrap()["id"]
                .as_i64()
                .unwrap(),
        ),
        503 if retry_after => Attempt::Unavailable,
        _ => Attempt::Other(status, text),
    }
}

/// A server, a worker and a beat on the pair, as processes; Ann's token.
struct OnThePair {
    processes: Vec<Process>,
    client: reqwest::Client,
    base: String,
    token: String,
    smtp: SmtpServer,
    dir: std::path::PathBuf,
    _redis: RedisServer,
}

async fn start_on(pair: &PostgresPair) -> OnThePair {
    pair.create_database("tracker");
    let url = pair.url("tracker");
    let redis = RedisServer::start();
    let smtp = SmtpServer::start().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("issue-tracker-failover-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut vars = process_vars(
        url.clone(),
        redis.url(),
        format!("127.0.0.1:{port}"),
        smtp.port,
    );
    for (k, v) in [
        ("DATABASE_TRANSACTION_POOLING", "false"),
        ("DATABASE_POOL_TIMEOUT", "2"),
        // An email whose claim met the dying primary is still pending: the relay enqueues it
        // again after REQUEUE_AFTER (60 s by default; short here, as in the cluster test).
        ("REQUEUE_AFTER", "3"),
        ("RECLAIM_IDLE", "3"),
        ("REPORT_SCHEDULE_HOURS", "0"),
        ("REPORT_SCHEDULE_SECONDS", "3"),
        ("RATE_LIMIT_PER_TOKEN", "1000000"),
    ] {
        vars.insert(k.into(), v.into());
    }
    let migrated = std::process::Command::new(binary("issue-tracker"))
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let db = issue_tracker_persistence::Database::connect_postgres(
        &url,
        issue_tracker_persistence::PoolSettings {
            max_size: 2,
            timeout: Duration::from_secs(5),
            transaction_pooling: false,
        },
    )
    .expect("the pair");
    for (name, staff) in [("ann", false), ("bob", false)] {
        make_user(&db, name, staff);
    }
    drop(db);
    let processes = vec![
        Process::spawn(Role::Server, dir.join("server.log"), vars.clone()),
        Process::spawn(Role::Worker, dir.join("worker.log"), vars.clone()),
        Process::spawn(Role::Beat, dir.join("beat.log"), vars.clone()),
    ];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    deployment::wait_until_serving(&base, &dir).await;
    let token = deployment::token(&base, "ann").await;
    OnThePair {
        processes,
        client,
        base,
        token,
        smtp,
        dir,
        _redis: redis,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_stopped_hard_and_its_standby_promoted_loses_nothing() {
    let mut pair = PostgresPair::start(Some("+4s"));
    let OnThePair {
        mut processes,
        client,
        base,
        token,
        smtp,
        dir,
        _redis,
    } = start_on(&pair).await;

    let mut acknowledged: Vec<i64> = Vec::new();
    let mut unavailable = 0;
    let mut n = 0;
    while acknowledged.len() < 100 {
        match assign(&client, &base, &token, n).await {
            Attempt::Acknowledged(id) => acknowledged.push(id),
            Attempt::Unavailable => unavailable += 1,
            Attempt::Other(status, text) => panic!("before the failover: {status} {text}"),
        }
        n += 1;
    }
    // The reports of a period or two before the failover.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let reports_before: i64 = psql(
        pair.primary_port,
        "tracker",
        "SELECT coalesce(max(period), 0) FROM notifications WHERE kind = 'report'",
    )
    .parse()
    .unwrap();

    let killed = Instant::now();
    pair.kill_primary();
    pair.promote_standby();
    let mut first_after: Option<Duration> = None;
    let mut errors = Vec::new();
    while acknowledged.len() < 200 {
        match assign(&client, &base, &token, n).await {
            Attempt::Acknowledged(id) => {
                first_after.get_or_insert(killed.elapsed());
                acknowledged.push(id);
            }
            Attempt::Unavailable => {
                unavailable += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Attempt::Other(status, text) => errors.push(format!("{status} {text}")),
        }
        n += 1;
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "no recovery within a minute; logs in {}",
            dir.display()
        );
    }
    let first_after = first_after.unwrap();
    println!(
        "failover: first acknowledged write {:.2} s after the kill; {unavailable} answers 503 meanwhile",
        first_after.as_secs_f64()
    );
    assert!(
        errors.is_empty(),
        "answers other than 201 and 503: {errors:?}"
    );
    assert!(
        first_after < Duration::from_secs(2),
        "writes came back {first_after:?} after the kill"
    );

    // Every acknowledged write is on the new primary.
    let stored: BTreeSet<i64> = psql(pair.standby_port, "tracker", "SELECT id FROM issues")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let missing: Vec<i64> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .copied()
        .collect();
    assert!(missing.is_empty(), "acknowledged and lost: {missing:?}");

    // Every assignment email arrives; a second copy only of an email in flight at the kill.
    let delivered = issue_tracker_testkit::eventually(Duration::from_secs(60), || {
        let ids = assignment_ids(&smtp);
        acknowledged.iter().all(|id| ids.contains_key(id))
    })
    .await;
    let ids = assignment_ids(&smtp);
    assert!(
        delivered,
        "emails missing for {:?}; logs in {}",
        acknowledged
            .iter()
            .filter(|id| !ids.contains_key(id))
            .collect::<Vec<_>>(),
        dir.display()
    );
    let doubled: Vec<(&i64, &usize)> = ids.iter().filter(|(_, copies)| **copies > 1).collect();
    println!(
        "failover: {} assignment emails, {} sent twice",
        ids.len(),
        doubled.len()
    );
    assert!(doubled.len() <= 4, "too many second copies: {doubled:?}");

    // The beat goes on: reports of periods after the failover, one per user and period.
    let reports_after = issue_tracker_testkit::eventually(Duration::from_secs(30), || {
        psql(
            pair.standby_port,
            "tracker",
            "SELECT coalesce(max(period), 0) FROM notifications WHERE kind = 'report'",
        )
        .parse::<i64>()
        .unwrap()
            > reports_before + 1
    })
    .await;
    assert!(
        reports_after,
        "no report after the failover; logs in {}",
        dir.display()
    );
    assert_eq!(
        psql(
            pair.standby_port,
            "tracker",
            "SELECT count(*) FROM (SELECT recipient_id, period FROM notifications WHERE kind = 'report' \
             GROUP BY 1, 2 HAVING count(*) > 1) doubled",
        ),
        "0",
        "a report doubled"
    );
    for process in &mut processes {
        assert!(process.running(), "{:?} stopped", process.role);
    }
    drop(processes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue id → copies received, of the assignment emails.
fn assignment_ids(smtp: &SmtpServer) -> BTreeMap<i64, usize> {
    let mut copies = BTreeMap::new();
    for message in smtp.received_by("bob@example.com") {
        let body = message.body();
        let Some(rest) = body.split("Ticket '").nth(1) else {
            continue;
        };
        if let Some(id) = rest.split(' ').next().and_then(|id| id.parse::<i64>().ok()) {
            *copies.entry(id).or_insert(0) += 1;
        }
    }
    copies
}

/// Redis under Sentinel: two servers on one port, a worker and a beat find the master through
/// three Sentinels (`REDIS_SENTINELS`, no `REDIS_URL`); the master is SIGKILLed during
/// assignments and Sentinel promotes the replica. Every acknowledged assignment is emailed (a
/// second copy only of what was in flight), no process needed a restart, and afterwards the
/// servers count their rate limits together in the new master again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_redis_master_killed_and_its_replica_promoted_loses_no_email() {
    use issue_tracker_testkit::{redis_cli, Kind, RedisSentinels, TestDb};

    let db = TestDb::new(Kind::Postgres);
    let mut redis = RedisSentinels::start();
    let smtp = SmtpServer::start().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("issue-tracker-sentinel-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut vars = process_vars(
        db.url.clone(),
        String::new(),
        format!("127.0.0.1:{port}"),
        smtp.port,
    );
    vars.remove("REDIS_URL");
    for (k, v) in [
        ("REDIS_SENTINELS", redis.sentinels().join(",")),
        ("DATABASE_TRANSACTION_POOLING", "false".into()),
        ("REUSE_PORT", "true".into()),
        ("REQUEUE_AFTER", "3".into()),
        ("RECLAIM_IDLE", "3".into()),
        ("RATE_LIMIT_PER_TOKEN", "1000000".into()),
    ] {
        vars.insert(k.into(), v);
    }
    for name in ["ann", "bob"] {
        make_user(&db.db, name, false);
    }
    let mut processes = vec![
        Process::spawn(Role::Server, dir.join("server-0.log"), vars.clone()),
        Process::spawn(Role::Server, dir.join("server-1.log"), vars.clone()),
        Process::spawn(Role::Worker, dir.join("worker.log"), vars.clone()),
        Process::spawn(Role::Beat, dir.join("beat.log"), vars.clone()),
    ];
    let client = deployment::fresh_connections();
    deployment::wait_until_serving(&base, &dir).await;
    let token = deployment::token(&base, "ann").await;

    let mut acknowledged = Vec::new();
    let mut n = 0;
    let mut killed_at = None;
    while acknowledged.len() < 150 {
        if acknowledged.len() == 50 && killed_at.is_none() {
            redis.kill_master();
            killed_at = Some(Instant::now());
        }
        match assign(&client, &base, &token, n).await {
            Attempt::Acknowledged(id) => acknowledged.push(id),
            Attempt::Unavailable => tokio::time::sleep(Duration::from_millis(20)).await,
            Attempt::Other(status, text) => panic!("{status} {text}"),
        }
        n += 1;
    }
    let promoted = issue_tracker_testkit::eventually(Duration::from_secs(30), || {
        redis.current_master_port() == Some(redis.replica_port)
    })
    .await;
    assert!(promoted, "Sentinel never promoted the replica");
    println!(
        "sentinel: replica promoted {:.1} s after the kill",
        killed_at.unwrap().elapsed().as_secs_f64()
    );

    let delivered = issue_tracker_testkit::eventually(Duration::from_secs(60), || {
        let ids = assignment_ids(&smtp);
        acknowledged.iter().all(|id| ids.contains_key(id))
    })
    .await;
    let ids = assignment_ids(&smtp);
    assert!(
        delivered,
        "emails missing for {:?}; logs in {}",
        acknowledged
            .iter()
            .filter(|id| !ids.contains_key(id))
            .collect::<Vec<_>>(),
        dir.display()
    );
    let doubled = ids.values().filter(|copies| **copies > 1).count();
    println!(
        "sentinel: {} assignment emails, {doubled} sent twice",
        ids.len()
    );
    assert!(doubled <= 4, "too many second copies: {doubled}");

    // The servers count together in the new master: 40 requests over both servers with a token
    // made after the failover (so that no count of it was replicated from the old master), one
    // count.
    let token = deployment::token(&base, "bob").await;
    let scan = || {
        redis_cli(
            redis.replica_port,
            &["--scan", "--pattern", "issue-tracker:ratelimit:token:*"],
        )
        .lines()
        .map(str::to_owned)
        .collect::<BTreeSet<String>>()
    };
    let before = scan();
    let count_now = || {
        scan()
            .difference(&before)
            .filter_map(|key| {
                redis_cli(redis.replica_port, &["GET", key])
                    .parse::<u64>()
                    .ok()
            })
            .sum::<u64>()
    };
    // Both servers count in the new master once their pause after Redis failed (5 s) is over:
    // 20 requests spread over both, 20 more in the count.
    let (mut grown, mut total) = (false, 0);
    let started = Instant::now();
    while !grown && started.elapsed() < Duration::from_secs(30) {
        let was = count_now();
        for _ in 0..20 {
            let response = client
                .get(format!("{base}/api/issue/{}/", acknowledged[0]))
                .header("Authorization", format!("Token {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        total = count_now();
        grown = total == was + 20;
        if !grown {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    println!(
        "sentinel: both servers count in the new master {:.1} s after the kill",
        killed_at.unwrap().elapsed().as_secs_f64()
    );
    assert!(
        grown,
        "not every request was counted in the new master ({total})"
    );
    let served: Vec<usize> = processes[..2]
        .iter()
        .map(|p| p.log_lines_with(&["\"path\":\"/api/issue/"]))
        .collect();
    assert!(
        served.iter().all(|n| *n > 0),
        "one server served everything: {served:?}"
    );
    for process in &mut processes {
        assert!(process.running(), "{:?} stopped", process.role);
    }
    drop(processes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The primary turns read-only under the server's pooled connections (as a demoted primary does;
/// here `default_transaction_read_only`), then the standby is promoted. Writes meanwhile answer
/// 503 with `Retry-After`, never 500 (SQLSTATE 25006 is "unavailable", not a bug); the pooled
/// connections to the read-only server are dropped, and writes land on the new primary without a
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_turned_read_only_sends_writes_to_the_promoted_standby() {
    let pair = PostgresPair::start(None);
    let OnThePair {
        mut processes,
        client,
        base,
        token,
        dir,
        ..
    } = start_on(&pair).await;
    let mut acknowledged = Vec::new();
    for n in 0..20 {
        match assign(&client, &base, &token, n).await {
            Attempt::Acknowledged(id) => acknowledged.push(id),
            _ => panic!("before: not acknowledged"),
        }
    }
    psql(
        pair.primary_port,
        "postgres",
        "ALTER SYSTEM SET default_transaction_read_only = on",
    );
    psql(pair.primary_port, "postgres", "SELECT pg_reload_conf()");
    let mut unavailable = 0;
    let mut n = 20;
    // Read-only, and nowhere else to go yet: 503 with Retry-After.
    while unavailable < 5 {
        match assign(&client, &base, &token, n).await {
            Attempt::Unavailable => unavailable += 1,
            Attempt::Acknowledged(id) => panic!("a write acknowledged on a read-only server: {id}"),
            Attempt::Other(status, text) => panic!("{status} {text}; logs in {}", dir.display()),
        }
        n += 1;
    }
    pair.promote_standby();
    let promoted = Instant::now();
    let mut after = Vec::new();
    while after.len() < 20 {
        match assign(&client, &base, &token, n).await {
            Attempt::Acknowledged(id) => after.push(id),
            Attempt::Unavailable => {
                unavailable += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Attempt::Other(status, text) => panic!("{status} {text}; logs in {}", dir.display()),
        }
        n += 1;
        assert!(
            promoted.elapsed() < Duration::from_secs(30),
            "writes never reached the promoted standby; logs in {}",
            dir.display()
        );
    }
    println!(
        "read-only primary: {unavailable} answers 503; writes on the new primary {:.2} s after its promotion",
        promoted.elapsed().as_secs_f64()
    );
    let stored: BTreeSet<i64> = psql(pair.standby_port, "tracker", "SELECT id FROM issues")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(acknowledged
        .iter()
        .chain(&after)
        .all(|id| stored.contains(id)));
    for process in &mut processes {
        assert!(process.running(), "{:?} stopped", process.role);
    }
}
