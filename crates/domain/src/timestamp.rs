//! The one way every time is written on the wire: RFC 3339 in UTC with microseconds and a `Z`
//! (`2026-01-02T03:04:05.000000Z`), in JSON bodies, webhook payloads and event pages alike.

use chrono::{DateTime, Utc};

/// `at` as the API writes it.
///
/// ```
/// use issue_tracker_domain::rfc3339;
///
/// let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().to_utc();
/// assert_eq!(rfc3339(&at), "2026-01-02T03:04:05.000000Z");
/// ```
pub fn rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// For `#[serde(serialize_with = "issue_tracker_domain::serialize_rfc3339")]`.
pub fn serialize_rfc3339<S: serde::Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(at))
}

/// [`serialize_rfc3339`] for an optional time (`null` when absent).
pub fn serialize_rfc3339_opt<S: serde::Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize_rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}
