//! Login throttling: failed logins are counted per client address and per username in fixed
//! one-minute windows; past the limit, the login endpoint answers 429 before any password hashing.
//! Successful logins are not counted, so ordinary clients are never throttled.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failed logins.
pub struct LoginThrottle {
    per_address: u32,
    per_username: u32,
    window: Duration,
    counts: Mutex<HashMap<String, (Instant, u32)>>,
}

impl LoginThrottle {
    /// At most `per_address` failures per client address and `per_username` per username in
    /// each `window`.
    pub fn new(per_address: u32, per_username: u32, window: Duration) -> LoginThrottle {
        LoginThrottle {
            per_address,
            per_username,
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    fn keys(address: &str, username: &str) -> [(String, u32); 2] {
        [
            (format!("ip:{address}"), 0),
            (format!("user:{username}"), 1),
        ]
    }

    /// `Err(seconds)` when this address or username has failed too often; nothing is counted.
    pub fn check(&self, address: &str, username: &str) -> Result<(), u64> {
        let now = Instant::now();
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for (key, which) in Self::keys(address, username) {
            let limit = if which == 0 {
                self.per_address
            } else {
                self.per_username
            };
            if let Some((started, count)) = counts.get(&key) {
                let elapsed = now.duration_since(*started);
                if elapsed < self.window && *count >= limit {
                    return Err((self.window - elapsed).as_secs().max(1));
                }
            }
        }
        Ok(())
    }

    /// Counts one failed login.
    pub fn record_failure(&self, address: &str, username: &str) {
        let now = Instant::now();
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > 100_000 {
            let window = self.window;
            counts.retain(|_, (started, _)| now.duration_since(*started) < window);
        }
        for (key, _) in Self::keys(address, username) {
            let entry = counts.entry(key).or_insert((now, 0));
            if now.duration_since(entry.0) >= self.window {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_failures_per_address_and_per_username() {
        let throttle = LoginThrottle::new(3, 2, Duration::from_secs(60));
        throttle.record_failure("1.1.1.1", "ann");
        assert!(throttle.check("1.1.1.1", "ann").is_ok());
        throttle.record_failure("1.1.1.1", "ann");
        // ann reached 2 failures: refused from any address.
        assert!(throttle.check("2.2.2.2", "ann").is_err());
        assert!(throttle.check("1.1.1.1", "bob").is_ok());
        throttle.record_failure("1.1.1.1", "bob");
        // The address reached 3.
        let wait = throttle.check("1.1.1.1", "carl").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(throttle.check("3.3.3.3", "carl").is_ok());
    }

    #[test]
    fn windows_expire() {
        let throttle = LoginThrottle::new(1, 1, Duration::from_millis(50));
        throttle.record_failure("a", "b");
        assert!(throttle.check("a", "b").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(throttle.check("a", "b").is_ok());
    }
}
