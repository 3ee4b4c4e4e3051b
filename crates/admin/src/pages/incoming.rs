//! `/admin/incoming/`: the messages received at reply addresses, newest first, each with what
//! became of it (the comment it made, or why it was refused).

use actix_web::HttpResponse;

use super::View;
use crate::error::AdminError;
use crate::views::{ok, paged, plain_column, Cell, Chrome, ListPage, Row};

const LIST: &str = "/admin/incoming/";

/// `GET /admin/incoming/`.
pub async fn list(view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let asked = query.clone();
    let (records, pager) = state
        .run(move |db| {
            paged(
                LIST,
                &asked,
                || Ok(db.count_incoming()?),
                |offset, limit| Ok(db.list_incoming(offset, limit)?),
            )
        })
        .await?;
    let rows = records
        .iter()
        .map(|record| {
            let outcome = match (&record.comment, &record.refused) {
                (Some(comment), _) => match record.issue {
                    Some(issue) => Cell::link(
                        format!("comment {} on #{issue}", comment.get()),
                        format!("/admin/issues/{issue}/"),
                    ),
                    None => Cell::text(format!("comment {}", comment.get())),
                },
                (None, Some((_, detail))) => Cell::text(format!("refused: {detail}")),
                (None, None) => Cell::text(String::new()),
            };
            Row {
                id: record.id.to_string(),
                cells: vec![
                    Cell::text(record.received_at.format("%Y-%m-%d %H:%M:%S").to_string()),
                    Cell::text(record.transport.clone()),
                    Cell::text(record.sender.clone()),
                    Cell::text(record.subject.clone()),
                    Cell::text(record.recipient.clone()),
                    outcome,
                ],
            }
        })
        .collect();
    Ok(ok(&ListPage {
        chrome: Chrome::new(&staff, "incoming"),
        title: "Received email".into(),
        path: LIST.into(),
        search_label: "",
        search: String::new(),
        filters: Vec::new(),
        order: String::new(),
        columns: vec![
            plain_column("Received (UTC)"),
            plain_column("Way in"),
            plain_column("Sender"),
            plain_column("Subject"),
            plain_column("Reply address"),
            plain_column("Outcome"),
        ],
        rows,
        pager,
        bulk_actions: Vec::new(),
        actions: Vec::new(),
        add_href: String::new(),
        notice: String::new(),
        back: LIST.into(),
    }))
}
