//! What the HTTP adapters share: the API and the staff admin are siblings mounted side by side on
//! one server, and neither imports the other. Here are the state every handler reads
//! ([`AppState`]), the edge middleware every request passes through (request ids, allowed hosts,
//! rate limits, metrics, security headers), client addresses, the `Authorization` header's
//! parser, password checks, and the error shell ([`ApiError`]) both answer with. The composition
//! root (the `app` crate) gives [`serve_with`] the routes of each.

pub mod authorization;
pub mod client;
pub mod error;
pub mod metrics;
pub mod middleware;
pub mod password_gate;
pub mod ratelimit;
pub mod state;
pub mod streams;
pub mod throttle;

use std::net::TcpListener;

use actix_web::{web, App, HttpServer};

pub use error::ApiError;
pub use state::{ApiSettings, AppState};

/// A set of routes to serve (the API's, the admin's), given by the composition root.
pub type Mount = std::sync::Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// Anything not routed: 404 in the API's JSON shape.
async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// Builds the server on an already bound listener (tests bind port 0), serving `mounts` in
/// order behind the edge middleware.
pub fn serve_with(
    state: AppState,
    listener: TcpListener,
    mounts: Vec<Mount>,
) -> std::io::Result<actix_web::dev::Server> {
    let workers = match state.settings.http.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    // As many blocking threads as pooled connections: more would only queue on the pool, whose
    // wait is unfair (a long tail of starved requests); tokio's own queue is first come, first
    // served.
    let blocking_threads = (state.db.max_connections() as usize / workers).max(1);
    let origins = state.settings.http.cors_allowed_origins.clone();
    let header_timeout = state.settings.http.request_header_timeout;
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        let mounts = mounts.clone();
        App::new()
            .app_data(data.clone())
            .configure(move |cfg| {
                for mount in &mounts {
                    mount(cfg);
                }
            })
            .default_service(web::to(not_found))
            .wrap(actix_web::middleware::Condition::new(
                !origins.is_empty(),
                middleware::cors(&origins),
            ))
            .wrap(actix_web::middleware::from_fn(middleware::edge))
    })
    .workers(workers)
    .worker_max_blocking_threads(blocking_threads)
    // Headers must arrive within REQUEST_HEADER_TIMEOUT (then 408 and close); bodies are bounded
    // by REQUEST_BODY_TIMEOUT where they are read.
    .client_request_timeout(header_timeout)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Runs the server to completion on its own actix system (used by the binaries, which need not
/// know actix). Stops gracefully on SIGINT and SIGTERM.
pub fn run_with(
    mut state: AppState,
    listener: TcpListener,
    mounts: Vec<Mount>,
) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        state.connect_shared_limits().await;
        serve_with(state, listener, mounts)?.await
    })
}
