//! `/admin/labels/`: labels, with how many issues carry each (a link to those issues); add,
//! change, delete.

use actix_web::{web, HttpResponse};
use issue_tracker_domain::{Label, LabelChanges, LabelId, DEFAULT_LABEL_COLOR};
use issue_tracker_persistence::LabelRefused;
use serde_json::{Map, Value};

use super::{Post, View};
use crate::error::AdminError;
use crate::session::{see_other, Staff};
use crate::views::{
    back_or, encode, error_pairs, invalid, notice, ok, paged_in_memory, plain_column, with_notice,
    Cell, Chrome, ConfirmPage, Field, FormPage, ListPage, Row,
};
use issue_tracker_web::ApiError;

const LIST: &str = "/admin/labels/";

/// `GET /admin/labels/`.
pub async fn list(view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let all = state.run(|db| Ok(db.list_labels()?)).await?;
    let (labels, pager) = paged_in_memory(LIST, &query, all);
    let rows = labels
        .iter()
        .map(|label| Row {
            id: label.id.to_string(),
            cells: vec![
                Cell::link(label.name.clone(), format!("{LIST}{}/", label.id)),
                Cell::text(label.color.clone()),
                Cell::text(label.description.clone()),
                Cell::link(
                    "Its issues",
                    format!("/admin/issues/?label={}", encode(&label.name)),
                ),
            ],
        })
        .collect();
    Ok(ok(&ListPage {
        chrome: Chrome::new(&staff, "labels"),
        title: "Labels".into(),
        path: LIST.into(),
        search_label: "",
        search: String::new(),
        filters: Vec::new(),
        order: String::new(),
        columns: vec![
            plain_column("Name"),
            plain_column("Colour"),
            plain_column("Description"),
            plain_column("Issues"),
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

/// The label form as submitted (or shown); a field a form leaves out is `None`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
struct LabelForm {
    name: Option<String>,
    color: Option<String>,
    description: Option<String>,
}

impl LabelForm {
    fn of(label: Label) -> LabelForm {
        LabelForm {
            name: Some(label.name),
            color: Some(label.color),
            description: Some(label.description),
        }
    }

    /// Read by the API's own rules (the same messages).
    fn changes(&self) -> Result<LabelChanges, Vec<(String, String)>> {
        let object: Map<String, Value> = [
            ("name", &self.name),
            ("color", &self.color),
            ("description", &self.description),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), Value::from(value.clone()?))))
        .collect();
        LabelChanges::parse(&object, false).map_err(error_pairs)
    }

    fn fields(self) -> Vec<Field> {
        vec![
            Field::text("name", "Name", self.name.unwrap_or_default())
                .help("1 to 50 characters; unique regardless of case."),
            Field::text("color", "Colour", self.color.unwrap_or_default()).help("#rrggbb"),
            Field::text(
                "description",
                "Description",
                self.description.unwrap_or_default(),
            )
            .optional(),
        ]
    }
}

fn taken() -> Vec<(String, String)> {
    vec![(
        "name".into(),
        "A label with this name already exists.".into(),
    )]
}

fn add_page(staff: &Staff, form: LabelForm, errors: &[(String, String)], back: String) -> FormPage {
    let mut page = FormPage::new(
        staff,
        "labels",
        "Add a label".into(),
        format!("{LIST}add/"),
        form.fields(),
        errors,
        back,
    );
    page.submit = "Add";
    page
}

/// `GET /admin/labels/add/`.
pub async fn add_form(view: View) -> HttpResponse {
    let (staff, query, _) = view.parts();
    let form = LabelForm {
        color: Some(DEFAULT_LABEL_COLOR.into()),
        ..LabelForm::default()
    };
    ok(&add_page(
        &staff,
        form,
        &[],
        back_or(query.get("back"), LIST),
    ))
}

/// `POST /admin/labels/add/`.
pub async fn add(post: Post) -> Result<HttpResponse, AdminError> {
    let (staff, form, back, state, _) = post.parts();
    let form: LabelForm = form.to()?;
    let new = match form.changes() {
        Ok(new) => new,
        Err(errors) => return Ok(invalid(&add_page(&staff, form, &errors, back))),
    };
    match state.run(move |db| Ok(db.create_label(&new)?)).await? {
        Ok(_) => Ok(see_other(&with_notice(&back, "added"))),
        Err(_) => Ok(invalid(&add_page(&staff, form, &taken(), back))),
    }
}

fn change_page(
    staff: &Staff,
    id: LabelId,
    form: LabelForm,
    errors: &[(String, String)],
    back: String,
) -> FormPage {
    let mut page = FormPage::new(
        staff,
        "labels",
        format!("Label {}", form.name.as_deref().unwrap_or_default()),
        format!("{LIST}{id}/"),
        form.fields(),
        errors,
        back.clone(),
    );
    page.links = vec![crate::views::Link {
        label: "Delete this label".into(),
        href: format!("{LIST}{id}/delete/?back={}", encode(&back)),
    }];
    page
}

/// `GET /admin/labels/<id>/`.
pub async fn change_form(id: web::Path<String>, view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let id = LabelId::parse(&id).ok_or(AdminError::NotFound)?;
    let label = state
        .run(move |db| db.get_label(id)?.ok_or(ApiError::NotFound))
        .await?;
    let mut page = change_page(
        &staff,
        id,
        LabelForm::of(label),
        &[],
        back_or(query.get("back"), LIST),
    );
    page.notice = notice(&query);
    Ok(ok(&page))
}

/// `POST /admin/labels/<id>/`: a new name shows on every issue carrying it.
pub async fn change(id: web::Path<String>, post: Post) -> Result<HttpResponse, AdminError> {
    let id = LabelId::parse(&id).ok_or(AdminError::NotFound)?;
    let (staff, form, back, state, _) = post.parts();
    let form: LabelForm = form.to()?;
    let changes = match form.changes() {
        Ok(changes) => changes,
        Err(errors) => return Ok(invalid(&change_page(&staff, id, form, &errors, back))),
    };
    match state
        .run(move |db| Ok(db.update_label(id, &changes)?))
        .await?
    {
        Ok(_) => Ok(see_other(&with_notice(&back, "saved"))),
        Err(LabelRefused::Missing) => Err(AdminError::NotFound),
        Err(LabelRefused::NameTaken) => Ok(invalid(&change_page(&staff, id, form, &taken(), back))),
    }
}

/// `GET /admin/labels/<id>/delete/`: asks first.
pub async fn delete_form(id: web::Path<String>, view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let id = LabelId::parse(&id).ok_or(AdminError::NotFound)?;
    let back = back_or(query.get("back"), LIST);
    let label = state
        .run(move |db| db.get_label(id)?.ok_or(ApiError::NotFound))
        .await?;
    Ok(ok(&ConfirmPage {
        chrome: Chrome::new(&staff, "labels"),
        title: format!("Delete the label {}?", label.name),
        question: "This takes the label off every issue that carries it.".into(),
        items: vec![label.name],
        action: format!("{LIST}{id}/delete/"),
        hidden: vec![("back".into(), back.clone())],
        confirm: "Yes, delete it",
        cancel: format!("{LIST}{id}/?back={}", encode(&back)),
    }))
}

/// `POST /admin/labels/<id>/delete/` with `confirm=yes`.
pub async fn delete(id: web::Path<String>, post: Post) -> Result<HttpResponse, AdminError> {
    let id = LabelId::parse(&id).ok_or(AdminError::NotFound)?;
    let (_, form, back, state, origin) = post.parts();
    if form.get("confirm") != Some("yes") {
        return Ok(see_other(&format!("{LIST}{id}/delete/")));
    }
    match state
        .run(move |db| Ok(db.delete_label(id, &origin)?))
        .await?
    {
        true => Ok(see_other(&with_notice(&back, "deleted"))),
        false => Err(AdminError::NotFound),
    }
}
