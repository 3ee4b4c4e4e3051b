//! The OpenAPI 3.1 description of the API, served at `/api/openapi.json`, and the Swagger UI at
//! `/api/docs/` (its assets are compiled in: it works with no internet). Made from the routes'
//! annotations and the types they name (`crate::schemas`); `tests/api/openapi.rs` checks that
//! every route of the route table is described, and CI runs schemathesis against the server
//! from this document.

use issue_tracker_domain::{MAX_PARAMETER_CHARS, MAX_PER_PAGE};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};

use crate::routes;

/// The list's query limits, from the same constants the parser enforces.
struct QueryLimits;

impl Modify for QueryLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(list) = openapi
            .paths
            .paths
            .get_mut("/api/issue/")
            .and_then(|item| item.get.as_mut())
        else {
            return;
        };
        for parameter in list.parameters.iter_mut().flatten() {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() else {
                continue;
            };
            match parameter.name.as_str() {
                "per_page" => schema.maximum = Some(f64::from(MAX_PER_PAGE).into()),
                "page" => {}
                _ => schema.max_length = Some(MAX_PARAMETER_CHARS),
            }
        }
    }
}

struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <40-hex key>` (or `Bearer <key>`), from POST /api/user/get_auth_token/",
            ))),
        );
    }
}

/// The whole document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "issue-tracker",
        description = "File issues and assign them to users; email notifications. Compatible with the original Django REST Framework API.",
    ),
    paths(
        routes::login::obtain_token,
        routes::issues::list_issues,
        routes::issues::create_issue,
        routes::issues::get_issue,
        routes::issues::replace_issue,
        routes::issues::update_issue,
        routes::issues::delete_issue,
        routes::history::event_feed,
        routes::comments::list_comments,
        routes::comments::create_comment,
        routes::comments::get_comment,
        routes::comments::edit_comment,
        routes::comments::delete_comment,
        routes::labels::list_labels,
        routes::labels::create_label,
        routes::labels::get_label,
        routes::labels::update_label,
        routes::labels::delete_label,
        routes::subscriptions::get_subscription,
        routes::subscriptions::watch,
        routes::subscriptions::unwatch,
        routes::inbox::list_inbox,
        routes::inbox::mark_entry,
        routes::inbox::mark_done,
        routes::inbox::mark_all_read,
        routes::streams::notification_stream,
        routes::streams::event_stream,
        routes::labels::list_issue_labels,
        routes::labels::add_issue_labels,
        routes::labels::replace_issue_labels,
        routes::labels::remove_issue_label,
        routes::webhooks::list_webhooks,
        routes::webhooks::create_webhook,
        routes::webhooks::get_webhook,
        routes::webhooks::update_webhook,
        routes::webhooks::delete_webhook,
        routes::webhooks::rotate_secret,
        routes::webhooks::ping,
        routes::webhooks::list_deliveries,
        routes::webhooks::redeliver,
        routes::users::get_me,
        routes::users::get_notification_preferences,
        routes::users::set_notification_preferences,
        routes::users::create_user,
        routes::users::list_tokens,
        routes::users::create_scoped_token,
        routes::users::revoke_token,
        routes::users::logout,
        routes::history::issue_history,
        routes::history::history_feed,
        routes::operations::health,
        routes::operations::ready,
        routes::operations::metrics,
    ),
    modifiers(&TokenAuth, &QueryLimits),
)]
pub struct ApiDoc;

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The OpenAPI document as JSON, made once per process and served as it is. Handed to the
/// Swagger UI as a value, it was kept (about 2 MB of maps) by every HTTP worker's app and
/// serialized again on every request.
pub fn document_json() -> &'static [u8] {
    static JSON: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        serde_json::to_vec(&document()).expect("an OpenAPI document always serializes to JSON")
    })
}
