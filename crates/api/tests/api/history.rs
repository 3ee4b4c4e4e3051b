//! The history: one event per change, in the change's transaction, from every path; the issue's
//! history and the staff feed, paged by cursor. The feed's own tests are in `history/feed.rs`.

use std::collections::BTreeMap;

use issue_tracker_domain::{Origin, Via};
use serde_json::{json, Value};

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

mod feed;

const CLI: Origin = Origin {
    actor: None,
    via: Via::Cli,
    request_id: None,
};

async fn staff(app: &TestApp, name: &str) -> String {
    app.create_user_full(name, &format!("pw-{name}"), "", true);
    app.login(name, &format!("pw-{name}")).await
}

async fn history(app: &TestApp, token: &str, id: i64) -> Vec<Value> {
    let reply = app
        .send(
            "GET",
            &format!("/api/issue/{id}/history/"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json().as_array().unwrap().clone()
}

/// Every event of the staff feed, following `after` page by page.
async fn feed(app: &TestApp, token: &str, per_page: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let reply = app
            .send(
                "GET",
                &format!("/api/history/?after={after}&per_page={per_page}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let page = reply.json().as_array().unwrap().clone();
        assert!(page.len() <= per_page);
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().unwrap();
        let next = reply.header("link").map(str::to_owned);
        all.extend(page);
        match next {
            Some(link) => assert!(link.contains(&format!("after={after}&")), "{link}"),
            None => break,
        }
    }
    all
}

fn changes(event: &Value) -> BTreeMap<String, (Value, Value)> {
    event["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap().to_owned(),
                (c["old"].clone(), c["new"].clone()),
            )
        })
        .collect()
}

async fn each_api_change_writes_one_event(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    app.create_user("bob", "x");
    app.create_user("carl", "x");
    let boss = staff(&app, "boss").await;
    let created = app
        .raw(
            "POST",
            "/api/issue/",
            &[
                ("Authorization", &format!("Token {ann}")),
                ("Content-Type", "application/json"),
                ("X-Request-Id", "create-1"),
            ],
            json!({"title": "Printer", "description": "on fire", "status": "open", "assigned_to": "bob"})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["id"].as_i64().unwrap();
    let path = format!("/api/issue/{id}/");
    let patch = |body: Value| {
        let (app, ann, path) = (&app, &ann, &path);
        async move {
            let reply = app.send("PATCH", path, Some(ann), Some(body)).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
        }
    };
    patch(json!({"status": "closed"})).await;
    // The same values again: a write that changes nothing writes no event.
    patch(json!({"status": "closed", "assigned_to": "bob"})).await;
    let replaced = app
        .send("PUT", &path, Some(&ann), Some(json!({"title": "Printer!", "description": "on fire", "status": "closed", "assigned_to": "carl"})))
        .await;
    assert_eq!(replaced.status, 200);

    let events = history(&app, &ann, id).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["issue.created", "issue.updated", "issue.updated"]);
    let first = &events[0];
    assert_eq!(
        first["actor"],
        json!({"id": first["actor"]["id"], "username": "ann"})
    );
    assert_eq!(first["via"], "api");
    assert_eq!(first["request_id"], "create-1");
    assert_eq!(first["issue"], id);
    assert_eq!(
        changes(first),
        BTreeMap::from([
            ("title".into(), (Value::Null, json!("Printer"))),
            ("description".into(), (Value::Null, json!("on fire"))),
            ("status".into(), (Value::Null, json!("open"))),
            ("assigned_to".into(), (Value::Null, json!("bob"))),
            ("created_by".into(), (Value::Null, json!("ann"))),
        ])
    );
    assert_eq!(
        changes(&events[1]),
        BTreeMap::from([("status".into(), (json!("open"), json!("closed")))])
    );
    assert_eq!(
        changes(&events[2]),
        BTreeMap::from([
            ("title".into(), (json!("Printer"), json!("Printer!"))),
            ("assigned_to".into(), (json!("bob"), json!("carl"))),
        ])
    );
    // A request id is made when the client sends none, and recorded.
    assert!(events[1]["request_id"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    assert!(events
        .windows(2)
        .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()));

    // Refused writes write nothing.
    let bob = app.login("bob", "x").await;
    let refused = app
        .send("PATCH", &path, Some(&bob), Some(json!({"status": "open"})))
        .await;
    assert_eq!(refused.status, 403);
    let stale = app
        .raw(
            "PATCH",
            &path,
            &[
                ("Authorization", &format!("Token {ann}")),
                ("Content-Type", "application/json"),
                ("If-Match", "W/\"1-1\""),
            ],
            br#"{"status": "open"}"#.to_vec(),
        )
        .await;
    assert_eq!(stale.status, 412);
    let invalid = app
        .send("PATCH", &path, Some(&ann), Some(json!({"status": "done"})))
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(history(&app, &ann, id).await.len(), 3);

    // Any authenticated user reads it; the history outlives the issue, for staff.
    assert_eq!(history(&app, &bob, id).await.len(), 3);
    assert_eq!(
        app.send("DELETE", &path, Some(&ann), None).await.status,
        204
    );
    let after_delete = app
        .send("GET", &format!("{path}history/"), Some(&ann), None)
        .await;
    assert_eq!(after_delete.status, 404);
    assert_eq!(after_delete.json(), json!({"detail": "Not found."}));
    let events = history(&app, &boss, id).await;
    let deleted = events.last().unwrap();
    assert_eq!(deleted["type"], "issue.deleted");
    assert_eq!(
        changes(deleted)["title"],
        (json!("Printer!"), Value::Null),
        "the deletion keeps a snapshot"
    );
    assert_eq!(
        changes(deleted)["assigned_to"],
        (json!("carl"), Value::Null)
    );
    assert_eq!(events.len(), 4);
}

async fn history_is_paged_by_cursor_with_an_etag(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    app.create_user("bob", "x");
    let id = app.issue(&ann, "t0", "bob").await["id"].as_i64().unwrap();
    for n in 1..=4 {
        let reply = app
            .send(
                "PATCH",
                &format!("/api/issue/{id}/"),
                Some(&ann),
                Some(json!({"title": format!("t{n}")})),
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    // Five events, two per page: three pages, each linking to the next.
    let mut seen = Vec::new();
    let mut url = format!("/api/issue/{id}/history/?per_page=2");
    loop {
        let reply = app.send("GET", &url, Some(&ann), None).await;
        assert_eq!(reply.status, 200);
        seen.extend(reply.json().as_array().unwrap().clone());
        let Some(link) = reply.header("link") else {
            break;
        };
        assert!(link.ends_with("; rel=\"next\""), "{link}");
        let target = link.trim_start_matches('<').split('>').next().unwrap();
        url = target.trim_start_matches(&app.base).to_owned();
    }
    let titles: Vec<Value> = seen.iter().map(|e| changes(e)["title"].1.clone()).collect();
    assert_eq!(
        titles,
        [
            json!("t0"),
            json!("t1"),
            json!("t2"),
            json!("t3"),
            json!("t4")
        ]
    );

    // ETag and If-None-Match; a new event changes the tag.
    let first = app
        .send(
            "GET",
            &format!("/api/issue/{id}/history/"),
            Some(&ann),
            None,
        )
        .await;
    let etag = first.header("etag").unwrap().to_owned();
    let if_none_match = |etag: String| {
        let (app, ann) = (&app, ann.clone());
        async move {
            let headers = [
                ("Authorization", format!("Token {ann}")),
                ("If-None-Match", etag),
            ];
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.raw(
                "GET",
                &format!("/api/issue/{id}/history/"),
                &headers,
                Vec::new(),
            )
            .await
        }
    };
    let cached = if_none_match(etag.clone()).await;
    assert_eq!(cached.status, 304);
    app.send(
        "PATCH",
        &format!("/api/issue/{id}/"),
        Some(&ann),
        Some(json!({"status": "closed"})),
    )
    .await;
    let fresh = if_none_match(etag).await;
    assert_eq!(fresh.status, 200);
    assert_eq!(fresh.json().as_array().unwrap().len(), 6);

    // Bad input: a clear 400 keyed by the parameter; no token: 401; no issue: 404.
    for (query, key) in [
        ("after=-1", "after"),
        ("after=x", "after"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("per_page=2.5", "per_page"),
    ] {
        let reply = app
            .send(
                "GET",
                &format!("/api/issue/{id}/history/?{query}"),
                Some(&ann),
                None,
            )
            .await;
        assert_eq!(reply.status, 400, "{query}");
        assert!(reply.json()[key].is_array(), "{query}: {}", reply.text);
    }
    let anonymous = app
        .send("GET", &format!("/api/issue/{id}/history/"), None, None)
        .await;
    assert_eq!(anonymous.status, 401);
    for missing in ["999999", "0", "abc"] {
        let reply = app
            .send(
                "GET",
                &format!("/api/issue/{missing}/history/"),
                Some(&ann),
                None,
            )
            .await;
        assert_eq!(reply.status, 404, "{missing}");
    }
    let post = app
        .send(
            "POST",
            &format!("/api/issue/{id}/history/"),
            Some(&ann),
            Some(json!({})),
        )
        .await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

/// A deterministic mix of creations, changes, replacements and deletions by three users; the
/// events, replayed from nothing, rebuild exactly the issues the API holds at the end.
async fn replaying_the_history_rebuilds_every_issue(app: TestApp) {
    let names = ["ann", "bob", "carl"];
    let mut tokens = Vec::new();
    for name in names {
        tokens.push(app.user_with_token(name).await);
    }
    let boss = staff(&app, "boss").await;
    let mut issues: Vec<(i64, usize)> = Vec::new();
    let mut seed: u64 = 7;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for step in 0..150 {
        let who = next(3) as usize;
        let choice = if issues.is_empty() { 0 } else { next(10) };
        match choice {
            0..=3 => {
                let issue = app
                    .issue(
                        &tokens[who],
                        &format!("issue {step}"),
                        names[next(3) as usize],
                    )
                    .await;
                issues.push((issue["id"].as_i64().unwrap(), who));
            }
            4..=7 => {
                let (id, owner) = issues[next(issues.len() as u64) as usize];
                let body = match next(3) {
                    0 => json!({"status": if next(2) == 0 { "open" } else { "closed" }}),
                    1 => {
                        json!({"assigned_to": names[next(3) as usize], "title": format!("step {step}")})
                    }
                    _ => json!({"description": format!("d{}", next(3))}),
                };
                let reply = app
                    .send(
                        "PATCH",
                        &format!("/api/issue/{id}/"),
                        Some(&tokens[owner]),
                        Some(body),
                    )
                    .await;
                assert_eq!(reply.status, 200);
            }
            8 => {
                let (id, owner) = issues[next(issues.len() as u64) as usize];
                let reply = app
                    .send("PUT", &format!("/api/issue/{id}/"), Some(&tokens[owner]), Some(json!({"title": format!("put {step}"), "description": format!("put d{step}"), "status": "open", "assigned_to": names[next(3) as usize]})))
                    .await;
                assert_eq!(reply.status, 200, "{}", reply.text);
            }
            _ => {
                let index = next(issues.len() as u64) as usize;
                let (id, owner) = issues.remove(index);
                let reply = app
                    .send(
                        "DELETE",
                        &format!("/api/issue/{id}/"),
                        Some(&tokens[owner]),
                        None,
                    )
                    .await;
                assert_eq!(reply.status, 204);
            }
        }
    }

    let mut rebuilt: BTreeMap<i64, BTreeMap<String, Value>> = BTreeMap::new();
    for event in feed(&app, &boss, 100).await {
        let Some(id) = event["issue"].as_i64() else {
            continue;
        };
        match event["type"].as_str().unwrap() {
            "issue.deleted" => {
                rebuilt.remove(&id);
            }
            _ => {
                let fields = rebuilt.entry(id).or_default();
                for (field, (_, new)) in changes(&event) {
                    fields.insert(field, new);
                }
            }
        }
    }
    let listed = app
        .send("GET", "/api/issue/?per_page=100&page=1", Some(&boss), None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let mut actual: BTreeMap<i64, BTreeMap<String, Value>> = BTreeMap::new();
    for issue in listed.json().as_array().unwrap() {
        let fields = [
            "title",
            "description",
            "status",
            "assigned_to",
            "created_by",
        ]
        .iter()
        .map(|f| (f.to_string(), issue[*f].clone()))
        .collect();
        actual.insert(issue["id"].as_i64().unwrap(), fields);
    }
    assert_eq!(actual.len(), issues.len());
    assert_eq!(rebuilt, actual);
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    each_api_change_writes_one_event,
    history_is_paged_by_cursor_with_an_etag,
    replaying_the_history_rebuilds_every_issue,
);
