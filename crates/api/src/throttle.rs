//! Login throttling, checked before any password hashing. Failed logins are counted in fixed
//! windows per client address, per (username, address), and per username from all addresses
//! together (a much higher ceiling): one address can neither guess a password quickly nor lock a
//! user out for everybody. Each attempt reserves its slot before hashing, so concurrent attempts
//! cannot pass the limit; a successful login gives its slot back (ordinary clients are never
//! throttled). Keys are bounded in length (long usernames are hashed) and in number.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
}

impl LoginThrottle {
    /// These limits in each `window`.
    pub fn new(limits: LoginLimits, window: Duration) -> LoginThrottle {
        LoginThrottle {
            limits,
            window,
            counts: Mutex::new(HashMap::new()),
        }
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

    /// Reserves one failure slot for this attempt, before any hashing: `Err(seconds)` when the
    /// address, the (username, address) pair or the username is at its limit (nothing counted).
    /// Call [`LoginThrottle::release`] when the login succeeds.
    pub fn reserve(&self, address: &str, username: &str) -> Result<(), u64> {
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

    /// Gives back the slot of a successful login.
    pub fn release(&self, address: &str, username: &str) {
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
        assert!(t.reserve("1.1.1.1", "ann").is_ok());
        assert!(t.reserve("1.1.1.1", "ann").is_ok());
        // The pair is at its limit; ann from elsewhere is not.
        assert!(t.reserve("1.1.1.1", "ann").is_err());
        assert!(t.reserve("2.2.2.2", "ann").is_ok());
        assert!(t.reserve("3.3.3.3", "ann").is_ok());
        assert!(t.reserve("4.4.4.4", "ann").is_ok());
        // The global ceiling (5) is reached.
        let wait = t.reserve("5.5.5.5", "ann").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(t.reserve("5.5.5.5", "bob").is_ok());
    }

    #[test]
    fn per_address_limit_and_release() {
        let t = throttle(2, 10, 100);
        assert!(t.reserve("1.1.1.1", "a").is_ok());
        t.release("1.1.1.1", "a");
        assert!(t.reserve("1.1.1.1", "b").is_ok());
        assert!(t.reserve("1.1.1.1", "c").is_ok());
        assert!(t.reserve("1.1.1.1", "d").is_err());
    }

    #[test]
    fn long_usernames_are_hashed_and_keys_bounded() {
        let t = throttle(u32::MAX, u32::MAX, u32::MAX);
        let long = "x".repeat(1_000_000);
        t.reserve("1.1.1.1", &long).unwrap();
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
        t.reserve("a", "b").unwrap();
        assert!(t.reserve("a", "b").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.reserve("a", "b").is_ok());
    }
}
