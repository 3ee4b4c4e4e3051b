//! SQLite: a create waiting for the database's write lock holds no server thread. Another process
//! (an admin's CLI, a backup) holds the lock for a while; the creates queue for the writer thread's
//! next group commit, and meanwhile the server goes on answering reads, which need a blocking
//! thread. Before creates were queued, each waited on one of the blocking threads (as many as
//! pooled connections), and a few stalled writes starved every other request.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use serde_json::json;

use crate::common::{spawn, Kind};

/// More creates than the server has blocking threads (four: `DATABASE_POOL_SIZE` 4, one worker).
const CREATES: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_on_while_creates_wait_for_the_write_lock() {
    let app = spawn(Kind::Sqlite).await;
    let token = app.user_with_token("ann").await;
    app.create_user("bob", "pw-bob");
    // The token's first use is recorded (a write): done now, before the lock is taken.
    assert_eq!(
        app.send("GET", "/api/issue/", Some(&token), None)
            .await
            .status,
        200
    );

    let mut other = SqliteConnection::establish(app.database_url()).expect("open the file");
    other
        .batch_execute("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let held = Instant::now();

    let creates = futures_util::future::join_all((0..CREATES).map(|i| {
        app.send(
            "POST",
            "/api/issue/",
            Some(&token),
            Some(
                json!({"title": format!("Stalled {i}"), "description": "d", "status": "open",
                        "assigned_to": "bob"}),
            ),
        )
    }));
    let reads = async {
        // By now every create has reached the writer thread, which waits for the lock.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let listed = tokio::time::timeout(
            Duration::from_secs(3),
            app.send("GET", "/api/issue/?status=open", Some(&token), None),
        )
        .await;
        let read_after = held.elapsed();
        other.batch_execute("ROLLBACK").expect("release the lock");
        (listed, read_after)
    };
    let (created, (listed, read_after)) = tokio::join!(creates, reads);

    let listed = listed.expect("a list answered while creates waited for the lock");
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(
        listed.json().as_array().map(Vec::len),
        Some(0),
        "nothing committed yet"
    );
    assert!(
        read_after < Duration::from_secs(5),
        "the lock was held {read_after:?}: less than the busy timeout, so the creates can succeed"
    );
    for reply in &created {
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    let all = app
        .send("GET", "/api/issue/?per_page=100", Some(&token), None)
        .await;
    assert_eq!(
        all.json().as_array().map(Vec::len),
        Some(CREATES),
        "every create, once"
    );
}
