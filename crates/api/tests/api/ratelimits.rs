//! Request rate limits: headers on every response, 429 past the limit, per token or address,
//! shared through Redis between server processes.

use serde_json::json;

use crate::common::{spawn_with, Kind};

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Token {token}"));
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_per_token_and_per_address_with_headers() {
    let app = spawn_with(
        Kind::Sqlite,
        &[
            ("RATE_LIMIT_PER_TOKEN", "5"),
            ("RATE_LIMIT_PER_ADDRESS", "200"),
        ],
    )
    .await;
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let url = app.url("/api/issue/");
    for expected in (0..5).rev() {
        let reply = get(&app.client, &url, Some(&ann)).await;
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.headers()["x-ratelimit-limit"], "5");
        assert_eq!(
            reply.headers()["x-ratelimit-remaining"],
            expected.to_string().as_str()
        );
        let reset: u64 = reply.headers()["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(reset > now && reset <= now + 60);
    }
    let reply = get(&app.client, &url, Some(&ann)).await;
    assert_eq!(reply.status(), 429);
    let wait: u64 = reply.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(reply.headers()["x-ratelimit-remaining"], "0");
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(
        body,
        json!({"detail": format!("Request was throttled. Expected available in {wait} seconds.")})
    );
    // Another token is counted apart; anonymous requests count against the address.
    assert_eq!(get(&app.client, &url, Some(&bob)).await.status(), 200);
    let anonymous = get(&app.client, &app.url("/health"), None).await;
    assert_eq!(anonymous.headers()["x-ratelimit-limit"], "200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_shared_between_servers_through_redis() {
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let extra = [("RATE_LIMIT_PER_TOKEN", "6"), ("REDIS_URL", redis.as_str())];
    let app = spawn_with(Kind::Postgres, &extra).await;
    let other = app.another_server(&extra);
    // Wait until the second server is up.
    for _ in 0..100 {
        if app
            .client
            .get(format!("{other}/health"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ann = app.user_with_token("ann").await;
    for i in 0..6 {
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            other.clone()
        };
        assert_eq!(
            get(&app.client, &format!("{base}/api/issue/"), Some(&ann))
                .await
                .status(),
            200,
            "request {i}"
        );
    }
    // The seventh, on either server, is over the shared limit.
    assert_eq!(
        get(&app.client, &format!("{other}/api/issue/"), Some(&ann))
            .await
            .status(),
        429
    );
    assert_eq!(
        get(&app.client, &app.url("/api/issue/"), Some(&ann))
            .await
            .status(),
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_never_fails_a_request() {
    let app = spawn_with(Kind::Sqlite, &[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let ann = app.user_with_token("ann").await;
    let reply = get(&app.client, &app.url("/api/issue/"), Some(&ann)).await;
    assert_eq!(reply.status(), 200);
    assert!(reply.headers().contains_key("x-ratelimit-remaining"));
}

/// The rate limiter reads `Authorization` with the handlers' own parser: what the handlers take
/// for a token (any case of `Token` or `Bearer`) is charged to the token, anything else (`Basic`,
/// a bare word, three words) to the client address. It used to take the second word of any
/// header as a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limiter_and_the_handlers_read_authorization_alike() {
    let app = spawn_with(
        Kind::Sqlite,
        &[
            ("RATE_LIMIT_PER_TOKEN", "1000"),
            ("RATE_LIMIT_PER_ADDRESS", "200"),
        ],
    )
    .await;
    let ann = app.user_with_token("ann").await;
    let url = app.url("/api/issue/");
    for (header, limit) in [
        (format!("Token {ann}"), "1000"),
        (format!("tOKEN {ann}"), "1000"),
        (format!("Bearer {ann}"), "1000"),
        ("Basic YW5uOnNlY3JldA==".to_owned(), "200"),
        ("Digest abc".to_owned(), "200"),
        (format!("Token {ann} extra"), "200"),
        (ann.clone(), "200"),
    ] {
        let reply = app
            .client
            .get(&url)
            .header("Authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(
            reply.headers()["x-ratelimit-limit"],
            limit,
            "Authorization: {header}"
        );
    }
}

/// Redis stops answering (packets go nowhere, as in a network partition) while failed logins are
/// counted there: no login waits on it for more than a moment, the right password still works,
/// and failed logins are still limited, by this process alone, until Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_stay_limited_and_logins_quick_while_redis_hangs() {
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let (proxy, proxied) = issue_tracker_testkit::FaultProxy::in_front_of(&redis).await;
    let app = spawn_with(
        Kind::Sqlite,
        &[
            ("REDIS_URL", proxied.as_str()),
            ("LOGIN_FAILURES_PER_USERNAME", "3"),
        ],
    )
    .await;
    let name = format!("u{}", uuid::Uuid::new_v4().simple());
    app.create_user(&name, "right-password");
    let login = |password: &'static str| {
        let (app, name) = (&app, name.clone());
        async move {
            let started = std::time::Instant::now();
            let reply = app
                .send(
                    "POST",
                    "/api/user/get_auth_token/",
                    None,
                    Some(json!({"username": name, "password": password})),
                )
                .await;
            (reply.status, started.elapsed())
        }
    };
    assert_eq!(login("right-password").await.0, 200);
    proxy.set(issue_tracker_testkit::Fault::Pause);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, took) = login("wrong").await;
        assert!(
            took < std::time::Duration::from_secs(2),
            "a login waited {took:?} on a hung Redis"
        );
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [400, 400, 400, 429, 429],
        "still limited while Redis hangs"
    );
    let (status, took) = login("right-password").await;
    assert!(took < std::time::Duration::from_secs(2));
    assert_eq!(status, 429, "the (username, address) pair is at its limit");
    proxy.set(issue_tracker_testkit::Fault::Pass);
}
