//! The `AuthenticatedUser` extractor: a handler that takes one cannot forget authentication.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use issue_tracker_domain::{hash_token, User};

use crate::error::ApiError;
use crate::state::AppState;

/// The caller, proven by `Authorization: Token <key>` (or `Bearer <key>`).
#[derive(Debug, Clone)]
pub struct AuthenticatedUser {
    /// Who is calling.
    pub user: User,
    /// Which of their tokens they used.
    pub token_id: i64,
}

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";

/// Parses the header as the original did: the keyword is case-insensitive, the key is not.
fn token_from_header(req: &HttpRequest) -> Result<String, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(NOT_PROVIDED));
    };
    let bytes = value.as_bytes();
    let mut parts = bytes
        .split(|b| b.is_ascii_whitespace())
        .filter(|part| !part.is_empty());
    let keyword = parts.next().unwrap_or_default();
    if !(keyword.eq_ignore_ascii_case(b"token") || keyword.eq_ignore_ascii_case(b"bearer")) {
        return Err(ApiError::Unauthorized(NOT_PROVIDED));
    }
    let Some(key) = parts.next() else {
        return Err(ApiError::Unauthorized(
            "Invalid token header. No credentials provided.",
        ));
    };
    if parts.next().is_some() {
        return Err(ApiError::Unauthorized(
            "Invalid token header. Token string should not contain spaces.",
        ));
    }
    let key = std::str::from_utf8(key).map_err(|_| {
        ApiError::Unauthorized(
            "Invalid token header. Token string should not contain invalid characters.",
        )
    })?;
    Ok(key.to_owned())
}

impl FromRequest for AuthenticatedUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = token_from_header(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let key = key?;
            let state = state.ok_or_else(|| ApiError::Internal("AppState missing".into()))?;
            let hash = hash_token(&key);
            let found = state.run(move |db| Ok(db.authenticate(&hash)?)).await?;
            let Some(found) = found else {
                return Err(ApiError::Unauthorized("Invalid token."));
            };
            if !found.user.is_active {
                return Err(ApiError::Unauthorized("User inactive or deleted."));
            }
            Ok(AuthenticatedUser {
                user: found.user,
                token_id: found.token_id,
            })
        })
    }
}
