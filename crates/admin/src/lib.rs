//! The staff web admin at `/admin/`: server-rendered pages that work without JavaScript.
//!
//! Another adapter beside `api`, mounted in the same server and behind the same middleware (request
//! ids, rate limits, allowed hosts, security headers); it shares the API's state (pool, settings,
//! login throttle). Templates are askama's, checked at compile time and escaped by default; the
//! stylesheet is compiled in. Sessions live in the database (see [`session`]), so several servers
//! share them. Every change goes through the same persistence functions as the API's, with
//! `via: admin` in its history event.

pub mod error;
mod pages;
pub mod session;
pub mod views;

use actix_web::{web, HttpResponse};
use issue_tracker_config::AdminSettings;
use issue_tracker_web::Mount;

/// The stylesheet, compiled in.
const STYLESHEET: &str = include_str!("../static/admin.css");

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("content-type", "text/css; charset=utf-8"))
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(STYLESHEET)
}

/// The length of a report period, for "create this period's reports now".
#[derive(Debug, Clone, Copy)]
pub struct ReportInterval(pub std::time::Duration);

/// The admin's routes, for [`issue_tracker_web::serve_with`].
pub fn mount(settings: AdminSettings, reports: ReportInterval, max_body_bytes: usize) -> Mount {
    let settings = web::Data::new(settings);
    let reports = web::Data::new(reports);
    std::sync::Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.service(
            web::scope("/admin")
                .app_data(settings.clone())
                .app_data(reports.clone())
                .app_data(web::FormConfig::default().limit(max_body_bytes))
                .route("/static/admin.css", web::get().to(stylesheet))
                .route("/login/", web::get().to(pages::account::login_form))
                .route("/login/", web::post().to(pages::account::login))
                .route("/logout/", web::post().to(pages::account::logout))
                .route("/password/", web::get().to(pages::account::password_form))
                .route(
                    "/password/",
                    web::post().to(pages::account::change_password),
                )
                .route("/", web::get().to(pages::dashboard::dashboard))
                .route("/issues/", web::get().to(pages::issues::list))
                .route("/issues/", web::post().to(pages::issues::bulk))
                .route("/issues/add/", web::get().to(pages::issues::add_form))
                .route("/issues/add/", web::post().to(pages::issues::add))
                .route("/issues/{id}/", web::get().to(pages::issues::change_form))
                .route("/issues/{id}/", web::post().to(pages::issues::change))
                .route(
                    "/issues/{id}/delete/",
                    web::get().to(pages::issues::delete_form),
                )
                .route(
                    "/issues/{id}/delete/",
                    web::post().to(pages::issues::delete),
                )
                .route("/labels/", web::get().to(pages::labels::list))
                .route("/labels/add/", web::get().to(pages::labels::add_form))
                .route("/labels/add/", web::post().to(pages::labels::add))
                .route("/labels/{id}/", web::get().to(pages::labels::change_form))
                .route("/labels/{id}/", web::post().to(pages::labels::change))
                .route(
                    "/labels/{id}/delete/",
                    web::get().to(pages::labels::delete_form),
                )
                .route(
                    "/labels/{id}/delete/",
                    web::post().to(pages::labels::delete),
                )
                .route("/webhooks/", web::get().to(pages::webhooks::list))
                .route("/webhooks/add/", web::get().to(pages::webhooks::add_form))
                .route("/webhooks/add/", web::post().to(pages::webhooks::add))
                .route(
                    "/webhooks/{id}/",
                    web::get().to(pages::webhooks::deliveries),
                )
                .route(
                    "/webhooks/{id}/",
                    web::post().to(pages::webhooks::redeliver),
                )
                .route(
                    "/webhooks/{id}/ping/",
                    web::post().to(pages::webhooks::ping),
                )
                .route(
                    "/webhooks/{id}/toggle/",
                    web::post().to(pages::webhooks::toggle),
                )
                .route("/users/", web::get().to(pages::users::list))
                .route("/users/add/", web::get().to(pages::users::add_form))
                .route("/users/add/", web::post().to(pages::users::add))
                .route("/users/{id}/", web::get().to(pages::users::change_form))
                .route("/users/{id}/", web::post().to(pages::users::change))
                .route(
                    "/users/{id}/password/",
                    web::get().to(pages::users::password_form),
                )
                .route(
                    "/users/{id}/password/",
                    web::post().to(pages::users::set_password),
                )
                .route(
                    "/users/{id}/revoke-tokens/",
                    web::post().to(pages::users::revoke_tokens),
                )
                .route(
                    "/users/{id}/tokens/{token}/revoke/",
                    web::post().to(pages::users::revoke_token),
                )
                .route(
                    "/notifications/create-reports/",
                    web::post().to(pages::notifications::create_reports),
                )
                .route("/notifications/", web::get().to(pages::notifications::list))
                .route(
                    "/notifications/",
                    web::post().to(pages::notifications::retry),
                )
                .route("/incoming/", web::get().to(pages::incoming::list))
                .route("/events/", web::get().to(pages::events::list))
                .default_service(web::to(pages::not_found)),
        )
        // `/admin` without its slash, as Django answers it.
        .route(
            "/admin",
            web::get().to(|| async { session::see_other("/admin/") }),
        );
    })
}
