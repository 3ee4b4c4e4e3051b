//! Webhook endpoints: what staff register, how their fields are read, and which addresses a
//! delivery may connect to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::{BodyFields, EventType, FieldErrors, WebhookId};

/// The longest endpoint URL, in characters.
pub const WEBHOOK_URL_MAX_CHARS: usize = 2_000;

/// The event type of a ping (`POST /api/webhooks/<id>/ping/`); never in the history.
pub const PING_EVENT: &str = "webhook.ping";

/// A webhook endpoint, as the API shows it (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// Where deliveries are POSTed (`http` or `https`).
    pub url: String,
    /// The event types delivered, or `["*"]` for all.
    pub events: Vec<String>,
    /// Inactive endpoints get nothing (a `410 Gone` answer turns an endpoint inactive).
    pub active: bool,
    /// When it was registered.
    #[serde(serialize_with = "crate::serialize_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
}

impl Webhook {
    /// Whether an event of this type goes to this endpoint.
    ///
    /// ```
    /// use issue_tracker_domain::{Webhook, WebhookId};
    /// let hook = |events: &[&str]| Webhook { id: WebhookId::from_stored(1), url: "https://x.example/".into(), events: events.iter().map(|e| e.to_string()).collect(), active: true, created_at: chrono::Utc::now() };
    /// assert!(hook(&["*"]).wants("issue.created"));
    /// assert!(hook(&["issue.created"]).wants("issue.created"));
    /// assert!(!hook(&["issue.updated"]).wants("issue.created"));
    /// ```
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event_type)
    }
}

/// What a webhook request sets: every field on creation, any of them on a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookChanges {
    /// A new URL.
    pub url: Option<String>,
    /// New event types (sorted, each once; `["*"]` alone for all).
    pub events: Option<Vec<String>>,
    /// Active or not.
    pub active: Option<bool>,
}

impl WebhookChanges {
    /// Reads a webhook body. On creation `url` and `events` are required and `active` defaults
    /// to true; on a change each may be left out.
    ///
    /// ```
    /// use issue_tracker_domain::WebhookChanges;
    /// use serde_json::json;
    ///
    /// let body = json!({"url": "https://hooks.example.com/in", "events": ["issue.updated", "issue.created"]});
    /// let new = WebhookChanges::parse(body.as_object().unwrap(), false).unwrap();
    /// assert_eq!(new.events.unwrap(), ["issue.created", "issue.updated"]);
    /// assert_eq!(new.active, Some(true));
    ///
    /// let bad = json!({"url": "ftp://x.example/", "events": ["issue.exploded"]});
    /// let errors = serde_json::to_value(WebhookChanges::parse(bad.as_object().unwrap(), false).unwrap_err()).unwrap();
    /// assert!(errors["url"].is_array() && errors["events"].is_array());
    /// ```
    pub fn parse(
        object: &serde_json::Map<String, Value>,
        partial: bool,
    ) -> Result<WebhookChanges, FieldErrors> {
        let mut fields = BodyFields::new(object);
        let mut changes = WebhookChanges::default();
        if let Some(value) = fields.value("url", !partial) {
            match parse_webhook_url(value) {
                Ok(url) => changes.url = Some(url),
                Err(problem) => fields.add("url", problem),
            }
        }
        if let Some(value) = fields.value("events", !partial) {
            match parse_event_types(value) {
                Ok(events) => changes.events = Some(events),
                Err(problem) => fields.add("events", problem),
            }
        }
        if let Some(value) = fields.value("active", false) {
            match value {
                Value::Bool(active) => changes.active = Some(*active),
                _ => fields.add("active", "Must be a valid boolean."),
            }
        }
        if !partial {
            changes.active.get_or_insert(true);
        }
        let ok = fields.ok();
        let errors = fields.into_errors();
        match ok {
            true => Ok(changes),
            false => Err(errors),
        }
    }
}

/// Reads an endpoint URL: absolute `http` or `https` with a host, no credentials, at most
/// [`WEBHOOK_URL_MAX_CHARS`]. A literal address that [`is_public_address`] refuses is refused
/// here already unless `allowed` says so; names are checked when a delivery connects.
///
/// ```
/// use issue_tracker_domain::parse_webhook_url;
/// use serde_json::json;
/// assert_eq!(parse_webhook_url(&json!("https://hooks.example.com/in?x=1")), Ok("https://hooks.example.com/in?x=1".to_owned()));
/// assert!(parse_webhook_url(&json!("file:///etc/passwd")).is_err());
/// assert!(parse_webhook_url(&json!("https://user:pw@hooks.example.com/")).is_err());
/// assert!(parse_webhook_url(&json!("not a url")).is_err());
/// ```
pub fn parse_webhook_url(value: &Value) -> Result<String, String> {
    let Value::String(text) = value else {
        return Err(crate::messages::NOT_A_STRING.to_owned());
    };
    let text = text.trim();
    if text.chars().count() > WEBHOOK_URL_MAX_CHARS {
        return Err(format!(
            "Ensure this field has no more than {WEBHOOK_URL_MAX_CHARS} characters."
        ));
    }
    let url = url::Url::parse(text).map_err(|_| "Enter a valid URL.".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("Only http and https URLs are allowed.".to_owned());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("Enter a valid URL.".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The URL may not carry a user name or password.".to_owned());
    }
    Ok(url.to_string())
}

fn parse_event_types(value: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err("Expected a list of event types, or [\"*\"].".to_owned());
    };
    if items.is_empty() {
        return Err("This list may not be empty.".to_owned());
    }
    let mut events = Vec::new();
    for item in items {
        let name = item.as_str().unwrap_or_default();
        if name != "*" && EventType::parse(name).is_none() {
            return Err(format!("\"{}\" is not an event type.", python_like(item)));
        }
        if !events.iter().any(|e| e == name) {
            events.push(name.to_owned());
        }
    }
    if events.iter().any(|e| e == "*") {
        return Ok(vec!["*".to_owned()]);
    }
    events.sort();
    Ok(events)
}

fn python_like(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Whether a delivery may connect to this address by default: not loopback, private,
/// link-local (cloud metadata services live there), shared (CGNAT), unspecified, multicast,
/// broadcast, documentation or unique-local, also when wrapped in an IPv6 form.
///
/// ```
/// use issue_tracker_domain::is_public_address;
/// for refused in ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"] {
///     assert!(!is_public_address(refused.parse().unwrap()), "{refused}");
/// }
/// for allowed in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
///     assert!(is_public_address(allowed.parse().unwrap()), "{allowed}");
/// }
/// ```
pub fn is_public_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0x0db8
        || first == 0x0064 && ip.segments()[1] == 0xff9b)
}

/// Whether `host` (a name or an address, without brackets) is on the allowed list of hosts that
/// may be internal (`WEBHOOK_ALLOWED_HOSTS`; `None`: every host). `.example.com` matches the
/// domain and its subdomains.
///
/// ```
/// use issue_tracker_domain::webhook_host_allowed;
/// let allowed = Some(vec!["localhost".to_owned(), ".internal.example".to_owned()]);
/// assert!(webhook_host_allowed(&allowed, "LOCALHOST"));
/// assert!(webhook_host_allowed(&allowed, "hooks.internal.example"));
/// assert!(!webhook_host_allowed(&allowed, "evilinternal.example"));
/// assert!(!webhook_host_allowed(&allowed, "127.0.0.1"));
/// assert!(webhook_host_allowed(&None, "anything"));
/// ```
pub fn webhook_host_allowed(allowed: &Option<Vec<String>>, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match allowed {
        None => true,
        Some(list) => list.iter().any(|pattern| match pattern.strip_prefix('.') {
            Some(domain) => host == domain || host.ends_with(&format!(".{domain}")),
            None => *pattern == host,
        }),
    }
}

/// Why a webhook URL whose host is a literal internal address is refused (`None`: not such a
/// URL, or its address is on the allowed list). Names are judged when a delivery connects.
///
/// ```
/// use issue_tracker_domain::webhook_literal_refusal;
/// assert!(webhook_literal_refusal("http://169.254.169.254/", &Some(vec![])).is_some());
/// assert!(webhook_literal_refusal("http://[::1]:8080/", &Some(vec![])).is_some());
/// assert!(webhook_literal_refusal("http://127.0.0.1/", &Some(vec!["127.0.0.1".into()])).is_none());
/// assert!(webhook_literal_refusal("https://hooks.example.com/", &Some(vec![])).is_none());
/// ```
pub fn webhook_literal_refusal(url: &str, allowed: &Option<Vec<String>>) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let ip: IpAddr = match url.host()? {
        url::Host::Ipv4(v4) => v4.into(),
        url::Host::Ipv6(v6) => v6.into(),
        url::Host::Domain(_) => return None,
    };
    match is_public_address(ip) || webhook_host_allowed(allowed, &ip.to_string()) {
        true => None,
        false => Some(format!(
            "{ip} is a loopback, private, link-local or other internal address: webhooks may not reach it."
        )),
    }
}
