//! One module per section of the admin.

pub mod account;
pub mod dashboard;
pub mod events;
pub mod incoming;
pub mod issues;
pub mod labels;
pub mod notifications;
pub mod users;
pub mod webhooks;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use issue_tracker_web::AppState;

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
    without_nul(form)
}

/// The pairs of a form or query string, unless one holds a NUL character: PostgreSQL can neither
/// store nor compare one, so every box refuses it up front (400) on both databases alike.
pub fn without_nul(pairs: FormData) -> Result<FormData, AdminError> {
    if pairs
        .0
        .iter()
        .any(|(key, value)| key.contains('\0') || value.contains('\0'))
    {
        return Err(AdminError::BadRequest(
            issue_tracker_domain::messages::NULL_CHARACTERS,
        ));
    }
    Ok(pairs)
}

/// A page view by staff: who, what the query string asks, the shared state.
pub struct View {
    /// Who.
    pub staff: Staff,
    /// The query string's pairs.
    pub query: FormData,
    /// The shared state.
    pub state: web::Data<AppState>,
}

impl FromRequest for View {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<View, AdminError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let staff = Staff::from_request(req, payload);
        let query = Query::from_query(req.query_string());
        let state = crate::session::state(req);
        Box::pin(async move {
            let staff = staff.await?;
            let query = query.map_err(|_| AdminError::BadRequest(MALFORMED_QUERY))?;
            Ok(View {
                staff,
                query: without_nul(FormData(query.into_inner()))?,
                state: state?,
            })
        })
    }
}

impl View {
    /// Its parts: staff, query, state.
    pub fn parts(self) -> (Staff, FormData, web::Data<AppState>) {
        (self.staff, self.query, self.state)
    }
}

const MALFORMED_QUERY: &str = "The address's query string is malformed.";

/// A form posted by staff, past the CSRF checks, with what every change needs.
pub struct Post {
    /// Who.
    pub staff: Staff,
    /// The fields.
    pub form: FormData,
    /// The list to return to: the form's `back` (only ever an admin path), or the section's list.
    pub back: String,
    /// The shared state.
    pub state: web::Data<AppState>,
    /// Where the change comes from, for its event.
    pub origin: issue_tracker_domain::Origin,
}

impl Post {
    /// Its parts: staff, form, back, state, origin.
    pub fn parts(
        self,
    ) -> (
        Staff,
        FormData,
        String,
        web::Data<AppState>,
        issue_tracker_domain::Origin,
    ) {
        (self.staff, self.form, self.back, self.state, self.origin)
    }
}

impl FromRequest for Post {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<Post, AdminError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let staff = Staff::from_request(&req, payload);
        let form = Form::from_request(&req, payload);
        Box::pin(async move {
            let staff = staff.await?;
            let form = form
                .await
                .map_err(|_| AdminError::BadRequest("The form could not be read."))?;
            let form = checked_form(&req, &staff, form)?;
            // The section's list: `/admin/issues/` for anything under it.
            let section = req.path().split('/').take(3).collect::<Vec<_>>().join("/") + "/";
            Ok(Post {
                back: crate::views::back_or(form.get("back"), &section),
                form,
                state: crate::session::state(&req)?,
                origin: staff.origin(),
                staff,
            })
        })
    }
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
