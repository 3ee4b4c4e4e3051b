//! The reply address of an email about an issue: `INCOMING_EMAIL_ADDRESS` with a token that names
//! the user and the issue, signed with `SECRET_KEY`, expiring, and revoked when the user's
//! password changes (the signature covers the stored password hash).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{IssueId, UserId};

/// Bytes of the HMAC kept in a token: 80 bits, so that the address stays within the 64
/// characters an address's local part may have.
const SIGNATURE_BYTES: usize = 10;

/// The placeholder `INCOMING_EMAIL_ADDRESS` must hold.
pub const REPLY_TOKEN_PLACEHOLDER: &str = "%{token}";

/// Why a reply token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyTokenRefused {
    /// Not of the form `<user>-<issue>.<expiry>.<signature>`.
    #[error("the reply address is not one this service gives out")]
    Malformed,
    /// Well formed, but not signed for this user as they are now: forged, or revoked by a change
    /// of password.
    #[error("the reply address is not valid (forged, or revoked by a change of password)")]
    BadSignature,
    /// Signed, but past its expiry.
    #[error("the reply address has expired")]
    Expired,
}

/// What a reply token names, before its signature is checked ([`ReplyToken::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyToken {
    /// Who may answer with it.
    pub user: UserId,
    /// The issue the answer becomes a comment on.
    pub issue: IssueId,
    /// Unix seconds after which it is refused.
    pub expires: i64,
    signature: Vec<u8>,
}

/// What the signature covers: the ids, the expiry and the user's stored password hash.
fn mac(
    secret: &[u8],
    user: UserId,
    issue: IssueId,
    expires: i64,
    credential: &str,
) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("reply:{}:{}:{expires}:", user.get(), issue.get()).as_bytes());
    mac.update(credential.as_bytes());
    mac
}

/// The token of `user`'s reply address for `issue`, good until `expires` (Unix seconds) and while
/// their stored password hash is `credential`. Lower-case letters, digits, `-` and `.`: safe in an
/// address's local part, whatever the mail system does with case.
///
/// ```
/// use issue_tracker_domain::{reply_token, IssueId, ReplyToken, UserId};
/// let (ann, issue) = (UserId::new(7), IssueId::new(42).unwrap());
/// let token = reply_token(b"secret", ann, issue, 2_000, "$2b$12$hash");
/// let parsed = ReplyToken::parse(&token).unwrap();
/// assert_eq!((parsed.user, parsed.issue), (ann, issue));
/// assert!(parsed.verify(b"secret", "$2b$12$hash", 1_000).is_ok());
/// ```
pub fn reply_token(
    secret: &[u8],
    user: UserId,
    issue: IssueId,
    expires: i64,
    credential: &str,
) -> String {
    let signature = mac(secret, user, issue, expires, credential)
        .finalize()
        .into_bytes();
    format!(
        "{}-{}.{expires}.{}",
        user.get(),
        issue.get(),
        hex::encode(&signature[..SIGNATURE_BYTES])
    )
}

fn positive(text: &str) -> Option<i64> {
    (!text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse::<i64>().ok())
        .flatten()
        .filter(|value| *value > 0)
}

impl ReplyToken {
    /// Reads a token's parts; the signature is checked by [`ReplyToken::verify`], once the
    /// user's stored password hash is known.
    pub fn parse(token: &str) -> Result<ReplyToken, ReplyTokenRefused> {
        let token = token.to_ascii_lowercase();
        let mut parts = token.split('.');
        let (Some(subject), Some(expires), Some(signed), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ReplyTokenRefused::Malformed);
        };
        let (user, issue) = subject
            .split_once('-')
            .ok_or(ReplyTokenRefused::Malformed)?;
        let user = UserId::new(positive(user).ok_or(ReplyTokenRefused::Malformed)?);
        let issue = positive(issue)
            .and_then(IssueId::new)
            .ok_or(ReplyTokenRefused::Malformed)?;
        let expires = positive(expires).ok_or(ReplyTokenRefused::Malformed)?;
        let signature = hex::decode(signed).map_err(|_| ReplyTokenRefused::Malformed)?;
        if signature.len() != SIGNATURE_BYTES {
            return Err(ReplyTokenRefused::Malformed);
        }
        Ok(ReplyToken {
            user,
            issue,
            expires,
            signature,
        })
    }

    /// Checks that it was signed with `secret` for the user whose stored password hash is
    /// `credential` now, and is not expired at `now` (Unix seconds). Compared in constant time.
    pub fn verify(
        &self,
        secret: &[u8],
        credential: &str,
        now: i64,
    ) -> Result<(), ReplyTokenRefused> {
        mac(secret, self.user, self.issue, self.expires, credential)
            .verify_truncated_left(&self.signature)
            .map_err(|_| ReplyTokenRefused::BadSignature)?;
        if now >= self.expires {
            return Err(ReplyTokenRefused::Expired);
        }
        Ok(())
    }
}

/// The reply address: `pattern` (`INCOMING_EMAIL_ADDRESS`) with its placeholder replaced by
/// `token`.
///
/// ```
/// use issue_tracker_domain::reply_address;
/// assert_eq!(reply_address("reply+%{token}@t.example", "7-42.2000.ab"), "reply+7-42.2000.ab@t.example");
/// ```
pub fn reply_address(pattern: &str, token: &str) -> String {
    pattern.replacen(REPLY_TOKEN_PLACEHOLDER, token, 1)
}

/// The token in `address` if it is a reply address made from `pattern` (compared without regard
/// to case, as mail systems may change it; angle brackets and a display name are ignored).
///
/// ```
/// use issue_tracker_domain::token_in_address;
/// let pattern = "reply+%{token}@t.example";
/// assert_eq!(token_in_address(pattern, "Ann <Reply+7-42.2000.ab@T.example>"), Some("7-42.2000.ab".into()));
/// assert_eq!(token_in_address(pattern, "ann@t.example"), None);
/// ```
pub fn token_in_address(pattern: &str, address: &str) -> Option<String> {
    let (prefix, suffix) = pattern.split_once(REPLY_TOKEN_PLACEHOLDER)?;
    let address = address.trim();
    let address = match (address.rfind('<'), address.rfind('>')) {
        (Some(open), Some(close)) if open < close => &address[open + 1..close],
        _ => address,
    }
    .trim()
    .to_ascii_lowercase();
    let (prefix, suffix) = (prefix.to_ascii_lowercase(), suffix.to_ascii_lowercase());
    if address.len() <= prefix.len() + suffix.len() {
        return None;
    }
    let token = address.strip_prefix(&prefix)?.strip_suffix(&suffix)?;
    Some(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"secret";

    fn ids() -> (UserId, IssueId) {
        (UserId::new(12_345), IssueId::new(67_890).unwrap())
    }

    #[test]
    fn a_token_names_its_user_and_issue_and_fits_an_address() {
        let (user, issue) = ids();
        let token = reply_token(SECRET, user, issue, 1_796_000_000, "hash");
        let address = reply_address("reply+%{token}@tracker.example.com", &token);
        assert!(address.split('@').next().unwrap().len() <= 64, "{address}");
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
        let parsed = ReplyToken::parse(&token).unwrap();
        assert_eq!(
            (parsed.user, parsed.issue, parsed.expires),
            (user, issue, 1_796_000_000)
        );
        assert_eq!(parsed.verify(SECRET, "hash", 1_795_999_999), Ok(()));
        // A mail system that upper-cases the local part changes nothing.
        let shouted = ReplyToken::parse(&token.to_ascii_uppercase()).unwrap();
        assert_eq!(shouted.verify(SECRET, "hash", 0), Ok(()));
    }

    #[test]
    fn a_new_password_another_secret_or_a_changed_part_breaks_the_signature() {
        let (user, issue) = ids();
        let token = reply_token(SECRET, user, issue, 2_000, "old hash");
        let parsed = ReplyToken::parse(&token).unwrap();
        assert_eq!(
            parsed.verify(SECRET, "new hash", 1_000),
            Err(ReplyTokenRefused::BadSignature)
        );
        assert_eq!(
            parsed.verify(b"other", "old hash", 1_000),
            Err(ReplyTokenRefused::BadSignature)
        );
        let other_issue = token.replacen("-67890.", "-67891.", 1);
        assert_eq!(
            ReplyToken::parse(&other_issue)
                .unwrap()
                .verify(SECRET, "old hash", 1_000),
            Err(ReplyTokenRefused::BadSignature)
        );
        let later = token.replacen(".2000.", ".9000.", 1);
        assert_eq!(
            ReplyToken::parse(&later)
                .unwrap()
                .verify(SECRET, "old hash", 1_000),
            Err(ReplyTokenRefused::BadSignature)
        );
    }

    #[test]
    fn an_expired_token_is_refused_as_such() {
        let (user, issue) = ids();
        let token = reply_token(SECRET, user, issue, 2_000, "hash");
        assert_eq!(
            ReplyToken::parse(&token)
                .unwrap()
                .verify(SECRET, "hash", 2_000),
            Err(ReplyTokenRefused::Expired)
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for token in [
            "",
            "7-42.2000",
            "7.2000.00112233445566778899",
            "0-42.2000.00112233445566778899",
            "7-0.2000.00112233445566778899",
            "7-42.-5.00112233445566778899",
            "7-42.2000.zz112233445566778899",
            "7-42.2000.0011",
            "7-42.2000.00112233445566778899.x",
            "+7-42.2000.00112233445566778899",
        ] {
            assert_eq!(
                ReplyToken::parse(token),
                Err(ReplyTokenRefused::Malformed),
                "{token}"
            );
        }
    }

    #[test]
    fn addresses_that_are_not_reply_addresses_have_no_token() {
        let pattern = "reply+%{token}@t.example";
        for address in [
            "reply+@t.example",
            "reply@t.example",
            "reply+x@other.example",
            "x+reply+x@t.example.org",
        ] {
            assert_eq!(token_in_address(pattern, address), None, "{address}");
        }
        assert_eq!(token_in_address("no placeholder", "a@b"), None);
    }
}
