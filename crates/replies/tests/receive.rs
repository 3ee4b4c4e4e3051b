//! Replies by email on a real database: replies written by the common mail clients become
//! comments with the quote stripped; every refusal writes no comment and is recorded with its
//! reason; a message delivered twice (one after the other, at once, over the pipe and over two
//! LMTP listeners) makes one comment. On both databases.

mod common;

use common::{fixture, World};
use issue_tracker_domain::{EventType, HistoryPage, ReplyRefusal, ReplyTokenRefused, Via};
use issue_tracker_replies::Outcome;
use issue_tracker_testkit::{both_databases, lmtp_deliver as lmtp_session, Kind};

async fn replies_from_the_common_clients_become_comments_without_the_quote(kind: Kind) {
    let world = World::new(kind, &[]);
    let cases = [
        (
            "gmail.eml",
            "I'll look at it this afternoon. The toner was replaced last week, so it's\nprobably the fuser.",
        ),
        (
            "outlook.eml",
            "Fixed: it was the fuser. Photo attached.\n\nBob\n\n(1 attachment not imported)",
        ),
        ("apple_mail.eml", "Works again — thanks for the quick fix!"),
        ("thunderbird.eml", "Der Drucker läuft wieder.\n\nViele Grüße\nBob"),
    ];
    for (n, (file, expected)) in cases.iter().enumerate() {
        let to = world.reply_address(&world.bob, world.issue);
        let message = fixture(
            file,
            &to,
            "bob@example.com",
            &format!("m{n}@mail.example"),
            world.issue,
        );
        let outcomes = world.receive(&message, Some("bob@example.com"), &[to]);
        assert!(
            matches!(outcomes[0].1, Outcome::Comment(_)),
            "{file}: {outcomes:?}"
        );
        let comments = world.comments();
        let last = comments.last().unwrap();
        assert_eq!(
            (last.body.as_str(), last.author.as_str()),
            (*expected, "bob"),
            "{file}"
        );
    }
    assert_eq!(world.comments().len(), cases.len());
    // The history says where the comments came from, and who made them.
    let history = world
        .test
        .db
        .issue_history(
            world.issue,
            HistoryPage {
                after: 0,
                per_page: 100,
            },
        )
        .unwrap();
    let by_email: Vec<_> = history
        .events
        .iter()
        .filter(|e| e.event_type == EventType::CommentCreated)
        .collect();
    assert_eq!(by_email.len(), cases.len());
    assert!(by_email
        .iter()
        .all(|e| e.via == Via::Email && e.actor.as_ref().unwrap().username == "bob"));
    // Each one is recorded with its comment.
    let records = world.test.db.list_incoming(0, 10).unwrap();
    assert_eq!(records.len(), cases.len());
    assert!(records
        .iter()
        .all(|r| r.comment.is_some() && r.refused.is_none()));
}

/// What is refused: a description, the message, its reply address, the envelope sender, and why.
type Refused<'a> = (&'a str, Vec<u8>, String, Option<&'a str>, ReplyRefusal);

async fn every_refusal_writes_no_comment_and_is_recorded(kind: Kind) {
    let world = World::new(kind, &[("INCOMING_EMAIL_MAX_BYTES", "4096")]);
    let plain = |to: &str, from: &str, id: &str, extra: &str, body: &str| {
        format!(
            "From: {from}\r\nTo: {to}\r\nSubject: Re: x\r\nMessage-ID: <{id}>\r\n{extra}Content-Type: text/plain\r\n\r\n{body}\r\n"
        )
        .into_bytes()
    };
    let good = world.reply_address(&world.bob, world.issue);
    let mut cases: Vec<Refused> = Vec::new();
    let forged = {
        let at = good.find('@').unwrap();
        let mut forged = good.clone();
        let last = if &good[at - 1..at] == "0" { "1" } else { "0" };
        forged.replace_range(at - 1..at, last);
        forged
    };
    cases.push((
        "a forged token",
        plain(&forged, "bob@example.com", "r1@x", "", "hi"),
        forged.clone(),
        None,
        ReplyRefusal::Token(ReplyTokenRefused::BadSignature),
    ));
    let expired = world.reply_address_until(&world.bob, world.issue, 1_000);
    cases.push((
        "an expired token",
        plain(&expired, "bob@example.com", "r2@x", "", "hi"),
        expired.clone(),
        None,
        ReplyRefusal::Token(ReplyTokenRefused::Expired),
    ));
    let malformed = "reply+bob@tracker.example.com".to_owned();
    cases.push((
        "a malformed token",
        plain(&malformed, "bob@example.com", "r3@x", "", "hi"),
        malformed.clone(),
        None,
        ReplyRefusal::Token(ReplyTokenRefused::Malformed),
    ));
    cases.push((
        "another sender",
        plain(&good, "mallory@example.com", "r4@x", "", "hi"),
        good.clone(),
        None,
        ReplyRefusal::WrongSender,
    ));
    cases.push((
        "nothing but the quote",
        plain(&good, "bob@example.com", "r5@x", "", "> old text"),
        good.clone(),
        None,
        ReplyRefusal::Empty,
    ));
    cases.push((
        "too big",
        plain(&good, "bob@example.com", "r6@x", "", &"x".repeat(5_000)),
        good.clone(),
        None,
        ReplyRefusal::TooBig { max: 4096 },
    ));
    cases.push((
        "an out-of-office answer",
        fixture(
            "out_of_office.eml",
            &good,
            "bob@example.com",
            "r7@x",
            world.issue,
        ),
        good.clone(),
        None,
        ReplyRefusal::Automatic("Auto-Submitted"),
    ));
    cases.push((
        "a mailing list",
        plain(
            &good,
            "bob@example.com",
            "r8@x",
            "Precedence: list\r\n",
            "hi",
        ),
        good.clone(),
        None,
        ReplyRefusal::Automatic("Precedence"),
    ));
    cases.push((
        "a bounce (null sender)",
        plain(&good, "mailer-daemon@example.com", "r9@x", "", "hi"),
        good.clone(),
        Some(""),
        ReplyRefusal::Automatic("null sender"),
    ));
    let report = format!(
        "From: mailer-daemon@example.com\r\nTo: {good}\r\nSubject: Undelivered\r\nMessage-ID: <r10@x>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n"
    );
    cases.push((
        "a delivery status notification",
        report.into_bytes(),
        good.clone(),
        Some("mailer-daemon@example.com"),
        ReplyRefusal::Automatic("delivery status notification"),
    ));
    let elsewhere = "someone@example.com".to_owned();
    cases.push((
        "not a reply address",
        plain(&elsewhere, "bob@example.com", "r11@x", "", "hi"),
        elsewhere.clone(),
        None,
        ReplyRefusal::NoReplyAddress,
    ));
    for (what, message, to, sender, expected) in &cases {
        let outcomes = world.receive(message, *sender, std::slice::from_ref(to));
        assert_eq!(outcomes[0].1, Outcome::Refused(expected.clone()), "{what}");
        assert_eq!(
            outcomes[0].1.accepted(),
            expected.is_silent(),
            "{what}: only automatic mail is taken without a bounce"
        );
    }
    // A new password revokes the user's reply addresses; deactivating them refuses them too; a
    // deleted issue takes no comments.
    let before = world.reply_address(&world.bob, world.issue);
    world
        .test
        .db
        .set_password_hash("bob", "a new hash", &common::system())
        .unwrap();
    let revoked = world.receive(
        &plain(&before, "bob@example.com", "r12@x", "", "hi"),
        None,
        std::slice::from_ref(&before),
    );
    assert_eq!(
        revoked[0].1,
        Outcome::Refused(ReplyRefusal::Token(ReplyTokenRefused::BadSignature))
    );
    let carl_address = world.reply_address(&world.carl, world.issue);
    world
        .test
        .db
        .set_active("carl", false, &common::system())
        .unwrap();
    let inactive = world.receive(
        &plain(&carl_address, "carl@example.com", "r13@x", "", "hi"),
        None,
        std::slice::from_ref(&carl_address),
    );
    assert_eq!(inactive[0].1, Outcome::Refused(ReplyRefusal::InactiveUser));
    let gone_address = world.reply_address(&world.bob, world.second_issue);
    world.delete(world.second_issue);
    let gone = world.receive(
        &plain(&gone_address, "bob@example.com", "r14@x", "", "hi"),
        None,
        std::slice::from_ref(&gone_address),
    );
    assert_eq!(gone[0].1, Outcome::Refused(ReplyRefusal::IssueGone));

    assert!(
        world.comments().is_empty(),
        "a refused reply made a comment"
    );
    let records = world.test.db.list_incoming(0, 100).unwrap();
    assert_eq!(records.len(), cases.len() + 3);
    assert!(records
        .iter()
        .all(|r| r.comment.is_none() && r.refused.is_some()));
    let reasons: Vec<&str> = records
        .iter()
        .map(|r| r.refused.as_ref().unwrap().0.as_str())
        .collect();
    for code in [
        "token_invalid",
        "token_expired",
        "wrong_sender",
        "empty",
        "too_big",
        "automatic",
        "no_reply_address",
        "inactive_user",
        "issue_gone",
    ] {
        assert!(reasons.contains(&code), "{code} not recorded: {reasons:?}");
    }
}

async fn a_message_delivered_twice_makes_one_comment(kind: Kind) {
    let world = World::new(kind, &[]);
    let to = world.reply_address(&world.bob, world.issue);
    let message = fixture(
        "gmail.eml",
        &to,
        "bob@example.com",
        "twice@mail.example",
        world.issue,
    );
    let first = world.receive(&message, None, &[]);
    assert!(matches!(first[0].1, Outcome::Comment(_)), "{first:?}");
    let second = world.receive(&message, None, &[]);
    assert_eq!(second[0].1, Outcome::AlreadyHandled);
    assert!(second[0].1.accepted());

    // Four deliveries of another message at once.
    let message = fixture(
        "apple_mail.eml",
        &to,
        "bob@example.com",
        "race@mail.example",
        world.issue,
    );
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (world, message, to) = (&world, &message, &to);
                scope.spawn(move || {
                    world
                        .receive(message, None, std::slice::from_ref(to))
                        .remove(0)
                        .1
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Comment(_)))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.iter().all(Outcome::accepted));

    // Without a Message-ID: the body decides, whatever headers the relays added.
    let bare = |received: &str| {
        format!("Received: {received}\r\nFrom: bob@example.com\r\nTo: {to}\r\nSubject: Re: x\r\n\r\nNo id on this one.\r\n")
            .into_bytes()
    };
    let first = world.receive(
        &bare("from a by b; Sun, 6 Dec 2026 10:00:00 +0000"),
        None,
        &[],
    );
    let again = world.receive(
        &bare("from c by d; Sun, 6 Dec 2026 10:05:00 +0000"),
        None,
        &[],
    );
    assert!(matches!(first[0].1, Outcome::Comment(_)));
    assert_eq!(again[0].1, Outcome::AlreadyHandled);
    assert_eq!(world.comments().len(), 3);
}

async fn lmtp_answers_per_recipient_and_two_listeners_make_one_comment(kind: Kind) {
    let world = World::new(kind, &[]);
    let (first, _stop_first) = world.lmtp_listener().await;
    let (second, _stop_second) = world.lmtp_listener().await;
    let good = world.reply_address(&world.bob, world.issue);
    let expired = world.reply_address_until(&world.bob, world.issue, 1_000);
    let message = fixture(
        "thunderbird.eml",
        &good,
        "bob@example.com",
        "lmtp@mail.example",
        world.issue,
    );
    // One transaction, three recipients: refused at RCPT, refused after DATA, delivered.
    let answers = lmtp_session(
        first,
        "bob@example.com",
        &["nobody@example.com", &expired, &good],
        &message,
    )
    .await;
    assert!(answers.rcpt[0].starts_with("550 5.1.1"), "{answers:?}");
    assert!(answers.rcpt[1].starts_with("250") && answers.rcpt[2].starts_with("250"));
    assert_eq!(
        answers.data.len(),
        2,
        "one answer per accepted recipient: {answers:?}"
    );
    assert!(answers.data[0].starts_with("550 5.7.1") && answers.data[0].contains("expired"));
    assert!(answers.data[1].starts_with("250 2.0.0") && answers.data[1].contains("comment"));
    // The same message through another listener, and the pipe: nothing new.
    let again = lmtp_session(second, "bob@example.com", &[&good], &message).await;
    assert!(again.data[0].contains("received before"), "{again:?}");
    let piped = world.receive(&message, None, &[]);
    assert_eq!(piped[0].1, Outcome::AlreadyHandled);
    // At once through both listeners: one comment.
    let message = fixture(
        "gmail.eml",
        &good,
        "bob@example.com",
        "both@mail.example",
        world.issue,
    );
    let to = [good.as_str()];
    let (a, b) = tokio::join!(
        lmtp_session(first, "bob@example.com", &to, &message),
        lmtp_session(second, "bob@example.com", &to, &message),
    );
    assert!(
        a.data[0].starts_with("250") && b.data[0].starts_with("250"),
        "{a:?} {b:?}"
    );
    assert_eq!(world.comments().len(), 2);
}

both_databases!(
    replies_from_the_common_clients_become_comments_without_the_quote,
    every_refusal_writes_no_comment_and_is_recorded,
    a_message_delivered_twice_makes_one_comment,
    lmtp_answers_per_recipient_and_two_listeners_make_one_comment,
);
