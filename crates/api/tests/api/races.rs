//! Writers racing each other on PostgreSQL (where requests really run at once), many rounds
//! each: conditional writes on comments hold under concurrency, and labels renamed or deleted
//! while being put on an issue leave the issue, its copy of the names and its history agreeing.

use serde_json::{json, Value};

use crate::common::{spawn, Kind, Reply, TestApp};

const ROUNDS: usize = 15;

async fn staff(app: &TestApp, name: &str) -> String {
    app.create_user_full(name, &format!("pw-{name}"), "", true);
    app.login(name, &format!("pw-{name}")).await
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let authorization = format!("Token {token}");
    let mut all = vec![
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/json"),
    ];
    all.extend_from_slice(headers);
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    app.raw(method, path, &all, bytes).await
}

/// Two edits of one comment with the same `If-Match`, sent together: one wins, the other is told
/// the comment changed (412), so no edit is silently lost. An edit and a delete with the same
/// `ETag`: one of them, never both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_comment_writes_hold_under_concurrency() {
    let app = spawn(Kind::Postgres).await;
    let bob = app.user_with_token("bob").await;
    let issue = app.issue(&bob, "talk", "bob").await;
    let comments = format!("/api/issue/{}/comments/", issue["id"]);
    for round in 0..ROUNDS {
        let created = app
            .send(
                "POST",
                &comments,
                Some(&bob),
                Some(json!({"body": "first"})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let one = format!("/api/comments/{}/", created.json()["id"]);
        let etag = created.header("etag").unwrap().to_owned();
        let condition = [("If-Match", etag.as_str())];
        let (a, b) = tokio::join!(
            send(
                &app,
                "PATCH",
                &one,
                &bob,
                &condition,
                Some(json!({"body": "from a"}))
            ),
            send(
                &app,
                "PATCH",
                &one,
                &bob,
                &condition,
                Some(json!({"body": "from b"}))
            ),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 412],
            "round {round}: {} / {}",
            a.text,
            b.text
        );
        let winner = if a.status == 200 { &a } else { &b };
        let now = app.send("GET", &one, Some(&bob), None).await;
        assert_eq!(now.json()["body"], winner.json()["body"], "round {round}");

        let etag = now.header("etag").unwrap().to_owned();
        let condition = [("If-Match", etag.as_str())];
        let (edit, delete) = tokio::join!(
            send(
                &app,
                "PATCH",
                &one,
                &bob,
                &condition,
                Some(json!({"body": "late"}))
            ),
            send(&app, "DELETE", &one, &bob, &condition, None),
        );
        let outcome = (edit.status, delete.status);
        assert!(
            matches!(outcome, (200, 412) | (412, 204) | (404, 204)),
            "round {round}: edit {} {}, delete {} {}",
            edit.status,
            edit.text,
            delete.status,
            delete.text
        );
    }
}

/// The issue's labels by every view: its JSON, its labels endpoint, and a replay of its history.
async fn label_views(
    app: &TestApp,
    token: &str,
    id: i64,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let strings = |list: &Value, key: Option<&str>| -> Vec<String> {
        let mut names: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|v| match key {
                Some(key) => v[key].as_str().unwrap().to_owned(),
                None => v.as_str().unwrap().to_owned(),
            })
            .collect();
        names.sort();
        names
    };
    let issue = app.fetch(token, id).await.json();
    let listed = app
        .send(
            "GET",
            &format!("/api/issue/{id}/labels/"),
            Some(token),
            None,
        )
        .await
        .json();
    let history = app
        .send(
            "GET",
            &format!("/api/issue/{id}/history/?per_page=100"),
            Some(token),
            None,
        )
        .await
        .json();
    let mut replayed: Vec<String> = Vec::new();
    for event in history.as_array().unwrap() {
        for change in event["changes"].as_array().unwrap() {
            if change["field"] != "label" {
                continue;
            }
            if let Some(old) = change["old"].as_str() {
                replayed.retain(|name| name != old);
            }
            if let Some(new) = change["new"].as_str() {
                replayed.push(new.to_owned());
            }
        }
    }
    replayed.sort();
    (
        strings(&issue["labels"], None),
        strings(&listed, Some("name")),
        replayed,
    )
}

/// A label put on an issue while it is deleted: never a 500; either the add came first (then the
/// deletion takes it off again, with its `label.removed`) or the label was already gone (400).
/// While it is renamed: the issue shows the name its labels show. In every round, replaying the
/// issue's history gives the labels it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn labels_renamed_or_deleted_while_being_put_on_issues_stay_consistent() {
    let app = spawn(Kind::Postgres).await;
    let boss = staff(&app, "boss").await;
    for round in 0..ROUNDS {
        let issue = app.issue(&boss, &format!("round {round}"), "boss").await;
        let id = issue["id"].as_i64().unwrap();
        let on_issue = format!("/api/issue/{id}/labels/");

        let doomed = app
            .send(
                "POST",
                "/api/labels/",
                Some(&boss),
                Some(json!({"name": format!("doomed{round}")})),
            )
            .await
            .json();
        let doomed_path = format!("/api/labels/{}/", doomed["id"]);
        let (add, delete) = tokio::join!(
            send(
                &app,
                "POST",
                &on_issue,
                &boss,
                &[],
                Some(json!({"labels": [doomed["name"]]}))
            ),
            send(&app, "DELETE", &doomed_path, &boss, &[], None),
        );
        assert_eq!(delete.status, 204, "round {round}: {}", delete.text);
        assert!(
            matches!(add.status, 200 | 400),
            "round {round}: adding a label being deleted: {} {}",
            add.status,
            add.text
        );
        let (shown, listed, replayed) = label_views(&app, &boss, id).await;
        assert!(
            shown.is_empty() && listed.is_empty(),
            "round {round}: {shown:?} {listed:?}"
        );
        assert_eq!(
            replayed, shown,
            "round {round}: the history does not rebuild the issue"
        );

        let old = format!("old{round}");
        let new = format!("new{round}");
        let renamed = app
            .send(
                "POST",
                "/api/labels/",
                Some(&boss),
                Some(json!({"name": old})),
            )
            .await
            .json();
        let renamed_path = format!("/api/labels/{}/", renamed["id"]);
        let (add, rename) = tokio::join!(
            send(
                &app,
                "POST",
                &on_issue,
                &boss,
                &[],
                Some(json!({"labels": [old]}))
            ),
            send(
                &app,
                "PATCH",
                &renamed_path,
                &boss,
                &[],
                Some(json!({"name": new}))
            ),
        );
        assert_eq!(rename.status, 200, "round {round}: {}", rename.text);
        assert!(
            matches!(add.status, 200 | 400),
            "round {round}: {} {}",
            add.status,
            add.text
        );
        let (shown, listed, _) = label_views(&app, &boss, id).await;
        assert_eq!(
            shown, listed,
            "round {round}: the issue and its labels disagree"
        );
        if add.status == 200 {
            assert_eq!(shown, std::slice::from_ref(&new), "round {round}");
        } else {
            assert!(shown.is_empty(), "round {round}: {shown:?}");
        }
    }
}

/// A comment posted while its issue is deleted: created before the deletion (and deleted with
/// it) or told the issue is gone (404), never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_comment_on_an_issue_being_deleted_is_never_a_500() {
    let app = spawn(Kind::Postgres).await;
    let bob = app.user_with_token("bob").await;
    for round in 0..400 {
        let issue = app.issue(&bob, &format!("round {round}"), "bob").await;
        let one = format!("/api/issue/{}/", issue["id"]);
        let comments = format!("{one}comments/");
        let (comment, delete) = tokio::join!(
            send(
                &app,
                "POST",
                &comments,
                &bob,
                &[],
                Some(json!({"body": "last words"}))
            ),
            send(&app, "DELETE", &one, &bob, &[], None),
        );
        assert_eq!(delete.status, 204, "round {round}: {}", delete.text);
        assert!(
            matches!(comment.status, 201 | 404),
            "round {round}: {} {}",
            comment.status,
            comment.text
        );
    }
}
