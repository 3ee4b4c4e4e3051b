//! PgBouncer in transaction mode: the notification path and concurrent migrations through it.

use super::*;

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
