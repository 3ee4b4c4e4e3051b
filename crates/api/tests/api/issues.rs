use serde_json::{json, Value};

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

fn keys(value: &Value) -> Vec<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

async fn create_returns_the_issue_with_keys_in_order(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    app.create_user("bob", "x");
    let reply = app
        .send(
            "POST",
            "/api/issue/",
            Some(&ann),
            Some(json!({
                "id": 999, "created_by": "bob", "created_at": "2000-01-01T00:00:00Z", "is_staff": true,
                "title": "  Printer on fire  ", "description": 42, "status": "open", "assigned_to": "bob",
                "unknown": [1, 2]
            })),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let issue = reply.json();
    assert_eq!(
        keys(&issue),
        [
            "id",
            "created_by",
            "title",
            "description",
            "status",
            "assigned_to",
            "created_at",
            "updated_at",
            "labels"
        ]
    );
    assert_ne!(issue["id"], json!(999));
    assert_eq!(issue["created_by"], "ann");
    assert_eq!(issue["title"], "Printer on fire");
    assert_eq!(issue["description"], "42");
    assert_eq!(issue["assigned_to"], "bob");
    assert_ne!(issue["created_at"], "2000-01-01T00:00:00Z");
    let id = issue["id"].as_i64().unwrap();
    let fetched = app.fetch(&ann, id).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), issue);
}

async fn list_is_a_bare_array_by_ascending_id_of_everyones_issues(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    assert_eq!(
        app.send("GET", "/api/issue/", Some(&ann), None)
            .await
            .json(),
        json!([])
    );
    let a = app.issue(&ann, "one", "bob").await;
    let b = app.issue(&bob, "two", "ann").await;
    let c = app.issue(&ann, "three", "ann").await;
    let list = app.send("GET", "/api/issue/", Some(&bob), None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json(), json!([a, b, c]));
    // Without the trailing slash: the same resource.
    assert_eq!(
        app.send("GET", "/api/issue", Some(&bob), None).await.json(),
        list.json()
    );
}

async fn head_answers_like_get_without_a_body(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let issue = app.issue(&ann, "one", "ann").await;
    let reply = app
        .send(
            "HEAD",
            &format!("/api/issue/{}/", issue["id"]),
            Some(&ann),
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, "");
}

async fn put_needs_all_fields_patch_any(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    app.create_user("bob", "x");
    let issue = app.issue(&ann, "one", "ann").await;
    let path = format!("/api/issue/{}/", issue["id"]);
    let reply = app
        .send("PUT", &path, Some(&ann), Some(json!({"title": "new"})))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({
            "description": ["This field is required."],
            "status": ["This field is required."],
            "assigned_to": ["This field is required."]
        })
    );
    assert_eq!(
        app.fetch(&ann, issue["id"].as_i64().unwrap()).await.json(),
        issue
    );
    let reply = app
        .send("PUT", &path, Some(&ann), Some(json!({"title": "new", "description": "dd", "status": "closed", "assigned_to": "bob"})))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let put = reply.json();
    assert_eq!(
        (
            &put["title"],
            &put["description"],
            &put["status"],
            &put["assigned_to"],
            &put["created_by"]
        ),
        (
            &json!("new"),
            &json!("dd"),
            &json!("closed"),
            &json!("bob"),
            &json!("ann")
        )
    );
    assert_eq!(put["created_at"], issue["created_at"]);
    assert_ne!(put["updated_at"], issue["updated_at"]);
    let reply = app
        .send("PATCH", &path, Some(&ann), Some(json!({"status": "open"})))
        .await;
    assert_eq!(reply.status, 200);
    let patched = reply.json();
    assert_eq!(
        (&patched["status"], &patched["title"]),
        (&json!("open"), &json!("new"))
    );
    // An empty PATCH changes nothing, not even updated_at.
    let reply = app.send("PATCH", &path, Some(&ann), Some(json!({}))).await;
    assert_eq!((reply.status, reply.json()), (200, patched.clone()));
}

async fn delete_answers_204_then_404(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let issue = app.issue(&ann, "one", "ann").await;
    let path = format!("/api/issue/{}/", issue["id"]);
    let reply = app.send("DELETE", &path, Some(&ann), None).await;
    assert_eq!((reply.status, reply.text.as_str()), (204, ""));
    let reply = app.send("GET", &path, Some(&ann), None).await;
    assert_eq!(
        (reply.status, reply.json()),
        (404, json!({"detail": "Not found."}))
    );
    assert_eq!(
        app.send("DELETE", &path, Some(&ann), None).await.status,
        404
    );
    // Ids are never reused.
    let next = app.issue(&ann, "two", "ann").await;
    assert!(next["id"].as_i64() > issue["id"].as_i64());
}

async fn only_the_creator_writes(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let carl = app.user_with_token("carl").await;
    let issue = app.issue(&ann, "one", "bob").await;
    let id = issue["id"].as_i64().unwrap();
    let path = format!("/api/issue/{id}/");
    let forbidden = json!({"detail": "You do not have permission to perform this action."});
    for token in [&bob, &carl] {
        for (method, body) in [
            ("PATCH", Some(json!({"assigned_to": "carl"}))),
            (
                "PUT",
                Some(
                    json!({"title": "x", "description": "y", "status": "closed", "assigned_to": "carl"}),
                ),
            ),
            ("DELETE", None),
        ] {
            let reply = app.send(method, &path, Some(token), body).await;
            assert_eq!(
                (reply.status, reply.json()),
                (403, forbidden.clone()),
                "{method}"
            );
        }
        // Permission comes before validation: a malformed body from someone else is still 403.
        let reply = app
            .raw(
                "PATCH",
                &path,
                &[
                    ("Authorization", &format!("Token {token}")),
                    ("Content-Type", "application/json"),
                ],
                b"{nope".to_vec(),
            )
            .await;
        assert_eq!(reply.status, 403);
        // Anyone may read.
        assert_eq!(app.fetch(token, id).await.json(), issue);
    }
    assert_eq!(app.fetch(&ann, id).await.json(), issue);
}

async fn missing_and_malformed_ids_are_404(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    for id in [
        "0",
        "-1",
        "9223372036854775807",
        "9223372036854775808",
        "99999999999999999999999",
        "abc",
        "1;DROP TABLE issues",
        "1.5",
        "%20",
    ] {
        for method in ["GET", "PATCH", "DELETE"] {
            let reply = app
                .send(
                    method,
                    &format!("/api/issue/{id}/"),
                    Some(&ann),
                    Some(json!({})),
                )
                .await;
            assert_eq!(
                (reply.status, reply.json()),
                (404, json!({"detail": "Not found."})),
                "{method} {id}"
            );
        }
    }
}

async fn wrong_methods_are_405_with_allow_after_authentication(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let issue = app.issue(&ann, "one", "ann").await;
    let detail = format!("/api/issue/{}/", issue["id"]);
    for (method, path, allow) in [
        ("TRACE", "/api/issue/", "GET, POST, HEAD, OPTIONS"),
        ("PATCH", "/api/issue/", "GET, POST, HEAD, OPTIONS"),
        ("PUT", "/api/issue/", "GET, POST, HEAD, OPTIONS"),
        ("DELETE", "/api/issue/", "GET, POST, HEAD, OPTIONS"),
        (
            "POST",
            detail.as_str(),
            "GET, PUT, PATCH, DELETE, HEAD, OPTIONS",
        ),
        (
            "POST",
            "/api/issue/999999/",
            "GET, PUT, PATCH, DELETE, HEAD, OPTIONS",
        ),
    ] {
        let reply = app.send(method, path, Some(&ann), None).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.header("allow"), Some(allow));
        assert_eq!(
            reply.json(),
            json!({"detail": format!("Method \"{method}\" not allowed.")})
        );
        let anonymous = app.send(method, path, None, None).await;
        assert_eq!(anonymous.status, 401, "{method} {path} without a token");
    }
    for (path, allow) in [
        ("/api/issue/", "GET, POST, HEAD, OPTIONS"),
        (detail.as_str(), "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"),
    ] {
        let reply = app.send("OPTIONS", path, Some(&ann), None).await;
        assert_eq!((reply.status, reply.header("allow")), (200, Some(allow)));
        assert_eq!(app.send("OPTIONS", path, None, None).await.status, 401);
    }
}

async fn post_without_trailing_slash_keeps_its_body(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let reply = app
        .send(
            "POST",
            "/api/issue",
            Some(&ann),
            Some(json!({"title": "t", "description": "d", "status": "open", "assigned_to": "ann"})),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json()["title"], "t");
    let id = reply.json()["id"].as_i64().unwrap();
    let reply = app
        .send(
            "PATCH",
            &format!("/api/issue/{id}"),
            Some(&ann),
            Some(json!({"title": "u"})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()["title"].clone()),
        (200, json!("u"))
    );
}

async fn form_encoded_bodies_work(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let reply = app
        .raw(
            "POST",
            "/api/issue/",
            &[
                ("Authorization", &format!("Token {ann}")),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            b"title=From+a+form&description=caf%C3%A9&status=closed&assigned_to=ann".to_vec(),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json()["description"], "café");
    assert_eq!(reply.json()["status"], "closed");
}

async fn deactivated_users_keep_their_issues(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let issue = app.issue(&bob, "by bob", "ann").await;
    app.db
        .set_active(
            "bob",
            false,
            &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
        )
        .unwrap();
    let fetched = app.fetch(&ann, issue["id"].as_i64().unwrap()).await;
    assert_eq!(fetched.json(), issue);
    // But they can no longer be assigned.
    let reply = app
        .send(
            "POST",
            "/api/issue/",
            Some(&ann),
            Some(json!({"title": "t", "description": "d", "status": "open", "assigned_to": "bob"})),
        )
        .await;
    assert_eq!(
        reply.json(),
        json!({"assigned_to": ["Object with username=bob does not exist."]})
    );
}

async fn security_headers_and_request_ids(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let reply = app.send("GET", "/api/issue/", Some(&ann), None).await;
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("cache-control"), Some("private, no-cache"));
    assert_eq!(reply.header("x-request-id").map(str::len), Some(32));
    let reply = app
        .raw(
            "GET",
            "/api/issue/",
            &[
                ("Authorization", &format!("Token {ann}")),
                ("X-Request-Id", "abc-123"),
            ],
            vec![],
        )
        .await;
    assert_eq!(reply.header("x-request-id"), Some("abc-123"));
    let reply = app.send("GET", "/api/nowhere/", None, None).await;
    assert_eq!(
        (reply.status, reply.json()),
        (404, json!({"detail": "Not found."}))
    );
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    create_returns_the_issue_with_keys_in_order,
    list_is_a_bare_array_by_ascending_id_of_everyones_issues,
    head_answers_like_get_without_a_body,
    put_needs_all_fields_patch_any,
    delete_answers_204_then_404,
    only_the_creator_writes,
    missing_and_malformed_ids_are_404,
    wrong_methods_are_405_with_allow_after_authentication,
    post_without_trailing_slash_keeps_its_body,
    form_encoded_bodies_work,
    deactivated_users_keep_their_issues,
    security_headers_and_request_ids,
);
