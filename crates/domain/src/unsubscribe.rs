//! Signed one-click unsubscribe links (RFC 8058): the consolidated report's turns that user's
//! report off; an email about a watched issue carries one that stops that user watching that
//! issue. The link alone does it, so it must be unforgeable, bound to one user (and issue), and
//! expire.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{IssueId, UserId};

/// How long a link in a report stays good: long enough for an old email, not forever.
pub const UNSUBSCRIBE_LINK_SECONDS: i64 = 60 * 86_400;

/// Why a link was refused (the page says only that it is not valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsubscribeRefused {
    /// Not of the form `<user>.<expiry>.<signature>`, or the signature does not match.
    Invalid,
    /// Signed, but past its expiry.
    Expired,
}

/// What a link stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribe {
    /// The user's consolidated report.
    Report(UserId),
    /// The user's watching of an issue.
    Issue(UserId, IssueId),
}

impl Unsubscribe {
    /// The user it is for.
    pub fn user(self) -> UserId {
        match self {
            Unsubscribe::Report(user) | Unsubscribe::Issue(user, _) => user,
        }
    }

    /// What the signature covers: the kind, the ids and the expiry.
    fn signed_text(self, expires: i64) -> String {
        match self {
            Unsubscribe::Report(user) => format!("unsubscribe-report:{}:{expires}", user.get()),
            Unsubscribe::Issue(user, issue) => {
                format!("unwatch-issue:{}:{}:{expires}", user.get(), issue.get())
            }
        }
    }

    /// The token's first part: `<user>` or `<user>-<issue>`.
    fn subject(self) -> String {
        match self {
            Unsubscribe::Report(user) => user.get().to_string(),
            Unsubscribe::Issue(user, issue) => format!("{}-{}", user.get(), issue.get()),
        }
    }
}

fn signature(secret: &[u8], what: Unsubscribe, expires: i64) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(what.signed_text(expires).as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The token of a link that stops `user` watching `issue`, good until `expires` (Unix seconds),
/// signed with `secret`.
///
/// ```
/// use issue_tracker_domain::{unwatch_token, verify_unsubscribe, IssueId, Unsubscribe, UserId};
/// let (ann, issue) = (UserId::new(7), IssueId::from_stored(3));
/// let token = unwatch_token(b"secret", ann, issue, 2_000);
/// assert_eq!(verify_unsubscribe(b"secret", &token, 1_000), Ok(Unsubscribe::Issue(ann, issue)));
/// // Another issue with this signature is refused.
/// let forged = token.replacen("7-3.", "7-4.", 1);
/// assert!(verify_unsubscribe(b"secret", &forged, 1_000).is_err());
/// ```
pub fn unwatch_token(secret: &[u8], user: UserId, issue: IssueId, expires: i64) -> String {
    token_of(secret, Unsubscribe::Issue(user, issue), expires)
}

fn token_of(secret: &[u8], what: Unsubscribe, expires: i64) -> String {
    format!(
        "{}.{expires}.{}",
        what.subject(),
        hex::encode(signature(secret, what, expires))
    )
}

fn positive(text: &str) -> Option<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
}

/// The token of `user`'s unsubscribe link, good until `expires` (Unix seconds), signed with
/// `secret` (the `SECRET_KEY` setting). URL-safe as it is.
///
/// ```
/// use issue_tracker_domain::{unsubscribe_token, verify_unsubscribe_token, UserId};
/// let ann = UserId::new(7);
/// let token = unsubscribe_token(b"secret", ann, 2_000);
/// assert_eq!(verify_unsubscribe_token(b"secret", &token, 1_000), Ok(ann));
/// ```
pub fn unsubscribe_token(secret: &[u8], user: UserId, expires: i64) -> String {
    token_of(secret, Unsubscribe::Report(user), expires)
}

/// The user a report link unsubscribes (see [`verify_unsubscribe`]); a link of another kind is
/// [`UnsubscribeRefused::Invalid`].
///
/// ```
/// use issue_tracker_domain::{unsubscribe_token, verify_unsubscribe_token, UnsubscribeRefused, UserId};
/// let token = unsubscribe_token(b"secret", UserId::new(7), 2_000);
/// // Another user's id with this signature, another secret, or too late: refused.
/// let forged = token.replacen("7.", "8.", 1);
/// assert_eq!(verify_unsubscribe_token(b"secret", &forged, 1_000), Err(UnsubscribeRefused::Invalid));
/// assert_eq!(verify_unsubscribe_token(b"other", &token, 1_000), Err(UnsubscribeRefused::Invalid));
/// assert_eq!(verify_unsubscribe_token(b"secret", &token, 2_000), Err(UnsubscribeRefused::Expired));
/// ```
pub fn verify_unsubscribe_token(
    secret: &[u8],
    token: &str,
    now: i64,
) -> Result<UserId, UnsubscribeRefused> {
    match verify_unsubscribe(secret, token, now)? {
        Unsubscribe::Report(user) => Ok(user),
        Unsubscribe::Issue(..) => Err(UnsubscribeRefused::Invalid),
    }
}

/// What a link stops, if it was signed with `secret` and is not expired at `now` (Unix
/// seconds). The signature is compared in constant time.
pub fn verify_unsubscribe(
    secret: &[u8],
    token: &str,
    now: i64,
) -> Result<Unsubscribe, UnsubscribeRefused> {
    let mut parts = token.splitn(3, '.');
    let (Some(subject), Some(expires), Some(signed)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(UnsubscribeRefused::Invalid);
    };
    let what = match subject.split_once('-') {
        None => Unsubscribe::Report(UserId::new(
            positive(subject).ok_or(UnsubscribeRefused::Invalid)?,
        )),
        Some((user, issue)) => Unsubscribe::Issue(
            UserId::new(positive(user).ok_or(UnsubscribeRefused::Invalid)?),
            IssueId::new(positive(issue).ok_or(UnsubscribeRefused::Invalid)?)
                .ok_or(UnsubscribeRefused::Invalid)?,
        ),
    };
    let expires: i64 = expires
        .parse()
        .ok()
        .filter(|value: &i64| value.to_string() == expires)
        .ok_or(UnsubscribeRefused::Invalid)?;
    let signed = hex::decode(signed).map_err(|_| UnsubscribeRefused::Invalid)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(what.signed_text(expires).as_bytes());
    mac.verify_slice(&signed)
        .map_err(|_| UnsubscribeRefused::Invalid)?;
    if now >= expires {
        return Err(UnsubscribeRefused::Expired);
    }
    Ok(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_tokens_are_refused() {
        let good = unsubscribe_token(b"k", UserId::new(7), 100);
        let signature = good.rsplit('.').next().unwrap();
        for token in [
            String::new(),
            "7".into(),
            "7.100".into(),
            format!("7.100.{}", &signature[1..]),
            format!("+7.100.{signature}"),
            format!("0.100.{signature}"),
            format!("7.0100.{signature}"),
            format!("7.100.{}", signature.to_uppercase() + "00"),
            format!("7.100.{signature}.extra"),
        ] {
            assert_eq!(
                verify_unsubscribe_token(b"k", &token, 50),
                Err(UnsubscribeRefused::Invalid),
                "{token}"
            );
        }
        assert_eq!(
            verify_unsubscribe_token(b"k", &good, 50),
            Ok(UserId::new(7))
        );
    }
}
