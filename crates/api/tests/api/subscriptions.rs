//! Watching an issue: who watches it without asking (creator, assignee, commenters, the
//! @mentioned), watching and unwatching by hand (which wins until undone), and the refusals.

use serde_json::{json, Value};

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

async fn subscription(app: &TestApp, token: &str, issue: i64) -> Value {
    let reply = app
        .send(
            "GET",
            &format!("/api/issue/{issue}/subscription/"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

fn watching(reason: &str) -> Value {
    json!({"subscribed": true, "reason": reason})
}

fn not_watching() -> Value {
    json!({"subscribed": false, "reason": null})
}

async fn the_people_of_an_issue_watch_it_and_others_do_not(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let carl = app.user_with_token("carl").await;
    let dora = app.user_with_token("dora").await;
    let erin = app.user_with_token("erin").await;
    let issue = app.issue(&ann, "Printer", "bob").await["id"]
        .as_i64()
        .unwrap();

    assert_eq!(subscription(&app, &ann, issue).await, watching("author"));
    assert_eq!(subscription(&app, &bob, issue).await, watching("assigned"));
    assert_eq!(subscription(&app, &carl, issue).await, not_watching());

    // A comment makes its author a watcher; a mention in it makes the mentioned one a watcher,
    // but a name inside an email address mentions nobody.
    let path = format!("/api/issue/{issue}/comments/");
    let body = json!({"body": "Same here. @dora, can you look? (mail erin@example.com)"});
    let reply = app.send("POST", &path, Some(&carl), Some(body)).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(subscription(&app, &carl, issue).await, watching("comment"));
    assert_eq!(subscription(&app, &dora, issue).await, watching("mention"));
    assert_eq!(subscription(&app, &erin, issue).await, not_watching());
}

async fn watching_by_hand_and_stopping_win_until_undone(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let carl = app.user_with_token("carl").await;
    let issue = app.issue(&ann, "Printer", "ann").await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/issue/{issue}/subscription/");

    let put = app.send("PUT", &path, Some(&carl), None).await;
    assert_eq!(
        (put.status, put.json()),
        (200, watching("manual")),
        "{}",
        put.text
    );
    assert_eq!(subscription(&app, &carl, issue).await, watching("manual"));
    // Twice is the same.
    let again = app.send("PUT", &path, Some(&carl), None).await;
    assert_eq!((again.status, again.json()), (200, watching("manual")));

    // The creator stops watching their own issue; only a PUT brings it back.
    let delete = app.send("DELETE", &path, Some(&ann), None).await;
    assert_eq!(
        (delete.status, delete.json()),
        (200, not_watching()),
        "{}",
        delete.text
    );
    assert_eq!(subscription(&app, &ann, issue).await, not_watching());
    let body = json!({"body": "I still comment, @ann"});
    let reply = app
        .send(
            "POST",
            &format!("/api/issue/{issue}/comments/"),
            Some(&ann),
            Some(body),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(subscription(&app, &ann, issue).await, not_watching());
    let put = app.send("PUT", &path, Some(&ann), None).await;
    assert_eq!(put.json(), watching("manual"));

    // Each user's choice is their own.
    assert_eq!(subscription(&app, &carl, issue).await, watching("manual"));
}

async fn subscriptions_refuse_what_is_not_there(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let issue = app.issue(&ann, "Printer", "ann").await["id"]
        .as_i64()
        .unwrap();
    for method in ["GET", "PUT", "DELETE"] {
        let missing = app
            .send(method, "/api/issue/999999/subscription/", Some(&ann), None)
            .await;
        assert_eq!(missing.status, 404, "{method}: {}", missing.text);
        assert_eq!(missing.json(), json!({"detail": "Not found."}));
        let bad = app
            .send(method, "/api/issue/abc/subscription/", Some(&ann), None)
            .await;
        assert_eq!(bad.status, 404, "{method}");
        let anonymous = app
            .send(
                method,
                &format!("/api/issue/{issue}/subscription/"),
                None,
                None,
            )
            .await;
        assert_eq!(anonymous.status, 401, "{method}");
    }
    let post = app
        .send(
            "POST",
            &format!("/api/issue/{issue}/subscription/"),
            Some(&ann),
            None,
        )
        .await;
    assert_eq!(post.status, 405);
    assert_eq!(
        post.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, HEAD, PUT, DELETE")
    );
    // A deleted issue's choices go with it.
    let path = format!("/api/issue/{issue}/subscription/");
    assert_eq!(app.send("PUT", &path, Some(&ann), None).await.status, 200);
    let deleted = app
        .send("DELETE", &format!("/api/issue/{issue}/"), Some(&ann), None)
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(app.send("GET", &path, Some(&ann), None).await.status, 404);
    assert_eq!(app.send("PUT", &path, Some(&ann), None).await.status, 404);
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    the_people_of_an_issue_watch_it_and_others_do_not,
    watching_by_hand_and_stopping_win_until_undone,
    subscriptions_refuse_what_is_not_there,
);
