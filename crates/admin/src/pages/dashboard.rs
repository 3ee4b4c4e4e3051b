//! `/admin/`: counts, and the last changes.

use actix_web::HttpResponse;
use askama::Template;
use issue_tracker_domain::{IssueFilter, Status};
use issue_tracker_persistence::EventFilter;

use super::View;
use crate::error::AdminError;
use crate::views::{ok, Chrome, EventView};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    counts: Vec<(&'static str, i64, &'static str)>,
    events: Vec<EventView>,
}

/// `GET /admin/`.
pub async fn dashboard(view: View) -> Result<HttpResponse, AdminError> {
    let (staff, _, state) = view.parts();
    let counter = state.clone();
    let (counts, events) = state
        .run(move |db| {
            let of_status = |status| IssueFilter {
                status: Some(status),
                ..IssueFilter::default()
            };
            let notifications = db.count_notifications()?;
            let notification = |status: &str| {
                notifications
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n)
            };
            let counts = vec![
                ("Users", db.count_users()?, "/admin/users/"),
                (
                    "Open issues",
                    // The API's cached counts (at most two seconds old): a glance, not a ledger.
                    counter.counted(db, &of_status(Status::Open))?,
                    "/admin/issues/?status=open",
                ),
                (
                    "Closed issues",
                    counter.counted(db, &of_status(Status::Closed))?,
                    "/admin/issues/?status=closed",
                ),
                (
                    "Notifications pending",
                    notification("pending"),
                    "/admin/notifications/?status=pending",
                ),
                (
                    "Notifications dead",
                    notification("dead"),
                    "/admin/notifications/?status=dead",
                ),
            ];
            let (events, _) = db.list_events(&EventFilter::default(), 0, 20)?;
            Ok((counts, events))
        })
        .await?;
    Ok(ok(&DashboardPage {
        chrome: Chrome::new(&staff, "dashboard"),
        counts,
        events: events.iter().map(EventView::from).collect(),
    }))
}
