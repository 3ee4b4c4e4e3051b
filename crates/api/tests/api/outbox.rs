//! The outbox: notification rows are written, cancelled or left alone in the same transaction as
//! the issue change that causes them.

use serde_json::json;

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

fn rows(app: &TestApp) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = app
        .db
        .list_notifications(None, 100)
        .unwrap()
        .into_iter()
        .map(|n| (n.kind, n.recipient, n.status))
        .collect();
    rows.reverse();
    rows
}

fn row(kind: &str, recipient: &str, status: &str) -> (String, String, String) {
    (kind.into(), recipient.into(), status.into())
}

async fn assignments_write_cancel_and_skip_notifications(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    app.create_user("bob", "x");
    app.create_user("carl", "x");
    let before = chrono::Utc::now();
    let issue = app.issue(&ann, "one", "bob").await;
    assert_eq!(rows(&app), [row("assignment", "bob", "pending")]);
    // Due after ASSIGN_REPORT_SCHEDULE (12 minutes by default).
    let due = app.db.list_notifications(None, 1).unwrap()[0].send_after;
    let delay = (due - before).num_seconds();
    assert!((715..=725).contains(&delay), "due in {delay} s");

    let path = format!("/api/issue/{}/", issue["id"]);
    // The same assignee again, with or without other changes: nothing new.
    app.send(
        "PATCH",
        &path,
        Some(&ann),
        Some(json!({"assigned_to": "bob"})),
    )
    .await;
    app.send(
        "PATCH",
        &path,
        Some(&ann),
        Some(json!({"assigned_to": "bob", "title": "renamed"})),
    )
    .await;
    app.send(
        "PUT",
        &path,
        Some(&ann),
        Some(json!({"title": "t", "description": "d", "status": "open", "assigned_to": "bob"})),
    )
    .await;
    assert_eq!(rows(&app), [row("assignment", "bob", "pending")]);

    // Reassigning cancels the stale row and writes the new one.
    let reply = app
        .send(
            "PATCH",
            &path,
            Some(&ann),
            Some(json!({"assigned_to": "carl"})),
        )
        .await;
    assert_eq!(reply.status, 200);
    // ... and tells the previous assignee (a watcher's email, debounced).
    assert_eq!(
        rows(&app),
        [
            row("assignment", "bob", "cancelled"),
            row("assignment", "carl", "pending"),
            row("activity", "bob", "pending")
        ]
    );

    // Refused writes change nothing.
    let bob = app.login("bob", "x").await;
    assert_eq!(
        app.send(
            "PATCH",
            &path,
            Some(&bob),
            Some(json!({"assigned_to": "bob"}))
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.send("DELETE", &path, Some(&bob), None).await.status,
        403
    );
    assert_eq!(
        app.send(
            "PATCH",
            &path,
            Some(&ann),
            Some(json!({"assigned_to": "nobody"}))
        )
        .await
        .status,
        400
    );
    assert_eq!(
        app.send(
            "PATCH",
            &path,
            Some(&ann),
            Some(json!({"assigned_to": "ann", "status": "bad"}))
        )
        .await
        .status,
        400
    );
    assert_eq!(
        rows(&app),
        [
            row("assignment", "bob", "cancelled"),
            row("assignment", "carl", "pending"),
            row("activity", "bob", "pending")
        ]
    );

    // Deleting cancels the pending assignment email; the watchers' emails stay, and the
    // assignee (a watcher) gets one that tells of the deletion.
    assert_eq!(
        app.send("DELETE", &path, Some(&ann), None).await.status,
        204
    );
    assert_eq!(
        rows(&app),
        [
            row("assignment", "bob", "cancelled"),
            row("assignment", "carl", "cancelled"),
            row("activity", "bob", "pending"),
            row("activity", "carl", "pending")
        ]
    );
}

async fn refused_creates_write_no_notification(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    app.create_user("gone", "x");
    app.db
        .set_active(
            "gone",
            false,
            &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
        )
        .unwrap();
    for assignee in ["nobody", "gone", ""] {
        let reply = app
            .send("POST", "/api/issue/", Some(&ann), Some(json!({"title": "t", "description": "d", "status": "open", "assigned_to": assignee})))
            .await;
        assert_eq!(reply.status, 400);
    }
    assert!(rows(&app).is_empty());
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    assignments_write_cancel_and_skip_notifications,
    refused_creates_write_no_notification,
);
