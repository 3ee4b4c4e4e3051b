//! Webhook delivery against a real HTTP receiver on loopback, on both databases: signatures
//! verified by Python's `standardwebhooks` (the specification's reference library), retries
//! after a 500 and a timeout with the same `webhook-id`, `410` disabling the endpoint,
//! redelivery, secret rotation, and the address guard (literal addresses and a name that
//! resolves to loopback).

use std::process::Command;
use std::time::Duration;

use issue_tracker_config::WebhookSettings;
use issue_tracker_domain::{new_webhook_secret, Origin, Status, Via, WebhookChanges};
use issue_tracker_persistence::{Database, NewIssue, NewUser};
use issue_tracker_testkit::{
    eventually, Kind, TestDb, WebhookReceiver, WebhookReply, WebhookRequest,
};
use issue_tracker_webhooks::Deliverer;
use tokio::sync::watch;

fn settings() -> WebhookSettings {
    WebhookSettings {
        allowed_hosts: Some(vec!["localhost".to_owned()]),
        timeout: Duration::from_millis(800),
        retry_schedule: vec![Duration::from_millis(200), Duration::from_millis(200)],
        concurrency: 8,
        poll_interval: Duration::from_millis(50),
    }
}

fn hook(db: &Database, url: &str, events: &[&str]) -> (issue_tracker_domain::WebhookId, String) {
    let secret = new_webhook_secret();
    let created = db
        .create_webhook(
            &WebhookChanges {
                url: Some(url.to_owned()),
                events: Some(events.iter().map(|e| e.to_string()).collect()),
                active: Some(true),
            },
            &secret,
        )
        .unwrap();
    (created.id, secret)
}

fn system() -> Origin {
    Origin::system(Via::Cli)
}

fn issue(db: &Database, creator: &issue_tracker_domain::User, title: &str) -> i64 {
    db.create_issue(
        creator,
        &NewIssue {
            title: &issue_tracker_domain::Title::parse(title).unwrap(),
            description: &issue_tracker_domain::Description::parse("d").unwrap(),
            status: Status::Open,
            assignee: "ann",
        },
        Duration::from_secs(3600),
        &system(),
        Duration::from_secs(120),
    )
    .unwrap()
    .unwrap()
    .id
    .get()
}

/// Checks each request's signature with the reference library, against any of `secrets`
/// (every secret must verify at least one of them when `all_secrets`).
fn verify_with_python(requests: &[WebhookRequest], secrets: &[String]) {
    let cases: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.header("webhook-id"), "timestamp": r.header("webhook-timestamp"),
                "signature": r.header("webhook-signature"), "body": r.body,
            })
        })
        .collect();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
data = json.load(sys.stdin)
for case in data["cases"]:
    headers = {"webhook-id": case["id"], "webhook-timestamp": case["timestamp"], "webhook-signature": case["signature"]}
    for secret in data["secrets"]:
        Webhook(secret).verify(case["body"], headers)
print("verified", len(data["cases"]))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            serde_json::json!({"cases": cases, "secrets": secrets})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("verified"),
        "the reference library refused our deliveries (pip install standardwebhooks; scripts/test does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn wait_for(what: &str, check: impl FnMut() -> bool) {
    assert!(eventually(Duration::from_secs(20), check).await, "{what}");
}

async fn deliveries_are_signed_retried_and_logged(kind: Kind) {
    let test = TestDb::new(kind);
    let db = test.db.clone();
    let ann = db
        .create_user(
            &NewUser {
                username: "ann".into(),
                email: "ann@example.com".into(),
                password_hash: "x".into(),
                is_staff: false,
                is_superuser: false,
            },
            &system(),
        )
        .unwrap();
    // The receiver: the first message gets a 500, then no answer (a timeout), then 200; the
    // `/gone` endpoint answers 410; everything else 200.
    let receiver = WebhookReceiver::start(|request, before| {
        if request.path == "/gone" {
            return WebhookReply::Status(410, "gone".into());
        }
        let id = request.header("webhook-id").unwrap_or_default();
        let seen = before
            .iter()
            .filter(|r| r.path == request.path && r.header("webhook-id") == Some(id))
            .count();
        match (request.path.as_str(), seen) {
            ("/flaky", 0) => WebhookReply::Status(500, "oops ".repeat(2_000)),
            ("/flaky", 1) => WebhookReply::Hang(Duration::from_secs(3)),
            _ => WebhookReply::Status(200, "ok".into()),
        }
    });
    let (flaky, flaky_secret) = hook(&db, &receiver.url("localhost", "/flaky"), &["*"]);
    let (_, created_secret) = hook(
        &db,
        &receiver.url("localhost", "/created-only"),
        &["issue.created"],
    );
    let (gone, _) = hook(&db, &receiver.url("localhost", "/gone"), &["*"]);
    let (stop, shutdown) = watch::channel(false);
    let deliverer = tokio::spawn(
        Deliverer::new(db.clone(), settings())
            .unwrap()
            .run(shutdown),
    );

    let first = issue(&db, &ann, "Printer on fire");
    let (events, _) = db.list_events(&Default::default(), 0, 10).unwrap();
    let created_event = events
        .iter()
        .find(|e| e.event_type.as_str() == "issue.created")
        .unwrap()
        .id;
    let id = created_event.to_string();
    let on = |path: &'static str| {
        let receiver = &receiver;
        move || {
            receiver
                .received()
                .into_iter()
                .filter(|r| r.path == path)
                .collect::<Vec<_>>()
        }
    };
    wait_for("the flaky endpoint gets its third attempt", || {
        on("/flaky")().len() >= 3
    })
    .await;
    wait_for("the flaky delivery succeeds", || {
        db.list_deliveries(
            flaky,
            Some(issue_tracker_domain::DeliveryStatus::Succeeded),
            0,
            10,
        )
        .unwrap()
        .unwrap()
        .1 == 1
    })
    .await;
    let flaky_requests = on("/flaky")();
    assert_eq!(flaky_requests.len(), 3, "no more attempts after a 2xx");
    assert!(flaky_requests
        .iter()
        .all(|r| r.header("webhook-id") == Some(id.as_str())));
    // The body is {"type", "timestamp", "data"}; data is the event, as /api/events/ shows it.
    let body: serde_json::Value = serde_json::from_str(&flaky_requests[0].body).unwrap();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["type", "timestamp", "data"]
    );
    assert_eq!(body["type"], "issue.created");
    assert_eq!(body["data"]["issue"], first);
    assert_eq!(body["data"]["changes"][0]["field"], "title");
    assert_eq!(
        flaky_requests[0].header("content-type"),
        Some("application/json")
    );
    // The log: 500 (its body cut at 4 KiB), a timeout, 200.
    let (log, _) = db.list_deliveries(flaky, None, 0, 10).unwrap().unwrap();
    let attempts = &log[0].attempts;
    assert_eq!(
        attempts.iter().map(|a| a.status_code).collect::<Vec<_>>(),
        [Some(500), None, Some(200)]
    );
    assert_eq!(attempts[0].response.len(), 4_096);
    assert!(attempts[1].error.is_some());
    assert!(
        attempts[1].duration_ms >= 700,
        "the timeout: {:?}",
        attempts[1]
    );
    assert_eq!(
        (log[0].message_id.as_str(), log[0].status.as_str()),
        (id.as_str(), "succeeded")
    );

    // An endpoint gets only its event types.
    wait_for("issue.created reaches the created-only endpoint", || {
        on("/created-only")().len() == 1
    })
    .await;
    // 410: failed at once, the endpoint inactive; later events do not go to it.
    wait_for("the 410 disables the endpoint", || {
        !db.get_webhook(gone).unwrap().unwrap().active
    })
    .await;
    let (gone_log, _) = db.list_deliveries(gone, None, 0, 10).unwrap().unwrap();
    assert_eq!(
        (
            gone_log.len(),
            gone_log[0].status.as_str(),
            gone_log[0].attempts.len()
        ),
        (1, "failed", 1)
    );
    db.update_issue(
        issue_tracker_domain::IssueId::new(first).unwrap(),
        &issue_tracker_domain::IssueChanges {
            status: Some(Status::Closed),
            ..Default::default()
        },
        Duration::from_secs(60),
        &issue_tracker_persistence::WriteCondition {
            creator: None,
            version: None,
        },
        &system(),
        Duration::from_secs(120),
    )
    .unwrap()
    .unwrap();
    wait_for("issue.updated reaches the flaky endpoint", || {
        on("/flaky")()
            .iter()
            .any(|r| r.body.contains("issue.updated"))
    })
    .await;
    assert_eq!(db.list_deliveries(gone, None, 0, 10).unwrap().unwrap().1, 1);
    assert_eq!(on("/created-only")().len(), 1);

    // Redelivery: a new delivery, the same webhook-id.
    let again = db.redeliver(flaky, log[0].id).unwrap().unwrap();
    assert_ne!(again.id, log[0].id);
    wait_for("the redelivery arrives", || {
        on("/flaky")()
            .iter()
            .filter(|r| r.header("webhook-id") == Some(id.as_str()))
            .count()
            == 4
    })
    .await;

    // Rotation: both secrets sign for a while, each verifies the delivery.
    let new_secret = new_webhook_secret();
    assert!(db
        .rotate_webhook_secret(flaky, &new_secret, Duration::from_secs(3600))
        .unwrap());
    issue(&db, &ann, "After the rotation");
    wait_for("a delivery signed after the rotation", || {
        on("/flaky")()
            .iter()
            .any(|r| r.body.contains("After the rotation"))
    })
    .await;
    let rotated: Vec<WebhookRequest> = on("/flaky")()
        .into_iter()
        .filter(|r| r.body.contains("After the rotation"))
        .collect();
    assert_eq!(
        rotated[0]
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    verify_with_python(&rotated, &[flaky_secret.clone(), new_secret]);
    // Every delivery before it verifies with the secret of its endpoint.
    let before: Vec<WebhookRequest> = on("/flaky")()
        .into_iter()
        .filter(|r| !r.body.contains("After the rotation"))
        .collect();
    verify_with_python(&before, &[flaky_secret]);
    verify_with_python(&on("/created-only")(), &[created_secret]);

    let _ = stop.send(true);
    deliverer.await.unwrap();
}

async fn internal_addresses_are_refused_at_connect_time(kind: Kind) {
    let test = TestDb::new(kind);
    let db = test.db.clone();
    let receiver = WebhookReceiver::start(|request, _| match request.path.as_str() {
        "/redirect" => WebhookReply::Redirect("/allowed".into()),
        _ => WebhookReply::Status(200, "ok".into()),
    });
    // A second name for loopback, not in the allowed list: the machine's own name usually is one.
    let host = std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let loopback_name = [host.as_str(), "ip6-localhost", "localhost.localdomain"]
        .into_iter()
        .filter(|name| !name.is_empty() && *name != "localhost")
        .find(|name| {
            std::net::ToSocketAddrs::to_socket_addrs(&(*name, 80))
                .map(|mut addrs| addrs.any(|a| a.ip().is_loopback()))
                .unwrap_or(false)
        })
        .expect("this test needs a name other than localhost that resolves to loopback (the host name, in /etc/hosts)");
    let urls = [
        receiver.url("127.0.0.1", "/literal"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        receiver.url("[::1]", "/v6"),
        "http://10.0.0.1/".to_owned(),
        receiver.url(loopback_name, "/name"),
    ];
    let hooks: Vec<issue_tracker_domain::WebhookId> =
        urls.iter().map(|url| hook(&db, url, &["*"]).0).collect();
    let (allowed, _) = hook(&db, &receiver.url("localhost", "/allowed"), &["*"]);
    // A redirect, even to an allowed place, is not followed: it is an answer that is not 2xx.
    let (redirected, _) = hook(&db, &receiver.url("localhost", "/redirect"), &["*"]);
    let (stop, shutdown) = watch::channel(false);
    let deliverer = tokio::spawn(
        Deliverer::new(db.clone(), settings())
            .unwrap()
            .run(shutdown),
    );
    db.create_user(
        &NewUser {
            username: "ann".into(),
            email: String::new(),
            password_hash: "x".into(),
            is_staff: false,
            is_superuser: false,
        },
        &system(),
    )
    .unwrap();
    wait_for("every delivery ends", || {
        hooks.iter().chain([&allowed]).all(|h| {
            let (log, _) = db.list_deliveries(*h, None, 0, 10).unwrap().unwrap();
            log.len() == 1 && matches!(log[0].status.as_str(), "succeeded" | "failed")
        })
    })
    .await;
    for (hook, url) in hooks.iter().zip(&urls) {
        let (log, _) = db.list_deliveries(*hook, None, 0, 10).unwrap().unwrap();
        assert_eq!(log[0].status, "failed", "{url}");
        assert_eq!(
            log[0].attempts.len(),
            1,
            "refused at once, not retried: {url}"
        );
        let error = log[0].attempts[0].error.clone().unwrap_or_default();
        assert!(error.contains("refused"), "{url}: {error}");
    }
    wait_for("the redirected delivery fails after its retries", || {
        let (log, _) = db
            .list_deliveries(redirected, None, 0, 10)
            .unwrap()
            .unwrap();
        log[0].status == "failed"
    })
    .await;
    let (log, _) = db
        .list_deliveries(redirected, None, 0, 10)
        .unwrap()
        .unwrap();
    assert_eq!(
        log[0]
            .attempts
            .iter()
            .map(|a| a.status_code)
            .collect::<Vec<_>>(),
        [Some(302), Some(302), Some(302)],
        "each attempt answered 302 and was retried, then failed"
    );
    let mut paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["/allowed", "/redirect", "/redirect", "/redirect"],
        "only the allowed host was reached, and the redirect was never followed"
    );
    let _ = stop.send(true);
    deliverer.await.unwrap();
}

use issue_tracker_testkit::both_databases;

both_databases!(
    deliveries_are_signed_retried_and_logged,
    internal_addresses_are_refused_at_connect_time,
);
