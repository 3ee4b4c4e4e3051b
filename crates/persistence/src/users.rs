use diesel::prelude::*;
use issue_tracker_domain::{EventType, FieldChange, Origin, User, UserId};
use serde_json::Value;

use crate::events::{insert_event, user_event};
use crate::rows::{now_micros, UserRow};
use crate::schema::{api_tokens, users};
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
                let changes: Vec<FieldChange> = [
                    ("username", Value::from(user.username.as_str())),
                    ("email", Value::from(user.email.as_str())),
                    ("is_active", Value::from(user.is_active)),
                    ("is_staff", Value::from(user.is_staff)),
                    ("is_superuser", Value::from(user.is_superuser)),
                ]
                .into_iter()
                .map(|(field, value)| FieldChange::new(field, Value::Null, value))
                .collect();
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
                .first::<(UserRow, String)>(conn)
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
                let revoked =
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

    /// Activates or deactivates a user. Their issues stay. Deactivating revokes their tokens:
    /// the rows are kept, expired now, so that until reactivation their holders hear "User
    /// inactive or deleted." (as the contract says), and after it "Invalid token.": a token never
    /// works again. A `user.updated` event when the flag changed, and a `user.tokens_revoked`
    /// one when tokens were.
    pub fn set_active(
        &self,
        username: &str,
        active: bool,
        origin: &Origin,
    ) -> Result<bool, StoreError> {
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let before = users::table
                    .filter(users::username.eq(username))
                    .select(UserRow::as_select())
                    .get_result::<UserRow>(conn)
                    .optional()?;
                let Some(user) = before.map(User::from) else {
                    return Ok(false);
                };
                diesel::update(users::table.find(user.id.get()))
                    .set(users::is_active.eq(active))
                    .execute(conn)?;
                if user.is_active != active {
                    let changes = [FieldChange::new("is_active", user.is_active, active)];
                    insert_event(
                        conn,
                        &user_event(EventType::UserUpdated, &user, origin, &changes, now),
                    )?;
                }
                if !active {
                    let revoked = diesel::update(
                        api_tokens::table
                            .filter(api_tokens::user_id.eq(user.id.get()))
                            .filter(api_tokens::expires_at.gt(now)),
                    )
                    .set(api_tokens::expires_at.eq(now))
                    .execute(conn)?;
                    if revoked > 0 {
                        let changes = [FieldChange::new("tokens", revoked, 0)];
                        insert_event(
                            conn,
                            &user_event(EventType::TokensRevoked, &user, origin, &changes, now),
                        )?;
                    }
                }
                Ok(true)
            })
        })
    }
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
    ActiveUserByName: RunQueryDsl<C> + diesel::query_dsl::methods::LimitDsl,
    diesel::dsl::Limit<ActiveUserByName>: for<'q> diesel::query_dsl::LoadQuery<'q, C, i64>,
{
    users::table
        .filter(users::username.eq(username.to_owned()))
        .filter(users::is_active.eq(true))
        .select(users::id)
        .first::<i64>(conn)
        .optional()
}
