//! Logging in and out, and changing one's own password.

use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use issue_tracker_domain::{hash_token, Password, PasswordCheck, PASSWORD_MAX_BYTES};
use issue_tracker_web::password_gate::upgrade_of;

use super::{checked_form, Form, Query};
use crate::error::AdminError;
use crate::session::{
    self, check_csrf, cookie, is_staff, random_secret, removal, see_other, Staff,
    LOGIN_CSRF_COOKIE, SESSION_COOKIE,
};
use crate::views::{back_or, invalid, ok, Field, FieldKind, FormData, FormPage};

/// The answer to any failed login, whoever it was (unknown, wrong password, inactive, not staff):
/// nothing tells an attacker which.
pub const INVALID_LOGIN: &str = "Please enter the correct username and password for a staff account. Note that both fields may be case-sensitive.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    username: String,
    error: String,
}

/// Renders the login form with a fresh CSRF cookie.
fn login_page(
    req: &HttpRequest,
    mut response: actix_web::HttpResponseBuilder,
    next: String,
    username: String,
    error: String,
) -> Result<HttpResponse, AdminError> {
    let settings = session::settings(req)?;
    let csrf = random_secret();
    response.cookie(cookie(&settings, LOGIN_CSRF_COOKIE, csrf.clone()));
    Ok(crate::views::html(
        &mut response,
        &LoginPage {
            csrf,
            next,
            username,
            error,
        },
    ))
}

/// `GET /admin/login/`.
pub async fn login_form(
    req: HttpRequest,
    staff: Option<Staff>,
    query: Query,
) -> Result<HttpResponse, AdminError> {
    let query = FormData(query.into_inner());
    let next = back_or(query.get("next"), "/admin/");
    if staff.is_some() {
        return Ok(see_other(&next));
    }
    login_page(&req, HttpResponse::Ok(), next, String::new(), String::new())
}

/// The login form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
struct LoginForm {
    username: String,
    password: String,
    /// Where to go once in.
    next: Option<String>,
}

/// `POST /admin/login/`: only active staff get in; a new session (and session id) at each login.
pub async fn login(req: HttpRequest, form: Form) -> Result<HttpResponse, AdminError> {
    let form = FormData(form.into_inner());
    let expected = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if expected.is_empty() {
        return Err(AdminError::Csrf(
            "Cookies are needed to log in: allow them for this site and reload the page.",
        ));
    }
    check_csrf(&req, &expected, &form)?;
    let form: LoginForm = super::without_nul(form)?.to()?;
    let next = back_or(form.next.as_deref(), "/admin/");
    let (username, password) = (form.username, form.password);
    if username.is_empty() || password.is_empty() {
        return login_page(
            &req,
            HttpResponse::BadRequest(),
            next,
            username,
            INVALID_LOGIN.into(),
        );
    }
    let state = session::state(&req)?;
    let settings = session::settings(&req)?;
    let address = issue_tracker_web::client::client_address(
        req.headers(),
        req.peer_addr(),
        &state.settings.http,
    );
    // The API's throttle: failed logins count the same wherever they are tried.
    state
        .login_throttle
        .reserve(&address, &username)
        .await
        .map_err(AdminError::Throttled)?;
    let dummy_hash = state.dummy_hash.clone();
    let gate = state.password_gate.clone();
    let lifetime = settings.session_lifetime;
    let cost = state.settings.accounts.bcrypt_cost;
    let name = username.clone();
    let key = state
        .run(move |db| {
            if password.len() > PASSWORD_MAX_BYTES {
                return Ok(None);
            }
            let found = db.find_credentials(&name)?;
            let hash = found
                .as_ref()
                .map_or(&*dummy_hash, |c| c.password_hash.as_str());
            let check = gate.check(hash, &password);
            match found {
                Some(found)
                    if check != PasswordCheck::Wrong
                        && found.user.is_active
                        && is_staff(&found.user) =>
                {
                    let upgrade = upgrade_of(check, &found.password_hash, &password, cost)?;
                    let key = random_secret();
                    db.create_admin_session(
                        &found.user,
                        &hash_token(&key),
                        &random_secret(),
                        lifetime,
                        upgrade.as_ref(),
                    )?;
                    Ok(Some(key))
                }
                _ => Ok(None),
            }
        })
        .await?;
    match key {
        Some(key) => {
            // A success is not a failure: give the reserved slot back.
            state.login_throttle.release(&address, &username).await;
            Ok(HttpResponse::SeeOther()
                .cookie(cookie(&settings, SESSION_COOKIE, key))
                .cookie(removal(&settings, LOGIN_CSRF_COOKIE))
                .insert_header(("location", next))
                .finish())
        }
        None => login_page(
            &req,
            HttpResponse::BadRequest(),
            next,
            username,
            INVALID_LOGIN.into(),
        ),
    }
}

/// `POST /admin/logout/`: ends this session.
pub async fn logout(
    req: HttpRequest,
    staff: Staff,
    form: Form,
) -> Result<HttpResponse, AdminError> {
    checked_form(&req, &staff, form)?;
    let state = session::state(&req)?;
    let settings = session::settings(&req)?;
    let id = staff.session_id;
    state
        .run(move |db| Ok(db.delete_admin_session(id)?))
        .await?;
    Ok(HttpResponse::SeeOther()
        .cookie(removal(&settings, SESSION_COOKIE))
        .insert_header(("location", "/admin/login/"))
        .finish())
}

/// The form to set a password: twice the new one, and for one's own, the old one first.
pub fn password_fields(own: bool) -> Vec<Field> {
    let mut fields = Vec::new();
    if own {
        fields.push(Field::text("old_password", "Old password", "").kind(FieldKind::Password));
    }
    fields.push(
        Field::text("new_password1", "New password", "")
            .kind(FieldKind::Password)
            .help("At most 72 bytes; no other rule."),
    );
    fields.push(Field::text("new_password2", "New password again", "").kind(FieldKind::Password));
    fields
}

/// Checks the two new-password fields; the errors by field.
/// A password form: the new password, typed twice.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    /// The current password (the own-password form asks for it).
    old_password: String,
    new_password1: String,
    new_password2: String,
}

impl PasswordForm {
    /// The new password, checked (see [`checked_new_password`]).
    pub fn password(&self) -> Result<Password, Vec<(String, String)>> {
        checked_new_password(&self.new_password1, &self.new_password2)
    }
}

/// A new password typed twice (`new_password1`, `new_password2`): both given, the same, and
/// valid; otherwise the errors keyed by field.
pub fn checked_new_password(first: &str, second: &str) -> Result<Password, Vec<(String, String)>> {
    let mut errors = Vec::new();
    if first.is_empty() {
        errors.push(("new_password1".into(), "This field is required.".into()));
    }
    if second.is_empty() {
        errors.push(("new_password2".into(), "This field is required.".into()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if first != second {
        return Err(vec![(
            "new_password2".into(),
            "The two password fields didn’t match.".into(),
        )]);
    }
    Password::parse(first).map_err(|e| vec![("new_password1".into(), e.to_string())])
}

fn own_password_page(staff: &Staff, errors: &[(String, String)]) -> FormPage {
    FormPage {
        submit: "Change my password",
        ..FormPage::new(
            staff,
            "password",
            "Change your password".into(),
            "/admin/password/".into(),
            password_fields(true),
            errors,
            "/admin/".into(),
        )
    }
}

/// `GET /admin/password/`.
pub async fn password_form(staff: Staff) -> HttpResponse {
    ok(&own_password_page(&staff, &[]))
}

/// `POST /admin/password/`: checks the old password, sets the new one (which ends every session
/// and token of the user), and opens a new session for this browser.
pub async fn change_password(
    req: HttpRequest,
    staff: Staff,
    form: Form,
) -> Result<HttpResponse, AdminError> {
    let form: PasswordForm = checked_form(&req, &staff, form)?.to()?;
    let password = match form.password() {
        Ok(password) => password,
        Err(errors) => return Ok(invalid(&own_password_page(&staff, &errors))),
    };
    let state = session::state(&req)?;
    let settings = session::settings(&req)?;
    let cost = state.settings.accounts.bcrypt_cost;
    let gate = state.password_gate.clone();
    let old = form.old_password.clone();
    let (user, origin, lifetime) = (
        staff.user.clone(),
        staff.origin(),
        settings.session_lifetime,
    );
    let key = state
        .run(move |db| {
            let found = db.find_credentials(&user.username)?;
            let right = found.is_some_and(|c| {
                old.len() <= PASSWORD_MAX_BYTES
                    && gate.check(&c.password_hash, &old) != PasswordCheck::Wrong
            });
            if !right {
                return Ok(None);
            }
            let hash = bcrypt::hash(password.expose(), cost)
                .map_err(|e| issue_tracker_web::ApiError::Internal(e.to_string()))?;
            db.set_password_hash(&user.username, &hash, &origin)?;
            let key = random_secret();
            db.create_admin_session(&user, &hash_token(&key), &random_secret(), lifetime, None)?;
            Ok(Some(key))
        })
        .await?;
    match key {
        Some(key) => Ok(HttpResponse::SeeOther()
            .cookie(cookie(&settings, SESSION_COOKIE, key))
            .insert_header(("location", "/admin/?notice=password"))
            .finish()),
        None => Ok(invalid(&own_password_page(
            &staff,
            &[(
                "old_password".into(),
                "Your old password was entered incorrectly. Please enter it again.".into(),
            )],
        ))),
    }
}
