//! Who is logged in: a random key in an `HttpOnly` cookie, its SHA-256 in the database (so every
//! server shares sessions, and a copy of the database opens none). And the CSRF defences every
//! form passes: a per-session token and an `Origin` check.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderName};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use issue_tracker_config::AdminSettings;
use issue_tracker_domain::{hash_token, Actor, NewToken, Origin, User, Via};
use issue_tracker_web::AppState;

use crate::error::AdminError;

/// The session cookie.
pub const SESSION_COOKIE: &str = "admin_session";
/// The login form's CSRF cookie (there is no session yet to hold the token).
pub const LOGIN_CSRF_COOKIE: &str = "admin_login_csrf";

/// A logged-in, active staff user, and their session's CSRF token.
#[derive(Debug, Clone)]
pub struct Staff {
    /// The user.
    pub user: User,
    /// The session's row id.
    pub session_id: issue_tracker_domain::SessionId,
    /// What every form of this session must carry.
    pub csrf_token: String,
    /// The request's id.
    pub request_id: Option<String>,
}

impl Staff {
    /// Where this user's changes come from, for the history.
    pub fn origin(&self) -> Origin {
        Origin {
            actor: Some(Actor {
                id: self.user.id,
                username: self.user.username.clone(),
            }),
            via: Via::Admin,
            request_id: self.request_id.clone(),
        }
    }
}

impl FromRequest for Staff {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Staff, AdminError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let login = AdminError::LoginRequired(login_url(&req));
            let Some(key) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
                return Err(login);
            };
            let state = state(&req)?;
            let idle = settings(&req)?.session_idle;
            let found = state
                .run(move |db| Ok(db.admin_session(&hash_token(&key), idle)?))
                .await?;
            // Only active staff stay in: a user deactivated or demoted mid-session is out at once.
            match found {
                Some(session) if session.user.is_active && is_staff(&session.user) => Ok(Staff {
                    user: session.user,
                    session_id: session.id,
                    csrf_token: session.csrf_token,
                    request_id: req
                        .extensions()
                        .get::<issue_tracker_web::middleware::RequestId>()
                        .map(|id| id.0.clone()),
                }),
                Some(session) => {
                    // Ended for good: giving the staff status back later opens no old session.
                    let id = session.id;
                    state
                        .run(move |db| Ok(db.delete_admin_session(id)?))
                        .await?;
                    Err(login)
                }
                None => Err(login),
            }
        })
    }
}

/// Staff or superuser.
pub fn is_staff(user: &User) -> bool {
    user.has_staff_rights()
}

/// The login page, coming back here afterwards.
fn login_url(req: &HttpRequest) -> String {
    let here = match req.query_string() {
        "" => req.path().to_owned(),
        query => format!("{}?{query}", req.path()),
    };
    format!("/admin/login/?next={}", crate::views::encode(&here))
}

/// The shared state.
pub fn state(req: &HttpRequest) -> Result<web::Data<AppState>, AdminError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AdminError::Internal("AppState missing".into()))
}

/// The admin's settings.
pub fn settings(req: &HttpRequest) -> Result<web::Data<AdminSettings>, AdminError> {
    req.app_data::<web::Data<AdminSettings>>()
        .cloned()
        .ok_or_else(|| AdminError::Internal("AdminSettings missing".into()))
}

/// A cookie as the admin sets them: `HttpOnly`, `SameSite=Lax`, `Secure` over HTTPS.
pub fn cookie(settings: &AdminSettings, name: &'static str, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, value)
        .path("/admin/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.secure_cookies)
        .finish();
    cookie.set_max_age(actix_web::cookie::time::Duration::seconds(
        settings.session_lifetime.as_secs().min(i64::MAX as u64) as i64,
    ));
    cookie
}

/// A cookie that removes `name`.
pub fn removal(settings: &AdminSettings, name: &'static str) -> Cookie<'static> {
    let mut cookie = cookie(settings, name, String::new());
    cookie.make_removal();
    cookie
}

/// A new random secret (160 bits, hex).
pub fn random_secret() -> String {
    NewToken::generate().key
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The CSRF checks of a form: the request comes from this site (`Origin`, or `Referer` when a
/// browser sends no `Origin`), the browser does not declare it cross-site (`Sec-Fetch-Site`), and
/// it carries the expected token. Anything else: 403.
pub fn check_csrf(
    req: &HttpRequest,
    expected: &str,
    form: &crate::views::FormData,
) -> Result<(), AdminError> {
    let state = state(req)?;
    let own = issue_tracker_web::client::public_base(req, &state.settings.http);
    let same_origin = |value: &str| value == own || value.starts_with(&format!("{own}/"));
    let header_text = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let from_here = match (header_text(header::ORIGIN), header_text(header::REFERER)) {
        (Some(origin), _) => same_origin(&origin),
        (None, Some(referer)) => same_origin(&referer),
        // No browser sends neither on a form POST; other clients have no cookie to abuse.
        (None, None) => true,
    };
    // What the browser itself says of the request (Fetch Metadata): a form sent from another
    // site is refused whatever else it carries. `same-origin` and `none` (typed or bookmarked)
    // pass, and so does `same-site`, which the `Origin` check above already judges.
    let cross_site = header_text(HeaderName::from_static("sec-fetch-site"))
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"));
    if !from_here || cross_site {
        return Err(AdminError::Csrf("The request did not come from this site."));
    }
    match form.get("csrf") {
        Some(token) if same_secret(token, expected) => Ok(()),
        _ => Err(AdminError::Csrf(
            "The form's security token is missing or stale: reload the page and try again.",
        )),
    }
}

/// A redirect after a successful POST (303: the browser follows with a GET).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}
