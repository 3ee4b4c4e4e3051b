//! Who gets into the admin: logins, CSRF on every form, sessions (idle, lifetime, cookies), the
//! login throttle, one's own password.

use std::time::Duration;

use issue_tracker_testkit::both_databases;

use crate::common::{spawn, Admin, Kind, CLI};

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

both_databases!(
    |kind| crate::common::spawn(kind, &[]);
    only_active_staff_get_in,
    every_form_needs_its_token_and_this_origin,
    own_password_change_keeps_this_browser_in,
);
