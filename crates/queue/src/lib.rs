//! The job queue between beat (which enqueues due notification ids) and workers (which send
//! them): a Redis stream with a consumer group, or an in-process queue for the single-process
//! `issue-tracker run`.
//!
//! The queue only distributes work; the database is the source of truth. Losing the queue's
//! contents (a Redis restart, a flush, a crash) loses nothing: beat enqueues again whatever is
//! still due. Jobs carry ids, never data, and handling one twice has the effect of handling it
//! once. Only this crate names redis.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use redis::AsyncCommands;

/// The queue failed (Redis unreachable, or answered an error).
#[derive(Debug, thiserror::Error)]
#[error("queue error: {0}")]
pub struct QueueError(String);

impl From<redis::RedisError> for QueueError {
    fn from(error: redis::RedisError) -> Self {
        QueueError(error.to_string())
    }
}

/// One job: the notification to send, and how to acknowledge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The notification row id.
    pub notification_id: i64,
    entry: Option<String>,
}

/// Redis stream names and timings.
#[derive(Debug, Clone)]
pub struct RedisQueueConfig {
    /// `redis://...`.
    pub url: String,
    /// Stream key.
    pub stream: String,
    /// Consumer group of the workers.
    pub group: String,
    /// How long one read waits for jobs.
    pub block: Duration,
}

/// A Redis stream with a consumer group.
#[derive(Clone)]
pub struct RedisQueue {
    /// Short commands (XADD, XACK, XAUTOCLAIM).
    commands: ConnectionManager,
    /// Blocking reads, on a connection of their own so that they never delay the others.
    reads: ConnectionManager,
    stream: String,
    group: String,
    block: Duration,
}

/// The in-process queue: a deque and a wake-up.
#[derive(Clone, Default)]
pub struct InProcessQueue {
    jobs: Arc<Mutex<VecDeque<i64>>>,
    ready: Arc<tokio::sync::Notify>,
}

/// Either transport.
#[derive(Clone)]
pub enum JobQueue {
    /// Redis streams.
    Redis(RedisQueue),
    /// In process.
    InProcess(InProcessQueue),
}

fn entry_job(entry: StreamId) -> Option<Job> {
    let id = entry.get::<i64>("id");
    if id.is_none() {
        tracing::warn!(entry = %entry.id, "stream entry without a notification id");
    }
    Some(Job {
        notification_id: id?,
        entry: Some(entry.id),
    })
}

impl JobQueue {
    /// Connects to Redis. Fails if Redis cannot be reached now; later outages are survived (each
    /// call fails, and the connection is re-established by itself).
    pub async fn connect_redis(config: &RedisQueueConfig) -> Result<JobQueue, QueueError> {
        let client = redis::Client::open(config.url.as_str())?;
        let manager = |response: Duration| {
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(response))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_millis(500))
        };
        let commands =
            ConnectionManager::new_with_config(client.clone(), manager(Duration::from_secs(3)))
                .await?;
        let reads = ConnectionManager::new_with_config(
            client,
            manager(config.block + Duration::from_secs(3)),
        )
        .await?;
        Ok(JobQueue::Redis(RedisQueue {
            commands,
            reads,
            stream: config.stream.clone(),
            group: config.group.clone(),
            block: config.block,
        }))
    }

    /// A queue inside this process (nothing survives a restart; the database re-enqueues).
    pub fn in_process() -> JobQueue {
        JobQueue::InProcess(InProcessQueue::default())
    }

    /// Adds jobs for these notification ids, all or none.
    pub async fn enqueue(&self, ids: &[i64]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        match self {
            JobQueue::Redis(queue) => {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for id in ids {
                    pipe.cmd("XADD")
                        .arg(&queue.stream)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(1_000_000)
                        .arg("*")
                        .arg("id")
                        .arg(*id)
                        .ignore();
                }
                let mut conn = queue.commands.clone();
                pipe.query_async::<()>(&mut conn).await?;
                Ok(())
            }
            JobQueue::InProcess(queue) => {
                queue
                    .jobs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(ids);
                queue.ready.notify_waiters();
                queue.ready.notify_one();
                Ok(())
            }
        }
    }

    /// Waits up to the block time for at most `max` jobs for `consumer`.
    pub async fn receive(&self, consumer: &str, max: usize) -> Result<Vec<Job>, QueueError> {
        match self {
            JobQueue::Redis(queue) => {
                for attempt in 0..2 {
                    let mut conn = queue.reads.clone();
                    let reply: Result<Option<StreamReadReply>, _> = redis::cmd("XREADGROUP")
                        .arg("GROUP")
                        .arg(&queue.group)
                        .arg(consumer)
                        .arg("COUNT")
                        .arg(max)
                        .arg("BLOCK")
                        .arg(queue.block.as_millis() as u64)
                        .arg("STREAMS")
                        .arg(&queue.stream)
                        .arg(">")
                        .query_async(&mut conn)
                        .await;
                    match reply {
                        Ok(reply) => {
                            return Ok(reply
                                .map(|r| r.keys)
                                .unwrap_or_default()
                                .into_iter()
                                .flat_map(|key| key.ids)
                                .filter_map(entry_job)
                                .collect())
                        }
                        // After a flush or on a new Redis, the group is gone: make it again.
                        Err(error) if attempt == 0 && error.code() == Some("NOGROUP") => {
                            queue.create_group().await?;
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
                Ok(Vec::new())
            }
            JobQueue::InProcess(queue) => {
                let take = |queue: &InProcessQueue| {
                    let mut jobs = queue.jobs.lock().unwrap_or_else(|p| p.into_inner());
                    let n = jobs.len().min(max);
                    jobs.drain(..n)
                        .map(|id| Job {
                            notification_id: id,
                            entry: None,
                        })
                        .collect::<Vec<_>>()
                };
                let jobs = take(queue);
                if !jobs.is_empty() {
                    return Ok(jobs);
                }
                let _ =
                    tokio::time::timeout(Duration::from_millis(500), queue.ready.notified()).await;
                Ok(take(queue))
            }
        }
    }

    /// Acknowledges a job: it will not be delivered again.
    pub async fn ack(&self, job: &Job) -> Result<(), QueueError> {
        if let (JobQueue::Redis(queue), Some(entry)) = (self, &job.entry) {
            let mut conn = queue.commands.clone();
            let _: i64 = conn.xack(&queue.stream, &queue.group, &[entry]).await?;
        }
        Ok(())
    }

    /// Takes over jobs another consumer received but did not acknowledge within `min_idle` (it
    /// died): XAUTOCLAIM.
    pub async fn reclaim(
        &self,
        consumer: &str,
        min_idle: Duration,
        max: usize,
    ) -> Result<Vec<Job>, QueueError> {
        let JobQueue::Redis(queue) = self else {
            return Ok(Vec::new());
        };
        let mut conn = queue.commands.clone();
        let reply: Result<StreamAutoClaimReply, _> = redis::cmd("XAUTOCLAIM")
            .arg(&queue.stream)
            .arg(&queue.group)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut conn)
            .await;
        match reply {
            Ok(reply) => Ok(reply.claimed.into_iter().filter_map(entry_job).collect()),
            Err(error) if error.code() == Some("NOGROUP") => Ok(Vec::new()),
            Err(error) => Err(error.into()),
        }
    }

    /// Checks that the queue answers (for readiness).
    pub async fn ping(&self) -> Result<(), QueueError> {
        if let JobQueue::Redis(queue) = self {
            let mut conn = queue.commands.clone();
            let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        }
        Ok(())
    }

    /// Short name of the transport, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            JobQueue::Redis(_) => "redis",
            JobQueue::InProcess(_) => "in-process",
        }
    }
}

/// A counter per key and fixed window, shared by every process that uses the same Redis (the
/// API servers' rate limits).
#[derive(Clone)]
pub struct SharedCounter {
    conn: ConnectionManager,
}

impl SharedCounter {
    /// Connects; fails if Redis cannot be reached now (callers fall back to local counting).
    pub async fn connect(url: &str) -> Result<SharedCounter, QueueError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(200)))
            .set_number_of_retries(1);
        Ok(SharedCounter {
            conn: ConnectionManager::new_with_config(client, config).await?,
        })
    }

    /// Adds one to `key` and returns the new count; the key expires after `ttl`.
    pub async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(key)
            .cmd("EXPIRE")
            .arg(key)
            .arg(ttl.as_secs().max(1))
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(count)
    }

    /// Adds one to every key of `limits` (each `(key, limit)`), atomically and only if none is at
    /// its limit yet: `true` when counted, `false` (nothing counted) otherwise. Keys expire after
    /// `ttl`. Concurrent callers can never pass a limit together.
    pub async fn reserve(
        &self,
        limits: &[(String, u64)],
        ttl: Duration,
    ) -> Result<bool, QueueError> {
        let script = redis::Script::new(
            r"
            for i, key in ipairs(KEYS) do
              if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then return 0 end
            end
            for _, key in ipairs(KEYS) do
              redis.call('INCR', key)
              redis.call('EXPIRE', key, ARGV[#KEYS + 1])
            end
            return 1",
        );
        let mut invocation = script.prepare_invoke();
        for (key, _) in limits {
            invocation.key(key);
        }
        for (_, limit) in limits {
            invocation.arg(*limit);
        }
        invocation.arg(ttl.as_secs().max(1));
        let mut conn = self.conn.clone();
        let counted: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(counted == 1)
    }

    /// Takes one off every key that is above zero (gives back what [`SharedCounter::reserve`]
    /// counted).
    pub async fn release(&self, keys: &[String]) -> Result<(), QueueError> {
        let script = redis::Script::new(
            r"
            for _, key in ipairs(KEYS) do
              if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
            end
            return 1",
        );
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        let mut conn = self.conn.clone();
        let _: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(())
    }
}

/// Checks that a Redis server answers at `url` within `timeout`, on a connection of its own (for
/// readiness probes of processes that do not otherwise hold one).
pub async fn ping_url(url: &str, timeout: Duration) -> Result<(), QueueError> {
    let client = redis::Client::open(url)?;
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(timeout, ping).await {
        Ok(result) => result.map(|_| ()).map_err(QueueError::from),
        Err(_) => Err(QueueError(format!("no answer within {timeout:?}"))),
    }
}

impl RedisQueue {
    async fn create_group(&self) -> Result<(), QueueError> {
        let mut conn = self.commands.clone();
        let created: Result<(), _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(()) => {
                tracing::info!(stream = %self.stream, group = %self.group, "created the consumer group");
                Ok(())
            }
            Err(error) if error.code() == Some("BUSYGROUP") => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_queue_hands_out_each_job_once() {
        let queue = JobQueue::in_process();
        queue.enqueue(&[1, 2, 3]).await.unwrap();
        let first = queue.receive("a", 2).await.unwrap();
        let second = queue.receive("b", 10).await.unwrap();
        let ids: Vec<i64> = first
            .iter()
            .chain(&second)
            .map(|j| j.notification_id)
            .collect();
        assert_eq!(ids, [1, 2, 3]);
        assert!(queue.receive("a", 10).await.unwrap().is_empty());
    }
}
