//! The query parameters of `GET /api/issue/`: pagination, filters and ordering, parsed once.

use chrono::{DateTime, Datelike, Utc};

use crate::errors::FieldErrors;
use crate::issue::Status;

/// Page size when `page` or `per_page` is given without `per_page`.
pub const DEFAULT_PER_PAGE: u32 = 30;
/// Largest `per_page`.
pub const MAX_PER_PAGE: u32 = 100;
/// Longest `q`, in characters: a substring search costs up to (pattern × text) on both
/// databases, and SQLite refuses very long LIKE patterns.
pub const MAX_SEARCH_CHARS: usize = 200;
/// Longest value of any other list parameter, in characters (usernames are at most 150).
pub const MAX_PARAMETER_CHARS: usize = 200;

/// A field issues may be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderField {
    /// `id`.
    Id,
    /// `title`.
    Title,
    /// `status`.
    Status,
    /// `created_at`.
    CreatedAt,
    /// `updated_at`.
    UpdatedAt,
}

impl OrderField {
    /// The whitelist, by name.
    pub fn parse(name: &str) -> Option<OrderField> {
        match name {
            "id" => Some(OrderField::Id),
            "title" => Some(OrderField::Title),
            "status" => Some(OrderField::Status),
            "created_at" => Some(OrderField::CreatedAt),
            "updated_at" => Some(OrderField::UpdatedAt),
            _ => None,
        }
    }
}

/// Which way a list is sorted by one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Smallest first.
    Ascending,
    /// Largest first (`-field` in `?ordering=`).
    Descending,
}

/// One key of a list's order: a field and its direction.
///
/// ```
/// use issue_tracker_domain::{Direction, OrderField, SortKey};
/// let key = SortKey::new(OrderField::UpdatedAt, Direction::Descending);
/// assert!(key.is_descending());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// The field.
    pub field: OrderField,
    /// Which way.
    pub direction: Direction,
}

impl SortKey {
    /// `field`, sorted `direction`.
    pub fn new(field: OrderField, direction: Direction) -> SortKey {
        SortKey { field, direction }
    }

    /// Whether it sorts largest first.
    pub fn is_descending(self) -> bool {
        self.direction == Direction::Descending
    }
}

/// Which issues, in which order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct IssueFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only issues assigned to this username (exact).
    pub assigned_to: Option<String>,
    /// Only issues created by this username (exact).
    pub created_by: Option<String>,
    /// Case-insensitive text in the title or description.
    pub q: Option<String>,
    /// Only issues changed at or after this instant.
    pub updated_since: Option<DateTime<Utc>>,
    /// Only issues carrying every one of these labels (names, any case; each once).
    pub labels: Vec<String>,
    /// Order: each field once; `id` ascending is always the last tiebreaker.
    pub ordering: Vec<SortKey>,
}

/// A parsed list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Filters and order.
    pub filter: IssueFilter,
    /// 1-based page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
    /// Whether the client asked for pages (`page` or `per_page` present).
    pub paginated: bool,
}

fn positive(errors: &mut FieldErrors, name: &str, value: &str) -> Option<u32> {
    match value.trim().parse::<i64>() {
        Ok(n) if n < 1 => {
            errors.add(name, "Ensure this value is greater than or equal to 1.");
            None
        }
        Ok(n) => Some(n.min(u32::MAX as i64) as u32),
        Err(_) => {
            errors.add(name, "A valid integer is required.");
            None
        }
    }
}

impl ListQuery {
    /// Parses the query pairs. `caller` replaces `me` in `assigned_to` and `created_by`; `cap` is
    /// the page size of an unpaginated list. Unknown parameters are ignored.
    ///
    /// ```
    /// use issue_tracker_domain::{Direction, ListQuery, OrderField, SortKey, Status};
    ///
    /// let pairs = [("status", "open"), ("assigned_to", "me"), ("ordering", "-updated_at,id"), ("per_page", "20")];
    /// let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    /// let query = ListQuery::parse(&pairs, "ann", 10_000).unwrap();
    /// assert_eq!(query.filter.status, Some(Status::Open));
    /// assert_eq!(query.filter.assigned_to.as_deref(), Some("ann"));
    /// assert_eq!(
    ///     query.filter.ordering,
    ///     vec![
    ///         SortKey::new(OrderField::UpdatedAt, Direction::Descending),
    ///         SortKey::new(OrderField::Id, Direction::Ascending),
    ///     ]
    /// );
    /// assert_eq!((query.page, query.per_page, query.paginated), (1, 20, true));
    ///
    /// let labels: Vec<(String, String)> = vec![("label".into(), "bug".into()), ("label".into(), "UI".into()), ("label".into(), "Bug".into())];
    /// assert_eq!(ListQuery::parse(&labels, "ann", 10).unwrap().filter.labels, ["bug", "UI"]);
    ///
    /// let bad: Vec<(String, String)> = vec![("ordering".into(), "password".into())];
    /// let errors = ListQuery::parse(&bad, "ann", 10_000).unwrap_err();
    /// assert_eq!(serde_json::to_string(&errors).unwrap(), r#"{"ordering":["Unknown field \"password\"."]}"#);
    /// ```
    pub fn parse(
        pairs: &[(String, String)],
        caller: &str,
        cap: u32,
    ) -> Result<ListQuery, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut filter = IssueFilter::default();
        let (mut page, mut per_page) = (None, None);
        for (key, value) in pairs {
            // An empty value means "no filter", as in the original's filter forms.
            if value.trim().is_empty() && key != "page" && key != "per_page" {
                continue;
            }
            let known = matches!(
                key.as_str(),
                "page"
                    | "per_page"
                    | "status"
                    | "assigned_to"
                    | "created_by"
                    | "q"
                    | "updated_since"
                    | "ordering"
                    | "label"
            );
            let longest = if key == "q" {
                MAX_SEARCH_CHARS
            } else {
                MAX_PARAMETER_CHARS
            };
            // PostgreSQL cannot store or compare a NUL; refused here for both databases alike.
            if known && value.contains('\0') {
                errors.add(key, crate::messages::NULL_CHARACTERS);
                continue;
            }
            if known && value.chars().count() > longest {
                errors.add(
                    key,
                    format!("Ensure this value has at most {longest} characters."),
                );
                continue;
            }
            match key.as_str() {
                "page" => page = positive(&mut errors, "page", value),
                "per_page" => {
                    per_page = positive(&mut errors, "per_page", value);
                    if per_page.is_some_and(|n| n > MAX_PER_PAGE) {
                        errors.add(
                            "per_page",
                            format!("Ensure this value is less than or equal to {MAX_PER_PAGE}."),
                        );
                    }
                }
                "status" => match Status::parse(value) {
                    Ok(status) => filter.status = Some(status),
                    Err(_) => errors.add(
                        "status",
                        format!(
                            "Select a valid choice. {value} is not one of the available choices."
                        ),
                    ),
                },
                "assigned_to" | "created_by" => {
                    let name = if value == "me" {
                        caller
                    } else {
                        value.as_str()
                    };
                    if name.is_empty() {
                        errors.add(key, crate::messages::BLANK);
                    } else if key == "assigned_to" {
                        filter.assigned_to = Some(name.to_owned());
                    } else {
                        filter.created_by = Some(name.to_owned());
                    }
                }
                "label" => {
                    let name = crate::python_strip(value);
                    let key = crate::label_key(name);
                    if filter.labels.len() >= crate::MAX_LABELS_PER_REQUEST {
                        errors.add(
                            "label",
                            format!(
                                "Ensure there are no more than {} labels.",
                                crate::MAX_LABELS_PER_REQUEST
                            ),
                        );
                    } else if !filter.labels.iter().any(|l| crate::label_key(l) == key) {
                        filter.labels.push(name.to_owned());
                    }
                }
                "q" => {
                    let text = crate::python_strip(value);
                    if !text.is_empty() {
                        filter.q = Some(text.to_owned());
                    }
                }
                "updated_since" => match DateTime::parse_from_rfc3339(value.trim()) {
                    // Years 1..=9999 in UTC: what both databases store and compare as dates.
                    Ok(at) if (1..=9999).contains(&at.to_utc().year()) => {
                        filter.updated_since = Some(at.to_utc())
                    }
                    Ok(_) => errors.add(
                        "updated_since",
                        "Enter a date/time between years 1 and 9999 in UTC.",
                    ),
                    Err(_) => errors.add(
                        "updated_since",
                        "Enter a valid date/time (RFC 3339, e.g. 2026-01-31T12:00:00Z).",
                    ),
                },
                "ordering" => {
                    let mut ordering = Vec::new();
                    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        let (direction, name) = match part.strip_prefix('-') {
                            Some(name) => (Direction::Descending, name),
                            None => (Direction::Ascending, part),
                        };
                        match OrderField::parse(name) {
                            Some(field) if !ordering.iter().any(|k: &SortKey| k.field == field) => {
                                ordering.push(SortKey::new(field, direction))
                            }
                            Some(_) => {}
                            None => errors.add("ordering", format!("Unknown field \"{name}\".")),
                        }
                    }
                    filter.ordering = ordering;
                }
                _ => {}
            }
        }
        let paginated = page.is_some()
            || per_page.is_some()
            || pairs.iter().any(|(k, _)| k == "page" || k == "per_page");
        errors.into_result(ListQuery {
            filter,
            page: page.unwrap_or(1),
            per_page: if paginated {
                per_page.unwrap_or(DEFAULT_PER_PAGE)
            } else {
                cap
            },
            paginated,
        })
    }

    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page as i64 - 1) * self.per_page as i64
    }
}
