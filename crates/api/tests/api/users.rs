use serde_json::json;

use crate::both_databases;
use crate::common::TestApp;

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
    assert_eq!(get(&ann).await, json!({"assignment": true, "report": true}));
    let changed = app
        .send("PATCH", path, Some(&ann), Some(json!({"report": false})))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.json(), json!({"assignment": true, "report": false}));
    assert_eq!(
        get(&ann).await,
        json!({"assignment": true, "report": false})
    );
    assert_eq!(get(&bob).await, json!({"assignment": true, "report": true}));
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
            json!({"assignment": true, "report": false})
        );
    }
    let not_object = app.send("PATCH", path, Some(&ann), Some(json!([1]))).await;
    assert_eq!(not_object.status, 400);
    // Nothing given: nothing changes.
    let same = app.send("PATCH", path, Some(&ann), Some(json!({}))).await;
    assert_eq!(same.json(), json!({"assignment": true, "report": false}));
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
