//! Signed one-click unsubscribe links (RFC 8058) for the consolidated report: the link alone
//! turns that user's report off, so it must be unforgeable, bound to one user, and expire.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::UserId;

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

fn signature(secret: &[u8], user: i64, expires: i64) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("unsubscribe-report:{user}:{expires}").as_bytes());
    mac.finalize().into_bytes().to_vec()
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
    format!(
        "{}.{expires}.{}",
        user.get(),
        hex::encode(signature(secret, user.get(), expires))
    )
}

/// The user a token unsubscribes, if it was signed with `secret` and is not expired at `now`
/// (Unix seconds). The signature is compared in constant time.
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
    let mut parts = token.splitn(3, '.');
    let (Some(user), Some(expires), Some(signed)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(UnsubscribeRefused::Invalid);
    };
    let user = user
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && user.bytes().all(|b| b.is_ascii_digit()))
        .map(UserId::new)
        .ok_or(UnsubscribeRefused::Invalid)?;
    let expires: i64 = expires
        .parse()
        .ok()
        .filter(|value: &i64| value.to_string() == expires)
        .ok_or(UnsubscribeRefused::Invalid)?;
    let signed = hex::decode(signed).map_err(|_| UnsubscribeRefused::Invalid)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("unsubscribe-report:{}:{expires}", user.get()).as_bytes());
    mac.verify_slice(&signed)
        .map_err(|_| UnsubscribeRefused::Invalid)?;
    if now >= expires {
        return Err(UnsubscribeRefused::Expired);
    }
    Ok(user)
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
