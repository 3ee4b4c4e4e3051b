//! Labels: every route on both databases, with permissions (staff, the issue's creator, others),
//! bad input that changes nothing, the `labels` key of issues, the filter, and the history.

use serde_json::{json, Value};

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

async fn staff(app: &TestApp) -> String {
    app.create_user_full("boss", "pw-boss", "", true);
    app.login("boss", "pw-boss").await
}

async fn label(app: &TestApp, token: &str, name: &str) -> Value {
    let reply = app
        .send(
            "POST",
            "/api/labels/",
            Some(token),
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect()
}

async fn labels_are_managed_by_staff_and_read_by_everyone(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let boss = staff(&app).await;
    let created = app
        .send(
            "POST",
            "/api/labels/",
            Some(&boss),
            Some(json!({"name": " bug ", "color": "#D73A4A", "description": "Something is wrong"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let bug = created.json();
    assert_eq!(
        bug.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "name", "color", "description"]
    );
    assert_eq!(
        (&bug["name"], &bug["color"], &bug["description"]),
        (
            &json!("bug"),
            &json!("#d73a4a"),
            &json!("Something is wrong")
        )
    );
    let ui = label(&app, &boss, "UI").await;
    assert_eq!(
        (&ui["color"], &ui["description"]),
        (&json!("#ededed"), &json!(""))
    );
    label(&app, &boss, "api").await;

    // Everyone authenticated reads, sorted by name regardless of case; nobody else.
    let list = app.send("GET", "/api/labels/", Some(&ann), None).await;
    assert_eq!(list.status, 200);
    assert_eq!(names(&list.json()), ["api", "bug", "UI"]);
    let etag = list.header("etag").unwrap().to_owned();
    let again = app
        .raw(
            "GET",
            "/api/labels/",
            &[
                ("Authorization", &format!("Token {ann}")),
                ("If-None-Match", &etag),
            ],
            Vec::new(),
        )
        .await;
    assert_eq!(again.status, 304);
    assert_eq!(
        app.send("GET", "/api/labels/", None, None).await.status,
        401
    );
    let one = app
        .send(
            "GET",
            &format!("/api/labels/{}/", bug["id"]),
            Some(&ann),
            None,
        )
        .await;
    assert_eq!((one.status, one.json()), (200, bug.clone()));

    // Only staff write: 403 for others (even with a bad body), 401 without a token.
    let refused = [
        (
            "POST",
            "/api/labels/".to_owned(),
            Some(json!({"name": "x"})),
        ),
        ("POST", "/api/labels/".to_owned(), Some(json!({"color": 1}))),
        (
            "PATCH",
            format!("/api/labels/{}/", bug["id"]),
            Some(json!({"name": "y"})),
        ),
        ("DELETE", format!("/api/labels/{}/", bug["id"]), None),
    ];
    for (method, path, body) in &refused {
        let reply = app.send(method, path, Some(&ann), body.clone()).await;
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.text);
        let anonymous = app.send(method, path, None, body.clone()).await;
        assert_eq!(anonymous.status, 401, "{method} {path}");
    }

    // Bad input: 400 keyed by field, nothing written.
    let bad = [
        (json!({}), "name"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "x".repeat(51)}), "name"),
        (json!({"name": "tab\there"}), "name"),
        (json!({"name": ["bug"]}), "name"),
        (json!({"name": "ok", "color": "red"}), "color"),
        (json!({"name": "ok", "color": "#12345"}), "color"),
        (
            json!({"name": "ok", "description": "d".repeat(101)}),
            "description",
        ),
        (json!({"name": "BUG"}), "name"),
        (json!({"name": " Ui "}), "name"),
    ];
    for (body, field) in &bad {
        let reply = app
            .send("POST", "/api/labels/", Some(&boss), Some(body.clone()))
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        assert!(reply.json()[field].is_array(), "{body}: {}", reply.text);
    }
    let taken = app
        .send(
            "POST",
            "/api/labels/",
            Some(&boss),
            Some(json!({"name": "Bug"})),
        )
        .await;
    assert_eq!(
        taken.json(),
        json!({"name": ["A label with this name already exists."]})
    );
    let not_json = app
        .raw(
            "POST",
            "/api/labels/",
            &[
                ("Authorization", &format!("Token {boss}")),
                ("Content-Type", "application/json"),
            ],
            b"{\"name\":".to_vec(),
        )
        .await;
    assert_eq!(not_json.status, 400);
    let after = app.send("GET", "/api/labels/", Some(&ann), None).await;
    assert_eq!(names(&after.json()), ["api", "bug", "UI"]);

    // Staff change any field; a taken name is refused; the same label may change its case.
    let path = format!("/api/labels/{}/", ui["id"]);
    let patched = app
        .send(
            "PATCH",
            &path,
            Some(&boss),
            Some(json!({"description": "Looks", "color": "#00FF00"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(
        (
            &patched.json()["name"],
            &patched.json()["color"],
            &patched.json()["description"]
        ),
        (&json!("UI"), &json!("#00ff00"), &json!("Looks"))
    );
    let clash = app
        .send("PATCH", &path, Some(&boss), Some(json!({"name": "API"})))
        .await;
    assert_eq!(clash.status, 400, "{}", clash.text);
    assert!(clash.json()["name"].is_array());
    let recased = app
        .send("PATCH", &path, Some(&boss), Some(json!({"name": "ui"})))
        .await;
    assert_eq!(
        (recased.status, &recased.json()["name"]),
        (200, &json!("ui"))
    );
    let blank = app
        .send("PATCH", &path, Some(&boss), Some(json!({"name": ""})))
        .await;
    assert_eq!(blank.status, 400);
    let cleared = app
        .send(
            "PATCH",
            &path,
            Some(&boss),
            Some(json!({"description": ""})),
        )
        .await;
    assert_eq!(
        (cleared.status, &cleared.json()["description"]),
        (200, &json!(""))
    );

    // Missing labels: 404; then delete.
    for method in ["GET", "PATCH", "DELETE"] {
        let body = (method == "PATCH").then(|| json!({"name": "z"}));
        for missing in ["/api/labels/999999/", "/api/labels/abc/", "/api/labels/0/"] {
            let reply = app.send(method, missing, Some(&boss), body.clone()).await;
            assert_eq!(reply.status, 404, "{method} {missing}");
        }
    }
    assert_eq!(
        app.send("DELETE", &path, Some(&boss), None).await.status,
        204
    );
    assert_eq!(app.send("GET", &path, Some(&boss), None).await.status, 404);
    assert_eq!(
        app.send("DELETE", &path, Some(&boss), None).await.status,
        404
    );
    let put = app
        .send("PUT", "/api/labels/", Some(&ann), Some(json!({})))
        .await;
    assert_eq!(
        (put.status, put.header("allow")),
        (405, Some("GET, HEAD, POST"))
    );
}

async fn issue_labels_are_set_by_its_creator_or_staff_and_show_on_the_issue(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let boss = staff(&app).await;
    let bug = label(&app, &boss, "bug").await;
    label(&app, &boss, "ui").await;
    label(&app, &boss, "Docs").await;
    let issue = app.issue(&ann, "Printer", "bob").await;
    assert_eq!(issue["labels"], json!([]));
    assert_eq!(
        issue.as_object().unwrap().keys().next_back().unwrap(),
        "labels"
    );
    let id = issue["id"].as_i64().unwrap();
    let path = format!("/api/issue/{id}/labels/");
    let etag = app.fetch(&ann, id).await.header("etag").unwrap().to_owned();

    // The creator adds (any case; duplicates once); the answer is the issue's labels now.
    let added = app
        .send(
            "POST",
            &path,
            Some(&ann),
            Some(json!({"labels": ["UI", "bug", "Bug"]})),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(names(&added.json()), ["bug", "ui"]);
    let shown = app.fetch(&ann, id).await;
    assert_eq!(shown.json()["labels"], json!(["bug", "ui"]));
    assert_ne!(
        shown.header("etag").unwrap(),
        etag,
        "the ETag moves with the labels"
    );
    let listed = app.send("GET", "/api/issue/", Some(&bob), None).await;
    assert_eq!(listed.json()[0]["labels"], json!(["bug", "ui"]));
    let read = app.send("GET", &path, Some(&bob), None).await;
    assert_eq!((read.status, names(&read.json())), (200, vec!["bug", "ui"]));

    // Others may not (the assignee included), even with a bad body; no token: 401.
    for (method, body) in [
        ("POST", json!({"labels": ["docs"]})),
        ("PUT", json!({"labels": []})),
        ("POST", json!({"labels": "nope"})),
    ] {
        let reply = app
            .send(method, &path, Some(&bob), Some(body.clone()))
            .await;
        assert_eq!(reply.status, 403, "{method} {body}: {}", reply.text);
        assert_eq!(app.send(method, &path, None, Some(body)).await.status, 401);
    }
    let bob_delete = app
        .send("DELETE", &format!("{path}bug/"), Some(&bob), None)
        .await;
    assert_eq!(bob_delete.status, 403);

    // Bad lists and unknown names: 400, nothing changed (not even updated_at).
    let before = app.fetch(&ann, id).await.json();
    for body in [
        json!({}),
        json!({"labels": null}),
        json!({"labels": "bug"}),
        json!({"labels": []}),
        json!({"labels": [1]}),
        json!({"labels": [""]}),
        json!({"labels": ["docs", "nope"]}),
        json!({"labels": vec!["bug"; 101]}),
    ] {
        let reply = app
            .send("POST", &path, Some(&ann), Some(body.clone()))
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        assert!(reply.json()["labels"].is_array(), "{body}: {}", reply.text);
    }
    let unknown = app
        .send(
            "PUT",
            &path,
            Some(&ann),
            Some(json!({"labels": ["docs", "nope"]})),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.json()),
        (
            400,
            json!({"labels": ["There is no label named \"nope\"."]})
        )
    );
    assert_eq!(app.fetch(&ann, id).await.json(), before);

    // Staff may; PUT replaces; DELETE takes one off by name (any case); then 404.
    let replaced = app
        .send(
            "PUT",
            &path,
            Some(&boss),
            Some(json!({"labels": ["docs", "ui"]})),
        )
        .await;
    assert_eq!(
        (replaced.status, names(&replaced.json())),
        (200, vec!["Docs", "ui"])
    );
    let removed = app
        .send("DELETE", &format!("{path}DOCS/"), Some(&ann), None)
        .await;
    assert_eq!((removed.status, names(&removed.json())), (200, vec!["ui"]));
    for gone in ["docs", "bug", "nope", "%20"] {
        let reply = app
            .send("DELETE", &format!("{path}{gone}/"), Some(&ann), None)
            .await;
        assert_eq!(reply.status, 404, "{gone}");
    }
    for missing in ["/api/issue/999999/labels/", "/api/issue/x/labels/"] {
        assert_eq!(app.send("GET", missing, Some(&ann), None).await.status, 404);
        let post = app
            .send("POST", missing, Some(&ann), Some(json!({"labels": ["ui"]})))
            .await;
        assert_eq!(post.status, 404);
    }

    // Renaming a label shows on its issues and moves their updated_at; deleting takes it off.
    let ui_id = app
        .send("GET", "/api/labels/", Some(&ann), None)
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "ui")
        .unwrap()["id"]
        .clone();
    let before = app.fetch(&ann, id).await.json();
    let renamed = app
        .send(
            "PATCH",
            &format!("/api/labels/{ui_id}/"),
            Some(&boss),
            Some(json!({"name": "frontend"})),
        )
        .await;
    assert_eq!(renamed.status, 200);
    let after = app.fetch(&ann, id).await.json();
    assert_eq!(after["labels"], json!(["frontend"]));
    assert_ne!(after["updated_at"], before["updated_at"]);
    app.send("POST", &path, Some(&ann), Some(json!({"labels": ["bug"]})))
        .await;
    assert_eq!(
        app.send(
            "DELETE",
            &format!("/api/labels/{}/", bug["id"]),
            Some(&boss),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        app.fetch(&ann, id).await.json()["labels"],
        json!(["frontend"])
    );

    // The history: one event per label put on or taken off (a deleted label included), by whom.
    let history = app
        .send(
            "GET",
            &format!("/api/issue/{id}/history/"),
            Some(&ann),
            None,
        )
        .await
        .json();
    let label_events: Vec<(String, Value, Value)> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("label."))
        .map(|e| {
            (
                format!(
                    "{} by {}",
                    e["type"].as_str().unwrap(),
                    e["actor"]["username"].as_str().unwrap()
                ),
                e["changes"][0]["old"].clone(),
                e["changes"][0]["new"].clone(),
            )
        })
        .collect();
    assert_eq!(
        label_events,
        [
            ("label.added by ann".to_owned(), Value::Null, json!("bug")),
            ("label.added by ann".to_owned(), Value::Null, json!("ui")),
            ("label.added by boss".to_owned(), Value::Null, json!("Docs")),
            (
                "label.removed by boss".to_owned(),
                json!("bug"),
                Value::Null
            ),
            (
                "label.removed by ann".to_owned(),
                json!("Docs"),
                Value::Null
            ),
            ("label.added by ann".to_owned(), Value::Null, json!("bug")),
            // Deleting the label takes it off the issue, in the history too.
            (
                "label.removed by boss".to_owned(),
                json!("bug"),
                Value::Null
            ),
        ]
    );
}

async fn the_label_filter_finds_issues_carrying_all_of_them(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let boss = staff(&app).await;
    for name in ["bug", "ui", "docs"] {
        label(&app, &boss, name).await;
    }
    let sets: [&[&str]; 6] = [
        &["bug"],
        &["bug", "ui"],
        &["ui"],
        &[],
        &["bug", "ui", "docs"],
        &["docs"],
    ];
    let mut ids = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        let id = app.issue(&ann, &format!("issue {i}"), "ann").await["id"]
            .as_i64()
            .unwrap();
        if !set.is_empty() {
            let reply = app
                .send(
                    "POST",
                    &format!("/api/issue/{id}/labels/"),
                    Some(&ann),
                    Some(json!({"labels": set})),
                )
                .await;
            assert_eq!(reply.status, 200);
        }
        ids.push(id);
    }
    let found = |query: &'static str| {
        let app = &app;
        let ann = ann.clone();
        async move {
            let reply = app
                .send("GET", &format!("/api/issue/?{query}"), Some(&ann), None)
                .await;
            assert_eq!(reply.status, 200, "{query}: {}", reply.text);
            let list: Vec<i64> = reply
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap())
                .collect();
            (list, reply.header("x-total-count").map(str::to_owned))
        }
    };
    let pick = |idx: &[usize]| idx.iter().map(|&i| ids[i]).collect::<Vec<_>>();
    assert_eq!(found("label=bug").await.0, pick(&[0, 1, 4]));
    assert_eq!(found("label=BUG&label=ui").await.0, pick(&[1, 4]));
    assert_eq!(found("label=bug&label=ui&label=docs").await.0, pick(&[4]));
    assert_eq!(found("label=ui&label=ui").await.0, pick(&[1, 2, 4]));
    assert_eq!(found("label=bug&label=nope").await.0, Vec::<i64>::new());
    assert_eq!(found("label=nope").await.0, Vec::<i64>::new());
    assert_eq!(
        found("label=").await.0.len(),
        6,
        "an empty value is no filter"
    );
    let paged = found("label=bug&per_page=2&page=2&ordering=-id").await;
    assert_eq!((paged.0, paged.1.as_deref()), (pick(&[0]), Some("3")));
    let with_text = found("label=ui&q=issue%204").await;
    assert_eq!(with_text.0, pick(&[4]));
    let long = app
        .send(
            "GET",
            &format!("/api/issue/?label={}", "x".repeat(201)),
            Some(&ann),
            None,
        )
        .await;
    assert_eq!(long.status, 400);
    assert!(long.json()["label"].is_array());
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    labels_are_managed_by_staff_and_read_by_everyone,
    issue_labels_are_set_by_its_creator_or_staff_and_show_on_the_issue,
    the_label_filter_finds_issues_carrying_all_of_them,
);
