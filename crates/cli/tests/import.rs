//! `issue-tracker import-django`, from databases built by real Django and Django REST Framework
//! (`scripts/django-source/make_source.py`), on SQLite and PostgreSQL, into each of our backends;
//! then, through the HTTP API and the admin of a real `issue-tracker run`: every user logs in with
//! the old password (and again against its bcrypt replacement), every old token answers as its
//! user, every issue reads back as it was.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use issue_tracker_persistence::{create_postgres_database, drop_postgres_database};
use issue_tracker_testkit::{admin_url, free_port, Kind, TestDb};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_issue-tracker");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Django database of the original, made by Django itself; dropped afterwards.
struct Source {
    url: String,
    /// What the script made: users (with passwords and tokens) and issues.
    made: Value,
    pg_name: Option<String>,
    dir: PathBuf,
}

impl Source {
    fn new(kind: Kind, mode: &str) -> Source {
        let id = uuid_like();
        let dir = std::env::temp_dir().join(format!("django-source-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (url, pg_name) = match kind {
            Kind::Sqlite => (
                format!("sqlite:///{}", dir.join("db.sqlite3").display()),
                None,
            ),
            Kind::Postgres => {
                let name = format!("django_{id}");
                create_postgres_database(&admin_url(), &name).expect("a PostgreSQL database");
                let base = admin_url();
                let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(&base);
                (format!("{server}/{name}"), Some(name))
            }
        };
        let out = dir.join("made.json");
        let output = Command::new("python3")
            .arg(repo().join("scripts/django-source/make_source.py"))
            .args([url.as_str(), mode])
            .arg(&out)
            .output()
            .expect("python3");
        assert!(
            output.status.success(),
            "make_source.py: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let made = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        Source {
            url,
            made,
            pg_name,
            dir,
        }
    }

    fn users(&self) -> &Vec<Value> {
        self.made["users"].as_array().unwrap()
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            let _ = drop_postgres_database(&admin_url(), name);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

fn import(target: &TestDb, dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("import-django")
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", &target.url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `issue-tracker run` on the target, until dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(target: &TestDb, dir: &Path) -> Server {
        let port = free_port();
        let child = Command::new(BIN)
            .arg("run")
            .current_dir(dir)
            .env("DATABASE_URL", &target.url)
            .env("BIND_ADDRESS", format!("127.0.0.1:{port}"))
            .env("BCRYPT_COST", "4")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, port }
    }

    /// One request; the status, the headers (lower-case names) and the body.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        let reply = String::from_utf8_lossy(&reply).into_owned();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        // Chunked bodies: the JSON answers here are small; keep the text after the size line.
        let body = if body.starts_with(|c: char| c.is_ascii_hexdigit()) && body.contains("\r\n") {
            body.split("\r\n").nth(1).unwrap_or_default().to_owned()
        } else {
            body.to_owned()
        };
        (status, headers, body)
    }

    fn json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let auth = token.map(|t| format!("Token {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, _, text) = self.request(method, path, &headers, &body);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn login(&self, username: &str, password: &str) -> (u16, Value) {
        self.json(
            "POST",
            "/api/user/get_auth_token/",
            None,
            Some(json!({"username": username, "password": password})),
        )
    }

    /// Logs into the admin as a browser would; true when it lets them in.
    fn admin_login(&self, username: &str, password: &str) -> bool {
        let (_, headers, page) = self.request("GET", "/admin/login/", &[], "");
        let cookie = headers
            .iter()
            .find(|(k, v)| k == "set-cookie" && v.starts_with("admin_login_csrf="))
            .map(|(_, v)| v.split(';').next().unwrap().to_owned())
            .expect("a login cookie");
        let marker = "name=\"csrf\" value=\"";
        let start = page.find(marker).expect("a csrf field") + marker.len();
        let csrf = page[start..].split('"').next().unwrap();
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        let form = format!(
            "csrf={csrf}&username={}&password={}&next=%2Fadmin%2F",
            enc(username),
            enc(password)
        );
        let origin = format!("http://127.0.0.1:{}", self.port);
        let (status, headers, _) = self.request(
            "POST",
            "/admin/login/",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Cookie", &cookie),
                ("Origin", &origin),
            ],
            &form,
        );
        status == 303
            && headers
                .iter()
                .any(|(k, v)| k == "set-cookie" && v.starts_with("admin_session="))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stored_hash(target: &TestDb, username: &str) -> String {
    target
        .db
        .find_credentials(username)
        .unwrap()
        .unwrap()
        .password_hash
}

/// The whole switch-over, from one source kind into one target kind.
fn switch_over(source_kind: Kind, target_kind: Kind) {
    let source = Source::new(source_kind, "fixture");
    let target = TestDb::new(target_kind);
    let scratch = source.dir.clone();

    let output = import(&target, &scratch, &["--from", &source.url]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("Imported 10 users, 10 tokens and 10 issues"),
        "{}",
        text(&output)
    );

    let server = Server::start(&target, &scratch);
    // Staff get into the admin with their old password (cara's is Argon2), re-hashed there too.
    assert!(stored_hash(&target, "cara").starts_with("argon2$"));
    assert!(
        server.admin_login("cara", "cara-pw-1"),
        "cara into the admin"
    );
    assert!(stored_hash(&target, "cara").starts_with("$2"));
    for user in source.users() {
        let name = user["username"].as_str().unwrap();
        let password = user["password"].as_str();
        let active = user["is_active"].as_bool().unwrap();
        match password {
            Some(password) if active => {
                if name != "cara" {
                    assert!(
                        !stored_hash(&target, name).starts_with("$2"),
                        "{name}: still Django's"
                    );
                }
                let (status, reply) = server.login(name, password);
                assert_eq!(status, 200, "{name} ({}): {reply}", user["hash"]);
                assert!(
                    stored_hash(&target, name).starts_with("$2"),
                    "{name}: re-hashed with bcrypt at the first login"
                );
                let (status, reply) = server.login(name, password);
                assert_eq!(status, 200, "{name}, second login: {reply}");
                let (status, _) = server.login(name, "wrong-password");
                assert_eq!(status, 400, "{name}");
            }
            Some(password) => {
                let (status, _) = server.login(name, password);
                assert_eq!(status, 400, "inactive {name} logs in");
            }
            None => {
                for guess in ["", "!", "password"] {
                    let (status, _) = server.login(name, guess);
                    assert_eq!(status, 400, "unusable password of {name} with {guess:?}");
                }
                assert!(
                    stored_hash(&target, name).starts_with('!'),
                    "still unusable"
                );
            }
        }
        // The old DRF token answers as its user (the inactive one's is refused, as before).
        let token = user["token"].as_str().unwrap();
        let (status, me) = server.json("GET", "/api/user/me/", Some(token), None);
        if active {
            assert_eq!(status, 200, "{name}'s token: {me}");
            assert_eq!(me["username"], name);
            assert_eq!(me["id"], user["id"]);
            assert_eq!(me["email"], user["email"]);
            assert_eq!(me["is_staff"], user["is_staff"]);
            let (_, tokens) = server.json("GET", "/api/user/tokens/", Some(token), None);
            assert!(
                tokens
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["prefix"] == token[..8]),
                "{name}: {tokens}"
            );
        } else {
            assert_eq!(status, 401, "{name}'s token: {me}");
        }
    }
    // No key is stored in plain text.
    for user in source.users() {
        let token = user["token"].as_str().unwrap();
        let listed = target.db.list_users().unwrap();
        assert!(!format!("{listed:?}").contains(token));
    }

    let admin = source
        .users()
        .iter()
        .find(|u| u["username"] == "admin")
        .unwrap();
    let token = admin["token"].as_str().unwrap();
    let mut largest = 0;
    for issue in source.made["issues"].as_array().unwrap() {
        let id = issue["id"].as_i64().unwrap();
        largest = largest.max(id);
        let (status, read) = server.json("GET", &format!("/api/issue/{id}/"), Some(token), None);
        assert_eq!(status, 200, "issue {id}: {read}");
        for key in [
            "id",
            "title",
            "description",
            "status",
            "assigned_to",
            "created_by",
        ] {
            assert_eq!(read[key], issue[key], "issue {id}: {key}");
        }
    }
    let (status, created) = server.json(
        "POST",
        "/api/issue/",
        Some(token),
        Some(json!({"title": "after", "description": "d", "status": "open", "assigned_to": "ann"})),
    );
    assert_eq!(status, 201, "{created}");
    assert!(
        created["id"].as_i64().unwrap() > largest,
        "{created} after {largest}"
    );

    // The history: one created event per row, via import; no assignment email queued.
    let (status, feed) = server.json("GET", "/api/history/?per_page=100", Some(token), None);
    assert_eq!(status, 200, "{feed}");
    let imported: Vec<&Value> = feed
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["via"] == "import")
        .collect();
    let kinds = |kind: &str| imported.iter().filter(|e| e["type"] == kind).count();
    assert_eq!((kinds("user.created"), kinds("issue.created")), (10, 10));
    let assignments: Vec<String> = target
        .db
        .list_notifications(None, 1_000)
        .unwrap()
        .into_iter()
        .filter(|n| n.kind == "assignment")
        .map(|n| n.recipient)
        .collect();
    assert_eq!(
        assignments,
        ["ann"],
        "only the new issue's assignment email is queued"
    );

    assert!(!server.admin_login("ann", "ann-pw-1"), "ann is no staff");
}

#[test]
fn sqlite_into_sqlite() {
    switch_over(Kind::Sqlite, Kind::Sqlite);
}

#[test]
fn sqlite_into_postgres() {
    switch_over(Kind::Sqlite, Kind::Postgres);
}

#[test]
fn postgres_into_sqlite() {
    switch_over(Kind::Postgres, Kind::Sqlite);
}

#[test]
fn postgres_into_postgres() {
    switch_over(Kind::Postgres, Kind::Postgres);
}

fn counts(target: &TestDb) -> (i64, i64) {
    let state = target.db.import_target_state().unwrap();
    (state.users, state.issues)
}

/// `--dry-run` writes nothing; a second import into a filled database is refused with nothing
/// changed.
#[test]
fn a_dry_run_writes_nothing_and_a_second_import_is_refused() {
    let source = Source::new(Kind::Sqlite, "fixture");
    let target = TestDb::new(Kind::Postgres);
    let output = import(&target, &source.dir, &["--from", &source.url, "--dry-run"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("Dry run: 10 users, 10 tokens and 10 issues would be imported"));
    assert_eq!(counts(&target), (0, 0));

    let output = import(
        &target,
        &source.dir,
        &["--from", &source.url, "--token-ttl", "120"],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(counts(&target), (10, 10));
    // The imported tokens live as long as --token-ttl says, from the import.
    let ann = target.db.find_user("ann").unwrap().unwrap();
    let tokens = target.db.list_tokens(ann.id).unwrap();
    assert_eq!(tokens.len(), 1);
    let left = (tokens[0].expires_at - chrono::Utc::now()).num_seconds();
    assert!((90..=120).contains(&left), "expires in {left} s");
    let output = import(&target, &source.dir, &["--from", &source.url]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("already holds 10 users and 10 issues"),
        "{}",
        text(&output)
    );
    assert_eq!(counts(&target), (10, 10));
}

/// Rows our rules refuse are all listed, with their ids and reasons, and nothing is written;
/// `--skip-invalid` imports the rest and lists what it left out. A hash of an algorithm this
/// service does not verify (MD5) refuses the import, naming the user.
#[test]
fn refused_rows_are_all_listed() {
    let source = Source::new(Kind::Sqlite, "invalid");
    let target = TestDb::new(Kind::Sqlite);
    let output = import(&target, &source.dir, &["--from", &source.url]);
    assert!(!output.status.success());
    let report = text(&output);
    for expected in [
        "user 12: username \"bad name\"",
        "user 13: email \"not-an-email\"",
        "issue 13: status \"pending\"",
        "issue 14: title: Ensure this field has no more than 255 characters.",
        "issue 15: assigned_to \"nobody\": no such user is imported",
        "nothing was written",
    ] {
        assert!(
            report.contains(expected),
            "{expected:?} missing from:\n{report}"
        );
    }
    assert_eq!(counts(&target), (0, 0));
    let output = import(
        &target,
        &source.dir,
        &["--from", &source.url, "--skip-invalid"],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("Left out (5 rows"),
        "{}",
        text(&output)
    );
    assert_eq!(counts(&target), (10, 10));

    let source = Source::new(Kind::Sqlite, "md5");
    let target = TestDb::new(Kind::Sqlite);
    let output = import(&target, &source.dir, &["--from", &source.url]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("password: a md5 hash, which this service does not verify"),
        "{}",
        text(&output)
    );
    assert_eq!(counts(&target), (0, 0));
}

/// Killed half-way (SIGKILL while issues are being written): the target is as it was, and the
/// import can simply be run again.
#[test]
fn an_import_killed_half_way_leaves_the_target_empty() {
    let dir = std::env::temp_dir().join(format!("django-bulk-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:///{}", dir.join("db.sqlite3").display());
    let made = Command::new("python3")
        .arg(repo().join("scripts/django-source/make_source.py"))
        .args([url.as_str(), "bulk", "200", "50000"])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    for target_kind in [Kind::Sqlite, Kind::Postgres] {
        let target = TestDb::new(target_kind);
        let mut child = Command::new(BIN)
            .args(["import-django", "--from", &url])
            .current_dir(&dir)
            .env("DATABASE_URL", &target.url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Killed once it reports issues written.
        let mut stderr = child.stderr.take().unwrap();
        let mut seen = String::new();
        let mut buffer = [0u8; 256];
        while !seen.contains("issues: ") {
            let n = stderr.read(&mut buffer).unwrap();
            assert!(n > 0, "the import ended before writing issues: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(counts(&target), (0, 0), "{target_kind:?}: {seen}");
        let output = import(&target, &dir, &["--from", &url]);
        assert!(output.status.success(), "{}", text(&output));
        assert_eq!(counts(&target), (200, 50_000));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
