//! Emails to the watchers of an issue, end to end with real parts (the API over HTTP, the outbox
//! in PostgreSQL with Redis or SQLite with the in-process queue, an SMTP server over TCP): who
//! gets one, that a burst makes one, threading, the one-click link that stops watching, and the
//! preference that turns them off.

mod common;

use std::time::Duration;

use common::{message_ids, shared_redis, Pipeline};
use issue_tracker_testkit::{eventually, Kind};
use serde_json::json;

async fn each_setup(test: impl AsyncFn(Kind, Option<String>)) {
    test(Kind::Postgres, Some(shared_redis())).await;
    test(Kind::Sqlite, None).await;
}

/// Assignment emails out of the way (ten minutes); watchers' emails after `debounce` seconds.
async fn start(kind: Kind, redis: Option<&str>, debounce: &str) -> Pipeline {
    let pipeline = Pipeline::start(
        kind,
        redis,
        &[
            ("ASSIGN_REPORT_SCHEDULE", "10"),
            ("NOTIFY_DEBOUNCE", debounce),
            ("PUBLIC_URL", "https://issues.example.com"),
            ("SECRET_KEY", "watchers secret"),
        ],
    )
    .await;
    for name in ["ann", "bob", "carl", "dora"] {
        pipeline.user(name);
    }
    pipeline
}

async fn comment(pipeline: &Pipeline, token: &str, issue: i64, body: &str) {
    let (status, reply) = pipeline
        .call(
            "POST",
            &format!("/api/issue/{issue}/comments/"),
            token,
            Some(json!({ "body": body })),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
}

fn activity_to(pipeline: &Pipeline, address: &str) -> Vec<issue_tracker_testkit::Received> {
    pipeline
        .smtp
        .received_by(address)
        .into_iter()
        .filter(|m| {
            m.header("Subject")
                .is_some_and(|subject| subject.starts_with("[#"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_comment_reaches_the_creator_and_the_assignee_once_threaded_and_not_its_author() {
    each_setup(async |kind, redis| {
        let pipeline = start(kind, redis.as_deref(), "1").await;
        let ann = pipeline.token("ann").await;
        let carl = pipeline.token("carl").await;
        let id = pipeline.create_issue(&ann, "Printer on fire", "bob").await;
        comment(
            &pipeline,
            &carl,
            id,
            "Same here.\n\nIt smokes <a lot> & more.",
        )
        .await;
        assert!(
            eventually(Duration::from_secs(15), || pipeline.smtp.received().len()
                >= 2)
            .await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let received = pipeline.smtp.received();
        let mut to: Vec<&str> = received.iter().map(|m| m.to[0].as_str()).collect();
        to.sort();
        assert_eq!(to, ["ann@example.com", "bob@example.com"], "{kind:?}");
        for email in &received {
            assert_eq!(
                email.header("Subject").as_deref(),
                Some(format!("[#{id}] Printer on fire").as_str())
            );
            let parsed = mail_parser::MessageParser::default()
                .parse(email.data.as_bytes())
                .expect("a parsable message");
            for name in ["In-Reply-To", "References"] {
                assert_eq!(
                    parsed.header_raw(name).map(str::trim),
                    Some(format!("<issue-{id}@example.com>").as_str()),
                    "{kind:?}: threaded with the issue's other emails ({name})"
                );
            }
            assert_eq!(
                email.header("List-Unsubscribe-Post").as_deref(),
                Some("List-Unsubscribe=One-Click")
            );
            assert!(email
                .header("List-Unsubscribe")
                .is_some_and(|link| link.contains("https://issues.example.com/unsubscribe/")));
            let text = parsed.body_text(0).expect("a text part").into_owned();
            assert!(
                text.contains(&format!("carl commented on #{id} Printer on fire")),
                "{text}"
            );
            assert!(
                text.contains("It smokes <a lot> & more."),
                "the comment whole: {text}"
            );
            assert!(text.contains(&format!("https://issues.example.com/api/issue/{id}/")));
            let html = email.html().expect("an HTML part");
            assert!(
                html.contains("It smokes &#60;a lot&#62; &#38; more."),
                "escaped: {html}"
            );
        }
        let ann_mail = &activity_to(&pipeline, "ann@example.com")[0];
        assert!(ann_mail.body().contains("you created the issue"));
        let ids = message_ids(&pipeline.smtp);
        assert!(ids.values().all(|&copies| copies == 1), "{ids:?}");
        let mut statuses = pipeline.statuses();
        statuses.sort();
        assert_eq!(
            statuses,
            [
                ("activity".into(), "ann".into(), "sent".into()),
                ("activity".into(), "bob".into(), "sent".into()),
                ("assignment".into(), "bob".into(), "pending".into()),
            ]
        );
        pipeline.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_quick_comments_make_one_email_listing_them_all() {
    each_setup(async |kind, redis| {
        let pipeline = start(kind, redis.as_deref(), "3").await;
        let ann = pipeline.token("ann").await;
        let carl = pipeline.token("carl").await;
        let id = pipeline.create_issue(&ann, "Burst", "ann").await;
        for body in ["first word", "second word", "third word"] {
            comment(&pipeline, &carl, id, body).await;
        }
        assert!(
            eventually(Duration::from_secs(15), || !activity_to(
                &pipeline,
                "ann@example.com"
            )
            .is_empty())
            .await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mails = activity_to(&pipeline, "ann@example.com");
        assert_eq!(mails.len(), 1, "{kind:?}: one email for the burst");
        let body = mails[0].body();
        let at = |word: &str| body.find(word).unwrap_or_else(|| panic!("{word}: {body}"));
        assert!(at("first word") < at("second word") && at("second word") < at("third word"));
        // A comment after the email went makes a new one.
        comment(&pipeline, &carl, id, "fourth word").await;
        assert!(
            eventually(Duration::from_secs(15), || activity_to(
                &pipeline,
                "ann@example.com"
            )
            .len()
                == 2)
            .await
        );
        let second = &activity_to(&pipeline, "ann@example.com")[1];
        assert!(second.body().contains("fourth word") && !second.body().contains("first word"));
        pipeline.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unwatched_issue_sends_nothing_but_a_mention() {
    each_setup(async |kind, redis| {
        let pipeline = start(kind, redis.as_deref(), "1").await;
        let ann = pipeline.token("ann").await;
        let carl = pipeline.token("carl").await;
        let dora = pipeline.token("dora").await;
        let id = pipeline.create_issue(&ann, "Quiet", "bob").await;
        let (status, _) = pipeline
            .call(
                "DELETE",
                &format!("/api/issue/{id}/subscription/"),
                &ann,
                None,
            )
            .await;
        assert_eq!(status, 200);
        // dora turned these emails off: hers is recorded as skipped, never sent.
        let (status, _) = pipeline
            .call(
                "PATCH",
                "/api/user/me/notifications/",
                &dora,
                Some(json!({"activity": false})),
            )
            .await;
        assert_eq!(status, 200);
        comment(
            &pipeline,
            &carl,
            id,
            "nobody but bob hears this, dora @dora",
        )
        .await;
        assert!(
            eventually(Duration::from_secs(15), || !activity_to(
                &pipeline,
                "bob@example.com"
            )
            .is_empty())
            .await
        );
        assert!(
            eventually(Duration::from_secs(10), || pipeline.statuses().iter().any(
                |(kind, who, s)| kind == "activity" && who == "dora" && s == "skipped"
            ))
            .await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            activity_to(&pipeline, "ann@example.com").is_empty(),
            "{kind:?}"
        );
        assert!(
            activity_to(&pipeline, "dora@example.com").is_empty(),
            "{kind:?}"
        );
        assert!(
            activity_to(&pipeline, "carl@example.com").is_empty(),
            "{kind:?}"
        );

        // A mention reaches ann although she stopped watching.
        comment(&pipeline, &carl, id, "@ann could you look?").await;
        assert!(
            eventually(Duration::from_secs(15), || !activity_to(
                &pipeline,
                "ann@example.com"
            )
            .is_empty())
            .await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        let mention = &activity_to(&pipeline, "ann@example.com")[0];
        assert!(
            mention.body().contains("carl mentioned you"),
            "{}",
            mention.body()
        );
        assert!(mention.body().contains("you were mentioned"));

        // bob's one-click link stops him watching; the next comment does not reach him.
        let before = activity_to(&pipeline, "bob@example.com");
        let link = before
            .last()
            .and_then(|m| m.header("List-Unsubscribe"))
            .expect("a link");
        assert_eq!(pipeline.one_click(&link).await, 200);
        let bob = pipeline.token("bob").await;
        let (_, subscription) = pipeline
            .call("GET", &format!("/api/issue/{id}/subscription/"), &bob, None)
            .await;
        assert_eq!(subscription, json!({"subscribed": false, "reason": null}));
        let bob_count = activity_to(&pipeline, "bob@example.com").len();
        comment(&pipeline, &carl, id, "after bob left").await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(activity_to(&pipeline, "bob@example.com").len(), bob_count);
        pipeline.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daily_digest_gathers_the_day_and_muted_kinds_are_skipped() {
    each_setup(async |kind, redis| {
        // A "day" of 4 seconds.
        let pipeline = Pipeline::start(
            kind,
            redis.as_deref(),
            &[
                ("ASSIGN_REPORT_SCHEDULE", "10"),
                ("NOTIFY_DEBOUNCE", "1"),
                ("DIGEST_INTERVAL", "4"),
                ("DIGEST_HOUR", "0"),
            ],
        )
        .await;
        for name in ["ann", "bob", "carl"] {
            pipeline.user(name);
        }
        let (ann, bob, carl) = (
            pipeline.token("ann").await,
            pipeline.token("bob").await,
            pipeline.token("carl").await,
        );
        let prefs = "/api/user/me/notifications/";
        let (status, _) = pipeline
            .call("PATCH", prefs, &ann, Some(json!({"delivery": "daily"})))
            .await;
        assert_eq!(status, 200);
        let (status, _) = pipeline
            .call(
                "PATCH",
                prefs,
                &bob,
                Some(json!({"activity_types": ["mention"]})),
            )
            .await;
        assert_eq!(status, 200);
        let id = pipeline.create_issue(&ann, "Digest me", "bob").await;
        comment(&pipeline, &carl, id, "first of the day").await;
        comment(&pipeline, &carl, id, "second of the day").await;
        let digests = |pipeline: &Pipeline| {
            pipeline
                .smtp
                .received_by("ann@example.com")
                .into_iter()
                .filter(|m| {
                    m.header("Subject")
                        .is_some_and(|s| s.starts_with("Your daily digest"))
                })
                .collect::<Vec<_>>()
        };
        assert!(
            eventually(Duration::from_secs(15), || !digests(&pipeline).is_empty()).await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        let digest = &digests(&pipeline)[0];
        assert_eq!(
            digest.header("Subject").as_deref(),
            Some("Your daily digest: 2 notifications")
        );
        let body = digest.body();
        assert!(
            body.contains("first of the day") && body.contains("second of the day"),
            "{body}"
        );
        // ann chose the digest: no email per burst; bob turned comments off: his is skipped.
        assert!(activity_to(&pipeline, "ann@example.com").is_empty());
        assert!(
            eventually(Duration::from_secs(10), || pipeline.statuses().iter().any(
                |(k, who, s)| k == "activity" && who == "bob" && s == "skipped"
            ))
            .await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        assert!(activity_to(&pipeline, "bob@example.com").is_empty());
        // A quiet day sends no digest; the next day's change makes exactly one more.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            digests(&pipeline).len(),
            1,
            "{kind:?}: nothing new, no digest"
        );
        comment(&pipeline, &carl, id, "the next day").await;
        assert!(
            eventually(Duration::from_secs(15), || digests(&pipeline).len() == 2).await,
            "{kind:?}: {:?}",
            pipeline.statuses()
        );
        let next = &digests(&pipeline)[1];
        assert!(next.body().contains("the next day") && !next.body().contains("first of the day"));
        let ids = message_ids(&pipeline.smtp);
        assert!(ids.values().all(|&copies| copies == 1), "{ids:?}");
        pipeline.stop().await;
    })
    .await;
}
