//! The notification pipeline (README, "Notifications"), over the outbox in the database:
//!
//! - [`Relay`] (run by beat every second): moves due notification ids from the database to the
//!   queue (assignment emails in the urgent lane, the rest in the bulk lane), and enqueues again
//!   what a lost queue or a dead worker left behind.
//! - [`create_reports`] (run by beat every report period): one report row per user per period,
//!   whatever the number of beats.
//! - [`Worker`]: takes ids from the queue, claims each row with a lease, renders the email from
//!   current data, sends it, and records the outcome (sent, retry with backoff, dead, cancelled,
//!   skipped when the recipient turned that kind of email off).
//!
//! Every database call runs on tokio's blocking pool.

use std::sync::Arc;
use std::time::Duration;

use issue_tracker_claims::Recorded;
use issue_tracker_config::PipelineSettings;
use issue_tracker_domain::{
    digest_period, report_period, retry_backoff, DeliveryOutcome, NotificationId,
};
use issue_tracker_mailer::{Mailer, Rendered};
use issue_tracker_persistence::{ClaimedNotification, Content, Database, StoreError};
use issue_tracker_queue::{Job, JobQueue, Lane, QueueError};
use tokio::sync::watch;

/// Why a pipeline step failed; each step is retried on the next tick, so nothing is lost.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

async fn blocking<T, F>(db: &Database, work: F) -> Result<T, PipelineError>
where
    F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let db = db.clone();
    tokio::task::spawn_blocking(move || work(&db))
        .await
        .map_err(|e| PipelineError::Task(e.to_string()))?
        .map_err(PipelineError::from)
}

/// How many ids one relay step moves at most.
const RELAY_BATCH: i64 = 1_000;

/// Moves due notifications from the database to the queue.
#[derive(Clone)]
pub struct Relay {
    db: Database,
    queue: JobQueue,
    requeue_after: Duration,
}

impl Relay {
    /// A relay over this database and queue.
    pub fn new(db: Database, queue: JobQueue, settings: &PipelineSettings) -> Relay {
        Relay {
            db,
            queue,
            requeue_after: settings.requeue_after,
        }
    }

    /// Enqueues everything due now; returns how many. If the queue refuses, the rows are released
    /// at once so that the next tick tries them again.
    pub async fn tick(&self) -> Result<usize, PipelineError> {
        let mut total = 0;
        loop {
            let requeue_after = self.requeue_after;
            let due = blocking(&self.db, move |db| {
                db.claim_due_for_enqueue(requeue_after, RELAY_BATCH)
            })
            .await?;
            if due.is_empty() {
                return Ok(total);
            }
            let jobs: Vec<(i64, Lane)> = due
                .iter()
                .map(|n| (n.id, if n.urgent { Lane::Urgent } else { Lane::Bulk }))
                .collect();
            if let Err(error) = self.queue.enqueue(&jobs).await {
                let ids: Vec<i64> = due.iter().map(|n| n.id).collect();
                let count = ids.len();
                blocking(&self.db, move |db| db.release_enqueued(&ids)).await?;
                tracing::warn!(%error, count, "the queue refused due notifications; will retry");
                return Err(error.into());
            }
            total += due.len();
            tracing::debug!(count = due.len(), "enqueued due notifications");
            if (due.len() as i64) < RELAY_BATCH {
                return Ok(total);
            }
        }
    }
}

/// The report period the database's clock is in now (beats with wrong clocks still agree).
pub async fn current_period(db: &Database, interval: Duration) -> Result<i64, PipelineError> {
    let now = blocking(db, |db| db.database_now()).await?;
    Ok(report_period(now.timestamp(), interval))
}

/// Creates the reports of the current period (by the database's clock), for every active user
/// with assigned issues; returns the period and how many were new (0 when another beat, or an
/// earlier run, made them).
pub async fn create_reports(
    db: &Database,
    interval: Duration,
) -> Result<(i64, usize), PipelineError> {
    let period = current_period(db, interval).await?;
    let created = blocking(db, move |db| db.create_reports(period)).await?;
    Ok((period, created))
}

/// Creates the daily digests of the current digest period (by the database's clock), for every
/// user who chose them and has unread entries not emailed yet; returns the period and how many
/// were new (0 when another beat, or an earlier run, made them).
pub async fn create_digests(
    db: &Database,
    hour: u32,
    interval: Duration,
) -> Result<(i64, usize), PipelineError> {
    let now = blocking(db, |db| db.database_now()).await?;
    let period = digest_period(now.timestamp(), hour, interval);
    let created = blocking(db, move |db| db.create_digests(period)).await?;
    Ok((period, created))
}

/// What a worker needs to give issue emails a reply address (`Reply-To`).
#[derive(Clone)]
pub struct ReplyAddresses {
    /// `INCOMING_EMAIL_ADDRESS`.
    pub pattern: String,
    /// `SECRET_KEY`.
    pub secret: Vec<u8>,
    /// How long an address works after its email was sent.
    pub ttl: Duration,
}

impl ReplyAddresses {
    /// From the settings; `None` when replies by email are off.
    pub fn from_settings(settings: &issue_tracker_config::Settings) -> Option<ReplyAddresses> {
        Some(ReplyAddresses {
            pattern: settings.incoming.address.clone()?,
            secret: settings.general.secret_key.expose().as_bytes().to_vec(),
            ttl: settings.incoming.token_ttl,
        })
    }
}

/// Sends notification emails taken from the queue.
pub struct Worker {
    db: Database,
    queue: JobQueue,
    mailer: Arc<Mailer>,
    settings: PipelineSettings,
    consumer: String,
    /// Notifications whose outcome is known but not yet written (the database was unreachable).
    /// While there are any, this worker claims nothing new: when the database comes back, the
    /// outcomes are written first, before a claim could take over an expired lease and send an
    /// accepted email again.
    unrecorded: std::sync::Mutex<std::collections::HashSet<i64>>,
    /// When dead workers' entries were last looked for.
    last_reclaim: std::sync::Mutex<tokio::time::Instant>,
    /// Reply addresses for issue emails, when replies by email are on.
    reply_addresses: Option<ReplyAddresses>,
}

impl Worker {
    /// A worker named `consumer` (unique among the workers sharing the queue).
    pub fn new(
        db: Database,
        queue: JobQueue,
        mailer: Arc<Mailer>,
        settings: PipelineSettings,
        consumer: String,
    ) -> Worker {
        Worker {
            db,
            queue,
            mailer,
            settings,
            consumer,
            unrecorded: Default::default(),
            last_reclaim: std::sync::Mutex::new(tokio::time::Instant::now()),
            reply_addresses: None,
        }
    }

    /// Gives assignment and watchers' emails a reply address (`Reply-To`) when `addresses` is
    /// set: answering one makes a comment (crate `replies`).
    pub fn with_reply_addresses(mut self, addresses: Option<ReplyAddresses>) -> Worker {
        self.reply_addresses = addresses;
        self
    }

    /// The reply address of `claimed`'s recipient for its issue, signed over their stored
    /// password hash (a new password revokes it); `None` when replies are off or it is no issue
    /// email.
    async fn reply_address(
        &self,
        claimed: &ClaimedNotification,
    ) -> Result<Option<String>, PipelineError> {
        let issue = claimed
            .issue_id
            .and_then(issue_tracker_domain::IssueId::new);
        let (Some(addresses), Some(issue)) = (&self.reply_addresses, issue) else {
            return Ok(None);
        };
        let user = claimed.recipient;
        let Some(credentials) = blocking(&self.db, move |db| db.credentials_by_id(user)).await?
        else {
            return Ok(None);
        };
        let expires = chrono::Utc::now().timestamp() + addresses.ttl.as_secs() as i64;
        let token = issue_tracker_domain::reply_token(
            &addresses.secret,
            user,
            issue,
            expires,
            &credentials.password_hash,
        );
        Ok(Some(issue_tracker_domain::reply_address(
            &addresses.pattern,
            &token,
        )))
    }

    /// Runs until `shutdown` turns true, then finishes the emails in hand and returns. Keeps up to
    /// `WORKER_CONCURRENCY` emails in flight: each waits mostly on the network, so throughput
    /// comes from overlap.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        tracing::info!(consumer = %self.consumer, queue = self.queue.kind(), mail = %self.mailer.destination(), "worker started");
        let (concurrency, consumer) = (self.settings.worker_concurrency, self.consumer.clone());
        issue_tracker_claims::run(Arc::new(self), concurrency, shutdown).await;
        tracing::info!(%consumer, "worker stopped");
    }

    /// Handles one job: claim, render from current data, send, record, acknowledge. Safe to call
    /// twice for the same id: the claim lets only one through. The queue entry is acknowledged
    /// only once the outcome is recorded (or nothing was sent): an entry left unacknowledged is
    /// taken over by another worker after `RECLAIM_IDLE`.
    pub async fn handle(&self, job: Job, shutdown: watch::Receiver<bool>) {
        let acknowledge = match self.process(job.notification_id, shutdown).await {
            Ok(acknowledge) => acknowledge,
            Err(error) => {
                // Nothing was sent and nothing is lost: the row is still pending or leased, and
                // the relay enqueues it again.
                tracing::warn!(notification = job.notification_id, %error, "notification not processed; it will be retried");
                true
            }
        };
        if !acknowledge {
            return;
        }
        if let Err(error) = self.queue.ack(&job).await {
            tracing::warn!(notification = job.notification_id, %error, "cannot acknowledge a job");
        }
    }

    /// Records an outcome, retrying while the database is unreachable: an email the SMTP server
    /// accepted must not be sent again because its `sent` could not be written. Gives up only
    /// when the process is shutting down and [`RECORD_GRACE`] has passed; returns whether it was
    /// recorded (or is moot: another claim superseded this one).
    async fn record<F>(
        &self,
        claim: &ClaimedNotification,
        outcome: &'static str,
        shutdown: watch::Receiver<bool>,
        write: F,
    ) -> bool
    where
        F: Fn(&Database, &ClaimedNotification) -> Result<bool, StoreError> + Clone + Send + 'static,
    {
        let id = claim.id.get();
        let claimed = claim.clone();
        let recorded = issue_tracker_claims::record(
            &self.db,
            shutdown,
            RECORD_GRACE,
            move |db| write(db, &claimed),
            |failures, error| {
                if failures == 1 {
                    self.unrecorded_set().insert(id);
                }
                if issue_tracker_claims::worth_logging(failures) {
                    tracing::warn!(notification = id, outcome, %error, failures, "cannot record the outcome; retrying");
                }
            },
        )
        .await;
        self.unrecorded_set().remove(&id);
        match recorded {
            Recorded::Written {
                value: true,
                failures,
            } => {
                if failures > 0 {
                    tracing::info!(
                        notification = id,
                        outcome,
                        failures,
                        "outcome recorded after the database came back"
                    );
                }
                true
            }
            Recorded::Written { value: false, .. } => {
                tracing::warn!(
                    notification = id,
                    outcome,
                    "outcome matched nothing: the claim was superseded (its lease ran out and another worker took it) or an admin changed the row"
                );
                true
            }
            Recorded::GaveUp { .. } => {
                tracing::error!(
                    notification = id,
                    outcome,
                    "shutting down before the outcome could be recorded; left unacknowledged"
                );
                false
            }
            Recorded::Panicked(error) => {
                tracing::error!(notification = id, outcome, %error, "recording the outcome panicked; left unacknowledged");
                false
            }
        }
    }

    fn unrecorded_set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<i64>> {
        self.unrecorded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits (at most one lease) while outcomes are waiting to be written; false when `id` is
    /// one of them (its outcome is known: nothing to claim).
    async fn wait_for_unrecorded(&self, id: i64, shutdown: &watch::Receiver<bool>) -> bool {
        let started = tokio::time::Instant::now();
        loop {
            {
                let unrecorded = self.unrecorded_set();
                if unrecorded.contains(&id) {
                    return false;
                }
                if unrecorded.is_empty() {
                    return true;
                }
            }
            if *shutdown.borrow() || started.elapsed() >= self.settings.sending_lease {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Claims, renders, sends and records one notification; returns whether its queue entry may
    /// be acknowledged.
    async fn process(
        &self,
        id: i64,
        shutdown: watch::Receiver<bool>,
    ) -> Result<bool, PipelineError> {
        if !self.wait_for_unrecorded(id, &shutdown).await {
            return Ok(true);
        }
        let lease = self.settings.sending_lease;
        let claimed_at = tokio::time::Instant::now();
        let Some(claimed) = blocking(&self.db, move |db| {
            db.claim_for_sending(NotificationId::from_stored(id), lease)
        })
        .await?
        else {
            return Ok(true);
        };
        let content = {
            let claimed = claimed.clone();
            blocking(&self.db, move |db| db.notification_content(&claimed)).await?
        };
        let rendered = match &content {
            Content::Stale(reason) => {
                tracing::info!(notification = id, %reason, "notification not sent");
                let reason = reason.clone();
                return Ok(self
                    .record(&claimed, "cancelled", shutdown, move |db, claim| {
                        db.mark_cancelled(claim, &reason)
                    })
                    .await);
            }
            Content::OptedOut(reason) => {
                tracing::info!(notification = id, %reason, "notification skipped");
                let reason = reason.clone();
                return Ok(self
                    .record(&claimed, "skipped", shutdown, move |db, claim| {
                        db.mark_skipped(claim, &reason)
                    })
                    .await);
            }
            Content::Assignment { to, staff, email } => {
                let reply_to = self.reply_address(&claimed).await?;
                self.mailer
                    .render_assignment(id, to, *staff, email)
                    .map(|rendered| Rendered {
                        reply_to,
                        ..rendered
                    })
            }
            Content::Report { to, staff, email } => {
                self.mailer
                    .render_report(id, to, claimed.recipient, *staff, email)
            }
            Content::Activity { to, staff, email } => {
                let reply_to = match email.title {
                    Some(_) => self.reply_address(&claimed).await?,
                    // A deleted issue takes no comments.
                    None => None,
                };
                self.mailer
                    .render_activity(id, to, claimed.recipient, *staff, email)
                    .map(|rendered| Rendered {
                        reply_to,
                        ..rendered
                    })
            }
            Content::Digest { to, staff, email } => {
                self.mailer.render_digest(id, to, *staff, email)
            }
        };
        // The send must end inside the lease, or another worker could take the row over and send
        // it too. The mailer bounds the exchange by EMAIL_TIMEOUT (at most half the lease); if
        // claiming and reading took so long that it might not fit, let the lease run out instead.
        if claimed_at.elapsed() + self.settings.email_timeout >= lease {
            tracing::warn!(
                notification = id,
                "too little of the lease left to send; leaving it to a later attempt"
            );
            return Ok(true);
        }
        let outcome = match rendered {
            Ok(rendered) => self.mailer.send(&rendered).await,
            Err(error) => DeliveryOutcome::Permanent(error.to_string()),
        };
        let kind = claimed.kind.as_str();
        let recorded = match outcome {
            DeliveryOutcome::Sent => {
                tracing::info!(notification = id, kind, "email sent");
                self.record(&claimed, "sent", shutdown, |db, claim| db.mark_sent(claim))
                    .await
            }
            DeliveryOutcome::Temporary(error)
                if (claimed.attempts as u32) < self.settings.max_attempts =>
            {
                let wait = retry_backoff(
                    claimed.attempts as u32,
                    self.settings.retry_backoff,
                    self.settings.retry_backoff_max,
                );
                tracing::warn!(notification = id, kind, %error, attempt = claimed.attempts, retry_in = ?wait, "temporary failure; will retry");
                self.record(&claimed, "retry", shutdown, move |db, claim| {
                    db.mark_retry(claim, &error, wait)
                })
                .await
            }
            DeliveryOutcome::Temporary(error) | DeliveryOutcome::Permanent(error) => {
                tracing::error!(notification = id, kind, %error, attempts = claimed.attempts, "delivery failed for good; marked dead");
                self.record(&claimed, "dead", shutdown, move |db, claim| {
                    db.mark_dead(claim, &error)
                })
                .await
            }
        };
        Ok(recorded)
    }
}

/// How long a worker that was asked to stop keeps trying to record outcomes. With the send
/// bounded by `EMAIL_TIMEOUT`, a worker exits within `EMAIL_TIMEOUT` + this + one database
/// timeout of SIGTERM.
pub const RECORD_GRACE: Duration = Duration::from_secs(5);

/// Emails come from the queue: first the entries a dead worker left unacknowledged (checked every
/// half `RECLAIM_IDLE`), then new ones, waiting on the stream until some arrive.
impl issue_tracker_claims::Source for Worker {
    type Item = Job;
    type Error = QueueError;

    fn name(&self) -> &'static str {
        "emails"
    }

    async fn take(
        &self,
        free: usize,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Vec<Job>, QueueError> {
        let reclaim_due = {
            let mut last = self.last_reclaim.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.elapsed() >= self.settings.reclaim_idle / 2;
            if due {
                *last = tokio::time::Instant::now();
            }
            due
        };
        if reclaim_due {
            match self
                .queue
                .reclaim(&self.consumer, self.settings.reclaim_idle, free)
                .await
            {
                Ok(reclaimed) if !reclaimed.is_empty() => {
                    tracing::info!(count = reclaimed.len(), "took over jobs of a dead worker");
                    return Ok(reclaimed);
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cannot reclaim idle jobs"),
            }
        }
        tokio::select! {
            received = self.queue.receive(&self.consumer, free) => received,
            _ = shutdown.changed() => Ok(Vec::new()),
        }
    }

    async fn act(self: Arc<Self>, job: Job, shutdown: watch::Receiver<bool>) {
        self.handle(job, shutdown).await;
    }

    fn pause_when_empty(&self) -> Duration {
        Duration::ZERO
    }

    fn pause_after_error(&self) -> Duration {
        Duration::from_secs(1)
    }
}
