//! What an outside audit of the admin found, each as the attack it was: staff taking over
//! superusers and other staff, sessions coming back, NUL characters, control characters in
//! `next`/`back`, a busy session ending as idle, and a form the browser declares cross-site.

use std::time::{Duration, Instant};

use issue_tracker_domain::{NewToken, UserId};

use crate::common::{spawn, Admin, Browser, Kind, CLI};
use issue_tracker_testkit::both_databases;

fn id_of(admin: &Admin, name: &str) -> UserId {
    admin.db.find_user(name).unwrap().unwrap().id
}

/// A login with `password` through the admin: true when it lets them in.
async fn can_log_in(admin: &Admin, name: &str, password: &str) -> bool {
    admin.browser().login(name, password).await.status == 303
}

fn change_fields(email: &str, active: bool, staff: bool, superuser: bool) -> Vec<(&str, &str)> {
    let mut fields = vec![("email", email)];
    for (name, on) in [
        ("is_active", active),
        ("is_staff", staff),
        ("is_superuser", superuser),
    ] {
        if on {
            fields.push((name, "on"));
        }
    }
    fields
}

/// Staff who are not superusers manage plain accounts only: a superuser's or another staff
/// member's password, activity, tokens and email are out of their reach (403, nothing changed),
/// while a superuser may do all of it.
async fn staff_cannot_take_over_superusers_or_other_staff(admin: Admin) {
    admin.user("root", true, true);
    admin.user("boss", true, false);
    admin.user("peer", true, false);
    admin.user("ann", false, false);
    let token = NewToken::generate();
    admin
        .db
        .insert_token(id_of(&admin, "root"), &token, Duration::from_secs(3600))
        .unwrap();
    let mut boss = admin.logged_in("boss").await;

    for target in ["root", "peer"] {
        let id = id_of(&admin, target).get();
        let password_page = format!("/admin/users/{id}/password/");
        let page = boss
            .submit(
                &password_page,
                &password_page,
                &[
                    ("new_password1", "taken-over-1"),
                    ("new_password2", "taken-over-1"),
                ],
            )
            .await;
        assert_eq!(page.status, 403, "{target}'s password: {}", page.text);
        assert!(page
            .text
            .contains("Only superusers may change the account of a staff member or a superuser."));
        assert!(!can_log_in(&admin, target, "taken-over-1").await);
        assert!(can_log_in(&admin, target, &format!("pw-{target}")).await);

        let user_page = format!("/admin/users/{id}/");
        let page = boss
            .submit(
                &user_page,
                &user_page,
                &change_fields("new@example.com", false, true, target == "root"),
            )
            .await;
        assert_eq!(page.status, 403, "deactivating {target}: {}", page.text);
        let user = admin.db.find_user(target).unwrap().unwrap();
        assert!(user.is_active, "{target} still active");
        assert_eq!(
            user.email,
            format!("{target}@example.com"),
            "email unchanged"
        );

        let page = boss
            .submit(
                &user_page,
                &format!("/admin/users/{id}/revoke-tokens/"),
                &[],
            )
            .await;
        assert_eq!(
            page.status, 403,
            "revoking {target}'s tokens: {}",
            page.text
        );
    }
    let root_id = id_of(&admin, "root");
    let tokens = admin.db.list_tokens(root_id).unwrap();
    assert_eq!(tokens.len(), 1, "root's token survives");
    let page = boss
        .submit(
            &format!("/admin/users/{}/", root_id.get()),
            &format!(
                "/admin/users/{}/tokens/{}/revoke/",
                root_id.get(),
                tokens[0].id
            ),
            &[],
        )
        .await;
    assert_eq!(page.status, 403, "{}", page.text);
    assert_eq!(admin.db.list_tokens(root_id).unwrap().len(), 1);
    // Making themselves superuser is refused too.
    let own = format!("/admin/users/{}/", id_of(&admin, "boss").get());
    let page = boss
        .submit(&own, &own, &change_fields("", true, true, true))
        .await;
    assert_eq!(page.status, 400);
    assert!(page
        .text
        .contains("Only superusers may grant or remove staff and superuser status."));
    assert!(!admin.db.find_user("boss").unwrap().unwrap().is_superuser);

    // A plain account is theirs to manage.
    let ann = id_of(&admin, "ann").get();
    let password_page = format!("/admin/users/{ann}/password/");
    let page = boss
        .submit(
            &password_page,
            &password_page,
            &[
                ("new_password1", "fresh-pw-22"),
                ("new_password2", "fresh-pw-22"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    let page = boss
        .submit(
            &format!("/admin/users/{ann}/"),
            &format!("/admin/users/{ann}/"),
            &change_fields("", false, false, false),
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert!(!admin.db.find_user("ann").unwrap().unwrap().is_active);

    // A superuser may act on staff.
    let mut root = admin.logged_in("root").await;
    let peer = id_of(&admin, "peer").get();
    let password_page = format!("/admin/users/{peer}/password/");
    let page = root
        .submit(
            &password_page,
            &password_page,
            &[
                ("new_password1", "reset-by-root"),
                ("new_password2", "reset-by-root"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert!(can_log_in(&admin, "peer", "reset-by-root").await);
}

/// Deactivating a staff member, or taking their staff status, ends their sessions for good:
/// giving it back does not open the old cookie again.
async fn ended_sessions_stay_ended(admin: Admin) {
    admin.user("root", true, true);
    admin.user("boss", true, false);
    let mut root = admin.logged_in("root").await;
    let boss_page = format!("/admin/users/{}/", id_of(&admin, "boss").get());
    for (off, on) in [
        (
            change_fields("", false, true, false),
            change_fields("", true, true, false),
        ),
        (
            change_fields("", true, false, false),
            change_fields("", true, true, false),
        ),
    ] {
        let mut boss = admin.logged_in("boss").await;
        assert_eq!(boss.get("/admin/").await.status, 200);
        assert_eq!(root.submit(&boss_page, &boss_page, &off).await.status, 303);
        assert_eq!(root.submit(&boss_page, &boss_page, &on).await.status, 303);
        let page = boss.get("/admin/").await;
        assert_eq!(page.status, 303, "the old session opened the admin again");
        assert!(page.location().starts_with("/admin/login/"));
    }
    // Through the command line's door too.
    let mut boss = admin.logged_in("boss").await;
    admin.db.set_active("boss", false, &CLI).unwrap();
    admin.db.set_active("boss", true, &CLI).unwrap();
    assert_eq!(boss.get("/admin/").await.status, 303);
}

/// The issue form's fields, all by boss.
fn issue_form<'a>(title: &'a str, assignee: &'a str, back: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("title", title),
        ("description", "d"),
        ("status", "open"),
        ("assigned_to", assignee),
        ("created_by", "boss"),
        ("back", back),
    ]
}

/// A NUL in any box (the anonymous login, searches, filters, forms): 400 saying so, on both
/// databases; no page ever shows a database error.
async fn null_characters_get_a_clear_400(admin: Admin) {
    admin.user("boss", true, false);
    let mut anonymous = admin.browser();
    let page = anonymous.login("bo\u{0}ss", "pw").await;
    assert_eq!(page.status, 400, "{}", page.text);
    assert!(page.text.contains("Null characters are not allowed."));
    let mut boss = admin.logged_in("boss").await;
    for path in [
        "/admin/issues/?q=a%00b",
        "/admin/issues/?assigned_to=a%00b",
        "/admin/users/?q=a%00b",
        "/admin/events/?actor=a%00b",
        "/admin/events/?q=a%00b",
        "/admin/labels/?q=a%00b",
        "/admin/notifications/?q=a%00b",
    ] {
        let page = boss.get(path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.text);
        assert!(
            page.text.contains("Null characters are not allowed."),
            "{path}"
        );
        assert!(!page.text.contains("database"), "{path}: {}", page.text);
    }
    let page = boss
        .submit(
            "/admin/issues/add/",
            "/admin/issues/add/",
            &issue_form("t", "bo\u{0}ss", "/admin/issues/"),
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.text);
    assert!(!page.text.contains("database"));
    assert!(admin
        .db
        .list_issues_filtered(&Default::default(), 0, 10)
        .unwrap()
        .is_empty());
}

/// A control character in `next` or `back`: the default place instead, never a 500, and the
/// change that came with it is reported as made (it was).
async fn control_characters_in_next_or_back_fall_back_to_the_list(admin: Admin) {
    admin.user("boss", true, false);
    let mut anonymous = admin.browser();
    for bad in ["%01", "%7F", "%1B"] {
        let page = anonymous
            .get(&format!("/admin/login/?next=/admin/issues/{bad}x"))
            .await;
        assert_eq!(page.status, 200, "{bad}: {}", page.text);
    }
    let mut boss = admin.browser();
    let csrf = boss.get("/admin/login/").await.csrf();
    let page = boss
        .post(
            "/admin/login/",
            &[
                ("csrf", &csrf),
                ("username", "boss"),
                ("password", "pw-boss"),
                ("next", "/admin/\u{7f}"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(page.location(), "/admin/");
    let page = boss
        .submit(
            "/admin/issues/add/",
            "/admin/issues/add/",
            &issue_form("t", "boss", "/admin/issues/?q=\u{1}"),
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    let id = admin
        .db
        .list_issues_filtered(&Default::default(), 0, 10)
        .unwrap()[0]
        .id;
    let form_page = format!("/admin/issues/{id}/");
    for bad in ["\u{1}", "\u{7f}", "\u{1b}[31m"] {
        let page = boss
            .submit(
                &form_page,
                &form_page,
                &[
                    ("title", "changed"),
                    ("description", "d"),
                    ("status", "closed"),
                    ("assigned_to", "boss"),
                    ("created_by", "boss"),
                    ("back", &format!("/admin/issues/?q={bad}")),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{bad:?}: {}", page.text);
        assert!(
            page.location().starts_with("/admin/issues/"),
            "{}",
            page.location()
        );
    }
    // Letters beyond ASCII are kept, percent-encoded.
    let page = boss
        .submit(
            &form_page,
            &form_page,
            &issue_form("changed", "boss", "/admin/issues/?q=café"),
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/admin/issues/?q=caf%C3%A9&notice=saved");
}

/// A form that carries a valid token but that the browser declares cross-site
/// (`Sec-Fetch-Site`), with neither `Origin` nor `Referer`: refused, nothing changed.
async fn forms_the_browser_declares_cross_site_are_refused(admin: Admin) {
    admin.user("boss", true, false);
    let mut boss = admin.logged_in("boss").await;
    let fields = |csrf: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("name".to_owned(), "sneaky".to_owned()),
            ("color".to_owned(), "#ff0000".to_owned()),
        ]
    };
    let csrf = boss.get("/admin/labels/add/").await.csrf();
    let cross = post_with_fetch_site(
        &mut boss,
        "/admin/labels/add/",
        &fields(&csrf),
        "cross-site",
    )
    .await;
    assert_eq!(cross, 403);
    assert!(
        admin.db.list_labels().unwrap().is_empty(),
        "nothing created"
    );
    let same = post_with_fetch_site(
        &mut boss,
        "/admin/labels/add/",
        &fields(&csrf),
        "same-origin",
    )
    .await;
    assert_eq!(same, 303);
    assert_eq!(admin.db.list_labels().unwrap().len(), 1);
}

async fn post_with_fetch_site(
    browser: &mut Browser,
    path: &str,
    form: &[(String, String)],
    site: &str,
) -> u16 {
    let body = form
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    browser
        .client
        .post(format!("{}{path}", browser.base))
        .header("cookie", browser.cookie_header())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", site)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

both_databases!(
    |kind| crate::common::spawn(kind, &[]);
    staff_cannot_take_over_superusers_or_other_staff,
    ended_sessions_stay_ended,
    null_characters_get_a_clear_400,
    control_characters_in_next_or_back_fall_back_to_the_list,
    forms_the_browser_declares_cross_site_are_refused,
);

/// With an idle timeout of 3 s, a session used every second for 8 s stays in; left alone past
/// the timeout, it ends (and stays ended).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_session_never_ends_as_idle_even_with_a_short_timeout() {
    let admin = spawn(Kind::Sqlite, &[("ADMIN_SESSION_IDLE", "0.05")]);
    admin.user("boss", true, false);
    let mut boss = admin.logged_in("boss").await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(8) {
        let page = boss.get("/admin/").await;
        assert_eq!(
            page.status,
            200,
            "ended while busy, {:?} in",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(900)).await;
    }
    tokio::time::sleep(Duration::from_millis(3_600)).await;
    assert_eq!(
        boss.get("/admin/").await.status,
        303,
        "still in after idling"
    );
}
