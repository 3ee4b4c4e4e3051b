//! The staff feed of every change (`/api/events/`): who may read it, what it holds, that it
//! replays as webhook payloads, and tokens scoped to it.

use super::*;

async fn the_feed_is_for_staff_and_holds_every_change_without_secrets(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let boss = staff(&app, "boss").await;
    let forbidden = app.send("GET", "/api/history/", Some(&ann), None).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        app.send("GET", "/api/history/", None, None).await.status,
        401
    );

    // A user created through the API, with a password that must never show.
    let created = app
        .send(
            "POST",
            "/api/user/",
            Some(&boss),
            Some(json!({"username": "dora", "password": "very-secret-pw-1", "is_staff": false})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let dora = app.login("dora", "very-secret-pw-1").await;
    app.issue(&ann, "one", "dora").await;
    // Through the CLI's door: a password change (revoking dora's token) and a deactivation.
    app.db
        .set_password_hash("dora", &bcrypt::hash("another-pw-2", 4).unwrap(), &CLI)
        .unwrap();
    app.db.set_active("ann", false, &CLI).unwrap();
    app.db.set_active("ann", false, &CLI).unwrap();

    let events = feed(&app, &boss, 2).await;
    let summary: Vec<(String, String, Value)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["via"].as_str().unwrap().to_owned(),
                e["user"]["username"].clone(),
            )
        })
        .collect();
    let expect = |t: &str, via: &str, user: Value| (t.to_owned(), via.to_owned(), user);
    assert_eq!(
        summary,
        [
            expect("user.created", "cli", json!("ann")),
            expect("user.created", "cli", json!("boss")),
            expect("user.created", "api", json!("dora")),
            expect("issue.created", "api", Value::Null),
            expect("user.password_changed", "cli", json!("dora")),
            expect("user.tokens_revoked", "cli", json!("dora")),
            expect("user.updated", "cli", json!("ann")),
            expect("user.tokens_revoked", "cli", json!("ann")),
        ]
    );
    assert_eq!(events[2]["actor"]["username"], "boss");
    assert!(events[4]["actor"].is_null(), "the CLI acts as the system");
    assert_eq!(
        changes(&events[6]),
        BTreeMap::from([("is_active".into(), (json!(true), json!(false)))])
    );
    let text = serde_json::to_string(&events).unwrap();
    for secret in [
        "very-secret-pw-1",
        "another-pw-2",
        dora.as_str(),
        ann.as_str(),
        "$2b$",
    ] {
        assert!(!text.contains(secret), "an event holds a secret");
    }
    // The cursor: after the last id, nothing; a bad cursor, 400.
    let last = events.last().unwrap()["id"].as_i64().unwrap();
    let tail = app
        .send(
            "GET",
            &format!("/api/history/?after={last}"),
            Some(&boss),
            None,
        )
        .await;
    assert_eq!(tail.json(), json!([]));
    assert!(tail.header("link").is_none());
    let bad = app
        .send("GET", "/api/history/?after=1e3", Some(&boss), None)
        .await;
    assert_eq!(bad.status, 400);
}

/// `GET /api/events/`: the history as webhook payloads, with the history's ids, in its order,
/// paged by `after`; staff only.
async fn the_event_feed_replays_the_history_as_webhook_payloads(app: TestApp) {
    let boss = staff(&app, "boss").await;
    let ann = app.user_with_token("ann").await;
    let issue = app.issue(&ann, "Printer", "ann").await["id"]
        .as_i64()
        .unwrap();
    app.send(
        "PATCH",
        &format!("/api/issue/{issue}/"),
        Some(&ann),
        Some(serde_json::json!({"status": "closed"})),
    )
    .await;
    app.send(
        "POST",
        &format!("/api/issue/{issue}/comments/"),
        Some(&ann),
        Some(serde_json::json!({"body": "done"})),
    )
    .await;
    let history = app
        .send("GET", "/api/history/", Some(&boss), None)
        .await
        .json();
    let feed = app.send("GET", "/api/events/", Some(&boss), None).await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    let feed = feed.json();
    let (history, feed) = (history.as_array().unwrap(), feed.as_array().unwrap());
    assert_eq!(history.len(), feed.len());
    assert!(feed.len() >= 5, "users, the issue, its change, the comment");
    for (event, payload) in history.iter().zip(feed) {
        assert_eq!(
            payload.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["id", "type", "timestamp", "data"]
        );
        assert_eq!(payload["id"], event["id"]);
        assert_eq!(payload["type"], event["type"]);
        assert_eq!(payload["timestamp"], event["created_at"]);
        for key in ["actor", "via", "request_id", "issue", "user", "changes"] {
            assert_eq!(payload["data"][key], event[key], "{key}");
        }
    }
    // A consumer that saw up to the second catches up from there, without a gap.
    let second = feed[1]["id"].as_i64().unwrap();
    let rest = app
        .send(
            "GET",
            &format!("/api/events/?after={second}"),
            Some(&boss),
            None,
        )
        .await
        .json();
    assert_eq!(rest.as_array().unwrap().as_slice(), &feed[2..]);
    let page = app
        .send("GET", "/api/events/?per_page=2", Some(&boss), None)
        .await;
    assert!(page.header("link").unwrap().contains("rel=\"next\""));
    assert_eq!(
        app.send("GET", "/api/events/", Some(&ann), None)
            .await
            .status,
        403
    );
    assert_eq!(
        app.send("GET", "/api/events/", None, None).await.status,
        401
    );
    assert_eq!(
        app.send("GET", "/api/events/?after=x", Some(&boss), None)
            .await
            .status,
        400
    );
}

/// A token with the `events:read` scope, issued by staff for a user who is not, reads the
/// history and the event feed and can do nothing else; a non-staff caller cannot issue one; bad
/// bodies issue nothing; the issuing is in the history, never the key.
async fn a_token_scoped_to_events_reads_the_feed_and_nothing_else(app: TestApp) {
    let boss = staff(&app, "boss").await;
    let ann = app.user_with_token("ann").await;
    app.create_user_full("feed", "pw-feed", "", false);
    let issue = app.issue(&ann, "Printer", "ann").await["id"]
        .as_i64()
        .unwrap();
    let scoped = serde_json::json!({"scopes": ["events:read"], "username": "feed"});

    // Only staff issue them: ann may not, even for herself.
    for body in [
        scoped.clone(),
        serde_json::json!({"scopes": ["events:read"]}),
    ] {
        let refused = app
            .send("POST", "/api/user/tokens/", Some(&ann), Some(body))
            .await;
        assert_eq!(refused.status, 403, "{}", refused.text);
    }
    let events_before = app
        .send("GET", "/api/history/?per_page=100", Some(&boss), None)
        .await
        .json()
        .as_array()
        .unwrap()
        .len();
    let bad = [
        (serde_json::json!({"username": "feed"}), "scopes"),
        (serde_json::json!({"scopes": []}), "scopes"),
        (serde_json::json!({"scopes": "events:read"}), "scopes"),
        (serde_json::json!({"scopes": ["admin"]}), "scopes"),
        (serde_json::json!({"scopes": [1]}), "scopes"),
        (
            serde_json::json!({"scopes": ["events:read"], "username": "nobody"}),
            "username",
        ),
        (
            serde_json::json!({"scopes": ["events:read"], "username": 7}),
            "username",
        ),
        (
            serde_json::json!({"scopes": ["events:read"], "expires_in": 5}),
            "expires_in",
        ),
        (
            serde_json::json!({"scopes": ["events:read"], "expires_in": "60"}),
            "expires_in",
        ),
        (
            serde_json::json!({"scopes": ["events:read"], "expires_in": -60}),
            "expires_in",
        ),
    ];
    for (body, field) in bad {
        let reply = app
            .send("POST", "/api/user/tokens/", Some(&boss), Some(body.clone()))
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        assert!(reply.json()[field].is_array(), "{body}: {}", reply.text);
    }
    let unknown = app
        .send(
            "POST",
            "/api/user/tokens/",
            Some(&boss),
            Some(serde_json::json!({"scopes": ["admin"]})),
        )
        .await;
    assert_eq!(
        unknown.json(),
        serde_json::json!({"scopes": ["Unknown scope \"admin\"; the scopes are: events:read."]})
    );
    let events_after = app
        .send("GET", "/api/history/?per_page=100", Some(&boss), None)
        .await
        .json();
    assert_eq!(
        events_after.as_array().unwrap().len(),
        events_before,
        "nothing issued"
    );

    let created = app
        .send("POST", "/api/user/tokens/", Some(&boss), Some(scoped))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let created = created.json();
    assert_eq!(
        created.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "id",
            "token",
            "prefix",
            "username",
            "scopes",
            "created_at",
            "expires_at"
        ]
    );
    assert_eq!(created["username"], "feed");
    assert_eq!(created["scopes"], serde_json::json!(["events:read"]));
    let key = created["token"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 40);
    assert_eq!(created["prefix"], key[..8]);

    // It reads the feed and the history, as staff do.
    let by_staff = app
        .send("GET", "/api/events/", Some(&boss), None)
        .await
        .json();
    let by_scope = app.send("GET", "/api/events/", Some(&key), None).await;
    assert_eq!(by_scope.status, 200, "{}", by_scope.text);
    assert_eq!(by_scope.json(), by_staff);
    assert_eq!(
        app.send("GET", "/api/history/", Some(&key), None)
            .await
            .status,
        200
    );
    let issue_history = format!("/api/issue/{issue}/history/");
    assert_eq!(
        app.send("GET", &issue_history, Some(&key), None)
            .await
            .status,
        200
    );
    // The issuing is an event naming who issued which token for whom, never the key.
    let last = by_staff.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "user.token_created");
    assert_eq!(last["data"]["actor"]["username"], "boss");
    assert_eq!(last["data"]["user"]["username"], "feed");
    assert_eq!(
        last["data"]["changes"],
        serde_json::json!([
            {"field": "token", "old": null, "new": created["id"]},
            {"field": "scopes", "old": null, "new": ["events:read"]},
        ])
    );
    assert!(!by_scope.text.contains(&key));

    // Nothing else: not its user's rights, not another token.
    let issues_before = app
        .send("GET", "/api/issue/", Some(&ann), None)
        .await
        .json();
    let elsewhere = [
        ("GET", "/api/issue/".to_owned(), None),
        ("GET", format!("/api/issue/{issue}/"), None),
        (
            "POST",
            "/api/issue/".to_owned(),
            Some(serde_json::json!({"title": "x", "description": "y", "assigned_to": "ann"})),
        ),
        ("DELETE", format!("/api/issue/{issue}/"), None),
        ("GET", "/api/user/me/".to_owned(), None),
        ("GET", "/api/user/tokens/".to_owned(), None),
        (
            "POST",
            "/api/user/tokens/".to_owned(),
            Some(serde_json::json!({"scopes": ["events:read"]})),
        ),
        ("GET", "/api/labels/".to_owned(), None),
        ("GET", "/api/webhooks/".to_owned(), None),
        ("GET", format!("/api/issue/{issue}/comments/"), None),
    ];
    for (method, route, body) in elsewhere {
        let reply = app.send(method, &route, Some(&key), body).await;
        assert_eq!(reply.status, 403, "{method} {route}: {}", reply.text);
        assert_eq!(
            reply.json()["detail"],
            "This token's scopes (events:read) do not allow this request.",
            "{method} {route}"
        );
    }
    let issues_after = app
        .send("GET", "/api/issue/", Some(&ann), None)
        .await
        .json();
    assert_eq!(issues_after, issues_before, "nothing written");

    // The user's own full token is not staff: the scope was the grant.
    let feed_login = app.login("feed", "pw-feed").await;
    assert_eq!(
        app.send("GET", "/api/events/", Some(&feed_login), None)
            .await
            .status,
        403
    );
    let listed = app
        .send("GET", "/api/user/tokens/", Some(&feed_login), None)
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // A restricted token can still end itself.
    assert_eq!(
        app.send("POST", "/api/user/logout/", Some(&key), None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.send("GET", "/api/events/", Some(&key), None)
            .await
            .status,
        401
    );

    // A short life, when asked.
    let brief = app
        .send(
            "POST",
            "/api/user/tokens/",
            Some(&boss),
            Some(serde_json::json!({"scopes": ["events:read"], "expires_in": 60})),
        )
        .await
        .json();
    let created_at =
        chrono::DateTime::parse_from_rfc3339(brief["created_at"].as_str().unwrap()).unwrap();
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(brief["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires_at - created_at).num_seconds(), 60);
    assert_eq!(brief["username"], "boss");
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    a_token_scoped_to_events_reads_the_feed_and_nothing_else,
    the_event_feed_replays_the_history_as_webhook_payloads,
    the_feed_is_for_staff_and_holds_every_change_without_secrets,
);
