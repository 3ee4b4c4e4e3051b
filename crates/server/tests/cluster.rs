//! The deployment the README describes, as processes on one machine: several API servers on one
//! port, several workers and beats, one PostgreSQL through PgBouncer in transaction mode, one
//! Redis and an SMTP server; processes SIGKILLed and restarted, Redis restarted empty, while a
//! client drives assignments. `scripts/soak` runs the long version (`soak`, ignored here).

mod deployment;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deployment::{binary, fresh_connections, message_ids, Cluster, Shape};
use issue_tracker_testkit::{admin_url, eventually, PgBouncer};
use serde_json::{json, Value};

const USERS: usize = 20;

/// What the client saw.
#[derive(Default)]
struct Load {
    /// Ids of the issues answered with 201.
    acknowledged: Vec<i64>,
    /// Requests whose answer was lost after they were sent (the write may or may not exist).
    ambiguous: usize,
    /// Requests refused before anything was written (connection refused, 503), then retried.
    retried: usize,
    /// Any other answer: status and body.
    unexpected: Vec<(u16, String)>,
    /// Milliseconds per acknowledged request.
    latencies: Vec<f64>,
}

/// One request's fate.
enum Outcome {
    Created(i64),
    /// Refused before anything was written: retried.
    Refused,
    Unexpected(u16, String),
    /// The answer was lost after the request was sent.
    Lost,
}

/// Posts `count` assigned issues at `rate` per second from `concurrency` tasks, each request on a
/// fresh connection (spread over the servers). A request refused before it was sent is retried.
async fn drive(
    base: String,
    tokens: Arc<Vec<(String, String)>>,
    count: usize,
    rate: f64,
    concurrency: usize,
    done: Arc<AtomicUsize>,
) -> Load {
    let next = Arc::new(AtomicUsize::new(0));
    let load = Arc::new(Mutex::new(Load::default()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (base, tokens, next, load, done) = (
            base.clone(),
            tokens.clone(),
            next.clone(),
            load.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = fresh_connections();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count {
                    break;
                }
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let (_, token) = &tokens[i % tokens.len()];
                let (assignee, _) = &tokens[(i * 7 + 3) % tokens.len()];
                let body = json!({"title": format!("assignment {i}"), "description": "load",
                    "status": "open", "assigned_to": assignee});
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let sent = Instant::now();
                    let result = client
                        .post(format!("{base}/api/issue/"))
                        .header("Authorization", format!("Token {token}"))
                        .json(&body)
                        .send()
                        .await;
                    let outcome = match result {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let text = response.text().await.unwrap_or_default();
                            if status == 201 {
                                let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
                                    .as_i64()
                                    .unwrap();
                                Outcome::Created(id)
                            } else if status == 503 && attempts < 100 {
                                Outcome::Refused
                            } else {
                                Outcome::Unexpected(status, text)
                            }
                        }
                        Err(error) if error.is_connect() && attempts < 100 => Outcome::Refused,
                        Err(_) => Outcome::Lost,
                    };
                    let elapsed = sent.elapsed().as_secs_f64() * 1_000.0;
                    let retry = matches!(outcome, Outcome::Refused);
                    {
                        let mut load = load.lock().unwrap();
                        match outcome {
                            Outcome::Created(id) => {
                                load.acknowledged.push(id);
                                load.latencies.push(elapsed);
                            }
                            Outcome::Refused => load.retried += 1,
                            Outcome::Unexpected(status, text) => {
                                load.unexpected.push((status, text))
                            }
                            Outcome::Lost => load.ambiguous += 1,
                        }
                    }
                    if retry {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(load)
        .ok()
        .expect("every task finished")
        .into_inner()
        .unwrap()
}

/// The p-th percentile of `values` (sorted here).
fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    values[((values.len() - 1) as f64 * p / 100.0).round() as usize]
}

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

/// The notification path through PgBouncer in transaction mode with two server connections for
/// many client connections: every request and email succeeds (diesel's named prepared statements
/// would be missing, or already exist, on the next transaction's server session).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_notification_path_works_through_pgbouncer_in_transaction_mode() {
    let shape = Shape {
        servers: 1,
        workers: 1,
        beats: 1,
        report_seconds: 3,
        server_connections: 2,
    };
    let mut cluster = Cluster::new(&shape, &[]).await;
    for name in ["ann", "bob"] {
        cluster.user(name, false);
    }
    cluster.start_processes(&shape);
    cluster.wait_until_serving().await;
    let ann = cluster.token("ann").await;
    let load = drive(
        cluster.base.clone(),
        Arc::new(vec![("bob".to_owned(), ann.clone())]),
        300,
        1_000.0,
        16,
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    assert!(
        load.unexpected.is_empty() && load.ambiguous == 0,
        "{:?}",
        &load.unexpected[..load.unexpected.len().min(5)]
    );
    assert_eq!(load.acknowledged.len(), 300);
    // Reads, changes and the history go through it too.
    let client = fresh_connections();
    for id in &load.acknowledged[..50] {
        let response = client
            .patch(format!("{}/api/issue/{id}/", cluster.base))
            .header("Authorization", format!("Token {ann}"))
            .json(&json!({"status": "closed"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let response = client
            .get(format!("{}/api/issue/{id}/history/", cluster.base))
            .header("Authorization", format!("Token {ann}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let delivered = eventually(Duration::from_secs(60), || {
        let notifications = cluster.db.db.list_notifications(None, 10_000).unwrap();
        notifications.iter().any(|n| n.kind == "report")
            && notifications
                .iter()
                .filter(|n| n.kind == "assignment" && n.status == "sent")
                .count()
                == 300
    })
    .await;
    assert!(delivered, "see {}", cluster.dir.display());
    let received = message_ids(&cluster.smtp);
    assert!(received.len() >= 300);
    assert!(received.values().all(|&copies| copies == 1));
    for process in cluster
        .servers
        .iter_mut()
        .chain(cluster.workers.iter_mut())
        .chain(cluster.beats.iter_mut())
    {
        assert!(process.running(), "{:?} stopped", process.role);
        assert_eq!(
            process.log_lines_with(&["\"level\":\"ERROR\""]),
            0,
            "{:?} logged errors: {}",
            process.role,
            process.log.display()
        );
    }
}

/// Four `issue-tracker migrate` at once through PgBouncer on an empty database, three times:
/// all succeed, each migration runs once, and a fifth finds nothing to do (no lock left behind on
/// a server session).
#[test]
fn concurrent_migrations_through_pgbouncer() {
    let bouncer = PgBouncer::start(2);
    for round in 0..3 {
        let name = format!(
            "it_migrate_{round}_{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        issue_tracker_persistence::create_postgres_database(&admin_url(), &name).unwrap();
        let url = bouncer.url_for(&name);
        let migrate = move || {
            std::process::Command::new(binary("issue-tracker"))
                .arg("migrate")
                .env("DATABASE_URL", &url)
                .env("DATABASE_TRANSACTION_POOLING", "true")
                .output()
                .unwrap()
        };
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4).map(|_| scope.spawn(migrate.clone())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut applied = Vec::new();
        for output in &results {
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let stdout = String::from_utf8_lossy(&output.stdout);
            applied.extend(
                stdout
                    .lines()
                    .filter(|l| l.starts_with("Applied "))
                    .map(str::to_owned),
            );
        }
        let unique: BTreeSet<_> = applied.iter().collect();
        assert_eq!(
            unique.len(),
            applied.len(),
            "a migration ran twice: {applied:?}"
        );
        assert!(applied.len() >= 7, "{applied:?}");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(migrate());
        });
        let last = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a later migrate waits forever: a lock stayed behind");
        assert!(last.status.success());
        assert_eq!(
            String::from_utf8_lossy(&last.stdout).trim(),
            "No migrations to apply."
        );
        issue_tracker_persistence::drop_postgres_database(&admin_url(), &name).unwrap();
    }
}

/// A server on a host of its own (a network namespace) that reaches the database but not Redis,
/// beside a server, a worker and a beat that reach both: it says so on `/ready` (503, `redis:
/// down`), yet answers at once, takes writes (counting its rate limits alone), and the emails of
/// those writes go out through the others, since the outbox is in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_cut_off_from_redis_keeps_taking_writes() {
    use deployment::{NetNs, Process, Role};
    use issue_tracker_testkit::{free_port, Kind, RedisServer, SmtpServer, TestDb};

    let netns = NetNs::new();
    let db = TestDb::new(Kind::Postgres);
    let bouncer = PgBouncer::start_listening(4, &[&netns.host_ip]);
    let redis = RedisServer::start();
    let smtp = SmtpServer::start().await;
    let dir = std::env::temp_dir().join(format!("issue-tracker-netns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let base_vars = |database: String, redis_url: String, bind: String| {
        let mut vars = deployment::process_vars(database, redis_url, bind, smtp.port);
        // Its clients reach it at its namespace's address.
        vars.insert("ALLOWED_HOSTS".into(), "*".into());
        vars
    };
    let host_port = free_port();
    let host_vars = base_vars(
        bouncer.url_for(&name),
        redis.url(),
        format!("127.0.0.1:{host_port}"),
    );
    let cut_off_vars = base_vars(
        format!(
            "postgres://postgres@{}:{}/{name}",
            netns.host_ip, bouncer.port
        ),
        format!("redis://{}:6379", netns.unroutable_ip),
        format!("{}:8000", netns.ns_ip),
    );
    for user in ["ann", "bob"] {
        db.db
            .create_user(
                &issue_tracker_persistence::NewUser {
                    username: user.into(),
                    email: format!("{user}@example.com"),
                    password_hash: bcrypt::hash(format!("pw-{user}"), 4).unwrap(),
                    is_staff: false,
                    is_superuser: false,
                },
                &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
            )
            .unwrap();
    }
    let mut processes = vec![
        Process::spawn(Role::Server, dir.join("host-server.log"), host_vars.clone()),
        Process::spawn(Role::Worker, dir.join("worker.log"), host_vars.clone()),
        Process::spawn(Role::Beat, dir.join("beat.log"), host_vars),
        Process::spawn_in(
            Role::Server,
            dir.join("cut-off-server.log"),
            cut_off_vars,
            Some(netns.name.clone()),
        ),
    ];
    let client = fresh_connections();
    let cut_off = format!("http://{}:8000", netns.ns_ip);
    let host = format!("http://127.0.0.1:{host_port}");
    for base in [&host, &cut_off] {
        let mut up = false;
        for _ in 0..300 {
            if client.get(format!("{base}/health")).send().await.is_ok() {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(up, "{base} never answered; logs in {}", dir.display());
    }
    // It knows what it cannot reach.
    let ready = client.get(format!("{cut_off}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(
        (&body["database"], &body["redis"]),
        (&json!("ok"), &json!("down"))
    );
    // A token from the cut-off server works on the other, and writes are quick on it.
    let token = issue_tracker_testkit::api_token(&client, &cut_off, "ann").await;
    let mut slowest = Duration::ZERO;
    let mut ids = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        let response = client
            .post(format!("{cut_off}/api/issue/"))
            .header("Authorization", format!("Token {token}"))
            .json(
                &json!({"title": format!("from the cut-off server {i}"), "description": "d",
                "status": "open", "assigned_to": "bob"}),
            )
            .send()
            .await
            .unwrap();
        slowest = slowest.max(started.elapsed());
        assert_eq!(response.status(), 201);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap(),
        );
    }
    assert!(slowest < Duration::from_secs(1), "a write took {slowest:?}");
    let read = client
        .get(format!("{host}/api/issue/{}/", ids[0]))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    // Their emails go out through the worker and beat that reach Redis.
    let delivered = eventually(Duration::from_secs(30), || {
        smtp.received_by("bob@example.com").len() >= ids.len()
    })
    .await;
    assert!(
        delivered,
        "{} of {} emails; logs in {}",
        smtp.received_by("bob@example.com").len(),
        ids.len(),
        dir.display()
    );
    for process in &mut processes {
        assert!(process.running(), "{:?} stopped", process.role);
    }
    drop(processes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Webhooks across processes: a server writes the events (and their deliveries, in the same
/// transactions) through PgBouncer, two workers deliver them to a slow receiver, and each worker
/// is SIGKILLed mid-delivery and restarted. Every event reaches the receiver (at least once),
/// every delivery ends `succeeded`, and second copies carry the same `webhook-id` and are bounded
/// by what the killed workers held.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_survive_workers_killed_mid_delivery() {
    use issue_tracker_testkit::{WebhookReceiver, WebhookReply};
    let shape = Shape {
        servers: 1,
        workers: 2,
        beats: 1,
        report_seconds: 3600,
        server_connections: 4,
    };
    let mut cluster = Cluster::new(
        &shape,
        &[
            ("WEBHOOK_ALLOWED_HOSTS", "localhost"),
            ("WEBHOOK_TIMEOUT", "2"),
            ("WEBHOOK_RETRY_SCHEDULE", "0.5,0.5,0.5,0.5,0.5,0.5"),
            ("WEBHOOK_POLL_INTERVAL", "0.1"),
            ("WEBHOOK_CONCURRENCY", "16"),
        ],
    )
    .await;
    cluster.user("boss", true);
    cluster.user("ann", false);
    cluster.start_processes(&shape);
    cluster.wait_until_serving().await;
    let receiver =
        WebhookReceiver::start(|_, _| WebhookReply::After(Duration::from_millis(150), 200));
    let boss = cluster.token("boss").await;
    let client = reqwest::Client::new();
    let hook: Value = client
        .post(format!("{}/api/webhooks/", cluster.base))
        .header("Authorization", format!("Token {boss}"))
        .json(&json!({"url": receiver.url("localhost", "/hook"), "events": ["*"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook_id = hook["id"]
        .as_i64()
        .and_then(issue_tracker_domain::WebhookId::new)
        .expect("a webhook");
    let ann = cluster.token("ann").await;
    let load = drive(
        cluster.base.clone(),
        Arc::new(vec![("ann".to_owned(), ann.clone())]),
        400,
        200.0,
        8,
        Arc::new(AtomicUsize::new(0)),
    );
    let killer = async {
        let mut held = 0;
        for index in [0usize, 1] {
            tokio::time::sleep(Duration::from_millis(700)).await;
            held += cluster
                .db
                .db
                .count_deliveries()
                .unwrap()
                .iter()
                .filter(|(status, _)| status == "sending")
                .map(|(_, n)| *n)
                .sum::<i64>();
            cluster.workers[index].kill();
            tokio::time::sleep(Duration::from_millis(500)).await;
            cluster.workers[index].start();
        }
        held
    };
    let (load, held) = tokio::join!(load, killer);
    assert_eq!(
        load.acknowledged.len(),
        400,
        "{:?}",
        &load.unexpected[..load.unexpected.len().min(3)]
    );
    let db = &cluster.db.db;
    let done = eventually(Duration::from_secs(90), || {
        let counts = db.count_deliveries().unwrap();
        counts.iter().all(|(status, _)| status == "succeeded")
            && counts.iter().map(|(_, n)| n).sum::<i64>() >= 400
    })
    .await;
    assert!(
        done,
        "deliveries: {:?}; see {}",
        db.count_deliveries().unwrap(),
        cluster.dir.display()
    );
    let (log, total) = db
        .list_deliveries(hook_id, None, 0, 100_000)
        .unwrap()
        .unwrap();
    let expected: BTreeSet<String> = log.iter().map(|d| d.message_id.clone()).collect();
    assert_eq!(expected.len() as i64, total, "one delivery per event");
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for request in receiver.received() {
        *copies
            .entry(request.header("webhook-id").unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let received: BTreeSet<String> = copies.keys().cloned().collect();
    assert_eq!(
        received, expected,
        "every event delivered, and nothing else"
    );
    let extra: usize = copies.values().map(|n| n - 1).sum();
    assert!(
        extra as i64 <= held,
        "{extra} second copies, but the killed workers held at most {held}"
    );
    eprintln!(
        "webhooks under kills: {} events, {} delivered, {extra} second copies (workers held {held} when killed)",
        expected.len(),
        received.len()
    );
}
