//! `/unsubscribe/<token>/`: the reports' one-click unsubscribe link (RFC 8058). A `POST` (what
//! mail providers send, with no login) turns that user's report off; a `GET` only shows a page
//! with a button, because link scanners follow every `GET`.

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use issue_tracker_domain::{verify_unsubscribe_token, Actor, Origin, UnsubscribeRefused, Via};
use issue_tracker_persistence::PreferenceChanges;

use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::state::AppState;

fn page(status: actix_web::http::StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; form-action 'self'",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n{body}\n\
             </main>\n</body>\n</html>\n"
        ))
}

fn refused(reason: UnsubscribeRefused) -> HttpResponse {
    let why = match reason {
        UnsubscribeRefused::Invalid => "This unsubscribe link is not valid.",
        UnsubscribeRefused::Expired => {
            "This unsubscribe link has expired: use the one in a recent report, or turn the \
             report off in your notification settings."
        }
    };
    page(
        actix_web::http::StatusCode::BAD_REQUEST,
        "Unsubscribe",
        &format!("<p>{why} Nothing was changed.</p>"),
    )
}

/// The user a token names (no link is good without `SECRET_KEY`).
fn check(
    state: &AppState,
    token: &str,
) -> Result<issue_tracker_domain::UserId, UnsubscribeRefused> {
    let secret = state.settings.secret_key.expose();
    if secret.is_empty() {
        return Err(UnsubscribeRefused::Invalid);
    }
    let now = chrono::Utc::now().timestamp();
    verify_unsubscribe_token(secret.as_bytes(), token, now)
}

/// `GET /unsubscribe/<token>/`: a page with one button; changes nothing.
pub async fn confirm_page(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if let Err(reason) = check(&state, &token) {
        return Ok(refused(reason));
    }
    Ok(page(
        actix_web::http::StatusCode::OK,
        "Unsubscribe",
        "<p>Stop the consolidated report of your assigned issues? The email sent when an issue \
         is assigned to you is not affected.</p>\n\
         <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" \
         value=\"One-Click\"><button type=\"submit\">Unsubscribe from the report</button></form>",
    ))
}

/// `POST /unsubscribe/<token>/`: turns the report off for the token's user, and nothing else.
pub async fn unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = match check(&state, &token) {
        Ok(user) => user,
        Err(reason) => return Ok(refused(reason)),
    };
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    let changed = state
        .run(move |db| {
            let Some(found) = db.find_user_by_id(user)? else {
                return Ok(None);
            };
            let origin = Origin {
                actor: Some(Actor {
                    id: found.id,
                    username: found.username.clone(),
                }),
                via: Via::Api,
                request_id,
            };
            let changes = PreferenceChanges {
                assignment: None,
                report: Some(false),
            };
            Ok(db.set_notification_preferences(found.id, changes, &origin)?)
        })
        .await?;
    match changed {
        Some(_) => Ok(page(
            actix_web::http::StatusCode::OK,
            "Unsubscribed",
            "<p>You will not get the consolidated report any more. You can turn it back on in \
             your notification settings (<code>PATCH /api/user/me/notifications/</code>).</p>",
        )),
        None => Ok(refused(UnsubscribeRefused::Invalid)),
    }
}
