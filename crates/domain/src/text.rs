use crate::errors::messages;

/// Trims like Python's `str.strip()`, which the original service used: Unicode whitespace plus the
/// ASCII separators U+001C..U+001F that Rust's `char::is_whitespace` leaves alone.
///
/// ```
/// assert_eq!(issue_tracker_domain::python_strip("\u{1f} a b \n"), "a b");
/// ```
pub fn python_strip(value: &str) -> &str {
    value.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Why a text field was refused; each variant carries the contract's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextFieldError {
    /// Boolean, object or array.
    NotAString,
    /// Empty after trimming.
    Blank,
    /// Longer than the limit (in characters) and/or contains U+0000. Both messages may apply.
    Invalid(Vec<String>),
}

impl TextFieldError {
    /// The messages to report for the field, in the original's order.
    pub fn messages(&self) -> Vec<String> {
        match self {
            TextFieldError::NotAString => vec![messages::NOT_A_STRING.to_owned()],
            TextFieldError::Blank => vec![messages::BLANK.to_owned()],
            TextFieldError::Invalid(list) => list.clone(),
        }
    }
}

/// Parses a JSON value as a trimmed, non-blank text of at most `max_chars` characters without NUL.
/// Numbers are taken as their decimal text, as the original did.
///
/// ```
/// use issue_tracker_domain::{parse_text_field, TextFieldError};
/// use serde_json::json;
///
/// assert_eq!(parse_text_field(&json!(" hi "), 10), Ok("hi".to_owned()));
/// assert_eq!(parse_text_field(&json!(12), 10), Ok("12".to_owned()));
/// assert_eq!(parse_text_field(&json!(true), 10), Err(TextFieldError::NotAString));
/// assert_eq!(parse_text_field(&json!("  "), 10), Err(TextFieldError::Blank));
/// ```
pub fn parse_text_field(
    value: &serde_json::Value,
    max_chars: usize,
) -> Result<String, TextFieldError> {
    let raw = match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(number) => number.to_string(),
        _ => return Err(TextFieldError::NotAString),
    };
    let trimmed = python_strip(&raw);
    if trimmed.is_empty() {
        return Err(TextFieldError::Blank);
    }
    let mut problems = Vec::new();
    if trimmed.chars().count() > max_chars {
        problems.push(format!(
            "Ensure this field has no more than {max_chars} characters."
        ));
    }
    if trimmed.contains('\0') {
        problems.push(messages::NULL_CHARACTERS.to_owned());
    }
    if problems.is_empty() {
        Ok(trimmed.to_owned())
    } else {
        Err(TextFieldError::Invalid(problems))
    }
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses text: trimmed, not blank, within the length limit, without NUL.
            pub fn parse(value: &str) -> Result<$name, TextFieldError> {
                parse_text_field(&serde_json::Value::String(value.to_owned()), $max).map($name)
            }

            /// Parses a JSON value as the contract accepts it (strings and numbers).
            pub fn parse_json(value: &serde_json::Value) -> Result<$name, TextFieldError> {
                parse_text_field(value, $max).map($name)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The owned text.
            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}

text_newtype!(
    /// An issue title: at most [`TITLE_MAX_CHARS`](crate::TITLE_MAX_CHARS) characters after trimming.
    ///
    /// ```
    /// use issue_tracker_domain::Title;
    /// assert!(Title::parse(&"é".repeat(255)).is_ok());
    /// assert!(Title::parse(&"é".repeat(256)).is_err());
    /// ```
    Title,
    crate::TITLE_MAX_CHARS
);

text_newtype!(
    /// An issue description: at most [`DESCRIPTION_MAX_CHARS`](crate::DESCRIPTION_MAX_CHARS)
    /// characters after trimming.
    ///
    /// ```
    /// use issue_tracker_domain::Description;
    /// assert_eq!(Description::parse(" fix it ").unwrap().as_str(), "fix it");
    /// ```
    Description,
    crate::DESCRIPTION_MAX_CHARS
);
