//! Request rate limits: per token (per client address without one), in fixed one-minute windows.
//! Counted in Redis when `REDIS_URL` is set, so that every server process shares them; in this
//! process otherwise. When Redis does not answer, the limiter fails open (and logs): an outage of
//! Redis never fails a request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use issue_tracker_queue::SharedCounter;

const WINDOW_SECONDS: u64 = 60;

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
}

impl RateLimiter {
    /// Limits per minute for token holders and for anonymous addresses; `shared` counts in Redis.
    pub fn new(per_token: u64, per_address: u64, shared: Option<SharedCounter>) -> RateLimiter {
        RateLimiter {
            per_token,
            per_address,
            shared,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `client` (`token:<hash>` or `ip:<address>`).
    pub async fn hit(&self, client: &str, has_token: bool) -> Verdict {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let window = now / WINDOW_SECONDS;
        let reset = (window + 1) * WINDOW_SECONDS;
        let limit = if has_token {
            self.per_token
        } else {
            self.per_address
        };
        let count = match &self.shared {
            Some(shared) => {
                let key = format!("issue-tracker:ratelimit:{client}:{window}");
                match shared
                    .increment(&key, Duration::from_secs(WINDOW_SECONDS * 2))
                    .await
                {
                    Ok(count) => count,
                    Err(error) => {
                        tracing::warn!(%error, "rate limiter cannot reach Redis; counting locally");
                        self.local_hit(client, window)
                    }
                }
            }
            None => self.local_hit(client, window),
        };
        Verdict {
            limit,
            remaining: limit.saturating_sub(count),
            reset,
            exceeded: count > limit,
        }
    }

    fn local_hit(&self, client: &str, window: u64) -> u64 {
        let mut counts = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > 100_000 {
            counts.retain(|_, (w, _)| *w == window);
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
