//! What an import from the original Django deployment may take, row by row: each row our rules
//! would refuse is named with every reason, never truncated or changed to fit.

use crate::stored_password::{classify_stored_hash, StoredHashKind};
use crate::{Description, Email, Status, Title, Username};

/// Why rows of the original's tables cannot be imported: each reason a row fails.
///
/// ```
/// use issue_tracker_domain::{django_issue_refusals, django_user_refusals};
///
/// assert!(django_user_refusals(Some("ann"), Some("ann@example.com"), Some("!unusable"), true).is_empty());
/// assert_eq!(
///     django_user_refusals(Some("a b"), Some("nope"), Some("md5$s$h"), true),
///     [
///         "username \"a b\": Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
///         "email \"nope\": Enter a valid email address.",
///         "password: a md5 hash, which this service does not verify",
///     ]
/// );
/// let known = |name: &str| name == "ann";
/// assert_eq!(
///     django_issue_refusals(Some("t"), Some("d"), Some("done"), Some("ann"), Some("zed"), known),
///     ["status \"done\": not open or closed", "created_by \"zed\": no such user is imported"]
/// );
/// ```
pub fn django_user_refusals(
    username: Option<&str>,
    email: Option<&str>,
    password: Option<&str>,
    joined_reads: bool,
) -> Vec<String> {
    let mut reasons = Vec::new();
    match username {
        None => reasons.push("username: missing".to_owned()),
        Some(name) => {
            if let Err(e) = Username::parse(name) {
                reasons.push(format!("username {name:?}: {e}"));
            }
        }
    }
    if let Err(e) = Email::parse(email.unwrap_or_default()) {
        reasons.push(format!("email {:?}: {e}", email.unwrap_or_default()));
    }
    match password.map(classify_stored_hash) {
        None => reasons.push("password: missing".to_owned()),
        Some(StoredHashKind::Unsupported) => {
            let stored = password.unwrap_or_default();
            let algorithm = stored.split('$').next().unwrap_or_default();
            reasons.push(if algorithm.is_empty() || algorithm == stored {
                "password: not a hash this service can read".to_owned()
            } else {
                format!("password: a {algorithm} hash, which this service does not verify")
            });
        }
        Some(_) => {}
    }
    if !joined_reads {
        reasons.push("date_joined: not a date and time".to_owned());
    }
    reasons
}

/// Why a DRF token cannot be imported (`None`: it can). Keys are 40 hexadecimal characters.
///
/// ```
/// use issue_tracker_domain::django_token_refusal;
///
/// assert_eq!(django_token_refusal(Some("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")), None);
/// assert!(django_token_refusal(Some("short")).is_some());
/// ```
pub fn django_token_refusal(key: Option<&str>) -> Option<String> {
    match key {
        Some(key) if key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit()) => None,
        Some(key) => Some(format!(
            "key of {} characters: not 40 hexadecimal characters",
            key.chars().count()
        )),
        None => Some("key: missing".to_owned()),
    }
}

/// Why an issue cannot be imported: its fields against our rules, and its two users against the
/// users being imported (`imported`).
pub fn django_issue_refusals(
    title: Option<&str>,
    description: Option<&str>,
    status: Option<&str>,
    assigned_to: Option<&str>,
    created_by: Option<&str>,
    imported: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let mut text =
        |field: &str, value: Option<&str>, check: &dyn Fn(&str) -> Option<String>| match value {
            None => reasons.push(format!("{field}: missing")),
            Some(value) => {
                if let Some(problem) = check(value) {
                    reasons.push(format!("{field}: {problem}"));
                }
            }
        };
    text("title", title, &|v| {
        Title::parse(v).err().map(|e| e.messages().join(" "))
    });
    text("description", description, &|v| {
        Description::parse(v).err().map(|e| e.messages().join(" "))
    });
    match status {
        Some(status) if Status::parse(status).is_ok() => {}
        Some(status) => reasons.push(format!("status {status:?}: not open or closed")),
        None => reasons.push("status: missing".to_owned()),
    }
    for (field, name) in [("assigned_to", assigned_to), ("created_by", created_by)] {
        match name {
            Some(name) if imported(name) => {}
            Some(name) => reasons.push(format!("{field} {name:?}: no such user is imported")),
            None => reasons.push(format!("{field}: missing")),
        }
    }
    reasons
}
