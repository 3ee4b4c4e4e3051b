//! How many imported (Django) password hashes are checked at once. One check costs up to a
//! quarter of a core-second (PBKDF2 at 2,000,000 iterations) or 100 MB of memory (Argon2 at
//! Django's defaults): with the gate, logins against such hashes queue behind as many checks as
//! there are cores instead of taking every blocking thread and gigabytes at once. Our own bcrypt
//! hashes do not pass through it.

use std::sync::{Condvar, Mutex};

use issue_tracker_domain::{check_password, classify_stored_hash, PasswordCheck, StoredHashKind};
use issue_tracker_persistence::PasswordUpgrade;

use crate::error::ApiError;

/// A counting gate of the checks of imported hashes.
#[derive(Debug)]
pub struct PasswordGate {
    /// Checks running now, and the most ever running at once.
    running: Mutex<(usize, usize)>,
    freed: Condvar,
    limit: usize,
}

impl PasswordGate {
    /// A gate letting `limit` checks run at once (at least one).
    pub fn new(limit: usize) -> PasswordGate {
        PasswordGate {
            running: Mutex::new((0, 0)),
            freed: Condvar::new(),
            limit: limit.max(1),
        }
    }

    /// One per core.
    pub fn per_core() -> PasswordGate {
        PasswordGate::new(std::thread::available_parallelism().map_or(2, usize::from))
    }

    /// [`check_password`], waiting for a turn when `stored` is an imported hash. Call it from a
    /// blocking thread.
    pub fn check(&self, stored: &str, candidate: &str) -> PasswordCheck {
        if !matches!(classify_stored_hash(stored), StoredHashKind::Django(_)) {
            return check_password(stored, candidate);
        }
        {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            while running.0 >= self.limit {
                running = self.freed.wait(running).unwrap_or_else(|e| e.into_inner());
            }
            running.0 += 1;
            running.1 = running.1.max(running.0);
        }
        let check = check_password(stored, candidate);
        self.running.lock().unwrap_or_else(|e| e.into_inner()).0 -= 1;
        self.freed.notify_one();
        check
    }

    /// How many checks run now, and the most that ever ran at once.
    pub fn running(&self) -> (usize, usize) {
        *self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// After a right password against an imported (Django) hash: the bcrypt hash to store in its
/// place, in the login's transaction, so that the imported hash is gone after the first login.
pub fn upgrade_of(
    check: PasswordCheck,
    imported: &str,
    password: &str,
    cost: u32,
) -> Result<Option<PasswordUpgrade>, ApiError> {
    if check != PasswordCheck::RightButRehash {
        return Ok(None);
    }
    let bcrypt = bcrypt::hash(password, cost).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Some(PasswordUpgrade {
        imported: imported.to_owned(),
        bcrypt,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn no_more_than_the_limit_run_at_once() {
        let gate = Arc::new(PasswordGate::new(2));
        // A real imported hash, cheap enough for a test: PBKDF2-SHA256 at 20,000 iterations.
        let stored = "pbkdf2_sha256$20000$salt$aygayFoVMfOGYCalrIzpK/oQ3JlgPPFaP0gEuVCKQlI=";
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let gate = gate.clone();
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        assert_eq!(gate.check(stored, "secret"), PasswordCheck::RightButRehash);
                        assert_eq!(gate.check(stored, "wrong"), PasswordCheck::Wrong);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(
            gate.running(),
            (0, 2),
            "none left running; two at once at most"
        );
    }
}
