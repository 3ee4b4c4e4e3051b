//! The pieces every page is made of: the frame (navigation, logout), forms with their fields and
//! errors, lists with search, filters, sortable columns and pages, confirmation steps. One template
//! renders each kind, so that every form and list behaves (and is accessible) the same way.

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::session::Staff;

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

impl FormData {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
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
    pub fn sections(&self) -> [(&'static str, &'static str, &'static str); 7] {
        [
            ("dashboard", "Dashboard", "/admin/"),
            ("issues", "Issues", "/admin/issues/"),
            ("labels", "Labels", "/admin/labels/"),
            ("webhooks", "Webhooks", "/admin/webhooks/"),
            ("users", "Users", "/admin/users/"),
            ("notifications", "Notifications", "/admin/notifications/"),
            ("events", "Audit log", "/admin/events/"),
        ]
    }
}

/// How a form field is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// Several lines.
    TextArea,
    /// A password (never shown again).
    Password,
    /// A checkbox.
    Checkbox,
    /// One of fixed choices: (value, label).
    Select(Vec<(String, String)>),
}

/// One field of a form, with what was typed and its errors.
#[derive(Debug, Clone)]
pub struct Field {
    /// The form name (and the id of its input).
    pub name: &'static str,
    /// The label.
    pub label: &'static str,
    /// How it is shown.
    pub kind: FieldKind,
    /// What it holds (as typed, when the form comes back with errors).
    pub value: String,
    /// Whether a checkbox is ticked.
    pub checked: bool,
    /// The errors, in the API's words.
    pub errors: Vec<String>,
    /// A hint under the field.
    pub help: &'static str,
    /// Must be filled.
    pub required: bool,
}

impl Field {
    /// A text field.
    pub fn text(name: &'static str, label: &'static str, value: impl Into<String>) -> Field {
        Field {
            name,
            label,
            kind: FieldKind::Text,
            value: value.into(),
            checked: false,
            errors: Vec::new(),
            help: "",
            required: true,
        }
    }

    /// The same field, shown as `kind`.
    pub fn kind(mut self, kind: FieldKind) -> Field {
        self.kind = kind;
        self
    }

    /// The same field, optional.
    pub fn optional(mut self) -> Field {
        self.required = false;
        self
    }

    /// The same field, with a hint.
    pub fn help(mut self, help: &'static str) -> Field {
        self.help = help;
        self
    }

    /// A checkbox.
    pub fn checkbox(name: &'static str, label: &'static str, checked: bool) -> Field {
        Field {
            checked,
            required: false,
            ..Field::text(name, label, "").kind(FieldKind::Checkbox)
        }
    }

    /// The id of the element holding its errors (for `aria-describedby`).
    pub fn error_id(&self) -> String {
        format!("{}-errors", self.name)
    }

    /// Whether `value` is the selected choice.
    pub fn selected(&self, value: &str) -> bool {
        self.value == value
    }
}

/// Errors by field name: puts each message next to its field.
pub fn attach_errors(fields: &mut [Field], errors: &[(String, String)]) -> Vec<String> {
    let mut rest = Vec::new();
    for (name, message) in errors {
        match fields.iter_mut().find(|f| f.name == name) {
            Some(field) => field.errors.push(message.clone()),
            None => rest.push(message.clone()),
        }
    }
    rest
}

/// A link shown with a page.
#[derive(Debug, Clone)]
pub struct Link {
    /// Its text.
    pub label: String,
    /// Where it goes.
    pub href: String,
}

/// A history event as the admin shows it.
#[derive(Debug, Clone)]
pub struct EventView {
    /// Its id.
    pub id: i64,
    /// When (UTC).
    pub at: String,
    /// Its type.
    pub event_type: &'static str,
    /// Who (or "system").
    pub actor: String,
    /// Through which door.
    pub via: &'static str,
    /// What it concerns.
    pub subject: String,
    /// A link to the subject, when it still exists.
    pub subject_href: String,
    /// The changes, one line each.
    pub changes: Vec<String>,
}

impl From<&issue_tracker_domain::Event> for EventView {
    fn from(event: &issue_tracker_domain::Event) -> Self {
        let (subject, subject_href) = match (&event.issue, &event.user) {
            (Some(issue), _) => (format!("issue {issue}"), format!("/admin/issues/{issue}/")),
            (None, Some(user)) => (
                format!("user {}", user.username),
                format!("/admin/users/{}/", user.id.get()),
            ),
            _ => (String::new(), String::new()),
        };
        let show = |value: &serde_json::Value| match value {
            serde_json::Value::Null => "—".to_owned(),
            serde_json::Value::String(text) => text.chars().take(80).collect(),
            other => other.to_string(),
        };
        EventView {
            id: event.id,
            at: event.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            event_type: event.event_type.as_str(),
            actor: event
                .actor
                .as_ref()
                .map_or_else(|| "system".to_owned(), |a| a.username.clone()),
            via: event.via.as_str(),
            subject,
            subject_href,
            changes: event
                .changes
                .iter()
                .map(|c| format!("{}: {} → {}", c.field, show(&c.old), show(&c.new)))
                .collect(),
        }
    }
}

/// A form page: add or change something.
#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    /// The frame.
    pub chrome: Chrome,
    /// The heading.
    pub title: String,
    /// Where the form posts.
    pub action: String,
    /// The fields.
    pub fields: Vec<Field>,
    /// Errors that belong to no field.
    pub form_errors: Vec<String>,
    /// The submit button's text.
    pub submit: &'static str,
    /// The list to go back to.
    pub back: String,
    /// A message after a successful change.
    pub notice: String,
    /// Links to related actions (delete, set password...).
    pub links: Vec<Link>,
    /// Buttons of related POST actions: (label, action).
    pub actions: Vec<(String, String)>,
    /// The object's history, when it has one.
    pub history: Option<Vec<EventView>>,
}

impl FormPage {
    /// A form for `staff` in `section`, its errors put next to their fields; "Save", no notice,
    /// no links, no history (set those after).
    pub fn new(
        staff: &Staff,
        section: &'static str,
        title: String,
        action: String,
        mut fields: Vec<Field>,
        errors: &[(String, String)],
        back: String,
    ) -> FormPage {
        let form_errors = attach_errors(&mut fields, errors);
        FormPage {
            chrome: Chrome::new(staff, section),
            title,
            action,
            fields,
            form_errors,
            submit: "Save",
            back,
            notice: String::new(),
            links: Vec::new(),
            actions: Vec::new(),
            history: None,
        }
    }
}

/// A confirmation step before something that cannot be undone.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// The frame.
    pub chrome: Chrome,
    /// The heading.
    pub title: String,
    /// What will happen.
    pub question: String,
    /// The objects concerned, one line each.
    pub items: Vec<String>,
    /// Where the confirmation posts.
    pub action: String,
    /// Hidden fields carried to the confirmation: (name, value).
    pub hidden: Vec<(String, String)>,
    /// The confirm button's text.
    pub confirm: &'static str,
    /// Where "cancel" goes.
    pub cancel: String,
}

/// A list filter: a select of choices, or a text box when it has none.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The query parameter.
    pub name: &'static str,
    /// Its label.
    pub label: &'static str,
    /// (value, label); the first is "all". Empty: a text box.
    pub choices: Vec<(String, String)>,
    /// The chosen value.
    pub value: String,
}

impl Filter {
    /// A select of `choices`, the first meaning "all", set from `query`.
    pub fn select(
        name: &'static str,
        label: &'static str,
        choices: &[(&str, &str)],
        query: &FormData,
    ) -> Filter {
        Filter {
            name,
            label,
            choices: choices
                .iter()
                .map(|(value, label)| (value.to_string(), label.to_string()))
                .collect(),
            value: query.text(name),
        }
    }

    /// Whether `value` is the chosen one.
    pub fn is_chosen(&self, value: &str) -> bool {
        self.value == value
    }

    /// A text box, set from `query`.
    pub fn text(name: &'static str, label: &'static str, query: &FormData) -> Filter {
        Filter {
            name,
            label,
            choices: Vec::new(),
            value: query.text(name),
        }
    }
}

/// A column of a list.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its heading.
    pub label: &'static str,
    /// The link that sorts by it (empty: not sortable).
    pub sort_href: String,
    /// "ascending", "descending" or "none" (for `aria-sort`).
    pub sorted: &'static str,
}

/// One cell: text, and a link when it leads somewhere.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The text.
    pub text: String,
    /// Where it links (empty: no link).
    pub href: String,
}

impl Cell {
    /// A plain cell.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: String::new(),
        }
    }

    /// A cell that links to `href`.
    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: href.into(),
        }
    }
}

/// A row: the id its checkbox selects, and its cells.
#[derive(Debug, Clone)]
pub struct Row {
    /// The id a bulk action receives.
    pub id: String,
    /// Its cells.
    pub cells: Vec<Cell>,
}

/// A list page: search, filters, sortable columns, pages with the total, bulk actions.
#[derive(Template)]
#[template(path = "list.html")]
pub struct ListPage {
    /// The frame.
    pub chrome: Chrome,
    /// The heading.
    pub title: String,
    /// The path of the list.
    pub path: String,
    /// The search box's label (empty: no search).
    pub search_label: &'static str,
    /// What was searched.
    pub search: String,
    /// The filters.
    pub filters: Vec<Filter>,
    /// The current order, carried by the filter form.
    pub order: String,
    /// The columns.
    pub columns: Vec<Column>,
    /// The rows.
    pub rows: Vec<Row>,
    /// Where the list stands.
    pub pager: Pager,
    /// Bulk actions: (value, label); empty: no checkboxes.
    pub bulk_actions: Vec<(&'static str, &'static str)>,
    /// Buttons of actions on the whole list: (label, action).
    pub actions: Vec<(String, String)>,
    /// The link to add one (empty: none).
    pub add_href: String,
    /// A message after a successful change.
    pub notice: String,
    /// This list's query string, kept by edits so that the filters survive them.
    pub back: String,
}

/// Where a list stands: its total, this page, and the links around it.
#[derive(Debug, Clone)]
pub struct Pager {
    /// How many rows match, over all pages.
    pub total: i64,
    /// The page shown (from 1).
    pub page: i64,
    /// How many pages.
    pub pages: i64,
    /// The previous page (empty: none).
    pub previous_href: String,
    /// The next page (empty: none).
    pub next_href: String,
}

/// Rows per page of every admin list.
pub const PER_PAGE: i64 = 50;

/// One page of the list at `path`, as its `query` asks (`page`, clamped to the pages there
/// are): `count` gives the total, `load` the rows at (offset, limit).
pub fn paged<T, E>(
    path: &str,
    query: &FormData,
    count: impl FnOnce() -> Result<i64, E>,
    load: impl FnOnce(i64, i64) -> Result<Vec<T>, E>,
) -> Result<(Vec<T>, Pager), E> {
    let total = count()?;
    let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
    let page = query
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let rows = load((page - 1) * PER_PAGE, PER_PAGE)?;
    let base = query.query_without(&["page", "notice"]);
    let href = |to: i64| match base.as_str() {
        "" => format!("{path}?page={to}"),
        base => format!("{path}?{base}&page={to}"),
    };
    let pager = Pager {
        total,
        page,
        pages,
        previous_href: if page > 1 {
            href(page - 1)
        } else {
            String::new()
        },
        next_href: if page < pages {
            href(page + 1)
        } else {
            String::new()
        },
    };
    Ok((rows, pager))
}

/// [`paged`] over a list already in memory (labels, webhooks: a few dozen at most).
pub fn paged_in_memory<T>(path: &str, query: &FormData, all: Vec<T>) -> (Vec<T>, Pager) {
    let total = all.len() as i64;
    let result: Result<_, std::convert::Infallible> = paged(
        path,
        query,
        || Ok(total),
        |offset, limit| {
            Ok(all
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .collect())
        },
    );
    match result {
        Ok(page) => page,
        Err(never) => match never {},
    }
}

/// The API's field errors as (field, message) pairs, for [`attach_errors`].
pub fn error_pairs(errors: issue_tracker_domain::FieldErrors) -> Vec<(String, String)> {
    serde_json::to_value(errors)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(field, messages)| {
            messages
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |m| (field.clone(), m.as_str().unwrap_or_default().to_owned()))
        })
        .collect()
}

/// A sortable column: clicking sorts by `key`, clicking again reverses.
pub fn column(label: &'static str, key: &str, path: &str, query: &FormData) -> Column {
    let current = query.get("order").unwrap_or_default();
    let (sorted, next) = if current == key {
        ("ascending", format!("-{key}"))
    } else if current == format!("-{key}") {
        ("descending", key.to_owned())
    } else {
        ("none", key.to_owned())
    };
    let base = query.query_without(&["order", "page", "notice"]);
    let sort_href = if base.is_empty() {
        format!("{path}?order={}", encode(&next))
    } else {
        format!("{path}?{base}&order={}", encode(&next))
    };
    Column {
        label,
        sort_href,
        sorted,
    }
}

/// A column that does not sort.
pub fn plain_column(label: &'static str) -> Column {
    Column {
        label,
        sort_href: String::new(),
        sorted: "none",
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
