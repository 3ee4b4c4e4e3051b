//! Login throttling, checked before any password hashing. Failed logins are counted in fixed
//! windows per client address, per (username, address), and per username from all addresses
//! together (a much higher ceiling): one address can neither guess a password quickly nor lock a
//! user out for everybody. Each attempt reserves its slot before hashing, so concurrent attempts
//! cannot pass the limit; a successful login gives its slot back (ordinary clients are never
//! throttled). Keys are bounded in length (long usernames are hashed) and in number.
//!
//! With Redis (`REDIS_URL`), the counts are kept there, so that every server process shares them
//! (a guesser spreading attempts over the servers behind one port gets no more tries); when
//! Redis does not answer, each process counts on its own for a while, as the rate limits do.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use issue_tracker_queue::SharedCounter;

use crate::ratelimit::{unix_now, RedisBackoff, REDIS_BUDGET};

/// Most keys kept at once; past it, expired windows are dropped, then (an attack from very many
/// addresses) everything, so that memory stays bounded.
const MAX_KEYS: usize = 100_000;
/// Usernames longer than this are counted under their hash.
const MAX_KEY_USERNAME_BYTES: usize = 64;

/// Limits per window.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures per client address.
    pub per_address: u32,
    /// Failures per (username, client address).
    pub per_username: u32,
    /// Failures per username, all addresses together.
    pub per_username_global: u32,
}

/// Counts failed logins.
pub struct LoginThrottle {
    limits: LoginLimits,
    window: Duration,
    counts: Mutex<HashMap<String, (Instant, u32)>>,
    shared: Option<SharedCounter>,
    redis: RedisBackoff,
}

impl LoginThrottle {
    /// These limits in each `window`.
    pub fn new(limits: LoginLimits, window: Duration) -> LoginThrottle {
        LoginThrottle {
            limits,
            window,
            counts: Mutex::new(HashMap::new()),
            shared: None,
            redis: RedisBackoff::default(),
        }
    }

    /// Counts in Redis, shared by every process using it.
    pub fn with_shared(mut self, shared: SharedCounter) -> LoginThrottle {
        self.shared = Some(shared);
        self
    }

    /// The Redis keys of this attempt in the current fixed window, with their limits, and the
    /// seconds until the window ends.
    fn shared_keys(&self, address: &str, username: &str) -> (Vec<(String, u64)>, u64) {
        let length = self.window.as_secs().max(1);
        let now = unix_now();
        let window = now / length;
        let keys = self
            .keys(address, username)
            .into_iter()
            .map(|(key, limit)| {
                (
                    format!("issue-tracker:login:{key}:{window}"),
                    u64::from(limit),
                )
            })
            .collect();
        (keys, (window + 1) * length - now)
    }

    fn usable_redis(&self) -> Option<&SharedCounter> {
        self.shared.as_ref().filter(|_| self.redis.usable())
    }

    /// Reserves one failure slot for this attempt, before any hashing: `Err(seconds)` when the
    /// address, the (username, address) pair or the username is at its limit (nothing counted).
    /// Call [`LoginThrottle::release`] when the login succeeds.
    pub async fn reserve(&self, address: &str, username: &str) -> Result<(), u64> {
        if let Some(shared) = self.usable_redis() {
            let (keys, retry_after) = self.shared_keys(address, username);
            let ttl = self.window * 2;
            match tokio::time::timeout(REDIS_BUDGET, shared.reserve(&keys, ttl)).await {
                Ok(Ok(true)) => return Ok(()),
                Ok(Ok(false)) => return Err(retry_after.max(1)),
                Ok(Err(error)) => self.redis.failed("login throttle", &error.to_string()),
                Err(_) => self.redis.failed("login throttle", "no answer in time"),
            }
        }
        self.reserve_here(address, username)
    }

    /// Gives back the slot of a successful login.
    pub async fn release(&self, address: &str, username: &str) {
        if let Some(shared) = self.usable_redis() {
            let (keys, _) = self.shared_keys(address, username);
            let keys: Vec<String> = keys.into_iter().map(|(key, _)| key).collect();
            match tokio::time::timeout(REDIS_BUDGET, shared.release(&keys)).await {
                Ok(Ok(())) => return,
                Ok(Err(error)) => self.redis.failed("login throttle", &error.to_string()),
                Err(_) => self.redis.failed("login throttle", "no answer in time"),
            }
        }
        self.release_here(address, username);
    }

    fn keys(&self, address: &str, username: &str) -> [(String, u32); 3] {
        let user = if username.len() > MAX_KEY_USERNAME_BYTES {
            format!("#{}", &issue_tracker_domain::hash_token(username)[..32])
        } else {
            username.to_owned()
        };
        [
            (format!("ip:{address}"), self.limits.per_address),
            (format!("pair:{address}:{user}"), self.limits.per_username),
            (format!("user:{user}"), self.limits.per_username_global),
        ]
    }

    /// [`LoginThrottle::reserve`] in this process.
    fn reserve_here(&self, address: &str, username: &str) -> Result<(), u64> {
        let now = Instant::now();
        let keys = self.keys(address, username);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for (key, limit) in &keys {
            if let Some((started, count)) = counts.get(key) {
                let elapsed = now.duration_since(*started);
                if elapsed < self.window && count >= limit {
                    return Err((self.window - elapsed).as_secs().max(1));
                }
            }
        }
        if counts.len() + keys.len() > MAX_KEYS {
            let window = self.window;
            counts.retain(|_, (started, _)| now.duration_since(*started) < window);
            if counts.len() + keys.len() > MAX_KEYS {
                tracing::warn!(
                    keys = counts.len(),
                    "login throttle: too many keys this window; counts reset"
                );
                counts.clear();
            }
        }
        for (key, _) in keys {
            let entry = counts.entry(key).or_insert((now, 0));
            if now.duration_since(entry.0) >= self.window {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
        Ok(())
    }

    /// [`LoginThrottle::release`] in this process.
    fn release_here(&self, address: &str, username: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for (key, _) in self.keys(address, username) {
            if let Some(entry) = counts.get_mut(&key) {
                entry.1 = entry.1.saturating_sub(1);
            }
        }
    }

    /// How many keys are held (for tests of the bound).
    pub fn len(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_address: u32, per_username: u32, global: u32) -> LoginThrottle {
        LoginThrottle::new(
            LoginLimits {
                per_address,
                per_username,
                per_username_global: global,
            },
            Duration::from_secs(60),
        )
    }

    #[test]
    fn per_pair_limits_one_address_without_locking_the_user_out() {
        let t = throttle(100, 2, 5);
        assert!(t.reserve_here("1.1.1.1", "ann").is_ok());
        assert!(t.reserve_here("1.1.1.1", "ann").is_ok());
        // The pair is at its limit; ann from elsewhere is not.
        assert!(t.reserve_here("1.1.1.1", "ann").is_err());
        assert!(t.reserve_here("2.2.2.2", "ann").is_ok());
        assert!(t.reserve_here("3.3.3.3", "ann").is_ok());
        assert!(t.reserve_here("4.4.4.4", "ann").is_ok());
        // The global ceiling (5) is reached.
        let wait = t.reserve_here("5.5.5.5", "ann").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(t.reserve_here("5.5.5.5", "bob").is_ok());
    }

    #[test]
    fn per_address_limit_and_release() {
        let t = throttle(2, 10, 100);
        assert!(t.reserve_here("1.1.1.1", "a").is_ok());
        t.release_here("1.1.1.1", "a");
        assert!(t.reserve_here("1.1.1.1", "b").is_ok());
        assert!(t.reserve_here("1.1.1.1", "c").is_ok());
        assert!(t.reserve_here("1.1.1.1", "d").is_err());
    }

    #[test]
    fn long_usernames_are_hashed_and_keys_bounded() {
        let t = throttle(u32::MAX, u32::MAX, u32::MAX);
        let long = "x".repeat(1_000_000);
        t.reserve_here("1.1.1.1", &long).unwrap();
        let counts = t.counts.lock().unwrap();
        assert!(
            counts.keys().all(|k| k.len() < 100),
            "a key kept the username"
        );
    }

    #[test]
    fn windows_expire() {
        let t = LoginThrottle::new(
            LoginLimits {
                per_address: 1,
                per_username: 1,
                per_username_global: 1,
            },
            Duration::from_millis(50),
        );
        t.reserve_here("a", "b").unwrap();
        assert!(t.reserve_here("a", "b").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.reserve_here("a", "b").is_ok());
    }

    /// Two processes sharing one Redis: failures count together, concurrent attempts never pass
    /// the limit, a success gives its slot back in Redis.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn shared_counts_hold_across_processes() {
        let url =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let connect = || async {
            SharedCounter::connect(&issue_tracker_queue::RedisEndpoint::Url(url.clone()))
                .await
                .expect("Redis must be running for the tests")
        };
        let one = std::sync::Arc::new(throttle(1_000, 10, 1_000).with_shared(connect().await));
        let two = std::sync::Arc::new(throttle(1_000, 10, 1_000).with_shared(connect().await));
        let user = format!("user-{}", uuid::Uuid::new_v4().simple());
        let mut attempts = Vec::new();
        for i in 0..40 {
            let (throttle, user) = (if i % 2 == 0 { &one } else { &two }.clone(), user.clone());
            attempts.push(tokio::spawn(async move {
                throttle.reserve("9.9.9.9", &user).await.is_ok()
            }));
        }
        let mut allowed = 0;
        for attempt in attempts {
            allowed += usize::from(attempt.await.unwrap());
        }
        assert_eq!(
            allowed, 10,
            "the two processes together allow the limit, no more"
        );
        one.release("9.9.9.9", &user).await;
        assert!(
            two.reserve("9.9.9.9", &user).await.is_ok(),
            "the release is shared"
        );
        assert!(two.reserve("9.9.9.9", &user).await.is_err());
        // Nothing was counted in either process.
        assert!(one.is_empty() && two.is_empty());
    }
}
