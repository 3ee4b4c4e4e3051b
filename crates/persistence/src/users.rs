//! Users: accounts, their flags and passwords, the login lookup, each change with its `user.*`
//! event in the same transaction.

use diesel::prelude::*;
use issue_tracker_domain::{EventType, FieldChange, Origin, User, UserId};
use serde_json::Value;

use crate::events::{insert_event, user_event};
use crate::rows::{now_micros, UserRow};
use crate::schema::{admin_sessions, api_tokens, users};
use crate::{with_conn, with_write_conn, Database, StoreError};

/// A user to create; the password is already a bcrypt hash.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name (already validated).
    pub username: String,
    /// Address ("" for none).
    pub email: String,
    /// bcrypt hash.
    pub password_hash: String,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
}

/// What a login needs to check.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// Their bcrypt hash.
    pub password_hash: String,
}

/// An imported (Django) password hash to replace with a bcrypt one, after a login proved the
/// password right.
#[derive(Debug, Clone)]
pub struct PasswordUpgrade {
    /// The hash the login checked.
    pub imported: String,
    /// Its bcrypt replacement.
    pub bcrypt: String,
}

type UpgradePassword<'a> = diesel::dsl::Update<
    diesel::dsl::Filter<
        diesel::dsl::Filter<users::table, diesel::dsl::Eq<users::id, i64>>,
        diesel::dsl::Eq<users::password_hash, &'a String>,
    >,
    diesel::dsl::Eq<users::password_hash, &'a String>,
>;

/// Replaces the user's imported hash by its bcrypt one, in the caller's transaction, if it is
/// still the hash the login checked. Tokens and sessions stay: the password did not change.
pub(crate) fn upgrade_password<'a, C>(
    conn: &mut C,
    user: UserId,
    upgrade: &'a PasswordUpgrade,
) -> QueryResult<usize>
where
    C: Connection,
    UpgradePassword<'a>: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
{
    diesel::update(
        users::table
            .filter(users::id.eq(user.get()))
            .filter(users::password_hash.eq(&upgrade.imported)),
    )
    .set(users::password_hash.eq(&upgrade.bcrypt))
    .execute(conn)
}

impl Database {
    /// Creates a user; [`StoreError::Conflict`] when the username is taken. A `user.created`
    /// event lists its fields (never the password).
    pub fn create_user(&self, new: &NewUser, origin: &Origin) -> Result<User, StoreError> {
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let user: User = diesel::insert_into(users::table)
                    .values((
                        users::username.eq(&new.username),
                        users::email.eq(&new.email),
                        users::password_hash.eq(&new.password_hash),
                        users::is_active.eq(true),
                        users::is_staff.eq(new.is_staff || new.is_superuser),
                        users::is_superuser.eq(new.is_superuser),
                        users::date_joined.eq(now),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result::<UserRow>(conn)?
                    .into();
                let changes = issue_tracker_domain::user_created(
                    &user.username,
                    &user.email,
                    user.is_active,
                    user.is_staff,
                    user.is_superuser,
                );
                insert_event(
                    conn,
                    &user_event(EventType::UserCreated, &user, origin, &changes, now),
                )?;
                Ok(user)
            })
        })
    }

    /// The user and password hash of a username (exact case), active or not.
    pub fn find_credentials(&self, username: &str) -> Result<Option<UserCredentials>, StoreError> {
        with_conn!(self, |conn| {
            let found = users::table
                .filter(users::username.eq(username))
                .select((UserRow::as_select(), users::password_hash))
                .get_result::<(UserRow, String)>(conn)
                .optional()?;
            Ok(found.map(|(row, password_hash)| UserCredentials {
                user: row.into(),
                password_hash,
            }))
        })
    }

    /// The user and password hash of a user id, active or not (a reply token's signature covers
    /// the hash).
    pub fn credentials_by_id(&self, id: UserId) -> Result<Option<UserCredentials>, StoreError> {
        with_conn!(self, |conn| {
            let found = users::table
                .find(id.get())
                .select((UserRow::as_select(), users::password_hash))
                .get_result::<(UserRow, String)>(conn)
                .optional()?;
            Ok(found.map(|(row, password_hash)| UserCredentials {
                user: row.into(),
                password_hash,
            }))
        })
    }

    /// A user by exact username.
    pub fn find_user(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(self.find_credentials(username)?.map(|c| c.user))
    }

    /// The id of an active user by exact username: who may be assigned an issue.
    pub fn find_active_user_id(&self, username: &str) -> Result<Option<UserId>, StoreError> {
        with_conn!(self, |conn| Ok(
            active_user_id(conn, username)?.map(UserId::new)
        ))
    }

    /// The user with this id.
    pub fn find_user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        with_conn!(self, |conn| {
            let row = users::table
                .find(id.get())
                .select(UserRow::as_select())
                .get_result::<UserRow>(conn)
                .optional()?;
            Ok(row.map(User::from))
        })
    }

    /// Every user, by id.
    pub fn list_users(&self) -> Result<Vec<User>, StoreError> {
        with_conn!(self, |conn| {
            let rows = users::table
                .order(users::id)
                .select(UserRow::as_select())
                .load::<UserRow>(conn)?;
            Ok(rows.into_iter().map(User::from).collect())
        })
    }

    /// Replaces a user's password hash and revokes their tokens; false when no such user. A
    /// `user.password_changed` event (never with the password) and, when they had tokens, a
    /// `user.tokens_revoked` one.
    pub fn set_password_hash(
        &self,
        username: &str,
        hash: &str,
        origin: &Origin,
    ) -> Result<bool, StoreError> {
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let user = diesel::update(users::table.filter(users::username.eq(username)))
                    .set(users::password_hash.eq(hash))
                    .returning(UserRow::as_returning())
                    .get_result::<UserRow>(conn)
                    .optional()?;
                let Some(user) = user.map(User::from) else {
                    return Ok(false);
                };
                insert_event(
                    conn,
                    &user_event(EventType::UserPasswordChanged, &user, origin, &[], now),
                )?;
                // A new password ends every admin session of the user too.
                diesel::delete(
                    admin_sessions::table.filter(admin_sessions::user_id.eq(user.id.get())),
                )
                .execute(conn)?;
                // Only tokens that still worked count as revoked; expired rows just go.
                let revoked = diesel::delete(
                    api_tokens::table
                        .filter(api_tokens::user_id.eq(user.id.get()))
                        .filter(api_tokens::expires_at.gt(now)),
                )
                .execute(conn)?;
                diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(user.id.get())))
                    .execute(conn)?;
                if revoked > 0 {
                    let changes = [FieldChange::new("tokens", revoked, 0)];
                    insert_event(
                        conn,
                        &user_event(EventType::TokensRevoked, &user, origin, &changes, now),
                    )?;
                }
                Ok(true)
            })
        })
    }

    /// Activates or deactivates a user (see [`Database::update_user`]).
    pub fn set_active(
        &self,
        username: &str,
        active: bool,
        origin: &Origin,
    ) -> Result<bool, StoreError> {
        let Some(user) = self.find_user(username)? else {
            return Ok(false);
        };
        let changes = UserChanges {
            is_active: Some(active),
            ..UserChanges::default()
        };
        Ok(self.update_user(user.id, &changes, origin)?.is_some())
    }

    /// Changes a user's email and flags; `None` when no such user. Their issues stay.
    /// Deactivating revokes their tokens: the rows are kept, expired now, so that until
    /// reactivation their holders hear "User inactive or deleted." (as the contract says), and
    /// after it "Invalid token.": a token never works again. A `user.updated` event lists what
    /// changed (nothing: no event), and a `user.tokens_revoked` one counts revoked tokens.
    pub fn update_user(
        &self,
        id: UserId,
        changes: &UserChanges,
        origin: &Origin,
    ) -> Result<Option<User>, StoreError> {
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                // Locked before it is read: two changes at once apply one after the other.
                diesel::update(users::table.find(id.get()))
                    .set(users::id.eq(users::id))
                    .execute(conn)?;
                let before = users::table
                    .find(id.get())
                    .select(UserRow::as_select())
                    .get_result::<UserRow>(conn)
                    .optional()?;
                let Some(before) = before.map(User::from) else {
                    return Ok(None);
                };
                let after = User {
                    email: changes
                        .email
                        .clone()
                        .unwrap_or_else(|| before.email.clone()),
                    is_active: changes.is_active.unwrap_or(before.is_active),
                    is_staff: changes.is_staff.unwrap_or(before.is_staff),
                    is_superuser: changes.is_superuser.unwrap_or(before.is_superuser),
                    ..before.clone()
                };
                let fields: Vec<FieldChange> = [
                    (
                        "email",
                        Value::from(before.email.as_str()),
                        Value::from(after.email.as_str()),
                    ),
                    ("is_active", before.is_active.into(), after.is_active.into()),
                    ("is_staff", before.is_staff.into(), after.is_staff.into()),
                    (
                        "is_superuser",
                        before.is_superuser.into(),
                        after.is_superuser.into(),
                    ),
                ]
                .into_iter()
                .filter(|(_, old, new)| old != new)
                .map(|(field, old, new)| FieldChange::new(field, old, new))
                .collect();
                if fields.is_empty() {
                    return Ok(Some(before));
                }
                diesel::update(users::table.find(id.get()))
                    .set((
                        users::email.eq(&after.email),
                        users::is_active.eq(after.is_active),
                        users::is_staff.eq(after.is_staff),
                        users::is_superuser.eq(after.is_superuser),
                    ))
                    .execute(conn)?;
                insert_event(
                    conn,
                    &user_event(EventType::UserUpdated, &after, origin, &fields, now),
                )?;
                // Losing the admin (deactivated, or no longer staff) ends its sessions for good:
                // giving it back later opens none of them again.
                let admin_before = before.is_active && (before.is_staff || before.is_superuser);
                let admin_after = after.is_active && (after.is_staff || after.is_superuser);
                if admin_before && !admin_after {
                    diesel::delete(
                        admin_sessions::table.filter(admin_sessions::user_id.eq(id.get())),
                    )
                    .execute(conn)?;
                }
                if before.is_active && !after.is_active {
                    let revoked = diesel::update(
                        api_tokens::table
                            .filter(api_tokens::user_id.eq(id.get()))
                            .filter(api_tokens::expires_at.gt(now)),
                    )
                    .set(api_tokens::expires_at.eq(now))
                    .execute(conn)?;
                    if revoked > 0 {
                        let changes = [FieldChange::new("tokens", revoked, 0)];
                        insert_event(
                            conn,
                            &user_event(EventType::TokensRevoked, &after, origin, &changes, now),
                        )?;
                    }
                }
                Ok(Some(after))
            })
        })
    }

    /// One page of users, by id, whose username or email contains `search` (any case), with
    /// the total that match.
    pub fn list_users_page(
        &self,
        filter: &UserFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<User>, i64), StoreError> {
        with_conn!(self, |conn| {
            let query = || {
                let mut query = users::table.into_boxed();
                if let Some(search) = &filter.search {
                    let pattern = crate::issues::like_pattern(search);
                    query = query.filter(
                        crate::issues::lower(users::username)
                            .like(pattern.clone())
                            .escape('\\')
                            .or(crate::issues::lower(users::email)
                                .like(pattern)
                                .escape('\\')),
                    );
                }
                if let Some(active) = filter.is_active {
                    query = query.filter(users::is_active.eq(active));
                }
                if let Some(staff) = filter.is_staff {
                    query = query.filter(users::is_staff.eq(staff));
                }
                query
            };
            let total = query().count().get_result::<i64>(conn)?;
            let mut ordered = query();
            ordered = match filter.order {
                UserOrder::Id => ordered.order(users::id.asc()),
                UserOrder::Username => ordered.order((users::username.asc(), users::id.asc())),
                UserOrder::DateJoinedDescending => ordered.order(users::id.desc()),
            };
            let rows = ordered
                .select(UserRow::as_select())
                .offset(offset)
                .limit(limit)
                .load::<UserRow>(conn)?;
            Ok((rows.into_iter().map(User::from).collect(), total))
        })
    }

    /// How many users there are.
    pub fn count_users(&self) -> Result<i64, StoreError> {
        with_conn!(self, |conn| Ok(users::table
            .count()
            .get_result::<i64>(conn)?))
    }
}

/// What [`Database::update_user`] changes (`None`: left as is).
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New address ("" for none).
    pub email: Option<String>,
    /// Active flag.
    pub is_active: Option<bool>,
    /// Staff flag.
    pub is_staff: Option<bool>,
    /// Superuser flag.
    pub is_superuser: Option<bool>,
}

/// Which users a list shows.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Text in the username or email (any case).
    pub search: Option<String>,
    /// Only active (or inactive) users.
    pub is_active: Option<bool>,
    /// Only staff (or non-staff) users.
    pub is_staff: Option<bool>,
    /// The order.
    pub order: UserOrder,
}

/// The orders of the user list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserOrder {
    /// Oldest first.
    #[default]
    Id,
    /// By username.
    Username,
    /// Newest first.
    DateJoinedDescending,
}

/// Looking an active user's id up by name, as a type: [`active_user_id`] is generic over the
/// connection.
type ActiveUserByName = diesel::dsl::Select<
    diesel::dsl::Filter<
        diesel::dsl::Filter<users::table, diesel::dsl::Eq<users::username, String>>,
        diesel::dsl::Eq<users::is_active, bool>,
    >,
    users::id,
>;

/// The id of the active user named `username` (exact case), on either database: the one way an
/// assignee is resolved (updates, error reports and creation on SQLite; PostgreSQL's create
/// statement does the same lookup inside its one round trip).
pub(crate) fn active_user_id<C>(conn: &mut C, username: &str) -> QueryResult<Option<i64>>
where
    C: Connection,
    ActiveUserByName: RunQueryDsl<C> + for<'q> diesel::query_dsl::LoadQuery<'q, C, i64>,
{
    users::table
        .filter(users::username.eq(username.to_owned()))
        .filter(users::is_active.eq(true))
        .select(users::id)
        // Not `first()`: the name is unique, and a bound `LIMIT ?` makes SQLite prepare the
        // statement again on every call.
        .get_result::<i64>(conn)
        .optional()
}
