//! `/admin/webhooks/`: webhook endpoints (add one; its secret is shown once), and each one's
//! delivery log with its attempts: filter by status, redeliver the selected, ping, turn on or off.

use actix_web::{web, HttpResponse};
use issue_tracker_domain::{
    new_webhook_secret, DeliveryId, DeliveryStatus, WebhookChanges, WebhookId,
};
use serde_json::{Map, Value};

use super::{Post, View};
use crate::error::AdminError;
use crate::session::{see_other, Staff};
use crate::views::{
    back_or, error_pairs, invalid, notice, ok, paged, paged_in_memory, plain_column, ticked,
    with_notice, Cell, Chrome, Field, Filter, FormData, FormPage, ListPage, Row,
};
use issue_tracker_web::ApiError;

const LIST: &str = "/admin/webhooks/";

/// `GET /admin/webhooks/`.
pub async fn list(view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let all = state.run(|db| Ok(db.list_webhooks()?)).await?;
    let (hooks, pager) = paged_in_memory(LIST, &query, all);
    let rows = hooks
        .iter()
        .map(|hook| Row {
            id: hook.id.to_string(),
            cells: vec![
                Cell::link(hook.id.to_string(), format!("{LIST}{}/", hook.id)),
                Cell::link(hook.url.clone(), format!("{LIST}{}/", hook.id)),
                Cell::text(hook.events.join(", ")),
                Cell::text(if hook.active { "yes" } else { "no" }),
                Cell::text(hook.created_at.format("%Y-%m-%d %H:%M").to_string()),
            ],
        })
        .collect();
    Ok(ok(&ListPage {
        chrome: Chrome::new(&staff, "webhooks"),
        title: "Webhooks".into(),
        path: LIST.into(),
        search_label: "",
        search: String::new(),
        filters: Vec::new(),
        order: String::new(),
        columns: vec![
            plain_column("ID"),
            plain_column("URL"),
            plain_column("Events"),
            plain_column("Active"),
            plain_column("Created (UTC)"),
        ],
        rows,
        pager,
        bulk_actions: Vec::new(),
        actions: Vec::new(),
        add_href: format!("{LIST}add/"),
        notice: notice(&query),
        back: format!("{LIST}?{}", query.query_without(&["notice"])),
    }))
}

/// The new-webhook form as submitted (`None`: the form was not submitted yet).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
struct WebhookForm {
    url: Option<String>,
    events: Option<String>,
    #[serde(deserialize_with = "ticked")]
    active: bool,
}

fn add_page(
    staff: &Staff,
    form: &WebhookForm,
    errors: &[(String, String)],
    back: String,
) -> FormPage {
    let fields = vec![
        Field::text("url", "URL", form.url.clone().unwrap_or_default())
            .help("http(s); internal addresses are refused."),
        Field::text("events", "Events", form.events.as_deref().unwrap_or("*")).help(
            "Event types separated by commas (issue.created, issue.updated, ...), or * for all.",
        ),
        // Active unless a submitted form says otherwise.
        Field::checkbox("active", "Active", form.url.is_none() || form.active),
    ];
    let mut page = FormPage::new(
        staff,
        "webhooks",
        "Add a webhook".into(),
        format!("{LIST}add/"),
        fields,
        errors,
        back,
    );
    page.submit = "Add";
    page
}

/// `GET /admin/webhooks/add/`.
pub async fn add_form(view: View) -> HttpResponse {
    let (staff, query, _) = view.parts();
    ok(&add_page(
        &staff,
        &WebhookForm::default(),
        &[],
        back_or(query.get("back"), LIST),
    ))
}

/// `POST /admin/webhooks/add/`: registers it, then shows its secret this once.
pub async fn add(post: Post) -> Result<HttpResponse, AdminError> {
    let (staff, form, back, state, _) = post.parts();
    let form: WebhookForm = form.to()?;
    let mut object = Map::new();
    object.insert(
        "url".into(),
        Value::from(form.url.clone().unwrap_or_default()),
    );
    let events: Vec<Value> = form
        .events
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(Value::from)
        .collect();
    object.insert("events".into(), Value::Array(events));
    object.insert("active".into(), Value::Bool(form.active));
    let changes = match WebhookChanges::parse(&object, false) {
        Ok(changes) => changes,
        Err(errors) => {
            let errors = error_pairs(errors);
            return Ok(invalid(&add_page(&staff, &form, &errors, back)));
        }
    };
    if let Some(problem) = changes.url.as_deref().and_then(|url| {
        issue_tracker_domain::webhook_literal_refusal(url, &state.settings.webhook_allowed_hosts)
    }) {
        return Ok(invalid(&add_page(
            &staff,
            &form,
            &[("url".into(), problem)],
            back,
        )));
    }
    let secret = new_webhook_secret();
    let shown = secret.clone();
    let hook = state
        .run(move |db| Ok(db.create_webhook(&changes, &secret)?))
        .await?;
    let mut page = deliveries_page(&staff, &FormData(Vec::new()), &state, hook.id).await?;
    page.notice = format!(
        "Added. Its signing secret, shown this once: {shown} (verify deliveries with it: Standard Webhooks)."
    );
    Ok(ok(&page))
}

async fn deliveries_page(
    staff: &Staff,
    query: &FormData,
    state: &web::Data<issue_tracker_web::AppState>,
    id: WebhookId,
) -> Result<ListPage, AdminError> {
    let path = format!("{LIST}{id}/");
    let status = query.get("status").and_then(DeliveryStatus::parse);
    let asked = query.clone();
    let list_path = path.clone();
    let (hook, (deliveries, pager)) = state
        .run(move |db| {
            let hook = db.get_webhook(id)?.ok_or(ApiError::NotFound)?;
            let page = paged(
                &list_path,
                &asked,
                || {
                    Ok::<_, ApiError>(
                        db.list_deliveries(id, status, 0, 1)?
                            .map(|(_, total)| total)
                            .unwrap_or(0),
                    )
                },
                |offset, limit| {
                    Ok(db
                        .list_deliveries(id, status, offset, limit)?
                        .map(|(list, _)| list)
                        .unwrap_or_default())
                },
            )?;
            Ok((hook, page))
        })
        .await?;
    let rows = deliveries
        .iter()
        .map(|d| {
            let last = d.attempts.last();
            Row {
                id: d.id.to_string(),
                cells: vec![
                    Cell::text(d.id.to_string()),
                    Cell::text(format!("{} ({})", d.event_type, d.message_id)),
                    Cell::text(d.status.as_str()),
                    Cell::text(d.attempts.len().to_string()),
                    Cell::text(
                        last.and_then(|a| a.status_code)
                            .map(|s| s.to_string())
                            .unwrap_or_default(),
                    ),
                    Cell::text(
                        last.map(|a| {
                            a.error
                                .clone()
                                .unwrap_or_else(|| a.response.chars().take(200).collect())
                        })
                        .unwrap_or_default(),
                    ),
                    Cell::text(d.created_at.format("%Y-%m-%d %H:%M:%S").to_string()),
                ],
            }
        })
        .collect();
    let choices: Vec<(&str, &str)> = std::iter::once(("", "All"))
        .chain(DeliveryStatus::ALL.map(|s| (s.as_str(), s.as_str())))
        .collect();
    Ok(ListPage {
        chrome: Chrome::new(staff, "webhooks"),
        title: format!(
            "Webhook {id}: {} ({})",
            hook.url,
            if hook.active { "active" } else { "inactive" }
        ),
        path: path.clone(),
        search_label: "",
        search: String::new(),
        filters: vec![Filter::select("status", "Status", &choices, query)],
        order: String::new(),
        columns: vec![
            plain_column("Delivery"),
            plain_column("Event (webhook-id)"),
            plain_column("Status"),
            plain_column("Attempts"),
            plain_column("Last status"),
            plain_column("Last error or response"),
            plain_column("Created (UTC)"),
        ],
        rows,
        pager,
        bulk_actions: vec![("redeliver", "Redeliver the selected (same webhook-id)")],
        actions: vec![
            ("Send a ping".to_owned(), format!("{path}ping/")),
            (
                if hook.active {
                    "Turn it off"
                } else {
                    "Turn it on"
                }
                .to_owned(),
                format!("{path}toggle/"),
            ),
        ],
        add_href: String::new(),
        notice: notice(query),
        back: format!("{path}?{}", query.query_without(&["notice"])),
    })
}

/// `GET /admin/webhooks/<id>/`: the endpoint's delivery log.
pub async fn deliveries(id: web::Path<String>, view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let id = WebhookId::parse(&id).ok_or(AdminError::NotFound)?;
    Ok(ok(&deliveries_page(&staff, &query, &state, id).await?))
}

/// `POST /admin/webhooks/<id>/`: redelivers the selected deliveries.
pub async fn redeliver(id: web::Path<String>, post: Post) -> Result<HttpResponse, AdminError> {
    let id = WebhookId::parse(&id).ok_or(AdminError::NotFound)?;
    let (_, form, back, state, _) = post.parts();
    let selected: Vec<DeliveryId> = form
        .all("selected")
        .into_iter()
        .filter_map(DeliveryId::parse)
        .collect();
    if selected.is_empty() {
        return Ok(see_other(&with_notice(&back, "none")));
    }
    if form.get("action") != Some("redeliver") {
        return Err(AdminError::NotFound);
    }
    state
        .run(move |db| {
            db.get_webhook(id)?.ok_or(ApiError::NotFound)?;
            for delivery in selected {
                db.redeliver(id, delivery)?;
            }
            Ok(())
        })
        .await?;
    Ok(see_other(&with_notice(&back, "redelivered")))
}

/// `POST /admin/webhooks/<id>/ping/`.
pub async fn ping(id: web::Path<String>, post: Post) -> Result<HttpResponse, AdminError> {
    let id = WebhookId::parse(&id).ok_or(AdminError::NotFound)?;
    let (_, _, back, state, _) = post.parts();
    state
        .run(move |db| db.ping_webhook(id)?.ok_or(ApiError::NotFound))
        .await?;
    Ok(see_other(&with_notice(&back, "pinged")))
}

/// `POST /admin/webhooks/<id>/toggle/`: turns it on or off.
pub async fn toggle(id: web::Path<String>, post: Post) -> Result<HttpResponse, AdminError> {
    let id = WebhookId::parse(&id).ok_or(AdminError::NotFound)?;
    let (_, _, back, state, _) = post.parts();
    state
        .run(move |db| {
            let hook = db.get_webhook(id)?.ok_or(ApiError::NotFound)?;
            let changes = WebhookChanges {
                active: Some(!hook.active),
                ..WebhookChanges::default()
            };
            db.update_webhook(id, &changes)?;
            Ok(())
        })
        .await?;
    Ok(see_other(&with_notice(&back, "saved")))
}
