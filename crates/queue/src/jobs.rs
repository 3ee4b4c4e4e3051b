//! The job queue proper: two lanes, each a Redis stream read by the workers' consumer group (or a
//! deque in process). Urgent jobs are handed out before any bulk job, so that an assignment email
//! never waits behind a storm of watchers' emails; a read waits on both lanes at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};

use crate::endpoint::{Link, RedisEndpoint};
use crate::QueueError;

/// Which line a job waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Handed out before any bulk job.
    Urgent,
    /// Everything else, first in first out.
    Bulk,
}

const LANES: [Lane; 2] = [Lane::Urgent, Lane::Bulk];

/// One job: the notification to send, and how to acknowledge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The notification row id.
    pub notification_id: i64,
    /// The stream entry it came from (Redis only).
    entry: Option<(Lane, String)>,
}

/// Redis stream names and timings.
#[derive(Debug, Clone)]
pub struct RedisQueueConfig {
    /// Where Redis is.
    pub endpoint: RedisEndpoint,
    /// Stream key of the bulk lane; the urgent lane is this key with `:urgent` appended.
    pub stream: String,
    /// Consumer group of the workers.
    pub group: String,
    /// How long one read waits for jobs.
    pub block: Duration,
}

/// Two Redis streams with a consumer group each.
#[derive(Clone)]
pub struct RedisQueue {
    /// Short commands (XADD, XACK, XAUTOCLAIM).
    commands: Link,
    /// Reads, on a connection of their own so that a blocking one never delays the others.
    reads: Link,
    urgent: String,
    bulk: String,
    group: String,
    block: Duration,
    /// Jobs a read brought beyond what was asked (it waits on both lanes, and Redis counts per
    /// stream): handed out by the next reads. They are this consumer's pending entries, so a
    /// crash loses none: another worker takes them over like any unacknowledged entry.
    carried: Arc<Mutex<VecDeque<Job>>>,
}

/// The in-process queue: a deque per lane and a wake-up.
#[derive(Clone, Default)]
pub struct InProcessQueue {
    lanes: Arc<Mutex<(VecDeque<i64>, VecDeque<i64>)>>,
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

impl JobQueue {
    /// Connects to Redis. Fails if Redis cannot be reached now; later outages are survived (each
    /// call fails, and the connection is re-established by itself).
    pub async fn connect_redis(config: &RedisQueueConfig) -> Result<JobQueue, QueueError> {
        let manager = |response: Duration| {
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(response))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_millis(500))
        };
        let commands = Link::connect(&config.endpoint, manager(Duration::from_secs(3))).await?;
        let reads = Link::connect(
            &config.endpoint,
            manager(config.block + Duration::from_secs(3)),
        )
        .await?;
        Ok(JobQueue::Redis(RedisQueue {
            commands,
            reads,
            urgent: format!("{}:urgent", config.stream),
            bulk: config.stream.clone(),
            group: config.group.clone(),
            block: config.block,
            carried: Arc::default(),
        }))
    }

    /// A queue inside this process (nothing survives a restart; the database re-enqueues).
    pub fn in_process() -> JobQueue {
        JobQueue::InProcess(InProcessQueue::default())
    }

    /// Adds jobs for these notification ids, each in its lane, all or none.
    pub async fn enqueue(&self, jobs: &[(i64, Lane)]) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        match self {
            JobQueue::Redis(queue) => {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for (id, lane) in jobs {
                    pipe.cmd("XADD")
                        .arg(queue.stream(*lane))
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(1_000_000)
                        .arg("*")
                        .arg("id")
                        .arg(*id)
                        .ignore();
                }
                let mut conn = queue.commands.get().await;
                if let Err(error) = pipe.query_async::<()>(&mut conn).await {
                    queue.commands.after_error(&error).await;
                    return Err(error.into());
                }
                Ok(())
            }
            JobQueue::InProcess(queue) => {
                {
                    let mut lanes = queue.lanes.lock().unwrap_or_else(|p| p.into_inner());
                    for (id, lane) in jobs {
                        match lane {
                            Lane::Urgent => lanes.0.push_back(*id),
                            Lane::Bulk => lanes.1.push_back(*id),
                        }
                    }
                }
                queue.ready.notify_waiters();
                queue.ready.notify_one();
                Ok(())
            }
        }
    }

    /// Waits up to the block time for at most `max` jobs for `consumer`, urgent ones first.
    pub async fn receive(&self, consumer: &str, max: usize) -> Result<Vec<Job>, QueueError> {
        match self {
            JobQueue::Redis(queue) => queue.receive(consumer, max).await,
            JobQueue::InProcess(queue) => {
                let jobs = queue.take(max);
                if !jobs.is_empty() {
                    return Ok(jobs);
                }
                let _ =
                    tokio::time::timeout(Duration::from_millis(500), queue.ready.notified()).await;
                Ok(queue.take(max))
            }
        }
    }

    /// Acknowledges a job: it will not be delivered again.
    pub async fn ack(&self, job: &Job) -> Result<(), QueueError> {
        if let (JobQueue::Redis(queue), Some((lane, entry))) = (self, &job.entry) {
            let mut command = redis::cmd("XACK");
            command
                .arg(queue.stream(*lane))
                .arg(&queue.group)
                .arg(entry);
            let _: i64 = queue.commands.query(&command).await?;
        }
        Ok(())
    }

    /// Takes over jobs another consumer received but did not acknowledge within `min_idle` (it
    /// died): XAUTOCLAIM, urgent lane first.
    pub async fn reclaim(
        &self,
        consumer: &str,
        min_idle: Duration,
        max: usize,
    ) -> Result<Vec<Job>, QueueError> {
        let JobQueue::Redis(queue) = self else {
            return Ok(Vec::new());
        };
        let mut jobs = Vec::new();
        for lane in LANES {
            if jobs.len() >= max {
                break;
            }
            let mut command = redis::cmd("XAUTOCLAIM");
            command
                .arg(queue.stream(lane))
                .arg(&queue.group)
                .arg(consumer)
                .arg(min_idle.as_millis() as u64)
                .arg("0-0")
                .arg("COUNT")
                .arg(max - jobs.len());
            let reply: Result<StreamAutoClaimReply, _> = queue.commands.query(&command).await;
            match reply {
                Ok(reply) => jobs.extend(
                    reply
                        .claimed
                        .into_iter()
                        .filter_map(|entry| entry_job(lane, entry)),
                ),
                Err(error) if error.code() == Some("NOGROUP") => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(jobs)
    }

    /// Checks that the queue answers (for readiness).
    pub async fn ping(&self) -> Result<(), QueueError> {
        if let JobQueue::Redis(queue) = self {
            let _: String = queue.commands.query(&redis::cmd("PING")).await?;
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

fn entry_job(lane: Lane, entry: StreamId) -> Option<Job> {
    let id = entry.get::<i64>("id");
    if id.is_none() {
        tracing::warn!(entry = %entry.id, "stream entry without a notification id");
    }
    Some(Job {
        notification_id: id?,
        entry: Some((lane, entry.id)),
    })
}

impl RedisQueue {
    fn stream(&self, lane: Lane) -> &str {
        match lane {
            Lane::Urgent => &self.urgent,
            Lane::Bulk => &self.bulk,
        }
    }

    /// Urgent jobs at once if there are any (topped up with what is carried and then bulk jobs);
    /// otherwise waits on both lanes.
    async fn receive(&self, consumer: &str, max: usize) -> Result<Vec<Job>, QueueError> {
        let mut jobs = self.read(consumer, max, &[Lane::Urgent], None).await?;
        {
            let mut carried = self.carried.lock().unwrap_or_else(|p| p.into_inner());
            while jobs.len() < max {
                match carried.pop_front() {
                    Some(job) => jobs.push(job),
                    None => break,
                }
            }
        }
        if !jobs.is_empty() {
            if jobs.len() < max {
                let more = self
                    .read(consumer, max - jobs.len(), &[Lane::Bulk], None)
                    .await?;
                jobs.extend(more);
            }
            return Ok(jobs);
        }
        let mut jobs = self.read(consumer, max, &LANES, Some(self.block)).await?;
        if jobs.len() > max {
            let extra = jobs.split_off(max);
            self.carried
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(extra);
        }
        Ok(jobs)
    }

    /// One XREADGROUP of new entries of `lanes` (at most `count` from each, the urgent lane's
    /// first), waiting up to `block` when given.
    async fn read(
        &self,
        consumer: &str,
        count: usize,
        lanes: &[Lane],
        block: Option<Duration>,
    ) -> Result<Vec<Job>, QueueError> {
        for attempt in 0..2 {
            let mut command = redis::cmd("XREADGROUP");
            command
                .arg("GROUP")
                .arg(&self.group)
                .arg(consumer)
                .arg("COUNT")
                .arg(count);
            if let Some(block) = block {
                command.arg("BLOCK").arg(block.as_millis() as u64);
            }
            command.arg("STREAMS");
            for lane in lanes {
                command.arg(self.stream(*lane));
            }
            for _ in lanes {
                command.arg(">");
            }
            let reply: Result<Option<StreamReadReply>, _> = self.reads.query(&command).await;
            match reply {
                Ok(reply) => {
                    let mut jobs = Vec::new();
                    for lane in lanes {
                        let stream = self.stream(*lane);
                        for key in reply.iter().flat_map(|r| &r.keys) {
                            if key.key == stream {
                                jobs.extend(
                                    key.ids
                                        .iter()
                                        .cloned()
                                        .filter_map(|entry| entry_job(*lane, entry)),
                                );
                            }
                        }
                    }
                    return Ok(jobs);
                }
                // After a flush or on a new Redis, the groups are gone: make them again.
                Err(error) if attempt == 0 && error.code() == Some("NOGROUP") => {
                    self.create_groups().await?;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(Vec::new())
    }

    async fn create_groups(&self) -> Result<(), QueueError> {
        for lane in LANES {
            let stream = self.stream(lane);
            let mut command = redis::cmd("XGROUP");
            command
                .arg("CREATE")
                .arg(stream)
                .arg(&self.group)
                .arg("0")
                .arg("MKSTREAM");
            let created: Result<(), _> = self.commands.query(&command).await;
            match created {
                Ok(()) => {
                    tracing::info!(%stream, group = %self.group, "created the consumer group");
                }
                Err(error) if error.code() == Some("BUSYGROUP") => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }
}

impl InProcessQueue {
    fn take(&self, max: usize) -> Vec<Job> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let (urgent, bulk) = &mut *lanes;
        let mut jobs = Vec::new();
        while jobs.len() < max {
            match urgent.pop_front().or_else(|| bulk.pop_front()) {
                Some(id) => jobs.push(Job {
                    notification_id: id,
                    entry: None,
                }),
                None => break,
            }
        }
        jobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_queue_hands_out_each_job_once_urgent_first() {
        let queue = JobQueue::in_process();
        queue
            .enqueue(&[(1, Lane::Bulk), (2, Lane::Bulk), (3, Lane::Urgent)])
            .await
            .unwrap();
        let first = queue.receive("a", 2).await.unwrap();
        let second = queue.receive("b", 10).await.unwrap();
        let ids: Vec<i64> = first
            .iter()
            .chain(&second)
            .map(|j| j.notification_id)
            .collect();
        assert_eq!(ids, [3, 1, 2]);
        assert!(queue.receive("a", 10).await.unwrap().is_empty());
    }
}
