//! Replies by email, the whole round trip with real parts: the assignment email captured by the
//! test SMTP server carries a reply address; the answer, delivered over LMTP to the worker's
//! listener, becomes a comment seen in the API and in the history (`via: "email"`); the issue's
//! watchers hear of it by email like of any comment; and a second delivery changes nothing.

mod common;

use std::time::Duration;

use common::{shared_redis, Pipeline};
use issue_tracker_testkit::{eventually, free_port, lmtp_deliver, Kind};
use serde_json::Value;

async fn each_setup(test: impl AsyncFn(Kind, Option<String>)) {
    test(Kind::Postgres, Some(shared_redis())).await;
    test(Kind::Sqlite, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_to_an_assignment_email_becomes_a_comment_and_its_watchers_hear_of_it() {
    each_setup(async |kind, redis| {
        let lmtp = free_port();
        let bind = format!("127.0.0.1:{lmtp}");
        let pipeline = Pipeline::start(
            kind,
            redis.as_deref(),
            &[
                ("ASSIGN_REPORT_SCHEDULE", "0"),
                ("NOTIFY_DEBOUNCE", "1"),
                ("SECRET_KEY", "replies secret"),
                ("INCOMING_EMAIL_ADDRESS", "reply+%{token}@tracker.example.com"),
                ("INCOMING_EMAIL_BIND", &bind),
            ],
        )
        .await;
        for name in ["ann", "bob"] {
            pipeline.user(name);
        }
        let ann = pipeline.token("ann").await;
        let id = pipeline.create_issue(&ann, "Printer on fire", "bob").await;
        assert!(
            eventually(Duration::from_secs(15), || !pipeline
                .smtp
                .received_by("bob@example.com")
                .is_empty())
            .await,
            "{kind:?}: no assignment email: {:?}",
            pipeline.statuses()
        );
        let assignment = pipeline.smtp.received_by("bob@example.com").remove(0);
        let reply_to = assignment.header("Reply-To").expect("a reply address");
        assert!(
            reply_to.starts_with("reply+") && reply_to.ends_with("@tracker.example.com"),
            "{reply_to}"
        );
        let answer = format!(
            "From: Bob <bob@example.com>\r\nTo: {reply_to}\r\nSubject: Re: {subject}\r\nMessage-ID: <answer-{kind:?}@mail.example>\r\nIn-Reply-To: {original}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOn it: the fuser again.\r\n\r\nOn Sun, Dec 6, 2026 at 10:00 AM Issue Tracker <tracker@example.com> wrote:\r\n> {body}\r\n",
            subject = assignment.header("Subject").unwrap_or_default(),
            original = assignment.header("Message-ID").unwrap_or_default(),
            body = assignment.body().lines().next().unwrap_or_default(),
        );
        let address = bind.parse().unwrap();
        let answers = lmtp_deliver(address, "bob@example.com", &[&reply_to], answer.as_bytes()).await;
        assert!(answers.data[0].starts_with("250 2.0.0"), "{kind:?}: {answers:?}");

        // In the API, by Bob, without the quote; in the history, by email.
        let (status, comments) = pipeline
            .call("GET", &format!("/api/issue/{id}/comments/"), &ann, None)
            .await;
        assert_eq!(status, 200);
        let comments: Vec<Value> = serde_json::from_value(comments).unwrap();
        assert_eq!(comments.len(), 1, "{comments:?}");
        assert_eq!(
            (comments[0]["author"].as_str(), comments[0]["body"].as_str()),
            (Some("bob"), Some("On it: the fuser again."))
        );
        let (_, history) = pipeline
            .call("GET", &format!("/api/issue/{id}/history/"), &ann, None)
            .await;
        let created: Vec<&Value> = history
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "comment.created")
            .collect();
        assert_eq!(created.len(), 1, "{history}");
        assert_eq!(created[0]["via"], "email");
        assert_eq!(created[0]["actor"]["username"], "bob");

        // Ann, who created the issue, hears of it like of any comment, with her own reply
        // address.
        assert!(
            eventually(Duration::from_secs(15), || !pipeline
                .smtp
                .received_by("ann@example.com")
                .is_empty())
            .await,
            "{kind:?}: the creator heard nothing: {:?}",
            pipeline.statuses()
        );
        let told = pipeline.smtp.received_by("ann@example.com").remove(0);
        assert!(told.body().contains("bob commented on"), "{}", told.body());
        assert!(told.body().contains("On it: the fuser again."));
        let ann_reply_to = told.header("Reply-To").expect("Ann's reply address");
        assert_ne!(ann_reply_to, reply_to, "each person has their own address");

        // Delivered again (the mail server retried): nothing new.
        let again = lmtp_deliver(address, "bob@example.com", &[&reply_to], answer.as_bytes()).await;
        assert!(again.data[0].contains("received before"), "{again:?}");
        let (_, comments) = pipeline
            .call("GET", &format!("/api/issue/{id}/comments/"), &ann, None)
            .await;
        assert_eq!(comments.as_array().unwrap().len(), 1);
        pipeline.stop().await;
    })
    .await;
}
