use sha2::{Digest, Sha256};

/// How many leading characters of a token are kept in clear, so a user can tell tokens apart.
pub const TOKEN_PREFIX_CHARS: usize = 8;

/// A freshly issued API token: the clear key, shown once to the client, and what is stored.
///
/// ```
/// use issue_tracker_domain::{hash_token, NewToken};
///
/// let token = NewToken::generate();
/// assert_eq!(token.key.len(), 40);
/// assert!(token.key.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
/// assert_eq!(token.hash, hash_token(&token.key));
/// assert_eq!(token.prefix, &token.key[..8]);
/// ```
#[derive(Clone)]
pub struct NewToken {
    /// 40 lowercase hex characters (20 random bytes): the contract's format.
    pub key: String,
    /// SHA-256 of the key, hex: the only form stored.
    pub hash: String,
    /// The first [`TOKEN_PREFIX_CHARS`] characters of the key.
    pub prefix: String,
}

impl NewToken {
    /// Draws 20 bytes from the operating system's generator.
    pub fn generate() -> NewToken {
        let mut bytes = [0u8; 20];
        // A machine without an OS random source cannot issue safe tokens at all.
        getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
        let key = hex::encode(bytes);
        NewToken {
            hash: hash_token(&key),
            prefix: key[..TOKEN_PREFIX_CHARS].to_owned(),
            key,
        }
    }
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The stored form of a token key: SHA-256, lowercase hex. A fast hash suffices because keys are
/// 160 random bits, not guessable passwords.
///
/// ```
/// assert_eq!(issue_tracker_domain::hash_token("abc").len(), 64);
/// ```
pub fn hash_token(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}
