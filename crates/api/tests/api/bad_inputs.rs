//! `spec/bad-inputs.md`: each bad request gets its documented error and changes nothing.

use serde_json::{json, Value};

use crate::common::TestApp;
use issue_tracker_testkit::both_databases;

fn valid() -> Value {
    json!({"title": "t", "description": "d", "status": "open", "assigned_to": "ann"})
}

fn with(field: &str, value: Value) -> Value {
    let mut body = valid();
    body[field] = value;
    body
}

async fn field_validation_table(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    app.create_user("gone", "x");
    app.db
        .set_active(
            "gone",
            false,
            &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
        )
        .unwrap();
    let long_title = "é".repeat(256);
    let cases: Vec<(Value, Value)> = vec![
        (
            with("title", json!(null)),
            json!({"title": ["This field may not be null."]}),
        ),
        (
            with("title", json!("   \t\n")),
            json!({"title": ["This field may not be blank."]}),
        ),
        (
            with("title", json!("")),
            json!({"title": ["This field may not be blank."]}),
        ),
        (
            with("title", json!(true)),
            json!({"title": ["Not a valid string."]}),
        ),
        (
            with("title", json!({"a": 1})),
            json!({"title": ["Not a valid string."]}),
        ),
        (
            with("title", json!([1])),
            json!({"title": ["Not a valid string."]}),
        ),
        (
            with("title", json!(long_title)),
            json!({"title": ["Ensure this field has no more than 255 characters."]}),
        ),
        (
            with("title", json!("a\u{0}b")),
            json!({"title": ["Null characters are not allowed."]}),
        ),
        (
            with("description", json!("x".repeat(65_536))),
            json!({"description": ["Ensure this field has no more than 65535 characters."]}),
        ),
        (
            with("status", json!("Open")),
            json!({"status": ["\"Open\" is not a valid choice."]}),
        ),
        (
            with("status", json!(1)),
            json!({"status": ["\"1\" is not a valid choice."]}),
        ),
        (
            with("status", json!(true)),
            json!({"status": ["\"True\" is not a valid choice."]}),
        ),
        (
            with("status", json!("")),
            json!({"status": ["\"\" is not a valid choice."]}),
        ),
        (
            with("assigned_to", json!("nobody")),
            json!({"assigned_to": ["Object with username=nobody does not exist."]}),
        ),
        (
            with("assigned_to", json!("ANN")),
            json!({"assigned_to": ["Object with username=ANN does not exist."]}),
        ),
        (
            with("assigned_to", json!(" ann")),
            json!({"assigned_to": ["Object with username= ann does not exist."]}),
        ),
        (
            with("assigned_to", json!("gone")),
            json!({"assigned_to": ["Object with username=gone does not exist."]}),
        ),
        (
            with("assigned_to", json!("")),
            json!({"assigned_to": ["This field may not be null."]}),
        ),
        (
            with("assigned_to", json!(null)),
            json!({"assigned_to": ["This field may not be null."]}),
        ),
        (
            with("assigned_to", json!(1.5)),
            json!({"assigned_to": ["Object with username=1.5 does not exist."]}),
        ),
        (
            with("assigned_to", json!({"username": "ann"})),
            json!({"assigned_to": ["Invalid value."]}),
        ),
        (
            with("assigned_to", json!(["ann"])),
            json!({"assigned_to": ["Invalid value."]}),
        ),
        (
            with("assigned_to", json!(false)),
            json!({"assigned_to": ["Invalid value."]}),
        ),
        (
            json!({"title": {"x": 1}, "status": false, "assigned_to": 1.5}),
            json!({
                "title": ["Not a valid string."],
                "description": ["This field is required."],
                "status": ["\"False\" is not a valid choice."],
                "assigned_to": ["Object with username=1.5 does not exist."]
            }),
        ),
    ];
    for (body, expected) in cases {
        let reply = app
            .send("POST", "/api/issue/", Some(&ann), Some(body.clone()))
            .await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.json(), expected, "{body}");
    }
    // Nothing was stored by any of them.
    assert_eq!(
        app.send("GET", "/api/issue/", Some(&ann), None)
            .await
            .json(),
        json!([])
    );

    // The same rules on PATCH, and the issue stays as it was.
    let issue = app.issue(&ann, "keep", "ann").await;
    let path = format!("/api/issue/{}/", issue["id"]);
    for body in [
        json!({"title": ""}),
        json!({"status": "done"}),
        json!({"assigned_to": "nobody"}),
        json!({"title": "ok", "description": null}),
    ] {
        let reply = app
            .send("PATCH", &path, Some(&ann), Some(body.clone()))
            .await;
        assert_eq!(reply.status, 400, "{body}");
    }
    assert_eq!(
        app.fetch(&ann, issue["id"].as_i64().unwrap()).await.json(),
        issue
    );
}

async fn lengths_are_counted_in_characters(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let title = "€".repeat(255);
    let reply = app
        .send(
            "POST",
            "/api/issue/",
            Some(&ann),
            Some(with("title", json!(title))),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json()["title"], json!(title));
    let description = "ü".repeat(65_535);
    let reply = app
        .send(
            "POST",
            "/api/issue/",
            Some(&ann),
            Some(with("description", json!(description))),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(
        reply.json()["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        65_535
    );
}

async fn text_is_stored_literally(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    for text in [
        "' OR '1'='1",
        "'); DROP TABLE issues; --",
        "100% _done_ \\ back\\slash",
        "<script>alert(1)</script>",
        "emoji 🦀 and\nnewline",
    ] {
        let reply = app
            .send(
                "POST",
                "/api/issue/",
                Some(&ann),
                Some(with("description", json!(text))),
            )
            .await;
        assert_eq!(reply.status, 201, "{text}");
        let id = reply.json()["id"].as_i64().unwrap();
        assert_eq!(app.fetch(&ann, id).await.json()["description"], json!(text));
    }
    assert_eq!(
        app.send("GET", "/api/issue/", Some(&ann), None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

async fn bodies_that_are_not_objects(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let auth = format!("Token {ann}");
    let json_ct = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    for (body, expected) in [
        (
            "[1,2]",
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
        (
            "\"text\"",
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
        ),
        (
            "12",
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]}),
        ),
        ("null", json!({"non_field_errors": ["No data provided"]})),
    ] {
        let reply = app
            .raw("POST", "/api/issue/", &json_ct, body.as_bytes().to_vec())
            .await;
        assert_eq!((reply.status, reply.json()), (400, expected), "{body}");
    }
    for body in [
        &b"{\"title\": \"\xff\xfe\"}"[..],
        b"{\"title\": ",
        b"{'title': 1}",
        b"{\"a\":1}garbage",
    ] {
        let reply = app
            .raw("POST", "/api/issue/", &json_ct, body.to_vec())
            .await;
        assert_eq!(reply.status, 400, "{body:?}");
        assert!(reply.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - "));
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let reply = app
        .raw("POST", "/api/issue/", &json_ct, deep.into_bytes())
        .await;
    assert_eq!(reply.status, 400);
    let deep_object = format!(
        "{{\"title\": {}1{}}}",
        "{\"a\":".repeat(5_000),
        "}".repeat(5_000)
    );
    let reply = app
        .raw("POST", "/api/issue/", &json_ct, deep_object.into_bytes())
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        app.send("GET", "/api/issue/", Some(&ann), None)
            .await
            .json(),
        json!([])
    );
}

async fn content_types(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let auth = format!("Token {ann}");
    let reply = app
        .raw(
            "POST",
            "/api/issue/",
            &[("Authorization", &auth), ("Content-Type", "text/plain")],
            valid().to_string().into_bytes(),
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (
            415,
            json!({"detail": "Unsupported media type \"text/plain\" in request."})
        )
    );
    // No Content-Type: read as an empty body.
    let reply = app
        .raw(
            "POST",
            "/api/issue/",
            &[("Authorization", &auth)],
            valid().to_string().into_bytes(),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({
            "title": ["This field is required."],
            "description": ["This field is required."],
            "status": ["This field is required."],
            "assigned_to": ["This field is required."]
        })
    );
    let reply = app
        .raw(
            "POST",
            "/api/issue/",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json; charset=utf-8"),
            ],
            valid().to_string().into_bytes(),
        )
        .await;
    assert_eq!(reply.status, 201);
    let reply = app
        .raw(
            "POST",
            "/api/issue/",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            b"title=%FF%FE&description=d&status=open&assigned_to=ann".to_vec(),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
}

async fn oversized_bodies_get_413(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let huge = with("description", json!("x".repeat(3 * 1024 * 1024))).to_string();
    let reply = app
        .raw(
            "POST",
            "/api/issue/",
            &[
                ("Authorization", &format!("Token {ann}")),
                ("Content-Type", "application/json"),
            ],
            huge.into_bytes(),
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (413, json!({"detail": "Request body too large."}))
    );
    let password = json!({"username": "ann", "password": "p".repeat(2 * 1024 * 1024)}).to_string();
    let reply = app
        .raw(
            "POST",
            "/api/user/get_auth_token/",
            &[("Content-Type", "application/json")],
            password.into_bytes(),
        )
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        app.send("GET", "/api/issue/", Some(&ann), None)
            .await
            .json(),
        json!([])
    );
}

async fn read_only_fields_are_ignored_on_patch(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    app.create_user("bob", "x");
    let issue = app.issue(&ann, "one", "ann").await;
    let id = issue["id"].as_i64().unwrap();
    let reply = app
        .send(
            "PATCH",
            &format!("/api/issue/{id}/"),
            Some(&ann),
            Some(json!({"id": id + 100, "created_by": "bob", "created_at": "2000-01-01T00:00:00Z", "updated_at": "2000-01-01T00:00:00Z", "is_staff": true})),
        )
        .await;
    assert_eq!((reply.status, reply.json()), (200, issue.clone()));
    assert_eq!(app.fetch(&ann, id).await.json(), issue);
}

async fn authentication_comes_before_the_body(app: TestApp) {
    let huge = "x".repeat(3 * 1024 * 1024).into_bytes();
    let json_ct = [("Content-Type", "application/json")];
    for body in [huge, b"{not json".to_vec(), b"[]".to_vec()] {
        let reply = app.raw("POST", "/api/issue/", &json_ct, body).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.header("www-authenticate"), Some("Token"));
    }
    let reply = app
        .raw(
            "POST",
            "/api/issue/",
            &[
                ("Content-Type", "text/plain"),
                ("Authorization", "Token nope"),
            ],
            b"hi".to_vec(),
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (401, json!({"detail": "Invalid token."}))
    );
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    field_validation_table,
    lengths_are_counted_in_characters,
    text_is_stored_literally,
    bodies_that_are_not_objects,
    content_types,
    oversized_bodies_get_413,
    authentication_comes_before_the_body,
    read_only_fields_are_ignored_on_patch,
);
