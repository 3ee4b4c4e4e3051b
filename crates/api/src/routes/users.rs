//! `/api/user/me/`, `/api/user/tokens/`, `/api/user/logout/` and staff-only `POST /api/user/`.

use actix_web::{web, HttpRequest, HttpResponse};
use issue_tracker_domain::{
    may_act_on, may_create_account, messages, parse_scope_list, rfc3339, AccountAction, Authority,
    BodyFields, Delivery, Email, InboxTypes, NewToken, Password, TextRule, TokenId, User, Username,
};
use issue_tracker_persistence::{NewUser, PreferenceChanges, StoreError};
use serde::Serialize;
use serde_json::Value;

use crate::auth::Credentials;
use crate::body::{content_type, parse_object, read_limited};
use crate::error::ApiError;

/// A user.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserBody {
    id: i64,
    username: String,
    email: String,
    is_staff: bool,
    #[schema(format = DateTime)]
    date_joined: String,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        UserBody {
            id: user.id.get(),
            username: user.username.clone(),
            email: user.email.clone(),
            is_staff: user.is_staff,
            date_joined: rfc3339(&user.date_joined),
        }
    }
}

/// `GET /api/user/me/`.
#[utoipa::path(get, path = "/api/user/me/", tag = "users", security(("token" = [])),
    responses((status = 200, body = UserBody), (status = 401, body = crate::schemas::Detail)))]
pub async fn get_me(credentials: Credentials) -> Result<HttpResponse, ApiError> {
    let caller = credentials.authenticate().await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&caller.user)))
}

/// `GET /api/user/me/notifications/`: which emails the caller gets.
#[utoipa::path(get, path = "/api/user/me/notifications/", tag = "users", security(("token" = [])),
    responses((status = 200, body = crate::schemas::NotificationPreferences), (status = 401, body = crate::schemas::Detail)))]
pub async fn get_notification_preferences(
    credentials: Credentials,
) -> Result<HttpResponse, ApiError> {
    let preferences = credentials
        .run(|db, caller| {
            db.notification_preferences(caller.user.id)?
                .ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok().json(preferences))
}

/// `PATCH /api/user/me/notifications/`: turns the caller's assignment email or report off or
/// on (keys left out keep their value).
#[utoipa::path(patch, path = "/api/user/me/notifications/", tag = "users", security(("token" = [])),
    request_body(content = Option<crate::schemas::NotificationPreferencesPatch>, content_type = "application/json"),
    responses(
        (status = 200, body = crate::schemas::NotificationPreferences),
        (status = 400, description = "A value is not a boolean", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
    ))]
pub async fn set_notification_preferences(
    credentials: Credentials,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(&req, payload, &credentials.state().settings.http).await;
    let kind = content_type(&req);
    let preferences = credentials
        .run(move |db, caller| {
            let object = parse_object(kind.as_deref(), &body?)?;
            let mut fields = BodyFields::new(&object);
            let activity_types =
                fields
                    .value("activity_types", false)
                    .and_then(|value| match value.as_array() {
                        Some(list) => {
                            let names: Option<Vec<&str>> =
                                list.iter().map(serde_json::Value::as_str).collect();
                            match names.map(|names| InboxTypes::parse_list(&names)) {
                                Some(Ok(types)) => Some(types),
                                Some(Err(message)) => {
                                    fields.add("activity_types", message);
                                    None
                                }
                                None => {
                                    fields.add("activity_types", "Each item must be a string.");
                                    None
                                }
                            }
                        }
                        None => {
                            fields.add("activity_types", "Expected a list of items.");
                            None
                        }
                    });
            let delivery = fields.value("delivery", false).and_then(|value| {
                let parsed = value.as_str().and_then(Delivery::parse);
                if parsed.is_none() {
                    fields.add(
                        "delivery",
                        format!(
                            "\"{}\" is not a valid choice.",
                            value.as_str().unwrap_or_default()
                        ),
                    );
                }
                parsed
            });
            let changes = PreferenceChanges {
                assignment: fields.boolean("assignment"),
                report: fields.boolean("report"),
                activity: fields.boolean("activity"),
                activity_types,
                delivery,
            };
            if !fields.ok() {
                return Err(ApiError::Validation(fields.into_errors()));
            }
            db.set_notification_preferences(caller.user.id, changes, &caller.origin())?
                .ok_or(ApiError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok().json(preferences))
}

/// A token as its owner sees it: never the key.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TokenInfo)]
pub struct TokenBody {
    id: i64,
    /// The first 8 characters of the token.
    prefix: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// `GET /api/user/tokens/`: the caller's tokens, never the keys.
#[utoipa::path(get, path = "/api/user/tokens/", tag = "users", security(("token" = [])),
    responses((status = 200, body = [TokenBody]), (status = 401, body = crate::schemas::Detail)))]
pub async fn list_tokens(credentials: Credentials) -> Result<HttpResponse, ApiError> {
    let tokens = credentials
        .run(|db, caller| Ok(db.list_tokens(caller.user.id)?))
        .await?;
    let body: Vec<TokenBody> = tokens
        .iter()
        .map(|t| TokenBody {
            id: t.id.get(),
            prefix: t.prefix.clone(),
            created_at: rfc3339(&t.created_at),
            last_used_at: t.last_used_at.as_ref().map(rfc3339),
            expires_at: rfc3339(&t.expires_at),
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// A scoped token at its creation: the only time its key is shown.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ScopedToken)]
pub struct NewScopedTokenBody {
    id: i64,
    /// The key, for `Authorization: Token <key>`.
    token: String,
    /// Its first 8 characters.
    prefix: String,
    username: String,
    scopes: Vec<&'static str>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// The longest life a scoped token may be given: ten years.
const MAX_EXPIRES_IN: u64 = 315_360_000;

/// `POST /api/user/tokens/` (staff): issues a token that may do only what its scopes name, for
/// the caller or for `username` (an integration's own user). Restricted tokens cannot act as
/// their user, so issuing one for someone else grants only the scopes.
#[utoipa::path(post, path = "/api/user/tokens/", tag = "users", security(("token" = [])),
    request_body(content = crate::schemas::NewScopedToken, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; the token is shown this once", body = NewScopedTokenBody),
        (status = 400, description = "Invalid fields", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only (with a full token)", body = crate::schemas::Detail),
    ))]
pub async fn create_scoped_token(
    credentials: Credentials,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = credentials.state().clone();
    let object = crate::routes::staff_body(&credentials, &req, payload).await?;
    let mut fields = BodyFields::new(&object);
    let scopes = fields
        .value("scopes", true)
        .and_then(|value| match parse_scope_list(value) {
            Ok(scopes) => Some(scopes),
            Err(problem) => {
                fields.add("scopes", problem);
                None
            }
        });
    let username = match object.get("username") {
        None | Some(Value::Null) => None,
        Some(_) => fields.text("username", false, TextRule::NAME),
    };
    let ttl = match object.get("expires_in") {
        None | Some(Value::Null) => Some(state.settings.accounts.token_ttl),
        Some(value) => match value.as_u64() {
            Some(seconds) if (60..=MAX_EXPIRES_IN).contains(&seconds) => {
                Some(std::time::Duration::from_secs(seconds))
            }
            _ => {
                fields.add(
                    "expires_in",
                    format!("Ensure this value is a whole number of seconds from 60 to {MAX_EXPIRES_IN}."),
                );
                None
            }
        },
    };
    let (Some(scopes), Some(ttl), true) = (scopes, ttl, fields.ok()) else {
        return Err(ApiError::Validation(fields.into_errors()));
    };
    let token = NewToken::generate();
    let key = token.key.clone();
    // Checked again now that the body is here, as every write is.
    let (owner, info) = credentials
        .run(move |db, caller| {
            if !caller.is_staff() {
                return Err(ApiError::Forbidden);
            }
            let owner = match username {
                None => caller.user.clone(),
                Some(name) => {
                    let mut errors = issue_tracker_domain::FieldErrors::default();
                    match db.find_user(&name)? {
                        Some(user) if user.is_active => {
                            may_act_on(
                                Authority::User(&caller.user),
                                &user,
                                AccountAction::IssueToken,
                            )
                            .map_err(|refusal| ApiError::ForbiddenBecause(refusal.to_string()))?;
                            user
                        }
                        Some(_) => {
                            errors.add("username", format!("User \"{name}\" is inactive."));
                            return Err(ApiError::Validation(errors));
                        }
                        None => {
                            errors.add("username", format!("There is no user named \"{name}\"."));
                            return Err(ApiError::Validation(errors));
                        }
                    }
                }
            };
            let info = db.insert_scoped_token(&owner, &token, ttl, &scopes, &caller.origin())?;
            Ok((owner, info))
        })
        .await?;
    Ok(HttpResponse::Created().json(NewScopedTokenBody {
        id: info.id.get(),
        token: key,
        prefix: info.prefix,
        username: owner.username,
        scopes: info.scopes.names(),
        created_at: rfc3339(&info.created_at),
        expires_at: rfc3339(&info.expires_at),
    }))
}

/// `DELETE /api/user/tokens/<id>/`: revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/user/tokens/{id}/", tag = "users", security(("token" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses((status = 204, description = "Revoked"), (status = 401, body = crate::schemas::Detail), (status = 404, body = crate::schemas::Detail)))]
pub async fn revoke_token(
    credentials: Credentials,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token_id = TokenId::parse(&id);
    let revoked = credentials
        .run(move |db, caller| match token_id {
            Some(token_id) => Ok(db.revoke_token(&caller.user, token_id, &caller.origin())?),
            None => Ok(false),
        })
        .await?;
    if revoked {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}

/// `POST /api/user/logout/`: revokes the token of this request.
#[utoipa::path(post, path = "/api/user/logout/", tag = "users", security(("token" = [])),
    responses((status = 204, description = "The token of this request is revoked"), (status = 401, body = crate::schemas::Detail)))]
pub async fn logout(credentials: Credentials) -> Result<HttpResponse, ApiError> {
    credentials
        .run_any_token(|db, caller| {
            Ok(db.revoke_token(&caller.user, caller.token_id, &caller.origin())?)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/user/` (staff only): creates a user with the same rules as the admin CLI.
#[utoipa::path(post, path = "/api/user/", tag = "users", security(("token" = [])),
    request_body(content = crate::schemas::NewUser, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = UserBody),
        (status = 400, description = "Invalid fields, or the username is taken", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Staff only", body = crate::schemas::Detail),
    ))]
pub async fn create_user(
    credentials: Credentials,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let state = credentials.state().clone();
    let object = crate::routes::staff_body(&credentials, &req, payload).await?;
    let mut fields = BodyFields::new(&object);
    let username = fields
        .text("username", true, TextRule::NAME)
        .and_then(|name| {
            Username::parse(&name)
                .map_err(|e| fields.add("username", e.to_string()))
                .ok()
        });
    let email = match object.get("email") {
        None | Some(Value::Null) => Some(Email::parse("").unwrap_or_else(|_| unreachable!())),
        Some(Value::String(address)) => Email::parse(address)
            .map_err(|e| fields.add("email", e))
            .ok(),
        Some(_) => {
            fields.add("email", messages::NOT_A_STRING);
            None
        }
    };
    let password = fields
        .text("password", true, TextRule::SECRET)
        .and_then(|secret| {
            Password::parse(&secret)
                .map_err(|e| fields.add("password", e.to_string()))
                .ok()
        });
    let is_staff = fields.boolean("is_staff").unwrap_or(false);
    let (Some(username), Some(email), Some(password), true) =
        (username, email, password, fields.ok())
    else {
        return Err(ApiError::Validation(fields.into_errors()));
    };
    let cost = state.settings.accounts.bcrypt_cost;
    // Checked again now that the body is here: the token may have been revoked, or the caller's
    // staff status taken away, while it was on its way.
    let created = credentials
        .run(move |db, caller| {
            if !caller.is_staff() {
                return Err(ApiError::Forbidden);
            }
            may_create_account(Authority::User(&caller.user), is_staff, false)
                .map_err(|refusal| ApiError::ForbiddenBecause(refusal.to_string()))?;
            let password_hash = bcrypt::hash(password.expose(), cost)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let new = NewUser {
                username: username.as_str().to_owned(),
                email: email.as_str().to_owned(),
                password_hash,
                is_staff,
                is_superuser: false,
            };
            match db.create_user(&new, &caller.origin()) {
                Ok(user) => Ok(user),
                Err(StoreError::Conflict) => {
                    let mut errors = issue_tracker_domain::FieldErrors::default();
                    errors.add("username", "A user with that username already exists.");
                    Err(ApiError::Validation(errors))
                }
                Err(other) => Err(other.into()),
            }
        })
        .await?;
    Ok(HttpResponse::Created().json(UserBody::from(&created)))
}
