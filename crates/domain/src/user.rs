use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::ids::UserId;

/// Longest username, in characters.
pub const USERNAME_MAX_CHARS: usize = 150;

/// Why a new username was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsernameError {
    /// Empty.
    #[error("This field may not be blank.")]
    Blank,
    /// Over 150 characters.
    #[error("Ensure this field has no more than 150 characters.")]
    TooLong,
    /// A character other than letters, digits and `@ . + - _`.
    #[error("Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.")]
    InvalidCharacters,
}

/// A username for a new account: 1 to 150 letters, digits or `@ . + - _` (the original's rule).
/// Case-sensitive: `Ann` and `ann` are two users.
///
/// ```
/// use issue_tracker_domain::{Username, UsernameError};
///
/// assert_eq!(Username::parse("ann.b+1@x").unwrap().as_str(), "ann.b+1@x");
/// assert_eq!(Username::parse("a b").unwrap_err(), UsernameError::InvalidCharacters);
/// assert_eq!(Username::parse("").unwrap_err(), UsernameError::Blank);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Checks the rules for a new username.
    pub fn parse(value: &str) -> Result<Username, UsernameError> {
        if value.is_empty() {
            return Err(UsernameError::Blank);
        }
        if value.chars().count() > USERNAME_MAX_CHARS {
            return Err(UsernameError::TooLong);
        }
        if !value
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || matches!(c, '@' | '.' | '+' | '-'))
        {
            return Err(UsernameError::InvalidCharacters);
        }
        Ok(Username(value.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, loosely checked (one `@` with text on both sides); may be empty, as in the
/// original, in which case the user gets no email.
///
/// ```
/// use issue_tracker_domain::Email;
/// assert!(Email::parse("ann@example.com").is_ok());
/// assert!(Email::parse("").is_ok());
/// assert!(Email::parse("nope").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Checks the address; the error is the message to show.
    pub fn parse(value: &str) -> Result<Email, String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(Email(String::new()));
        }
        let valid = value.len() <= 254
            && !value.chars().any(|c| c.is_whitespace() || c == '\0')
            && matches!(value.split_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        if valid {
            Ok(Email(value.to_owned()))
        } else {
            Err("Enter a valid email address.".to_owned())
        }
    }

    /// The address ("" when none).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user account as the service sees it (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Internal id.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Address for notifications ("" when none).
    pub email: String,
    /// Inactive users cannot log in and their tokens stop working.
    pub is_active: bool,
    /// Staff may create users through the API.
    pub is_staff: bool,
    /// Superusers are staff with every right.
    pub is_superuser: bool,
    /// When the account was created.
    pub date_joined: DateTime<Utc>,
}

impl User {
    /// Staff rights: staff or superuser (superusers are staff with every right). Whether the
    /// account is active is the caller's other check: an inactive user has no session or token.
    ///
    /// ```
    /// # use issue_tracker_domain::{User, UserId};
    /// let user = User {
    ///     id: UserId::new(1),
    ///     username: "root".into(),
    ///     email: String::new(),
    ///     is_active: true,
    ///     is_staff: false,
    ///     is_superuser: true,
    ///     date_joined: chrono::Utc::now(),
    /// };
    /// assert!(user.has_staff_rights());
    /// ```
    pub fn has_staff_rights(&self) -> bool {
        self.is_staff || self.is_superuser
    }
}
