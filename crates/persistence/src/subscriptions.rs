//! Watching issues: what a user chose by hand (`issue_subscriptions`), and the facts from which
//! the domain decides whether, and why, they watch an issue.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::query_dsl::LoadQuery;
use issue_tracker_domain::{mentions, IssueId, Subscription, User, UserId, WatchFacts, Watcher};

use crate::rows::now_micros;
use crate::schema::{comments, issue_subscriptions, issues, users};
use crate::{with_conn, with_write_conn, Database, StoreError};

impl Database {
    /// `user`'s subscription to `issue`; `None` when there is no such issue.
    pub fn subscription(
        &self,
        issue: IssueId,
        user: &User,
    ) -> Result<Option<Subscription>, StoreError> {
        Ok(self.watchers(issue)?.map(|watchers| {
            let reason = watchers
                .into_iter()
                .find(|w| w.user == user.id)
                .map(|w| w.reason);
            Subscription {
                subscribed: reason.is_some(),
                reason,
            }
        }))
    }

    /// Watches (`true`) or stops watching (`false`) `issue` by hand, for `user`; the
    /// subscription afterwards, or `None` when there is no such issue.
    pub fn set_subscription(
        &self,
        issue: IssueId,
        user: &User,
        subscribed: bool,
    ) -> Result<Option<Subscription>, StoreError> {
        let now = now_micros();
        let written = with_write_conn!(self, |conn| {
            diesel::insert_into(issue_subscriptions::table)
                .values((
                    issue_subscriptions::issue_id.eq(issue.get()),
                    issue_subscriptions::user_id.eq(user.id.get()),
                    issue_subscriptions::subscribed.eq(subscribed),
                    issue_subscriptions::updated_at.eq(now),
                ))
                .on_conflict((issue_subscriptions::issue_id, issue_subscriptions::user_id))
                .do_update()
                .set((
                    issue_subscriptions::subscribed.eq(subscribed),
                    issue_subscriptions::updated_at.eq(now),
                ))
                .execute(conn)
        });
        match written {
            Ok(_) => self.subscription(issue, user),
            // No such issue (or it was deleted meanwhile): the foreign key refused the row.
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _,
            )) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Everyone who watches `issue` now, and why, sorted by username; `None` when there is no
    /// such issue. Only active users: an inactive one is told nothing.
    pub fn watchers(&self, issue: IssueId) -> Result<Option<Vec<Watcher>>, StoreError> {
        with_conn!(self, |conn| Ok(
            watchers_of(conn, issue.get())?.map(|(_, watchers)| watchers)
        ))
    }
}

#[diesel::dsl::auto_type]
fn issue_facts(id: i64) -> _ {
    issues::table.find(id).select((
        issues::created_by_id,
        issues::assigned_to_id,
        issues::description,
        issues::title,
    ))
}

#[diesel::dsl::auto_type]
fn manual_choices(id: i64) -> _ {
    issue_subscriptions::table
        .filter(issue_subscriptions::issue_id.eq(id))
        .select((
            issue_subscriptions::user_id,
            issue_subscriptions::subscribed,
        ))
}

#[diesel::dsl::auto_type]
fn what_was_said(id: i64) -> _ {
    comments::table
        .filter(comments::issue_id.eq(id))
        .select((comments::author_id, comments::body))
}

#[diesel::dsl::auto_type]
pub(crate) fn active_people(ids: Vec<i64>, names: Vec<String>) -> _ {
    users::table
        .filter(users::is_active.eq(true))
        .filter(users::id.eq_any(ids).or(users::username.eq_any(names)))
        .select((users::id, users::username))
        .order(users::username)
}

/// The active users among `names`, as `(id, username)`.
pub(crate) fn active_named<C>(conn: &mut C, names: Vec<String>) -> QueryResult<Vec<(i64, String)>>
where
    C: Connection,
    for<'a> active_people: LoadQuery<'a, C, (i64, String)>,
{
    if names.is_empty() {
        return Ok(Vec::new());
    }
    active_people(Vec::new(), names).load(conn)
}

/// The title of issue `id` and everyone who watches it, read in the caller's transaction; `None`
/// when there is no such issue.
pub(crate) fn watchers_of<C>(conn: &mut C, id: i64) -> QueryResult<Option<(String, Vec<Watcher>)>>
where
    C: Connection,
    for<'a> issue_facts: LoadQuery<'a, C, (i64, i64, String, String)>,
    for<'a> manual_choices: LoadQuery<'a, C, (i64, bool)>,
    for<'a> what_was_said: LoadQuery<'a, C, (i64, String)>,
    for<'a> active_people: LoadQuery<'a, C, (i64, String)>,
{
    let Some((creator, assignee, description, title)) = issue_facts(id)
        .get_result::<(i64, i64, String, String)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let manual: Vec<(i64, bool)> = manual_choices(id).load(conn)?;
    let said: Vec<(i64, String)> = what_was_said(id).load(conn)?;
    let mut named: Vec<String> = mentions(&description);
    for (_, body) in &said {
        for name in mentions(body) {
            if !named.contains(&name) {
                named.push(name);
            }
        }
    }
    let mut candidates: Vec<i64> = vec![creator, assignee];
    candidates.extend(said.iter().map(|(author, _)| *author));
    candidates.extend(manual.iter().map(|(user, _)| *user));
    let people: Vec<(i64, String)> = active_people(candidates, named.clone()).load(conn)?;
    // Sets: an issue may have thousands of watchers.
    let manual: HashMap<i64, bool> = manual.into_iter().collect();
    let commenters: HashSet<i64> = said.iter().map(|(author, _)| *author).collect();
    let named: HashSet<String> = named.into_iter().collect();
    let watchers = people
        .into_iter()
        .filter_map(|(user, username)| {
            let facts = WatchFacts {
                manual: manual.get(&user).copied(),
                author: creator == user,
                assigned: assignee == user,
                commented: commenters.contains(&user),
                mentioned: named.contains(&username),
            };
            facts.subscription().reason.map(|reason| Watcher {
                user: UserId::new(user),
                username,
                reason,
            })
        })
        .collect();
    Ok(Some((title, watchers)))
}
