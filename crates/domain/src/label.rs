//! Labels: named, coloured tags that staff define and issues carry.

use serde::Serialize;
use serde_json::Value;

use crate::errors::messages;
use crate::{BodyFields, FieldErrors, LabelId, TextRule};

/// The longest label name, in characters.
pub const LABEL_NAME_MAX_CHARS: usize = 50;
/// The longest label description, in characters.
pub const LABEL_DESCRIPTION_MAX_CHARS: usize = 100;
/// The most labels one request may name (an issue can carry this many).
pub const MAX_LABELS_PER_REQUEST: usize = 100;
/// The colour of a label created without one (GitHub's grey).
pub const DEFAULT_LABEL_COLOR: &str = "#ededed";

/// A label, as the API shows it (keys in this order).
///
/// ```
/// use issue_tracker_domain::{Label, LabelId};
/// let label = Label { id: LabelId::from_stored(1), name: "bug".into(), color: "#d73a4a".into(), description: String::new() };
/// assert_eq!(
///     serde_json::to_string(&label).unwrap(),
///     r##"{"id":1,"name":"bug","color":"#d73a4a","description":""}"##
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "A label: named, coloured, unique regardless of case.")
)]
pub struct Label {
    /// Its id.
    pub id: LabelId,
    /// Its name, unique regardless of case.
    pub name: String,
    /// `#rrggbb`, lower-case.
    pub color: String,
    /// What it means (may be empty).
    pub description: String,
}

/// The key that makes names unique regardless of case: "Bug" and "bug" are the same label.
///
/// ```
/// assert_eq!(issue_tracker_domain::label_key("Ünïcode BUG"), "ünïcode bug");
/// ```
pub fn label_key(name: &str) -> String {
    name.to_lowercase()
}

/// Sorts label names the way issues show them: by [`label_key`], then by the name itself.
///
/// ```
/// let mut names = vec!["ui".to_owned(), "Bug".to_owned(), "api".to_owned()];
/// issue_tracker_domain::sort_label_names(&mut names);
/// assert_eq!(names, ["api", "Bug", "ui"]);
/// ```
pub fn sort_label_names(names: &mut [String]) {
    names.sort_by_cached_key(|name| (label_key(name), name.clone()));
}

/// Reads one label name: trimmed, 1..=50 characters, no control characters.
///
/// ```
/// use issue_tracker_domain::parse_label_name;
/// use serde_json::json;
/// assert_eq!(parse_label_name(&json!(" good first issue ")), Ok("good first issue".to_owned()));
/// assert!(parse_label_name(&json!("")).is_err());
/// assert!(parse_label_name(&json!("x".repeat(51))).is_err());
/// assert!(parse_label_name(&json!("tab\there")).is_err());
/// assert!(parse_label_name(&json!(7)).is_err());
/// ```
pub fn parse_label_name(value: &Value) -> Result<String, Vec<String>> {
    let Value::String(raw) = value else {
        return Err(vec![messages::NOT_A_STRING.to_owned()]);
    };
    let name = crate::python_strip(raw);
    if name.is_empty() {
        return Err(vec![messages::BLANK.to_owned()]);
    }
    let mut problems = Vec::new();
    if name.chars().count() > LABEL_NAME_MAX_CHARS {
        problems.push(format!(
            "Ensure this field has no more than {LABEL_NAME_MAX_CHARS} characters."
        ));
    }
    if name.chars().any(char::is_control) {
        problems.push("Label names may not contain control characters.".to_owned());
    }
    match problems.is_empty() {
        true => Ok(name.to_owned()),
        false => Err(problems),
    }
}

/// Reads a colour: `#rrggbb` (hex digits in either case; stored lower-case).
///
/// ```
/// use issue_tracker_domain::parse_label_color;
/// use serde_json::json;
/// assert_eq!(parse_label_color(&json!("#D73A4A")), Ok("#d73a4a".to_owned()));
/// assert!(parse_label_color(&json!("d73a4a")).is_err());
/// assert!(parse_label_color(&json!("#fff")).is_err());
/// assert!(parse_label_color(&json!("#gggggg")).is_err());
/// ```
pub fn parse_label_color(value: &Value) -> Result<String, String> {
    match value {
        Value::String(text)
            if text.len() == 7
                && text.starts_with('#')
                && text[1..].bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(text.to_ascii_lowercase())
        }
        _ => Err("Enter a colour as #rrggbb (six hexadecimal digits).".to_owned()),
    }
}

/// What a label request sets: every field on creation, any of them on a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new colour (`#rrggbb`, lower-case).
    pub color: Option<String>,
    /// A new description.
    pub description: Option<String>,
}

impl LabelChanges {
    /// Reads a label body. On creation (`partial` false) `name` is required and the others
    /// default ([`DEFAULT_LABEL_COLOR`], empty); on a change every field may be left out.
    ///
    /// ```
    /// use issue_tracker_domain::LabelChanges;
    /// use serde_json::json;
    ///
    /// let body = json!({"name": "bug", "color": "#D73A4A"});
    /// let new = LabelChanges::parse(body.as_object().unwrap(), false).unwrap();
    /// assert_eq!(new.color.as_deref(), Some("#d73a4a"));
    /// assert_eq!(new.description.as_deref(), Some(""));
    ///
    /// let bad = json!({"color": "red"});
    /// let errors = LabelChanges::parse(bad.as_object().unwrap(), false).unwrap_err();
    /// assert_eq!(
    ///     serde_json::to_value(errors).unwrap(),
    ///     json!({"name": ["This field is required."], "color": ["Enter a colour as #rrggbb (six hexadecimal digits)."]})
    /// );
    /// ```
    pub fn parse(
        object: &serde_json::Map<String, Value>,
        partial: bool,
    ) -> Result<LabelChanges, FieldErrors> {
        let mut fields = BodyFields::new(object);
        let mut changes = LabelChanges::default();
        if let Some(value) = fields.value("name", !partial) {
            match parse_label_name(value) {
                Ok(name) => changes.name = Some(name),
                Err(problems) => fields.add_all("name", problems),
            }
        }
        if let Some(value) = fields.value("color", false) {
            match parse_label_color(value) {
                Ok(color) => changes.color = Some(color),
                Err(problem) => fields.add("color", problem),
            }
        }
        let description = TextRule {
            trim: true,
            max_chars: Some(LABEL_DESCRIPTION_MAX_CHARS),
        };
        // An empty description is allowed (it clears it), unlike other text fields.
        match object.get("description") {
            Some(Value::String(text)) if crate::python_strip(text).is_empty() => {
                changes.description = Some(String::new())
            }
            Some(_) => changes.description = fields.text("description", false, description),
            None => {}
        }
        if !partial {
            changes
                .color
                .get_or_insert_with(|| DEFAULT_LABEL_COLOR.to_owned());
            changes.description.get_or_insert_with(String::new);
        }
        let ok = fields.ok();
        let errors = fields.into_errors();
        match ok {
            true => Ok(changes),
            false => Err(errors),
        }
    }
}

/// Reads the `labels` of an issue-labels request: a list of names (duplicates, in any case,
/// count once), at most [`MAX_LABELS_PER_REQUEST`]. `required_nonempty` refuses an empty list
/// (adding nothing is a mistake; replacing with nothing clears).
///
/// ```
/// use issue_tracker_domain::parse_label_list;
/// use serde_json::json;
/// assert_eq!(parse_label_list(&json!(["bug", "BUG", " ui "]), true), Ok(vec!["bug".to_owned(), "ui".to_owned()]));
/// assert!(parse_label_list(&json!([]), true).is_err());
/// assert_eq!(parse_label_list(&json!([]), false), Ok(vec![]));
/// assert!(parse_label_list(&json!("bug"), true).is_err());
/// assert!(parse_label_list(&json!([1]), true).is_err());
/// ```
pub fn parse_label_list(value: &Value, required_nonempty: bool) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err("Expected a list of label names.".to_owned());
    };
    if items.len() > MAX_LABELS_PER_REQUEST {
        return Err(format!(
            "Ensure this list has no more than {MAX_LABELS_PER_REQUEST} elements."
        ));
    }
    if required_nonempty && items.is_empty() {
        return Err("This list may not be empty.".to_owned());
    }
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let name = parse_label_name(item)
            .map_err(|problems| format!("Item {index}: {}", problems.join(" ")))?;
        if !names.iter().any(|n| label_key(n) == label_key(&name)) {
            names.push(name);
        }
    }
    Ok(names)
}
