//! What every response passes through: the `ALLOWED_HOSTS` check, the request id, security
//! headers and the access log line.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use tracing::Instrument;

use crate::error::ApiError;
use crate::state::AppState;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The host name of a `Host` header, without its port, lower case (IPv6 literals keep brackets).
fn host_without_port(host: &str) -> String {
    let host = host.trim();
    let name = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn host_allowed(req: &ServiceRequest, allowed: Option<&[String]>) -> bool {
    let Some(allowed) = allowed else { return true };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().host().map(str::to_owned));
    let Some(host) = host else { return false };
    let name = host_without_port(&host);
    allowed.iter().any(|pattern| {
        // Django's ".example.com" matches the domain and its subdomains.
        match pattern.strip_prefix('.') {
            Some(domain) => name == domain || name.ends_with(pattern.as_str()),
            None => &name == pattern,
        }
    })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Who a request counts against: its token (hashed, never kept in clear), or its address.
fn rate_limit_client(req: &ServiceRequest) -> (String, bool) {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_whitespace().nth(1));
    match token {
        Some(token) => (
            format!("token:{}", &issue_tracker_domain::hash_token(token)[..32]),
            true,
        ),
        None => (
            format!(
                "ip:{}",
                req.peer_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default()
            ),
            false,
        ),
    }
}

/// A client's own request id is kept when it is short and printable; otherwise a new one is made.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// The outermost middleware.
pub async fn edge(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let path = req.path().to_owned();
    let authenticated = req.headers().contains_key(header::AUTHORIZATION);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let allowed = state
        .as_ref()
        .map(|state| host_allowed(&req, state.settings.allowed_hosts.as_deref()))
        .unwrap_or(true);
    // Every log line written while handling the request carries its id.
    let span = tracing::info_span!("request", request_id = %id);
    let verdict = match (&state, allowed) {
        (Some(state), true) => {
            let (client, has_token) = rate_limit_client(&req);
            Some(state.rate_limiter.hit(&client, has_token).await)
        }
        _ => None,
    };
    let mut response = if let Some(verdict) = verdict.filter(|v| v.exceeded) {
        let wait = verdict.reset.saturating_sub(unix_now()).max(1);
        req.into_response(ApiError::Throttled(wait).error_response())
            .map_into_right_body()
    } else if allowed {
        next.call(req)
            .instrument(span.clone())
            .await?
            .map_into_left_body()
    } else {
        req.into_response(ApiError::InvalidHost.error_response())
            .map_into_right_body()
    };
    let headers = response.headers_mut();
    if let Some(verdict) = verdict {
        for (name, value) in [
            ("x-ratelimit-limit", verdict.limit),
            ("x-ratelimit-remaining", verdict.remaining),
            ("x-ratelimit-reset", verdict.reset),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID.clone(), value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Authenticated answers may be revalidated by the client, never kept by a shared cache.
        let policy = if authenticated {
            "private, no-cache"
        } else {
            "no-store"
        };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(state) = &state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state
            .metrics
            .observe(&route, method.as_str(), status, elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(
            %method,
            %path,
            status,
            micros = elapsed.as_micros() as u64,
            "request"
        )
    });
    Ok(response)
}

/// CORS for the allowed origins: preflights are answered here, before authentication.
pub fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            REQUEST_ID.clone(),
        ])
        .expose_headers([
            header::LINK,
            header::ETAG,
            header::RETRY_AFTER,
            REQUEST_ID.clone(),
            HeaderName::from_static("x-total-count"),
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
        ])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

#[cfg(test)]
mod tests {
    use super::host_without_port;

    #[test]
    fn strips_ports_and_keeps_ipv6_brackets() {
        assert_eq!(host_without_port("LocalHost:8000"), "localhost");
        assert_eq!(host_without_port("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_without_port("[::1]:8000"), "[::1]");
        assert_eq!(host_without_port("example.com."), "example.com");
    }
}
