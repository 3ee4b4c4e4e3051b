//! The OpenAPI document describes every endpoint, and the documentation page works offline.

use crate::common::{spawn, Kind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_covers_every_endpoint_and_the_docs_page_serves_its_assets() {
    let app = spawn(Kind::Sqlite).await;
    let reply = app.send("GET", "/api/openapi.json", None, None).await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let expected = [
        ("/api/user/get_auth_token/", vec!["post"]),
        ("/api/issue/", vec!["get", "post"]),
        ("/api/issue/{id}/", vec!["get", "put", "patch", "delete"]),
        ("/api/user/", vec!["post"]),
        ("/api/user/me/", vec!["get"]),
        ("/api/user/me/notifications/", vec!["get", "patch"]),
        ("/api/issue/{id}/comments/", vec!["get", "post"]),
        ("/api/comments/{cid}/", vec!["get", "patch", "delete"]),
        ("/api/events/", vec!["get"]),
        ("/api/labels/", vec!["get", "post"]),
        ("/api/labels/{id}/", vec!["get", "patch", "delete"]),
        ("/api/issue/{id}/labels/", vec!["get", "post", "put"]),
        ("/api/issue/{id}/labels/{name}/", vec!["delete"]),
        (
            "/api/issue/{id}/subscription/",
            vec!["get", "put", "delete"],
        ),
        ("/api/notifications/", vec!["get"]),
        ("/api/notifications/{id}/", vec!["patch", "delete"]),
        ("/api/notifications/read/", vec!["post"]),
        ("/api/notifications/stream/", vec!["get"]),
        ("/api/events/stream/", vec!["get"]),
        ("/api/webhooks/", vec!["get", "post"]),
        ("/api/webhooks/{id}/", vec!["get", "patch", "delete"]),
        ("/api/webhooks/{id}/rotate-secret/", vec!["post"]),
        ("/api/webhooks/{id}/ping/", vec!["post"]),
        ("/api/webhooks/{id}/deliveries/", vec!["get"]),
        (
            "/api/webhooks/{id}/deliveries/{did}/redeliver/",
            vec!["post"],
        ),
        ("/api/user/tokens/", vec!["get", "post"]),
        ("/api/user/tokens/{id}/", vec!["delete"]),
        ("/api/user/logout/", vec!["post"]),
        ("/api/issue/{id}/history/", vec!["get"]),
        ("/api/history/", vec!["get"]),
        ("/health", vec!["get"]),
        ("/ready", vec!["get"]),
        ("/metrics", vec!["get"]),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), expected.len());
    for (path, methods) in expected {
        for method in methods {
            let operation = &paths[path][method];
            assert!(operation.is_object(), "{method} {path} missing");
            assert!(!operation["responses"].as_object().unwrap().is_empty());
        }
    }
    assert!(
        paths["/api/issue/"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .len()
            >= 8
    );
    assert!(doc["components"]["securitySchemes"]["token"].is_object());
    assert!(doc["components"]["schemas"]["Issue"].is_object());
    let event = &doc["components"]["schemas"]["Event"]["properties"];
    assert!(
        event["type"].is_object(),
        "events serialize their type as `type`"
    );

    let page = app.send("GET", "/api/docs/", None, None).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("swagger-ui-bundle.js"));
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let reply = app
            .send("GET", &format!("/api/docs/{asset}"), None, None)
            .await;
        assert_eq!(reply.status, 200, "{asset}");
        assert!(reply.text.len() > 100, "{asset}");
    }
    let initializer = app
        .send("GET", "/api/docs/swagger-initializer.js", None, None)
        .await
        .text;
    assert!(initializer.contains("/api/openapi.json"));
}
