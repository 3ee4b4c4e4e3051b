use thiserror::Error;

/// bcrypt reads at most 72 bytes; longer passwords are refused rather than silently truncated.
pub const PASSWORD_MAX_BYTES: usize = 72;

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PasswordError {
    /// Empty or only whitespace.
    #[error("This field may not be blank.")]
    Blank,
    /// Over 72 bytes in UTF-8.
    #[error("Ensure this field has no more than 72 bytes (bcrypt's limit).")]
    TooLong,
    /// Contains U+0000.
    #[error("Null characters are not allowed.")]
    NulCharacter,
}

/// A password that may be set: not blank, at most 72 bytes, no NUL. It is never trimmed.
///
/// ```
/// use issue_tracker_domain::{Password, PasswordError};
///
/// assert!(Password::parse("correct horse").is_ok());
/// assert_eq!(Password::parse("   ").unwrap_err(), PasswordError::Blank);
/// // 25 × "€" is 75 bytes: counted in bytes, not characters.
/// assert_eq!(Password::parse(&"€".repeat(25)).unwrap_err(), PasswordError::TooLong);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Checks the rules for a password being set.
    pub fn parse(value: &str) -> Result<Password, PasswordError> {
        if crate::python_strip(value).is_empty() {
            return Err(PasswordError::Blank);
        }
        if value.len() > PASSWORD_MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        if value.contains('\0') {
            return Err(PasswordError::NulCharacter);
        }
        Ok(Password(value.to_owned()))
    }

    /// The secret itself; hash it, never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}
