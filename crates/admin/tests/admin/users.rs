//! Users in the admin: add and change (only superusers grant privileges), tokens, email
//! preferences.

use std::time::Duration;

use issue_tracker_domain::{EventType, Via};
use issue_tracker_testkit::both_databases;

use crate::common::Admin;

async fn users_are_managed_and_only_superusers_grant_privileges(admin: Admin) {
    admin.user("root", true, true);
    admin.user("boss", true, false);
    admin.user("ann", false, false);
    let ann = admin.db.find_user("ann").unwrap().unwrap();
    let token = issue_tracker_domain::NewToken::generate();
    admin
        .db
        .insert_token(ann.id, &token, Duration::from_secs(3600))
        .unwrap();
    let mut boss = admin.logged_in("boss").await;

    let list = boss.get("/admin/users/?q=ANN").await;
    assert!(list.text.contains("1 found"), "search ignores case");
    assert_eq!(boss.total("/admin/users/?staff=yes").await, 2);

    // Add: the two passwords must match, the name must be free, and staff needs a superuser.
    let add = |name: &'static str, one: &'static str, two: &'static str, staff: bool| {
        let mut fields = vec![
            ("username", name),
            ("email", ""),
            ("new_password1", one),
            ("new_password2", two),
        ];
        if staff {
            fields.push(("is_staff", "on"));
        }
        fields
    };
    let page = boss
        .submit(
            "/admin/users/add/",
            "/admin/users/add/",
            &add("dora", "a", "b", false),
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.text.contains("The two password fields didn’t match."));
    assert!(page.text.contains("value=\"dora\""));
    let page = boss
        .submit(
            "/admin/users/add/",
            "/admin/users/add/",
            &add("ann", "a", "a", false),
        )
        .await;
    assert!(page
        .text
        .contains("A user with that username already exists."));
    let page = boss
        .submit(
            "/admin/users/add/",
            "/admin/users/add/",
            &add("dora", "a", "a", true),
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.text.contains("Only superusers may grant"));
    assert!(admin.db.find_user("dora").unwrap().is_none());
    let page = boss
        .submit(
            "/admin/users/add/",
            "/admin/users/add/",
            &add("dora", "pw", "pw", false),
        )
        .await;
    assert_eq!(page.status, 303);
    assert!(admin.db.find_credentials("dora").unwrap().is_some());

    // Change: a staff member may deactivate, not promote.
    let ann_page = format!("/admin/users/{}/", ann.id.get());
    let page = boss
        .submit(
            &ann_page,
            &ann_page,
            &[
                ("email", "ann@example.com"),
                ("is_active", "on"),
                ("is_staff", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(!admin.db.find_user("ann").unwrap().unwrap().is_staff);
    // (The email boxes are checked on the page, so a browser sends them.)
    let page = boss
        .submit(
            &ann_page,
            &ann_page,
            &[
                ("email", "new@example.com"),
                ("notify_assignment", "on"),
                ("notify_report", "on"),
                ("notify_activity", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    let changed = admin.db.find_user("ann").unwrap().unwrap();
    assert_eq!(
        (changed.email.as_str(), changed.is_active),
        ("new@example.com", false)
    );
    assert_eq!(
        admin
            .db
            .authenticate(&token.hash)
            .unwrap()
            .map(|a| a.user.is_active),
        Some(false),
        "deactivation ends their tokens"
    );
    // A superuser may promote.
    let mut root = admin.logged_in("root").await;
    let page = root
        .submit(
            &ann_page,
            &ann_page,
            &[
                ("email", "new@example.com"),
                ("is_active", "on"),
                ("is_staff", "on"),
                ("notify_assignment", "on"),
                ("notify_report", "on"),
                ("notify_activity", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    assert!(admin.db.find_user("ann").unwrap().unwrap().is_staff);

    // A new password for ann: she logs in with it; the event never holds it.
    let password_page = format!("/admin/users/{}/password/", ann.id.get());
    let page = root
        .submit(
            &password_page,
            &password_page,
            &[
                ("new_password1", "fresh-secret-9"),
                ("new_password2", "fresh-secret-9"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    let mut ann_browser = admin.browser();
    assert_eq!(ann_browser.login("ann", "fresh-secret-9").await.status, 303);

    let events = admin.events();
    let by_admin: Vec<&str> = events
        .iter()
        .filter(|e| e.via == Via::Admin)
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        by_admin,
        [
            "user.created",
            "user.updated",
            "user.tokens_revoked",
            "user.updated",
            "user.password_changed"
        ]
    );
    let text = format!("{events:?}");
    assert!(!text.contains("fresh-secret-9") && !text.contains("$2b$"));
    // The user's page shows their history.
    let page = root.get(&ann_page).await;
    assert!(page.text.contains("user.password_changed"));
}

async fn one_token_is_revoked_from_the_users_page(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("ann", false, false);
    let ann = admin.db.find_user("ann").unwrap().unwrap();
    let (kept, revoked) = (
        issue_tracker_domain::NewToken::generate(),
        issue_tracker_domain::NewToken::generate(),
    );
    for token in [&kept, &revoked] {
        admin
            .db
            .insert_token(ann.id, token, Duration::from_secs(3600))
            .unwrap();
    }
    let revoked_id = admin
        .db
        .authenticate(&revoked.hash)
        .unwrap()
        .unwrap()
        .token_id;
    let mut boss = admin.logged_in("boss").await;
    let page_path = format!("/admin/users/{}/", ann.id.get());
    let page = boss.get(&page_path).await;
    assert!(page
        .text
        .contains(&format!("Revoke token {}…", kept.prefix)));
    assert!(page
        .text
        .contains(&format!("Revoke token {}…", revoked.prefix)));
    assert!(
        !page.text.contains(&kept.key),
        "a token's key is never shown"
    );
    let action = format!(
        "/admin/users/{}/tokens/{}/revoke/",
        ann.id.get(),
        revoked_id
    );
    let page = boss.submit(&page_path, &action, &[]).await;
    assert_eq!(page.status, 303);
    assert!(admin.db.authenticate(&revoked.hash).unwrap().is_none());
    assert!(admin.db.authenticate(&kept.hash).unwrap().is_some());
    let event = admin.events().pop().unwrap();
    assert_eq!(
        (event.event_type, event.via),
        (EventType::TokensRevoked, Via::Admin)
    );
    // A token id that is not theirs: 404, nothing revoked.
    let wrong = format!("/admin/users/{}/tokens/999999/revoke/", ann.id.get());
    assert_eq!(boss.submit(&page_path, &wrong, &[]).await.status, 404);
    assert!(admin.db.authenticate(&kept.hash).unwrap().is_some());
}

/// A user's page shows their email preferences as checked boxes and changes them, with the
/// change in their history; the API sees the same.
async fn email_preferences_are_shown_and_changed_on_the_users_page(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("ann", false, false);
    let ann = admin.db.find_user("ann").unwrap().unwrap();
    let mut boss = admin.logged_in("boss").await;
    let page_path = format!("/admin/users/{}/", ann.id.get());
    let page = boss.get(&page_path).await;
    for name in ["notify_assignment", "notify_report", "notify_activity"] {
        let start = page.text.find(&format!("name=\"{name}\"")).expect(name);
        let tag_end = start + page.text[start..].find('>').unwrap();
        assert!(
            page.text[start..tag_end].contains("checked"),
            "{name} on by default"
        );
        assert!(
            page.text.contains(&format!("for=\"{name}\"")),
            "{name} has a label"
        );
    }
    let page = boss
        .submit(
            &page_path,
            &page_path,
            &[
                ("email", ""),
                ("is_active", "on"),
                ("notify_assignment", "on"),
                ("notify_activity", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(
        admin.db.notification_preferences(ann.id).unwrap(),
        Some(issue_tracker_domain::NotificationPreferences {
            report: false,
            ..Default::default()
        })
    );
    let page = boss.get(&page_path).await;
    let start = page.text.find("name=\"notify_report\"").unwrap();
    let tag_end = start + page.text[start..].find('>').unwrap();
    assert!(!page.text[start..tag_end].contains("checked"));
    let filter = issue_tracker_persistence::EventFilter {
        user: Some(ann.id.get()),
        ..Default::default()
    };
    let (events, _) = admin.db.list_events(&filter, 0, 10).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.via == issue_tracker_domain::Via::Admin
                && e.changes.iter().any(|c| c.field == "notify_report")),
        "the change is in the history, made through the admin"
    );
}

both_databases!(
    |kind| crate::common::spawn(kind, &[]);
    users_are_managed_and_only_superusers_grant_privileges,
    one_token_is_revoked_from_the_users_page,
    email_preferences_are_shown_and_changed_on_the_users_page,
);
