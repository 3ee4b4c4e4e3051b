//! The staff admin over HTTP, as a browser without JavaScript uses it, on both databases: who gets
//! in, CSRF on every form, each page and form (errors next to their fields, typed values kept),
//! bulk actions with their confirmation, and the history each change writes.

use std::collections::HashMap;
use std::time::Duration;

use issue_tracker_domain::{EventType, IssueId, Via};
use issue_tracker_persistence::Database;

use crate::common::{spawn, Admin, Kind, CLI};
use issue_tracker_testkit::both_databases;

const INVALID_LOGIN: &str = "Please enter the correct username and password for a staff account.";

async fn only_active_staff_get_in(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("ann", false, false);
    admin.user("gone", true, false);
    admin.db.set_active("gone", false, &CLI).unwrap();

    // No session: every page sends to the login page, coming back afterwards.
    let mut anonymous = admin.browser();
    for path in [
        "/admin/",
        "/admin/issues/",
        "/admin/users/3/",
        "/admin/nothing/",
    ] {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert!(page.location().starts_with("/admin/login/"), "{path}");
    }
    let page = anonymous.get("/admin/issues/?status=open").await;
    assert_eq!(
        page.location(),
        "/admin/login/?next=/admin/issues/%3Fstatus%3Dopen"
    );

    // A non-staff user, an inactive staff user, a wrong password, an unknown user: one answer.
    for (name, password) in [
        ("ann", "pw-ann"),
        ("gone", "pw-gone"),
        ("boss", "wrong"),
        ("nobody", "x"),
    ] {
        let mut browser = admin.browser();
        let page = browser.login(name, password).await;
        assert_eq!(page.status, 400, "{name}");
        assert!(page.text.contains(INVALID_LOGIN), "{name}");
        assert!(
            page.text.contains(&format!("value=\"{name}\"")),
            "the username is kept"
        );
        assert!(
            !browser.cookies.contains_key("admin_session"),
            "{name} got a session"
        );
    }

    // Staff get in, to where they were going, with a cookie the page's scripts cannot read.
    let mut boss = admin.browser();
    let page = boss.login("boss", "pw-boss").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/admin/issues/");
    let cookie = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("admin_session="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/admin/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains("Secure"),
        "Secure only when ADMIN_SECURE_COOKIES says HTTPS"
    );
    let first_session = boss.cookies["admin_session"].clone();
    assert_eq!(boss.get("/admin/").await.status, 200);
    // A new session id at each login.
    let mut again = admin.browser();
    again.login("boss", "pw-boss").await;
    assert_ne!(again.cookies["admin_session"], first_session);

    // A user demoted or deactivated mid-session is out at their next request.
    assert_eq!(again.get("/admin/").await.status, 200);
    admin.db.set_active("boss", false, &CLI).unwrap();
    assert_eq!(again.get("/admin/").await.status, 303);
    admin.db.set_active("boss", true, &CLI).unwrap();
    // And stays out once reactivated: every session of theirs ended for good.
    assert_eq!(boss.get("/admin/").await.status, 303);
    let mut boss = admin.logged_in("boss").await;
    let first_session = boss.cookies["admin_session"].clone();

    // Logging out ends the session: its cookie no longer opens anything.
    let page = boss.submit("/admin/", "/admin/logout/", &[]).await;
    assert_eq!(page.status, 303);
    let mut replay = admin.browser();
    replay.cookies.insert("admin_session".into(), first_session);
    assert_eq!(replay.get("/admin/").await.status, 303);

    // `next` never leaves the admin.
    let mut browser = admin.browser();
    let csrf = browser.get("/admin/login/").await.csrf();
    let page = browser
        .post(
            "/admin/login/",
            &[
                ("csrf", &csrf),
                ("username", "boss"),
                ("password", "pw-boss"),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(page.location(), "/admin/");
}

async fn every_form_needs_its_token_and_this_origin(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("bob", false, false);
    let mut boss = admin.logged_in("boss").await;
    let csrf = boss.get("/admin/issues/add/").await.csrf();
    let fields = |token: Option<&str>| {
        let mut pairs: Vec<(String, String)> = [
            ("title", "t"),
            ("description", "d"),
            ("status", "open"),
            ("assigned_to", "bob"),
            ("created_by", "boss"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(token) = token {
            pairs.push(("csrf".into(), token.into()));
        }
        pairs
    };
    let own = boss.base.clone();
    let cases = [
        ("no token", own.as_str(), fields(None)),
        ("a wrong token", own.as_str(), fields(Some("0000"))),
        (
            "another origin",
            "https://evil.example",
            fields(Some(&csrf)),
        ),
        ("the null origin", "null", fields(Some(&csrf))),
    ];
    for (case, origin, form) in cases {
        let page = boss
            .post_pairs(Some(origin), "/admin/issues/add/", &form)
            .await;
        assert_eq!(page.status, 403, "{case}");
        assert_eq!(
            admin.db.count_issues_filtered(&Default::default()).unwrap(),
            0,
            "{case} wrote"
        );
    }
    // Another user's token is no good either.
    admin.user("carl", true, false);
    let carl_csrf = admin.logged_in("carl").await.get("/admin/").await.csrf();
    let page = boss
        .post_pairs(Some(&own), "/admin/issues/add/", &fields(Some(&carl_csrf)))
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(
        admin.db.count_issues_filtered(&Default::default()).unwrap(),
        0
    );
    // The right token from this site: written.
    let page = boss
        .post_pairs(Some(&own), "/admin/issues/add/", &fields(Some(&csrf)))
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(
        admin.db.count_issues_filtered(&Default::default()).unwrap(),
        1
    );
    // The login form has its own token, in a cookie.
    let mut stranger = admin.browser();
    let page = stranger
        .post(
            "/admin/login/",
            &[("username", "boss"), ("password", "pw-boss")],
        )
        .await;
    assert_eq!(page.status, 403);
}

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
            title: &format!("issue {n}"),
            description: "d",
            status: issue_tracker_domain::Status::Open,
            assignee: "bob",
        };
        let issue = admin
            .db
            .create_issue(&bob, &new, Duration::from_secs(60), &CLI)
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

async fn dead_notifications_are_listed_and_retried(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("bob", false, false);
    let bob = admin.db.find_user("bob").unwrap().unwrap();
    let new = issue_tracker_persistence::NewIssue {
        title: "t",
        description: "d",
        status: issue_tracker_domain::Status::Open,
        assignee: "bob",
    };
    admin
        .db
        .create_issue(&bob, &new, Duration::ZERO, &CLI)
        .unwrap();
    let row = admin.db.list_notifications(None, 1).unwrap()[0].clone();
    let claim = admin
        .db
        .claim_for_sending(row.id, Duration::from_secs(60))
        .unwrap()
        .unwrap();
    admin
        .db
        .mark_dead(&claim, "550 mailbox unavailable")
        .unwrap();

    let mut boss = admin.logged_in("boss").await;
    let list = boss.get("/admin/notifications/?status=dead").await;
    assert!(list.text.contains("1 found"));
    assert!(list.text.contains("550 mailbox unavailable"));
    let id = row.id.to_string();
    let page = boss
        .submit(
            "/admin/notifications/",
            "/admin/notifications/",
            &[
                ("action", "retry"),
                ("selected", &id),
                ("back", "/admin/notifications/?status=dead"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        admin.db.list_notifications(None, 1).unwrap()[0].status,
        "pending"
    );
    // This period's reports, now, from the browser (as the CLI's create-reports); twice makes
    // no second one.
    let reports = |db: &Database| {
        db.list_notifications(None, 100)
            .unwrap()
            .iter()
            .filter(|n| n.kind == "report")
            .count()
    };
    assert_eq!(reports(&admin.db), 0);
    for _ in 0..2 {
        let page = boss
            .submit(
                "/admin/notifications/",
                "/admin/notifications/create-reports/",
                &[("back", "/admin/notifications/")],
            )
            .await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), "/admin/notifications/?notice=reports");
    }
    assert_eq!(reports(&admin.db), 1, "one report, for bob");
    // Search by recipient and sort by due time.
    assert_eq!(boss.total("/admin/notifications/?q=BO").await, 2);
    assert_eq!(boss.total("/admin/notifications/?q=ann").await, 0);
    let by_due = boss.get("/admin/notifications/?order=send_after").await;
    assert!(by_due.text.contains("aria-sort=\"ascending\""));
    let by_id = boss.get("/admin/notifications/?order=id").await;
    let first_row = |text: &str| {
        text.split("name=\"selected\" value=\"")
            .nth(1)
            .map(|s| s.split('"').next().unwrap().to_owned())
    };
    assert_eq!(
        first_row(&by_id.text),
        Some(row.id.to_string()),
        "oldest first"
    );
    assert_eq!(boss.total("/admin/notifications/?status=dead").await, 0);
}

async fn the_dashboard_and_the_audit_log_show_what_happened(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("bob", false, false);
    let mut boss = admin.logged_in("boss").await;
    boss.submit(
        "/admin/issues/add/",
        "/admin/issues/add/",
        &[
            ("title", "From the admin"),
            ("description", "d"),
            ("status", "open"),
            ("assigned_to", "bob"),
            ("created_by", "boss"),
        ],
    )
    .await;
    let dashboard = boss.get("/admin/").await;
    assert_eq!(dashboard.status, 200);
    let text = dashboard
        .text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(text.contains("Open issues</a></dt><dd>1</dd>"), "{text}");
    assert!(text.contains("Users</a></dt><dd>2</dd>"));
    assert!(text.contains("issue.created"));
    let log = boss
        .get("/admin/events/?type=issue.created&actor=boss")
        .await;
    assert!(log.text.contains("1 found"));
    assert_eq!(boss.total("/admin/events/?type=user.created").await, 2);
    // Search in the changes and users, oldest first.
    assert_eq!(boss.total("/admin/events/?q=from+the+ADMIN").await, 1);
    let oldest = boss.get("/admin/events/?order=id").await;
    let (first, last) = (
        oldest.text.find("<td>user.created</td>").unwrap(),
        oldest.text.find("<td>issue.created</td>").unwrap(),
    );
    assert!(first < last, "oldest first");
    assert_eq!(boss.total("/admin/events/?since=2999-01-01").await, 0);
    // Every page: its own stylesheet only, a label for every input, nothing from elsewhere.
    for path in [
        "/admin/",
        "/admin/issues/",
        "/admin/issues/add/",
        "/admin/users/",
        "/admin/users/add/",
        "/admin/notifications/",
        "/admin/events/",
        "/admin/password/",
    ] {
        let page = boss.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        // Forms must leave with their true `Origin` (under `no-referrer` browsers send `null`).
        assert_eq!(page.headers["referrer-policy"], "same-origin", "{path}");
        assert!(page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
        assert!(
            !page.text.contains("http://") && !page.text.contains("https://"),
            "{path} loads from elsewhere"
        );
        // Each visible input, select and text area has an id that a <label for> names.
        for tag in page.text.split('<').skip(1) {
            let visible_control = (tag.starts_with("input ") && !tag.contains("type=\"hidden\""))
                || tag.starts_with("select ")
                || tag.starts_with("textarea ");
            if !visible_control {
                continue;
            }
            let id = tag
                .split("id=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("{path}: a control without an id: <{tag}"));
            assert!(
                page.text.contains(&format!("<label for=\"{id}\"")),
                "{path}: no label for {id}"
            );
        }
    }
    let css = boss.get("/admin/static/admin.css").await;
    assert_eq!(css.status, 200);
    assert!(css.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

async fn own_password_change_keeps_this_browser_in(admin: Admin) {
    admin.user("boss", true, false);
    let mut boss = admin.logged_in("boss").await;
    let mut other_browser = admin.logged_in("boss").await;
    let page = boss
        .submit(
            "/admin/password/",
            "/admin/password/",
            &[
                ("old_password", "wrong"),
                ("new_password1", "n"),
                ("new_password2", "n"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page
        .text
        .contains("Your old password was entered incorrectly."));
    let page = boss
        .submit(
            "/admin/password/",
            "/admin/password/",
            &[
                ("old_password", "pw-boss"),
                ("new_password1", "n3w"),
                ("new_password2", "n3w"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        boss.get("/admin/").await.status,
        200,
        "this browser stays in"
    );
    assert_eq!(
        other_browser.get("/admin/").await.status,
        303,
        "other sessions end"
    );
    let mut fresh = admin.browser();
    assert_eq!(fresh.login("boss", "n3w").await.status, 303);
}

async fn lists_are_paged_with_their_total_and_keep_their_filters(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("bob", false, false);
    let bob = admin.db.find_user("bob").unwrap().unwrap();
    for n in 0..60 {
        let new = issue_tracker_persistence::NewIssue {
            title: &format!("paged {n}"),
            description: "d",
            status: issue_tracker_domain::Status::Open,
            assignee: "bob",
        };
        admin
            .db
            .create_issue(&bob, &new, Duration::from_secs(60), &CLI)
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
        let reply: serde_json::Value = api
            .post(format!("{}/api/user/get_auth_token/", admin.base))
            .json(&serde_json::json!({"username": name, "password": format!("pw-{name}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.insert(
            name.to_string(),
            reply["token"].as_str().unwrap().to_owned(),
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

both_databases!(
    |kind| crate::common::spawn(kind, &[]);
    only_active_staff_get_in,
    every_form_needs_its_token_and_this_origin,
    issues_are_added_changed_and_deleted_with_their_history,
    bulk_actions_ask_then_act_on_the_selected_rows,
    users_are_managed_and_only_superusers_grant_privileges,
    dead_notifications_are_listed_and_retried,
    the_dashboard_and_the_audit_log_show_what_happened,
    own_password_change_keeps_this_browser_in,
    replaying_a_thousand_mixed_changes_rebuilds_every_issue,
    lists_are_paged_with_their_total_and_keep_their_filters,
    one_token_is_revoked_from_the_users_page,
    email_preferences_are_shown_and_changed_on_the_users_page,
    labels_are_managed_from_the_admin,
    webhooks_and_their_deliveries_from_the_admin,
);

/// Labels: add (the API's rules and messages), change (the new name shows on its issues), list
/// with a link to their issues, delete after a confirmation.
async fn labels_are_managed_from_the_admin(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("bob", false, false);
    let bob = admin.db.find_user("bob").unwrap().unwrap();
    let new = issue_tracker_persistence::NewIssue {
        title: "t",
        description: "d",
        status: issue_tracker_domain::Status::Open,
        assignee: "bob",
    };
    let issue = admin
        .db
        .create_issue(&bob, &new, Duration::ZERO, &CLI)
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

/// A user's page shows their email preferences as checked boxes and changes them, with the
/// change in their history; the API sees the same.
async fn email_preferences_are_shown_and_changed_on_the_users_page(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("ann", false, false);
    let ann = admin.db.find_user("ann").unwrap().unwrap();
    let mut boss = admin.logged_in("boss").await;
    let page_path = format!("/admin/users/{}/", ann.id.get());
    let page = boss.get(&page_path).await;
    for name in ["notify_assignment", "notify_report"] {
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
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(
        admin.db.notification_preferences(ann.id).unwrap(),
        Some(issue_tracker_domain::NotificationPreferences {
            assignment: true,
            report: false
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

/// The documented idle timeout: a session unused for `ADMIN_SESSION_IDLE` is over, and its
/// cookie opens nothing afterwards even if used again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_ends() {
    // 0.03 minutes: 1.8 s.
    let admin = spawn(Kind::Sqlite, &[("ADMIN_SESSION_IDLE", "0.03")]);
    admin.user("boss", true, false);
    let mut boss = admin.logged_in("boss").await;
    assert_eq!(boss.get("/admin/").await.status, 200);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let page = boss.get("/admin/").await;
    assert_eq!(page.status, 303, "still in after idling past the timeout");
    assert!(page.location().starts_with("/admin/login/"));
}

/// The documented lifetime: a session ends after `ADMIN_SESSION_LIFETIME` however busy it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_session_still_ends_at_its_lifetime() {
    // 0.0008 hours: 2.9 s; used every 300 ms, so never idle.
    let admin = spawn(Kind::Sqlite, &[("ADMIN_SESSION_LIFETIME", "0.0008")]);
    admin.user("boss", true, false);
    let mut boss = admin.logged_in("boss").await;
    let started = std::time::Instant::now();
    let mut ended_after = None;
    while started.elapsed() < Duration::from_secs(6) {
        if boss.get("/admin/").await.status != 200 {
            ended_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let ended_after = ended_after.expect("the session outlived its lifetime");
    assert!(
        ended_after >= Duration::from_millis(2_000),
        "ended early: {ended_after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_when_the_site_is_https() {
    let admin = spawn(Kind::Sqlite, &[("ADMIN_SECURE_COOKIES", "true")]);
    admin.user("boss", true, false);
    let mut browser = admin.browser();
    let page = browser.login("boss", "pw-boss").await;
    let cookie = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("admin_session="))
        .unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_as_the_apis_are() {
    let admin = spawn(Kind::Sqlite, &[("LOGIN_FAILURES_PER_ADDRESS", "3")]);
    admin.user("boss", true, false);
    let mut browser = admin.browser();
    for _ in 0..3 {
        assert_eq!(browser.login("boss", "wrong").await.status, 400);
    }
    let page = browser.login("boss", "pw-boss").await;
    assert_eq!(page.status, 429, "even the right password waits");
    assert!(page.headers.contains_key("retry-after"));
    assert!(page.text.contains("Too many failed logins"));
}
