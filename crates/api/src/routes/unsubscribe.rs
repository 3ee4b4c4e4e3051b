//! `/unsubscribe/<token>/`: the one-click unsubscribe links (RFC 8058) of the reports and of the
//! emails about watched issues. A `POST` (what mail providers send, with no login) turns that
//! user's report off, or stops them watching that issue; a `GET` only shows a page with a
//! button, because link scanners follow every `GET`.

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use issue_tracker_domain::{
    verify_unsubscribe, Actor, Origin, Unsubscribe, UnsubscribeRefused, Via,
};
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
            "This unsubscribe link has expired: use the one in a recent email, or change your \
             notification settings."
        }
    };
    page(
        actix_web::http::StatusCode::BAD_REQUEST,
        "Unsubscribe",
        &format!("<p>{why} Nothing was changed.</p>"),
    )
}

/// What a token stops (no link is good without `SECRET_KEY`).
fn check(state: &AppState, token: &str) -> Result<Unsubscribe, UnsubscribeRefused> {
    let secret = state.settings.secret_key.expose();
    if secret.is_empty() {
        return Err(UnsubscribeRefused::Invalid);
    }
    let now = chrono::Utc::now().timestamp();
    verify_unsubscribe(secret.as_bytes(), token, now)
}

/// `GET /unsubscribe/<token>/`: a page with one button; changes nothing.
pub async fn confirm_page(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let question = match check(&state, &token) {
        Err(reason) => return Ok(refused(reason)),
        Ok(Unsubscribe::Report(_)) => {
            "<p>Stop the consolidated report of your assigned issues? The email sent when an \
             issue is assigned to you is not affected.</p>"
                .to_owned()
        }
        Ok(Unsubscribe::Issue(_, issue)) => format!(
            "<p>Stop watching issue #{issue}? You will still hear of it when someone mentions \
             you, and you can watch it again (<code>PUT /api/issue/{issue}/subscription/</code>).</p>"
        ),
    };
    Ok(page(
        actix_web::http::StatusCode::OK,
        "Unsubscribe",
        &format!(
            "{question}\n<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" \
             value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form>"
        ),
    ))
}

/// `POST /unsubscribe/<token>/`: turns the report off for the token's user, or stops them
/// watching the token's issue, and nothing else.
pub async fn unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let what = match check(&state, &token) {
        Ok(what) => what,
        Err(reason) => return Ok(refused(reason)),
    };
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    let changed = state
        .run(move |db| {
            let Some(found) = db.find_user_by_id(what.user())? else {
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
            match what {
                Unsubscribe::Report(_) => {
                    let changes = PreferenceChanges {
                        report: Some(false),
                        ..PreferenceChanges::default()
                    };
                    Ok(db
                        .set_notification_preferences(found.id, changes, &origin)?
                        .map(|_| {
                            "<p>You will not get the consolidated report any more. You can turn \
                             it back on in your notification settings \
                             (<code>PATCH /api/user/me/notifications/</code>).</p>"
                                .to_owned()
                        }))
                }
                // A deleted issue has nobody watching it: the link has done its work already.
                Unsubscribe::Issue(_, issue) => {
                    Ok(db.set_subscription(issue, &found, false)?.map(|_| {
                        format!(
                            "<p>You stopped watching issue #{issue}. You can watch it again \
                             (<code>PUT /api/issue/{issue}/subscription/</code>).</p>"
                        )
                    }))
                }
            }
        })
        .await?;
    match changed {
        Some(done) => Ok(page(actix_web::http::StatusCode::OK, "Unsubscribed", &done)),
        None => Ok(refused(UnsubscribeRefused::Invalid)),
    }
}
