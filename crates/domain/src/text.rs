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

/// How a text field of a request body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    /// Trim like Python's `str.strip()` before the other checks (passwords are not trimmed).
    pub trim: bool,
    /// The most characters allowed, if any.
    pub max_chars: Option<usize>,
}

impl TextRule {
    /// Names (usernames): trimmed, any length (the name's own rules bound it).
    pub const NAME: TextRule = TextRule {
        trim: true,
        max_chars: None,
    };
    /// Secrets (passwords): never trimmed, any length (the password's own rules bound it).
    pub const SECRET: TextRule = TextRule {
        trim: false,
        max_chars: None,
    };
}

/// Parses a JSON value as a non-blank text without NUL, of at most `rule.max_chars` characters.
/// Numbers are taken as their decimal text, as the original did.
///
/// ```
/// use issue_tracker_domain::{parse_text, TextFieldError, TextRule};
/// use serde_json::json;
///
/// let password = TextRule { trim: false, max_chars: None };
/// assert_eq!(parse_text(&json!(" pw "), password), Ok(" pw ".to_owned()));
/// assert_eq!(parse_text(&json!(1234), password), Ok("1234".to_owned()));
/// assert_eq!(parse_text(&json!([]), password), Err(TextFieldError::NotAString));
/// ```
pub fn parse_text(value: &serde_json::Value, rule: TextRule) -> Result<String, TextFieldError> {
    let raw = match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(number) => number.to_string(),
        _ => return Err(TextFieldError::NotAString),
    };
    let text = if rule.trim {
        python_strip(&raw).to_owned()
    } else {
        raw
    };
    if text.is_empty() {
        return Err(TextFieldError::Blank);
    }
    let mut problems = Vec::new();
    if let Some(max_chars) = rule.max_chars {
        if text.chars().count() > max_chars {
            problems.push(format!(
                "Ensure this field has no more than {max_chars} characters."
            ));
        }
    }
    if text.contains('\0') {
        problems.push(messages::NULL_CHARACTERS.to_owned());
    }
    if problems.is_empty() {
        Ok(text)
    } else {
        Err(TextFieldError::Invalid(problems))
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
    parse_text(
        value,
        TextRule {
            trim: true,
            max_chars: Some(max_chars),
        },
    )
}

/// The fields of a request body, read with the contract's rules and messages; every field's
/// errors are collected, in the order the fields are read. The one reader behind the issue,
/// login and user bodies.
///
/// ```
/// use issue_tracker_domain::{BodyFields, TextRule};
/// use serde_json::json;
///
/// let body = json!({"username": " ann ", "password": null});
/// let mut fields = BodyFields::new(body.as_object().unwrap());
/// let rule = TextRule { trim: true, max_chars: None };
/// assert_eq!(fields.text("username", true, rule), Some("ann".to_owned()));
/// assert_eq!(fields.text("password", true, rule), None);
/// assert_eq!(fields.text("otp", false, rule), None);
/// assert_eq!(
///     serde_json::to_value(fields.into_errors()).unwrap(),
///     json!({"password": ["This field may not be null."]})
/// );
/// ```
#[derive(Debug)]
pub struct BodyFields<'a> {
    object: &'a serde_json::Map<String, serde_json::Value>,
    errors: crate::FieldErrors,
}

impl<'a> BodyFields<'a> {
    /// Reads fields of `object`.
    pub fn new(object: &'a serde_json::Map<String, serde_json::Value>) -> BodyFields<'a> {
        BodyFields {
            object,
            errors: crate::FieldErrors::default(),
        }
    }

    /// The field's value. Missing is an error when `required`; `null` always is.
    pub fn value(&mut self, name: &str, required: bool) -> Option<&'a serde_json::Value> {
        match self.object.get(name) {
            None => {
                if required {
                    self.errors.add(name, messages::REQUIRED);
                }
                None
            }
            Some(serde_json::Value::Null) => {
                self.errors.add(name, messages::NULL);
                None
            }
            Some(value) => Some(value),
        }
    }

    /// A text field read by `rule` (see [`parse_text`]).
    pub fn text(&mut self, name: &str, required: bool, rule: TextRule) -> Option<String> {
        let value = self.value(name, required)?;
        match parse_text(value, rule) {
            Ok(text) => Some(text),
            Err(error) => {
                self.add_all(name, error.messages());
                None
            }
        }
    }

    /// A boolean field: JSON `true` or `false` and nothing else (no `"true"`, `1` or `"yes"`:
    /// a client sending those has a bug worth hearing about). `None` when absent or refused.
    ///
    /// ```
    /// use issue_tracker_domain::BodyFields;
    /// use serde_json::json;
    ///
    /// let body = json!({"on": true, "word": "true", "number": 1});
    /// let mut fields = BodyFields::new(body.as_object().unwrap());
    /// assert_eq!(fields.boolean("on"), Some(true));
    /// assert_eq!(fields.boolean("missing"), None);
    /// assert_eq!(fields.boolean("word"), None);
    /// assert_eq!(fields.boolean("number"), None);
    /// assert_eq!(
    ///     serde_json::to_value(fields.into_errors()).unwrap(),
    ///     json!({"word": ["Must be a valid boolean."], "number": ["Must be a valid boolean."]})
    /// );
    /// ```
    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.value(name, false)? {
            serde_json::Value::Bool(flag) => Some(*flag),
            _ => {
                self.errors.add(name, messages::NOT_A_BOOLEAN);
                None
            }
        }
    }

    /// Adds an error of the caller's own to `name`.
    pub fn add(&mut self, name: &str, message: impl Into<String>) {
        self.errors.add(name, message);
    }

    /// Adds several errors to `name`.
    pub fn add_all(&mut self, name: &str, messages: Vec<String>) {
        for message in messages {
            self.errors.add(name, message);
        }
    }

    /// True while no field has failed.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The errors collected.
    pub fn into_errors(self) -> crate::FieldErrors {
        self.errors
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
