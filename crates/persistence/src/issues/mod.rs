//! Issues, one room per job: `writes` (create, update, delete, each with its event and
//! outbox row), `queries` (filtered, ordered, paged lists and counts), `search` (SQLite's
//! deferred search index). What all three share is here: the select of every read, the row
//! lock of every conditional write, and what a write may be refused for.

use std::time::Duration;

use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::query_source::AliasedField;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use issue_tracker_domain::{
    issue_changes, issue_created, issue_deleted, label_key, EventType, Issue, IssueChanges,
    IssueFilter, IssueId, OrderField, Origin, Status, User, UserId,
};

use crate::events::{insert_event, insert_event_json, NewEvent};
use crate::labels::label_names_of;
use crate::outbox::{cancel_pending_of_issue, insert_assignment};
use crate::rows::{issue_from_row, now_micros, IssueRow};
use crate::schema::{issue_labels, issues, issues_search, issues_search_pending, labels, users};
use crate::{with_conn, with_write_conn, Backend, Database, StoreError};

diesel::alias!(users as creators: CreatorAlias, users as assignees: AssigneeAlias);

/// What [`issue_query`] reads: the row (with its label names), the creator's and assignee's
/// usernames.
type IssueTuple = (IssueRow, String, String);

/// An issue with the ids behind its usernames, for permission checks.
#[derive(Debug, Clone)]
pub struct StoredIssue {
    /// The issue as clients see it.
    pub issue: Issue,
    /// Its creator.
    pub creator: UserId,
    /// Its assignee.
    pub assignee: UserId,
}

/// What must still hold when a change is written: checked in the write's own transaction, so a
/// request whose body arrived late cannot write over a newer version, or as a creator it no
/// longer is.
#[derive(Debug, Clone, Copy)]
pub struct WriteCondition {
    /// Only this user may change the issue (`None`: anyone; the staff admin).
    pub creator: Option<UserId>,
    /// The version (`updated_at`) the client saw, when it sent `If-Match`.
    pub version: Option<chrono::DateTime<chrono::Utc>>,
}

/// Why a conditional write wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteRefused {
    /// The issue no longer exists.
    Missing,
    /// The caller is not its creator.
    NotCreator,
    /// It changed since the version the client saw.
    Changed,
}

/// The statements of [`guard_write`], as types: it is generic over the connection, with these
/// as its bounds.
type LockIssue = diesel::dsl::Update<
    diesel::dsl::Find<issues::table, i64>,
    diesel::dsl::Eq<issues::id, issues::id>,
>;
type IssueById = diesel::dsl::Filter<issue_query, diesel::dsl::Eq<issues::id, i64>>;

/// Reads one issue with its usernames, on either database. Not `first()`: its `LIMIT ?` is a
/// bound parameter, and SQLite re-prepares a statement whose LIMIT parameter is bound again, on
/// every call (3x the CPU of GET one). The key is unique: at most one row.
fn read_issue<C>(conn: &mut C, id: i64) -> QueryResult<Option<StoredIssue>>
where
    C: Connection,
    IssueById: for<'q> diesel::query_dsl::LoadQuery<'q, C, IssueTuple>,
{
    issue_query()
        .filter(issues::id.eq(id))
        .get_result::<IssueTuple>(conn)
        .optional()?
        .map(stored)
        .transpose()
}

/// Locks the issue's row for the rest of the transaction (a no-op UPDATE: a row lock on
/// PostgreSQL; SQLite writers are serialised anyway), reads it, and checks `condition` against
/// it, on either database. The issue as it was, when the write may go ahead.
pub(crate) fn guard_write<C>(
    conn: &mut C,
    id: i64,
    condition: &WriteCondition,
) -> QueryResult<Result<StoredIssue, WriteRefused>>
where
    C: Connection,
    LockIssue: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
    IssueById: for<'q> diesel::query_dsl::LoadQuery<'q, C, IssueTuple>,
{
    let locked = diesel::update(issues::table.find(id))
        .set(issues::id.eq(issues::id))
        .execute(conn)?;
    let current = read_issue(conn, id)?;
    Ok(match (locked, current) {
        (0, _) | (_, None) => Err(WriteRefused::Missing),
        (_, Some(issue)) if condition.creator.is_some_and(|c| c != issue.creator) => {
            Err(WriteRefused::NotCreator)
        }
        (_, Some(issue))
            if condition
                .version
                .is_some_and(|seen| seen != issue.issue.updated_at) =>
        {
            Err(WriteRefused::Changed)
        }
        (_, Some(issue)) => Ok(issue),
    })
}

/// An issue with its creator's and assignee's usernames: the select of every read.
#[diesel::dsl::auto_type]
fn issue_query() -> _ {
    let issue_columns: <issues::table as diesel::Table>::AllColumns = issues::all_columns;
    let creator_id: AliasedField<CreatorAlias, users::id> = creators.field(users::id);
    let assignee_id: AliasedField<AssigneeAlias, users::id> = assignees.field(users::id);
    let creator_name: AliasedField<CreatorAlias, users::username> = creators.field(users::username);
    let assignee_name: AliasedField<AssigneeAlias, users::username> =
        assignees.field(users::username);
    issues::table
        .inner_join(creators.on(issues::created_by_id.eq(creator_id)))
        .inner_join(assignees.on(issues::assigned_to_id.eq(assignee_id)))
        .select((issue_columns, creator_name, assignee_name))
}

fn stored(
    (mut row, created_by, assigned_to): IssueTuple,
) -> Result<StoredIssue, diesel::result::Error> {
    let creator = UserId::new(row.created_by_id);
    let assignee = UserId::new(row.assigned_to_id);
    Ok(StoredIssue {
        issue: {
            let labels = label_names_of(row.label_names.take())?;
            issue_from_row(row, created_by, assigned_to, labels)?
        },
        creator,
        assignee,
    })
}

mod queries;
mod search;
mod writes;

pub(crate) use queries::{like_pattern, lower};
pub use writes::NewIssue;
