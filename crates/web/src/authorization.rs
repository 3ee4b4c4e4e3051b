//! The `Authorization` header, read the same way by the edge's rate limiter and the API's
//! authentication.

use actix_web::http::header;

use crate::error::ApiError;

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";

/// The one parser of the `Authorization` header (handlers and the rate limiter alike), as the
/// original: the keyword (`Token` or `Bearer`) is case-insensitive, the key is not.
pub fn token_from_headers(headers: &header::HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(NOT_PROVIDED));
    };
    let mut parts = value
        .as_bytes()
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
