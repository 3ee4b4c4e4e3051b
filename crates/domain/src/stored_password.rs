//! Checking a password against what an account stores: our own bcrypt hashes, and the hashes of a
//! Django deployment imported as they were (`algorithm$...`), until each user's first login
//! replaces theirs with bcrypt.

use base64::Engine;
use sha2::Digest;
use subtle::ConstantTimeEq;

/// The most PBKDF2 iterations an imported hash may ask for: twice Django 5.2's 1,000,000. A
/// login against such a hash costs about 250 ms of one core, as much as a bcrypt check at cost 12
/// (`examples/password_cost.rs` measures: 123 ms at 1,000,000); more would hand an attacker a
/// cheap way to burn the server's cores.
pub const MAX_PBKDF2_ITERATIONS: u32 = 2_000_000;

/// What a stored hash is, and whether this service can check a password against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredHashKind {
    /// Our own bcrypt hash (`$2b$...`).
    Bcrypt,
    /// A Django hash we verify: `pbkdf2_sha256`, `pbkdf2_sha1`, `bcrypt_sha256`, `bcrypt` or
    /// `argon2`.
    Django(&'static str),
    /// Django's unusable password (`!...`): nothing ever matches it.
    Unusable,
    /// Anything else (another algorithm, a malformed string): cannot be checked.
    Unsupported,
}

const DJANGO_ALGORITHMS: [&str; 5] = [
    "pbkdf2_sha256",
    "pbkdf2_sha1",
    "bcrypt_sha256",
    "bcrypt",
    "argon2",
];

/// Classifies a stored hash string, checking its shape (not any password).
///
/// ```
/// use issue_tracker_domain::{classify_stored_hash, StoredHashKind};
///
/// assert_eq!(classify_stored_hash("pbkdf2_sha256$36000$salt$AAAA"), StoredHashKind::Django("pbkdf2_sha256"));
/// assert_eq!(classify_stored_hash("!Xq2…"), StoredHashKind::Unusable);
/// assert_eq!(classify_stored_hash("md5$salt$abc"), StoredHashKind::Unsupported);
/// ```
pub fn classify_stored_hash(stored: &str) -> StoredHashKind {
    if stored.starts_with('!') {
        return StoredHashKind::Unusable;
    }
    if stored.starts_with("$2") {
        return StoredHashKind::Bcrypt;
    }
    let Some((algorithm, rest)) = stored.split_once('$') else {
        return StoredHashKind::Unsupported;
    };
    let Some(known) = DJANGO_ALGORITHMS.iter().find(|a| **a == algorithm) else {
        return StoredHashKind::Unsupported;
    };
    let well_formed = match algorithm {
        "pbkdf2_sha256" | "pbkdf2_sha1" => parse_pbkdf2(rest).is_some(),
        "bcrypt_sha256" | "bcrypt" => rest.starts_with("$2"),
        "argon2" => argon2::PasswordHash::new(&format!("${rest}")).is_ok_and(|hash| {
            hash.hash.is_some()
                && ["argon2id", "argon2i", "argon2d"].contains(&hash.algorithm.as_str())
        }),
        _ => false,
    };
    if well_formed {
        StoredHashKind::Django(known)
    } else {
        StoredHashKind::Unsupported
    }
}

/// The outcome of [`check_password`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// Wrong password, unusable or unsupported hash.
    Wrong,
    /// Right, and the hash is ours.
    Right,
    /// Right, against an imported hash: store a bcrypt hash in its place, now.
    RightButRehash,
}

/// Checks `candidate` against `stored`, in time that does not depend on where they differ.
///
/// ```
/// use issue_tracker_domain::{check_password, PasswordCheck};
///
/// // What Django 1.11 makes of make_password("secret", "salt", "pbkdf2_sha256").
/// let django = "pbkdf2_sha256$36000$salt$PP3VASG2qhG5ekU8zNf5Ti+56z7O7eUP6qw3dhWL+t8=";
/// assert_eq!(check_password(django, "secret"), PasswordCheck::RightButRehash);
/// assert_eq!(check_password(django, "Secret"), PasswordCheck::Wrong);
/// assert_eq!(check_password("!unusable", ""), PasswordCheck::Wrong);
/// ```
pub fn check_password(stored: &str, candidate: &str) -> PasswordCheck {
    let right = match classify_stored_hash(stored) {
        StoredHashKind::Bcrypt => {
            return match bcrypt::verify(candidate.as_bytes(), stored).unwrap_or(false) {
                true => PasswordCheck::Right,
                false => PasswordCheck::Wrong,
            }
        }
        StoredHashKind::Unusable | StoredHashKind::Unsupported => false,
        StoredHashKind::Django(algorithm) => {
            let rest = &stored[algorithm.len() + 1..];
            match algorithm {
                "pbkdf2_sha256" => {
                    check_pbkdf2(pbkdf2::pbkdf2_hmac::<sha2::Sha256>, rest, candidate)
                }
                "pbkdf2_sha1" => check_pbkdf2(pbkdf2::pbkdf2_hmac::<sha1::Sha1>, rest, candidate),
                "bcrypt" => bcrypt::verify(candidate.as_bytes(), rest).unwrap_or(false),
                "bcrypt_sha256" => {
                    // Django hashes the password with SHA-256 first, as hex, so that bcrypt's
                    // 72-byte limit never cuts it.
                    let digest = hex::encode(sha2::Sha256::digest(candidate.as_bytes()));
                    bcrypt::verify(digest.as_bytes(), rest).unwrap_or(false)
                }
                "argon2" => check_argon2(rest, candidate),
                _ => false,
            }
        }
    };
    if right {
        PasswordCheck::RightButRehash
    } else {
        PasswordCheck::Wrong
    }
}

/// `iterations$salt$base64 hash`.
fn parse_pbkdf2(rest: &str) -> Option<(u32, &str, Vec<u8>)> {
    let mut parts = rest.splitn(3, '$');
    let iterations: u32 = parts.next()?.parse().ok()?;
    let salt = parts.next()?;
    let hash = base64::engine::general_purpose::STANDARD
        .decode(parts.next()?)
        .ok()?;
    let usable = (1..=MAX_PBKDF2_ITERATIONS).contains(&iterations)
        && !salt.is_empty()
        && !salt.contains('$')
        && !hash.is_empty();
    usable.then_some((iterations, salt, hash))
}

/// A PBKDF2-HMAC with its digest chosen (SHA-256 or SHA-1).
type Pbkdf2 = fn(&[u8], &[u8], u32, &mut [u8]);

fn check_pbkdf2(derive: Pbkdf2, rest: &str, candidate: &str) -> bool {
    let Some((iterations, salt, expected)) = parse_pbkdf2(rest) else {
        return false;
    };
    let mut derived = vec![0u8; expected.len()];
    derive(
        candidate.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut derived,
    );
    derived.ct_eq(&expected).into()
}

fn check_argon2(rest: &str, candidate: &str) -> bool {
    use argon2::PasswordVerifier;
    let phc = format!("${rest}");
    match argon2::PasswordHash::new(&phc) {
        // The algorithm, version and parameters come from the hash itself.
        Ok(hash) => argon2::Argon2::default()
            .verify_password(candidate.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_or_foreign_hashes_are_unsupported_and_never_match() {
        for stored in [
            "",
            "plain",
            "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99",
            "sha1$salt$abc",
            "scrypt$16384$salt$8$1$abc",
            "pbkdf2_sha256$0$salt$AAAA",
            "pbkdf2_sha256$3000000$salt$AAAA",
            "pbkdf2_sha256$x$salt$AAAA",
            "pbkdf2_sha256$36000$$AAAA",
            "argon2$nonsense",
            "bcrypt_sha256$nothing",
        ] {
            assert_eq!(
                classify_stored_hash(stored),
                StoredHashKind::Unsupported,
                "{stored}"
            );
            assert_eq!(
                check_password(stored, "x"),
                PasswordCheck::Wrong,
                "{stored}"
            );
        }
    }

    #[test]
    fn our_bcrypt_hashes_need_no_rehash() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        assert_eq!(check_password(&hash, "pw"), PasswordCheck::Right);
        assert_eq!(check_password(&hash, "pW"), PasswordCheck::Wrong);
    }
}
