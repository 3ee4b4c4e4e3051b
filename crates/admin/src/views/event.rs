//! History events as the admin shows them, and the links beside a page.

/// A link shown with a page.
#[derive(Debug, Clone)]
pub struct Link {
    /// Its text.
    pub label: String,
    /// Where it goes.
    pub href: String,
}

/// A history event as the admin shows it.
#[derive(Debug, Clone)]
pub struct EventView {
    /// Its id.
    pub id: i64,
    /// When (UTC).
    pub at: String,
    /// Its type.
    pub event_type: &'static str,
    /// Who (or "system").
    pub actor: String,
    /// Through which door.
    pub via: &'static str,
    /// What it concerns.
    pub subject: String,
    /// A link to the subject, when it still exists.
    pub subject_href: String,
    /// The changes, one line each.
    pub changes: Vec<String>,
}

impl From<&issue_tracker_domain::Event> for EventView {
    fn from(event: &issue_tracker_domain::Event) -> Self {
        let (subject, subject_href) = match (&event.issue, &event.user) {
            (Some(issue), _) => (format!("issue {issue}"), format!("/admin/issues/{issue}/")),
            (None, Some(user)) => (
                format!("user {}", user.username),
                format!("/admin/users/{}/", user.id.get()),
            ),
            _ => (String::new(), String::new()),
        };
        let show = |value: &serde_json::Value| match value {
            serde_json::Value::Null => "—".to_owned(),
            serde_json::Value::String(text) => text.chars().take(80).collect(),
            other => other.to_string(),
        };
        EventView {
            id: event.id.get(),
            at: event.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            event_type: event.event_type.as_str(),
            actor: event
                .actor
                .as_ref()
                .map_or_else(|| "system".to_owned(), |a| a.username.clone()),
            via: event.via.as_str(),
            subject,
            subject_href,
            changes: event
                .changes
                .iter()
                .map(|c| format!("{}: {} → {}", c.field, show(&c.old), show(&c.new)))
                .collect(),
        }
    }
}
