//! The job queue between beat (which enqueues due notification ids) and workers (which send
//! them): two Redis streams (an urgent lane and a bulk one) with a consumer group, or an
//! in-process queue for the single-process `issue-tracker run`; and the counters the API servers
//! share in Redis.
//!
//! The queue only distributes work; the database is the source of truth. Losing the queue's
//! contents (a Redis restart, a flush, a crash) loses nothing: beat enqueues again whatever is
//! still due. Jobs carry ids, never data, and handling one twice has the effect of handling it
//! once. Only this crate names redis.

use std::time::Duration;

mod counter;
mod endpoint;
mod jobs;

pub use counter::SharedCounter;
pub use endpoint::{Link, RedisEndpoint};
pub use jobs::{InProcessQueue, Job, JobQueue, Lane, RedisQueue, RedisQueueConfig};

/// The queue failed (Redis unreachable, or answered an error).
#[derive(Debug, thiserror::Error)]
#[error("queue error: {0}")]
pub struct QueueError(String);

impl From<redis::RedisError> for QueueError {
    fn from(error: redis::RedisError) -> Self {
        QueueError(error.to_string())
    }
}

/// Checks that Redis (the master, behind Sentinel) answers within `timeout`, on a connection of
/// its own (for readiness probes of processes that do not otherwise hold one).
pub async fn ping(endpoint: &RedisEndpoint, timeout: Duration) -> Result<(), QueueError> {
    let ping = async {
        let client = endpoint.client().await?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        Ok::<_, QueueError>(redis::cmd("PING").query_async::<String>(&mut conn).await?)
    };
    match tokio::time::timeout(timeout, ping).await {
        Ok(result) => result.map(|_| ()),
        Err(_) => Err(QueueError(format!("no answer within {timeout:?}"))),
    }
}
