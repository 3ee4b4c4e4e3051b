//! One module per section of the admin.

pub mod account;
pub mod dashboard;
pub mod events;
pub mod issues;
pub mod notifications;
pub mod users;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::AdminError;
use crate::session::{check_csrf, Staff};
use crate::views::FormData;

/// A submitted form.
pub type Form = web::Form<Vec<(String, String)>>;
/// A query string.
pub type Query = web::Query<Vec<(String, String)>>;

/// A form of a logged-in staff user, once it passed the CSRF checks.
pub fn checked_form(req: &HttpRequest, staff: &Staff, form: Form) -> Result<FormData, AdminError> {
    let form = FormData(form.into_inner());
    check_csrf(req, &staff.csrf_token, &form)?;
    Ok(form)
}

/// A checked form with what every change needs: where to go back, the state, the origin.
pub struct Submitted {
    /// The fields.
    pub form: FormData,
    /// The list to return to (only ever an admin path).
    pub back: String,
    /// The shared state.
    pub state: web::Data<issue_tracker_api::AppState>,
    /// Where the change comes from, for its event.
    pub origin: issue_tracker_domain::Origin,
}

/// Checks a form (CSRF) and gathers what a change needs; `list` is where to go back by default.
pub fn submitted(
    req: &HttpRequest,
    staff: &Staff,
    form: Form,
    list: &str,
) -> Result<Submitted, AdminError> {
    let form = checked_form(req, staff, form)?;
    Ok(Submitted {
        back: crate::views::back_or(form.get("back"), list),
        form,
        state: crate::session::state(req)?,
        origin: staff.origin(),
    })
}

/// Any unknown admin path.
pub async fn not_found(staff: Option<Staff>) -> Result<HttpResponse, AdminError> {
    // Anonymous visitors learn nothing of what exists: they go to the login page.
    match staff {
        Some(_) => Err(AdminError::NotFound),
        None => Err(AdminError::LoginRequired("/admin/login/".into())),
    }
}

/// The id in a path, or 404.
pub fn path_id(id: &str) -> Result<i64, AdminError> {
    issue_tracker_domain::IssueId::parse(id)
        .map(|id| id.get())
        .ok_or(AdminError::NotFound)
}
