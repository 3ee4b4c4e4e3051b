//! Where Redis is: one URL, or a master found through Sentinel. A [`Link`] is a connection that
//! follows the master: when a command fails for a reason a failover explains (the connection is
//! gone, or the node became a replica and answers `READONLY`), the next use asks Sentinel again
//! and connects to whichever node is master now.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Client, IntoConnectionInfo, RedisError};
use tokio::sync::Mutex;

use crate::QueueError;

/// How to reach Redis.
#[derive(Clone)]
pub enum RedisEndpoint {
    /// One server, `redis://...`.
    Url(String),
    /// The master named `master`, as the Sentinels at `sentinels` (`host:port`) say it is now.
    Sentinel {
        /// `host:port` of each Sentinel.
        sentinels: Vec<String>,
        /// The master's name in the Sentinels' configuration.
        master: String,
        /// The Sentinels' password, if they require one.
        sentinel_password: Option<String>,
        /// `redis://[user:password@]any/db` for the master itself (its host is ignored): its
        /// credentials and database number.
        data_url: Option<String>,
    },
}

impl std::fmt::Debug for RedisEndpoint {
    /// Never prints a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisEndpoint::Url(_) => write!(f, "RedisEndpoint::Url(..)"),
            RedisEndpoint::Sentinel {
                sentinels, master, ..
            } => write!(
                f,
                "RedisEndpoint::Sentinel({master} via {})",
                sentinels.join(",")
            ),
        }
    }
}

impl RedisEndpoint {
    /// The endpoint the settings describe: Sentinel when `sentinels` are given (then `url`, if
    /// any, gives the master's credentials and database), else `url`; `None` when neither is.
    pub fn from_settings(
        url: Option<&str>,
        sentinels: &[String],
        master: &str,
        sentinel_password: Option<&str>,
    ) -> Option<RedisEndpoint> {
        if sentinels.is_empty() {
            return url.map(|url| RedisEndpoint::Url(url.to_owned()));
        }
        Some(RedisEndpoint::Sentinel {
            sentinels: sentinels.to_vec(),
            master: master.to_owned(),
            sentinel_password: sentinel_password.map(str::to_owned),
            data_url: url.map(str::to_owned),
        })
    }

    /// The endpoint of the queue settings (`REDIS_URL`, `REDIS_SENTINELS`, ...); `None` when
    /// neither Redis nor Sentinels are set.
    pub fn from_queue_settings(
        settings: &issue_tracker_config::QueueSettings,
    ) -> Option<RedisEndpoint> {
        RedisEndpoint::from_settings(
            settings.redis_url.as_ref().map(|url| url.expose()),
            &settings.sentinels,
            &settings.sentinel_master,
            settings.sentinel_password.as_ref().map(|p| p.expose()),
        )
    }

    /// For logs: the URL without its password, or the master's name and its Sentinels.
    pub fn describe(&self) -> String {
        match self {
            RedisEndpoint::Url(url) => match url.split_once('@') {
                Some((scheme_user, host)) => {
                    let scheme = scheme_user.split("://").next().unwrap_or("redis");
                    format!("{scheme}://***@{host}")
                }
                None => url.clone(),
            },
            RedisEndpoint::Sentinel {
                sentinels, master, ..
            } => format!("master {master:?} via Sentinel {}", sentinels.join(",")),
        }
    }

    /// A client for the master as it is now.
    pub async fn client(&self) -> Result<Client, QueueError> {
        match self {
            RedisEndpoint::Url(url) => Ok(Client::open(url.as_str())?),
            RedisEndpoint::Sentinel {
                sentinels,
                master,
                sentinel_password,
                data_url,
            } => {
                let nodes: Vec<redis::ConnectionInfo> = sentinels
                    .iter()
                    .map(|address| {
                        let info = format!("redis://{address}").into_connection_info()?;
                        Ok(match sentinel_password {
                            Some(password) => {
                                let settings =
                                    info.redis_settings().clone().set_password(password.clone());
                                info.set_redis_settings(settings)
                            }
                            None => info,
                        })
                    })
                    .collect::<Result<_, RedisError>>()?;
                let mut node = SentinelNodeConnectionInfo::default();
                if let Some(url) = data_url {
                    node = node.set_redis_connection_info(
                        url.as_str()
                            .into_connection_info()?
                            .redis_settings()
                            .clone(),
                    );
                }
                let mut sentinel = SentinelClient::build(
                    nodes,
                    master.clone(),
                    Some(node),
                    SentinelServerType::Master,
                )?;
                Ok(sentinel.async_get_client().await?)
            }
        }
    }

    fn follows_a_master(&self) -> bool {
        matches!(self, RedisEndpoint::Sentinel { .. })
    }
}

/// Whether `error` is what a failover looks like from a client: the connection is gone, or the
/// node is a replica now.
fn failover_symptom(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.code() == Some("READONLY")
        || error.code() == Some("MASTERDOWN")
}

/// A connection manager to the master that is replaced when the master changes. Cheap to clone:
/// the clones share it.
#[derive(Clone)]
pub struct Link(Arc<LinkState>);

struct LinkState {
    endpoint: RedisEndpoint,
    config: ConnectionManagerConfig,
    /// The connection to the master.
    current: Mutex<ConnectionManager>,
    /// Whether a task is looking for the master.
    healing: AtomicBool,
}

/// How often a broken link asks Sentinel for the master, and for how long before it waits for
/// the next error (a Sentinel failover takes seconds: `down-after-milliseconds` plus an election).
const HEAL_EVERY: Duration = Duration::from_millis(250);
const HEAL_FOR: Duration = Duration::from_secs(60);

/// A connection to the master Sentinel names now, once it answers `PING`.
async fn live_master(state: &LinkState) -> Result<ConnectionManager, QueueError> {
    let client = state.endpoint.client().await?;
    let mut manager = ConnectionManager::new_with_config(client, state.config.clone()).await?;
    let _: String = redis::cmd("PING").query_async(&mut manager).await?;
    Ok(manager)
}

impl Link {
    /// Connects to the endpoint's master now.
    pub async fn connect(
        endpoint: &RedisEndpoint,
        config: ConnectionManagerConfig,
    ) -> Result<Link, QueueError> {
        let client = endpoint.client().await?;
        let manager = ConnectionManager::new_with_config(client, config.clone()).await?;
        Ok(Link(Arc::new(LinkState {
            endpoint: endpoint.clone(),
            config,
            current: Mutex::new(manager),
            healing: AtomicBool::new(false),
        })))
    }

    /// The connection to use now.
    pub async fn get(&self) -> ConnectionManager {
        self.0.current.lock().await.clone()
    }

    /// Called with the error of a command: behind Sentinel, a failover's symptom starts a task
    /// that asks Sentinel for the master until one answers, then makes the next uses go there.
    /// The task is on its own, so that a caller that gives up waiting (a request's budget for
    /// Redis) cancels nothing, and the link heals even while nobody calls it; the failed command
    /// itself is not retried (its caller retries, as after any Redis error).
    pub async fn after_error(&self, error: &RedisError) {
        let state = self.0.clone();
        if !state.endpoint.follows_a_master()
            || !failover_symptom(error)
            || state.healing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        tokio::spawn(async move {
            let started = Instant::now();
            let mut failures = 0u32;
            loop {
                match live_master(&state).await {
                    Ok(manager) => {
                        *state.current.lock().await = manager;
                        tracing::info!(endpoint = %state.endpoint.describe(), "connected to the Redis master Sentinel names now");
                        break;
                    }
                    Err(error) => {
                        failures += 1;
                        if failures == 1 || failures.is_multiple_of(20) {
                            tracing::warn!(endpoint = %state.endpoint.describe(), %error, "cannot reach the Redis master through Sentinel yet");
                        }
                    }
                }
                if started.elapsed() > HEAL_FOR {
                    break;
                }
                tokio::time::sleep(HEAL_EVERY).await;
            }
            state.healing.store(false, Ordering::Release);
        });
    }

    /// Runs `command` on the current connection, following the master on a failover's symptom.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, RedisError> {
        let mut conn = self.get().await;
        let result = command.query_async(&mut conn).await;
        if let Err(error) = &result {
            self.after_error(error).await;
        }
        result
    }
}
