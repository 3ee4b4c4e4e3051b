//! `/admin/events/`: the audit log, every event, filterable by type, actor and date.

use actix_web::HttpResponse;
use chrono::NaiveDate;
use issue_tracker_domain::EventType;
use issue_tracker_persistence::EventFilter;

use super::View;
use crate::error::AdminError;
use crate::views::{
    column, notice, ok, paged, plain_column, Cell, Chrome, EventView, Filter, FormData, ListPage,
    Row,
};

const LIST: &str = "/admin/events/";

fn day(query: &FormData, name: &str) -> Option<chrono::NaiveDateTime> {
    query
        .get(name)
        .and_then(|text| NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok())
        .and_then(|date| date.and_hms_opt(0, 0, 0))
}

/// `GET /admin/events/`.
pub async fn list(view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let filter = EventFilter {
        event_type: query.get("type").and_then(EventType::parse),
        actor: query
            .get("actor")
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
        issue: query.get("issue").and_then(|i| i.trim().parse().ok()),
        user: None,
        since: day(&query, "since"),
        // "Until" a day includes that day.
        until: day(&query, "until").map(|d| d + chrono::TimeDelta::days(1)),
        text: query
            .get("q")
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| q.chars().take(200).collect()),
        oldest_first: query.get("order") == Some("id"),
    };
    let asked = query.clone();
    let (events, pager) = state
        .run(move |db| {
            paged(
                LIST,
                &asked,
                || Ok(db.list_events(&filter, 0, 0)?.1),
                |offset, limit| Ok(db.list_events(&filter, offset, limit)?.0),
            )
        })
        .await?;
    let mut types = vec![("", "All")];
    types.extend(EventType::ALL.iter().map(|t| (t.as_str(), t.as_str())));
    let rows = events
        .iter()
        .map(EventView::from)
        .map(|e| Row {
            id: e.id.to_string(),
            cells: vec![
                Cell::text(e.id.to_string()),
                Cell::text(e.at),
                Cell::text(e.event_type),
                Cell::text(e.actor),
                Cell::text(e.via),
                Cell::link(e.subject, e.subject_href),
                Cell::text(e.changes.join("; ")),
            ],
        })
        .collect();
    Ok(ok(&ListPage {
        chrome: Chrome::new(&staff, "events"),
        title: "Audit log".into(),
        path: LIST.into(),
        search_label: "Search changes and users",
        search: query.text("q"),
        filters: vec![
            Filter::select("type", "Type", &types, &query),
            Filter::text("actor", "By (username)", &query),
            Filter::text("since", "From (YYYY-MM-DD)", &query),
            Filter::text("until", "Until (YYYY-MM-DD)", &query),
        ],
        order: query.text("order"),
        columns: std::iter::once(column("#", "id", LIST, &query))
            .chain(
                ["When", "Event", "By", "Via", "Concerns", "Changes"]
                    .into_iter()
                    .map(plain_column),
            )
            .collect(),
        rows,
        pager,
        bulk_actions: Vec::new(),
        actions: Vec::new(),
        add_href: String::new(),
        notice: notice(&query),
        back: String::new(),
    }))
}
