//! Request rate limits: per token (per client address without one), in fixed one-minute windows.
//! Counted in Redis when `REDIS_URL` is set, so that every server process shares them; in this
//! process otherwise. When Redis does not answer, the limiter fails open (and logs): an outage of
//! Redis never fails a request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use issue_tracker_queue::SharedCounter;

const WINDOW_SECONDS: u64 = 60;
/// Most clients counted in this process at once (keys are short: `ip:<address>` or
/// `token:<32 hex>`), so memory stays bounded whatever clients send.
const MAX_CLIENTS: usize = 100_000;

/// Seconds since the Unix epoch (the rate-limit windows and `Retry-After`).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The verdict on one request, for the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// The limit of this client.
    pub limit: u64,
    /// Requests left in this window.
    pub remaining: u64,
    /// Unix seconds when the window resets.
    pub reset: u64,
    /// Over the limit: answer 429.
    pub exceeded: bool,
}

/// Counts requests per client.
pub struct RateLimiter {
    per_token: u64,
    per_address: u64,
    shared: Option<SharedCounter>,
    local: Mutex<HashMap<String, (u64, u64)>>,
    /// Clients known to be over their limit in this window, with the window's end: a request
    /// that presents a token is refused at once when its address is here (random tokens must
    /// not open fresh buckets).
    blocked: Mutex<HashMap<String, u64>>,
    redis: RedisBackoff,
}

/// After Redis fails, it is left alone for a while: requests never wait on a Redis outage.
#[derive(Default)]
pub(crate) struct RedisBackoff {
    down_until: Mutex<Option<Instant>>,
}

impl RedisBackoff {
    /// Whether Redis may be tried now.
    pub(crate) fn usable(&self) -> bool {
        let mut down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        match *down {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                *down = None;
                true
            }
            None => true,
        }
    }

    /// Redis failed: leave it alone for [`REDIS_BACKOFF`] (one warning per outage).
    pub(crate) fn failed(&self, what: &str, error: &str) {
        let mut down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        if down.is_none() {
            tracing::warn!(%error, "{what} cannot reach Redis; counting in this process for a while");
        }
        *down = Some(Instant::now() + REDIS_BACKOFF);
    }
}

/// How long one Redis call may take before the request goes on without it.
pub(crate) const REDIS_BUDGET: Duration = Duration::from_millis(50);
/// How long Redis is left alone after a failure.
const REDIS_BACKOFF: Duration = Duration::from_secs(5);

impl RateLimiter {
    /// Limits per minute for token holders and for anonymous addresses; `shared` counts in Redis.
    pub fn new(per_token: u64, per_address: u64, shared: Option<SharedCounter>) -> RateLimiter {
        RateLimiter {
            per_token,
            per_address,
            shared,
            local: Mutex::new(HashMap::new()),
            blocked: Mutex::new(HashMap::new()),
            redis: RedisBackoff::default(),
        }
    }

    /// Counts one request of `client` (`token:<hash>` or `ip:<address>`).
    pub async fn hit(&self, client: &str, has_token: bool) -> Verdict {
        let now = unix_now();
        let window = now / WINDOW_SECONDS;
        let reset = (window + 1) * WINDOW_SECONDS;
        let limit = if has_token {
            self.per_token
        } else {
            self.per_address
        };
        let count = match self.usable_redis() {
            Some(shared) => {
                let key = format!("issue-tracker:ratelimit:{client}:{window}");
                let counted = tokio::time::timeout(
                    REDIS_BUDGET,
                    shared.increment(&key, Duration::from_secs(WINDOW_SECONDS * 2)),
                )
                .await;
                match counted {
                    Ok(Ok(count)) => count,
                    Ok(Err(error)) => {
                        self.redis.failed("rate limiter", &error.to_string());
                        self.local_hit(client, window)
                    }
                    Err(_) => {
                        self.redis.failed("rate limiter", "no answer in time");
                        self.local_hit(client, window)
                    }
                }
            }
            None => self.local_hit(client, window),
        };
        let exceeded = count > limit;
        if exceeded {
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            if blocked.len() >= MAX_CLIENTS {
                blocked.retain(|_, until| *until > now);
            }
            if blocked.len() < MAX_CLIENTS {
                blocked.insert(client.to_owned(), reset);
            }
        }
        Verdict {
            limit,
            remaining: limit.saturating_sub(count),
            reset,
            exceeded,
        }
    }

    /// The verdict for `client` (an address) when it is already over its limit in this window,
    /// without counting anything; `None` otherwise.
    pub fn blocked(&self, client: &str) -> Option<Verdict> {
        let now = unix_now();
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let reset = *blocked.get(client).filter(|until| **until > now)?;
        Some(Verdict {
            limit: self.per_address,
            remaining: 0,
            reset,
            exceeded: true,
        })
    }

    fn usable_redis(&self) -> Option<&SharedCounter> {
        self.shared.as_ref().filter(|_| self.redis.usable())
    }

    fn local_hit(&self, client: &str, window: u64) -> u64 {
        let mut counts = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() >= MAX_CLIENTS {
            counts.retain(|_, (w, _)| *w == window);
            if counts.len() >= MAX_CLIENTS {
                // More distinct clients in one minute than we keep: forget them all rather than
                // grow (counting fails open, memory stays bounded).
                tracing::warn!(
                    clients = counts.len(),
                    "rate limiter: too many clients this minute; counts reset"
                );
                counts.clear();
            }
        }
        let entry = counts.entry(client.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_per_client_and_flags_the_excess() {
        let limiter = RateLimiter::new(3, 1, None);
        for expected in [2, 1, 0] {
            let verdict = limiter.hit("token:a", true).await;
            assert_eq!((verdict.remaining, verdict.exceeded), (expected, false));
        }
        assert!(limiter.hit("token:a", true).await.exceeded);
        assert!(!limiter.hit("token:b", true).await.exceeded);
        assert!(!limiter.hit("ip:1", false).await.exceeded);
        assert!(limiter.hit("ip:1", false).await.exceeded);
    }
}
