//! Labels and webhooks in the admin.

use std::time::Duration;

use issue_tracker_testkit::both_databases;

use crate::common::{Admin, CLI};

/// Labels: add (the API's rules and messages), change (the new name shows on its issues), list
/// with a link to their issues, delete after a confirmation.
async fn labels_are_managed_from_the_admin(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("bob", false, false);
    let bob = admin.db.find_user("bob").unwrap().unwrap();
    let new = issue_tracker_persistence::NewIssue {
        title: &issue_tracker_domain::Title::parse("t").unwrap(),
        description: &issue_tracker_domain::Description::parse("d").unwrap(),
        status: issue_tracker_domain::Status::Open,
        assignee: "bob",
    };
    let issue = admin
        .db
        .create_issue(&bob, &new, Duration::ZERO, &CLI, Duration::ZERO)
        .unwrap()
        .unwrap();
    let mut boss = admin.logged_in("boss").await;
    let added = boss
        .submit(
            "/admin/labels/add/",
            "/admin/labels/add/",
            &[
                ("name", " bug "),
                ("color", "#D73A4A"),
                ("description", "Broken"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.text);
    let label = admin.db.list_labels().unwrap()[0].clone();
    assert_eq!(
        (label.name.as_str(), label.color.as_str()),
        ("bug", "#d73a4a")
    );
    // The same name in another case, and a bad colour: the API's messages, nothing added.
    let refused = boss
        .submit(
            "/admin/labels/add/",
            "/admin/labels/add/",
            &[("name", "BUG"), ("color", "#ededed"), ("description", "")],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused
        .text
        .contains("A label with this name already exists."));
    let bad_colour = boss
        .submit(
            "/admin/labels/add/",
            "/admin/labels/add/",
            &[("name", "ui"), ("color", "red"), ("description", "")],
        )
        .await;
    assert_eq!(bad_colour.status, 400);
    assert!(bad_colour.text.contains("#rrggbb"));
    assert_eq!(admin.db.list_labels().unwrap().len(), 1);
    admin
        .db
        .edit_issue_labels(
            issue.id,
            &issue_tracker_persistence::LabelEdit::Add(vec!["bug".into()]),
            &issue_tracker_persistence::WriteCondition {
                creator: None,
                version: None,
            },
            &CLI,
        )
        .unwrap()
        .unwrap();
    let list = boss.get("/admin/labels/").await;
    assert!(list.text.contains("/admin/issues/?label=bug"));
    assert_eq!(boss.total("/admin/issues/?label=bug").await, 1);
    assert_eq!(boss.total("/admin/issues/?label=nope").await, 0);
    let path = format!("/admin/labels/{}/", label.id);
    let changed = boss
        .submit(
            &path,
            &path,
            &[
                ("name", "defect"),
                ("color", "#000000"),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.text);
    assert_eq!(
        admin.db.get_issue(issue.id).unwrap().unwrap().issue.labels,
        ["defect"]
    );
    let confirm = boss.get(&format!("{path}delete/")).await;
    assert!(confirm.text.contains("takes the label off every issue"));
    let deleted = boss
        .submit(
            &format!("{path}delete/"),
            &format!("{path}delete/"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(deleted.status, 303);
    assert!(admin.db.list_labels().unwrap().is_empty());
    assert!(admin
        .db
        .get_issue(issue.id)
        .unwrap()
        .unwrap()
        .issue
        .labels
        .is_empty());
}

/// Webhooks: add one (its secret shown once; internal literal addresses refused), its delivery
/// log with the attempts, redeliver the selected, ping, turn it off.
async fn webhooks_and_their_deliveries_from_the_admin(admin: Admin) {
    admin.user("boss", true, false);
    let mut boss = admin.logged_in("boss").await;
    let refused = boss
        .submit(
            "/admin/webhooks/add/",
            "/admin/webhooks/add/",
            &[
                ("url", "http://169.254.169.254/"),
                ("events", "*"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.text.contains("internal address"));
    let bad_events = boss
        .submit(
            "/admin/webhooks/add/",
            "/admin/webhooks/add/",
            &[
                ("url", "https://hooks.example.com/"),
                ("events", "issue.exploded"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(bad_events.status, 400);
    assert!(admin.db.list_webhooks().unwrap().is_empty());
    let added = boss
        .submit(
            "/admin/webhooks/add/",
            "/admin/webhooks/add/",
            &[
                ("url", "https://hooks.example.com/in"),
                ("events", "issue.created, user.created"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert!(added.text.contains("shown this once: whsec_"));
    let hook = admin.db.list_webhooks().unwrap()[0].clone();
    assert_eq!(hook.events, ["issue.created", "user.created"]);
    // An event becomes a delivery; the log shows it; redeliver it.
    admin.user("bob", false, false);
    let path = format!("/admin/webhooks/{}/", hook.id);
    let log = boss.get(&path).await;
    assert!(log.text.contains("user.created"), "{}", log.text);
    assert_eq!(boss.total(&path).await, 1);
    let (deliveries, _) = admin
        .db
        .list_deliveries(hook.id, None, 0, 10)
        .unwrap()
        .unwrap();
    let did = deliveries[0].id.to_string();
    let redelivered = boss
        .submit(&path, &path, &[("action", "redeliver"), ("selected", &did)])
        .await;
    assert_eq!(redelivered.status, 303);
    let (after, total) = admin
        .db
        .list_deliveries(hook.id, None, 0, 10)
        .unwrap()
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(after[0].message_id, after[1].message_id);
    let pinged = boss.submit(&path, &format!("{path}ping/"), &[]).await;
    assert_eq!(pinged.status, 303);
    assert_eq!(boss.total(&format!("{path}?status=pending")).await, 3);
    let off = boss.submit(&path, &format!("{path}toggle/"), &[]).await;
    assert_eq!(off.status, 303);
    assert!(!admin.db.get_webhook(hook.id).unwrap().unwrap().active);
    assert_eq!(boss.get("/admin/webhooks/999999/").await.status, 404);
}

both_databases!(
    |kind| crate::common::spawn(kind, &[]);
    labels_are_managed_from_the_admin,
    webhooks_and_their_deliveries_from_the_admin,
);
