//! A server that cannot reach Redis, on a host of its own.

use super::*;

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
