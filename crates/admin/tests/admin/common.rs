//! What every admin test needs: a server with the admin mounted on a fresh database, users, and
//! a cookie-keeping client that sends forms as a browser does.

use std::collections::HashMap;
use std::net::TcpListener;

use issue_tracker_config::Settings;
use issue_tracker_domain::{HistoryPage, Origin, Via};
use issue_tracker_persistence::{Database, NewUser};
pub use issue_tracker_testkit::Kind;
use issue_tracker_testkit::TestDb;
use issue_tracker_web::AppState;

pub const CLI: Origin = Origin {
    actor: None,
    via: Via::Cli,
    request_id: None,
};

pub struct Admin {
    pub base: String,
    pub db: Database,
    pub _database: TestDb,
}

pub fn spawn(kind: Kind, extra: &[(&str, &str)]) -> Admin {
    let database = TestDb::new(kind);
    let mut variables: HashMap<String, String> = [
        ("DATABASE_URL", database.url.as_str()),
        ("BCRYPT_COST", "4"),
        ("HTTP_WORKERS", "1"),
        ("DATABASE_POOL_SIZE", "4"),
        ("ASSIGN_REPORT_SCHEDULE", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        variables.insert(k.to_string(), v.to_string());
    }
    let settings = Settings::from_variables(&variables, None).expect("test settings");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let state = AppState::new(database.db.clone(), &settings);
    let mount = issue_tracker_admin::mount(
        settings.admin.clone(),
        issue_tracker_admin::ReportInterval(settings.pipeline.report_interval()),
        settings.http.max_body_bytes,
    );
    std::thread::spawn(move || {
        issue_tracker_web::run_with(state, listener, vec![mount, issue_tracker_api::mount()])
    });
    Admin {
        base: format!("http://127.0.0.1:{port}"),
        db: database.db.clone(),
        _database: database,
    }
}

impl Admin {
    pub fn user(&self, name: &str, staff: bool, superuser: bool) {
        self.db
            .create_user(
                &NewUser {
                    username: name.into(),
                    email: format!("{name}@example.com"),
                    password_hash: bcrypt::hash(format!("pw-{name}"), 4).unwrap(),
                    is_staff: staff,
                    is_superuser: superuser,
                },
                &CLI,
            )
            .unwrap();
    }

    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    pub async fn logged_in(&self, name: &str) -> Browser {
        let mut browser = self.browser();
        let page = browser.login(name, &format!("pw-{name}")).await;
        assert_eq!(page.status, 303, "{name} could not log in: {}", page.text);
        browser
    }

    pub fn events(&self) -> Vec<issue_tracker_domain::Event> {
        let page = HistoryPage {
            after: 0,
            per_page: 100,
        };
        self.db.history_feed(page).unwrap().events
    }
}

#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the first hidden `csrf` input.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.text.find(marker).expect("a csrf field") + marker.len();
        self.text[start..].split('"').next().unwrap().to_owned()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

/// A cookie-keeping client that sends forms as a browser does (with `Origin`).
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

impl Browser {
    pub fn remember(&mut self, page: &Page) {
        for cookie in page.set_cookies() {
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn read(&mut self, response: reqwest::Response) -> Page {
        let page = Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        };
        self.remember(&page);
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    pub async fn post_from(
        &mut self,
        origin: Option<&str>,
        path: &str,
        form: &[(&str, &str)],
    ) -> Page {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form.iter()
                    .map(|(k, v)| {
                        format!(
                            "{}={}",
                            percent_encoding::utf8_percent_encode(
                                k,
                                percent_encoding::NON_ALPHANUMERIC
                            ),
                            percent_encoding::utf8_percent_encode(
                                v,
                                percent_encoding::NON_ALPHANUMERIC
                            )
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
            );
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        self.read(response).await
    }

    pub async fn post_pairs(
        &mut self,
        origin: Option<&str>,
        path: &str,
        form: &[(String, String)],
    ) -> Page {
        let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post_from(origin, path, &refs).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.base.clone();
        self.post_from(Some(&origin), path, form).await
    }

    /// Posts a form with the CSRF token of the page at `form_page`.
    pub async fn submit(&mut self, form_page: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    /// How many rows the list at `path` says it found.
    pub async fn total(&mut self, path: &str) -> i64 {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        let end = page.text.find(" found").expect("a list total");
        let start = page.text[..end].rfind('>').unwrap() + 1;
        page.text[start..end].parse().unwrap()
    }

    pub async fn login(&mut self, username: &str, password: &str) -> Page {
        let csrf = self.get("/admin/login/").await.csrf();
        self.post(
            "/admin/login/",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
                ("next", "/admin/issues/"),
            ],
        )
        .await
    }
}
