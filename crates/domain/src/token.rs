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

/// What a restricted token may do. A token issued at login has no scopes and acts with all of its
/// user's rights; a token with scopes may do only what they name, whoever its user is (least
/// privilege for a consumer that needs one thing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenScope {
    /// Read the history: `GET /api/events/` and `GET /api/history/`.
    EventsRead,
}

impl TokenScope {
    /// Every scope, in the order they are listed.
    pub const ALL: [TokenScope; 1] = [TokenScope::EventsRead];

    /// The scope's name, as clients send it and as it is stored.
    ///
    /// ```
    /// use issue_tracker_domain::TokenScope;
    /// assert_eq!(TokenScope::EventsRead.as_str(), "events:read");
    /// assert_eq!("events:read".parse::<TokenScope>(), Ok(TokenScope::EventsRead));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::EventsRead => "events:read",
        }
    }
}

impl std::fmt::Display for TokenScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TokenScope {
    type Err = String;

    /// Parses a scope name; the error says which names exist.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        TokenScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = TokenScope::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "Unknown scope \"{name}\"; the scopes are: {}.",
                    known.join(", ")
                )
            })
    }
}

/// A token's scopes: empty for a full token (its user's rights), else the only things it may do.
///
/// Stored as the names separated by spaces, as OAuth writes them.
///
/// ```
/// use issue_tracker_domain::{TokenScope, TokenScopes};
///
/// let scopes = TokenScopes::parse_stored("events:read");
/// assert!(scopes.allows(TokenScope::EventsRead));
/// assert!(scopes.is_restricted());
/// assert_eq!(scopes.to_stored(), "events:read");
/// assert!(!TokenScopes::FULL.is_restricted());
/// // A full token is not "scoped": it acts with its user's rights, which decide.
/// assert!(!TokenScopes::FULL.allows(TokenScope::EventsRead));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenScopes(Vec<TokenScope>);

impl TokenScopes {
    /// No scopes: a full token.
    pub const FULL: TokenScopes = TokenScopes(Vec::new());

    /// The given scopes, sorted and without repeats.
    pub fn new(scopes: impl IntoIterator<Item = TokenScope>) -> TokenScopes {
        let mut scopes: Vec<TokenScope> = scopes.into_iter().collect();
        scopes.sort();
        scopes.dedup();
        TokenScopes(scopes)
    }

    /// Reads the stored form; names this build does not know are dropped, so a token from a newer
    /// build can do less here, never more.
    pub fn parse_stored(stored: &str) -> TokenScopes {
        TokenScopes::new(
            stored
                .split_whitespace()
                .filter_map(|name| name.parse().ok()),
        )
    }

    /// The stored form: names separated by single spaces.
    pub fn to_stored(&self) -> String {
        self.names().join(" ")
    }

    /// The names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|scope| scope.as_str()).collect()
    }

    /// Whether the token may do only what its scopes name.
    pub fn is_restricted(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether the token carries `scope`.
    pub fn allows(&self, scope: TokenScope) -> bool {
        self.0.contains(&scope)
    }
}

/// Reads a request's list of scope names (`["events:read"]`): a non-empty JSON array of known
/// names. Repeats are kept once.
///
/// ```
/// use issue_tracker_domain::{parse_scope_list, TokenScope};
/// use serde_json::json;
///
/// let scopes = parse_scope_list(&json!(["events:read", "events:read"])).unwrap();
/// assert_eq!(scopes.names(), ["events:read"]);
/// assert!(parse_scope_list(&json!([])).is_err());
/// assert!(parse_scope_list(&json!("events:read")).is_err());
/// assert_eq!(
///     parse_scope_list(&json!(["admin"])).unwrap_err(),
///     "Unknown scope \"admin\"; the scopes are: events:read."
/// );
/// ```
pub fn parse_scope_list(value: &serde_json::Value) -> Result<TokenScopes, String> {
    let serde_json::Value::Array(items) = value else {
        return Err("Expected a list of scope names.".to_owned());
    };
    if items.is_empty() {
        return Err("This list may not be empty.".to_owned());
    }
    let mut scopes = Vec::with_capacity(items.len());
    for item in items {
        let Some(name) = item.as_str() else {
            return Err("Expected a list of scope names.".to_owned());
        };
        scopes.push(name.parse::<TokenScope>()?);
    }
    Ok(TokenScopes::new(scopes))
}
