//! `/admin/issues/`: list (search, filters, sorting, pages, bulk close and delete), add, change
//! (any field, the creator too, with the issue's history), delete with a confirmation step.

use actix_web::{web, HttpResponse};
use issue_tracker_domain::{
    messages, Direction, HistoryPage, Issue, IssueChanges, IssueFilter, IssueId, IssueInput,
    OrderField, SortKey, Status, User, WriteMode,
};
use issue_tracker_persistence::{Database, NewIssue, StoredIssue, WriteCondition};

use super::{path_id, Post, View};
use crate::error::AdminError;
use crate::session::{see_other, Staff};
use crate::views::{
    back_or, column, error_pairs, invalid, notice, ok, paged, plain_column, with_notice, Cell,
    Chrome, ConfirmPage, EventView, Field, FieldKind, Filter, FormData, FormPage, Link, ListPage,
    Row,
};

const LIST: &str = "/admin/issues/";

fn status_choices() -> Vec<(String, String)> {
    vec![
        ("open".into(), "open".into()),
        ("closed".into(), "closed".into()),
    ]
}

/// The filter a list query asks for.
fn filter_of(query: &FormData) -> IssueFilter {
    let text = |name: &str| {
        query
            .get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let order = query.get("order").unwrap_or("-id");
    let (field, descending) = match order.strip_prefix('-') {
        Some(field) => (field, true),
        None => (order, false),
    };
    IssueFilter {
        status: query.get("status").and_then(|s| Status::parse(s).ok()),
        assigned_to: text("assigned_to"),
        created_by: text("created_by"),
        q: text("q").map(|q| {
            q.chars()
                .take(issue_tracker_domain::MAX_SEARCH_CHARS)
                .collect()
        }),
        updated_since: None,
        labels: text("label").into_iter().collect(),
        ordering: vec![SortKey::new(
            OrderField::parse(field).unwrap_or(OrderField::Id),
            match descending {
                true => Direction::Descending,
                false => Direction::Ascending,
            },
        )],
    }
}

/// `GET /admin/issues/`.
pub async fn list(view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let filter = filter_of(&query);
    let asked = query.clone();
    let (issues, pager) = state
        .run(move |db| {
            paged(
                LIST,
                &asked,
                || Ok(db.count_issues_filtered(&filter)?),
                |offset, limit| Ok(db.list_issues_filtered(&filter, offset, limit)?),
            )
        })
        .await?;
    let back = format!("{LIST}?{}", query.query_without(&["notice"]));
    let rows = issues
        .iter()
        .map(|issue| Row {
            id: issue.id.to_string(),
            cells: vec![
                Cell::link(
                    issue.id.to_string(),
                    format!(
                        "/admin/issues/{}/?back={}",
                        issue.id,
                        crate::views::encode(&back)
                    ),
                ),
                Cell::link(
                    issue.title.clone(),
                    format!(
                        "/admin/issues/{}/?back={}",
                        issue.id,
                        crate::views::encode(&back)
                    ),
                ),
                Cell::text(issue.status.as_str()),
                Cell::text(issue.assigned_to.clone()),
                Cell::text(issue.created_by.clone()),
                Cell::text(issue.updated_at.format("%Y-%m-%d %H:%M").to_string()),
            ],
        })
        .collect();
    Ok(ok(&ListPage {
        chrome: Chrome::new(&staff, "issues"),
        title: "Issues".into(),
        path: LIST.into(),
        search_label: "Search titles and descriptions",
        search: query.text("q"),
        filters: vec![
            Filter::select(
                "status",
                "Status",
                &[("", "All"), ("open", "open"), ("closed", "closed")],
                &query,
            ),
            Filter::text("assigned_to", "Assigned to", &query),
            Filter::text("created_by", "Created by", &query),
        ],
        order: query.text("order"),
        columns: vec![
            column("ID", "id", LIST, &query),
            column("Title", "title", LIST, &query),
            column("Status", "status", LIST, &query),
            plain_column("Assigned to"),
            plain_column("Created by"),
            column("Updated", "updated_at", LIST, &query),
        ],
        rows,
        pager,
        bulk_actions: vec![
            ("close", "Close the selected issues"),
            ("delete", "Delete the selected issues"),
        ],
        actions: Vec::new(),
        add_href: format!("/admin/issues/add/?back={}", crate::views::encode(&back)),
        notice: notice(&query),
        back,
    }))
}

/// The issue form as submitted (or as shown): every field as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
struct IssueForm {
    title: String,
    description: String,
    status: String,
    assigned_to: String,
    created_by: String,
}

impl IssueForm {
    /// The form showing an issue as it is.
    fn of(issue: Issue) -> IssueForm {
        IssueForm {
            title: issue.title,
            description: issue.description,
            status: issue.status.as_str().to_owned(),
            assigned_to: issue.assigned_to,
            created_by: issue.created_by,
        }
    }

    /// The fields the domain's [`IssueInput::parse`] reads, as a body would give them.
    fn body(&self) -> serde_json::Map<String, serde_json::Value> {
        [
            ("title", &self.title),
            ("description", &self.description),
            ("status", &self.status),
            ("assigned_to", &self.assigned_to),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), serde_json::Value::String(value.clone())))
        .collect()
    }

    /// The form's fields, filled with what it holds.
    fn fields(self) -> Vec<Field> {
        vec![
            Field::text("title", "Title", self.title).help("1 to 255 characters."),
            Field::text("description", "Description", self.description).kind(FieldKind::TextArea),
            Field::text("status", "Status", self.status).kind(FieldKind::Select(status_choices())),
            Field::text("assigned_to", "Assigned to", self.assigned_to)
                .help("The username of an active user."),
            Field::text("created_by", "Created by", self.created_by)
                .help("The username of a user."),
        ]
    }
}

/// What a valid issue form holds: the changes (every field set) and who created it.
struct Valid {
    changes: IssueChanges,
    /// The assignee's username, as typed (and found).
    assignee: String,
    creator: User,
}

/// Checks the form with the domain's rules and words, as the API does (the assignee through the
/// one rule, [`IssueInput::resolve`]); every error by field. The creator may be any user.
fn validate(
    db: &Database,
    form: &IssueForm,
) -> Result<Result<Valid, Vec<(String, String)>>, AdminError> {
    let (input, errors) = IssueInput::parse(&form.body(), WriteMode::Create);
    let assignee = input.assigned_to.clone().unwrap_or_default();
    let resolved = input.resolve(errors, |name| db.find_active_user_id(name))?;
    let creator = match form.created_by.as_str() {
        "" => Err(messages::NULL.to_owned()),
        name => db
            .find_user(name)?
            .ok_or_else(|| IssueInput::unknown_assignee(name)),
    };
    Ok(match (resolved, creator) {
        (Ok(mut changes), Ok(creator)) => {
            changes.created_by = Some(creator.id);
            Ok(Valid {
                changes,
                assignee,
                creator,
            })
        }
        (resolved, creator) => {
            let mut errors = resolved.err().map(error_pairs).unwrap_or_default();
            if let Err(message) = creator {
                errors.push(("created_by".into(), message));
            }
            Err(errors)
        }
    })
}

fn add_page(staff: &Staff, form: IssueForm, errors: &[(String, String)], back: String) -> FormPage {
    FormPage::new(
        staff,
        "issues",
        "Add issue".into(),
        "/admin/issues/add/".into(),
        form.fields(),
        errors,
        back,
    )
}

/// `GET /admin/issues/add/`.
pub async fn add_form(view: View) -> HttpResponse {
    let (staff, query, _) = view.parts();
    let form = IssueForm {
        status: "open".into(),
        created_by: staff.user.username.clone(),
        ..IssueForm::default()
    };
    ok(&add_page(
        &staff,
        form,
        &[],
        back_or(query.get("back"), LIST),
    ))
}

/// `POST /admin/issues/add/`.
pub async fn add(post: Post) -> Result<HttpResponse, AdminError> {
    let (staff, form, back, state, origin) = post.parts();
    let (delay, debounce) = (state.settings.assign_delay, state.settings.notify_debounce);
    let form: IssueForm = form.to()?;
    let submitted = form.clone();
    let outcome = state
        .run(move |db| {
            let valid = match validate(db, &submitted)? {
                Ok(valid) => valid,
                Err(errors) => return Ok(Err(errors)),
            };
            let changes = &valid.changes;
            let (Some(title), Some(description), Some(status)) =
                (&changes.title, &changes.description, changes.status)
            else {
                return Err(issue_tracker_web::ApiError::Internal(
                    "a valid form lacks a field".into(),
                ));
            };
            let new = NewIssue {
                title,
                description,
                status,
                assignee: &valid.assignee,
            };
            match db.create_issue(&valid.creator, &new, delay, &origin, debounce)? {
                Some(issue) => Ok(Ok(issue)),
                None => Ok(Err(vec![(
                    "assigned_to".into(),
                    IssueInput::unknown_assignee(&valid.assignee),
                )])),
            }
        })
        .await?;
    match outcome {
        Ok(issue) => Ok(see_other(&with_notice(
            &format!(
                "/admin/issues/{}/?back={}",
                issue.id,
                crate::views::encode(&back)
            ),
            "added",
        ))),
        Err(errors) => Ok(invalid(&add_page(&staff, form, &errors, back))),
    }
}

fn load(db: &Database, id: i64) -> Result<StoredIssue, AdminError> {
    let id = IssueId::new(id).ok_or(AdminError::NotFound)?;
    db.get_issue(id)?.ok_or(AdminError::NotFound)
}

fn history(db: &Database, id: i64) -> Result<Vec<EventView>, AdminError> {
    let id = IssueId::new(id).ok_or(AdminError::NotFound)?;
    let mut events = Vec::new();
    let mut after = 0;
    // The whole history, page by page, newest first on the page.
    loop {
        let page = db.issue_history(
            id,
            HistoryPage {
                after,
                per_page: 100,
            },
        )?;
        after = page.events.last().map_or(after, |e| e.id.get());
        events.extend(page.events.iter().map(EventView::from));
        if !page.more {
            break;
        }
    }
    events.reverse();
    Ok(events)
}

/// What the change page shows beside the form: the issue's history and who watches it.
struct About {
    events: Vec<EventView>,
    watchers: Vec<Link>,
}

fn about(db: &Database, id: i64) -> Result<About, AdminError> {
    let issue = IssueId::new(id).ok_or(AdminError::NotFound)?;
    let watchers = db
        .watchers(issue)?
        .ok_or(AdminError::NotFound)?
        .into_iter()
        .map(|w| Link {
            label: format!("{} ({})", w.username, w.reason.as_str()),
            href: format!("/admin/users/{}/", w.user.get()),
        })
        .collect();
    Ok(About {
        events: history(db, id)?,
        watchers,
    })
}

fn change_page(
    staff: &Staff,
    id: i64,
    form: IssueForm,
    errors: &[(String, String)],
    back: String,
    notice: String,
    about: About,
) -> FormPage {
    let delete = Link {
        label: "Delete this issue".into(),
        href: format!(
            "/admin/issues/{id}/delete/?back={}",
            crate::views::encode(&back)
        ),
    };
    FormPage {
        links: vec![delete],
        notice,
        history: Some(about.events),
        watchers: Some(about.watchers),
        ..FormPage::new(
            staff,
            "issues",
            format!("Change issue {id}"),
            format!("/admin/issues/{id}/"),
            form.fields(),
            errors,
            back,
        )
    }
}

/// `GET /admin/issues/<id>/`.
pub async fn change_form(id: web::Path<String>, view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let id = path_id(&id)?;
    let (issue, about) = state
        .run(move |db| Ok((load(db, id)?, about(db, id)?)))
        .await?;
    Ok(ok(&change_page(
        &staff,
        id,
        IssueForm::of(issue.issue),
        &[],
        back_or(query.get("back"), LIST),
        notice(&query),
        about,
    )))
}

/// `POST /admin/issues/<id>/`: any field, the creator too; back to the list with its filters.
pub async fn change(id: web::Path<String>, post: Post) -> Result<HttpResponse, AdminError> {
    let id = path_id(&id)?;
    let (staff, form, back, state, origin) = post.parts();
    let (delay, debounce) = (state.settings.assign_delay, state.settings.notify_debounce);
    let form: IssueForm = form.to()?;
    let submitted = form.clone();
    let outcome = state
        .run(move |db| {
            load(db, id)?;
            let valid = match validate(db, &submitted)? {
                Ok(valid) => valid,
                Err(errors) => return Ok(Err((errors, about(db, id)?))),
            };
            let changes = valid.changes;
            let condition = WriteCondition {
                creator: None,
                version: None,
            };
            let issue_id = IssueId::new(id).ok_or(AdminError::NotFound)?;
            db.update_issue(issue_id, &changes, delay, &condition, &origin, debounce)?
                .map_err(|_| AdminError::NotFound)?;
            Ok(Ok(()))
        })
        .await?;
    match outcome {
        Ok(()) => Ok(see_other(&with_notice(&back, "saved"))),
        Err((errors, about)) => Ok(invalid(&change_page(
            &staff,
            id,
            form,
            &errors,
            back,
            String::new(),
            about,
        ))),
    }
}

/// `GET /admin/issues/<id>/delete/`: the confirmation page.
pub async fn delete_form(id: web::Path<String>, view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let id = path_id(&id)?;
    let back = back_or(query.get("back"), LIST);
    let issue = state.run(move |db| load(db, id).map_err(Into::into)).await;
    let issue = issue.map_err(|_| AdminError::NotFound)?.issue;
    Ok(ok(&ConfirmPage {
        chrome: Chrome::new(&staff, "issues"),
        title: format!("Delete issue {id}?"),
        question: "This deletes the issue and cancels its pending emails. Its history is kept."
            .into(),
        items: vec![format!("{}: {}", issue.id, issue.title)],
        action: format!("/admin/issues/{id}/delete/"),
        hidden: vec![("back".into(), back.clone())],
        confirm: "Yes, delete it",
        cancel: format!("/admin/issues/{id}/?back={}", crate::views::encode(&back)),
    }))
}

/// `POST /admin/issues/<id>/delete/` with `confirm=yes`.
pub async fn delete(id: web::Path<String>, post: Post) -> Result<HttpResponse, AdminError> {
    let id = path_id(&id)?;
    let Post {
        staff: _,
        form,
        back,
        state,
        origin,
    } = post;
    if form.get("confirm") != Some("yes") {
        return Ok(see_other(&format!("/admin/issues/{id}/delete/")));
    }
    let debounce = state.settings.notify_debounce;
    state
        .run(move |db| {
            let issue_id = IssueId::new(id).ok_or(AdminError::NotFound)?;
            let condition = WriteCondition {
                creator: None,
                version: None,
            };
            db.delete_issue(issue_id, &condition, &origin, debounce)?
                .map_err(|_| AdminError::NotFound)?;
            Ok(())
        })
        .await?;
    Ok(see_other(&with_notice(&back, "deleted")))
}

/// `POST /admin/issues/`: a bulk action on the selected rows. The first post shows what will
/// happen; the confirmation (`confirm=yes`) does it.
pub async fn bulk(post: Post) -> Result<HttpResponse, AdminError> {
    let (staff, form, back, state, origin) = post.parts();
    let ids: Vec<i64> = form
        .all("selected")
        .into_iter()
        .filter_map(IssueId::parse)
        .map(IssueId::get)
        .collect();
    let action = form.text("action");
    if ids.is_empty() {
        return Ok(see_other(&with_notice(&back, "none")));
    }
    if !matches!(action.as_str(), "close" | "delete") {
        return Err(AdminError::NotFound);
    }
    if form.get("confirm") != Some("yes") {
        let listed = ids.clone();
        let issues = state
            .run(move |db| {
                let mut found = Vec::new();
                for id in listed {
                    if let Ok(issue) = load(db, id) {
                        found.push(format!("{}: {}", issue.issue.id, issue.issue.title));
                    }
                }
                Ok(found)
            })
            .await?;
        let mut hidden: Vec<(String, String)> = ids
            .iter()
            .map(|id| ("selected".to_owned(), id.to_string()))
            .collect();
        hidden.push(("action".into(), action.clone()));
        hidden.push(("back".into(), back.clone()));
        let (title, question, confirm) = if action == "close" {
            (
                "Close these issues?",
                "Each selected issue is set to closed.",
                "Yes, close them",
            )
        } else {
            (
                "Delete these issues?",
                "Each selected issue is deleted and its pending emails cancelled. Their history is kept.",
                "Yes, delete them",
            )
        };
        return Ok(ok(&ConfirmPage {
            chrome: Chrome::new(&staff, "issues"),
            title: title.into(),
            question: question.into(),
            items: issues,
            action: LIST.into(),
            hidden,
            confirm,
            cancel: back,
        }));
    }
    let (delay, debounce) = (state.settings.assign_delay, state.settings.notify_debounce);
    let close = action == "close";
    state
        .run(move |db| {
            let condition = WriteCondition {
                creator: None,
                version: None,
            };
            for id in ids {
                let Some(issue_id) = IssueId::new(id) else {
                    continue;
                };
                // An issue deleted meanwhile is simply skipped.
                if close {
                    let changes = IssueChanges {
                        status: Some(Status::Closed),
                        ..IssueChanges::default()
                    };
                    let _ =
                        db.update_issue(issue_id, &changes, delay, &condition, &origin, debounce)?;
                } else {
                    let _ = db.delete_issue(issue_id, &condition, &origin, debounce)?;
                }
            }
            Ok(())
        })
        .await?;
    Ok(see_other(&with_notice(
        &back,
        if close { "closed" } else { "deleted" },
    )))
}
