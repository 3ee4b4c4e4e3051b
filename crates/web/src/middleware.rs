//! What every response passes through: the `ALLOWED_HOSTS` check, the request id, security
//! headers and the access log line.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};
use tracing::Instrument;

use crate::error::ApiError;
use crate::ratelimit::unix_now;
use crate::state::AppState;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn host_allowed(req: &ServiceRequest, allowed: Option<&[String]>) -> bool {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().host().map(str::to_owned));
    let Some(host) = host else {
        return allowed.is_none();
    };
    // Strictly a host and an optional port: `localhost:1@evil.example` is refused even with `*`,
    // since links may be built from it.
    let Some((name, _)) = crate::client::parse_host(host.trim()) else {
        return false;
    };
    let Some(allowed) = allowed else { return true };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    allowed.iter().any(|pattern| {
        // Django's ".example.com" matches the domain and its subdomains.
        match pattern.strip_prefix('.') {
            Some(domain) => name == domain || name.ends_with(pattern.as_str()),
            None => &name == pattern,
        }
    })
}

/// The hash of the token a request presents, made once by the edge for the rate limiter and
/// kept for the API's `Credentials` (hashing it again cost 3 % of a `GET` of one issue).
#[derive(Debug, Clone)]
pub struct PresentedTokenHash(pub String);

/// The token bucket of a request that presents a token (hashed, never kept in clear).
fn token_bucket(hash: &PresentedTokenHash) -> String {
    format!("token:{}", &hash.0[..32])
}

/// The id of the request being handled, for handlers (the history records it).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

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
        .map(|state| host_allowed(&req, state.settings.http.allowed_hosts.as_deref()))
        .unwrap_or(true);
    // Every log line written while handling the request carries its id.
    let span = tracing::info_span!("request", request_id = %id);
    // Requests count against their token; without one, or while the address is over its own
    // limit (failed authentications count against it too, below), against the address.
    let address_bucket = state.as_ref().map(|state| {
        format!(
            "ip:{}",
            crate::client::client_address(req.headers(), req.peer_addr(), &state.settings.http)
        )
    });
    let presented = crate::authorization::token_from_headers(req.headers())
        .ok()
        .map(|token| PresentedTokenHash(issue_tracker_domain::hash_token(&token)));
    let token = presented.as_ref().map(token_bucket);
    let verdict = match (&state, &address_bucket, allowed) {
        (Some(state), Some(address), true) => Some(match &token {
            Some(token) => match state.rate_limiter.blocked(address) {
                Some(blocked) => blocked,
                None => state.rate_limiter.hit(token, true).await,
            },
            None => state.rate_limiter.hit(address, false).await,
        }),
        _ => None,
    };
    let mut response = if let Some(verdict) = verdict.filter(|v| v.exceeded) {
        let wait = verdict.reset.saturating_sub(unix_now()).max(1);
        req.into_response(ApiError::Throttled(wait).error_response())
            .map_into_right_body()
    } else if allowed {
        req.extensions_mut().insert(RequestId(id.clone()));
        if let Some(presented) = presented {
            req.extensions_mut().insert(presented);
        }
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
    // A handler may choose its own (the admin's forms need `same-origin`: under `no-referrer`
    // browsers send `Origin: null` with a form, and the CSRF check could not tell it from a forgery).
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
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
    if let (Some(state), Some(address), Some(_), 401) = (&state, &address_bucket, &token, status) {
        // A token that did not authenticate: the attempt counts against the address.
        state.rate_limiter.hit(address, false).await;
    }
    let elapsed = started.elapsed();
    if let Some(state) = &state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state.metrics.observe(
            &route,
            crate::metrics::method_label(&method),
            status,
            elapsed.as_secs_f64(),
        );
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
    if origins.iter().any(|o| o == "*") {
        return cors.allow_any_origin();
    }
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}
