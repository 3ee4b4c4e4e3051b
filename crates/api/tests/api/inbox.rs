//! The notification inbox: who hears of a comment, a status change, a reassignment, a mention
//! and a deletion (never the actor); marking read, unread, done and all read; the conditional
//! answers (ETag, Last-Modified, 304) and the refusals.

use serde_json::{json, Value};

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

async fn inbox(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let reply = app
        .send(
            "GET",
            &format!("/api/notifications/{query}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json().as_array().cloned().unwrap()
}

/// `(type, reason, actor)` of each entry, newest first.
fn shapes(entries: &[Value]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

fn shape(kind: &str, reason: &str, actor: &str) -> (String, String, String) {
    (kind.to_owned(), reason.to_owned(), actor.to_owned())
}

async fn patch_issue(app: &TestApp, token: &str, issue: i64, body: Value) {
    let reply = app
        .send(
            "PATCH",
            &format!("/api/issue/{issue}/"),
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

async fn a_comment_reaches_the_watchers_but_not_its_author(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let carl = app.user_with_token("carl").await;
    let dora = app.user_with_token("dora").await;
    let issue = app.issue(&ann, "Printer", "bob").await["id"]
        .as_i64()
        .unwrap();

    app.comment(&carl, issue, "Same here.\n\nIt   smokes.")
        .await;
    let anns = inbox(&app, &ann, "").await;
    assert_eq!(shapes(&anns), vec![shape("comment", "author", "carl")]);
    assert_eq!(anns[0]["issue"], json!(issue));
    assert_eq!(anns[0]["unread"], json!(true));
    assert_eq!(
        anns[0]["summary"],
        json!(format!(
            "carl commented on #{issue} Printer: Same here. It smokes."
        ))
    );
    for key in ["id", "updated_at"] {
        assert!(anns[0].get(key).is_some(), "{key} missing: {}", anns[0]);
    }
    assert_eq!(
        shapes(&inbox(&app, &bob, "").await),
        vec![shape("comment", "assigned", "carl")]
    );
    assert!(
        inbox(&app, &carl, "").await.is_empty(),
        "the author is not told"
    );
    assert!(inbox(&app, &dora, "").await.is_empty(), "nor is a stranger");

    // A mention reaches the mentioned once (as a mention, not also as a comment).
    app.comment(&carl, issue, "@dora can you look? @dora!")
        .await;
    assert_eq!(
        shapes(&inbox(&app, &dora, "").await),
        vec![shape("mention", "mention", "carl")]
    );
    // dora now watches (she was mentioned); after she stops, a plain comment does not reach her,
    // but a new mention does.
    let stop = app
        .send(
            "DELETE",
            &format!("/api/issue/{issue}/subscription/"),
            Some(&dora),
            None,
        )
        .await;
    assert_eq!(stop.status, 200);
    app.comment(&ann, issue, "Any news?").await;
    assert_eq!(inbox(&app, &dora, "").await.len(), 1);
    app.comment(&ann, issue, "@dora please").await;
    assert_eq!(
        shapes(&inbox(&app, &dora, "").await),
        vec![
            shape("mention", "mention", "ann"),
            shape("mention", "mention", "carl")
        ]
    );
    // The watchers heard of every comment but their own, newest first.
    assert_eq!(
        shapes(&inbox(&app, &carl, "").await),
        vec![
            shape("comment", "comment", "ann"),
            shape("comment", "comment", "ann")
        ]
    );
    assert_eq!(inbox(&app, &bob, "").await.len(), 4);
}

async fn status_reassignment_mentions_and_deletion_notify(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let carl = app.user_with_token("carl").await;
    let dora = app.user_with_token("dora").await;
    let issue = app.issue(&ann, "Printer", "bob").await["id"]
        .as_i64()
        .unwrap();

    // Only the creator may change the issue; the assignee hears of it.
    patch_issue(&app, &ann, issue, json!({"status": "closed"})).await;
    assert_eq!(
        shapes(&inbox(&app, &bob, "").await),
        vec![shape("closed", "assigned", "ann")]
    );
    assert!(
        inbox(&app, &ann, "").await.is_empty(),
        "the actor is not told"
    );
    patch_issue(&app, &ann, issue, json!({"status": "open"})).await;
    assert_eq!(inbox(&app, &bob, "").await[0]["type"], json!("reopened"));

    // Reassigned: the previous assignee hears of it; the new one gets the assignment email.
    patch_issue(&app, &ann, issue, json!({"assigned_to": "carl"})).await;
    let bobs = inbox(&app, &bob, "").await;
    assert_eq!(bobs.len(), 3);
    assert_eq!(
        shapes(&bobs[..1]),
        vec![shape("reassigned", "assigned", "ann")]
    );
    assert_eq!(
        bobs[0]["summary"],
        json!(format!("ann reassigned #{issue} Printer to carl"))
    );
    assert!(inbox(&app, &carl, "").await.is_empty());

    // A description edit tells only the newly mentioned.
    patch_issue(&app, &ann, issue, json!({"description": "ask @dora"})).await;
    assert_eq!(
        shapes(&inbox(&app, &dora, "").await),
        vec![shape("mention", "mention", "ann")]
    );
    patch_issue(&app, &ann, issue, json!({"description": "ask @dora again"})).await;
    assert_eq!(inbox(&app, &dora, "").await.len(), 1);

    // Deleted: the watchers hear of it, and the entry outlives the issue.
    let deleted = app
        .send("DELETE", &format!("/api/issue/{issue}/"), Some(&ann), None)
        .await;
    assert_eq!(deleted.status, 204);
    for (token, reason) in [(&carl, "assigned"), (&dora, "mention")] {
        let entries = inbox(&app, token, "").await;
        assert_eq!(entries[0]["type"], json!("deleted"), "{entries:?}");
        assert_eq!(entries[0]["reason"], json!(reason));
        assert_eq!(entries[0]["issue"], json!(issue));
    }
    assert_eq!(
        inbox(&app, &bob, "").await.len(),
        3,
        "bob no longer watched it"
    );
    assert!(inbox(&app, &ann, "").await.is_empty());
}

async fn mentions_in_a_new_issue_and_an_edited_comment_notify(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let carl = app.user_with_token("carl").await;
    let reply = app
        .send(
            "POST",
            "/api/issue/",
            Some(&ann),
            Some(json!({"title": "Printer", "description": "cc @carl and @nobody", "status": "open", "assigned_to": "bob"})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let issue = reply.json()["id"].as_i64().unwrap();
    let carls = inbox(&app, &carl, "").await;
    assert_eq!(shapes(&carls), vec![shape("mention", "mention", "ann")]);
    assert_eq!(
        carls[0]["summary"],
        json!(format!(
            "ann mentioned you in the description of #{issue} Printer"
        ))
    );
    assert!(
        inbox(&app, &bob, "").await.is_empty(),
        "the assignee gets the assignment email"
    );

    // An edit that adds a mention tells the newly mentioned only, once.
    let reply = app
        .send(
            "POST",
            &format!("/api/issue/{issue}/comments/"),
            Some(&bob),
            Some(json!({"body": "looking"})),
        )
        .await;
    let comment = reply.json()["id"].as_i64().unwrap();
    let dora = app.user_with_token("dora").await;
    let path = format!("/api/comments/{comment}/");
    for body in ["looking, @dora", "looking, @dora!"] {
        let reply = app
            .send("PATCH", &path, Some(&bob), Some(json!({ "body": body })))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let doras = inbox(&app, &dora, "").await;
    assert_eq!(shapes(&doras), vec![shape("mention", "mention", "bob")]);
    assert_eq!(
        doras[0]["summary"],
        json!(format!(
            "bob mentioned you in a comment on #{issue} Printer"
        ))
    );
}

async fn a_refused_change_tells_nobody(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let issue = app.issue(&ann, "Printer", "bob").await["id"]
        .as_i64()
        .unwrap();
    // A stale If-Match: the update is refused, and so is its notification.
    let reply = app
        .raw(
            "PATCH",
            &format!("/api/issue/{issue}/"),
            &[
                ("Authorization", &format!("Token {ann}")),
                ("Content-Type", "application/json"),
                ("If-Match", "W/\"1-1\""),
            ],
            json!({"status": "closed"}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(reply.status, 412, "{}", reply.text);
    // An invalid comment, and a comment on a missing issue.
    let path = format!("/api/issue/{issue}/comments/");
    let reply = app
        .send("POST", &path, Some(&ann), Some(json!({"body": "  "})))
        .await;
    assert_eq!(reply.status, 400);
    let reply = app
        .send(
            "POST",
            "/api/issue/999999/comments/",
            Some(&ann),
            Some(json!({"body": "@bob hi"})),
        )
        .await;
    assert_eq!(reply.status, 404);
    assert!(inbox(&app, &bob, "?all=true").await.is_empty());
}

async fn entries_are_marked_read_unread_and_done(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let first = app.issue(&ann, "One", "ann").await["id"].as_i64().unwrap();
    let second = app.issue(&ann, "Two", "ann").await["id"].as_i64().unwrap();
    for body in ["a", "b", "c"] {
        app.comment(&bob, first, body).await;
    }
    app.comment(&bob, second, "d").await;
    let entries = inbox(&app, &ann, "").await;
    assert_eq!(entries.len(), 4);
    let newest = entries[0]["id"].as_i64().unwrap();
    let oldest = entries[3]["id"].as_i64().unwrap();
    assert!(newest > oldest);
    assert_eq!(inbox(&app, &ann, &format!("?issue={first}")).await.len(), 3);

    // Read: gone from the default list, still there with ?all=true.
    let path = format!("/api/notifications/{oldest}/");
    let read = app
        .send("PATCH", &path, Some(&ann), Some(json!({"unread": false})))
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json()["unread"], json!(false));
    assert_eq!(inbox(&app, &ann, "").await.len(), 3);
    assert_eq!(inbox(&app, &ann, "?all=true").await.len(), 4);
    let unread = app
        .send("PATCH", &path, Some(&ann), Some(json!({"unread": true})))
        .await;
    assert_eq!(unread.json()["unread"], json!(true));

    // Bad bodies change nothing.
    for (body, message) in [
        (json!({"unread": "no"}), "Must be a valid boolean."),
        (json!({}), "This field is required."),
        (json!({"unread": null}), "This field may not be null."),
    ] {
        let reply = app.send("PATCH", &path, Some(&ann), Some(body)).await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        assert_eq!(reply.json(), json!({ "unread": [message] }));
    }
    assert_eq!(inbox(&app, &ann, "").await.len(), 4);
    // Someone else's entry, a missing one and a malformed id are 404.
    for (who, id) in [
        (&bob, oldest.to_string()),
        (&ann, "999999".into()),
        (&ann, "x".into()),
    ] {
        let reply = app
            .send(
                "PATCH",
                &format!("/api/notifications/{id}/"),
                Some(who),
                Some(json!({"unread": false})),
            )
            .await;
        assert_eq!(reply.status, 404, "{id}: {}", reply.text);
        let reply = app
            .send(
                "DELETE",
                &format!("/api/notifications/{id}/"),
                Some(who),
                None,
            )
            .await;
        assert_eq!(reply.status, 404, "{id}: {}", reply.text);
    }

    // Done: gone, even with ?all=true; twice is 404.
    let done = app.send("DELETE", &path, Some(&ann), None).await;
    assert_eq!(done.status, 204, "{}", done.text);
    assert_eq!(inbox(&app, &ann, "?all=true").await.len(), 3);
    assert_eq!(
        app.send("DELETE", &path, Some(&ann), None).await.status,
        404
    );
    let gone = app
        .send("PATCH", &path, Some(&ann), Some(json!({"unread": false})))
        .await;
    assert_eq!(gone.status, 404);

    // All read, up to a time: a time before everything marks nothing; a bad one is refused.
    let mark = |body: Option<Value>| app.send("POST", "/api/notifications/read/", Some(&ann), body);
    let early = mark(Some(json!({"last_read_at": "2000-01-01T00:00:00Z"}))).await;
    assert_eq!((early.status, early.json()), (200, json!({"marked": 0})));
    let bad = mark(Some(json!({"last_read_at": "yesterday"}))).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.json()["last_read_at"].is_array());
    assert_eq!(inbox(&app, &ann, "").await.len(), 3);
    let all = mark(None).await;
    assert_eq!((all.status, all.json()), (200, json!({"marked": 3})));
    assert!(inbox(&app, &ann, "").await.is_empty());
    assert_eq!(inbox(&app, &ann, "?all=true").await.len(), 3);
}

async fn poll(app: &TestApp, token: &str, headers: &[(&str, &str)]) -> crate::common::Reply {
    let authorization = format!("Token {token}");
    let mut all = vec![("Authorization", authorization.as_str())];
    all.extend_from_slice(headers);
    app.raw("GET", "/api/notifications/", &all, Vec::new())
        .await
}

async fn the_inbox_answers_conditional_polls(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let issue = app.issue(&ann, "Printer", "ann").await["id"]
        .as_i64()
        .unwrap();
    app.comment(&bob, issue, "first").await;
    let first = poll(&app, &ann, &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-poll-interval"), Some("60"));
    let etag = first.header("etag").unwrap().to_owned();

    let same = poll(&app, &ann, &[("If-None-Match", &etag)]).await;
    assert_eq!(same.status, 304, "{}", same.text);
    assert!(same.text.is_empty());
    assert_eq!(same.header("etag"), Some(etag.as_str()));
    assert_eq!(same.header("x-poll-interval"), Some("60"));

    // A new entry, and a mark, each change the answer.
    app.comment(&bob, issue, "second").await;
    let changed = poll(&app, &ann, &[("If-None-Match", &etag)]).await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.json().as_array().unwrap().len(), 2);
    let etag = changed.header("etag").unwrap().to_owned();
    let id = changed.json()[0]["id"].as_i64().unwrap();
    let read = app
        .send(
            "PATCH",
            &format!("/api/notifications/{id}/"),
            Some(&ann),
            Some(json!({"unread": false})),
        )
        .await;
    assert_eq!(read.status, 200);
    let after_mark = poll(&app, &ann, &[("If-None-Match", &etag)]).await;
    assert_eq!(after_mark.status, 200);
    assert_eq!(after_mark.json().as_array().unwrap().len(), 1);

    // Last-Modified comes once the last change is a second old; If-Modified-Since then answers
    // 304 until the next change.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let dated = poll(&app, &ann, &[]).await;
    let last_modified = dated
        .header("last-modified")
        .expect("Last-Modified once the inbox is a second old")
        .to_owned();
    let unchanged = poll(&app, &ann, &[("If-Modified-Since", &last_modified)]).await;
    assert_eq!(unchanged.status, 304);
    app.comment(&bob, issue, "third").await;
    let newer = poll(&app, &ann, &[("If-Modified-Since", &last_modified)]).await;
    assert_eq!(newer.status, 200);
    assert_eq!(newer.json().as_array().unwrap().len(), 2);
}

async fn email_choices_are_kept_and_bad_ones_refused(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let path = "/api/user/me/notifications/";
    let changed = app
        .send(
            "PATCH",
            path,
            Some(&ann),
            Some(json!({"activity_types": ["mention", "comment", "mention"], "delivery": "daily"})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let expected = json!({
        "assignment": true, "report": true, "activity": true,
        "activity_types": ["comment", "mention"], "delivery": "daily"
    });
    assert_eq!(changed.json(), expected);
    for (body, field, message) in [
        (
            json!({"activity_types": ["comment", "lunch"]}),
            "activity_types",
            "\"lunch\" is not a valid choice.",
        ),
        (
            json!({"activity_types": "comment"}),
            "activity_types",
            "Expected a list of items.",
        ),
        (
            json!({"activity_types": [1]}),
            "activity_types",
            "Each item must be a string.",
        ),
        (
            json!({"delivery": "hourly"}),
            "delivery",
            "\"hourly\" is not a valid choice.",
        ),
        (
            json!({"delivery": 1}),
            "delivery",
            "\"\" is not a valid choice.",
        ),
    ] {
        let refused = app
            .send("PATCH", path, Some(&ann), Some(body.clone()))
            .await;
        assert_eq!(refused.status, 400, "{body}");
        assert_eq!(refused.json(), json!({ field: [message] }), "{body}");
    }
    let now = app.send("GET", path, Some(&ann), None).await;
    assert_eq!(now.json(), expected, "refusals changed nothing");
    // Every kind off is a choice too: the inbox still gets every entry.
    let back = app
        .send(
            "PATCH",
            path,
            Some(&ann),
            Some(json!({"activity_types": [], "delivery": "instant"})),
        )
        .await;
    assert_eq!(back.json()["activity_types"], json!([]));
}

async fn the_inbox_refuses_bad_requests(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let reply = app.send("GET", "/api/notifications/", None, None).await;
    assert_eq!(reply.status, 401);
    let reply = app
        .send(
            "GET",
            "/api/notifications/?all=maybe&issue=x",
            Some(&ann),
            None,
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({"all": ["Must be a valid boolean."], "issue": ["A valid integer is required."]})
    );
    let reply = app
        .send("GET", "/api/notifications/?per_page=1000", Some(&ann), None)
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["per_page"].is_array());
    let reply = app
        .send("PUT", "/api/notifications/", Some(&ann), None)
        .await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    let reply = app
        .send("GET", "/api/notifications/read/", Some(&ann), None)
        .await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    a_comment_reaches_the_watchers_but_not_its_author,
    status_reassignment_mentions_and_deletion_notify,
    mentions_in_a_new_issue_and_an_edited_comment_notify,
    a_refused_change_tells_nobody,
    entries_are_marked_read_unread_and_done,
    the_inbox_answers_conditional_polls,
    the_inbox_refuses_bad_requests,
    email_choices_are_kept_and_bad_ones_refused,
);
