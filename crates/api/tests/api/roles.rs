//! The account rule through the API (who may create staff, issue a token for whom), the one
//! rule for booleans, and inputs PostgreSQL cannot take (a NUL) refused alike on both databases.

use issue_tracker_persistence::NewUser;
use serde_json::{json, Value};

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

fn add_user(app: &TestApp, name: &str, staff: bool, superuser: bool) {
    app.db
        .create_user(
            &NewUser {
                username: name.into(),
                email: String::new(),
                password_hash: bcrypt::hash(format!("pw-{name}"), 4).unwrap(),
                is_staff: staff,
                is_superuser: superuser,
            },
            &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
        )
        .unwrap();
}

async fn token_of(app: &TestApp, name: &str) -> String {
    app.login(name, &format!("pw-{name}")).await
}

/// Staff who are not superusers create plain users only; a superuser may create staff. Tokens
/// for someone else: only for an account the caller may manage.
async fn only_superusers_create_staff_or_act_for_staff(app: TestApp) {
    add_user(&app, "root", true, true);
    add_user(&app, "boss", true, false);
    add_user(&app, "ann", false, false);
    let (root, boss) = (token_of(&app, "root").await, token_of(&app, "boss").await);
    let new = |name: &str, staff: Value| json!({"username": name, "password": "long enough pw", "is_staff": staff});

    let reply = app
        .send(
            "POST",
            "/api/user/",
            Some(&boss),
            Some(new("sneaky", json!(true))),
        )
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_eq!(
        reply.json()["detail"],
        "Only superusers may grant or remove staff and superuser status."
    );
    assert!(
        app.db.find_user("sneaky").unwrap().is_none(),
        "nothing created"
    );
    let reply = app
        .send(
            "POST",
            "/api/user/",
            Some(&boss),
            Some(new("plain", json!(false))),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let reply = app
        .send(
            "POST",
            "/api/user/",
            Some(&root),
            Some(new("deputy", json!(true))),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json()["is_staff"], true);

    let scoped = |username: &str| json!({"scopes": ["events:read"], "username": username});
    for target in ["root", "deputy"] {
        let reply = app
            .send(
                "POST",
                "/api/user/tokens/",
                Some(&boss),
                Some(scoped(target)),
            )
            .await;
        assert_eq!(reply.status, 403, "a token for {target}: {}", reply.text);
    }
    let reply = app
        .send(
            "POST",
            "/api/user/tokens/",
            Some(&boss),
            Some(scoped("ann")),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let reply = app
        .send(
            "POST",
            "/api/user/tokens/",
            Some(&root),
            Some(scoped("deputy")),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

/// A boolean is JSON `true` or `false`, in every body: strings and numbers are refused and
/// change nothing.
async fn booleans_are_json_booleans_only(app: TestApp) {
    add_user(&app, "root", true, true);
    let root = token_of(&app, "root").await;
    let ann = app.user_with_token("ann").await;
    let path = "/api/user/me/notifications/";
    for bad in [
        json!("true"),
        json!("True"),
        json!("1"),
        json!("false"),
        json!(1),
        json!("yes"),
    ] {
        let reply = app
            .send(
                "PATCH",
                path,
                Some(&ann),
                Some(json!({"report": bad.clone(), "assignment": false})),
            )
            .await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
        assert_eq!(
            reply.json(),
            json!({"report": ["Must be a valid boolean."]}),
            "{bad}"
        );
        let reply = app
            .send(
                "POST",
                "/api/user/",
                Some(&root),
                Some(
                    json!({"username": "x", "password": "long enough pw", "is_staff": bad.clone()}),
                ),
            )
            .await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
        assert_eq!(
            reply.json()["is_staff"],
            json!(["Must be a valid boolean."])
        );
    }
    let now = app.send("GET", path, Some(&ann), None).await.json();
    assert_eq!(
        now,
        json!({"assignment": true, "report": true, "activity": true, "activity_types": ["comment", "closed", "reopened", "reassigned", "mention", "deleted"], "delivery": "instant"}),
        "nothing changed"
    );
    let reply = app
        .send("PATCH", path, Some(&ann), Some(json!({"report": false})))
        .await;
    assert_eq!(
        reply.json(),
        json!({"assignment": true, "report": false, "activity": true, "activity_types": ["comment", "closed", "reopened", "reassigned", "mention", "deleted"], "delivery": "instant"})
    );
}

/// A NUL where a username or a label name is expected: 400 with the message every text field
/// gives, on both databases (PostgreSQL cannot compare one); nothing written.
async fn null_characters_are_refused_everywhere(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let issue = app.issue(&ann, "one", "ann").await;
    let one = format!("/api/issue/{}/", issue["id"]);
    let nul = "an\u{0}n";
    let full = json!({"title": "t", "description": "d", "status": "open", "assigned_to": nul});
    for (method, path, body) in [
        ("POST", "/api/issue/", full.clone()),
        ("PUT", one.as_str(), full.clone()),
        ("PATCH", one.as_str(), json!({"assigned_to": nul})),
    ] {
        let reply = app.send(method, path, Some(&ann), Some(body)).await;
        assert_eq!(reply.status, 400, "{method} {path}: {}", reply.text);
        assert_eq!(
            reply.json(),
            json!({"assigned_to": ["Null characters are not allowed."]}),
            "{method}"
        );
    }
    for parameter in ["label", "assigned_to", "created_by", "q", "status"] {
        let reply = app
            .send(
                "GET",
                &format!("/api/issue/?{parameter}=a%00b"),
                Some(&ann),
                None,
            )
            .await;
        assert_eq!(reply.status, 400, "{parameter}: {}", reply.text);
        assert_eq!(
            reply.json(),
            json!({parameter: ["Null characters are not allowed."]}),
            "{parameter}"
        );
    }
    // Elsewhere a NUL is a 4xx with a body that says what is wrong, never a 500.
    let issue_id = issue["id"].as_i64().unwrap();
    for (method, path, body) in [
        (
            "DELETE",
            format!("/api/issue/{issue_id}/labels/a%00b/"),
            None,
        ),
        (
            "POST",
            format!("/api/issue/{issue_id}/labels/"),
            Some(json!({"labels": [nul]})),
        ),
        (
            "PUT",
            format!("/api/issue/{issue_id}/labels/"),
            Some(json!({"labels": [nul]})),
        ),
        (
            "POST",
            "/api/user/get_auth_token/".to_owned(),
            Some(json!({"username": nul, "password": "x"})),
        ),
        (
            "POST",
            format!("/api/issue/{issue_id}/comments/"),
            Some(json!({"body": nul})),
        ),
        ("GET", "/api/issue/a%00b/".to_owned(), None),
        ("GET", "/api/history/?after=1%00".to_owned(), None),
        (
            "GET",
            format!("/api/issue/{issue_id}/comments/?page=1%00"),
            None,
        ),
    ] {
        let reply = app.send(method, &path, Some(&ann), body).await;
        assert!(
            (400..500).contains(&reply.status) && reply.text.contains(':'),
            "{method} {path}: {} {}",
            reply.status,
            reply.text
        );
    }
    let issues = app
        .send("GET", "/api/issue/", Some(&ann), None)
        .await
        .json();
    assert_eq!(issues.as_array().unwrap().len(), 1, "nothing created");
    assert_eq!(
        app.fetch(&ann, issue["id"].as_i64().unwrap()).await.json(),
        issue
    );
}

/// Too many `label` values: the message once, not once per extra value.
async fn too_many_label_filters_say_so_once(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let query: Vec<String> = (0..1_000).map(|n| format!("label=l{n}")).collect();
    let reply = app
        .send(
            "GET",
            &format!("/api/issue/?{}", query.join("&")),
            Some(&ann),
            None,
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({"label": ["Ensure there are no more than 100 labels."]})
    );
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    only_superusers_create_staff_or_act_for_staff,
    booleans_are_json_booleans_only,
    null_characters_are_refused_everywhere,
    too_many_label_filters_say_so_once,
);
