use issue_tracker_domain::{unsubscribe_token, NotificationPreferences};
use serde_json::json;

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

async fn me_and_tokens(app: TestApp) {
    let first = app.user_with_token("ann").await;
    let second = app.login("ann", "pw-ann").await;
    let me = app.send("GET", "/api/user/me/", Some(&first), None).await;
    assert_eq!(me.status, 200);
    let body = me.json();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "username", "email", "is_staff", "date_joined"]
    );
    assert_eq!(
        (&body["username"], &body["is_staff"]),
        (&json!("ann"), &json!(false))
    );
    let tokens = app
        .send("GET", "/api/user/tokens/", Some(&first), None)
        .await
        .json();
    let list = tokens.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(!tokens.to_string().contains(&first) && !tokens.to_string().contains(&second));
    let prefixes: Vec<&str> = list.iter().map(|t| t["prefix"].as_str().unwrap()).collect();
    assert!(prefixes.contains(&&second[..8]));
    // Revoke the second token by id; the first keeps working.
    let id = list
        .iter()
        .find(|t| t["prefix"] == json!(&second[..8]))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.send(
            "DELETE",
            &format!("/api/user/tokens/{id}/"),
            Some(&first),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        app.send("GET", "/api/issue/", Some(&second), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.send("GET", "/api/issue/", Some(&first), None)
            .await
            .status,
        200
    );
    // Another user's token id is not found.
    let bob = app.user_with_token("bob").await;
    let bob_tokens = app
        .send("GET", "/api/user/tokens/", Some(&bob), None)
        .await
        .json();
    let bob_id = bob_tokens[0]["id"].as_i64().unwrap();
    assert_eq!(
        app.send(
            "DELETE",
            &format!("/api/user/tokens/{bob_id}/"),
            Some(&first),
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        app.send("GET", "/api/issue/", Some(&bob), None)
            .await
            .status,
        200
    );
}

async fn only_staff_create_users(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    app.create_user_full("boss", "pw-boss", "boss@example.com", true);
    let boss = app.login("boss", "pw-boss").await;
    let new_user =
        json!({"username": "carl", "email": "carl@example.com", "password": "long enough"});
    let reply = app
        .send("POST", "/api/user/", Some(&ann), Some(new_user.clone()))
        .await;
    assert_eq!(reply.status, 403);
    let reply = app
        .send("POST", "/api/user/", Some(&boss), Some(new_user.clone()))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json()["username"], "carl");
    assert_eq!(app.login("carl", "long enough").await.len(), 40);
    let reply = app
        .send("POST", "/api/user/", Some(&boss), Some(new_user))
        .await;
    assert_eq!(
        reply.json(),
        json!({"username": ["A user with that username already exists."]})
    );
    let reply = app
        .send(
            "POST",
            "/api/user/",
            Some(&boss),
            Some(json!({"username": "d e", "password": "€".repeat(25)})),
        )
        .await;
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert!(
        body.get("username").is_some() && body.get("password").is_some(),
        "{body}"
    );
    for password in ["", "   ", "a\u{0}b"] {
        let reply = app
            .send(
                "POST",
                "/api/user/",
                Some(&boss),
                Some(json!({"username": "dave", "password": password})),
            )
            .await;
        assert_eq!(reply.status, 400, "{password:?}");
    }
    assert!(app.db.find_user("dave").unwrap().is_none());
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    me_and_tokens,
    only_staff_create_users,
    notification_preferences
);

/// `GET`/`PATCH /api/user/me/notifications/`: defaults on, partial changes, bad values refused
/// with nothing changed, each user only their own, and the change in the history.
async fn notification_preferences(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let path = "/api/user/me/notifications/";
    let get = |token: &str| {
        let (app, token) = (&app, token.to_owned());
        async move { app.send("GET", path, Some(&token), None).await.json() }
    };
    assert_eq!(
        get(&ann).await,
        json!({"assignment": true, "report": true, "activity": true, "activity_types": ["comment", "closed", "reopened", "reassigned", "mention", "deleted"], "delivery": "instant"})
    );
    let changed = app
        .send("PATCH", path, Some(&ann), Some(json!({"report": false})))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(
        changed.json(),
        json!({"assignment": true, "report": false, "activity": true, "activity_types": ["comment", "closed", "reopened", "reassigned", "mention", "deleted"], "delivery": "instant"})
    );
    assert_eq!(
        get(&ann).await,
        json!({"assignment": true, "report": false, "activity": true, "activity_types": ["comment", "closed", "reopened", "reassigned", "mention", "deleted"], "delivery": "instant"})
    );
    assert_eq!(
        get(&bob).await,
        json!({"assignment": true, "report": true, "activity": true, "activity_types": ["comment", "closed", "reopened", "reassigned", "mention", "deleted"], "delivery": "instant"})
    );
    // Bad values: 400 naming each field, nothing changed.
    for (body, field) in [
        (json!({"assignment": "yes", "report": true}), "assignment"),
        (json!({"report": null}), "report"),
        (json!({"report": 2}), "report"),
    ] {
        let refused = app
            .send("PATCH", path, Some(&ann), Some(body.clone()))
            .await;
        assert_eq!(refused.status, 400, "{body}");
        assert!(refused.json()[field].is_array(), "{body}: {}", refused.text);
        assert_eq!(
            get(&ann).await,
            json!({"assignment": true, "report": false, "activity": true, "activity_types": ["comment", "closed", "reopened", "reassigned", "mention", "deleted"], "delivery": "instant"})
        );
    }
    let not_object = app.send("PATCH", path, Some(&ann), Some(json!([1]))).await;
    assert_eq!(not_object.status, 400);
    // Nothing given: nothing changes.
    let same = app.send("PATCH", path, Some(&ann), Some(json!({}))).await;
    assert_eq!(
        same.json(),
        json!({"assignment": true, "report": false, "activity": true, "activity_types": ["comment", "closed", "reopened", "reassigned", "mention", "deleted"], "delivery": "instant"})
    );
    // Authentication and methods.
    assert_eq!(app.send("GET", path, None, None).await.status, 401);
    assert_eq!(
        app.send("PATCH", path, None, Some(json!({"report": true})))
            .await
            .status,
        401
    );
    let put = app.send("PUT", path, Some(&ann), Some(json!({}))).await;
    assert_eq!(put.status, 405);
    assert_eq!(put.header("allow"), Some("GET, HEAD, PATCH"));
    // The change is in the history (one event: the empty PATCH wrote none).
    let (events, _) = app.db.list_events(&Default::default(), 0, 100).unwrap();
    let changes: Vec<String> = events
        .iter()
        .filter(|e| e.event_type.as_str() == "user.updated")
        .map(|e| serde_json::to_string(&e.changes).unwrap())
        .collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].contains("notify_report"), "{changes:?}");
}

const SECRET: &str = "unsubscribe-test-secret";

/// The report's one-click unsubscribe link (RFC 8058): a `POST` with no login turns that user's
/// report off and nothing else; a `GET` changes nothing; a forged, altered, expired or
/// other-secret token is refused with nothing changed.
async fn one_click_unsubscribe(app: TestApp) {
    let ann_token = app.user_with_token("ann").await;
    app.create_user("bob", "x");
    let ann = app.db.find_user("ann").unwrap().unwrap().id;
    let bob = app.db.find_user("bob").unwrap().unwrap().id;
    let now = chrono::Utc::now().timestamp();
    let link = |token: &str| format!("{}/unsubscribe/{token}/", app.base);
    let post = |token: String| {
        let (app, url) = (&app, link(&token));
        async move {
            let response = app
                .client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let preferences = |user| app.db.notification_preferences(user).unwrap().unwrap();
    let untouched = NotificationPreferences::default();
    let valid = unsubscribe_token(SECRET.as_bytes(), ann, now + 3_600);

    // Refused, nothing changed: another user's id under ann's signature, an altered signature,
    // another secret, an expired link, garbage.
    let forged = valid.replacen(&ann.get().to_string(), &bob.get().to_string(), 1);
    let mut altered = valid.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == '0' { '1' } else { '0' });
    for bad in [
        forged,
        altered,
        unsubscribe_token(b"another secret", ann, now + 3_600),
        unsubscribe_token(SECRET.as_bytes(), ann, now - 1),
        "nonsense".to_owned(),
    ] {
        let (status, page) = post(bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(page.contains("Nothing was changed."), "{page}");
        assert_eq!((preferences(ann), preferences(bob)), (untouched, untouched));
    }
    // A GET (what a link scanner does) shows the button and changes nothing.
    let page = app.client.get(link(&valid)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("<form method=\"post\">"));
    assert_eq!(preferences(ann), untouched);
    // The one-click POST: ann's report off, her assignment email and bob untouched.
    let (status, page) = post(valid.clone()).await;
    assert_eq!(status, 200, "{page}");
    let off = NotificationPreferences {
        report: false,
        ..NotificationPreferences::default()
    };
    assert_eq!((preferences(ann), preferences(bob)), (off, untouched));
    // Twice is fine; and ann sees it through the API.
    assert_eq!(post(valid).await.0, 200);
    let mine = app
        .send("GET", "/api/user/me/notifications/", Some(&ann_token), None)
        .await;
    assert_eq!(
        mine.json(),
        json!({"assignment": true, "report": false, "activity": true, "activity_types": ["comment", "closed", "reopened", "reassigned", "mention", "deleted"], "delivery": "instant"})
    );
    // Other methods: 405.
    let put = app.client.put(link("x")).send().await.unwrap();
    assert_eq!(put.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_unsubscribe_postgres() {
    one_click_unsubscribe(
        crate::common::spawn_with(crate::common::Kind::Postgres, &[("SECRET_KEY", SECRET)]).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_unsubscribe_sqlite() {
    one_click_unsubscribe(
        crate::common::spawn_with(crate::common::Kind::Sqlite, &[("SECRET_KEY", SECRET)]).await,
    )
    .await;
}

/// Without `SECRET_KEY` no link can be good: every token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_no_unsubscribe_link_works() {
    let app = crate::common::spawn(crate::common::Kind::Sqlite).await;
    app.create_user("ann", "x");
    let ann = app.db.find_user("ann").unwrap().unwrap().id;
    let token = unsubscribe_token(b"", ann, chrono::Utc::now().timestamp() + 60);
    let response = app
        .client
        .post(format!("{}/unsubscribe/{token}/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        app.db
            .notification_preferences(ann)
            .unwrap()
            .unwrap()
            .report
    );
}
