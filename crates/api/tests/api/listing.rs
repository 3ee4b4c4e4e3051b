//! Pagination, filters, ordering and conditional requests.

use serde_json::{json, Value};

use crate::common::{spawn_with, Kind, TestApp};
use issue_tracker_testkit::both_databases;

fn ids(reply: &crate::common::Reply) -> Vec<i64> {
    reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

async fn seed(app: &TestApp) -> (String, Vec<i64>) {
    let ann = app.user_with_token("ann").await;
    let bob = app.user_with_token("bob").await;
    let mut created = Vec::new();
    for i in 0..7 {
        let (token, assignee) = if i % 2 == 0 {
            (&ann, "bob")
        } else {
            (&bob, "ann")
        };
        let title = format!(
            "Issue {i} {}",
            if i == 3 { "100% Printer_Fire" } else { "plain" }
        );
        created.push(
            app.issue(token, &title, assignee).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    (ann, created)
}

async fn pages_with_link_and_total(app: TestApp) {
    let (ann, all) = seed(&app).await;
    let reply = app
        .send("GET", "/api/issue/?per_page=3&page=2", Some(&ann), None)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(ids(&reply), all[3..6]);
    assert_eq!(reply.header("x-total-count"), Some("7"));
    let link = reply.header("link").unwrap().to_owned();
    let base = format!("{}/api/issue/", app.base);
    for (page, rel) in [(1, "first"), (1, "prev"), (3, "next"), (3, "last")] {
        assert!(
            link.contains(&format!("<{base}?per_page=3&page={page}>; rel=\"{rel}\"")),
            "{rel}: {link}"
        );
    }
    // Following next until the end gives every issue once.
    let mut seen = Vec::new();
    let mut url = format!("{}/api/issue/?per_page=3", app.base);
    loop {
        let reply = app
            .client
            .get(&url)
            .header("Authorization", format!("Token {ann}"))
            .send()
            .await
            .unwrap();
        let next = reply.headers().get("link").and_then(|l| {
            l.to_str()
                .unwrap()
                .split(", ")
                .find(|p| p.ends_with("rel=\"next\""))
                .map(|p| p[1..p.find('>').unwrap()].to_owned())
        });
        let page: Vec<Value> = reply.json().await.unwrap();
        seen.extend(page.iter().map(|i| i["id"].as_i64().unwrap()));
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(seen, all);
    // Past the end: an empty page.
    let reply = app
        .send("GET", "/api/issue/?page=99", Some(&ann), None)
        .await;
    assert_eq!((reply.status, reply.json()), (200, json!([])));
    assert_eq!(reply.header("x-total-count"), Some("7"));
    // Without page or per_page: the whole list, as the contract says, and no Link.
    let reply = app.send("GET", "/api/issue/", Some(&ann), None).await;
    assert_eq!(ids(&reply), all);
    assert_eq!(reply.header("link"), None);
    assert_eq!(reply.header("x-total-count"), Some("7"));
}

async fn bad_list_parameters_are_400_by_name(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    for (query, expected) in [
        (
            "per_page=101",
            json!({"per_page": ["Ensure this value is less than or equal to 100."]}),
        ),
        (
            "per_page=0",
            json!({"per_page": ["Ensure this value is greater than or equal to 1."]}),
        ),
        (
            "page=abc",
            json!({"page": ["A valid integer is required."]}),
        ),
        (
            "page=-1",
            json!({"page": ["Ensure this value is greater than or equal to 1."]}),
        ),
        (
            "ordering=password",
            json!({"ordering": ["Unknown field \"password\"."]}),
        ),
        (
            "ordering=-created_by",
            json!({"ordering": ["Unknown field \"created_by\"."]}),
        ),
        (
            "status=done",
            json!({"status": ["Select a valid choice. done is not one of the available choices."]}),
        ),
        (
            "updated_since=yesterday",
            json!({"updated_since": ["Enter a valid date/time (RFC 3339, e.g. 2026-01-31T12:00:00Z)."]}),
        ),
    ] {
        let reply = app
            .send("GET", &format!("/api/issue/?{query}"), Some(&ann), None)
            .await;
        assert_eq!((reply.status, reply.json()), (400, expected), "{query}");
    }
    // Unknown parameters are ignored.
    assert_eq!(
        app.send("GET", "/api/issue/?colour=red", Some(&ann), None)
            .await
            .status,
        200
    );
    // Without a token: 401 first.
    assert_eq!(
        app.send("GET", "/api/issue/?per_page=101", None, None)
            .await
            .status,
        401
    );
}

async fn filters_and_ordering(app: TestApp) {
    let (ann, all) = seed(&app).await;
    let get = |query: &'static str| {
        let app = &app;
        let ann = ann.clone();
        async move {
            app.send("GET", &format!("/api/issue/?{query}"), Some(&ann), None)
                .await
        }
    };
    // ann created 0, 2, 4, 6 (assigned to bob); bob created 1, 3, 5 (assigned to ann).
    let by_ann: Vec<i64> = [0, 2, 4, 6].iter().map(|i| all[*i]).collect();
    let by_bob: Vec<i64> = [1, 3, 5].iter().map(|i| all[*i]).collect();
    assert_eq!(ids(&get("created_by=ann").await), by_ann);
    assert_eq!(ids(&get("created_by=me").await), by_ann);
    assert_eq!(ids(&get("assigned_to=me").await), by_bob);
    assert_eq!(ids(&get("assigned_to=bob").await), by_ann);
    assert_eq!(ids(&get("assigned_to=nobody").await), Vec::<i64>::new());
    // q: case-insensitive, in title or description, % and _ literal.
    assert_eq!(ids(&get("q=PRINTER_fire").await), [all[3]]);
    assert_eq!(ids(&get("q=100%25").await), [all[3]]);
    assert_eq!(ids(&get("q=_").await), [all[3]]);
    assert_eq!(ids(&get("q=about").await).len(), 0);
    assert_eq!(ids(&get("q=issue%203").await), [all[3]]);
    // status
    let path = format!("/api/issue/{}/", all[2]);
    assert_eq!(
        app.send(
            "PATCH",
            &path,
            Some(&ann),
            Some(json!({"status": "closed"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(ids(&get("status=closed").await), [all[2]]);
    assert_eq!(
        ids(&get("status=open&created_by=ann").await),
        [all[0], all[4], all[6]]
    );
    // updated_since: only what changed since then.
    let changed_at = app.fetch(&ann, all[2]).await.json()["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = app
        .send(
            "GET",
            &format!(
                "/api/issue/?updated_since={}",
                changed_at.replace('+', "%2B")
            ),
            Some(&ann),
            None,
        )
        .await;
    assert_eq!(ids(&reply), [all[2]]);
    // ordering
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(ids(&get("ordering=-id").await), reversed);
    assert_eq!(ids(&get("ordering=-updated_at,id").await)[0], all[2]);
    let by_status = ids(&get("ordering=status,-id").await);
    assert_eq!(by_status[0], all[2], "closed sorts before open");
    assert_eq!(by_status[1], all[6], "then by descending id");
}

async fn etags_and_conditional_requests(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    let issue = app.issue(&ann, "one", "ann").await;
    let path = format!("/api/issue/{}/", issue["id"]);
    let auth = format!("Token {ann}");
    let first = app.send("GET", &path, Some(&ann), None).await;
    let etag = first.header("etag").unwrap().to_owned();
    let reply = app
        .raw(
            "GET",
            &path,
            &[("Authorization", &auth), ("If-None-Match", &etag)],
            vec![],
        )
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (304, ""));
    assert_eq!(reply.header("etag"), Some(etag.as_str()));
    // List pages too.
    let list = app.send("GET", "/api/issue/", Some(&ann), None).await;
    let list_etag = list.header("etag").unwrap().to_owned();
    let reply = app
        .raw(
            "GET",
            "/api/issue/",
            &[("Authorization", &auth), ("If-None-Match", &list_etag)],
            vec![],
        )
        .await;
    assert_eq!(reply.status, 304);
    // If-Match with the current ETag: the write goes through and returns the new ETag.
    let reply = app
        .raw(
            "PATCH",
            &path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("If-Match", &etag),
            ],
            br#"{"title":"two"}"#.to_vec(),
        )
        .await;
    assert_eq!(reply.status, 200);
    let new_etag = reply.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    // The old ETag is stale now: 412 and nothing changes.
    let full = br#"{"title":"three","description":"d","status":"open","assigned_to":"ann"}"#;
    let partial = br#"{"title":"three"}"#;
    for (method, body) in [
        ("PATCH", &partial[..]),
        ("PUT", &full[..]),
        ("DELETE", &b""[..]),
    ] {
        let reply = app
            .raw(
                method,
                &path,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                    ("If-Match", &etag),
                ],
                body.to_vec(),
            )
            .await;
        assert_eq!(
            (reply.status, reply.json()),
            (
                412,
                json!({"detail": "Precondition failed: the issue has changed."})
            ),
            "{method}"
        );
    }
    // An invalid body is a 400 whatever the precondition.
    let reply = app
        .raw(
            "PUT",
            &path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("If-Match", &etag),
            ],
            br#"{"title":""}"#.to_vec(),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        app.fetch(&ann, issue["id"].as_i64().unwrap()).await.json()["title"],
        "two"
    );
    // The old list ETag no longer matches.
    let reply = app
        .raw(
            "GET",
            "/api/issue/",
            &[("Authorization", &auth), ("If-None-Match", &list_etag)],
            vec![],
        )
        .await;
    assert_eq!(reply.status, 200);
    // No If-Match: last write wins, as before.
    assert_eq!(
        app.send("PATCH", &path, Some(&ann), Some(json!({"title": "four"})))
            .await
            .status,
        200
    );
}

/// Search answers from an index on both databases (trigrams); the index follows every create,
/// change and delete, and the query's characters are taken literally.
async fn search_follows_every_write(app: TestApp) {
    let ann = app.user_with_token("ann").await;
    app.create_user("bob", "x");
    let id = app.issue(&ann, "Alpha printer", "bob").await["id"]
        .as_i64()
        .unwrap();
    app.issue(&ann, "Other", "bob").await;
    // Each search twice: with the latest writes not yet in the search index (read from the
    // table), then after the index caught up (the server's indexer does it every 50 ms).
    let search = |q: &'static str| {
        let (app, ann) = (&app, ann.clone());
        async move {
            let path = format!("/api/issue/?q={}", percent_encode(q));
            let before = ids(&app.send("GET", &path, Some(&ann), None).await);
            app.db.index_pending_search(1_000).unwrap();
            let after = ids(&app.send("GET", &path, Some(&ann), None).await);
            assert_eq!(before, after, "{q}: the index and the table disagree");
            after
        }
    };
    assert_eq!(search("PRINTER").await, [id]);
    // Ordered searches (PostgreSQL orders them by expressions no index serves): every order.
    let zeta = app.issue(&ann, "Zeta printer", "bob").await["id"]
        .as_i64()
        .unwrap();
    for (order, expected) in [
        ("-title", [zeta, id]),
        ("title", [id, zeta]),
        ("-id", [zeta, id]),
        ("-created_at", [zeta, id]),
        ("updated_at", [id, zeta]),
        ("status,-id", [zeta, id]),
    ] {
        let path = format!("/api/issue/?q=printer&ordering={order}");
        assert_eq!(
            ids(&app.send("GET", &path, Some(&ann), None).await),
            expected,
            "{order}"
        );
    }
    let path = format!("/api/issue/{zeta}/");
    assert_eq!(
        app.send("DELETE", &path, Some(&ann), None).await.status,
        204
    );
    assert_eq!(
        search("pr").await,
        [id],
        "two characters: read without the index"
    );
    let path = format!("/api/issue/{id}/");
    let patch = |body: Value| {
        let (app, ann, path) = (&app, ann.clone(), path.clone());
        async move {
            app.send("PATCH", &path, Some(&ann), Some(body))
                .await
                .status
        }
    };
    assert_eq!(
        patch(json!({"title": "Beta scanner", "description": "say \"hi\" now"})).await,
        200
    );
    assert_eq!(
        search("printer").await,
        Vec::<i64>::new(),
        "the old title is forgotten"
    );
    assert_eq!(search("scanner").await, [id]);
    assert_eq!(search("y \"hi\" n").await, [id], "quotes are literal");
    assert_eq!(
        search("\"hi\" OR x").await,
        Vec::<i64>::new(),
        "no query syntax"
    );
    assert_eq!(search("%").await, Vec::<i64>::new());
    assert_eq!(
        app.send("DELETE", &path, Some(&ann), None).await.status,
        204
    );
    assert_eq!(
        search("scanner").await,
        Vec::<i64>::new(),
        "a deleted issue is gone"
    );
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

both_databases!(
    |kind| crate::common::spawn(kind).await;
    search_follows_every_write,
    pages_with_link_and_total,
    bad_list_parameters_are_400_by_name,
    filters_and_ordering,
    etags_and_conditional_requests,
);

async fn capped_unpaginated_list(kind: Kind) {
    let app = spawn_with(kind, &[("LIST_CAP", "3")]).await;
    let (ann, all) = seed(&app).await;
    let reply = app.send("GET", "/api/issue/", Some(&ann), None).await;
    assert_eq!(ids(&reply), all[..3]);
    assert_eq!(reply.header("x-total-count"), Some("7"));
    assert!(reply.header("link").unwrap().contains("rel=\"next\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capped_unpaginated_list_postgres() {
    capped_unpaginated_list(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capped_unpaginated_list_sqlite() {
    capped_unpaginated_list(Kind::Sqlite).await;
}
