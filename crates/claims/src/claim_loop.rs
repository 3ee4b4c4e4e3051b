//! The claim → act loop. Work throughput comes from overlap (each item waits mostly on the
//! network), so up to `concurrency` items are in flight; the loop waits for a free slot, asks the
//! source for as many items as there are free slots, and hands each one a slot for as long as it
//! acts. Claims are the source's own (a leased row, a stream entry): this loop only bounds them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};

/// Where a worker's work comes from, and what it does with one item.
pub trait Source: Send + Sync + 'static {
    /// One claimed piece of work.
    type Item: Send + 'static;
    /// Why taking failed (the loop logs it and pauses).
    type Error: std::fmt::Display + Send;

    /// A name for the log lines ("emails", "webhook deliveries").
    fn name(&self) -> &'static str;

    /// Claims up to `free` items. An empty answer means nothing is due now. A source that blocks
    /// while waiting for work should give up, with an empty answer, when `shutdown` changes.
    fn take(
        &self,
        free: usize,
        shutdown: &mut watch::Receiver<bool>,
    ) -> impl Future<Output = Result<Vec<Self::Item>, Self::Error>> + Send;

    /// Acts on one claimed item, outcome recorded included. Holds its slot until it returns.
    fn act(
        self: Arc<Self>,
        item: Self::Item,
        shutdown: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send;

    /// How long to wait after an empty take before asking again (zero for a source that
    /// already blocked while it waited).
    fn pause_when_empty(&self) -> Duration;

    /// How long to wait after a failed take.
    fn pause_after_error(&self) -> Duration;

    /// Whether to gather free slots before taking (see [`Batching`]).
    fn batching(&self) -> Option<Batching> {
        None
    }
}

/// Gathering before a take: under load, slots free up one at a time, and a source whose every
/// take is a transaction would pay one per item. The loop waits, for at most `wait_at_most`,
/// until `at_least` slots are free.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Free slots worth a take.
    pub at_least: usize,
    /// The longest wait for them.
    pub wait_at_most: Duration,
}

/// Runs `source` with up to `concurrency` items in flight until `shutdown` turns true, then
/// waits for the items in hand to finish.
pub async fn run<S: Source>(
    source: Arc<S>,
    concurrency: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut failures = 0u32;
    while !*shutdown.borrow() {
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        if let Some(batching) = source.batching() {
            let gathering = tokio::time::Instant::now();
            while slots.available_permits() + 1 < batching.at_least
                && gathering.elapsed() < batching.wait_at_most
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let free = slots.available_permits() + 1;
        let items = match source.take(free, &mut shutdown).await {
            Ok(items) => {
                failures = 0;
                items
            }
            Err(error) => {
                failures += 1;
                if crate::worth_logging(failures) {
                    tracing::warn!(work = source.name(), %error, "cannot take work; retrying");
                }
                drop(first);
                pause(source.pause_after_error(), &mut shutdown).await;
                continue;
            }
        };
        if items.is_empty() {
            drop(first);
            pause(source.pause_when_empty(), &mut shutdown).await;
            continue;
        }
        let mut first = Some(first);
        for item in items {
            let permit = match first.take() {
                Some(permit) => permit,
                None => match slots.clone().acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let (source, shutdown) = (source.clone(), shutdown.clone());
            tokio::spawn(async move {
                source.act(item, shutdown).await;
                drop(permit);
            });
        }
    }
    // Finish what is in flight: every slot free again.
    let _ = slots.acquire_many(concurrency as u32).await;
}

async fn pause(duration: Duration, shutdown: &mut watch::Receiver<bool>) {
    if duration.is_zero() {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = shutdown.changed() => {}
    }
}
