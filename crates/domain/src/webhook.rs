//! Signing webhook deliveries as the Standard Webhooks specification says
//! (<https://www.standardwebhooks.com/>): a secret `whsec_<base64 of the key>`, and
//! `webhook-signature: v1,<base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}">`, so that any
//! receiver's standard library verifies our deliveries.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

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
/// use issue_tracker_domain::{event_payload, Event, EventType, Via};
/// let event = Event {
///     id: 42,
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
