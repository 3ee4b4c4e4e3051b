//! API tokens: stored only as hashes (and an 8-character prefix), with an expiry and scopes;
//! issuing, looking up, listing and revoking them.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use issue_tracker_domain::{
    EventType, FieldChange, NewToken, Origin, TokenId, TokenScopes, User, UserId,
};
use serde_json::Value;

use crate::events::{insert_event, user_event};
use crate::rows::{now_micros, utc, UserRow};
use crate::schema::{api_tokens, users};
use crate::stamp::Stamp;
use crate::{with_conn, with_write_conn, Database, StoreError};

/// `last_used_at` is refreshed at most this often, so that reads do not become writes.
const LAST_USED_GRANULARITY: TimeDelta = TimeDelta::seconds(60);

/// The owner of a valid token, and which token it was.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The token's owner (possibly inactive: the caller decides what that means).
    pub user: User,
    /// The token's id.
    pub token_id: TokenId,
    /// What the token may do: empty for its user's full rights.
    pub scopes: TokenScopes,
}

/// A use of a token whose `last_used_at` is to be refreshed.
#[derive(Debug, Clone, Copy)]
pub struct TokenUse {
    token_id: i64,
    at: NaiveDateTime,
}

/// A token as its owner may see it: never the key.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// Id, for revocation.
    pub id: TokenId,
    /// First characters of the key.
    pub prefix: String,
    /// Issued at.
    pub created_at: DateTime<Utc>,
    /// Last seen (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Stops working at.
    pub expires_at: DateTime<Utc>,
    /// Empty for a full token.
    pub scopes: TokenScopes,
}

impl Database {
    /// Stores the hash of a new full token (its user's rights) for `user`, valid for `ttl`.
    pub fn insert_token(
        &self,
        user: UserId,
        token: &NewToken,
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        let row = TokenRow::new(user, token, now_micros(), ttl, &TokenScopes::FULL);
        with_write_conn!(self, |conn| {
            insert_token_row(row).execute(conn)?;
            Ok(())
        })
    }

    /// A login's token, with the password's upgrade in the same transaction: when the stored hash
    /// was imported (`upgrade`: the imported hash and its bcrypt replacement), it is replaced, if
    /// it is still the one the login checked (a password set meanwhile wins).
    pub fn insert_login_token(
        &self,
        user: UserId,
        token: &NewToken,
        ttl: std::time::Duration,
        upgrade: Option<&crate::PasswordUpgrade>,
    ) -> Result<(), StoreError> {
        let row = TokenRow::new(user, token, now_micros(), ttl, &TokenScopes::FULL);
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                if let Some(upgrade) = upgrade {
                    crate::users::upgrade_password(conn, user, upgrade)?;
                }
                insert_token_row(row).execute(conn)?;
                Ok(())
            })
        })
    }

    /// Stores the hash of a new token that may do only what `scopes` name, with a
    /// `user.token_created` event (its id and scopes, never the token) naming who issued it.
    pub fn insert_scoped_token(
        &self,
        user: &User,
        token: &NewToken,
        ttl: std::time::Duration,
        scopes: &TokenScopes,
        origin: &Origin,
    ) -> Result<TokenInfo, StoreError> {
        let now = now_micros();
        let expires = expiry(now, ttl);
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let id: i64 = insert_token_row(TokenRow::new(user.id, token, now, ttl, scopes))
                    .get_result(conn)?;
                let changes = [
                    FieldChange::new("token", Value::Null, id),
                    FieldChange::new("scopes", Value::Null, scopes.names()),
                ];
                insert_event(
                    conn,
                    &user_event(EventType::ScopedTokenCreated, user, origin, &changes, now),
                )?;
                Ok(TokenInfo {
                    id: TokenId::from_stored(id),
                    prefix: token.prefix.clone(),
                    created_at: utc(now),
                    last_used_at: None,
                    expires_at: utc(expires),
                    scopes: scopes.clone(),
                })
            })
        })
    }

    /// The owner of an unexpired token with this hash. Expired (or revoked by deactivation)
    /// tokens are treated as absent, except that a token of an inactive user is returned with
    /// that user, so that its holder hears "User inactive or deleted." as the contract says.
    /// Refreshes the token's `last_used_at` when it is due (see [`Database::look_up_token`]).
    pub fn authenticate(&self, key_hash: &str) -> Result<Option<Authenticated>, StoreError> {
        let Some((found, due)) = self.look_up_token(key_hash)? else {
            return Ok(None);
        };
        if let Some(used) = due {
            self.record_token_use(used)?;
        }
        Ok(Some(found))
    }

    /// [`Database::authenticate`] without its write: the token's owner, and the use to record
    /// with [`Database::record_token_use`] when its `last_used_at` is more than a minute old (so
    /// that reads do not all become writes). Reads only: a request that runs in place on the
    /// server's event loop records the use afterwards, off it.
    pub fn look_up_token(
        &self,
        key_hash: &str,
    ) -> Result<Option<(Authenticated, Option<TokenUse>)>, StoreError> {
        let now = now_micros();
        let found = with_conn!(self, |conn| {
            api_tokens::table
                .inner_join(users::table)
                .filter(api_tokens::key_hash.eq(key_hash))
                .select((
                    UserRow::as_select(),
                    api_tokens::id,
                    api_tokens::last_used_at,
                    api_tokens::expires_at,
                    api_tokens::scopes,
                ))
                // Not `first()`: its `LIMIT ?` is a bound parameter, and SQLite re-prepares a
                // statement whose LIMIT parameter is bound again, on every call (3x the CPU of
                // GET one). The key is unique: at most one row.
                .get_result::<(UserRow, i64, Option<Stamp>, Stamp, String)>(conn)
                .optional()?
        });
        let Some((row, token_id, last_used, expires_at, scopes)) = found else {
            return Ok(None);
        };
        let (last_used, expires_at) = (last_used.map(NaiveDateTime::from), expires_at.0);
        let found = Authenticated {
            token_id: TokenId::from_stored(token_id),
            scopes: TokenScopes::parse_stored(&scopes),
            user: row.into(),
        };
        if !found.user.is_active {
            return Ok(Some((found, None)));
        }
        if expires_at <= now {
            return Ok(None);
        }
        let due = last_used
            .is_none_or(|at| now - at > LAST_USED_GRANULARITY)
            .then_some(TokenUse { token_id, at: now });
        Ok(Some((found, due)))
    }

    /// Records a use of a token that [`Database::look_up_token`] found due.
    pub fn record_token_use(&self, used: TokenUse) -> Result<(), StoreError> {
        with_write_conn!(self, |conn| {
            diesel::update(api_tokens::table.find(used.token_id))
                .set(api_tokens::last_used_at.eq(used.at))
                .execute(conn)?
        });
        Ok(())
    }

    /// A user's tokens, newest first.
    pub fn list_tokens(&self, user: UserId) -> Result<Vec<TokenInfo>, StoreError> {
        with_conn!(self, |conn| {
            let rows = api_tokens::table
                .filter(api_tokens::user_id.eq(user.get()))
                .order(api_tokens::id.desc())
                .select((
                    api_tokens::id,
                    api_tokens::prefix,
                    api_tokens::created_at,
                    api_tokens::last_used_at,
                    api_tokens::expires_at,
                    api_tokens::scopes,
                ))
                .load::<(
                    i64,
                    String,
                    NaiveDateTime,
                    Option<NaiveDateTime>,
                    NaiveDateTime,
                    String,
                )>(conn)?;
            Ok(rows
                .into_iter()
                .map(|(id, prefix, created, used, expires, scopes)| TokenInfo {
                    id: TokenId::from_stored(id),
                    prefix,
                    created_at: utc(created),
                    last_used_at: used.map(utc),
                    expires_at: utc(expires),
                    scopes: TokenScopes::parse_stored(&scopes),
                })
                .collect())
        })
    }

    /// Revokes one of `user`'s tokens; false when they have none with that id. A
    /// `user.tokens_revoked` event names the token's id (never the token).
    pub fn revoke_token(
        &self,
        user: &User,
        token_id: TokenId,
        origin: &Origin,
    ) -> Result<bool, StoreError> {
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let deleted = diesel::delete(
                    api_tokens::table
                        .filter(api_tokens::id.eq(token_id.get()))
                        .filter(api_tokens::user_id.eq(user.id.get())),
                )
                .execute(conn)?;
                if deleted > 0 {
                    let changes = [FieldChange::new("token", token_id.get(), Value::Null)];
                    insert_event(
                        conn,
                        &user_event(EventType::TokensRevoked, user, origin, &changes, now),
                    )?;
                }
                Ok(deleted > 0)
            })
        })
    }

    /// Revokes every token of `user`; returns how many (and, when any, writes a
    /// `user.tokens_revoked` event with the count).
    pub fn revoke_all_tokens(&self, user: &User, origin: &Origin) -> Result<usize, StoreError> {
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let deleted =
                    diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(user.id.get())))
                        .execute(conn)?;
                if deleted > 0 {
                    let changes = [FieldChange::new("tokens", deleted, 0)];
                    insert_event(
                        conn,
                        &user_event(EventType::TokensRevoked, user, origin, &changes, now),
                    )?;
                }
                Ok(deleted)
            })
        })
    }
}

/// When a token made at `now` for `ttl` expires; a ttl past what dates can hold is 100 years.
pub(crate) fn expiry(now: NaiveDateTime, ttl: std::time::Duration) -> NaiveDateTime {
    now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::days(36_500))
}

/// A token row as stored: only the hash and the prefix, never the token.
#[derive(Insertable)]
#[diesel(table_name = api_tokens)]
struct TokenRow<'a> {
    user_id: i64,
    key_hash: &'a str,
    prefix: &'a str,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    scopes: String,
}

impl<'a> TokenRow<'a> {
    fn new(
        user: UserId,
        token: &'a NewToken,
        now: NaiveDateTime,
        ttl: std::time::Duration,
        scopes: &TokenScopes,
    ) -> Self {
        TokenRow {
            user_id: user.get(),
            key_hash: &token.hash,
            prefix: &token.prefix,
            created_at: now,
            expires_at: expiry(now, ttl),
            scopes: scopes.to_stored(),
        }
    }
}

/// The statement that stores `row` and returns its id (written once for both databases).
#[diesel::dsl::auto_type(no_type_alias)]
fn insert_token_row<'a>(row: TokenRow<'a>) -> _ {
    diesel::dsl::insert_into(api_tokens::table)
        .values(row)
        .returning(api_tokens::id)
}
