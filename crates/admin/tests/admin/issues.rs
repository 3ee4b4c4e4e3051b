//! Issues in the admin: add, change, delete with their history, bulk actions, paged lists, and
//! a thousand mixed changes replayed from the history.

use std::collections::HashMap;
use std::time::Duration;

use issue_tracker_domain::{EventType, IssueId, Via};
use issue_tracker_persistence::Database;
use issue_tracker_testkit::both_databases;

use crate::common::{Admin, CLI};

async fn issues_are_added_changed_and_deleted_with_their_history(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("bob", false, false);
    admin.user("ann", false, false);
    let mut boss = admin.logged_in("boss").await;

    // Errors next to their fields, in the API's words; what was typed is kept.
    let page = boss
        .submit(
            "/admin/issues/add/",
            "/admin/issues/add/",
            &[
                ("title", "  "),
                ("description", "kept <text>"),
                ("status", "done"),
                ("assigned_to", "nobody"),
                ("created_by", "boss"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page
        .text
        .contains("id=\"title-errors\"><li>This field may not be blank.</li>"));
    assert!(page.text.contains("&#34;done&#34; is not a valid choice."));
    assert!(page
        .text
        .contains("Object with username=nobody does not exist."));
    assert!(
        page.text.contains("kept &#60;text&#62;</textarea>"),
        "typed text kept, escaped"
    );
    assert!(page.text.contains("aria-invalid=\"true\""));
    assert_eq!(
        admin.db.count_issues_filtered(&Default::default()).unwrap(),
        0
    );

    // Added, with an event through the admin's door.
    let title = "<script>alert(1)</script> printer";
    let page = boss
        .submit(
            "/admin/issues/add/",
            "/admin/issues/add/",
            &[
                ("title", title),
                ("description", "d"),
                ("status", "open"),
                ("assigned_to", "bob"),
                ("created_by", "ann"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    let id = admin
        .db
        .list_issues_filtered(&Default::default(), 0, 10)
        .unwrap()[0]
        .id;
    let list = boss.get("/admin/issues/?q=printer&status=open").await;
    assert_eq!(list.status, 200);
    assert!(list.text.contains("1 found"));
    assert!(list
        .text
        .contains("&#60;script&#62;alert(1)&#60;/script&#62; printer"));
    assert!(!list.text.contains("<script>"), "never unescaped");
    assert_eq!(boss.total("/admin/issues/?q=nothing-like-it").await, 0);

    // Changed (the creator too), then back to the list with its filters.
    let back = "/admin/issues/?status=open&q=printer";
    let form_page = format!("/admin/issues/{id}/");
    let page = boss
        .submit(
            &form_page,
            &form_page,
            &[
                ("title", "Printer"),
                ("description", "d"),
                ("status", "closed"),
                ("assigned_to", "ann"),
                ("created_by", "bob"),
                ("back", back),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), format!("{back}&notice=saved"));
    let issue = admin.db.get_issue(id).unwrap().unwrap().issue;
    assert_eq!(
        (
            issue.title.as_str(),
            issue.status.as_str(),
            issue.assigned_to.as_str(),
            issue.created_by.as_str()
        ),
        ("Printer", "closed", "ann", "bob")
    );
    let change_page = boss.get(&form_page).await;
    assert!(change_page.text.contains("issue.updated"));
    assert!(change_page.text.contains("created_by: ann → bob"));
    let events = admin.events();
    let updated = events
        .iter()
        .find(|e| e.event_type == EventType::IssueUpdated)
        .unwrap();
    assert_eq!(updated.via, Via::Admin);
    assert_eq!(updated.actor.as_ref().unwrap().username, "boss");
    assert!(updated.request_id.is_some());
    let fields: Vec<&str> = updated.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        ["title", "status", "assigned_to", "created_by"],
        "the unchanged description is not listed"
    );

    // Deleting asks first; only the confirmation deletes.
    let confirm = boss.get(&format!("/admin/issues/{id}/delete/")).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.text.contains("Yes, delete it"));
    let csrf = confirm.csrf();
    let page = boss
        .post(&format!("/admin/issues/{id}/delete/"), &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, 303);
    assert!(
        admin.db.get_issue(id).unwrap().is_some(),
        "deleted without confirmation"
    );
    let page = boss
        .post(
            &format!("/admin/issues/{id}/delete/"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(page.status, 303);
    assert!(admin.db.get_issue(id).unwrap().is_none());
    let deleted = admin.events();
    let deleted = deleted.last().unwrap();
    assert_eq!(
        (deleted.event_type, deleted.via),
        (EventType::IssueDeleted, Via::Admin)
    );
    assert_eq!(boss.get(&form_page).await.status, 404);
}

async fn bulk_actions_ask_then_act_on_the_selected_rows(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("bob", false, false);
    let bob = admin.db.find_user("bob").unwrap().unwrap();
    let mut ids = Vec::new();
    for n in 0..3 {
        let new = issue_tracker_persistence::NewIssue {
            title: &issue_tracker_domain::Title::parse(&format!("issue {n}")).unwrap(),
            description: &issue_tracker_domain::Description::parse("d").unwrap(),
            status: issue_tracker_domain::Status::Open,
            assignee: "bob",
        };
        let issue = admin
            .db
            .create_issue(&bob, &new, Duration::from_secs(60), &CLI, Duration::ZERO)
            .unwrap()
            .unwrap();
        ids.push(issue.id);
    }
    let mut boss = admin.logged_in("boss").await;
    let list = boss.get("/admin/issues/").await;
    assert!(list.text.contains("3 found"));
    let csrf = list.csrf();
    let (a, b) = (ids[0].to_string(), ids[1].to_string());
    let selected = [
        ("csrf", csrf.as_str()),
        ("action", "close"),
        ("selected", &a),
        ("selected", &b),
        ("back", "/admin/issues/?status=open"),
    ];
    // First the confirmation page, listing what will change; nothing changed yet.
    let confirm = boss.post("/admin/issues/", &selected).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.text.contains("issue 0") && confirm.text.contains("issue 1"));
    assert!(!confirm.text.contains("issue 2"));
    let open = |db: &Database, id: IssueId| {
        db.get_issue(id).unwrap().unwrap().issue.status.as_str() == "open"
    };
    assert!(open(&admin.db, ids[0]) && open(&admin.db, ids[1]));
    let mut confirmed = selected.to_vec();
    confirmed.push(("confirm", "yes"));
    let page = boss.post("/admin/issues/", &confirmed).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/admin/issues/?status=open&notice=closed");
    assert!(!open(&admin.db, ids[0]) && !open(&admin.db, ids[1]) && open(&admin.db, ids[2]));
    let closes = admin
        .events()
        .into_iter()
        .filter(|e| e.event_type == EventType::IssueUpdated && e.via == Via::Admin)
        .count();
    assert_eq!(closes, 2);
    // Bulk delete, with its own confirmation.
    let c = ids[2].to_string();
    let mut delete = vec![
        ("csrf", csrf.as_str()),
        ("action", "delete"),
        ("selected", &c),
    ];
    assert_eq!(boss.post("/admin/issues/", &delete).await.status, 200);
    assert!(admin.db.get_issue(ids[2]).unwrap().is_some());
    delete.push(("confirm", "yes"));
    assert_eq!(boss.post("/admin/issues/", &delete).await.status, 303);
    assert!(admin.db.get_issue(ids[2]).unwrap().is_none());
    // Nothing selected: nothing happens, and the page says so.
    let page = boss
        .post("/admin/issues/", &[("csrf", &csrf), ("action", "close")])
        .await;
    assert!(page.location().ends_with("notice=none"));
}

async fn lists_are_paged_with_their_total_and_keep_their_filters(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("bob", false, false);
    let bob = admin.db.find_user("bob").unwrap().unwrap();
    for n in 0..60 {
        let new = issue_tracker_persistence::NewIssue {
            title: &issue_tracker_domain::Title::parse(&format!("paged {n}")).unwrap(),
            description: &issue_tracker_domain::Description::parse("d").unwrap(),
            status: issue_tracker_domain::Status::Open,
            assignee: "bob",
        };
        admin
            .db
            .create_issue(&bob, &new, Duration::from_secs(60), &CLI, Duration::ZERO)
            .unwrap();
    }
    let mut boss = admin.logged_in("boss").await;
    let first = boss.get("/admin/issues/?status=open&order=title").await;
    assert!(
        first.text.contains("60 found, page 1 of 2."),
        "{}",
        first.text
    );
    assert_eq!(first.text.matches("name=\"selected\"").count(), 50);
    assert!(first
        .text
        .contains("href=\"/admin/issues/?status=open&#38;order=title&#38;page=2\" rel=\"next\""));
    assert!(!first.text.contains("rel=\"prev\""));
    let second = boss
        .get("/admin/issues/?status=open&order=title&page=2")
        .await;
    assert!(second.text.contains("page 2 of 2."));
    assert_eq!(second.text.matches("name=\"selected\"").count(), 10);
    assert!(second.text.contains("rel=\"prev\""));
    // A page past the end shows the last one; a page that is not a number, the first.
    assert!(boss
        .get("/admin/issues/?page=99")
        .await
        .text
        .contains("page 2 of 2."));
    assert!(boss
        .get("/admin/issues/?page=x")
        .await
        .text
        .contains("page 1 of 2."));
    // Sorting by title: "paged 0", "paged 1", "paged 10", ... in order.
    let at = |text: &str, title: &str| text.find(&format!(">{title}</a>")).unwrap();
    assert!(at(&first.text, "paged 0") < at(&first.text, "paged 1"));
    assert!(at(&first.text, "paged 1") < at(&first.text, "paged 10"));
    // Bytes that are not UTF-8 in the query are read as replacement characters, never a 500.
    assert_eq!(boss.get("/admin/issues/?q=%FF%FE").await.status, 200);
}

/// History is complete: 1,000 changes mixed over the API, the admin and the CLI; replaying the
/// feed from nothing rebuilds exactly the issues that exist at the end.
async fn replaying_a_thousand_mixed_changes_rebuilds_every_issue(admin: Admin) {
    let names = ["ann", "bob", "carl"];
    for name in names {
        admin.user(name, false, false);
    }
    admin.user("spare", false, false);
    admin.user("boss", true, false);
    let api = reqwest::Client::new();
    let mut tokens = HashMap::new();
    for name in names.iter().chain(&["boss"]) {
        tokens.insert(
            name.to_string(),
            issue_tracker_testkit::api_token(&api, &admin.base, name).await,
        );
    }
    let mut boss = admin.logged_in("boss").await;
    let csrf = boss.get("/admin/").await.csrf();
    // The model: issue id -> its creator (who may change it through the API).
    let mut issues: Vec<(i64, String)> = Vec::new();
    let mut seed: u64 = 11;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut counts = HashMap::new();
    for step in 0..1000 {
        let someone = names[next(3) as usize].to_owned();
        let door = if issues.is_empty() { next(2) } else { next(3) };
        *counts.entry(door).or_insert(0) += 1;
        match (door, next(4)) {
            // The API: create, patch, put, delete.
            (0, kind) if kind == 0 || issues.is_empty() => {
                let reply = api
                    .post(format!("{}/api/issue/", admin.base))
                    .header("authorization", format!("Token {}", tokens[&someone]))
                    .json(&serde_json::json!({"title": format!("api {step}"), "description": "d", "status": "open", "assigned_to": names[next(3) as usize]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status(), 201);
                let id = reply.json::<serde_json::Value>().await.unwrap()["id"]
                    .as_i64()
                    .unwrap();
                issues.push((id, someone));
            }
            (0, kind) => {
                let index = next(issues.len() as u64) as usize;
                let (id, owner) = issues[index].clone();
                let url = format!("{}/api/issue/{id}/", admin.base);
                let auth = format!("Token {}", tokens[&owner]);
                let reply = match kind {
                    1 => api.patch(&url).header("authorization", auth).json(&serde_json::json!({"status": if next(2) == 0 { "open" } else { "closed" }, "assigned_to": names[next(3) as usize]})),
                    2 => api.put(&url).header("authorization", auth).json(&serde_json::json!({"title": format!("put {step}"), "description": format!("d{step}"), "status": "open", "assigned_to": names[next(3) as usize]})),
                    _ => {
                        issues.remove(index);
                        api.delete(&url).header("authorization", auth)
                    }
                }
                .send()
                .await
                .unwrap();
                assert!(reply.status().is_success(), "{}", reply.status());
            }
            // The admin: add, change (the creator too), delete, bulk close.
            (1, kind) if kind == 0 || issues.is_empty() => {
                let title = format!("admin {step}");
                let page = boss
                    .post(
                        "/admin/issues/add/",
                        &[
                            ("csrf", &csrf),
                            ("title", &title),
                            ("description", "d"),
                            ("status", "open"),
                            ("assigned_to", names[next(3) as usize]),
                            ("created_by", &someone),
                        ],
                    )
                    .await;
                assert_eq!(page.status, 303, "{}", page.text);
                let id: i64 = page.location().split('/').nth(3).unwrap().parse().unwrap();
                issues.push((id, someone));
            }
            (1, kind) => {
                let index = next(issues.len() as u64) as usize;
                let id = issues[index].0;
                let page = match kind {
                    1 => {
                        let title = format!("changed {step}");
                        let status = if next(2) == 0 { "open" } else { "closed" };
                        let page = boss
                            .post(
                                &format!("/admin/issues/{id}/"),
                                &[
                                    ("csrf", &csrf),
                                    ("title", &title),
                                    ("description", "by the admin"),
                                    ("status", status),
                                    ("assigned_to", names[next(3) as usize]),
                                    ("created_by", &someone),
                                ],
                            )
                            .await;
                        issues[index].1 = someone;
                        page
                    }
                    2 => {
                        let other = issues[next(issues.len() as u64) as usize].0.to_string();
                        let this = id.to_string();
                        boss.post(
                            "/admin/issues/",
                            &[
                                ("csrf", &csrf),
                                ("action", "close"),
                                ("selected", &this),
                                ("selected", &other),
                                ("confirm", "yes"),
                            ],
                        )
                        .await
                    }
                    _ => {
                        issues.remove(index);
                        boss.post(
                            &format!("/admin/issues/{id}/delete/"),
                            &[("csrf", &csrf), ("confirm", "yes")],
                        )
                        .await
                    }
                };
                assert_eq!(page.status, 303, "{}", page.text);
            }
            // The CLI: users come and go (their issues stay).
            _ => {
                let active = next(2) == 0;
                admin.db.set_active("spare", active, &CLI).unwrap();
            }
        }
    }
    assert!(
        counts.values().all(|&n| n > 200),
        "every door was used: {counts:?}"
    );

    let mut rebuilt: HashMap<i64, HashMap<String, serde_json::Value>> = HashMap::new();
    let mut after = 0;
    loop {
        let page: Vec<serde_json::Value> = api
            .get(format!(
                "{}/api/history/?after={after}&per_page=100",
                admin.base
            ))
            .header("authorization", format!("Token {}", tokens["boss"]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().unwrap();
        for event in &page {
            let Some(id) = event["issue"].as_i64() else {
                continue;
            };
            if event["type"] == "issue.deleted" {
                rebuilt.remove(&id);
                continue;
            }
            let fields = rebuilt.entry(id).or_default();
            for change in event["changes"].as_array().unwrap() {
                fields.insert(
                    change["field"].as_str().unwrap().to_owned(),
                    change["new"].clone(),
                );
            }
        }
    }
    let stored = admin
        .db
        .list_issues_filtered(&Default::default(), 0, 10_000)
        .unwrap();
    assert_eq!(stored.len(), issues.len());
    let actual: HashMap<i64, HashMap<String, serde_json::Value>> = stored
        .iter()
        .map(|issue| {
            let fields = [
                ("title", serde_json::json!(issue.title)),
                ("description", serde_json::json!(issue.description)),
                ("status", serde_json::json!(issue.status.as_str())),
                ("assigned_to", serde_json::json!(issue.assigned_to)),
                ("created_by", serde_json::json!(issue.created_by)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            (issue.id.get(), fields)
        })
        .collect();
    assert_eq!(rebuilt, actual);
}

async fn an_issue_page_lists_who_watches_it_and_why(admin: Admin) {
    admin.user("boss", true, false);
    for name in ["bob", "carl", "dana", "erin", "fred"] {
        admin.user(name, false, false);
    }
    let user = |name: &str| admin.db.find_user(name).unwrap().unwrap();
    let new = issue_tracker_persistence::NewIssue {
        title: &issue_tracker_domain::Title::parse("Printer").unwrap(),
        description: &issue_tracker_domain::Description::parse("Ask @dana.").unwrap(),
        status: issue_tracker_domain::Status::Open,
        assignee: "carl",
    };
    let issue = admin
        .db
        .create_issue(
            &user("bob"),
            &new,
            Duration::from_secs(60),
            &CLI,
            Duration::ZERO,
        )
        .unwrap()
        .unwrap();
    admin
        .db
        .create_comment(
            issue.id,
            &user("erin"),
            "me too (fred@example.com)",
            &CLI,
            std::time::Duration::from_secs(120),
        )
        .unwrap()
        .unwrap();
    // Carl, the assignee, stops watching; Fred, named only inside an address, watches by hand.
    admin
        .db
        .set_subscription(issue.id, &user("carl"), false)
        .unwrap();
    admin
        .db
        .set_subscription(issue.id, &user("fred"), true)
        .unwrap();

    let mut boss = admin.logged_in("boss").await;
    let page = boss.get(&format!("/admin/issues/{}/", issue.id)).await;
    assert_eq!(page.status, 200);
    let section = page
        .text
        .split("id=\"watchers\"")
        .nth(1)
        .expect("a watchers section");
    let section = section.split("</ul>").next().unwrap();
    for shown in [
        "bob (author)",
        "dana (mention)",
        "erin (comment)",
        "fred (manual)",
    ] {
        assert!(section.contains(shown), "{shown} missing from {section}");
    }
    assert!(
        !section.contains("carl"),
        "carl stopped watching: {section}"
    );
    let bob = user("bob").id.get();
    assert!(section.contains(&format!("href=\"/admin/users/{bob}/\"")));
}

both_databases!(
    |kind| crate::common::spawn(kind, &[]);
    an_issue_page_lists_who_watches_it_and_why,
    issues_are_added_changed_and_deleted_with_their_history,
    bulk_actions_ask_then_act_on_the_selected_rows,
    lists_are_paged_with_their_total_and_keep_their_filters,
    replaying_a_thousand_mixed_changes_rebuilds_every_issue,
);
