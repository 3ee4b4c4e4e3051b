//! Labels and the labels of issues. Putting a label on an issue or taking it off records a
//! `label.added`/`label.removed` event and moves the issue's `updated_at` (its `ETag`), in one
//! transaction; renaming or deleting a label moves the `updated_at` of every issue that carries
//! it, since their JSON changes (deleting also records a `label.removed` event on each).
//!
//! `issue_labels` is the source; `issues.label_names` is a copy of each issue's names that the
//! issue's own read takes without a subquery (the subquery cost 8 % of `GET /api/issue/<id>/` on
//! PostgreSQL). The three writers here rewrite the copy in the transaction that changes the
//! source: [`Database::edit_issue_labels`], [`Database::update_label`] (a rename) and
//! [`Database::delete_label`].

use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Nullable, Text};
use issue_tracker_domain::{
    label_key, sort_label_names, sorted_labels, EventType, FieldChange, IssueId, Label,
    LabelChanges, LabelEdit, LabelId, Origin,
};
use serde_json::Value;

use crate::events::{insert_event, NewEvent};
use crate::issues::{guard_write, WriteCondition, WriteRefused};
use crate::rows::now_micros;
use crate::schema::{issue_labels, issues, labels};
use crate::{with_conn, with_write_conn, Database, StoreError};

/// The names of an issue's labels as a JSON array (or NULL) computed from `issue_labels`: a
/// correlated subquery on the `(issue_id, label_id)` key, used to rewrite `issues.label_names`.
/// A query type of its own, so that diesel keeps the statement prepared.
#[derive(Debug, Clone, Copy, QueryId)]
pub(crate) struct LabelNamesJson;

impl diesel::expression::Expression for LabelNamesJson {
    type SqlType = Nullable<Text>;
}

// Only used where `issues` is in scope (an UPDATE of issues).
impl<QS> diesel::expression::AppearsOnTable<QS> for LabelNamesJson {}
impl<QS> diesel::expression::SelectableExpression<QS> for LabelNamesJson {}
impl<GB> diesel::expression::ValidGrouping<GB> for LabelNamesJson {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl QueryFragment<diesel::pg::Pg> for LabelNamesJson {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql(
            "(SELECT json_agg(l.name)::text FROM issue_labels il \
             JOIN labels l ON l.id = il.label_id WHERE il.issue_id = issues.id)",
        );
        Ok(())
    }
}

impl QueryFragment<diesel::sqlite::Sqlite> for LabelNamesJson {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::sqlite::Sqlite>) -> QueryResult<()> {
        out.push_sql(
            "(SELECT json_group_array(l.name) FROM issue_labels il \
             JOIN labels l ON l.id = il.label_id WHERE il.issue_id = issues.id)",
        );
        Ok(())
    }
}

/// The label names of [`LabelNamesJson`], sorted as issues show them.
pub(crate) fn label_names_of(json: Option<String>) -> Result<Vec<String>, diesel::result::Error> {
    let Some(json) = json else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = serde_json::from_str(&json)
        .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?;
    sort_label_names(&mut names);
    Ok(names)
}

/// Why a label was not created or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelRefused {
    /// No such label.
    Missing,
    /// Another label has this name (in any case).
    NameTaken,
}

/// Why the labels of an issue were not changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueLabelsRefused {
    /// The issue is missing, or the caller may not change it.
    Issue(WriteRefused),
    /// These names are no label.
    Unknown(Vec<String>),
    /// The label to take off is not on the issue.
    NotOnIssue,
}

type LabelRow = (i64, String, String, String);

fn label_of((id, name, color, description): LabelRow) -> Label {
    Label {
        id: LabelId::from_stored(id),
        name,
        color,
        description,
    }
}

const LABEL_COLUMNS: (labels::id, labels::name, labels::color, labels::description) =
    (labels::id, labels::name, labels::color, labels::description);

/// Holds the labels named by `keys` against renames and deletions until the transaction ends:
/// `FOR SHARE` on PostgreSQL (many writers may put one label on issues at once); SQLite writers
/// are serialised anyway. A label renamed or deleted meanwhile is waited for, then not found.
trait ShareLabels {
    fn share_labels(&mut self, keys: &[String]) -> QueryResult<()>;
}

impl ShareLabels for diesel::pg::PgConnection {
    fn share_labels(&mut self, keys: &[String]) -> QueryResult<()> {
        labels::table
            .filter(labels::name_key.eq_any(keys))
            .select(labels::id)
            .order(labels::id.asc())
            .for_share()
            .load::<i64>(self)
            .map(drop)
    }
}

impl ShareLabels for diesel::sqlite::SqliteConnection {
    fn share_labels(&mut self, _: &[String]) -> QueryResult<()> {
        Ok(())
    }
}

type LockLabel = diesel::dsl::Update<
    diesel::dsl::Find<labels::table, i64>,
    diesel::dsl::Eq<labels::id, labels::id>,
>;

/// Locks a label's row for the rest of the transaction (a no-op UPDATE, on either database);
/// 0 when there is no such label.
fn lock_label<C>(conn: &mut C, id: i64) -> QueryResult<usize>
where
    C: Connection,
    LockLabel: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
{
    diesel::update(labels::table.find(id))
        .set(labels::id.eq(labels::id))
        .execute(conn)
}

impl Database {
    /// Every label, sorted by name (regardless of case).
    pub fn list_labels(&self) -> Result<Vec<Label>, StoreError> {
        with_conn!(self, |conn| {
            let rows: Vec<LabelRow> = labels::table.select(LABEL_COLUMNS).load(conn)?;
            Ok(sorted_labels(rows.into_iter().map(label_of).collect()))
        })
    }

    /// One label.
    pub fn get_label(&self, id: LabelId) -> Result<Option<Label>, StoreError> {
        with_conn!(self, |conn| Ok(labels::table
            .find(id.get())
            .select(LABEL_COLUMNS)
            .get_result::<LabelRow>(conn)
            .optional()?
            .map(label_of)))
    }

    /// Creates a label from a complete [`LabelChanges`] (as `LabelChanges::parse` gives on
    /// creation).
    pub fn create_label(
        &self,
        new: &LabelChanges,
    ) -> Result<Result<Label, LabelRefused>, StoreError> {
        let (Some(name), Some(color)) = (&new.name, &new.color) else {
            return Err(StoreError::Query(diesel::result::Error::QueryBuilderError(
                "a new label needs a name and a colour".into(),
            )));
        };
        let description = new.description.clone().unwrap_or_default();
        let now = now_micros();
        let created = with_write_conn!(self, |conn| {
            diesel::insert_into(labels::table)
                .values((
                    labels::name.eq(name),
                    labels::name_key.eq(label_key(name)),
                    labels::color.eq(color),
                    labels::description.eq(&description),
                    labels::created_at.eq(now),
                ))
                .returning(labels::id)
                .get_result::<i64>(conn)
                .map_err(StoreError::from)
        });
        match created {
            Ok(id) => Ok(Ok(Label {
                id: LabelId::from_stored(id),
                name: name.clone(),
                color: color.clone(),
                description,
            })),
            Err(StoreError::Conflict) => Ok(Err(LabelRefused::NameTaken)),
            Err(other) => Err(other),
        }
    }

    /// Changes a label. A new name moves `updated_at` of the issues carrying it.
    pub fn update_label(
        &self,
        label: LabelId,
        changes: &LabelChanges,
    ) -> Result<Result<Label, LabelRefused>, StoreError> {
        let id = label.get();
        let now = now_micros();
        let result = with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                // First the lock: an issue being given this label finishes first, so that the
                // rename below rewrites its copy of the names too.
                lock_label(conn, id)?;
                let Some(before) = labels::table
                    .find(id)
                    .select(LABEL_COLUMNS)
                    .get_result::<LabelRow>(conn)
                    .optional()?
                    .map(label_of)
                else {
                    return Ok(Err(LabelRefused::Missing));
                };
                let after = Label {
                    id: label,
                    name: changes.name.clone().unwrap_or(before.name.clone()),
                    color: changes.color.clone().unwrap_or(before.color.clone()),
                    description: changes
                        .description
                        .clone()
                        .unwrap_or(before.description.clone()),
                };
                if after == before {
                    return Ok(Ok(after));
                }
                diesel::update(labels::table.find(id))
                    .set((
                        labels::name.eq(&after.name),
                        labels::name_key.eq(label_key(&after.name)),
                        labels::color.eq(&after.color),
                        labels::description.eq(&after.description),
                    ))
                    .execute(conn)?;
                if after.name != before.name {
                    // The issues carrying it have new JSON: move their `updated_at` and
                    // rewrite their copy of the names.
                    let carrying = issue_labels::table
                        .filter(issue_labels::label_id.eq(id))
                        .select(issue_labels::issue_id);
                    diesel::update(issues::table.filter(issues::id.eq_any(carrying)))
                        .set((
                            issues::updated_at.eq(now),
                            issues::label_names.eq(LabelNamesJson),
                        ))
                        .execute(conn)?;
                }
                Ok::<_, StoreError>(Ok(after))
            })
        });
        match result {
            Err(StoreError::Conflict) => Ok(Err(LabelRefused::NameTaken)),
            other => other,
        }
    }

    /// Deletes a label, taking it off every issue that carries it: each of them gets a
    /// `label.removed` event (by `origin`), its `updated_at` moves and its copy of the names is
    /// rewritten, all in one transaction. `false` when there was no such label.
    pub fn delete_label(&self, label: LabelId, origin: &Origin) -> Result<bool, StoreError> {
        let id = label.get();
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                // First the lock: an issue being given this label finishes first, and is then
                // among the carriers read below (its `label.removed` written, its copy rewritten).
                lock_label(conn, id)?;
                let Some(name) = labels::table
                    .find(id)
                    .select(labels::name)
                    .get_result::<String>(conn)
                    .optional()?
                else {
                    return Ok(false);
                };
                let carriers: Vec<i64> = issue_labels::table
                    .filter(issue_labels::label_id.eq(id))
                    .select(issue_labels::issue_id)
                    .order(issue_labels::issue_id.asc())
                    .load(conn)?;
                // Takes the label off every issue (ON DELETE CASCADE), then their copies.
                diesel::delete(labels::table.find(id)).execute(conn)?;
                let change = [FieldChange::new("label", name.as_str(), Value::Null)];
                for issue in &carriers {
                    insert_event(
                        conn,
                        &NewEvent {
                            event_type: EventType::LabelRemoved,
                            origin,
                            issue: Some(*issue),
                            user: None,
                            changes: &change,
                            at: now,
                        },
                    )?;
                }
                for chunk in carriers.chunks(1_000) {
                    diesel::update(issues::table.filter(issues::id.eq_any(chunk)))
                        .set((
                            issues::updated_at.eq(now),
                            issues::label_names.eq(LabelNamesJson),
                        ))
                        .execute(conn)?;
                }
                Ok(true)
            })
        })
    }

    /// The labels of an issue, sorted by name; `None` when there is no such issue.
    pub fn issue_labels(&self, issue: IssueId) -> Result<Option<Vec<Label>>, StoreError> {
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
            let rows: Vec<LabelRow> = issue_labels::table
                .inner_join(labels::table)
                .filter(issue_labels::issue_id.eq(issue.get()))
                .select(LABEL_COLUMNS)
                .load(conn)?;
            Ok(Some(sorted_labels(
                rows.into_iter().map(label_of).collect(),
            )))
        })
    }

    /// Changes the labels of an issue if `condition` holds (in the same transaction), recording
    /// one event per label put on or taken off; returns its labels afterwards. Nothing changes
    /// when any named label does not exist.
    pub fn edit_issue_labels(
        &self,
        issue: IssueId,
        edit: &LabelEdit,
        condition: &WriteCondition,
        origin: &Origin,
    ) -> Result<Result<Vec<Label>, IssueLabelsRefused>, StoreError> {
        let now = now_micros();
        let named = edit.named();
        let keys: Vec<String> = named.iter().map(|n| label_key(n)).collect();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                // Labels before the issue, the order of renames and deletions (label, then its
                // issues), so that the two never wait for each other.
                conn.share_labels(&keys)?;
                if let Err(refused) = guard_write(conn, issue.get(), condition)? {
                    return Ok(Err(IssueLabelsRefused::Issue(refused)));
                }
                let found: Vec<(LabelRow, String)> = labels::table
                    .filter(labels::name_key.eq_any(&keys))
                    .select((LABEL_COLUMNS, labels::name_key))
                    .load(conn)?;
                let unknown: Vec<String> = named
                    .iter()
                    .zip(&keys)
                    .filter(|(_, key)| !found.iter().any(|(_, k)| k == *key))
                    .map(|(name, _)| name.clone())
                    .collect();
                if !unknown.is_empty() {
                    if let LabelEdit::Remove(_) = edit {
                        return Ok(Err(IssueLabelsRefused::NotOnIssue));
                    }
                    return Ok(Err(IssueLabelsRefused::Unknown(unknown)));
                }
                let wanted: Vec<Label> = found.into_iter().map(|(row, _)| label_of(row)).collect();
                let current: Vec<Label> = issue_labels::table
                    .inner_join(labels::table)
                    .filter(issue_labels::issue_id.eq(issue.get()))
                    .select(LABEL_COLUMNS)
                    .load::<LabelRow>(conn)?
                    .into_iter()
                    .map(label_of)
                    .collect();
                let Some(diff) = edit.diff(&wanted, &current) else {
                    return Ok(Err(IssueLabelsRefused::NotOnIssue));
                };
                for label in &diff.added {
                    diesel::insert_into(issue_labels::table)
                        .values((
                            issue_labels::issue_id.eq(issue.get()),
                            issue_labels::label_id.eq(label.id.get()),
                        ))
                        .execute(conn)?;
                }
                if !diff.removed.is_empty() {
                    let ids: Vec<i64> = diff.removed.iter().map(|l| l.id.get()).collect();
                    diesel::delete(
                        issue_labels::table
                            .filter(issue_labels::issue_id.eq(issue.get()))
                            .filter(issue_labels::label_id.eq_any(ids)),
                    )
                    .execute(conn)?;
                }
                let added = diff.added.iter().map(|l| {
                    (
                        EventType::LabelAdded,
                        FieldChange::new("label", Value::Null, l.name.clone()),
                    )
                });
                let removed = diff.removed.iter().map(|l| {
                    (
                        EventType::LabelRemoved,
                        FieldChange::new("label", l.name.clone(), Value::Null),
                    )
                });
                for (event_type, change) in added.chain(removed) {
                    insert_event(
                        conn,
                        &NewEvent {
                            event_type,
                            origin,
                            issue: Some(issue.get()),
                            user: None,
                            changes: &[change],
                            at: now,
                        },
                    )?;
                }
                let changed = !diff.is_empty();
                let after = diff.apply(current);
                if changed {
                    let names: Vec<&str> = after.iter().map(|l| l.name.as_str()).collect();
                    let copy = (!names.is_empty()).then(|| Value::from(names).to_string());
                    diesel::update(issues::table.find(issue.get()))
                        .set((issues::updated_at.eq(now), issues::label_names.eq(copy)))
                        .execute(conn)?;
                }
                Ok(Ok(after))
            })
        })
    }
}
