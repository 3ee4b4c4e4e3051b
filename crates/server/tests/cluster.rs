//! The deployment the README describes, as processes on one machine: several API servers on one
//! port, several workers and beats, one PostgreSQL through PgBouncer in transaction mode, one
//! Redis and an SMTP server; processes SIGKILLed and restarted, Redis restarted empty, while a
//! client drives assignments. `scripts/soak` runs the long version (`soak`, ignored here).
//!
//! The client is `cluster/load.rs`; PgBouncer in transaction mode, a server cut off from Redis and
//! webhooks under killed workers have a file each under `cluster/`.

mod deployment;
#[path = "cluster/load.rs"]
mod load;
#[path = "cluster/pgbouncer.rs"]
mod pgbouncer;
#[path = "cluster/redis_cut_off.rs"]
mod redis_cut_off;
#[path = "cluster/webhooks.rs"]
mod webhooks;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deployment::{binary, fresh_connections, message_ids, Cluster, Shape};
use issue_tracker_testkit::{admin_url, eventually, PgBouncer};
use serde_json::{json, Value};

use load::{drive, percentile};

const USERS: usize = 20;

/// What goes wrong during the load, in turn.
#[derive(Debug, Clone, Copy)]
enum Fault {
    KillServer,
    KillWorker,
    KillBeat,
    RestartRedis,
}

struct Plan {
    shape: Shape,
    assignments: usize,
    rate: f64,
    concurrency: usize,
    /// Seconds between faults; the faults repeat in turn until the load is done.
    fault_every: f64,
    /// At most this many faults (one round in CI).
    max_faults: usize,
}

/// Runs the plan and checks every promise; returns the figures it printed.
async fn run(plan: Plan) -> String {
    let mut cluster = Cluster::new(
        &plan.shape,
        &[
            ("LOGIN_FAILURES_PER_USERNAME", "10"),
            ("LOGIN_FAILURES_PER_ADDRESS", "1000"),
        ],
    )
    .await;
    // Every user has an issue before the beats start, so that every period reports to everyone.
    let names: Vec<String> = (0..USERS).map(|i| format!("u{i:02}")).collect();
    for name in &names {
        cluster.user(name, false);
    }
    cluster.user("boss", true);
    cluster.start_processes(&plan.shape);
    cluster.wait_until_serving().await;
    let mut tokens = Vec::new();
    for name in &names {
        tokens.push((name.clone(), cluster.token(name).await));
    }
    let client = fresh_connections();
    for (i, (_, token)) in tokens.iter().enumerate() {
        let response = client
            .post(format!("{}/api/issue/", cluster.base))
            .header("Authorization", format!("Token {token}"))
            .json(
                &json!({"title": format!("first {i}"), "description": "d", "status": "open",
                "assigned_to": names[i]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    let done = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(drive(
        cluster.base.clone(),
        Arc::new(tokens.clone()),
        plan.assignments,
        plan.rate,
        plan.concurrency,
        done.clone(),
    ));
    let faults = [
        Fault::KillServer,
        Fault::KillWorker,
        Fault::KillBeat,
        Fault::RestartRedis,
    ];
    let mut in_flight: BTreeSet<i64> = BTreeSet::new();
    let mut applied = Vec::new();
    let started = Instant::now();
    while !load.is_finished() && applied.len() < plan.max_faults {
        tokio::time::sleep(Duration::from_secs_f64(plan.fault_every)).await;
        if load.is_finished() {
            break;
        }
        let fault = faults[applied.len() % faults.len()];
        let which = applied.len() / faults.len();
        match fault {
            Fault::KillServer => {
                let server = &mut cluster.servers[which % plan.shape.servers];
                server.kill();
                tokio::time::sleep(Duration::from_millis(500)).await;
                server.start();
            }
            Fault::KillWorker => {
                let worker = which % plan.shape.workers;
                cluster.workers[worker].kill();
                // What the killed worker may have handed to SMTP without marking it sent.
                in_flight.extend(cluster.sending());
                tokio::time::sleep(Duration::from_millis(500)).await;
                cluster.workers[worker].start();
            }
            Fault::KillBeat => {
                let beat = &mut cluster.beats[which % plan.shape.beats];
                beat.kill();
                tokio::time::sleep(Duration::from_millis(500)).await;
                beat.start();
            }
            Fault::RestartRedis => cluster.redis.restart(),
        }
        applied.push((
            started.elapsed().as_secs_f64(),
            fault,
            done.load(Ordering::SeqCst),
        ));
    }
    let mut load = load.await.unwrap();
    let load_seconds = started.elapsed().as_secs_f64();
    assert!(
        applied.len() >= plan.max_faults.min(4),
        "the load ended before the faults: {applied:?}"
    );

    // Shared across servers: failed logins count together, sessions work everywhere.
    let failures = shared_login_limit(&cluster).await;
    admin_session_on_every_server(&cluster).await;

    // No process died by itself.
    for process in cluster
        .servers
        .iter_mut()
        .chain(cluster.workers.iter_mut())
        .chain(cluster.beats.iter_mut())
    {
        assert!(
            process.running(),
            "{:?} exited by itself: see {}",
            process.role,
            process.log.display()
        );
    }
    // Everything due is delivered: every assignment, and the reports of every period begun so far
    // (the beats, which relay the outbox to the queue, keep running until then).
    let notifications = || cluster.db.db.list_notifications(None, 1_000_000).unwrap();
    let assignments_sent = eventually(Duration::from_secs(120), || {
        notifications()
            .iter()
            .filter(|n| n.kind == "assignment")
            .all(|n| n.status == "sent")
    })
    .await;
    let last_period = notifications()
        .iter()
        .filter_map(|n| n.period)
        .max()
        .expect("reports were made");
    let reports_sent = eventually(Duration::from_secs(60), || {
        notifications()
            .iter()
            .filter(|n| n.period.is_some_and(|p| p <= last_period))
            .all(|n| n.status == "sent")
    })
    .await;
    for beat in &mut cluster.beats {
        beat.terminate();
    }
    // Let any second copy arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let notifications: Vec<_> = notifications()
        .into_iter()
        .filter(|n| n.period.is_none_or(|p| p <= last_period))
        .collect();
    assert!(
        assignments_sent && reports_sent,
        "not everything was delivered: {:?}",
        notifications
            .iter()
            .filter(|n| n.status != "sent")
            .map(|n| (
                n.id.get(),
                n.kind.clone(),
                n.status.clone(),
                n.last_error.clone()
            ))
            .take(20)
            .collect::<Vec<_>>()
    );

    // Every acknowledged write exists.
    let boss = cluster.token("boss").await;
    let issues: Vec<Value> = client
        .get(format!("{}/api/issue/", cluster.base))
        .header("Authorization", format!("Token {boss}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: BTreeSet<i64> = issues.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    let missing: Vec<_> = load
        .acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert!(
        load.unexpected.is_empty(),
        "unexpected answers: {:?}",
        &load.unexpected[..load.unexpected.len().min(5)]
    );
    assert_eq!(
        load.acknowledged.len() + load.ambiguous,
        plan.assignments,
        "every request was answered or lost in a kill"
    );

    // One assignment email per stored issue, each delivered; a second copy only of what a killed
    // worker had in flight.
    let assignments = notifications
        .iter()
        .filter(|n| n.kind == "assignment")
        .count();
    assert_eq!(assignments, stored.len(), "one assignment email per issue");
    let received = message_ids(&cluster.smtp);
    let mut duplicates = Vec::new();
    for notification in &notifications {
        let id = notification.id.get();
        let copies = received
            .get(&format!("<notification-{id}@example.com>"))
            .copied()
            .unwrap_or(0);
        assert!(copies >= 1, "notification {id} marked sent, never received");
        if copies > 1 {
            duplicates.push((id, copies));
        }
    }
    let extra_copies: usize = duplicates.iter().map(|(_, copies)| copies - 1).sum();
    for (id, copies) in &duplicates {
        assert!(
            in_flight.contains(id) && *copies == 2,
            "notification {id} arrived {copies} times but was not in flight at a worker kill"
        );
    }
    assert!(extra_copies <= in_flight.len());

    // Exactly one report per user per period, no period missed, the same periods for all. The
    // users' first issues are created through the API once the processes run (beats included),
    // so a period may end while they are being created: its report goes to those who had one.
    // Hence the first period may differ by one between users; from there on they are the same.
    let mut periods: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for notification in notifications.iter().filter(|n| n.kind == "report") {
        periods
            .entry(notification.recipient.clone())
            .or_default()
            .push(notification.period.expect("a report has a period"));
    }
    assert_eq!(periods.len(), USERS, "every user got reports");
    let mut firsts = BTreeSet::new();
    let mut lasts = BTreeSet::new();
    for (user, list) in &periods {
        let unique: BTreeSet<i64> = list.iter().copied().collect();
        assert_eq!(unique.len(), list.len(), "{user} got a period twice");
        let (first, last) = (*unique.first().unwrap(), *unique.last().unwrap());
        assert_eq!(
            unique.len() as i64,
            last - first + 1,
            "a period was missed for {user}: {unique:?}"
        );
        firsts.insert(first);
        lasts.insert(last);
    }
    assert_eq!(
        lasts.len(),
        1,
        "the last period differs between users: {periods:?}"
    );
    let (earliest, latest) = (*firsts.first().unwrap(), *firsts.last().unwrap());
    assert!(
        latest - earliest <= 1,
        "first periods differ by more than the one in which the users were set up: {periods:?}"
    );
    let expected: BTreeSet<i64> = periods[&names[0]].iter().copied().collect();

    let served = cluster.served(&["\"path\":\"/api/issue/\"", "\"status\":201"]);
    let figures = format!(
        "processes: {} servers, {} workers, {} beats through PgBouncer (transaction mode, {} server connections)\n\
         faults: {} ({:?})\n\
         assignments: {} sent in {:.1} s, {} acknowledged (201), {} lost in a kill before an answer, {} retried after a refusal\n\
         201s per server: {:?}\n\
         latency of acknowledged writes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n\
         emails: {} notifications ({} assignment, {} report over {} periods), all delivered; {} extra copies (same Message-ID) of {} in flight at worker kills\n\
         failed logins before 429, over all servers: {}\n",
        plan.shape.servers,
        plan.shape.workers,
        plan.shape.beats,
        plan.shape.server_connections,
        applied.len(),
        applied
            .iter()
            .map(|(at, fault, done)| format!("{fault:?} at {at:.1} s after {done} writes"))
            .collect::<Vec<_>>(),
        plan.assignments,
        load_seconds,
        load.acknowledged.len(),
        load.ambiguous,
        load.retried,
        served,
        percentile(&mut load.latencies, 50.0),
        percentile(&mut load.latencies, 99.0),
        percentile(&mut load.latencies, 100.0),
        notifications.len(),
        assignments,
        notifications.len() - assignments,
        expected.len(),
        extra_copies,
        in_flight.len(),
        failures,
    );
    println!("{figures}");
    figures
}

/// Ten failed logins for one user, each on a new connection (so spread over the servers), are
/// all the limit allows: the next ones are refused on whichever server they reach.
async fn shared_login_limit(cluster: &Cluster) -> usize {
    let client = fresh_connections();
    let attempt = || async {
        client
            .post(format!("{}/api/user/get_auth_token/", cluster.base))
            .json(&json!({"username": "u01", "password": "wrong"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let mut failures = 0;
    for _ in 0..10 {
        let status = attempt().await;
        assert!(status != 429 && status >= 400, "{status}");
        failures += 1;
    }
    for _ in 0..6 {
        assert_eq!(attempt().await, 429, "the limit is shared by all servers");
    }
    let handled = cluster.served(&["\"path\":\"/api/user/get_auth_token/\"", "\"status\":429"]);
    assert!(
        handled.iter().filter(|&&count| count > 0).count() >= 2,
        "the refusals did not reach two servers: {handled:?}"
    );
    failures
}

/// A staff login made through one server is a session on every server.
async fn admin_session_on_every_server(cluster: &Cluster) {
    let client = fresh_connections();
    let login = client
        .get(format!("{}/admin/login/", cluster.base))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let page = login.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a csrf field") + marker.len();
    let csrf = page[start..].split('"').next().unwrap();
    let response = client
        .post(format!("{}/admin/login/", cluster.base))
        .header("cookie", cookies.join("; "))
        .header("origin", &cluster.base)
        .form(&[
            ("csrf", csrf),
            ("username", "boss"),
            ("password", "pw-boss"),
            ("next", "/admin/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    let session: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .filter(|cookie| !cookie.ends_with('='))
        .collect();
    for _ in 0..12 {
        let response = client
            .get(format!("{}/admin/", cluster.base))
            .header("cookie", session.join("; "))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "the session is known to every server"
        );
    }
    let handled = cluster.served(&["\"path\":\"/admin/\"", "\"status\":200"]);
    assert!(
        handled.iter().filter(|&&count| count > 0).count() >= 2,
        "the session was not used on two servers: {handled:?}"
    );
}

/// Three servers on one port, three workers, two beats, PgBouncer, Redis and SMTP; one server,
/// one worker and one beat SIGKILLed and restarted, and Redis restarted empty, during 2,000
/// assignments.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_three_workers_two_beats_survive_kills() {
    run(Plan {
        shape: Shape {
            servers: 3,
            workers: 3,
            beats: 2,
            report_seconds: 4,
            server_connections: 6,
        },
        assignments: 2_000,
        rate: 120.0,
        concurrency: 16,
        fault_every: 2.5,
        max_faults: 4,
    })
    .await;
}

/// `scripts/soak`: the same with more of everything (`SOAK_ASSIGNMENTS`, `SOAK_RATE`,
/// `SOAK_FAULT_EVERY` seconds), a fault every few seconds until the load is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: run by scripts/soak"]
async fn soak() {
    let read = |name: &str, default: f64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let figures = run(Plan {
        shape: Shape {
            servers: 3,
            workers: 3,
            beats: 2,
            report_seconds: 10,
            server_connections: 10,
        },
        assignments: read("SOAK_ASSIGNMENTS", 20_000.0) as usize,
        rate: read("SOAK_RATE", 200.0),
        concurrency: 32,
        fault_every: read("SOAK_FAULT_EVERY", 3.0),
        max_faults: usize::MAX,
    })
    .await;
    if let Ok(path) = std::env::var("SOAK_FIGURES") {
        std::fs::write(path, figures).unwrap();
    }
}
