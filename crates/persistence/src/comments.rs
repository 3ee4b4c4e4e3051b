//! Comments on issues. Each write records a `comment.*` event in its own transaction; deleting
//! an issue deletes its comments (foreign key), and their events stay in the history.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use issue_tracker_domain::{
    mentions, new_mentions, Comment, CommentId, EventType, FieldChange, IssueEvent, IssueId,
    Origin, User, UserId,
};
use serde_json::Value;

use crate::events::{insert_event, NewEvent};
use crate::inbox::{tell, tell_mentioned};
use crate::rows::{now_micros, utc};
use crate::schema::{comments, issues, users};
use crate::subscriptions::{active_named, watchers_of};
use crate::{with_conn, with_write_conn, Database, StoreError};

/// Why a comment was not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentRefused {
    /// No such comment.
    Missing,
    /// Only its author may edit it (or, to delete, its author or staff).
    Forbidden,
    /// The caller's precondition (`If-Match`) does not hold.
    Changed,
}

type CommentRow = (i64, i64, String, String, NaiveDateTime, NaiveDateTime, i64);

fn comment_of(row: CommentRow) -> Comment {
    let (id, issue, author, body, created_at, updated_at, _) = row;
    Comment {
        id: CommentId::from_stored(id),
        issue: IssueId::from_stored(issue),
        author,
        body,
        created_at: utc(created_at),
        updated_at: utc(updated_at),
        edited: updated_at > created_at,
    }
}

/// The columns a [`CommentRow`] is read from (the author's id last, for permission checks);
/// `auto_type` names their type `comment_columns` too.
#[diesel::dsl::auto_type]
fn comment_columns() -> _ {
    (
        comments::id,
        comments::issue_id,
        users::username,
        comments::body,
        comments::created_at,
        comments::updated_at,
        comments::author_id,
    )
}

fn read_comment<C>(conn: &mut C, id: i64) -> QueryResult<Option<(Comment, i64)>>
where
    C: Connection,
    C::Backend: diesel::backend::Backend,
    for<'a> diesel::dsl::Select<
        diesel::dsl::Filter<
            diesel::dsl::InnerJoin<comments::table, users::table>,
            diesel::dsl::Eq<comments::id, i64>,
        >,
        comment_columns,
    >: diesel::query_dsl::LoadQuery<'a, C, CommentRow>,
{
    Ok(comments::table
        .inner_join(users::table)
        .filter(comments::id.eq(id))
        .select(comment_columns())
        .get_result::<CommentRow>(conn)
        .optional()?
        .map(|row| {
            let author = row.6;
            (comment_of(row), author)
        }))
}

/// The `comment` entry of a comment event: which comment (`null` before creation, after deletion).
fn which(old: Option<i64>, new: Option<i64>) -> FieldChange {
    FieldChange::new("comment", Value::from(old), Value::from(new))
}

impl Database {
    /// Adds a comment by `author` to `issue`; `None` when there is no such issue. The issue's
    /// watchers and the mentioned are told in the same transaction (their emails due after
    /// `debounce`).
    pub fn create_comment(
        &self,
        issue: IssueId,
        author: &User,
        body: &str,
        origin: &Origin,
        debounce: std::time::Duration,
    ) -> Result<Option<Comment>, StoreError> {
        self.write_comment(issue, author, body, origin, debounce, None)
    }

    /// [`Database::create_comment`], and with `receipt` the record of the email it came from in
    /// the same transaction: a second delivery of that email is refused by the record's unique
    /// key (`StoreError::Conflict`), comment and all.
    pub(crate) fn write_comment(
        &self,
        issue: IssueId,
        author: &User,
        body: &str,
        origin: &Origin,
        debounce: std::time::Duration,
        receipt: Option<&crate::incoming::Receipt<'_>>,
    ) -> Result<Option<Comment>, StoreError> {
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                // The issue is locked, not just looked up: one deleted meanwhile is waited for
                // and then missing (404), never a broken foreign key (500).
                let locked = diesel::update(issues::table.find(issue.get()))
                    .set(issues::id.eq(issues::id))
                    .execute(conn)?;
                if locked == 0 {
                    return Ok(None);
                }
                let id: i64 = diesel::insert_into(comments::table)
                    .values((
                        comments::issue_id.eq(issue.get()),
                        comments::author_id.eq(author.id.get()),
                        comments::body.eq(body),
                        comments::created_at.eq(now),
                        comments::updated_at.eq(now),
                    ))
                    .returning(comments::id)
                    .get_result(conn)?;
                if let Some(receipt) = receipt {
                    crate::incoming::record_comment(conn, receipt, author.id, issue, id, now)?;
                }
                let changes = [
                    which(None, Some(id)),
                    FieldChange::new("body", Value::Null, Value::from(body)),
                ];
                insert_event(
                    conn,
                    &NewEvent {
                        event_type: EventType::CommentCreated,
                        origin,
                        issue: Some(issue.get()),
                        user: None,
                        changes: &changes,
                        at: now,
                    },
                )?;
                if let Some((title, watchers)) = watchers_of(conn, issue.get())? {
                    let mentioned = active_named(conn, mentions(body))?
                        .into_iter()
                        .map(|(id, _)| UserId::new(id))
                        .collect();
                    let event = IssueEvent::Commented {
                        comment: CommentId::from_stored(id),
                        body: body.to_owned(),
                        mentioned,
                    };
                    tell(
                        conn, issue, &title, &watchers, &event, origin, now, debounce,
                    )?;
                }
                Ok(Some(Comment {
                    id: CommentId::from_stored(id),
                    issue,
                    author: author.username.clone(),
                    body: body.to_owned(),
                    created_at: utc(now),
                    updated_at: utc(now),
                    edited: false,
                }))
            })
        })
    }

    /// One page of an issue's comments, oldest first, and how many it has; `None` when there
    /// is no such issue.
    pub fn list_comments(
        &self,
        issue: IssueId,
        offset: i64,
        limit: i64,
    ) -> Result<Option<(Vec<Comment>, i64)>, StoreError> {
        with_conn!(self, |conn| {
            let exists = issues::table
                .find(issue.get())
                .select(issues::id)
                .get_result::<i64>(conn)
                .optional()?
                .is_some();
            if !exists {
                return Ok(None);
            }
            let total: i64 = comments::table
                .filter(comments::issue_id.eq(issue.get()))
                .count()
                .get_result(conn)?;
            let rows: Vec<CommentRow> = comments::table
                .inner_join(users::table)
                .filter(comments::issue_id.eq(issue.get()))
                .order(comments::id)
                .offset(offset)
                .limit(limit)
                .select(comment_columns())
                .load(conn)?;
            Ok(Some((rows.into_iter().map(comment_of).collect(), total)))
        })
    }

    /// One comment.
    pub fn get_comment(&self, id: CommentId) -> Result<Option<Comment>, StoreError> {
        with_conn!(self, |conn| Ok(
            read_comment(conn, id.get())?.map(|(c, _)| c)
        ))
    }

    /// Replaces a comment's body: its author only, and only if `precondition` holds for the
    /// comment as it is now (in the same transaction). The body unchanged writes nothing.
    pub fn edit_comment(
        &self,
        comment: CommentId,
        caller: &User,
        body: &str,
        precondition: &(dyn Fn(&Comment) -> bool + Sync),
        origin: &Origin,
        debounce: std::time::Duration,
    ) -> Result<Result<Comment, CommentRefused>, StoreError> {
        let id = comment.get();
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                // The row is locked before it is read, so two writers with the same precondition
                // cannot both find it holding: the second reads the first's change.
                diesel::update(comments::table.find(id))
                    .set(comments::id.eq(comments::id))
                    .execute(conn)?;
                let Some((before, author)) = read_comment(conn, id)? else {
                    return Ok(Err(CommentRefused::Missing));
                };
                if author != caller.id.get() {
                    return Ok(Err(CommentRefused::Forbidden));
                }
                if !precondition(&before) {
                    return Ok(Err(CommentRefused::Changed));
                }
                if before.body == body {
                    return Ok(Ok(before));
                }
                diesel::update(comments::table.find(id))
                    .set((comments::body.eq(body), comments::updated_at.eq(now)))
                    .execute(conn)?;
                let changes = [
                    which(Some(id), Some(id)),
                    FieldChange::new("body", Value::from(before.body.as_str()), Value::from(body)),
                ];
                insert_event(
                    conn,
                    &NewEvent {
                        event_type: EventType::CommentEdited,
                        origin,
                        issue: Some(before.issue.get()),
                        user: None,
                        changes: &changes,
                        at: now,
                    },
                )?;
                // An edit that adds a mention tells the newly mentioned, as a new comment would.
                let named = new_mentions(&before.body, body);
                if !named.is_empty() {
                    let title: String = issues::table
                        .find(before.issue.get())
                        .select(issues::title)
                        .get_result(conn)?;
                    tell_mentioned(
                        conn,
                        before.issue,
                        &title,
                        named,
                        Some(comment),
                        origin,
                        now,
                        debounce,
                    )?;
                }
                Ok(Ok(Comment {
                    body: body.to_owned(),
                    updated_at: utc(now),
                    edited: true,
                    ..before
                }))
            })
        })
    }

    /// Deletes a comment: its author or staff, if `precondition` holds.
    pub fn delete_comment(
        &self,
        comment: CommentId,
        caller: &User,
        precondition: &(dyn Fn(&Comment) -> bool + Sync),
        origin: &Origin,
    ) -> Result<Result<(), CommentRefused>, StoreError> {
        let id = comment.get();
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                // The row is locked before it is read, so two writers with the same precondition
                // cannot both find it holding: the second reads the first's change.
                diesel::update(comments::table.find(id))
                    .set(comments::id.eq(comments::id))
                    .execute(conn)?;
                let Some((before, author)) = read_comment(conn, id)? else {
                    return Ok(Err(CommentRefused::Missing));
                };
                if author != caller.id.get() && !caller.is_staff {
                    return Ok(Err(CommentRefused::Forbidden));
                }
                if !precondition(&before) {
                    return Ok(Err(CommentRefused::Changed));
                }
                diesel::delete(comments::table.find(id)).execute(conn)?;
                let changes = [
                    which(Some(id), None),
                    FieldChange::new("body", Value::from(before.body.as_str()), Value::Null),
                ];
                insert_event(
                    conn,
                    &NewEvent {
                        event_type: EventType::CommentDeleted,
                        origin,
                        issue: Some(before.issue.get()),
                        user: None,
                        changes: &changes,
                        at: now,
                    },
                )?;
                Ok(Ok(()))
            })
        })
    }
}
