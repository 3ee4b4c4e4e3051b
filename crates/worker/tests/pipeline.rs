//! The notification pipeline end to end with real parts: HTTP requests to the API, the outbox in
//! PostgreSQL or SQLite, a real Redis (or the in-process queue of `issue-tracker run`), and an SMTP
//! server over TCP.

mod common;

use std::time::{Duration, Instant};

use common::{message_ids, shared_redis, Pipeline};
use issue_tracker_testkit::{eventually, Kind, RedisServer, SmtpMode};
use serde_json::json;

/// PostgreSQL with Redis, and the embedded path: SQLite with the in-process queue.
async fn each_setup(test: impl AsyncFn(Kind, Option<String>)) {
    test(Kind::Postgres, Some(shared_redis())).await;
    test(Kind::Sqlite, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_assignment_is_mailed_once_after_its_delay() {
    each_setup(async |kind, redis| {
        // 2 seconds = 0.0333... minutes: decimals allowed, as the contract says.
        let pipeline = Pipeline::start(
            kind,
            redis.as_deref(),
            &[("ASSIGN_REPORT_SCHEDULE", "0.033333334")],
        )
        .await;
        pipeline.user("ann");
        pipeline.user("bob");
        let ann = pipeline.token("ann").await;
        let created = Instant::now();
        let id = pipeline.create_issue(&ann, "Printer on fire", "bob").await;
        assert!(
            eventually(Duration::from_secs(10), || !pipeline
                .smtp
                .received()
                .is_empty())
            .await,
            "{kind:?}: no email within 10 s"
        );
        let email = &pipeline.smtp.received()[0];
        let waited = email.at - created;
        assert!(
            waited >= Duration::from_millis(1900),
            "{kind:?}: sent after {waited:?}, before its time"
        );
        assert!(
            waited <= Duration::from_secs(6),
            "{kind:?}: sent after {waited:?}"
        );
        assert_eq!(email.to, ["bob@example.com"]);
        assert_eq!(
            email.header("Subject").as_deref(),
            Some("New Issue assigned")
        );
        assert_eq!(
            email.body().trim(),
            format!("Ticket '{id} - Printer on fire' is assigned to you")
        );
        // As a mail client reads it off the wire: standard headers, threaded by issue.
        let parsed = mail_parser::MessageParser::default()
            .parse(email.data.as_bytes())
            .expect("a parsable message");
        for (name, value) in [
            ("MIME-Version", "1.0".to_owned()),
            ("Auto-Submitted", "auto-generated".to_owned()),
            ("X-Auto-Response-Suppress", "All".to_owned()),
            ("In-Reply-To", format!("<issue-{id}@example.com>")),
            ("References", format!("<issue-{id}@example.com>")),
        ] {
            assert_eq!(
                parsed.header_raw(name).map(str::trim),
                Some(value.as_str()),
                "{kind:?}: {name}"
            );
        }
        assert!(parsed
            .header_raw("List-Id")
            .is_some_and(|v| v.contains("issue-tracker")));
        assert_eq!(
            parsed.body_text(0).as_deref(),
            Some(format!("Ticket '{id} - Printer on fire' is assigned to you").as_str()),
            "{kind:?}: the text part is the original's wording, exactly"
        );
        // The same as HTML, the other part of a multipart/alternative.
        assert!(parsed
            .header_raw("Content-Type")
            .is_some_and(|t| t.trim().starts_with("multipart/alternative")));
        let html = email.html().expect("an HTML part");
        assert!(
            html.contains(&format!(
                "Ticket '{id} - <bdi>Printer on fire</bdi>' is assigned"
            )),
            "{html}"
        );
        // Once: nothing more arrives.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(pipeline.smtp.received().len(), 1, "{kind:?}");
        assert_eq!(
            pipeline.statuses(),
            [("assignment".into(), "bob".into(), "sent".into())]
        );
        pipeline.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quick_reassignments_send_one_email_and_deletion_sends_none() {
    each_setup(async |kind, redis| {
        let pipeline = Pipeline::start(
            kind,
            redis.as_deref(),
            &[("ASSIGN_REPORT_SCHEDULE", "0.033333334")],
        )
        .await;
        for name in ["ann", "bob", "carl", "dora"] {
            pipeline.user(name);
        }
        let ann = pipeline.token("ann").await;
        let reassigned = pipeline.create_issue(&ann, "Reassigned twice", "bob").await;
        let path = format!("/api/issue/{reassigned}/");
        assert_eq!(
            pipeline
                .call("PATCH", &path, &ann, Some(json!({"assigned_to": "carl"})))
                .await
                .0,
            200
        );
        assert_eq!(
            pipeline
                .call("PATCH", &path, &ann, Some(json!({"assigned_to": "dora"})))
                .await
                .0,
            200
        );
        let deleted = pipeline.create_issue(&ann, "Deleted", "bob").await;
        assert_eq!(
            pipeline
                .call("DELETE", &format!("/api/issue/{deleted}/"), &ann, None)
                .await
                .0,
            204
        );
        assert!(
            eventually(Duration::from_secs(10), || !pipeline
                .smtp
                .received()
                .is_empty())
            .await
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        let received = pipeline.smtp.received();
        assert_eq!(received.len(), 1, "{kind:?}: {received:?}");
        assert_eq!(received[0].to, ["dora@example.com"]);
        assert!(received[0].body().contains("Reassigned twice"));
        pipeline.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smtp_refusals_are_retried_and_each_email_arrives_once() {
    each_setup(async |kind, redis| {
        // Nothing listens on the SMTP port at first: connections are refused.
        let smtp = issue_tracker_testkit::SmtpServer::unstarted(issue_tracker_testkit::free_port());
        let pipeline =
            common::Pipeline::start_with(kind, smtp, redis.as_deref(), &[], common::Roles::All)
                .await;
        for name in ["ann", "bob", "carl"] {
            pipeline.user(name);
        }
        let ann = pipeline.token("ann").await;
        pipeline.create_issue(&ann, "one", "bob").await;
        pipeline.create_issue(&ann, "two", "carl").await;
        // Refused connections: retried, still pending.
        assert!(
            eventually(Duration::from_secs(10), || {
                pipeline
                    .db
                    .db
                    .list_notifications(None, 10)
                    .unwrap()
                    .iter()
                    .all(|n| n.attempts >= 1 && n.status == "pending")
            })
            .await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        // Then 4xx answers: retried again.
        pipeline.smtp.set_mode(SmtpMode::TemporaryFailure);
        pipeline.smtp.listen().await;
        assert!(
            eventually(Duration::from_secs(10), || {
                pipeline
                    .db
                    .db
                    .list_notifications(None, 10)
                    .unwrap()
                    .iter()
                    .all(|n| n.attempts >= 2)
            })
            .await
        );
        assert!(pipeline.smtp.received().is_empty());
        // Then it accepts: each email exactly once.
        pipeline.smtp.set_mode(SmtpMode::Accept);
        assert!(
            eventually(Duration::from_secs(15), || pipeline.smtp.received().len()
                >= 2)
            .await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(pipeline.smtp.received_by("bob@example.com").len(), 1);
        assert_eq!(pipeline.smtp.received_by("carl@example.com").len(), 1);
        assert!(message_ids(&pipeline.smtp).values().all(|n| *n == 1));
        pipeline.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permanent_refusal_marks_the_notification_dead_until_an_admin_retries() {
    each_setup(async |kind, redis| {
        let pipeline = Pipeline::start(kind, redis.as_deref(), &[]).await;
        pipeline.user("ann");
        pipeline.user("bob");
        pipeline.smtp.set_mode(SmtpMode::PermanentFailure);
        let ann = pipeline.token("ann").await;
        pipeline.create_issue(&ann, "one", "bob").await;
        assert!(
            eventually(Duration::from_secs(10), || {
                pipeline.statuses() == [("assignment".into(), "bob".into(), "dead".into())]
            })
            .await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        let dead = pipeline
            .db
            .db
            .list_notifications(None, 1)
            .unwrap()
            .remove(0);
        assert_eq!(dead.attempts, 1);
        assert!(dead.last_error.unwrap_or_default().contains("554"));
        // Not retried by itself, even once the server would accept.
        pipeline.smtp.set_mode(SmtpMode::Accept);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(pipeline.smtp.received().is_empty());
        assert_eq!(pipeline.statuses()[0].2, "dead");
        // An admin's retry sends it once.
        assert!(pipeline.db.db.retry_notification(dead.id).unwrap());
        assert!(
            eventually(Duration::from_secs(10), || pipeline.smtp.received().len()
                == 1)
            .await
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(pipeline.smtp.received().len(), 1);
        assert_eq!(pipeline.statuses()[0].2, "sent");
        pipeline.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reports_list_exactly_each_users_issues_and_one_failure_stops_no_one() {
    each_setup(async |kind, redis| {
        let pipeline = Pipeline::start(
            kind,
            redis.as_deref(),
            &[
                ("ASSIGN_REPORT_SCHEDULE", "600"),
                ("REPORT_SCHEDULE_HOURS", "0"),
                ("REPORT_SCHEDULE_SECONDS", "3"),
            ],
        )
        .await;
        for name in ["ann", "bob", "carl", "dora", "idle"] {
            pipeline.user(name);
        }
        let ann = pipeline.token("ann").await;
        let bob = pipeline.token("bob").await;
        let b1 = pipeline.create_issue(&ann, "bob first", "bob").await;
        let b2 = pipeline.create_issue(&bob, "bob second", "bob").await;
        let c1 = pipeline.create_issue(&ann, "carl only", "carl").await;
        pipeline.create_issue(&ann, "dora only", "dora").await;
        // dora's server refuses her mail for good; the others must still get theirs.
        pipeline
            .smtp
            .set_mode_for("dora@example.com", SmtpMode::PermanentFailure);
        assert!(
            eventually(Duration::from_secs(15), || {
                !pipeline.smtp.received_by("bob@example.com").is_empty()
                    && !pipeline.smtp.received_by("carl@example.com").is_empty()
            })
            .await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        let bob_report = pipeline.smtp.received_by("bob@example.com").remove(0);
        assert_eq!(
            bob_report.header("Subject").as_deref(),
            Some("Issues assigned")
        );
        let body = bob_report.body();
        assert!(
            body.contains(&format!("#{b1} - bob first"))
                && body.contains(&format!("#{b2} - bob second")),
            "{body}"
        );
        assert!(
            body.contains("created by: ann")
                && body.contains("created by: bob")
                && body.contains("about bob first")
        );
        assert!(
            !body.contains("carl only") && !body.contains("dora only"),
            "{body}"
        );
        let carl_report = pipeline
            .smtp
            .received_by("carl@example.com")
            .remove(0)
            .body();
        assert!(
            carl_report.contains(&format!("#{c1} - carl only"))
                && !carl_report.contains("bob first")
        );
        // Users with no assigned issue get no report; dora's is dead, not blocking.
        assert!(pipeline.smtp.received_by("idle@example.com").is_empty());
        assert!(pipeline.smtp.received_by("ann@example.com").is_empty());
        assert!(
            eventually(Duration::from_secs(10), || {
                pipeline.statuses().iter().any(|(kind, who, status)| {
                    kind == "report" && who == "dora" && status == "dead"
                })
            })
            .await
        );
        pipeline.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_loses_and_doubles_nothing_postgres() {
    redis_outage(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_loses_and_doubles_nothing_sqlite() {
    redis_outage(Kind::Sqlite).await;
}

async fn redis_outage(kind: Kind) {
    let mut redis = RedisServer::start();
    let pipeline = Pipeline::start(kind, Some(&redis.url()), &[]).await;
    let names: Vec<String> = (0..10).map(|i| format!("user{i}")).collect();
    for name in &names {
        pipeline.user(name);
    }
    pipeline.user("ann");
    let ann = pipeline.token("ann").await;
    redis.stop();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..200 {
        let assignee = &names[i % names.len()];
        let one = Instant::now();
        pipeline
            .create_issue(&ann, &format!("issue {i}"), assignee)
            .await;
        slowest = slowest.max(one.elapsed());
    }
    let took = started.elapsed();
    // The API never waits on Redis (its rate limiter uses the same, stopped, Redis).
    assert!(took < Duration::from_secs(10), "200 requests took {took:?}");
    assert!(
        slowest < Duration::from_millis(500),
        "the slowest request took {slowest:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(pipeline.smtp.received().is_empty());
    // Redis comes back empty (no stream, no consumer group).
    redis.restart();
    assert!(
        eventually(Duration::from_secs(40), || pipeline.smtp.received().len()
            >= 200)
        .await,
        "only {} of 200 emails after Redis came back",
        pipeline.smtp.received().len()
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let ids = message_ids(&pipeline.smtp);
    assert_eq!(pipeline.smtp.received().len(), 200);
    assert_eq!(ids.len(), 200);
    assert!(pipeline
        .statuses()
        .iter()
        .all(|(_, _, status)| status == "sent"));
    pipeline.stop().await;
}

/// Preferences set through the API are honoured by worker and beat: bob turned the assignment
/// email off, carl the report; each gets none of that kind, the outbox says `skipped` (with
/// why), everyone else's emails go out, and turning it back on sends the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_who_turned_an_email_off_gets_none_of_that_kind() {
    each_setup(async |kind, redis| {
        let pipeline = Pipeline::start(
            kind,
            redis.as_deref(),
            &[
                ("REPORT_SCHEDULE_HOURS", "0"),
                ("REPORT_SCHEDULE_SECONDS", "2"),
            ],
        )
        .await;
        for name in ["ann", "bob", "carl"] {
            pipeline.user(name);
        }
        let ann = pipeline.token("ann").await;
        let bob = pipeline.token("bob").await;
        let carl = pipeline.token("carl").await;
        let (status, body) = pipeline
            .call(
                "PATCH",
                "/api/user/me/notifications/",
                &bob,
                Some(json!({"assignment": false})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"assignment": false, "report": true, "activity": true, "activity_types": ["comment", "closed", "reopened", "reassigned", "mention", "deleted"], "delivery": "instant"})
        );
        let (status, _) = pipeline
            .call(
                "PATCH",
                "/api/user/me/notifications/",
                &carl,
                Some(json!({"report": false})),
            )
            .await;
        assert_eq!(status, 200);
        pipeline.create_issue(&ann, "for bob", "bob").await;
        pipeline.create_issue(&ann, "for carl", "carl").await;
        pipeline.create_issue(&ann, "for ann", "ann").await;
        // Reports of a period or two for everyone with issues: bob and ann get them, carl not.
        let settled = eventually(Duration::from_secs(20), || {
            let statuses = pipeline.statuses();
            let has = |kind: &str, who: &str, status: &str| {
                statuses
                    .iter()
                    .any(|(k, w, s)| k == kind && w == who && s == status)
            };
            has("assignment", "bob", "skipped")
                && has("assignment", "carl", "sent")
                && has("assignment", "ann", "sent")
                && has("report", "carl", "skipped")
                && has("report", "bob", "sent")
                && has("report", "ann", "sent")
        })
        .await;
        assert!(settled, "{kind:?}: {:?}", pipeline.statuses());
        let subjects = |address: &str| -> Vec<String> {
            pipeline
                .smtp
                .received_by(address)
                .iter()
                .map(|m| m.header("Subject").unwrap_or_default())
                .collect()
        };
        assert!(
            subjects("bob@example.com")
                .iter()
                .all(|s| s == "Issues assigned"),
            "bob got an assignment email: {:?}",
            subjects("bob@example.com")
        );
        assert!(
            subjects("carl@example.com")
                .iter()
                .all(|s| s != "Issues assigned"),
            "carl got a report: {:?}",
            subjects("carl@example.com")
        );
        assert!(!subjects("carl@example.com").is_empty());
        let skipped = pipeline
            .db
            .db
            .list_notifications(Some(issue_tracker_domain::NotificationStatus::Skipped), 100)
            .unwrap();
        assert!(skipped.iter().all(|n| n
            .last_error
            .as_deref()
            .is_some_and(|why| why.contains("turned") && why.contains("off"))));
        // Back on: the next assignment reaches bob.
        let (status, _) = pipeline
            .call(
                "PATCH",
                "/api/user/me/notifications/",
                &bob,
                Some(json!({"assignment": true})),
            )
            .await;
        assert_eq!(status, 200);
        pipeline.create_issue(&ann, "for bob again", "bob").await;
        let again = eventually(Duration::from_secs(15), || {
            pipeline
                .smtp
                .received_by("bob@example.com")
                .iter()
                .any(|m| m.header("Subject").as_deref() != Some("Issues assigned"))
        })
        .await;
        assert!(again, "{kind:?}: {:?}", pipeline.statuses());
        pipeline.stop().await;
    })
    .await;
}

/// End to end over SMTP: the report's `List-Unsubscribe` link, posted as a mail provider does
/// (no login), stops that user's reports; the periods after send everyone else's exactly once
/// and record the unsubscriber's as skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_report_link_unsubscribes_its_recipient_only() {
    each_setup(async |kind, redis| {
        let pipeline = Pipeline::start(
            kind,
            redis.as_deref(),
            &[
                ("REPORT_SCHEDULE_HOURS", "0"),
                ("REPORT_SCHEDULE_SECONDS", "2"),
                ("PUBLIC_URL", "https://issues.example.com"),
                ("SECRET_KEY", "pipeline secret"),
            ],
        )
        .await;
        for name in ["ann", "bob"] {
            pipeline.user(name);
        }
        let ann = pipeline.token("ann").await;
        pipeline.create_issue(&ann, "for ann", "ann").await;
        pipeline.create_issue(&ann, "for bob", "bob").await;
        let report_to = |address: &str| {
            pipeline
                .smtp
                .received_by(address)
                .into_iter()
                .find(|m| m.header("Subject").as_deref() == Some("Issues assigned"))
        };
        assert!(
            eventually(Duration::from_secs(15), || report_to("bob@example.com")
                .is_some())
            .await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        let report = report_to("bob@example.com").unwrap();
        assert_eq!(
            report.header("List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        let link = report.header("List-Unsubscribe").expect("a link");
        assert_eq!(pipeline.one_click(&link).await, 200);
        // Two more periods: ann's reports keep coming, bob's are skipped.
        let unsubscribed_at = pipeline
            .statuses()
            .iter()
            .filter(|(kind, _, _)| kind == "report")
            .count();
        let later = eventually(Duration::from_secs(20), || {
            let statuses = pipeline.statuses();
            let reports: Vec<_> = statuses
                .iter()
                .filter(|(kind, _, _)| kind == "report")
                .skip(unsubscribed_at + 2)
                .collect();
            reports
                .iter()
                .any(|(_, who, s)| who == "bob" && s == "skipped")
                && reports
                    .iter()
                    .any(|(_, who, s)| who == "ann" && s == "sent")
        })
        .await;
        assert!(later, "{kind:?}: {:?}", pipeline.statuses());
        // Every report of a period to ann exactly once (one Message-ID each, no copies).
        let ids = message_ids(&pipeline.smtp);
        assert!(ids.values().all(|&copies| copies == 1), "{ids:?}");
        let notifications = pipeline.db.db.list_notifications(None, 1_000).unwrap();
        let mut periods = std::collections::HashMap::new();
        for n in notifications.iter().filter(|n| n.kind == "report") {
            *periods.entry((n.recipient.clone(), n.period)).or_insert(0) += 1;
        }
        assert!(periods.values().all(|&count| count == 1), "{periods:?}");
        // bob's assignment email was not affected.
        assert!(pipeline
            .statuses()
            .iter()
            .any(|(kind, who, s)| kind == "assignment" && who == "bob" && s == "sent"));
        pipeline.stop().await;
    })
    .await;
}
