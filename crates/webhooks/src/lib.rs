//! Webhook delivery, run by the worker: claims due deliveries from the database (the outbox the
//! events' transactions wrote), POSTs each signed as the Standard Webhooks specification says,
//! and records every attempt.
//!
//! - 2xx: delivered. `410 Gone`: failed, and the endpoint turns inactive. Anything else, or no
//!   answer within `WEBHOOK_TIMEOUT`: retried after the next wait of `WEBHOOK_RETRY_SCHEDULE`,
//!   then failed.
//! - **Safety**: the address is checked when the connection is made, after DNS (the resolver
//!   hands the client only the addresses it allows, so a name that resolves elsewhere the second
//!   time cannot slip through): no loopback, private, link-local (metadata) or other internal
//!   address unless the host is in `WEBHOOK_ALLOWED_HOSTS`. Redirects are not followed; proxies
//!   are not used.
//! - A worker killed mid-delivery loses nothing: the claim's lease runs out and another worker
//!   delivers again, with the same `webhook-id`, so receivers can drop the copy.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use issue_tracker_claims::Recorded;
use issue_tracker_config::WebhookSettings;
use issue_tracker_domain::{is_public_address, sign_webhook, webhook_host_allowed};
use issue_tracker_persistence::{AttemptOutcome, ClaimedDelivery, Database, DeliveryAttempt};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::{mpsc, oneshot, watch};

/// How much of a response body the delivery log keeps.
pub const RESPONSE_KEPT_BYTES: usize = 4_096;

/// How long a claim lasts: twice an attempt's timeout and this, so that recording the outcome
/// fits in it. A worker killed mid-delivery holds its deliveries this long at most.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Resolves names for the HTTP client and keeps only the addresses a delivery may reach.
struct GuardedResolver {
    allowed: Option<Vec<String>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let trusted = webhook_host_allowed(&self.allowed, &host);
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| trusted || is_public_address(a.ip()))
                .collect();
            if kept.is_empty() {
                return Err(Box::new(Refused(format!(
                    "{host} resolves only to addresses webhooks may not reach ({})",
                    found
                        .iter()
                        .map(|a| a.ip().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// A delivery refused by the address guard.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether an error chain holds a [`Refused`].
fn is_refusal(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<Refused>().is_some() {
            return true;
        }
        current = e.source();
    }
    false
}

/// The whole error chain as one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(e) = current {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        current = e.source();
    }
    text
}

/// Checks a URL's literal address (names are checked by the resolver, at connect time).
fn check_literal(allowed: &Option<Vec<String>>, url: &url::Url) -> Result<(), Refused> {
    let Some(host) = url.host() else {
        return Err(Refused("the URL has no host".into()));
    };
    let address: Option<IpAddr> = match host {
        url::Host::Ipv4(v4) => Some(v4.into()),
        url::Host::Ipv6(v6) => Some(v6.into()),
        url::Host::Domain(_) => None,
    };
    match address {
        Some(ip) if !is_public_address(ip) && !webhook_host_allowed(allowed, &ip.to_string()) => {
            Err(Refused(format!(
                "{ip} is an address webhooks may not reach"
            )))
        }
        _ => Ok(()),
    }
}

/// Delivers webhooks until shutdown.
pub struct Deliverer {
    db: Database,
    client: reqwest::Client,
    settings: WebhookSettings,
}

impl Deliverer {
    /// A deliverer over this database.
    pub fn new(db: Database, settings: WebhookSettings) -> Result<Deliverer, reqwest::Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allowed: settings.allowed_hosts.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.timeout)
            .pool_max_idle_per_host(settings.concurrency)
            .user_agent(concat!(
                "issue-tracker-webhooks/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Deliverer {
            db,
            client,
            settings,
        })
    }

    /// Runs until `shutdown` turns true, then finishes the deliveries in hand. Up to
    /// `WEBHOOK_CONCURRENCY` at once.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let concurrency = self.settings.concurrency;
        let lease = self.settings.timeout * 2 + LEASE_MARGIN;
        let (records, recorded) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_batches(self.db.clone(), recorded, shutdown.clone()));
        tracing::info!("webhook deliveries started");
        let source = Deliveries {
            deliverer: self,
            records,
            lease,
        };
        issue_tracker_claims::run(Arc::new(source), concurrency, shutdown).await;
        // Every sender is gone with the source: the recorder writes what is left, then ends.
        let _ = recorder.await;
        tracing::info!("webhook deliveries stopped");
    }

    /// One attempt: sign, POST, read the answer, record.
    async fn deliver(&self, claim: ClaimedDelivery, records: &mpsc::UnboundedSender<Record>) {
        let started_at = chrono::Utc::now();
        let started = Instant::now();
        let result = self.attempt(&claim, started_at.timestamp()).await;
        let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
        let retry = || match self
            .settings
            .retry_schedule
            .get(claim.attempts as usize - 1)
        {
            Some(wait) => AttemptOutcome::Retry(*wait),
            None => AttemptOutcome::Failed,
        };
        let (attempt, outcome) = match result {
            Ok((status, response)) => {
                let outcome = match status {
                    200..=299 => AttemptOutcome::Delivered,
                    410 => AttemptOutcome::Gone,
                    _ => retry(),
                };
                let attempt = DeliveryAttempt {
                    started_at,
                    status_code: Some(status as i32),
                    duration_ms,
                    response,
                    error: None,
                };
                (attempt, outcome)
            }
            Err((refused, error)) => {
                let attempt = DeliveryAttempt {
                    started_at,
                    status_code: None,
                    duration_ms,
                    response: String::new(),
                    error: Some(error),
                };
                let outcome = match refused {
                    true => AttemptOutcome::Failed,
                    false => retry(),
                };
                (attempt, outcome)
            }
        };
        let label = match &outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retry(_) => "retry",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Gone => "gone; endpoint disabled",
        };
        tracing::info!(
            delivery = claim.id.get(),
            webhook = claim.webhook_id.get(),
            event = %claim.message_id,
            status = ?attempt.status_code,
            error = attempt.error.as_deref().unwrap_or(""),
            duration_ms,
            attempt = claim.attempts,
            outcome = label,
            "webhook attempt"
        );
        // Recorded with others in one transaction; the slot is held until it is.
        let (done, recorded) = oneshot::channel();
        if records.send((claim, attempt, outcome, done)).is_ok() {
            let _ = recorded.await;
        }
    }

    /// Sends one signed POST; the status and the first 4 KiB of the body, or (refused by the
    /// address guard, what went wrong).
    async fn attempt(
        &self,
        claim: &ClaimedDelivery,
        timestamp: i64,
    ) -> Result<(u16, String), (bool, String)> {
        let url = url::Url::parse(&claim.url).map_err(|e| (true, format!("bad URL: {e}")))?;
        check_literal(&self.settings.allowed_hosts, &url).map_err(|e| (true, e.to_string()))?;
        let body = serde_json::json!({
            "type": claim.event_type,
            "timestamp": issue_tracker_domain::rfc3339(&claim.event_at),
            "data": claim.data,
        })
        .to_string();
        let signatures: Vec<String> = claim
            .secrets
            .iter()
            .filter_map(|secret| sign_webhook(secret, &claim.message_id, timestamp, &body).ok())
            .collect();
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &claim.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signatures.join(" "))
            .body(body)
            .send()
            .await
            .map_err(|e| (is_refusal(&e), describe(&e)))?;
        let status = response.status().as_u16();
        let mut kept = Vec::new();
        let mut response = response;
        // The status is what counts; a body cut short is kept as far as it came.
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = RESPONSE_KEPT_BYTES - kept.len();
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if kept.len() >= RESPONSE_KEPT_BYTES {
                break;
            }
        }
        Ok((status, String::from_utf8_lossy(&kept).into_owned()))
    }
}

/// An attempt to record, and who waits for it.
type Record = (
    ClaimedDelivery,
    DeliveryAttempt,
    AttemptOutcome,
    oneshot::Sender<()>,
);

/// The most attempts recorded in one transaction.
const RECORD_BATCH: usize = 256;

/// Due deliveries, claimed from the database in batches, and where their outcomes go.
struct Deliveries {
    deliverer: Deliverer,
    records: mpsc::UnboundedSender<Record>,
    lease: Duration,
}

impl issue_tracker_claims::Source for Deliveries {
    type Item = ClaimedDelivery;
    type Error = String;

    fn name(&self) -> &'static str {
        "webhook deliveries"
    }

    async fn take(
        &self,
        free: usize,
        _shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Vec<ClaimedDelivery>, String> {
        let (db, lease) = (self.deliverer.db.clone(), self.lease);
        match tokio::task::spawn_blocking(move || db.claim_deliveries(free as i64, lease)).await {
            Ok(claimed) => claimed.map_err(|error| error.to_string()),
            Err(error) => Err(format!("claiming panicked: {error}")),
        }
    }

    async fn act(self: Arc<Self>, claim: ClaimedDelivery, _shutdown: watch::Receiver<bool>) {
        self.deliverer.deliver(claim, &self.records).await;
    }

    fn pause_when_empty(&self) -> Duration {
        self.deliverer.settings.poll_interval
    }

    fn pause_after_error(&self) -> Duration {
        self.deliverer.settings.poll_interval
    }

    /// Under load, slots free up one at a time, and one claim (a transaction) per delivery
    /// would cost as much as the deliveries themselves.
    fn batching(&self) -> Option<issue_tracker_claims::Batching> {
        Some(issue_tracker_claims::Batching {
            at_least: self.deliverer.settings.concurrency.div_ceil(4),
            wait_at_most: Duration::from_millis(10),
        })
    }
}

/// How long, after shutdown is asked for, attempts that could not be recorded are tried again.
const RECORD_GRACE: Duration = Duration::from_secs(5);

/// Records attempts in batches (one commit for all the outcomes ready at once), retrying while
/// the database is unreachable: a delivered event must not be delivered again because its outcome
/// could not be written. Gives a batch up 5 s after shutdown, leaving its claims to run out (the
/// events are then delivered again: at least once).
async fn record_batches(
    db: Database,
    mut records: mpsc::UnboundedReceiver<Record>,
    shutdown: watch::Receiver<bool>,
) {
    while let Some(first) = records.recv().await {
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match records.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        let (mut items, mut waiting) = (Vec::new(), Vec::new());
        for (claim, attempt, outcome, done) in batch {
            items.push((claim, attempt, outcome));
            waiting.push(done);
        }
        let items = Arc::new(items);
        let count = items.len();
        let batch = items.clone();
        let recorded = issue_tracker_claims::record(
            &db,
            shutdown.clone(),
            RECORD_GRACE,
            move |db| db.record_attempts(&batch),
            |failures, error| {
                if issue_tracker_claims::worth_logging(failures) {
                    tracing::warn!(count, %error, "cannot record webhook attempts; retrying");
                }
            },
        )
        .await;
        match recorded {
            Recorded::Written { value: flags, .. } => {
                for ((claim, ..), recorded) in items.iter().zip(flags) {
                    if !recorded {
                        tracing::warn!(
                            delivery = claim.id.get(),
                            "the claim was superseded (its lease ran out); outcome not recorded"
                        );
                    }
                }
            }
            Recorded::GaveUp { .. } => {
                tracing::warn!(count, "shutting down before webhook attempts could be recorded; their claims will run out")
            }
            Recorded::Panicked(error) => {
                tracing::error!(%error, "recording webhook attempts panicked")
            }
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_addresses_are_checked_before_connecting() {
        let none = Some(Vec::new());
        for refused in [
            "http://127.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8080/",
            "http://10.0.0.1/",
            "http://[::ffff:192.168.0.1]/",
        ] {
            let url = url::Url::parse(refused).unwrap();
            assert!(check_literal(&none, &url).is_err(), "{refused}");
        }
        let public = url::Url::parse("https://93.184.216.34/").unwrap();
        assert!(check_literal(&none, &public).is_ok());
        let allowed = Some(vec!["127.0.0.1".to_owned()]);
        let local = url::Url::parse("http://127.0.0.1:9/").unwrap();
        assert!(check_literal(&allowed, &local).is_ok());
    }
}
