//! Watching issues: what a user chose by hand (`issue_subscriptions`), and the facts from which
//! the domain decides whether, and why, they watch an issue.

use diesel::prelude::*;
use issue_tracker_domain::{mentions, IssueId, Subscription, User, WatchFacts};

use crate::rows::now_micros;
use crate::schema::{comments, issue_subscriptions, issues};
use crate::{with_conn, with_write_conn, Database, StoreError};

impl Database {
    /// `user`'s subscription to `issue`; `None` when there is no such issue.
    pub fn subscription(
        &self,
        issue: IssueId,
        user: &User,
    ) -> Result<Option<Subscription>, StoreError> {
        Ok(self.watch_facts(issue, user)?.map(WatchFacts::subscription))
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

    /// What is known of `user` and `issue`; `None` when there is no such issue.
    fn watch_facts(&self, issue: IssueId, user: &User) -> Result<Option<WatchFacts>, StoreError> {
        let id = issue.get();
        with_conn!(self, |conn| {
            let Some((creator, assignee, description)) = issues::table
                .find(id)
                .select((
                    issues::created_by_id,
                    issues::assigned_to_id,
                    issues::description,
                ))
                .get_result::<(i64, i64, String)>(conn)
                .optional()?
            else {
                return Ok(None);
            };
            let manual = issue_subscriptions::table
                .find((id, user.id.get()))
                .select(issue_subscriptions::subscribed)
                .get_result::<bool>(conn)
                .optional()?;
            let said: Vec<(i64, String)> = comments::table
                .filter(comments::issue_id.eq(id))
                .select((comments::author_id, comments::body))
                .load(conn)?;
            let named = |text: &str| mentions(text).contains(&user.username);
            Ok(Some(WatchFacts {
                manual,
                author: creator == user.id.get(),
                assigned: assignee == user.id.get(),
                commented: said.iter().any(|(author, _)| *author == user.id.get()),
                mentioned: named(&description) || said.iter().any(|(_, body)| named(body)),
            }))
        })
    }
}
