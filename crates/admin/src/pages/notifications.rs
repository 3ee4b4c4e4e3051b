//! `/admin/notifications/`: the outbox by status with the last error; retry dead ones.

use actix_web::HttpResponse;
use issue_tracker_domain::{NotificationId, NotificationStatus};
use issue_tracker_persistence::{NotificationFilter, NotificationOrder};

use super::{Post, View};
use crate::error::AdminError;
use crate::session::see_other;
use crate::views::{
    column, notice, ok, paged, plain_column, with_notice, Cell, Chrome, Filter, ListPage, Row,
};

const LIST: &str = "/admin/notifications/";

/// `GET /admin/notifications/`.
pub async fn list(view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let filter = NotificationFilter {
        status: query.get("status").and_then(NotificationStatus::parse),
        recipient: query
            .get("q")
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| q.chars().take(200).collect()),
        order: match query.get("order") {
            Some("id") => NotificationOrder::Oldest,
            Some("send_after") => NotificationOrder::DueFirst,
            Some("-send_after") => NotificationOrder::DueLast,
            _ => NotificationOrder::Newest,
        },
    };
    let asked = query.clone();
    let (notifications, pager) = state
        .run(move |db| {
            paged(
                LIST,
                &asked,
                || Ok(db.list_notifications_page(&filter, 0, 0)?.1),
                |offset, limit| Ok(db.list_notifications_page(&filter, offset, limit)?.0),
            )
        })
        .await?;
    let mut choices = vec![("", "All")];
    choices.extend(
        NotificationStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.as_str())),
    );
    let rows = notifications
        .iter()
        .map(|n| Row {
            id: n.id.to_string(),
            cells: vec![
                Cell::text(n.id.to_string()),
                Cell::text(n.kind.clone()),
                Cell::text(n.recipient.clone()),
                Cell::text(n.status.clone()),
                Cell::text(n.attempts.to_string()),
                Cell::text(n.send_after.format("%Y-%m-%d %H:%M:%S").to_string()),
                Cell::text(n.last_error.clone().unwrap_or_default()),
            ],
        })
        .collect();
    Ok(ok(&ListPage {
        chrome: Chrome::new(&staff, "notifications"),
        title: "Notifications".into(),
        path: LIST.into(),
        search_label: "Search recipients",
        search: query.text("q"),
        filters: vec![Filter::select("status", "Status", &choices, &query)],
        order: query.text("order"),
        columns: vec![
            column("ID", "id", LIST, &query),
            plain_column("Kind"),
            plain_column("Recipient"),
            plain_column("Status"),
            plain_column("Attempts"),
            column("Due (UTC)", "send_after", LIST, &query),
            plain_column("Last error"),
        ],
        rows,
        pager,
        bulk_actions: vec![("retry", "Retry the selected dead notifications")],
        actions: vec![(
            "Create this period's reports now".to_owned(),
            "/admin/notifications/create-reports/".to_owned(),
        )],
        add_href: String::new(),
        notice: notice(&query),
        back: format!("{LIST}?{}", query.query_without(&["notice"])),
    }))
}

/// `POST /admin/notifications/`: retries the selected dead notifications (others are left).
pub async fn retry(post: Post) -> Result<HttpResponse, AdminError> {
    let Post {
        staff: _,
        form,
        back,
        state,
        origin: _,
    } = post;
    let ids: Vec<NotificationId> = form
        .all("selected")
        .into_iter()
        .filter_map(NotificationId::parse)
        .collect();
    if ids.is_empty() {
        return Ok(see_other(&with_notice(&back, "none")));
    }
    if form.get("action") != Some("retry") {
        return Err(AdminError::NotFound);
    }
    state
        .run(move |db| {
            for id in ids {
                db.retry_notification(id)?;
            }
            Ok(())
        })
        .await?;
    Ok(see_other(&with_notice(&back, "retried")))
}

/// `POST /admin/notifications/create-reports/`: creates this period's reports now (as
/// `issue-tracker notifications create-reports` does; a report is never doubled).
pub async fn create_reports(
    req: actix_web::HttpRequest,
    post: Post,
) -> Result<HttpResponse, AdminError> {
    let (_, _, back, state, _) = post.parts();
    let interval = req
        .app_data::<actix_web::web::Data<crate::ReportInterval>>()
        .ok_or_else(|| AdminError::Internal("ReportInterval missing".into()))?
        .0;
    let period = issue_tracker_domain::report_period(chrono::Utc::now().timestamp(), interval);
    state.run(move |db| Ok(db.create_reports(period)?)).await?;
    Ok(see_other(&with_notice(&back, "reports")))
}
