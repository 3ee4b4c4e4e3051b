//! Spawns the real server on a random port against a database made for one test (testkit's
//! `TestDb`: a fresh PostgreSQL database or SQLite file, dropped afterwards).

use std::collections::HashMap;
use std::net::TcpListener;

use issue_tracker_api::AppState;
use issue_tracker_config::Settings;
use issue_tracker_persistence::{Database, NewUser};
use serde_json::{json, Value};

pub use issue_tracker_testkit::Kind;
use issue_tracker_testkit::TestDb;

pub struct TestApp {
    pub base: String,
    pub db: Database,
    #[allow(dead_code)]
    pub kind: Kind,
    pub client: reqwest::Client,
    _database: TestDb,
}

pub async fn spawn(kind: Kind) -> TestApp {
    spawn_with(kind, &[]).await
}

pub async fn spawn_with(kind: Kind, extra: &[(&str, &str)]) -> TestApp {
    let database = TestDb::new(kind);
    let mut variables: HashMap<String, String> = [
        ("DATABASE_URL", database.url.as_str()),
        ("BCRYPT_COST", "4"),
        ("HTTP_WORKERS", "1"),
        ("DATABASE_POOL_SIZE", "4"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        variables.insert(k.to_string(), v.to_string());
    }
    let settings = Settings::from_variables(&variables, None).expect("test settings");
    let db = database.db.clone();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let state = AppState::new(db.clone(), &settings);
    std::thread::spawn(move || issue_tracker_api::run(state, listener));
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        db,
        kind,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _database: database,
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// Starts another server process-alike over the same database; returns its base URL.
    pub fn another_server(&self, extra: &[(&str, &str)]) -> String {
        let mut variables: HashMap<String, String> = [("BCRYPT_COST", "4"), ("HTTP_WORKERS", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in extra {
            variables.insert(k.to_string(), v.to_string());
        }
        let settings = Settings::from_variables(&variables, None).expect("test settings");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let state = AppState::new(self.db.clone(), &settings);
        std::thread::spawn(move || issue_tracker_api::run(state, listener));
        format!("http://127.0.0.1:{port}")
    }

    /// PostgreSQL: the server drops every connection to the test's database.
    #[allow(dead_code)]
    pub fn close_database_connections(&self) {
        self._database.close_connections();
    }

    /// The test database's URL (PostgreSQL) or file (SQLite).
    #[allow(dead_code)]
    pub fn database_url(&self) -> &str {
        &self._database.url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn create_user(&self, username: &str, password: &str) {
        self.create_user_full(
            username,
            password,
            &format!("{username}@example.com"),
            false,
        );
    }

    pub fn create_user_full(&self, username: &str, password: &str, email: &str, staff: bool) {
        self.db
            .create_user(
                &NewUser {
                    username: username.into(),
                    email: email.into(),
                    password_hash: bcrypt::hash(password, 4).unwrap(),
                    is_staff: staff,
                    is_superuser: false,
                },
                &issue_tracker_domain::Origin::system(issue_tracker_domain::Via::Cli),
            )
            .expect("create user");
    }

    /// Creates `username` (password "pw-<username>") and returns a fresh token.
    pub async fn user_with_token(&self, username: &str) -> String {
        let password = format!("pw-{username}");
        self.create_user(username, &password);
        self.login(username, &password).await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let reply = self
            .send(
                "POST",
                "/api/user/get_auth_token/",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(reply.status, 200, "login failed: {}", reply.text);
        reply.json()["token"].as_str().unwrap().to_owned()
    }

    /// Sends a JSON body (or none) with an optional token.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Token {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        Self::read(request.send().await.expect("request")).await
    }

    /// Sends raw bytes with the given headers.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self.client.request(method.parse().unwrap(), self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::read(request.body(body).send().await.expect("request")).await
    }

    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            headers,
            text,
        }
    }

    /// Creates an issue by the token's owner, assigned to `assignee`; returns its JSON.
    pub async fn issue(&self, token: &str, title: &str, assignee: &str) -> Value {
        let reply = self
            .send(
                "POST",
                "/api/issue/",
                Some(token),
                Some(json!({"title": title, "description": "d", "status": "open", "assigned_to": assignee})),
            )
            .await;
        assert_eq!(reply.status, 201, "create failed: {}", reply.text);
        reply.json()
    }

    /// Comments `body` on `issue` as the token's owner (201 expected).
    #[allow(dead_code)]
    pub async fn comment(&self, token: &str, issue: i64, body: &str) {
        let reply = self
            .send(
                "POST",
                &format!("/api/issue/{issue}/comments/"),
                Some(token),
                Some(json!({ "body": body })),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }

    /// The issue as stored now (through the API, as its creator sees it).
    pub async fn fetch(&self, token: &str, id: i64) -> Reply {
        self.send("GET", &format!("/api/issue/{id}/"), Some(token), None)
            .await
    }
}
