//! Webhook endpoints over HTTP on both databases: staff only, bad input that changes nothing,
//! the secret shown at creation and rotation only, pings, the delivery log written in the
//! events' transactions (with the events' ids), redelivery. Delivery itself is tested in the
//! webhooks crate and, across processes, in the server's tests.

use serde_json::{json, Value};

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

async fn staff(app: &TestApp) -> String {
    app.create_user_full("boss", "pw-boss", "", true);
    app.login("boss", "pw-boss").await
}

async fn webhooks_are_managed_by_staff(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let boss = staff(&app).await;
    let body = json!({"url": "https://hooks.example.com/in", "events": ["issue.updated", "issue.created"]});
    let created = app
        .send("POST", "/api/webhooks/", Some(&boss), Some(body.clone()))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let hook = created.json();
    assert_eq!(
        hook.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "url", "events", "active", "created_at", "secret"]
    );
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 44,
        "{secret}"
    );
    assert_eq!(hook["events"], json!(["issue.created", "issue.updated"]));
    assert_eq!(hook["active"], json!(true));
    let path = format!("/api/webhooks/{}/", hook["id"]);

    // Read back: never the secret again.
    let read = app.send("GET", &path, Some(&boss), None).await;
    assert_eq!(read.status, 200);
    assert!(read.json().get("secret").is_none());
    assert!(!read.text.contains(&secret));
    let list = app.send("GET", "/api/webhooks/", Some(&boss), None).await;
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    assert!(!list.text.contains(&secret));

    // Staff only: 403 for others (even with a bad body), 401 without a token.
    let id = hook["id"].as_i64().unwrap();
    let routes = [
        ("GET", "/api/webhooks/".to_owned(), None),
        ("POST", "/api/webhooks/".to_owned(), Some(body.clone())),
        ("POST", "/api/webhooks/".to_owned(), Some(json!({"url": 1}))),
        ("GET", path.clone(), None),
        ("PATCH", path.clone(), Some(json!({"active": false}))),
        ("DELETE", path.clone(), None),
        ("POST", format!("/api/webhooks/{id}/rotate-secret/"), None),
        ("POST", format!("/api/webhooks/{id}/ping/"), None),
        ("GET", format!("/api/webhooks/{id}/deliveries/"), None),
        (
            "POST",
            format!("/api/webhooks/{id}/deliveries/1/redeliver/"),
            None,
        ),
    ];
    for (method, route, body) in &routes {
        let reply = app.send(method, route, Some(&ann), body.clone()).await;
        assert_eq!(reply.status, 403, "{method} {route}: {}", reply.text);
        let anonymous = app.send(method, route, None, body.clone()).await;
        assert_eq!(anonymous.status, 401, "{method} {route}");
    }

    // Bad input: 400 keyed by field; nothing registered.
    let bad = [
        (json!({"events": ["*"]}), "url"),
        (json!({"url": "ftp://x.example/", "events": ["*"]}), "url"),
        (json!({"url": "not a url", "events": ["*"]}), "url"),
        (
            json!({"url": "https://u:p@x.example/", "events": ["*"]}),
            "url",
        ),
        (
            json!({"url": format!("https://x.example/{}", "a".repeat(2_000)), "events": ["*"]}),
            "url",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["*"]}),
            "url",
        ),
        (
            json!({"url": "http://169.254.169.254/", "events": ["*"]}),
            "url",
        ),
        (json!({"url": "http://[::1]/", "events": ["*"]}), "url"),
        (json!({"url": "http://10.0.0.1/", "events": ["*"]}), "url"),
        (json!({"url": "https://x.example/"}), "events"),
        (json!({"url": "https://x.example/", "events": []}), "events"),
        (
            json!({"url": "https://x.example/", "events": ["issue.exploded"]}),
            "events",
        ),
        (
            json!({"url": "https://x.example/", "events": "*"}),
            "events",
        ),
        (
            json!({"url": "https://x.example/", "events": ["*"], "active": "yes"}),
            "active",
        ),
    ];
    for (body, field) in &bad {
        let reply = app
            .send("POST", "/api/webhooks/", Some(&boss), Some(body.clone()))
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        assert!(reply.json()[field].is_array(), "{body}: {}", reply.text);
    }
    let count = app.send("GET", "/api/webhooks/", Some(&boss), None).await;
    assert_eq!(count.json().as_array().unwrap().len(), 1);

    // Changes; `*` alone stands for every type.
    let patched = app
        .send(
            "PATCH",
            &path,
            Some(&boss),
            Some(json!({"events": ["issue.created", "*"], "active": false})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(
        (&patched.json()["events"], &patched.json()["active"]),
        (&json!(["*"]), &json!(false))
    );
    let bad_patch = app
        .send(
            "PATCH",
            &path,
            Some(&boss),
            Some(json!({"url": "gopher://x/"})),
        )
        .await;
    assert_eq!(bad_patch.status, 400);
    assert_eq!(
        app.send("GET", &path, Some(&boss), None).await.json()["url"],
        "https://hooks.example.com/in"
    );

    // Rotation shows a new secret, once.
    let rotated = app
        .send(
            "POST",
            &format!("/api/webhooks/{id}/rotate-secret/"),
            Some(&boss),
            None,
        )
        .await;
    assert_eq!(rotated.status, 200);
    let new_secret = rotated.json()["secret"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);

    // Missing ones: 404; then delete.
    for missing in ["/api/webhooks/999999/", "/api/webhooks/x/"] {
        assert_eq!(
            app.send("GET", missing, Some(&boss), None).await.status,
            404
        );
        assert_eq!(
            app.send("DELETE", missing, Some(&boss), None).await.status,
            404
        );
    }
    for missing in [
        "/api/webhooks/999999/rotate-secret/",
        "/api/webhooks/999999/ping/",
        "/api/webhooks/999999/deliveries/1/redeliver/",
    ] {
        assert_eq!(
            app.send("POST", missing, Some(&boss), None).await.status,
            404,
            "{missing}"
        );
    }
    assert_eq!(
        app.send("DELETE", &path, Some(&boss), None).await.status,
        204
    );
    assert_eq!(app.send("GET", &path, Some(&boss), None).await.status, 404);
    let put = app
        .send("PUT", "/api/webhooks/", Some(&boss), Some(json!({})))
        .await;
    assert_eq!(
        (put.status, put.header("allow")),
        (405, Some("GET, HEAD, POST"))
    );
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["message_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn events_become_deliveries_with_their_ids(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let boss = staff(&app).await;
    let all = app
        .send(
            "POST",
            "/api/webhooks/",
            Some(&boss),
            Some(json!({"url": "https://a.example/", "events": ["*"]})),
        )
        .await
        .json();
    let created_only = app
        .send(
            "POST",
            "/api/webhooks/",
            Some(&boss),
            Some(json!({"url": "https://b.example/", "events": ["issue.created"]})),
        )
        .await
        .json();
    let inactive = app
        .send(
            "POST",
            "/api/webhooks/",
            Some(&boss),
            Some(json!({"url": "https://c.example/", "events": ["*"], "active": false})),
        )
        .await
        .json();
    let issue = app.issue(&ann, "Printer", "ann").await;
    let patched = app
        .send(
            "PATCH",
            &format!("/api/issue/{}/", issue["id"]),
            Some(&ann),
            Some(json!({"status": "closed"})),
        )
        .await;
    assert_eq!(patched.status, 200);
    let comment = app
        .send(
            "POST",
            &format!("/api/issue/{}/comments/", issue["id"]),
            Some(&ann),
            Some(json!({"body": "hi"})),
        )
        .await;
    assert_eq!(comment.status, 201);

    // The events since the webhooks were registered, as the replay feed names them.
    let feed = app
        .send("GET", "/api/events/", Some(&boss), None)
        .await
        .json();
    let recent: Vec<(String, String)> = feed
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            ["issue.created", "issue.updated", "comment.created"]
                .contains(&e["type"].as_str().unwrap())
        })
        .map(|e| (e["id"].to_string(), e["type"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(recent.len(), 3);
    let log = |hook: &Value, query: &str| {
        let path = format!("/api/webhooks/{}/deliveries/{query}", hook["id"]);
        let app = &app;
        let boss = boss.clone();
        async move { app.send("GET", &path, Some(&boss), None).await }
    };
    let every = log(&all, "").await;
    assert_eq!(every.status, 200);
    assert_eq!(every.header("x-total-count"), Some("3"));
    let mut expected: Vec<String> = recent.iter().map(|(id, _)| id.clone()).collect();
    expected.reverse(); // newest first
    assert_eq!(ids(&every.json()), expected);
    let first = &every.json()[2];
    assert_eq!(
        (
            first["type"].as_str(),
            first["status"].as_str(),
            first["attempts"].as_array().map(Vec::len)
        ),
        (Some("issue.created"), Some("pending"), Some(0))
    );
    let only = log(&created_only, "").await.json();
    assert_eq!(ids(&only), [recent[0].0.clone()]);
    assert_eq!(log(&inactive, "").await.json(), json!([]));
    assert_eq!(log(&all, "?status=failed").await.json(), json!([]));
    assert_eq!(
        ids(&log(&all, "?status=pending&per_page=1&page=2").await.json()),
        [expected[1].clone()]
    );
    for bad in ["?status=bogus", "?per_page=0", "?per_page=101", "?page=x"] {
        let reply = log(&all, bad).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
    }

    // A ping and a redelivery add deliveries; the redelivery keeps the event's id.
    let ping = app
        .send(
            "POST",
            &format!("/api/webhooks/{}/ping/", all["id"]),
            Some(&boss),
            None,
        )
        .await;
    assert_eq!(ping.status, 202, "{}", ping.text);
    assert_eq!(ping.json()["type"], "webhook.ping");
    assert!(ping.json()["message_id"]
        .as_str()
        .unwrap()
        .starts_with("ping_"));
    let did = first["id"].as_i64().unwrap();
    let again = app
        .send(
            "POST",
            &format!("/api/webhooks/{}/deliveries/{did}/redeliver/", all["id"]),
            Some(&boss),
            None,
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.json()["message_id"], first["message_id"]);
    assert_ne!(again.json()["id"], first["id"]);
    // Another endpoint's delivery is not this one's.
    let foreign = app
        .send(
            "POST",
            &format!(
                "/api/webhooks/{}/deliveries/{did}/redeliver/",
                created_only["id"]
            ),
            Some(&boss),
            None,
        )
        .await;
    assert_eq!(foreign.status, 404);
    assert_eq!(log(&all, "").await.header("x-total-count"), Some("5"));
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    webhooks_are_managed_by_staff,
    events_become_deliveries_with_their_ids,
);
