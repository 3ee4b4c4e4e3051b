use serde_json::json;

use crate::common::{spawn_with, Kind, TestApp};
use issue_tracker_testkit::both_databases;

const INVALID: &str = r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#;

async fn login_issues_a_new_hex_token_each_time(app: TestApp) {
    app.create_user("ann", "secret");
    let first = app.login("ann", "secret").await;
    let second = app.login("ann", "secret").await;
    for token in [&first, &second] {
        assert_eq!(token.len(), 40);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }
    assert_ne!(first, second);
    // Both work: a new login does not revoke the earlier token.
    for token in [&first, &second] {
        assert_eq!(
            app.send("GET", "/api/issue/", Some(token), None)
                .await
                .status,
            200
        );
    }
}

async fn login_failures_look_the_same(app: TestApp) {
    app.create_user("ann", "secret");
    app.create_user("gone", "secret");
    app.db
        .set_active(
            "gone",
            false,
            &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
        )
        .unwrap();
    for (username, password) in [
        ("ann", "wrong"),
        ("nobody", "secret"),
        ("gone", "secret"),
        ("ANN", "secret"),
    ] {
        let reply = app
            .send(
                "POST",
                "/api/user/get_auth_token/",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(reply.status, 400, "{username}");
        assert_eq!(reply.text, INVALID, "{username}");
    }
}

async fn login_field_errors(app: TestApp) {
    let reply = app
        .send("POST", "/api/user/get_auth_token/", None, Some(json!({})))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({"username": ["This field is required."], "password": ["This field is required."]})
    );
    let reply = app
        .send(
            "POST",
            "/api/user/get_auth_token/",
            None,
            Some(json!({"username": "  ", "password": ""})),
        )
        .await;
    assert_eq!(
        reply.json(),
        json!({"username": ["This field may not be blank."], "password": ["This field may not be blank."]})
    );
    let reply = app
        .send(
            "POST",
            "/api/user/get_auth_token/",
            None,
            Some(json!({"username": "ann"})),
        )
        .await;
    assert_eq!(
        reply.json(),
        json!({"password": ["This field is required."]})
    );
    let reply = app
        .raw(
            "POST",
            "/api/user/get_auth_token/",
            &[("Content-Type", "application/json")],
            b"{\"username\":".to_vec(),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - "),
        "{}",
        reply.text
    );
    let reply = app
        .send("GET", "/api/user/get_auth_token/", None, None)
        .await;
    assert_eq!(reply.status, 405);
    assert_eq!(
        reply.json(),
        json!({"detail": "Method \"GET\" not allowed."})
    );
    assert_eq!(reply.header("allow"), Some("POST, OPTIONS"));
}

async fn login_trims_username_not_password_and_takes_forms(app: TestApp) {
    app.create_user("ann", " spaced ");
    let reply = app
        .raw(
            "POST",
            "/api/user/get_auth_token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"username=+ann+&password=+spaced+".to_vec(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = app
        .send(
            "POST",
            "/api/user/get_auth_token/",
            None,
            Some(json!({"username": "ann", "password": "spaced"})),
        )
        .await;
    assert_eq!(reply.text, INVALID);
}

async fn stale_authorization_header_is_ignored_at_login(app: TestApp) {
    app.create_user("ann", "secret");
    let reply = app
        .client
        .post(app.url("/api/user/get_auth_token/"))
        .header(
            "Authorization",
            "Token 0000000000000000000000000000000000000000",
        )
        .json(&json!({"username": "ann", "password": "secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
}

async fn authorization_header_errors(app: TestApp) {
    let token = app.user_with_token("ann").await;
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "Authentication credentials were not provided."),
        (
            Some(format!("Basic {token}")),
            "Authentication credentials were not provided.",
        ),
        (
            Some("Token".into()),
            "Invalid token header. No credentials provided.",
        ),
        (
            Some("Token a b".into()),
            "Invalid token header. Token string should not contain spaces.",
        ),
        (Some(format!("Token {}", "ab".repeat(20))), "Invalid token."),
        (
            Some(format!("Token {}", token.to_uppercase())),
            "Invalid token.",
        ),
    ];
    for (header, detail) in cases {
        let mut request = app.client.get(app.url("/api/issue/"));
        if let Some(header) = &header {
            request = request.header("Authorization", header);
        }
        let reply = request.send().await.unwrap();
        assert_eq!(reply.status(), 401, "{header:?}");
        assert_eq!(reply.headers()["www-authenticate"], "Token", "{header:?}");
        let body: serde_json::Value = reply.json().await.unwrap();
        assert_eq!(body, json!({"detail": detail}), "{header:?}");
    }
    for keyword in ["token", "TOKEN", "Bearer"] {
        let reply = app
            .client
            .get(app.url("/api/issue/"))
            .header("Authorization", format!("{keyword} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{keyword}");
    }
}

fn deactivate(app: &TestApp, username: &str) {
    app.db
        .set_active(
            username,
            false,
            &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
        )
        .unwrap();
}

async fn inactive_users_tokens_stop_working(app: TestApp) {
    let token = app.user_with_token("ann").await;
    deactivate(&app, "ann");
    let reply = app.send("GET", "/api/issue/", Some(&token), None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some("Token"));
    assert_eq!(reply.json(), json!({"detail": "User inactive or deleted."}));
}

async fn revoking_one_token_leaves_the_others(app: TestApp) {
    let first = app.user_with_token("ann").await;
    let second = app.login("ann", "pw-ann").await;
    let reply = app
        .send("POST", "/api/user/logout/", Some(&first), None)
        .await;
    assert_eq!(reply.status, 204);
    let reply = app.send("GET", "/api/issue/", Some(&first), None).await;
    assert_eq!(
        (reply.status, reply.json()),
        (401, json!({"detail": "Invalid token."}))
    );
    assert_eq!(
        app.send("GET", "/api/issue/", Some(&second), None)
            .await
            .status,
        200
    );
}

async fn long_passwords_never_match(app: TestApp) {
    let stored = "p".repeat(72);
    app.create_user("ann", &stored);
    assert_eq!(app.login("ann", &stored).await.len(), 40);
    let longer = format!("{stored}extra");
    let reply = app
        .send(
            "POST",
            "/api/user/get_auth_token/",
            None,
            Some(json!({"username": "ann", "password": longer})),
        )
        .await;
    assert_eq!(reply.text, INVALID);
    let reply = app
        .send(
            "POST",
            "/api/user/get_auth_token/",
            None,
            Some(json!({"username": "ann", "password": "a\u{0}b"})),
        )
        .await;
    assert_eq!(
        reply.json(),
        json!({"password": ["Null characters are not allowed."]})
    );
}

/// `GET` one issue reads in place on SQLite (see `Credentials::read`): the token is checked as
/// on every other route, and its use is still recorded, after the read.
async fn reading_one_issue_checks_the_token_and_records_its_use(app: TestApp) {
    let reader = app.user_with_token("ann").await;
    let lister = app.login("ann", "pw-ann").await;
    let id = app.issue(&lister, "read me", "ann").await["id"]
        .as_i64()
        .unwrap();
    let last_used = |tokens: serde_json::Value| {
        tokens
            .as_array()
            .unwrap()
            .iter()
            .find(|token| token["prefix"] == reader[..8])
            .map(|token| token["last_used_at"].clone())
            .expect("the reader's token is listed")
    };
    let tokens = app
        .send("GET", "/api/user/tokens/", Some(&lister), None)
        .await;
    assert_eq!(last_used(tokens.json()), serde_json::Value::Null);
    let path = format!("/api/issue/{id}/");
    let reply = app.send("GET", &path, Some(&reader), None).await;
    assert_eq!(
        (reply.status, &reply.json()["title"]),
        (200, &json!("read me"))
    );
    let tokens = app
        .send("GET", "/api/user/tokens/", Some(&lister), None)
        .await;
    assert!(
        last_used(tokens.json()).is_string(),
        "the read recorded the token's use: {}",
        tokens.text
    );
    let reply = app.send("GET", &path, Some(&"f".repeat(40)), None).await;
    assert_eq!(
        (reply.status, reply.json()),
        (401, json!({"detail": "Invalid token."}))
    );
    deactivate(&app, "ann");
    let reply = app.send("GET", &path, Some(&reader), None).await;
    assert_eq!(
        (reply.status, reply.json()),
        (401, json!({"detail": "User inactive or deleted."}))
    );
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    reading_one_issue_checks_the_token_and_records_its_use,
    login_issues_a_new_hex_token_each_time,
    login_failures_look_the_same,
    login_field_errors,
    login_trims_username_not_password_and_takes_forms,
    stale_authorization_header_is_ignored_at_login,
    authorization_header_errors,
    inactive_users_tokens_stop_working,
    revoking_one_token_leaves_the_others,
    long_passwords_never_match,
);

async fn expired_tokens_are_refused(kind: Kind) {
    let app = spawn_with(kind, &[("TOKEN_TTL", "1")]).await;
    let token = app.user_with_token("ann").await;
    assert_eq!(
        app.send("GET", "/api/issue/", Some(&token), None)
            .await
            .status,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let reply = app.send("GET", "/api/issue/", Some(&token), None).await;
    assert_eq!(
        (reply.status, reply.json()),
        (401, json!({"detail": "Invalid token."}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused_postgres() {
    expired_tokens_are_refused(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused_sqlite() {
    expired_tokens_are_refused(Kind::Sqlite).await;
}

async fn unknown_hosts_are_refused(app: TestApp) {
    let token = app.user_with_token("ann").await;
    for host in ["evil.example", "localhost.evil", "127.0.0.2:8000"] {
        let reply = app
            .raw(
                "GET",
                "/api/issue/",
                &[("Host", host), ("Authorization", &format!("Token {token}"))],
                vec![],
            )
            .await;
        assert_eq!(
            (reply.status, reply.json()),
            (400, json!({"detail": "Invalid host header."})),
            "{host}"
        );
    }
    for host in ["localhost:8000", "LOCALHOST", "127.0.0.1"] {
        let reply = app
            .raw(
                "GET",
                "/api/issue/",
                &[("Host", host), ("Authorization", &format!("Token {token}"))],
                vec![],
            )
            .await;
        assert_eq!(reply.status, 200, "{host}");
    }
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    unknown_hosts_are_refused);

async fn failed_logins_are_throttled(kind: Kind) {
    let app = spawn_with(
        kind,
        &[
            ("LOGIN_FAILURES_PER_USERNAME", "3"),
            ("LOGIN_FAILURES_PER_ADDRESS", "6"),
        ],
    )
    .await;
    app.create_user("ann", "secret");
    app.create_user("bob", "secret");
    // Successful logins are never counted.
    for _ in 0..8 {
        app.login("bob", "secret").await;
    }
    let attempt = |username: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.send(
                "POST",
                "/api/user/get_auth_token/",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt("ann", "wrong").await.status, 400);
    }
    // ann is locked for this window, even with the right password; bob is not.
    let reply = attempt("ann", "secret").await;
    assert_eq!(reply.status, 429);
    let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(
        reply.json(),
        json!({"detail": format!("Request was throttled. Expected available in {wait} seconds.")})
    );
    assert_eq!(attempt("bob", "secret").await.status, 200);
    // Three more failures from this address (other names) reach its limit of 6.
    for name in ["x1", "x2", "x3"] {
        assert_eq!(attempt(name, "wrong").await.status, 400);
    }
    assert_eq!(attempt("bob", "secret").await.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_postgres() {
    failed_logins_are_throttled(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_sqlite() {
    failed_logins_are_throttled(Kind::Sqlite).await;
}
