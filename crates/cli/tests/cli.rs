//! The admin command, run as a user would: a real process in a scratch folder on the embedded
//! default database.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_issue-tracker");

struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("issue-tracker-cli-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("BCRYPT_COST", "4")
        .env("RUST_LOG", "warn");
    command
}

fn run(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = command(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn help_lists_the_commands() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = text(&output);
    for name in [
        "migrate",
        "run",
        "createsuperuser",
        "createuser",
        "changepassword",
        "deactivate",
        "tokens",
    ] {
        assert!(help.contains(name), "{name} missing from --help:\n{help}");
    }
}

#[test]
fn migrate_then_create_users_non_interactively() {
    let scratch = Scratch::new();
    let dir = &scratch.0;
    // Before migrating, user commands refuse and say what to do.
    let output = run(
        dir,
        &["createuser", "--username", "ann", "--password-stdin"],
        "pw\n",
    );
    assert!(!output.status.success());
    assert!(
        text(&output).contains("issue-tracker migrate"),
        "{}",
        text(&output)
    );

    let output = run(dir, &["migrate"], "");
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("Applied"));
    assert!(dir.join("data/issue-tracker.sqlite3").exists());
    let output = run(dir, &["migrate"], "");
    assert!(text(&output).contains("No migrations to apply."));

    let output = run(
        dir,
        &[
            "createsuperuser",
            "--username",
            "root",
            "--email",
            "root@example.com",
            "--password-stdin",
        ],
        "s3cret pass\n",
    );
    assert!(output.status.success(), "{}", text(&output));
    let output = run(
        dir,
        &["createuser", "--username", "root", "--password-stdin"],
        "x\n",
    );
    assert!(!output.status.success());
    assert!(text(&output).contains("already exists"));
    // Over 72 bytes (25 × "€" = 75 bytes) and blank passwords are refused.
    let output = run(
        dir,
        &["createuser", "--username", "eve", "--password-stdin"],
        &format!("{}\n", "€".repeat(25)),
    );
    assert!(!output.status.success());
    assert!(text(&output).contains("72 bytes"), "{}", text(&output));
    let output = run(
        dir,
        &["createuser", "--username", "eve", "--password-stdin"],
        "   \n",
    );
    assert!(!output.status.success());
    let output = run(
        dir,
        &["createuser", "--username", "bad name", "--password-stdin"],
        "x\n",
    );
    assert!(!output.status.success());
    // Without a terminal and without --password-stdin there is nothing to prompt with.
    let output = run(dir, &["createuser", "--username", "eve"], "");
    assert!(!output.status.success());
    assert!(text(&output).contains("--password-stdin"));

    let output = run(
        dir,
        &["createuser", "--username", "bob", "--password-stdin"],
        "bob pass\n",
    );
    assert!(output.status.success(), "{}", text(&output));
    let output = run(dir, &["users"], "");
    let listing = text(&output);
    assert!(
        listing.contains("root") && listing.contains("bob"),
        "{listing}"
    );
    assert!(run(dir, &["deactivate", "bob"], "").status.success());
    assert!(!run(dir, &["deactivate", "nobody"], "").status.success());
    assert!(run(
        dir,
        &["changepassword", "bob", "--password-stdin"],
        "new pass\n"
    )
    .status
    .success());
    assert!(run(dir, &["tokens", "list", "root"], "").status.success());
    assert!(run(dir, &["tokens", "revoke", "root", "--all"], "")
        .status
        .success());
}

#[test]
fn bad_settings_stop_start_up_naming_the_setting() {
    let scratch = Scratch::new();
    for (name, value) in [
        ("BCRYPT_COST", "lots"),
        ("DATABASE_URL", "mysql://x"),
        ("BIND_ADDRESS", "here"),
    ] {
        let output = command(&scratch.0, &["migrate"])
            .env(name, value)
            .output()
            .unwrap();
        assert!(!output.status.success());
        assert!(text(&output).contains(name), "{name}: {}", text(&output));
    }
    // A .env file is read; the real environment wins over it.
    std::fs::write(scratch.0.join(".env"), "BCRYPT_COST=lots\n").unwrap();
    let output = command(&scratch.0, &["migrate"])
        .env_remove("BCRYPT_COST")
        .output()
        .unwrap();
    assert!(text(&output).contains("BCRYPT_COST"), "{}", text(&output));
    let output = command(&scratch.0, &["migrate"]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request over a plain socket; returns the whole response.
fn http(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

fn post_json(port: u16, path: &str, token: Option<&str>, body: &str) -> String {
    let auth = token
        .map(|t| format!("Authorization: Token {t}\r\n"))
        .unwrap_or_default();
    http(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn run_sends_assignment_emails_as_eml_files_without_any_other_service() {
    let scratch = Scratch::new();
    let dir = &scratch.0;
    assert!(run(dir, &["migrate"], "").status.success());
    for name in ["ann", "bob"] {
        let output = run(
            dir,
            &[
                "createuser",
                "--username",
                name,
                "--email",
                &format!("{name}@example.com"),
                "--password-stdin",
            ],
            &format!("pw-{name}\n"),
        );
        assert!(output.status.success(), "{}", text(&output));
    }
    let port = free_port();
    let mut child = command(dir, &["run"])
        .env("BIND_ADDRESS", format!("127.0.0.1:{port}"))
        .env("ASSIGN_REPORT_SCHEDULE", "0.02")
        .env_remove("EMAIL_HOST")
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let reply = post_json(
        port,
        "/api/user/get_auth_token/",
        None,
        r#"{"username":"ann","password":"pw-ann"}"#,
    );
    let token = reply
        .split("\"token\":\"")
        .nth(1)
        .unwrap_or_else(|| panic!("{reply}"))[..40]
        .to_owned();
    let body =
        r#"{"title":"Printer on fire","description":"d","status":"open","assigned_to":"bob"}"#;
    let reply = post_json(port, "/api/issue/", Some(&token), body);
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    let mail_dir = dir.join("data/mail");
    let deadline = Instant::now() + Duration::from_secs(20);
    let email = loop {
        let found = std::fs::read_dir(&mail_dir).ok().and_then(|entries| {
            entries
                .flatten()
                .find(|e| e.path().extension().is_some_and(|x| x == "eml"))
        });
        if let Some(entry) = found {
            break std::fs::read_to_string(entry.path()).unwrap();
        }
        assert!(Instant::now() < deadline, "no .eml file under data/mail");
        std::thread::sleep(Duration::from_millis(200));
    };
    // SIGTERM: all three roles stop and the process exits cleanly.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "run did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    assert!(email.contains("To: bob@example.com"), "{email}");
    assert!(email.contains("Subject: New Issue assigned"));
    assert!(email.contains("is assigned to you"));
    let listing = text(&run(dir, &["notifications", "--status", "sent"], ""));
    assert!(
        listing.contains("assignment") && listing.contains("bob"),
        "{listing}"
    );
    let output = run(dir, &["notifications", "retry", "1"], "");
    assert!(
        !output.status.success(),
        "only dead notifications can be retried"
    );
    assert!(!run(dir, &["notifications", "--status", "lost"], "")
        .status
        .success());
    // Emails a user turned off are listed as such.
    assert!(run(dir, &["notifications", "--status", "skipped"], "")
        .status
        .success());
}

#[test]
fn run_migrates_the_embedded_default_and_serves() {
    let scratch = Scratch::new();
    let port = free_port();
    let mut child = command(&scratch.0, &["run"])
        .env("BIND_ADDRESS", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let reply = loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream
                .write_all(
                    b"GET /api/issue/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                )
                .unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).unwrap();
            break reply;
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    assert!(reply.contains("Authentication credentials were not provided."));
    assert!(scratch.0.join("data/issue-tracker.sqlite3").exists());
}

/// `deactivate` says "tokens revoked", and it is true: after `activate`, the old token is
/// refused ("Invalid token." territory: absent), while during deactivation its holder is told
/// the user is inactive.
#[test]
fn deactivate_revokes_tokens_for_good() {
    let scratch = Scratch::new();
    let dir = &scratch.0;
    assert!(run(dir, &["migrate"], "").status.success());
    assert!(run(
        dir,
        &["createuser", "--username", "bob", "--password-stdin"],
        "pw\n"
    )
    .status
    .success());
    let db = issue_tracker_persistence::Database::connect_sqlite(
        &dir.join("data/issue-tracker.sqlite3"),
        issue_tracker_persistence::PoolSettings::default(),
    )
    .unwrap();
    let bob = db.find_user("bob").unwrap().unwrap();
    let token = issue_tracker_domain::NewToken::generate();
    db.insert_token(bob.id, &token, Duration::from_secs(3600))
        .unwrap();
    let works = |db: &issue_tracker_persistence::Database| {
        db.authenticate(&token.hash)
            .unwrap()
            .map(|found| found.user.is_active)
    };
    assert_eq!(works(&db), Some(true));
    let output = run(dir, &["deactivate", "bob"], "");
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("tokens revoked"),
        "{}",
        text(&output)
    );
    // Still found while inactive, so that the API answers "User inactive or deleted.".
    assert_eq!(works(&db), Some(false));
    assert!(run(dir, &["activate", "bob"], "").status.success());
    assert_eq!(works(&db), None, "the old token works again after activate");
    // Each change wrote its event, through the CLI's door, with no user behind it.
    let page = issue_tracker_domain::HistoryPage::parse(None, None).unwrap();
    let events = db.history_feed(page).unwrap().events;
    let seen: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.via, issue_tracker_domain::Via::Cli);
            assert!(e.actor.is_none());
            (
                e.event_type.as_str(),
                e.user.as_ref().map(|u| u.username.as_str()),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("user.created", Some("bob")),
            ("user.updated", Some("bob")),
            ("user.tokens_revoked", Some("bob")),
            ("user.updated", Some("bob")),
        ]
    );
}

/// `tokens create USER --scope events:read` prints a key (once) that authenticates with that
/// scope and nothing more; `tokens list` shows the scope; an unknown scope or an inactive user
/// issues nothing.
#[test]
fn tokens_create_issues_a_scoped_token() {
    let scratch = Scratch::new();
    let dir = &scratch.0;
    assert!(run(dir, &["migrate"], "").status.success());
    assert!(run(
        dir,
        &["createuser", "--username", "feed", "--password-stdin"],
        "pw\n"
    )
    .status
    .success());
    let refused = run(dir, &["tokens", "create", "feed", "--scope", "admin"], "");
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("Unknown scope \"admin\""),
        "{}",
        text(&refused)
    );
    let missing = run(dir, &["tokens", "create", "feed"], "");
    assert!(!missing.status.success(), "a scope is required");
    let short = run(
        dir,
        &[
            "tokens",
            "create",
            "feed",
            "--scope",
            "events:read",
            "--expires-in",
            "5",
        ],
        "",
    );
    assert!(!short.status.success());

    let created = run(
        dir,
        &["tokens", "create", "feed", "--scope", "events:read"],
        "",
    );
    assert!(created.status.success(), "{}", text(&created));
    let key = String::from_utf8(created.stdout.clone())
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(key.len(), 40, "stdout is the key alone: {key:?}");
    let db = issue_tracker_persistence::Database::connect_sqlite(
        &dir.join("data/issue-tracker.sqlite3"),
        issue_tracker_persistence::PoolSettings::default(),
    )
    .unwrap();
    let found = db
        .authenticate(&issue_tracker_domain::hash_token(&key))
        .unwrap()
        .unwrap();
    assert_eq!(found.user.username, "feed");
    assert_eq!(found.scopes.names(), ["events:read"]);
    let listed = run(dir, &["tokens", "list", "feed"], "");
    assert!(text(&listed).contains("events:read"), "{}", text(&listed));
    assert!(!text(&listed).contains(&key));
    assert_eq!(
        db.list_tokens(found.user.id).unwrap().len(),
        1,
        "one token, the good one"
    );

    assert!(run(dir, &["deactivate", "feed"], "").status.success());
    let inactive = run(
        dir,
        &["tokens", "create", "feed", "--scope", "events:read"],
        "",
    );
    assert!(!inactive.status.success());
    assert_eq!(
        db.list_tokens(found.user.id).unwrap().len(),
        1,
        "none issued"
    );
}
