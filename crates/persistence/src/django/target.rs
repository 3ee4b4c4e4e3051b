//! Writing an import into our database, in one transaction: users keep their ids, names, flags,
//! join dates and Django hashes (each replaced by bcrypt at its first login), DRF keys become
//! tokens stored as hashes, issues keep their ids; each user and issue gets its `*.created` event
//! with `via: "import"`. No notification is queued and no webhook delivery made: this is history
//! from before the service.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use issue_tracker_domain::{
    hash_token, issue_created, Issue, IssueId, Status, TokenScopes, TOKEN_PREFIX_CHARS,
};

use super::bulk::{BulkWrite, NewEventRow, NewIssueRow, NewTokenRow, NewUserRow};
use super::source::{DjangoIssue, DjangoSource, DjangoUser};
use crate::rows::now_micros;
use crate::schema::{issues, users};
use crate::{with_write_conn, Database, StoreError};

/// Rows read from the source per round trip, and written together.
const BATCH: i64 = 10_000;

/// What to import: which source rows to leave out (refused, with `--skip-invalid`), and how long
/// imported tokens live.
#[derive(Debug, Clone, Default)]
pub struct ImportPlan {
    /// User ids not to import (their tokens neither).
    pub skip_users: HashSet<i64>,
    /// Issue ids not to import.
    pub skip_issues: HashSet<i64>,
    /// User ids whose token is not to be imported.
    pub skip_tokens: HashSet<i64>,
    /// The life of each imported token, from the import.
    pub token_ttl: std::time::Duration,
}

/// Which table an import is at, for a progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStage {
    /// `auth_user`.
    Users,
    /// `authtoken_token`.
    Tokens,
    /// `issuetracker_issue`.
    Issues,
}

/// How many rows were written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Users.
    pub users: u64,
    /// Tokens.
    pub tokens: u64,
    /// Issues.
    pub issues: u64,
}

/// What the target holds already: an import goes only into an empty one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetState {
    /// Users.
    pub users: i64,
    /// Issues.
    pub issues: i64,
}

impl TargetState {
    /// True when there is nothing to overwrite.
    pub fn is_empty(&self) -> bool {
        self.users == 0 && self.issues == 0
    }
}

fn user_created(user: &DjangoUser, now: NaiveDateTime) -> NewEventRow {
    let username = user.username.clone().unwrap_or_default();
    let email = user.email.clone().unwrap_or_default();
    let changes = issue_tracker_domain::user_created(
        &username,
        &email,
        user.is_active != 0,
        user.is_staff != 0,
        user.is_superuser != 0,
    );
    NewEventRow {
        kind: "user.created",
        created_at: now,
        via: "import",
        issue_id: None,
        user_id: Some(user.id),
        username: Some(username),
        changes: serde_json::to_string(&changes).unwrap_or_else(|_| "[]".to_owned()),
    }
}

fn issue_row(
    issue: &DjangoIssue,
    ids: &HashMap<String, i64>,
    now: NaiveDateTime,
) -> Option<(NewIssueRow, NewEventRow)> {
    let (creator, assignee) = (issue.created_by.clone()?, issue.assigned_to.clone()?);
    let status = Status::parse(issue.status.as_deref()?).ok()?;
    let (title, description) = (issue.title.clone()?, issue.description.clone()?);
    let at = now.and_utc();
    let domain = Issue {
        id: IssueId::new(issue.id)?,
        created_by: creator.clone(),
        title: title.clone(),
        description: description.clone(),
        status,
        assigned_to: assignee.clone(),
        created_at: at,
        updated_at: at,
        labels: Vec::new(),
    };
    let changes = serde_json::to_string(&issue_created(&domain)).ok()?;
    Some((
        NewIssueRow {
            id: issue.id,
            created_by_id: *ids.get(&creator)?,
            title,
            description,
            status: status.as_str().to_owned(),
            assigned_to_id: *ids.get(&assignee)?,
            created_at: now,
            updated_at: now,
        },
        NewEventRow {
            kind: "issue.created",
            created_at: now,
            via: "import",
            issue_id: Some(issue.id),
            user_id: None,
            username: None,
            changes,
        },
    ))
}

/// Rows the plan imports but that do not convert (the caller's checks should have refused them).
fn unconvertible(what: &str, id: i64) -> StoreError {
    StoreError::Query(diesel::result::Error::QueryBuilderError(
        format!("{what} {id} cannot be imported (it should have been refused)").into(),
    ))
}

impl Database {
    /// How many users and issues the database holds.
    pub fn import_target_state(&self) -> Result<TargetState, StoreError> {
        crate::with_conn!(self, |conn| {
            Ok(TargetState {
                users: users::table.count().get_result(conn)?,
                issues: issues::table.count().get_result(conn)?,
            })
        })
    }

    /// Imports `source` as `plan` says, in one transaction: all of it or, on any failure
    /// (including a target that is not empty any more), nothing. `progress` hears of each batch.
    pub fn import_django(
        &self,
        source: &mut DjangoSource,
        plan: &ImportPlan,
        progress: &mut dyn FnMut(ImportStage, u64),
    ) -> Result<ImportSummary, StoreError> {
        let now = now_micros();
        let expires = crate::tokens::expiry(now, plan.token_ttl);
        let backend = self.backend();
        with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(|conn| {
                let users_there: i64 = users::table.count().get_result(conn)?;
                let issues_there: i64 = issues::table.count().get_result(conn)?;
                if users_there + issues_there > 0 {
                    return Err(StoreError::Conflict);
                }
                let mut summary = ImportSummary::default();
                let mut ids: HashMap<String, i64> = HashMap::new();
                let aside = conn.set_aside()?;

                let mut after = 0;
                loop {
                    let page = source.users(after, BATCH)?;
                    let Some(last) = page.last() else { break };
                    after = last.id;
                    let mut rows = Vec::with_capacity(page.len());
                    let mut created = Vec::with_capacity(page.len());
                    for user in page.iter().filter(|u| !plan.skip_users.contains(&u.id)) {
                        let (Some(username), Some(password), Some(joined)) =
                            (user.username.clone(), user.password.clone(), user.joined())
                        else {
                            return Err(unconvertible("user", user.id));
                        };
                        ids.insert(username.clone(), user.id);
                        created.push(user_created(user, now));
                        rows.push(NewUserRow {
                            id: user.id,
                            username,
                            email: user.email.clone().unwrap_or_default(),
                            password_hash: password,
                            is_active: user.is_active != 0,
                            is_staff: user.is_staff != 0,
                            is_superuser: user.is_superuser != 0,
                            date_joined: joined,
                        });
                    }
                    conn.write_users(&rows)?;
                    conn.write_events(&created)?;
                    summary.users += rows.len() as u64;
                    progress(ImportStage::Users, page.len() as u64);
                }

                let mut after = 0;
                loop {
                    let page = source.tokens(after, BATCH)?;
                    let Some(last) = page.last() else { break };
                    after = last.user_id;
                    let rows: Vec<NewTokenRow> = page
                        .iter()
                        .filter(|t| {
                            !plan.skip_users.contains(&t.user_id)
                                && !plan.skip_tokens.contains(&t.user_id)
                        })
                        .filter_map(|t| {
                            let key = t.key.as_deref()?;
                            Some(NewTokenRow {
                                user_id: t.user_id,
                                key_hash: hash_token(key),
                                prefix: key.chars().take(TOKEN_PREFIX_CHARS).collect(),
                                created_at: now,
                                expires_at: expires,
                                scopes: TokenScopes::FULL.to_stored(),
                            })
                        })
                        .collect();
                    conn.write_tokens(&rows)?;
                    summary.tokens += rows.len() as u64;
                    progress(ImportStage::Tokens, page.len() as u64);
                }

                let mut after = 0;
                loop {
                    let page = source.issues(after, BATCH)?;
                    let Some(last) = page.last() else { break };
                    after = last.id;
                    let mut rows = Vec::with_capacity(page.len());
                    let mut created = Vec::with_capacity(page.len());
                    for issue in page.iter().filter(|i| !plan.skip_issues.contains(&i.id)) {
                        let (row, event) = issue_row(issue, &ids, now)
                            .ok_or_else(|| unconvertible("issue", issue.id))?;
                        rows.push(row);
                        created.push(event);
                    }
                    conn.write_issues(&rows)?;
                    conn.write_events(&created)?;
                    summary.issues += rows.len() as u64;
                    progress(ImportStage::Issues, page.len() as u64);
                }

                conn.put_back(aside)?;
                // New ids continue after the largest imported one. SQLite's AUTOINCREMENT
                // counter follows explicit ids by itself.
                if backend == crate::Backend::Postgres {
                    for table in ["users", "issues"] {
                        diesel::sql_query(format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) \
                             FROM {table} HAVING max(id) IS NOT NULL"
                        ))
                        .execute(conn)?;
                    }
                }
                Ok(summary)
            })
        })
    }
}
