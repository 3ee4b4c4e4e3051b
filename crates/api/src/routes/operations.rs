//! `/health`, `/ready` and `/metrics`: for load balancers, orchestrators and Prometheus. No
//! authentication (they reveal nothing about issues or users).

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /health`: the process is up. No I/O.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = crate::schemas::Health)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /ready`: the database answers, and Redis too when `REDIS_URL` is set; 503 naming what is
/// down otherwise.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = crate::schemas::Readiness), (status = 503, description = "Names what is down", body = crate::schemas::Readiness)))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let database = state.run(|db| Ok(db.ping()?)).await.is_ok();
    let redis = match &state.settings.redis {
        None => None,
        Some(endpoint) => Some(
            issue_tracker_queue::ping(endpoint, Duration::from_secs(2))
                .await
                .is_ok(),
        ),
    };
    let word = |up: bool| if up { "ok" } else { "down" };
    let mut body = json!({
        "status": if database && redis.unwrap_or(true) { "ok" } else { "unavailable" },
        "database": word(database),
    });
    if let Some(redis) = redis {
        body["redis"] = json!(word(redis));
    }
    if database && redis.unwrap_or(true) {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let counts = state
        .run(|db| Ok(db.count_notifications()?))
        .await
        .unwrap_or_default();
    let text = state.metrics.render(&state.db, &counts);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// `GET /api/docs` without the slash: to the documentation page.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/api/docs/"))
        .finish()
}
