//! The pieces every page is made of: the frame (navigation, logout), forms with their fields and
//! errors, lists with search, filters, sortable columns and pages, confirmation steps. One template
//! renders each kind, so that every form and list behaves (and is accessible) the same way.

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::session::Staff;

mod event;
mod form;
mod list;

pub use event::{EventView, Link};
pub use form::{attach_errors, error_pairs, ConfirmPage, Field, FieldKind, FormPage};
pub use list::{
    column, paged, paged_in_memory, plain_column, Cell, Column, Filter, ListPage, Pager, Row,
    PER_PAGE,
};

/// What stays literal in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a query value.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, QUERY_VALUE).to_string()
}

/// Renders `page` as the response's HTML body: never cached, and a content security policy that
/// lets the page load nothing but this site's own stylesheet.
pub fn html<T: Template>(response: &mut HttpResponseBuilder, page: &T) -> HttpResponse {
    match page.render() {
        Ok(body) => response
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            // Browsers send this page's forms with their true `Origin`, which the CSRF check
            // reads; nothing leaves the site with a referrer.
            .insert_header((header::REFERRER_POLICY, "same-origin"))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ))
            .body(body),
        Err(error) => {
            tracing::error!(%error, "an admin template failed to render");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// A 200 page.
pub fn ok<T: Template>(page: &T) -> HttpResponse {
    html(&mut HttpResponse::Ok(), page)
}

/// A page whose form failed validation: 400, the form shown again with its errors.
pub fn invalid<T: Template>(page: &T) -> HttpResponse {
    html(&mut HttpResponse::BadRequest(), page)
}

/// The fields of a submitted form (or a query string), in order.
#[derive(Debug, Clone, Default)]
pub struct FormData(pub Vec<(String, String)>);

/// A checkbox of a typed form: ticked when the browser sent it (whatever its value), not
/// ticked when it left it out (`#[serde(default)]` gives `false`).
pub fn ticked<'de, D: serde::Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    <String as serde::Deserialize>::deserialize(value).map(|_| true)
}

impl FormData {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The form as a typed struct (`#[serde(default)]` for fields a form may leave out): the
    /// first value of each name, as text; a checkbox field reads with [`ticked`].
    pub fn to<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::error::AdminError> {
        let mut fields = serde_json::Map::new();
        for (name, value) in &self.0 {
            if !fields.contains_key(name) {
                fields.insert(name.clone(), serde_json::Value::String(value.clone()));
            }
        }
        serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|_| crate::error::AdminError::BadRequest("the form could not be read"))
    }

    /// The first value of `name`, or "".
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    /// Every value of `name` (checkboxes of a list).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// Whether the checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A query string of these pairs, without `without`.
    pub fn query_without(&self, without: &[&str]) -> String {
        self.0
            .iter()
            .filter(|(key, value)| !without.contains(&key.as_str()) && !value.is_empty())
            .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Where to go back to after an edit: a list with its filters, only ever a path of the admin
/// itself (never an open redirect), and one that fits a `Location` header: a control character
/// refuses it (the default is used), and letters beyond ASCII are percent-encoded.
pub fn back_or(back: Option<&str>, default: &str) -> String {
    match back {
        Some(path)
            if path.starts_with("/admin/")
                && !path.starts_with("/admin//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            percent_encoding::utf8_percent_encode(path, BEYOND_VISIBLE_ASCII).to_string()
        }
        _ => default.to_owned(),
    }
}

/// What a `Location` header cannot carry as it is: spaces and bytes beyond ASCII (control
/// characters never get this far).
const BEYOND_VISIBLE_ASCII: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b' ');

/// The frame around every page.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// Who is logged in.
    pub username: String,
    /// The CSRF token for the logout button (and every form).
    pub csrf: String,
    /// The section of the navigation to mark as current.
    pub section: &'static str,
}

impl Chrome {
    /// The frame for `staff` in `section`.
    pub fn new(staff: &Staff, section: &'static str) -> Chrome {
        Chrome {
            username: staff.user.username.clone(),
            csrf: staff.csrf_token.clone(),
            section,
        }
    }

    /// Whether `section` is the current one.
    pub fn is_current(&self, section: &str) -> bool {
        self.section == section
    }

    /// The navigation: (section, label, path).
    pub fn sections(&self) -> [(&'static str, &'static str, &'static str); 8] {
        [
            ("dashboard", "Dashboard", "/admin/"),
            ("issues", "Issues", "/admin/issues/"),
            ("labels", "Labels", "/admin/labels/"),
            ("webhooks", "Webhooks", "/admin/webhooks/"),
            ("users", "Users", "/admin/users/"),
            ("notifications", "Notifications", "/admin/notifications/"),
            ("incoming", "Received email", "/admin/incoming/"),
            ("events", "Audit log", "/admin/events/"),
        ]
    }
}

/// The fixed notices a redirect may ask for (never text from the URL).
pub fn notice(query: &FormData) -> String {
    match query.get("notice") {
        Some("saved") => "The change was saved.",
        Some("added") => "Added.",
        Some("deleted") => "Deleted.",
        Some("closed") => "The selected issues were closed.",
        Some("retried") => "The selected notifications will be sent again.",
        Some("redelivered") => {
            "The selected deliveries will be sent again, with the same webhook-id."
        }
        Some("pinged") => "A ping was queued; it shows in the log below.",
        Some("password") => "The password was changed; the user's tokens and sessions were ended.",
        Some("revoked") => "The user's tokens were revoked.",
        Some("none") => "No rows were selected; nothing changed.",
        Some("reports") => "This period's reports were created (a report is never sent twice).",
        _ => "",
    }
    .to_owned()
}

/// A path with `notice=<word>` added to its query.
pub fn with_notice(path: &str, word: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}notice={word}")
}
