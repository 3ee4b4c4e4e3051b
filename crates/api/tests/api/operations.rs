//! `/health`, `/ready`, `/metrics`, CORS and request ids.

use serde_json::json;

use crate::common::{spawn, spawn_with, Kind, TestApp};
use issue_tracker_testkit::both_databases;

async fn health_ready_and_metrics(app: TestApp) {
    let reply = app.send("GET", "/health", None, None).await;
    assert_eq!((reply.status, reply.json()), (200, json!({"status": "ok"})));
    let reply = app.send("GET", "/ready", None, None).await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"status": "ok", "database": "ok"}))
    );
    let ann = app.user_with_token("ann").await;
    let issue = app.issue(&ann, "one", "ann").await;
    app.fetch(&ann, issue["id"].as_i64().unwrap()).await;
    app.send("GET", "/api/issue/", None, None).await;
    let reply = app.send("GET", "/metrics", None, None).await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = reply.text;
    for needle in [
        r#"http_requests_total{method="POST",route="/api/issue/",status="201"} 1"#,
        r#"http_requests_total{method="GET",route="/api/issue/{id}/",status="200"} 1"#,
        r#"http_requests_total{method="GET",route="/api/issue/",status="401"} 1"#,
        "http_request_duration_seconds_bucket",
        r#"db_pool_connections{state="max"} 4"#,
        r#"notifications{status="pending"} 1"#,
        r#"notifications{status="dead"} 0"#,
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    health_ready_and_metrics);

async fn readiness_names_what_is_down(kind: Kind) {
    let app = spawn_with(kind, &[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let reply = app.send("GET", "/ready", None, None).await;
    assert_eq!(
        (reply.status, reply.json()),
        (
            503,
            json!({"status": "unavailable", "database": "ok", "redis": "down"})
        )
    );
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let app = spawn_with(kind, &[("REDIS_URL", redis.as_str())]).await;
    let reply = app.send("GET", "/ready", None, None).await;
    assert_eq!(
        (reply.status, reply.json()),
        (
            200,
            json!({"status": "ok", "database": "ok", "redis": "ok"})
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_what_is_down_postgres() {
    readiness_names_what_is_down(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_what_is_down_sqlite() {
    readiness_names_what_is_down(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_listed_origins_and_exposes_the_headers() {
    let app = spawn_with(
        Kind::Sqlite,
        &[("CORS_ALLOWED_ORIGINS", "https://app.example.com")],
    )
    .await;
    let ann = app.user_with_token("ann").await;
    let preflight = app
        .raw(
            "OPTIONS",
            "/api/issue/",
            &[
                ("Origin", "https://app.example.com"),
                ("Access-Control-Request-Method", "PATCH"),
                ("Access-Control-Request-Headers", "authorization, if-match"),
            ],
            vec![],
        )
        .await;
    assert_eq!(preflight.status, 200, "{}", preflight.text);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let reply = app
        .raw(
            "GET",
            "/api/issue/?per_page=1",
            &[
                ("Origin", "https://app.example.com"),
                ("Authorization", &format!("Token {ann}")),
            ],
            vec![],
        )
        .await;
    assert_eq!(reply.status, 200);
    let exposed = reply
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "link",
        "x-total-count",
        "etag",
        "x-ratelimit-remaining",
        "x-request-id",
    ] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    let refused = app
        .raw(
            "OPTIONS",
            "/api/issue/",
            &[
                ("Origin", "https://evil.example"),
                ("Access-Control-Request-Method", "GET"),
            ],
            vec![],
        )
        .await;
    assert_ne!(
        refused.header("access-control-allow-origin"),
        Some("https://evil.example")
    );
    // Without CORS configured, no CORS headers at all.
    let plain = spawn_with(Kind::Sqlite, &[]).await;
    let reply = plain
        .raw(
            "GET",
            "/health",
            &[("Origin", "https://app.example.com")],
            vec![],
        )
        .await;
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

/// When PostgreSQL drops every connection (a restart, a failover, a proxy killing idle
/// connections), the pool finds out: connections are handed out untested only while in constant
/// use (given back under 500 ms ago, nothing failed since), so a request fails at most once per
/// pooled connection, with 503 and `Retry-After` (never 500), and the next ones succeed. After a
/// pause longer than that, every connection is tested first and nothing fails. Two rounds of
/// each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_database_connections_fail_few_requests_and_none_after_a_pause() {
    let app = spawn(Kind::Postgres).await;
    let token = app.user_with_token("ann").await;
    let id = app.issue(&token, "survives", "ann").await["id"]
        .as_i64()
        .unwrap();
    for (round, pause) in [(0, false), (1, true), (2, false), (3, true)] {
        for _ in 0..5 {
            assert_eq!(app.fetch(&token, id).await.status, 200, "round {round}");
        }
        app.close_database_connections();
        if pause {
            tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        }
        let mut statuses = Vec::new();
        for _ in 0..12 {
            let reply = app.fetch(&token, id).await;
            if reply.status == 503 {
                assert_eq!(reply.header("retry-after"), Some("5"));
                assert_eq!(
                    reply.json(),
                    json!({"detail": "Service temporarily unavailable, try again later."})
                );
            }
            statuses.push(reply.status);
        }
        let failed = statuses.iter().filter(|s| **s != 200).count();
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 503),
            "round {round}: {statuses:?}"
        );
        // The pool of the test server holds 4 connections.
        let most = if pause { 0 } else { 4 };
        assert!(failed <= most, "round {round}: {statuses:?}");
        assert!(
            statuses[8..].iter().all(|s| *s == 200),
            "round {round}: {statuses:?}"
        );
    }
    // Writes too: one after the connections were dropped either fails cleanly or is stored.
    app.close_database_connections();
    let reply = app
        .send(
            "POST",
            "/api/issue/",
            Some(&token),
            Some(json!({"title": "after", "description": "d", "status": "open", "assigned_to": "ann"})),
        )
        .await;
    assert!(matches!(reply.status, 201 | 503), "{}", reply.text);
    // Other dropped connections may still cost a request each.
    let mut all = app
        .send("GET", "/api/issue/?per_page=100", Some(&token), None)
        .await;
    for _ in 0..4 {
        if all.status != 503 {
            break;
        }
        all = app
            .send("GET", "/api/issue/?per_page=100", Some(&token), None)
            .await;
    }
    assert_eq!(all.status, 200, "{}", all.text);
    let stored = all
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .filter(|issue| issue["title"] == "after")
        .count();
    assert_eq!(stored, usize::from(reply.status == 201), "{}", all.text);
}
