//! Conditional requests: `ETag` on issues and list pages, `If-None-Match` (304) on reads,
//! `If-Match` (412) on writes.

use std::hash::{Hash, Hasher};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use issue_tracker_domain::Issue;

use crate::error::ApiError;

/// A weak validator of a response body.
pub fn body_etag(body: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("W/\"{:016x}\"", hasher.finish())
}

/// The validator of an issue: it changes whenever the issue does (`updated_at` moves on every
/// write).
pub fn issue_etag(issue: &Issue) -> String {
    format!("W/\"{}-{}\"", issue.id, issue.updated_at.timestamp_micros())
}

fn opaque(tag: &str) -> &str {
    tag.trim().trim_start_matches("W/")
}

/// Whether an `If-None-Match` / `If-Match` header value lists `etag` (weak comparison; `*`
/// matches anything).
pub fn lists_etag(header_value: &str, etag: &str) -> bool {
    header_value
        .split(',')
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == opaque(etag))
}

/// Whether the request's `If-None-Match` lists `etag`: the client's copy is current (304).
pub fn none_match_fresh(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|value| lists_etag(value, etag))
}

/// 200 with the body and its `ETag`, or 304 without a body when the client already has it.
pub fn respond_with_etag(
    req: &HttpRequest,
    mut response: HttpResponseBuilder,
    etag: String,
    body: Vec<u8>,
) -> Result<HttpResponse, ApiError> {
    let fresh = none_match_fresh(req, &etag);
    response.insert_header((header::ETAG, etag));
    if fresh {
        return Ok(response
            .status(actix_web::http::StatusCode::NOT_MODIFIED)
            .finish());
    }
    Ok(response
        .content_type(header::ContentType::json())
        .body(body))
}

/// The request's `If-Match` header, if any (kept as sent: a non-UTF-8 value never matches).
pub fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::IF_MATCH)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The validator of a comment (its `updated_at` moves on every edit).
pub fn comment_etag(comment: &issue_tracker_domain::Comment) -> String {
    format!(
        "W/\"c{}-{}\"",
        comment.id,
        comment.updated_at.timestamp_micros()
    )
}

/// Whether an `If-Match` header value (if any) is satisfied by `etag`. No header: yes.
pub fn if_match_holds(if_match: Option<&str>, etag: &str) -> bool {
    match if_match.map(str::trim).filter(|value| !value.is_empty()) {
        Some(value) => lists_etag(value, etag),
        None => true,
    }
}

/// 412 when the request has an `If-Match` that the issue's current `ETag` does not satisfy. No
/// header: last write wins, as before.
pub fn check_if_match(if_match: Option<&str>, issue: &Issue) -> Result<(), ApiError> {
    match if_match.map(str::trim).filter(|value| !value.is_empty()) {
        Some(value) if !lists_etag(value, &issue_etag(issue)) => Err(ApiError::PreconditionFailed),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::lists_etag;

    #[test]
    fn weak_comparison_and_star() {
        assert!(lists_etag("W/\"1-2\"", "W/\"1-2\""));
        assert!(lists_etag("\"1-2\"", "W/\"1-2\""));
        assert!(lists_etag("\"x\", W/\"1-2\"", "W/\"1-2\""));
        assert!(lists_etag("*", "W/\"1-2\""));
        assert!(!lists_etag("W/\"1-3\"", "W/\"1-2\""));
    }
}
