//! The HTTP API of the issue tracker (actix-web): the route table, the authentication extractor,
//! body parsing, error mapping and the middleware every response passes through.
//!
//! Only this crate names actix-web. Handlers call the `persistence` crate off the async executor
//! (`web::block`) and the `domain` crate for every rule.

pub mod auth;
pub mod body;
pub mod conditional;
pub mod openapi;
pub mod pagination;
pub mod routes;
pub mod schemas;

// What the admin shares with the API lives in `issue-tracker-web`; named here as before, so that
// the API's modules read `crate::error`, `crate::state` and so on.
pub use issue_tracker_web::{
    client, error, metrics, middleware, password_gate, ratelimit, state, throttle,
};
pub use issue_tracker_web::{ApiError, ApiSettings, AppState, Mount};

use std::net::TcpListener;

use actix_web::http::Method;
use actix_web::web;

use routes::{issues, login, users};

/// The whole API: one table of routes. Every path answers with and without its trailing slash.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/docs")
            .route(web::get().to(routes::operations::docs_redirect))
            .default_service(not_allowed("GET, HEAD")),
    )
    .service(
        web::resource("/health")
            .route(web::get().to(routes::operations::health))
            .route(web::head().to(routes::operations::health))
            .default_service(not_allowed("GET, HEAD")),
    )
    .service(
        web::resource("/ready")
            .route(web::get().to(routes::operations::ready))
            .route(web::head().to(routes::operations::ready))
            .default_service(not_allowed("GET, HEAD")),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(routes::operations::metrics))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource(["/api/user/get_auth_token/", "/api/user/get_auth_token"])
            .route(web::post().to(login::obtain_token))
            .default_service(web::to(login::login_other_method)),
    )
    .service(
        web::resource(["/api/issue/", "/api/issue"])
            .route(web::get().to(issues::list_issues))
            .route(web::head().to(issues::list_issues))
            .route(web::post().to(issues::create_issue))
            .route(web::method(Method::OPTIONS).to(routes::options_issue_list))
            .default_service(web::to(routes::list_method_not_allowed)),
    )
    .service(
        web::resource(["/api/issue/{id}/", "/api/issue/{id}"])
            .route(web::get().to(issues::get_issue))
            .route(web::head().to(issues::get_issue))
            .route(web::put().to(issues::replace_issue))
            .route(web::patch().to(issues::update_issue))
            .route(web::delete().to(issues::delete_issue))
            .route(web::method(Method::OPTIONS).to(routes::options_issue))
            .default_service(web::to(routes::detail_method_not_allowed)),
    )
    .service(
        web::resource(["/api/issue/{id}/history/", "/api/issue/{id}/history"])
            .route(web::get().to(routes::history::issue_history))
            .route(web::head().to(routes::history::issue_history))
            .default_service(authenticated_not_allowed("GET, HEAD")),
    )
    .service(
        web::resource(["/api/issue/{id}/comments/", "/api/issue/{id}/comments"])
            .route(web::get().to(routes::comments::list_comments))
            .route(web::head().to(routes::comments::list_comments))
            .route(web::post().to(routes::comments::create_comment))
            .default_service(authenticated_not_allowed("GET, HEAD, POST")),
    )
    .service(
        web::resource([
            "/api/issue/{id}/subscription/",
            "/api/issue/{id}/subscription",
        ])
        .route(web::get().to(routes::subscriptions::get_subscription))
        .route(web::head().to(routes::subscriptions::get_subscription))
        .route(web::put().to(routes::subscriptions::watch))
        .route(web::delete().to(routes::subscriptions::unwatch))
        .default_service(authenticated_not_allowed("GET, HEAD, PUT, DELETE")),
    )
    .service(
        web::resource(["/api/issue/{id}/labels/", "/api/issue/{id}/labels"])
            .route(web::get().to(routes::labels::list_issue_labels))
            .route(web::head().to(routes::labels::list_issue_labels))
            .route(web::post().to(routes::labels::add_issue_labels))
            .route(web::put().to(routes::labels::replace_issue_labels))
            .default_service(authenticated_not_allowed("GET, HEAD, POST, PUT")),
    )
    .service(
        web::resource([
            "/api/issue/{id}/labels/{name}/",
            "/api/issue/{id}/labels/{name}",
        ])
        .route(web::delete().to(routes::labels::remove_issue_label))
        .default_service(authenticated_not_allowed("DELETE")),
    )
    .service(
        web::resource(["/api/labels/", "/api/labels"])
            .route(web::get().to(routes::labels::list_labels))
            .route(web::head().to(routes::labels::list_labels))
            .route(web::post().to(routes::labels::create_label))
            .default_service(authenticated_not_allowed("GET, HEAD, POST")),
    )
    .service(
        web::resource(["/api/labels/{id}/", "/api/labels/{id}"])
            .route(web::get().to(routes::labels::get_label))
            .route(web::head().to(routes::labels::get_label))
            .route(web::patch().to(routes::labels::update_label))
            .route(web::delete().to(routes::labels::delete_label))
            .default_service(authenticated_not_allowed("GET, HEAD, PATCH, DELETE")),
    )
    .service(
        web::resource(["/api/webhooks/", "/api/webhooks"])
            .route(web::get().to(routes::webhooks::list_webhooks))
            .route(web::head().to(routes::webhooks::list_webhooks))
            .route(web::post().to(routes::webhooks::create_webhook))
            .default_service(authenticated_not_allowed("GET, HEAD, POST")),
    )
    .service(
        web::resource(["/api/webhooks/{id}/", "/api/webhooks/{id}"])
            .route(web::get().to(routes::webhooks::get_webhook))
            .route(web::head().to(routes::webhooks::get_webhook))
            .route(web::patch().to(routes::webhooks::update_webhook))
            .route(web::delete().to(routes::webhooks::delete_webhook))
            .default_service(authenticated_not_allowed("GET, HEAD, PATCH, DELETE")),
    )
    .service(
        web::resource([
            "/api/webhooks/{id}/rotate-secret/",
            "/api/webhooks/{id}/rotate-secret",
        ])
        .route(web::post().to(routes::webhooks::rotate_secret))
        .default_service(authenticated_not_allowed("POST")),
    )
    .service(
        web::resource(["/api/webhooks/{id}/ping/", "/api/webhooks/{id}/ping"])
            .route(web::post().to(routes::webhooks::ping))
            .default_service(authenticated_not_allowed("POST")),
    )
    .service(
        web::resource([
            "/api/webhooks/{id}/deliveries/",
            "/api/webhooks/{id}/deliveries",
        ])
        .route(web::get().to(routes::webhooks::list_deliveries))
        .route(web::head().to(routes::webhooks::list_deliveries))
        .default_service(authenticated_not_allowed("GET, HEAD")),
    )
    .service(
        web::resource([
            "/api/webhooks/{id}/deliveries/{did}/redeliver/",
            "/api/webhooks/{id}/deliveries/{did}/redeliver",
        ])
        .route(web::post().to(routes::webhooks::redeliver))
        .default_service(authenticated_not_allowed("POST")),
    )
    .service(
        web::resource(["/api/comments/{cid}/", "/api/comments/{cid}"])
            .route(web::get().to(routes::comments::get_comment))
            .route(web::head().to(routes::comments::get_comment))
            .route(web::patch().to(routes::comments::edit_comment))
            .route(web::delete().to(routes::comments::delete_comment))
            .default_service(authenticated_not_allowed("GET, HEAD, PATCH, DELETE")),
    )
    .service(
        web::resource(["/api/events/", "/api/events"])
            .route(web::get().to(routes::history::event_feed))
            .route(web::head().to(routes::history::event_feed))
            .default_service(authenticated_not_allowed("GET, HEAD")),
    )
    .service(
        web::resource(["/api/history/", "/api/history"])
            .route(web::get().to(routes::history::history_feed))
            .route(web::head().to(routes::history::history_feed))
            .default_service(authenticated_not_allowed("GET, HEAD")),
    )
    .service(
        web::resource(["/api/notifications/", "/api/notifications"])
            .route(web::get().to(routes::inbox::list_inbox))
            .route(web::head().to(routes::inbox::list_inbox))
            .default_service(authenticated_not_allowed("GET, HEAD")),
    )
    .service(
        web::resource(["/api/notifications/stream/", "/api/notifications/stream"])
            .route(web::get().to(routes::streams::notification_stream))
            .default_service(authenticated_not_allowed("GET")),
    )
    .service(
        web::resource(["/api/events/stream/", "/api/events/stream"])
            .route(web::get().to(routes::streams::event_stream))
            .default_service(authenticated_not_allowed("GET")),
    )
    .service(
        web::resource(["/api/notifications/read/", "/api/notifications/read"])
            .route(web::post().to(routes::inbox::mark_all_read))
            .default_service(authenticated_not_allowed("POST")),
    )
    .service(
        web::resource(["/api/notifications/{id}/", "/api/notifications/{id}"])
            .route(web::patch().to(routes::inbox::mark_entry))
            .route(web::delete().to(routes::inbox::mark_done))
            .default_service(authenticated_not_allowed("PATCH, DELETE")),
    )
    .service(
        web::resource(["/api/user/", "/api/user"])
            .route(web::post().to(users::create_user))
            .default_service(authenticated_not_allowed("POST")),
    )
    .service(
        web::resource(["/api/user/me/", "/api/user/me"])
            .route(web::get().to(users::get_me))
            .route(web::head().to(users::get_me))
            .default_service(authenticated_not_allowed("GET, HEAD")),
    )
    .service(
        web::resource(["/api/user/me/notifications/", "/api/user/me/notifications"])
            .route(web::get().to(users::get_notification_preferences))
            .route(web::head().to(users::get_notification_preferences))
            .route(web::patch().to(users::set_notification_preferences))
            .default_service(authenticated_not_allowed("GET, HEAD, PATCH")),
    )
    .service(
        web::resource(["/unsubscribe/{token}/", "/unsubscribe/{token}"])
            .route(web::get().to(routes::unsubscribe::confirm_page))
            .route(web::head().to(routes::unsubscribe::confirm_page))
            .route(web::post().to(routes::unsubscribe::unsubscribe))
            .default_service(not_allowed("GET, HEAD, POST")),
    )
    .service(
        web::resource(["/api/user/tokens/", "/api/user/tokens"])
            .route(web::get().to(users::list_tokens))
            .route(web::head().to(users::list_tokens))
            .route(web::post().to(users::create_scoped_token))
            .default_service(authenticated_not_allowed("GET, HEAD, POST")),
    )
    .service(
        web::resource(["/api/user/tokens/{id}/", "/api/user/tokens/{id}"])
            .route(web::delete().to(users::revoke_token))
            .default_service(authenticated_not_allowed("DELETE")),
    )
    .service(
        web::resource(["/api/user/logout/", "/api/user/logout"])
            .route(web::post().to(users::logout))
            .default_service(authenticated_not_allowed("POST")),
    )
    // Last: its pattern is a regular expression, and the router tries resources in order, so
    // placed first it was matched against every request.
    .service(
        web::resource("/api/openapi.json")
            .guard(actix_web::guard::Get())
            .to(openapi_json),
    )
    .service(
        utoipa_swagger_ui::SwaggerUi::new("/api/docs/{_:.*}")
            .config(utoipa_swagger_ui::Config::new(["/api/openapi.json"])),
    );
}

/// `GET /api/openapi.json`: the document, serialized once per process.
async fn openapi_json() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(openapi::document_json())
}

/// 405 with `Allow`, for resources open to anyone.
fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move |req: actix_web::HttpRequest| async move {
        Err::<actix_web::HttpResponse, _>(routes::method_not_allowed(&req, allow))
    })
}

/// 405 with `Allow`, after authentication (as on the issue endpoints).
fn authenticated_not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(
        move |credentials: auth::Credentials, req: actix_web::HttpRequest| async move {
            credentials.authenticate().await?;
            Err::<actix_web::HttpResponse, _>(routes::method_not_allowed(&req, allow))
        },
    )
}

/// The API's routes, as a [`Mount`] for `issue_tracker_web::serve_with`.
pub fn mount() -> Mount {
    std::sync::Arc::new(configure)
}

/// Builds a server of the API alone on an already bound listener (tests bind port 0).
pub fn serve(state: AppState, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    issue_tracker_web::serve_with(state, listener, vec![mount()])
}

/// Runs a server of the API alone to completion on its own actix system.
pub fn run(state: AppState, listener: TcpListener) -> std::io::Result<()> {
    issue_tracker_web::run_with(state, listener, vec![mount()])
}
