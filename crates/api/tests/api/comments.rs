//! Comments: every route on both databases, with permissions (author, staff, others), `ETag` and
//! `If-Match`, paging, bad input, and the history that outlives a deleted issue.

use serde_json::{json, Value};

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

fn json_headers(token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Authorization", format!("Token {token}")),
        ("Content-Type", "application/json".to_owned()),
    ]
}

async fn with_headers(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> crate::common::Reply {
    let mut headers: Vec<(&str, String)> = json_headers(token);
    for (k, v) in extra {
        headers.push((k, (*v).to_owned()));
    }
    let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    app.raw(method, path, &refs, bytes).await
}

async fn comments_can_be_written_read_and_paged(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let issue = app.issue(&ann, "Printer", "bob").await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/issue/{issue}/comments/");

    let created = app
        .send(
            "POST",
            &path,
            Some(&bob),
            Some(json!({"body": "  Looks broken  "})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let comment = created.json();
    assert_eq!(
        comment.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "id",
            "issue",
            "author",
            "body",
            "created_at",
            "updated_at",
            "edited"
        ]
    );
    assert_eq!(
        (
            &comment["issue"],
            &comment["author"],
            &comment["body"],
            &comment["edited"]
        ),
        (
            &json!(issue),
            &json!("bob"),
            &json!("Looks broken"),
            &json!(false)
        )
    );
    let etag = created.header("etag").expect("an ETag").to_owned();
    let cid = comment["id"].as_i64().unwrap();
    for i in 0..4 {
        let reply = app
            .send(
                "POST",
                &path,
                Some(&ann),
                Some(json!({"body": format!("reply {i}")})),
            )
            .await;
        assert_eq!(reply.status, 201);
    }
    // Oldest first; pages with Link and X-Total-Count.
    let all = app.send("GET", &path, Some(&ann), None).await;
    assert_eq!(all.status, 200);
    let bodies: Vec<String> = all
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        bodies,
        ["Looks broken", "reply 0", "reply 1", "reply 2", "reply 3"]
    );
    let page = app
        .send(
            "GET",
            &format!("{path}?per_page=2&page=2"),
            Some(&ann),
            None,
        )
        .await;
    assert_eq!(page.header("x-total-count"), Some("5"));
    assert_eq!(page.json().as_array().unwrap().len(), 2);
    assert!(page.header("link").unwrap().contains("rel=\"next\""));
    let bad_page = app
        .send("GET", &format!("{path}?page=0"), Some(&ann), None)
        .await;
    assert_eq!(bad_page.status, 400);
    assert!(bad_page.json()["page"].is_array());
    // One comment, with its ETag and 304.
    let one_path = format!("/api/comments/{cid}/");
    let one = app.send("GET", &one_path, Some(&ann), None).await;
    assert_eq!((one.status, one.header("etag")), (200, Some(etag.as_str())));
    let fresh = with_headers(
        &app,
        "GET",
        &one_path,
        &ann,
        &[("If-None-Match", &etag)],
        None,
    )
    .await;
    assert_eq!(fresh.status, 304);
    let list_etag = all.header("etag").unwrap().to_owned();
    let same = with_headers(
        &app,
        "GET",
        &path,
        &ann,
        &[("If-None-Match", &list_etag)],
        None,
    )
    .await;
    assert_eq!(same.status, 304);
    // Missing things: 404; no token: 401.
    assert_eq!(
        app.send("GET", "/api/issue/999999/comments/", Some(&ann), None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.send(
            "POST",
            "/api/issue/999999/comments/",
            Some(&ann),
            Some(json!({"body": "x"}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        app.send("GET", "/api/comments/999999/", Some(&ann), None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.send("GET", "/api/comments/abc/", Some(&ann), None)
            .await
            .status,
        404
    );
    assert_eq!(app.send("GET", &path, None, None).await.status, 401);
    assert_eq!(
        app.send("POST", &path, None, Some(json!({"body": "x"})))
            .await
            .status,
        401
    );
    // No token and a bad body: 401 first, as for issues.
    assert_eq!(
        app.send("POST", &path, None, Some(json!({"body": " "})))
            .await
            .status,
        401
    );
    let put = app
        .send("PUT", &one_path, Some(&ann), Some(json!({"body": "x"})))
        .await;
    assert_eq!(put.status, 405);
    assert_eq!(put.header("allow"), Some("GET, HEAD, PATCH, DELETE"));
}

async fn bad_comment_bodies_are_refused_and_write_nothing(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let issue = app.issue(&ann, "Printer", "ann").await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/issue/{issue}/comments/");
    for (body, message) in [
        (json!({}), "This field is required."),
        (json!({"body": null}), "This field may not be null."),
        (json!({"body": "   "}), "This field may not be blank."),
        (json!({"body": ["x"]}), "Not a valid string."),
        (
            json!({"body": "x".repeat(65_536)}),
            "Ensure this field has no more than 65535 characters.",
        ),
    ] {
        let reply = app
            .send("POST", &path, Some(&ann), Some(body.clone()))
            .await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.json(), json!({"body": [message]}), "{body}");
    }
    let not_json = app
        .raw(
            "POST",
            &path,
            &[
                ("Authorization", &format!("Token {ann}")),
                ("Content-Type", "application/json"),
            ],
            b"{".to_vec(),
        )
        .await;
    assert_eq!(not_json.status, 400);
    let exactly = app
        .send(
            "POST",
            &path,
            Some(&ann),
            Some(json!({"body": "y".repeat(65_535)})),
        )
        .await;
    assert_eq!(exactly.status, 201, "65,535 characters are allowed");
    let listed = app.send("GET", &path, Some(&ann), None).await;
    assert_eq!(
        listed.json().as_array().unwrap().len(),
        1,
        "only the valid one was written"
    );
}

async fn only_the_author_edits_and_the_author_or_staff_delete(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    app.create_user_full("boss", "pw-boss", "", true);
    let boss = app.login("boss", "pw-boss").await;
    let issue = app.issue(&ann, "Printer", "bob").await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/issue/{issue}/comments/");
    let cid = app
        .send("POST", &path, Some(&bob), Some(json!({"body": "first"})))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let one = format!("/api/comments/{cid}/");
    // Not the author: 403 even for a bad body; staff may not edit either.
    for (token, body) in [
        (&ann, json!({"body": "hijack"})),
        (&ann, json!({"body": ""})),
        (&boss, json!({"body": "x"})),
    ] {
        let reply = app.send("PATCH", &one, Some(token), Some(body)).await;
        assert_eq!(reply.status, 403, "{}", reply.text);
    }
    // The author, with a stale If-Match: 412, nothing changed; with the current one: 200.
    let current = app.send("GET", &one, Some(&bob), None).await;
    let etag = current.header("etag").unwrap().to_owned();
    let edited = with_headers(
        &app,
        "PATCH",
        &one,
        &bob,
        &[("If-Match", &etag)],
        Some(json!({"body": "second"})),
    )
    .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(
        (&edited.json()["body"], &edited.json()["edited"]),
        (&json!("second"), &json!(true))
    );
    let new_etag = edited.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let stale = with_headers(
        &app,
        "PATCH",
        &one,
        &bob,
        &[("If-Match", &etag)],
        Some(json!({"body": "third"})),
    )
    .await;
    assert_eq!(stale.status, 412);
    assert_eq!(
        app.send("GET", &one, Some(&bob), None).await.json()["body"],
        json!("second")
    );
    // Bad body from the author: 400.
    assert_eq!(
        app.send("PATCH", &one, Some(&bob), Some(json!({"body": " "})))
            .await
            .status,
        400
    );
    // Delete: not ann (neither author nor staff); a stale If-Match: 412; staff may.
    assert_eq!(app.send("DELETE", &one, Some(&ann), None).await.status, 403);
    let stale = with_headers(&app, "DELETE", &one, &boss, &[("If-Match", &etag)], None).await;
    assert_eq!(stale.status, 412);
    assert_eq!(
        app.send("DELETE", &one, Some(&boss), None).await.status,
        204
    );
    assert_eq!(app.send("GET", &one, Some(&bob), None).await.status, 404);
    assert_eq!(app.send("DELETE", &one, Some(&bob), None).await.status, 404);
    // The author deletes their own.
    let cid = app
        .send("POST", &path, Some(&bob), Some(json!({"body": "again"})))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.send("DELETE", &format!("/api/comments/{cid}/"), Some(&bob), None)
            .await
            .status,
        204
    );
}

async fn deleting_an_issue_deletes_its_comments_and_the_history_keeps_them(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let issue = app.issue(&ann, "Printer", "bob").await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/issue/{issue}/comments/");
    let cid = app
        .send("POST", &path, Some(&bob), Some(json!({"body": "one"})))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.send(
            "PATCH",
            &format!("/api/comments/{cid}/"),
            Some(&bob),
            Some(json!({"body": "two"}))
        )
        .await
        .status,
        200
    );
    // The body unchanged writes no event.
    app.send(
        "PATCH",
        &format!("/api/comments/{cid}/"),
        Some(&bob),
        Some(json!({"body": "two"})),
    )
    .await;
    let other = app
        .send(
            "POST",
            &path,
            Some(&ann),
            Some(json!({"body": "kept until the issue goes"})),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.send("DELETE", &format!("/api/comments/{cid}/"), Some(&bob), None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.send("DELETE", &format!("/api/issue/{issue}/"), Some(&ann), None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.send("GET", &format!("/api/comments/{other}/"), Some(&ann), None)
            .await
            .status,
        404
    );
    let (mut events, _) = app.db.list_events(&Default::default(), 0, 100).unwrap();
    events.reverse(); // oldest first
    let comment_events: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e.event_type.as_str().starts_with("comment."))
        .map(|e| {
            (
                e.event_type.as_str().to_owned(),
                e.actor.as_ref().unwrap().username.clone(),
                serde_json::to_string(&e.changes).unwrap(),
            )
        })
        .collect();
    let kinds: Vec<&str> = comment_events.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "comment.created",
            "comment.edited",
            "comment.created",
            "comment.deleted"
        ]
    );
    assert!(
        comment_events[1].2.contains("\"old\":\"one\"")
            && comment_events[1].2.contains("\"new\":\"two\"")
    );
    assert!(events
        .iter()
        .filter(|e| e.event_type.as_str().starts_with("comment."))
        .all(|e| e.issue.map(|i| i.get()) == Some(issue)));
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    comments_can_be_written_read_and_paged,
    bad_comment_bodies_are_refused_and_write_nothing,
    only_the_author_edits_and_the_author_or_staff_delete,
    deleting_an_issue_deletes_its_comments_and_the_history_keeps_them,
);
