//! A database with users and issues, the replies' rules over it, fixtures and an LMTP client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use issue_tracker_config::Settings;
use issue_tracker_domain::{
    reply_address, reply_token, Actor, Comment, Description, IssueId, Origin, Status, Title, User,
    Via,
};
use issue_tracker_persistence::{NewIssue, NewUser, Transport, WriteCondition};
use issue_tracker_replies::{Outcome, Replies};
use issue_tracker_testkit::{Kind, TestDb};
use tokio::sync::watch;

pub const SECRET: &str = "replies test secret";
pub const PATTERN: &str = "reply+%{token}@tracker.example.com";

pub fn system() -> Origin {
    Origin::system(Via::Cli)
}

pub struct World {
    pub test: TestDb,
    pub settings: Settings,
    pub replies: Replies,
    pub ann: User,
    pub bob: User,
    pub carl: User,
    pub issue: IssueId,
    pub second_issue: IssueId,
}

impl World {
    /// Ann, Bob and Carl; two issues by Ann assigned to Bob; replies on, with `extra` settings.
    pub fn new(kind: Kind, extra: &[(&str, &str)]) -> World {
        let test = TestDb::new(kind);
        let mut variables: HashMap<String, String> = [
            ("DATABASE_URL", test.url.as_str()),
            ("SECRET_KEY", SECRET),
            ("INCOMING_EMAIL_ADDRESS", PATTERN),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            variables.insert(k.to_string(), v.to_string());
        }
        let settings = Settings::from_variables(&variables, None).expect("settings");
        let replies = Replies::from_settings(test.db.clone(), &settings).expect("replies are on");
        let user = |name: &str| {
            test.db
                .create_user(
                    &NewUser {
                        username: name.into(),
                        email: format!("{name}@example.com"),
                        password_hash: format!("stored hash of {name}"),
                        is_staff: false,
                        is_superuser: false,
                    },
                    &system(),
                )
                .unwrap()
        };
        let (ann, bob, carl) = (user("ann"), user("bob"), user("carl"));
        let issue = |title: &str| {
            test.db
                .create_issue(
                    &ann,
                    &NewIssue {
                        title: &Title::parse(title).unwrap(),
                        description: &Description::parse("d").unwrap(),
                        status: Status::Open,
                        assignee: "bob",
                    },
                    Duration::from_secs(3600),
                    &Origin {
                        actor: Some(Actor {
                            id: ann.id,
                            username: "ann".into(),
                        }),
                        via: Via::Api,
                        request_id: None,
                    },
                    Duration::from_secs(3600),
                )
                .unwrap()
                .unwrap()
                .id
        };
        let (issue, second_issue) = (issue("Printer on fire"), issue("Coffee machine"));
        World {
            test,
            settings,
            replies,
            ann,
            bob,
            carl,
            issue,
            second_issue,
        }
    }

    /// `user`'s reply address for `issue`, as an email sent now would carry it.
    pub fn reply_address(&self, user: &User, issue: IssueId) -> String {
        self.reply_address_until(user, issue, chrono::Utc::now().timestamp() + 3_600)
    }

    pub fn reply_address_until(&self, user: &User, issue: IssueId, expires: i64) -> String {
        let hash = self
            .test
            .db
            .credentials_by_id(user.id)
            .unwrap()
            .unwrap()
            .password_hash;
        reply_address(
            PATTERN,
            &reply_token(SECRET.as_bytes(), user.id, issue, expires, &hash),
        )
    }

    /// Through the pipe.
    pub fn receive(
        &self,
        message: &[u8],
        sender: Option<&str>,
        recipients: &[String],
    ) -> Vec<(String, Outcome)> {
        self.replies
            .receive(message, sender, recipients, Transport::Pipe)
            .expect("the database answers")
    }

    pub fn comments(&self) -> Vec<Comment> {
        self.test
            .db
            .list_comments(self.issue, 0, 1_000)
            .unwrap()
            .unwrap()
            .0
    }

    pub fn delete(&self, issue: IssueId) {
        self.test
            .db
            .delete_issue(
                issue,
                &WriteCondition {
                    creator: None,
                    version: None,
                },
                &system(),
                Duration::from_secs(3600),
            )
            .unwrap()
            .unwrap();
    }

    /// An LMTP listener over this database on a port of its own; it stops when the sender drops.
    pub async fn lmtp_listener(&self) -> (SocketAddr, watch::Sender<bool>) {
        listen(self.replies.clone()).await
    }

    /// The same rules over another way to the database (a fault proxy in front of it, say).
    pub fn replies_over(&self, db: issue_tracker_persistence::Database) -> Replies {
        Replies::from_settings(db, &self.settings).expect("replies are on")
    }
}

/// An LMTP listener for `replies` on a port of its own; it stops when the sender drops.
pub async fn listen(replies: Replies) -> (SocketAddr, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(issue_tracker_replies::lmtp::serve(
        listener, replies, stopped,
    ));
    (address, stop)
}

impl World {}

/// A fixture from `tests/fixtures` with its placeholders filled in.
pub fn fixture(name: &str, to: &str, from: &str, message_id: &str, issue: IssueId) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(path)
        .expect("fixture")
        .replace("{{TO}}", to)
        .replace("{{FROM}}", from)
        .replace("{{MESSAGE_ID}}", message_id)
        .replace("{{ISSUE}}", &issue.get().to_string())
        .replace('\n', "\r\n")
        .into_bytes()
}
