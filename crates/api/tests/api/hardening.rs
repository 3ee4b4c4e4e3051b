//! The promises an outside audit broke, each attacked as the audit did: over HTTP against the
//! real server on a real database.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{spawn, spawn_with, Kind};

fn both() -> [Kind; 2] {
    [Kind::Postgres, Kind::Sqlite]
}

/// A raw HTTP/1.1 exchange: `head` (request line and headers, CRLF-terminated lines, no blank
/// line), then the first `first` bytes of the body, a pause, then the rest. Returns the status
/// and the whole response text.
fn slow_request(
    base: &str,
    head: &str,
    body: &[u8],
    first: usize,
    pause: Duration,
) -> (u16, String) {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(format!("{head}Content-Length: {}\r\n\r\n", body.len()).as_bytes())
        .unwrap();
    stream.write_all(&body[..first]).unwrap();
    std::thread::sleep(pause);
    // The server may have answered and closed already.
    let _ = stream.write_all(&body[first..]);
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                response.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&response);
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if rest.len() >= length {
                        break;
                    }
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// B7: ten concurrent wrong passwords for one user with a per-username limit of 3: at most 3
/// are hashed (400), the rest get 429 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failed_logins_cannot_pass_the_limit() {
    let app = spawn_with(
        Kind::Sqlite,
        &[("LOGIN_FAILURES_PER_USERNAME", "3"), ("BCRYPT_COST", "10")],
    )
    .await;
    app.create_user("alice", "right");
    // Spawned all at once (collected), not one after the other.
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/api/user/get_auth_token/"));
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"username": "alice", "password": "wrong"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [400, 400, 400, 429, 429, 429, 429, 429, 429, 429],
        "only the reserved slots may be hashed"
    );
}

/// B7: failures from one address do not lock the user out for others (per (username, address)
/// counting, with a much higher ceiling per username); a success gives its slot back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_lock_a_user_out() {
    // The test's own requests come from 127.0.0.1; a trusted proxy lets it speak for others.
    let app = spawn_with(
        Kind::Postgres,
        &[
            ("LOGIN_FAILURES_PER_USERNAME", "3"),
            ("LOGIN_FAILURES_PER_USERNAME_GLOBAL", "100"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    app.create_user("alice", "right");
    let login = |from: &'static str, password: &'static str| {
        let (client, url) = (app.client.clone(), app.url("/api/user/get_auth_token/"));
        async move {
            client
                .post(url)
                .header("X-Forwarded-For", from)
                .json(&json!({"username": "alice", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..3 {
        assert_eq!(login("203.0.113.9", "wrong").await, 400);
    }
    for _ in 0..20 {
        assert_eq!(login("203.0.113.9", "wrong").await, 429, "the attacker");
    }
    assert_eq!(login("198.51.100.7", "right").await, 200, "alice elsewhere");
    // Successes are free: alice logs in more often than the limit.
    for _ in 0..5 {
        assert_eq!(login("198.51.100.7", "right").await, 200);
    }
}

/// B8: a PATCH whose body is held back is judged when it arrives: after logout it is a 401, after
/// another write made its If-Match stale it is a 412; nothing is written either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_back_write_is_checked_again_when_its_body_arrives() {
    for kind in both() {
        let app = spawn(kind).await;
        let ann = app.user_with_token("ann").await;
        let issue = app.issue(&ann, "original", "ann").await;
        let id = issue["id"].as_i64().unwrap();
        let etag = app.fetch(&ann, id).await.header("etag").unwrap().to_owned();
        let body = br#"{"title": "written late"}"#;

        // Revoked while the body is on its way.
        let head = format!(
            "PATCH /api/issue/{id}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {ann}\r\nContent-Type: application/json\r\n"
        );
        let base = app.base.clone();
        let held = std::thread::spawn(move || {
            slow_request(&base, &head, body, 5, Duration::from_millis(1500))
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let logout = app
            .send("POST", "/api/user/logout/", Some(&ann), None)
            .await;
        assert_eq!(logout.status, 204);
        let (status, text) = held.join().unwrap();
        assert_eq!(status, 401, "{kind:?}: {text}");
        let ann2 = app.login("ann", "pw-ann").await;
        assert_eq!(
            app.fetch(&ann2, id).await.json()["title"],
            "original",
            "{kind:?}"
        );

        // If-Match gone stale while the body is on its way.
        let head = format!(
            "PATCH /api/issue/{id}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {ann2}\r\nContent-Type: application/json\r\nIf-Match: {etag}\r\n"
        );
        let base = app.base.clone();
        let held = std::thread::spawn(move || {
            slow_request(&base, &head, body, 5, Duration::from_millis(1500))
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let fresh = app
            .send(
                "PATCH",
                &format!("/api/issue/{id}/"),
                Some(&ann2),
                Some(json!({"title": "meanwhile"})),
            )
            .await;
        assert_eq!(fresh.status, 200);
        let (status, text) = held.join().unwrap();
        assert_eq!(status, 412, "{kind:?}: {text}");
        assert_eq!(
            app.fetch(&ann2, id).await.json()["title"],
            "meanwhile",
            "{kind:?}"
        );
    }
}

/// B9: a body declared and then stalled is answered 408 after REQUEST_BODY_TIMEOUT, not
/// accepted a minute and a half later; a request whose headers never end is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_and_headers_time_out() {
    let app = spawn_with(
        Kind::Sqlite,
        &[
            ("REQUEST_BODY_TIMEOUT", "1"),
            ("REQUEST_HEADER_TIMEOUT", "1"),
        ],
    )
    .await;
    let ann = app.user_with_token("ann").await;
    let body = br#"{"title": "t", "description": "d", "status": "open", "assigned_to": "ann"}"#;
    let head = format!(
        "POST /api/issue/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {ann}\r\nContent-Type: application/json\r\n"
    );
    let base = app.base.clone();
    let started = Instant::now();
    let (status, text) =
        std::thread::spawn(move || slow_request(&base, &head, body, 1, Duration::from_secs(4)))
            .join()
            .unwrap();
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("did not arrive within 1 seconds"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(6));
    let list = app.send("GET", "/api/issue/", Some(&ann), None).await;
    assert_eq!(list.json(), json!([]), "the stalled request wrote nothing");
    // Headers that never end: the connection is answered (408) or closed within the deadline.
    let address = app.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let closed = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127")
            .unwrap();
        let mut buffer = Vec::new();
        let _ = stream.read_to_end(&mut buffer);
        String::from_utf8_lossy(&buffer).into_owned()
    })
    .join()
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a stalled header held the connection for {:?}",
        started.elapsed()
    );
    assert!(closed.is_empty() || closed.contains("408"), "{closed}");
}

/// B10 and B16: no 5xx from any query string; long or out-of-range values are a 400 that says
/// the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_parameters_are_bounded() {
    for kind in both() {
        let app = spawn(kind).await;
        let ann = app.user_with_token("ann").await;
        let long = "a".repeat(20_000);
        app.send(
            "POST",
            "/api/issue/",
            Some(&ann),
            Some(
                json!({"title": "t", "description": long, "status": "open", "assigned_to": "ann"}),
            ),
        )
        .await;
        let at_limit = "a".repeat(200);
        let reply = app
            .send(
                "GET",
                &format!("/api/issue/?q={at_limit}"),
                Some(&ann),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{kind:?}");
        for q in [
            "a".repeat(201),
            "a".repeat(50_001),
            format!("{}b", "a".repeat(10_000)),
        ] {
            let reply = app
                .send("GET", &format!("/api/issue/?q={q}"), Some(&ann), None)
                .await;
            assert_eq!(reply.status, 400, "{kind:?}: {}", reply.text);
            assert_eq!(
                reply.json(),
                json!({"q": ["Ensure this value has at most 200 characters."]})
            );
        }
        for (parameter, value) in [
            ("assigned_to", "u".repeat(5_000)),
            ("ordering", "x,".repeat(5_000)),
            ("status", "s".repeat(5_000)),
        ] {
            let reply = app
                .send(
                    "GET",
                    &format!("/api/issue/?{parameter}={value}"),
                    Some(&ann),
                    None,
                )
                .await;
            assert_eq!(reply.status, 400, "{kind:?} {parameter}");
            assert!(reply.text.len() < 200, "{kind:?}: echoes the value back");
        }
        for since in [
            "9999-12-31T23:59:59-00:01",
            "0001-01-01T00:00:00%2B00:01",
            "+10000-01-01T00:00:00Z",
        ] {
            let reply = app
                .send(
                    "GET",
                    &format!("/api/issue/?updated_since={since}"),
                    Some(&ann),
                    None,
                )
                .await;
            assert_eq!(reply.status, 400, "{kind:?} {since}: {}", reply.text);
            assert!(reply.json()["updated_since"].is_array());
        }
        let reply = app
            .send(
                "GET",
                "/api/issue/?updated_since=9999-12-31T23:59:59Z",
                Some(&ann),
                None,
            )
            .await;
        assert_eq!(reply.json(), json!([]), "{kind:?}");
    }
}

/// B13: random tokens do not escape the per-address limit: failed authentications count
/// against the address, and past its limit even a new random token gets 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_tokens_count_against_the_address() {
    let app = spawn_with(Kind::Sqlite, &[("RATE_LIMIT_PER_ADDRESS", "5")]).await;
    // The limits count in fixed minutes: start well inside one.
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second >= 55 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
    let mut statuses = Vec::new();
    for n in 0..12 {
        let token = format!("{n:040x}");
        statuses.push(
            app.send("GET", "/api/issue/", Some(&token), None)
                .await
                .status,
        );
    }
    assert_eq!(&statuses[..5], [401; 5], "{statuses:?}");
    assert!(
        statuses[6..].iter().all(|&s| s == 429),
        "random tokens escaped the address limit: {statuses:?}"
    );
}

/// B14: invented methods and unmatched paths collapse into one label each in /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_create_no_metric_series() {
    let app = spawn(Kind::Sqlite).await;
    for n in 0..5 {
        app.raw(&format!("AUDITX{n}"), "/health", &[], Vec::new())
            .await;
        app.raw("GET", &format!("/nothing/{n}"), &[], Vec::new())
            .await;
    }
    let metrics = app.send("GET", "/metrics", None, None).await.text;
    assert!(!metrics.contains("AUDITX"), "{metrics}");
    assert!(!metrics.contains("/nothing/"), "{metrics}");
    assert!(
        metrics.contains(r#"method="OTHER""#),
        "invented methods are counted as OTHER"
    );
}

/// B15: `Host` is parsed strictly; forwarding headers are believed only from trusted proxies;
/// `PUBLIC_URL` makes the links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_cannot_be_pointed_elsewhere() {
    let app = spawn_with(Kind::Sqlite, &[("ALLOWED_HOSTS", "*")]).await;
    let ann = app.user_with_token("ann").await;
    for n in 0..3 {
        app.issue(&ann, &format!("i{n}"), "ann").await;
    }
    let auth = format!("Token {ann}");
    for host in [
        "localhost:1@evil.example",
        "evil.example/x",
        "a b",
        "localhost:x",
    ] {
        let reply = app
            .raw(
                "GET",
                "/api/issue/?per_page=1",
                &[("Host", host), ("Authorization", &auth)],
                Vec::new(),
            )
            .await;
        assert_eq!(reply.status, 400, "{host}: {}", reply.text);
        assert_eq!(reply.json(), json!({"detail": "Invalid host header."}));
    }
    let reply = app
        .raw(
            "GET",
            "/api/issue/?per_page=1",
            &[
                ("Authorization", &auth),
                ("X-Forwarded-Host", "evil.example"),
                ("X-Forwarded-Proto", "https"),
                ("Forwarded", "host=evil.example;proto=https"),
            ],
            Vec::new(),
        )
        .await;
    let link = reply.header("link").unwrap();
    assert!(!link.contains("evil"), "{link}");
    assert!(link.starts_with("<http://127.0.0.1:"), "{link}");

    let trusted = spawn_with(Kind::Sqlite, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let token = trusted.user_with_token("ann").await;
    for n in 0..2 {
        trusted.issue(&token, &format!("i{n}"), "ann").await;
    }
    let reply = trusted
        .raw(
            "GET",
            "/api/issue/?per_page=1",
            &[
                ("Authorization", &format!("Token {token}")),
                ("X-Forwarded-Host", "issues.example.com"),
                ("X-Forwarded-Proto", "https"),
            ],
            Vec::new(),
        )
        .await;
    let link = reply.header("link").unwrap();
    assert!(
        link.starts_with("<https://issues.example.com/api/issue/?"),
        "{link}"
    );

    let public = spawn_with(
        Kind::Sqlite,
        &[("PUBLIC_URL", "https://tracker.example.org/")],
    )
    .await;
    let token = public.user_with_token("ann").await;
    for n in 0..2 {
        public.issue(&token, &format!("i{n}"), "ann").await;
    }
    let reply = public
        .raw(
            "GET",
            "/api/issue/?per_page=1&status=open",
            &[("Authorization", &format!("Token {token}"))],
            Vec::new(),
        )
        .await;
    let link = reply.header("link").unwrap();
    assert!(
        link.starts_with("<https://tracker.example.org/api/issue/?status=open&per_page=1&page=1>"),
        "{link}"
    );
}

/// B18: the extremes each numeric setting allows keep the service working (no panic from a
/// request): the longest token lifetime, CORS for any origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_at_their_extremes_keep_working() {
    let app = spawn_with(
        Kind::Sqlite,
        &[
            ("TOKEN_TTL", "315360000"),
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("LIST_CAP", "100000"),
            ("MAX_BODY_BYTES", "1073741824"),
            ("RATE_LIMIT_PER_TOKEN", "1000000000"),
            ("ASSIGN_REPORT_SCHEDULE", "5256000"),
        ],
    )
    .await;
    let ann = app.user_with_token("ann").await;
    app.issue(&ann, "far future", "ann").await;
    let reply = app
        .raw(
            "GET",
            "/api/issue/",
            &[
                ("Authorization", &format!("Token {ann}")),
                ("Origin", "https://anywhere.example"),
            ],
            Vec::new(),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://anywhere.example")
    );
    let tokens: Value = app
        .send("GET", "/api/user/tokens/", Some(&ann), None)
        .await
        .json();
    assert!(tokens[0]["expires_at"].as_str().unwrap().starts_with("20"));
}

/// B12: an unpaged list never answers more than MAX_LIST_BYTES (8 MiB): past it, the list stops
/// at the last whole issue and links to the rest, in pages of what fitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaged_list_is_bounded_in_bytes() {
    for kind in both() {
        let app = spawn(kind).await;
        let ann = app.user_with_token("ann").await;
        let description = "d".repeat(60_000);
        for n in 0..160 {
            let reply = app
                .send(
                    "POST",
                    "/api/issue/",
                    Some(&ann),
                    Some(json!({"title": format!("big {n}"), "description": description, "status": "open", "assigned_to": "ann"})),
                )
                .await;
            assert_eq!(reply.status, 201);
        }
        let reply = app.send("GET", "/api/issue/", Some(&ann), None).await;
        assert_eq!(reply.status, 200);
        assert!(reply.text.len() <= 8 * 1024 * 1024, "{}", reply.text.len());
        let issues = reply.json();
        let returned = issues.as_array().unwrap().len();
        // 139 would fit in 8 MiB; whole pages of at most 100 are answered.
        assert_eq!(returned, 100, "{kind:?}");
        assert_eq!(reply.header("x-total-count"), Some("160"));
        let link = reply.header("link").expect("links to the rest");
        assert!(
            link.contains(&format!("per_page={returned}&page=2>; rel=\"next\"")),
            "{kind:?}: {link}"
        );
        // The next page carries on where the list stopped.
        let next = app
            .send("GET", "/api/issue/?per_page=100&page=2", Some(&ann), None)
            .await;
        assert_eq!(next.status, 200);
        assert_eq!(next.json().as_array().unwrap().len(), 60);
        assert_eq!(next.json()[0]["title"], "big 100");
    }
}

/// B8's sibling: a staff member's `POST /api/user/` whose body is held back while the token is
/// revoked creates nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_back_user_creation_is_checked_again() {
    let app = spawn(Kind::Sqlite).await;
    app.create_user_full("root", "pw-root", "root@example.com", true);
    let root = app.login("root", "pw-root").await;
    let body = br#"{"username": "late", "password": "secret pass"}"#;
    let head = format!(
        "POST /api/user/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {root}\r\nContent-Type: application/json\r\n"
    );
    let base = app.base.clone();
    let held = std::thread::spawn(move || {
        slow_request(&base, &head, body, 5, Duration::from_millis(1500))
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logout = app
        .send("POST", "/api/user/logout/", Some(&root), None)
        .await;
    assert_eq!(logout.status, 204);
    let (status, text) = held.join().unwrap();
    assert_eq!(status, 401, "{text}");
    assert!(
        app.db.find_user("late").unwrap().is_none(),
        "the user was created"
    );
}
