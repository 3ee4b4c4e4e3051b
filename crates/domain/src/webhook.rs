//! Signing webhook deliveries as the Standard Webhooks specification says
//! (<https://www.standardwebhooks.com/>): a secret `whsec_<base64 of the key>`, and
//! `webhook-signature: v1,<base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}">`, so that any
//! receiver's standard library verifies our deliveries.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::DeliveryId;
use chrono::{DateTime, Utc};

const PREFIX: &str = "whsec_";

/// A secret that is not `whsec_` followed by base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadWebhookSecret;

/// A new endpoint secret: `whsec_` and the base64 of 32 random bytes.
///
/// ```
/// let secret = issue_tracker_domain::new_webhook_secret();
/// assert!(secret.starts_with("whsec_") && secret.len() == 6 + 44);
/// ```
pub fn new_webhook_secret() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the operating system's random generator failed");
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` value of a delivery: `v1,` and the base64 HMAC-SHA256, keyed by the
/// secret's bytes, of `"{id}.{timestamp}.{body}"` (`timestamp` in Unix seconds).
///
/// ```
/// use issue_tracker_domain::sign_webhook;
/// // The specification's published test vector.
/// assert_eq!(
///     sign_webhook(
///         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
///         "msg_p5jXN8AQM9LWM0D4loKWxJek",
///         1614265330,
///         r#"{"test": 2432232314}"#,
///     ),
///     Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned())
/// );
/// ```
pub fn sign_webhook(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, BadWebhookSecret> {
    let key = secret
        .strip_prefix(PREFIX)
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .filter(|key| !key.is_empty())
        .ok_or(BadWebhookSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// What a webhook delivers for `event`, and what `GET /api/events/` replays: `{"id", "type",
/// "timestamp", "data"}`. The delivery body is this without `id` (the id travels as
/// `webhook-id`); `data` is the event's own content.
///
/// ```
/// use chrono::TimeZone;
/// use issue_tracker_domain::{event_payload, Event, EventId, EventType, Via};
/// let event = Event {
///     id: EventId::from_stored(42),
///     event_type: EventType::IssueDeleted,
///     created_at: chrono::Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
///     actor: None,
///     via: Via::Cli,
///     request_id: None,
///     issue: None,
///     user: None,
///     changes: vec![],
/// };
/// let payload = event_payload(&event);
/// assert_eq!(payload["id"], 42);
/// assert_eq!(payload["type"], "issue.deleted");
/// assert_eq!(payload["timestamp"], "2027-01-15T08:00:00.000000Z");
/// assert_eq!(payload["data"]["via"], "cli");
/// ```
pub fn event_payload(event: &crate::Event) -> serde_json::Value {
    let mut data = serde_json::to_value(event).unwrap_or_default();
    let mut head = serde_json::Map::new();
    if let Some(data) = data.as_object_mut() {
        for key in ["id", "type", "created_at"] {
            if let Some(value) = data.remove(key) {
                head.insert(key.to_owned(), value);
            }
        }
    }
    serde_json::json!({
        "id": head.remove("id").unwrap_or_default(),
        "type": head.remove("type").unwrap_or_default(),
        "timestamp": head.remove("created_at").unwrap_or_default(),
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_secrets_are_refused() {
        for secret in [
            "",
            "whsec_",
            "whsec_!!!",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            assert_eq!(
                sign_webhook(secret, "1", 1, "{}"),
                Err(BadWebhookSecret),
                "{secret}"
            );
        }
    }

    #[test]
    fn any_change_changes_the_signature() {
        let secret = new_webhook_secret();
        let base = sign_webhook(&secret, "7", 100, "{}").unwrap();
        assert_ne!(base, sign_webhook(&secret, "8", 100, "{}").unwrap());
        assert_ne!(base, sign_webhook(&secret, "7", 101, "{}").unwrap());
        assert_ne!(base, sign_webhook(&secret, "7", 100, "{ }").unwrap());
        assert_ne!(
            base,
            sign_webhook(&new_webhook_secret(), "7", 100, "{}").unwrap()
        );
    }
}

/// Where a webhook delivery stands.
///
/// ```
/// use issue_tracker_domain::DeliveryStatus;
///
/// assert_eq!(DeliveryStatus::parse("succeeded"), Some(DeliveryStatus::Succeeded));
/// assert_eq!(DeliveryStatus::Sending.as_str(), "sending");
/// assert_eq!(DeliveryStatus::parse("done"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "lowercase"))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "Where a webhook delivery stands.")
)]
pub enum DeliveryStatus {
    /// Due (now or at its next attempt).
    Pending,
    /// Claimed by a worker, under a lease.
    Sending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Given up: too many attempts, or the endpoint said it is gone (410).
    Failed,
}

impl DeliveryStatus {
    /// Every status, in the order of a delivery's life.
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Sending,
        DeliveryStatus::Succeeded,
        DeliveryStatus::Failed,
    ];

    /// The stored and shown word.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Reads the word back.
    pub fn parse(word: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

/// One attempt of a delivery, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// When it started.
    #[serde(serialize_with = "crate::serialize_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    /// How long it took, in milliseconds.
    pub duration_ms: i32,
    /// The first 4 KiB of the response body.
    pub response: String,
    /// What went wrong, when it did (timeout, connection refused, refused address...).
    pub error: Option<String>,
}

/// A delivery, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Delivery))]
pub struct DeliveryInfo {
    /// Its id.
    pub id: DeliveryId,
    /// The `webhook-id` it is sent with: the event's id (`ping_<id>` for a ping).
    pub message_id: String,
    /// The event delivered (`null` for a ping).
    pub event_id: Option<i64>,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `sending`, `succeeded` or `failed`.
    pub status: DeliveryStatus,
    /// When it is due next (pending), or when its lease ends (sending).
    #[serde(serialize_with = "crate::serialize_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub next_attempt_at: DateTime<Utc>,
    /// When it was made.
    #[serde(serialize_with = "crate::serialize_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: DateTime<Utc>,
    /// When it succeeded or failed for good.
    #[serde(serialize_with = "crate::serialize_rfc3339_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
}

impl serde::Serialize for DeliveryStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Compares with the stored word: `status == "failed"`.
impl PartialEq<&str> for DeliveryStatus {
    fn eq(&self, word: &&str) -> bool {
        self.as_str() == *word
    }
}
