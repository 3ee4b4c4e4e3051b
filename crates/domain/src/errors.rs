use serde::Serialize;

/// The messages of the contract, word for word: clients written for the original service match
/// on them.
pub mod messages {
    /// A field that must be present is absent.
    pub const REQUIRED: &str = "This field is required.";
    /// A field is `null`, or `assigned_to` is `""`.
    pub const NULL: &str = "This field may not be null.";
    /// A text field is empty after trimming.
    pub const BLANK: &str = "This field may not be blank.";
    /// A text field received a boolean, object or array.
    pub const NOT_A_STRING: &str = "Not a valid string.";
    /// Anything but JSON `true` or `false` where a boolean is expected.
    pub const NOT_A_BOOLEAN: &str = "Must be a valid boolean.";
    /// A text field contains U+0000.
    pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";
    /// `assigned_to` received an object, array or boolean.
    pub const INVALID_VALUE: &str = "Invalid value.";
}

/// Validation errors keyed by field, in the order the fields were checked.
///
/// Serializes to the contract's shape: `{"title": ["..."], "status": ["..."]}`.
///
/// ```
/// use issue_tracker_domain::FieldErrors;
///
/// let mut errors = FieldErrors::default();
/// errors.add("title", "This field is required.");
/// assert_eq!(
///     serde_json::to_string(&errors).unwrap(),
///     r#"{"title":["This field is required."]}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(serde_json::Map<String, serde_json::Value>);

impl FieldErrors {
    /// Adds `message` to the list of `field`, once: a message the field already has is not
    /// repeated (a thousand bad values of one parameter give one line, not a thousand).
    ///
    /// ```
    /// use issue_tracker_domain::FieldErrors;
    ///
    /// let mut errors = FieldErrors::default();
    /// errors.add("label", "Too many.");
    /// errors.add("label", "Too many.");
    /// assert_eq!(serde_json::to_string(&errors).unwrap(), r#"{"label":["Too many."]}"#);
    /// ```
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let entry = self
            .0
            .entry(field.to_owned())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let serde_json::Value::Array(list) = entry {
            let message = serde_json::Value::String(message.into());
            if !list.contains(&message) {
                list.push(message);
            }
        }
    }

    /// Adds every message of `other` (kept once each, as [`FieldErrors::add`] does).
    pub fn merge(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            if let serde_json::Value::Array(list) = messages {
                for message in list {
                    if let serde_json::Value::String(message) = message {
                        self.add(&field, message);
                    }
                }
            }
        }
    }

    /// True when no field failed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `field` has at least one message.
    pub fn contains(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// `Ok(value)` when nothing failed, the errors otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}
