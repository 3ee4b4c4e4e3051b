//! `POST /api/user/get_auth_token/`: a new token per login.

use crate::password_gate::upgrade_of;
use actix_web::{web, HttpRequest, HttpResponse};
use issue_tracker_domain::{BodyFields, NewToken, PasswordCheck, TextRule, PASSWORD_MAX_BYTES};

use crate::body::{content_type, parse_object, read_limited};
use crate::error::ApiError;
use crate::routes::{method_not_allowed, options_response, LOGIN_ALLOW};
use crate::state::AppState;

const INVALID_CREDENTIALS: &str = "Unable to log in with provided credentials.";
/// Checks a username and password and issues a new token. Unknown user, wrong password and
/// inactive user get the same answer, after the same bcrypt work.
#[utoipa::path(post, path = "/api/user/get_auth_token/", tag = "auth",
    request_body(content = crate::schemas::Credentials, content_type = "application/json"),
    responses(
        (status = 200, description = "A new token", body = crate::schemas::Token),
        (status = 400, description = "Missing fields, or invalid credentials", body = crate::schemas::FieldErrors),
        (status = 408, description = "The body did not arrive within REQUEST_BODY_TIMEOUT", body = crate::schemas::Detail),
        (status = 413, description = "Body too large", body = crate::schemas::Detail),
        (status = 415, description = "Neither JSON nor form-encoded", body = crate::schemas::Detail),
        (status = 429, description = "Too many failed logins", body = crate::schemas::Detail),
    ))]
pub async fn obtain_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(&req, payload, &state.settings.http).await?;
    let object = parse_object(content_type(&req).as_deref(), &body)?;
    let mut fields = BodyFields::new(&object);
    let username = fields.text("username", true, TextRule::NAME);
    let password = fields.text("password", true, TextRule::SECRET);
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::Validation(fields.into_errors()));
    };
    // Refused before any hashing: a throttled guesser costs us nothing. The slot is reserved
    // now, so concurrent attempts cannot all pass a limit that was not reached yet.
    let address =
        crate::client::client_address(req.headers(), req.peer_addr(), &state.settings.http);
    state
        .login_throttle
        .reserve(&address, &username)
        .await
        .map_err(ApiError::Throttled)?;
    let dummy_hash = state.dummy_hash.clone();
    let gate = state.password_gate.clone();
    let ttl = state.settings.accounts.token_ttl;
    let cost = state.settings.accounts.bcrypt_cost;
    let name = username.clone();
    let key = state
        .run(move |db| {
            // bcrypt reads only 72 bytes: a longer password can never be the stored one, and
            // refusing it before hashing costs the same for every username.
            if password.len() > PASSWORD_MAX_BYTES {
                return Ok(None);
            }
            let credentials = db.find_credentials(&name)?;
            let hash = credentials
                .as_ref()
                .map(|c| c.password_hash.as_str())
                .unwrap_or(&dummy_hash);
            let check = gate.check(hash, &password);
            match credentials {
                Some(found) if check != PasswordCheck::Wrong && found.user.is_active => {
                    let upgrade = upgrade_of(check, &found.password_hash, &password, cost)?;
                    let token = NewToken::generate();
                    db.insert_login_token(found.user.id, &token, ttl, upgrade.as_ref())?;
                    Ok(Some(token.key))
                }
                _ => Ok(None),
            }
        })
        .await?;
    match key {
        Some(key) => {
            // A success is not a failure: give the reserved slot back.
            state.login_throttle.release(&address, &username).await;
            Ok(HttpResponse::Ok().json(crate::schemas::Token { token: key }))
        }
        None => Err(ApiError::non_field(INVALID_CREDENTIALS)),
    }
}

/// Any other method on the login endpoint (no authentication needed there).
pub async fn login_other_method(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() == actix_web::http::Method::OPTIONS {
        return Ok(options_response("Obtain Auth Token", LOGIN_ALLOW));
    }
    Err(method_not_allowed(&req, LOGIN_ALLOW))
}
