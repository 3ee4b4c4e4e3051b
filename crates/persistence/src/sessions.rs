//! Staff admin sessions, in the database so that every server shares them. Only the SHA-256 of a
//! session's key is stored.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use issue_tracker_domain::{SessionId, User};

use crate::rows::{now_micros, UserRow};
use crate::schema::{admin_sessions, users};
use crate::{with_conn, with_write_conn, Database, StoreError};

/// `last_seen_at` is refreshed at most this often (or a tenth of the idle timeout, if shorter),
/// so that page views do not all become writes.
const TOUCH_GRANULARITY: TimeDelta = TimeDelta::seconds(30);

/// How stale `last_seen_at` may be for an idle timeout of `idle`. A session ends as idle only
/// once `idle` plus this has passed since it was last marked seen, so a busy session never ends
/// early; an idle one ends at most this late.
fn touch_granularity(idle: TimeDelta) -> TimeDelta {
    TOUCH_GRANULARITY.min(idle / 10)
}

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct AdminSession {
    /// The session's row id.
    pub id: SessionId,
    /// Who is logged in (active or not: the caller decides).
    pub user: User,
    /// The session's CSRF token, embedded in every form.
    pub csrf_token: String,
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

impl Database {
    /// Opens a session for `user` under `key_hash`, valid for `lifetime` at most; with the
    /// login's password upgrade in the same transaction (see [`Database::insert_login_token`]).
    pub fn create_admin_session(
        &self,
        user: &User,
        key_hash: &str,
        csrf_token: &str,
        lifetime: Duration,
        upgrade: Option<&crate::PasswordUpgrade>,
    ) -> Result<(), StoreError> {
        let now = now_micros();
        let expires = now
            .checked_add_signed(delta(lifetime))
            .unwrap_or(NaiveDateTime::MAX);
        with_write_conn!(self, |conn| conn.transaction(|conn| {
            if let Some(upgrade) = upgrade {
                crate::users::upgrade_password(conn, user.id, upgrade)?;
            }
            // Expired sessions go when new ones come, so the table does not grow forever.
            diesel::delete(admin_sessions::table.filter(admin_sessions::expires_at.le(now)))
                .execute(conn)?;
            diesel::insert_into(admin_sessions::table)
                .values((
                    admin_sessions::key_hash.eq(key_hash),
                    admin_sessions::user_id.eq(user.id.get()),
                    admin_sessions::csrf_token.eq(csrf_token),
                    admin_sessions::created_at.eq(now),
                    admin_sessions::last_seen_at.eq(now),
                    admin_sessions::expires_at.eq(expires),
                ))
                .execute(conn)?;
            Ok::<_, StoreError>(())
        }))
    }

    /// The session under `key_hash` if it has neither expired nor been idle for `idle` (plus the
    /// granularity of its last-seen time, at most 30 s or a tenth of `idle`, so that a session in
    /// use never ends as idle); marks it seen. An ended session is deleted.
    pub fn admin_session(
        &self,
        key_hash: &str,
        idle: Duration,
    ) -> Result<Option<AdminSession>, StoreError> {
        let now = now_micros();
        let found = with_conn!(self, |conn| {
            admin_sessions::table
                .inner_join(users::table)
                .filter(admin_sessions::key_hash.eq(key_hash))
                .select((
                    admin_sessions::id,
                    admin_sessions::csrf_token,
                    admin_sessions::last_seen_at,
                    admin_sessions::expires_at,
                    UserRow::as_select(),
                ))
                .get_result::<(i64, String, NaiveDateTime, NaiveDateTime, UserRow)>(conn)
                .optional()?
        });
        let Some((id, csrf_token, last_seen, expires, user)) = found else {
            return Ok(None);
        };
        let idle = delta(idle);
        let granularity = touch_granularity(idle);
        if expires <= now || last_seen + idle + granularity <= now {
            self.delete_admin_session(SessionId::from_stored(id))?;
            return Ok(None);
        }
        if now - last_seen >= granularity {
            with_write_conn!(self, |conn| {
                diesel::update(admin_sessions::table.find(id))
                    .set(admin_sessions::last_seen_at.eq(now))
                    .execute(conn)?;
            });
        }
        Ok(Some(AdminSession {
            id: SessionId::from_stored(id),
            user: user.into(),
            csrf_token,
        }))
    }

    /// Ends one session.
    pub fn delete_admin_session(&self, id: SessionId) -> Result<(), StoreError> {
        with_write_conn!(self, |conn| {
            diesel::delete(admin_sessions::table.find(id.get())).execute(conn)?;
        });
        Ok(())
    }
}
