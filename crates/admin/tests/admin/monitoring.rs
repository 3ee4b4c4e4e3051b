//! What the admin shows of the running service: dead notifications (retried), the dashboard and
//! the audit log.

use std::time::Duration;

use issue_tracker_persistence::Database;
use issue_tracker_testkit::both_databases;

use crate::common::{Admin, CLI};

async fn dead_notifications_are_listed_and_retried(admin: Admin) {
    admin.user("boss", true, false);
    admin.user("bob", false, false);
    let bob = admin.db.find_user("bob").unwrap().unwrap();
    let new = issue_tracker_persistence::NewIssue {
        title: &issue_tracker_domain::Title::parse("t").unwrap(),
        description: &issue_tracker_domain::Description::parse("d").unwrap(),
        status: issue_tracker_domain::Status::Open,
        assignee: "bob",
    };
    admin
        .db
        .create_issue(&bob, &new, Duration::ZERO, &CLI, Duration::ZERO)
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

async fn received_email_is_listed_with_its_outcome(admin: Admin) {
    use issue_tracker_domain::{ReplyRefusal, ReplyTokenRefused};
    use issue_tracker_persistence::{Receipt, Transport};
    admin.user("boss", true, false);
    admin.user("bob", false, false);
    let bob = admin.db.find_user("bob").unwrap().unwrap();
    let new = issue_tracker_persistence::NewIssue {
        title: &issue_tracker_domain::Title::parse("Printer").unwrap(),
        description: &issue_tracker_domain::Description::parse("d").unwrap(),
        status: issue_tracker_domain::Status::Open,
        assignee: "bob",
    };
    let issue = admin
        .db
        .create_issue(&bob, &new, Duration::ZERO, &CLI, Duration::ZERO)
        .unwrap()
        .unwrap()
        .id;
    let receipt = |key: &'static str, subject: &'static str| Receipt {
        message_key: key,
        recipient: "reply+x@tracker.example.com",
        transport: Transport::Lmtp,
        sender: "bob@example.com",
        subject,
    };
    admin
        .db
        .comment_by_email(
            &receipt("message-id:a@x", "Re: Printer <fixed>"),
            issue,
            &bob,
            "Fixed.",
            &CLI,
            Duration::ZERO,
        )
        .unwrap();
    admin
        .db
        .refuse_incoming(
            &receipt("message-id:b@x", "Re: Printer"),
            Some(bob.id),
            Some(issue),
            &ReplyRefusal::Token(ReplyTokenRefused::Expired),
        )
        .unwrap();
    // Only for staff: a visitor is sent to log in first.
    let anonymous = admin.browser().get("/admin/incoming/").await;
    assert!(
        (300..400).contains(&anonymous.status),
        "{}",
        anonymous.status
    );
    assert!(anonymous.headers["location"]
        .to_str()
        .unwrap()
        .starts_with("/admin/login/"));
    let mut boss = admin.logged_in("boss").await;
    let page = boss.get("/admin/incoming/").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("2 found"), "{}", page.text);
    assert!(page.text.contains(&format!("on #{}", issue.get())));
    assert!(page.text.contains("refused: the reply address has expired"));
    assert!(
        page.text.contains("Re: Printer &lt;fixed&gt;")
            || page.text.contains("Re: Printer &#60;fixed&#62;"),
        "escaped: {}",
        page.text
    );
    assert!(
        page.text.contains("href=\"/admin/incoming/\""),
        "in the sections"
    );
}

both_databases!(
    |kind| crate::common::spawn(kind, &[]);
    received_email_is_listed_with_its_outcome,
    dead_notifications_are_listed_and_retried,
    the_dashboard_and_the_audit_log_show_what_happened,
);
