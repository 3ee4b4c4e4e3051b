//! `issue-tracker receive-email` as a mail server's pipe transport runs it: the message on
//! standard input, the exit status its answer (0 delivered, 67 bounce with the reason on standard
//! error, 75 try again later), on both databases.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use issue_tracker_domain::{
    reply_address, reply_token, Description, IssueId, Origin, Status, Title, User, Via,
};
use issue_tracker_persistence::{NewIssue, NewUser};
use issue_tracker_testkit::{Kind, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_issue-tracker");
const SECRET: &str = "pipe secret";
const PATTERN: &str = "reply+%{token}@tracker.example.com";

fn receive(url: &str, replies_on: bool, args: &[&str], message: &str) -> Output {
    let dir = std::env::temp_dir();
    let mut command = Command::new(BIN);
    command
        .arg("receive-email")
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .env("SECRET_KEY", SECRET)
        .env("DATABASE_POOL_TIMEOUT", "2")
        .env_remove("INCOMING_EMAIL_ADDRESS");
    if replies_on {
        command.env("INCOMING_EMAIL_ADDRESS", PATTERN);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn setup(kind: Kind) -> (TestDb, User, IssueId) {
    let test = TestDb::new(kind);
    let system = Origin::system(Via::Cli);
    let user = |name: &str| {
        test.db
            .create_user(
                &NewUser {
                    username: name.into(),
                    email: format!("{name}@example.com"),
                    password_hash: format!("hash of {name}"),
                    is_staff: false,
                    is_superuser: false,
                },
                &system,
            )
            .unwrap()
    };
    let (ann, bob) = (user("ann"), user("bob"));
    let issue = test
        .db
        .create_issue(
            &ann,
            &NewIssue {
                title: &Title::parse("Printer").unwrap(),
                description: &Description::parse("d").unwrap(),
                status: Status::Open,
                assignee: "bob",
            },
            Duration::from_secs(3600),
            &system,
            Duration::from_secs(3600),
        )
        .unwrap()
        .unwrap()
        .id;
    (test, bob, issue)
}

fn message(to: &str, id: &str, extra: &str, body: &str) -> String {
    format!(
        "Return-Path: <bob@example.com>\r\nDelivered-To: {to}\r\nFrom: bob@example.com\r\nTo: {to}\r\nSubject: Re: Printer\r\nMessage-ID: <{id}>\r\n{extra}\r\n{body}\r\n"
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn pipe_transport(kind: Kind) {
    let (test, bob, issue) = setup(kind);
    let expires = chrono::Utc::now().timestamp() + 3_600;
    let token = reply_token(SECRET.as_bytes(), bob.id, issue, expires, "hash of bob");
    let to = reply_address(PATTERN, &token);
    let comments = || {
        test.db
            .list_comments(issue, 0, 100)
            .unwrap()
            .unwrap()
            .0
            .len()
    };

    // Delivered: exit 0, nothing on standard error.
    let reply = message(&to, "one@mail", "", "Done.\r\n\r\n> the question");
    let output = receive(&test.url, true, &["--recipient", &to], &reply);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{kind:?}: {}",
        stderr(&output)
    );
    assert_eq!(stderr(&output), "");
    assert_eq!(comments(), 1);
    // The same message again: delivered, nothing new.
    let output = receive(&test.url, true, &["--recipient", &to], &reply);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(comments(), 1);
    // Without --recipient, the reply address is found in the headers.
    let output = receive(
        &test.url,
        true,
        &[],
        &message(&to, "two@mail", "", "Again."),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(comments(), 2);

    // Bounced, with an enhanced status code and the reason.
    let forged = to.replacen("reply+", "reply+1", 1);
    let output = receive(
        &test.url,
        true,
        &["--recipient", &forged],
        &message(&forged, "three@mail", "", "Hi"),
    );
    assert_eq!(output.status.code(), Some(67), "{}", stderr(&output));
    assert!(stderr(&output).starts_with("5.7.1 "), "{}", stderr(&output));
    let output = receive(
        &test.url,
        true,
        &["--recipient", &to],
        &message(&to, "four@mail", "", "> only a quote"),
    );
    assert_eq!(output.status.code(), Some(67));
    assert!(stderr(&output).contains("empty"), "{}", stderr(&output));
    // Automatic mail: taken and dropped, never answered (not even by a bounce).
    let output = receive(
        &test.url,
        true,
        &["--recipient", &to, "--sender", ""],
        &message(
            &to,
            "five@mail",
            "Auto-Submitted: auto-replied\r\n",
            "Out of office",
        ),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(comments(), 2);
    // Replies off: bounced.
    let output = receive(
        &test.url,
        false,
        &["--recipient", &to],
        &message(&to, "six@mail", "", "Hi"),
    );
    assert_eq!(output.status.code(), Some(67));
    assert!(stderr(&output).starts_with("5.3.5 "), "{}", stderr(&output));
    assert_eq!(comments(), 2);
}

#[test]
fn postgres_pipe_transport() {
    pipe_transport(Kind::Postgres);
}

#[test]
fn sqlite_pipe_transport() {
    pipe_transport(Kind::Sqlite);
}

#[test]
fn an_unreachable_database_asks_the_mail_server_to_try_again() {
    let output = receive(
        "postgres://postgres@127.0.0.1:1/nowhere",
        true,
        &[
            "--recipient",
            "reply+1-1.9999999999.00112233445566778899@tracker.example.com",
        ],
        "From: bob@example.com\r\n\r\nHi\r\n",
    );
    assert_eq!(output.status.code(), Some(75), "{}", stderr(&output));
    assert!(stderr(&output).starts_with("4.3.0 "), "{}", stderr(&output));
}
