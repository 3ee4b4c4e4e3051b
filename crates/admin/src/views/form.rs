//! Forms: fields with their errors, the form page and the confirmation step.

use super::*;

/// How a form field is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// Several lines.
    TextArea,
    /// A password (never shown again).
    Password,
    /// A checkbox.
    Checkbox,
    /// One of fixed choices: (value, label).
    Select(Vec<(String, String)>),
}

/// One field of a form, with what was typed and its errors.
#[derive(Debug, Clone)]
pub struct Field {
    /// The form name (and the id of its input).
    pub name: &'static str,
    /// The label.
    pub label: &'static str,
    /// How it is shown.
    pub kind: FieldKind,
    /// What it holds (as typed, when the form comes back with errors).
    pub value: String,
    /// Whether a checkbox is ticked.
    pub checked: bool,
    /// The errors, in the API's words.
    pub errors: Vec<String>,
    /// A hint under the field.
    pub help: &'static str,
    /// Must be filled.
    pub required: bool,
}

impl Field {
    /// A text field.
    pub fn text(name: &'static str, label: &'static str, value: impl Into<String>) -> Field {
        Field {
            name,
            label,
            kind: FieldKind::Text,
            value: value.into(),
            checked: false,
            errors: Vec::new(),
            help: "",
            required: true,
        }
    }

    /// The same field, shown as `kind`.
    pub fn kind(mut self, kind: FieldKind) -> Field {
        self.kind = kind;
        self
    }

    /// The same field, optional.
    pub fn optional(mut self) -> Field {
        self.required = false;
        self
    }

    /// The same field, with a hint.
    pub fn help(mut self, help: &'static str) -> Field {
        self.help = help;
        self
    }

    /// A checkbox.
    pub fn checkbox(name: &'static str, label: &'static str, checked: bool) -> Field {
        Field {
            checked,
            required: false,
            ..Field::text(name, label, "").kind(FieldKind::Checkbox)
        }
    }

    /// The id of the element holding its errors (for `aria-describedby`).
    pub fn error_id(&self) -> String {
        format!("{}-errors", self.name)
    }

    /// Whether `value` is the selected choice.
    pub fn selected(&self, value: &str) -> bool {
        self.value == value
    }
}

/// Errors by field name: puts each message next to its field.
pub fn attach_errors(fields: &mut [Field], errors: &[(String, String)]) -> Vec<String> {
    let mut rest = Vec::new();
    for (name, message) in errors {
        match fields.iter_mut().find(|f| f.name == name) {
            Some(field) => field.errors.push(message.clone()),
            None => rest.push(message.clone()),
        }
    }
    rest
}

/// A form page: add or change something.
#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    /// The frame.
    pub chrome: Chrome,
    /// The heading.
    pub title: String,
    /// Where the form posts.
    pub action: String,
    /// The fields.
    pub fields: Vec<Field>,
    /// Errors that belong to no field.
    pub form_errors: Vec<String>,
    /// The submit button's text.
    pub submit: &'static str,
    /// The list to go back to.
    pub back: String,
    /// A message after a successful change.
    pub notice: String,
    /// Links to related actions (delete, set password...).
    pub links: Vec<Link>,
    /// Buttons of related POST actions: (label, action).
    pub actions: Vec<(String, String)>,
    /// The object's history, when it has one.
    pub history: Option<Vec<EventView>>,
    /// Who watches it (an issue), each linking to the user.
    pub watchers: Option<Vec<Link>>,
}

impl FormPage {
    /// A form for `staff` in `section`, its errors put next to their fields; "Save", no notice,
    /// no links, no history (set those after).
    pub fn new(
        staff: &Staff,
        section: &'static str,
        title: String,
        action: String,
        mut fields: Vec<Field>,
        errors: &[(String, String)],
        back: String,
    ) -> FormPage {
        let form_errors = attach_errors(&mut fields, errors);
        FormPage {
            chrome: Chrome::new(staff, section),
            title,
            action,
            fields,
            form_errors,
            submit: "Save",
            back,
            notice: String::new(),
            links: Vec::new(),
            actions: Vec::new(),
            history: None,
            watchers: None,
        }
    }
}

/// A confirmation step before something that cannot be undone.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// The frame.
    pub chrome: Chrome,
    /// The heading.
    pub title: String,
    /// What will happen.
    pub question: String,
    /// The objects concerned, one line each.
    pub items: Vec<String>,
    /// Where the confirmation posts.
    pub action: String,
    /// Hidden fields carried to the confirmation: (name, value).
    pub hidden: Vec<(String, String)>,
    /// The confirm button's text.
    pub confirm: &'static str,
    /// Where "cancel" goes.
    pub cancel: String,
}

/// The API's field errors as (field, message) pairs, for [`attach_errors`].
pub fn error_pairs(errors: issue_tracker_domain::FieldErrors) -> Vec<(String, String)> {
    serde_json::to_value(errors)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(field, messages)| {
            messages
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |m| (field.clone(), m.as_str().unwrap_or_default().to_owned()))
        })
        .collect()
}
