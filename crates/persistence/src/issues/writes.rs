//! Writing issues: create (one PostgreSQL statement, or SQLite's group commit), update and
//! delete, each with its event and its outbox row in the same transaction.

use super::*;
use crate::group_commit::QueuedWrite;
use crate::inbox::{tell, tell_mentioned};
use crate::subscriptions::{active_named, watchers_of};
use issue_tracker_domain::{
    mentions, new_mentions, update_events, Description, IssueEvent, Title, UserId,
};

/// The fields of a new issue.
#[derive(Debug, Clone)]
pub struct NewIssue<'a> {
    /// Title, as the domain parsed it.
    pub title: &'a Title,
    /// Description, as the domain parsed it.
    pub description: &'a Description,
    /// Status.
    pub status: Status,
    /// The assignee's username; must be an active user.
    pub assignee: &'a str,
}

/// Creates the issue (if the assignee is an active user) and its assignment notification, in one
/// PostgreSQL statement. A query type of its own rather than `sql_query`, because diesel never
/// keeps a `sql_query` prepared: PostgreSQL would parse and plan this CTE on every `POST`.
struct CreateIssuePostgres<'a> {
    creator: i64,
    new: &'a NewIssue<'a>,
    now: chrono::NaiveDateTime,
    /// When the assignment email is due, by the database's clock.
    send_after: crate::clock::DatabaseNow,
    /// Makes the dedupe key unique per write.
    micros: i64,
    /// The `issue.created` event, written by the same statement.
    event: &'a NewEvent<'a>,
    changes_json: String,
    actor_id: Option<i64>,
    actor_username: Option<&'a str>,
}

impl diesel::query_builder::QueryId for CreateIssuePostgres<'_> {
    type QueryId = CreateIssuePostgres<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for CreateIssuePostgres<'_> {
    type SqlType = BigInt;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for CreateIssuePostgres<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql(
            "WITH created AS (INSERT INTO issues \
             (created_by_id, title, description, status, assigned_to_id, created_at, updated_at) \
             SELECT ",
        );
        out.push_bind_param::<BigInt, _>(&self.creator)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.new.title.as_str())?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.new.description.as_str())?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.new.status.as_str())?;
        out.push_sql(", u.id, ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" FROM users u WHERE u.username = ");
        out.push_bind_param::<Text, _>(&self.new.assignee)?;
        out.push_sql(
            " AND u.is_active RETURNING id, assigned_to_id), \
             outbox AS (INSERT INTO notifications \
             (kind, recipient_id, issue_id, dedupe_key, status, send_after, attempts, created_at) \
             SELECT 'assignment', assigned_to_id, id, ",
        );
        out.push_sql(crate::outbox::ASSIGNMENT_KEY_SQL);
        out.push_bind_param::<BigInt, _>(&self.micros)?;
        out.push_sql(", 'pending', ");
        self.send_after.walk_ast(out.reborrow())?;
        out.push_sql(", 0, ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(
            " FROM created), \
             history AS (INSERT INTO events (kind, created_at, actor_id, actor_username, via, \
             request_id, issue_id, changes) SELECT ",
        );
        let event = self.event;
        out.push_bind_param::<Text, _>(event.event_type.as_str())?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&self.actor_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.actor_username)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(event.origin.via.as_str())?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&event.origin.request_id)?;
        out.push_sql(", id, ");
        out.push_bind_param::<Text, _>(&self.changes_json)?;
        // The event's webhook deliveries, as `FanOut` writes them on the other paths.
        out.push_sql(
            " FROM created RETURNING id), \
             hooks AS (INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, \
             next_attempt_at, created_at) SELECT w.id, history.id, 'pending', 0, ",
        );
        let now = crate::clock::now_text(crate::Backend::Postgres);
        out.push_sql(now);
        out.push_sql(", ");
        out.push_sql(now);
        out.push_sql(
            " FROM history, webhooks w WHERE w.active AND (w.events = '[\"*\"]' OR w.events LIKE ",
        );
        // A literal: the statement is cached by its type, and its event is always
        // `issue.created` (the pattern is a fixed string without quotes of its own).
        out.push_sql("'");
        out.push_sql(crate::webhooks::FanOut::pattern_of(EventType::IssueCreated));
        out.push_sql("')) SELECT id FROM created");
        Ok(())
    }
}

impl RunQueryDsl<diesel::pg::PgConnection> for CreateIssuePostgres<'_> {}

impl Database {
    /// Creates an issue by `creator`, assigned to the active user named `new.assignee` (resolved
    /// by the insert itself on SQLite, or by the same lookup inside PostgreSQL's one statement). `None`
    /// when no such active user exists.
    ///
    /// The assignee's notification row, due after `assign_delay`, and the `issue.created` event
    /// are written in the same transaction; so are the entries (and emails, due after
    /// `debounce`) of the active users its description @mentions.
    pub fn create_issue(
        &self,
        creator: &User,
        new: &NewIssue<'_>,
        assign_delay: Duration,
        origin: &Origin,
        debounce: Duration,
    ) -> Result<Option<Issue>, StoreError> {
        match self {
            // PostgreSQL: the issue, its outbox row and its event in one statement (one round
            // trip).
            Database::Postgres(pool) => {
                let now = now_micros();
                let named = mentions(new.description.as_str());
                let mut issue = issue_to_create(creator, new, now);
                let snapshot = issue_created(&issue);
                let event = NewEvent {
                    event_type: EventType::IssueCreated,
                    origin,
                    issue: None,
                    user: None,
                    changes: &snapshot,
                    at: now,
                };
                let conn = &mut *pool.get()?;
                let statement = CreateIssuePostgres {
                    creator: creator.id.get(),
                    new,
                    now,
                    // Due by the database's clock, as the worker and relay compare it.
                    send_after: crate::clock::later(assign_delay),
                    micros: now.and_utc().timestamp_micros(),
                    event: &event,
                    changes_json: event.changes_json(),
                    actor_id: origin.actor.as_ref().map(|a| a.id.get()),
                    actor_username: origin.actor.as_ref().map(|a| a.username.as_str()),
                };
                let id = if named.is_empty() {
                    statement.get_result::<i64>(conn).optional()?
                } else {
                    // Mentions: the entries in the same transaction (the rare, slower path).
                    conn.transaction(|conn| {
                        let id = statement.get_result::<i64>(conn).optional()?;
                        if let Some(id) = id {
                            tell_mentioned(
                                conn,
                                IssueId::from_stored(id),
                                new.title.as_str(),
                                named,
                                None,
                                origin,
                                now,
                                debounce,
                            )?;
                        }
                        Ok::<_, diesel::result::Error>(id)
                    })?
                };
                Ok(id.map(|id| {
                    issue.id = IssueId::from_stored(id);
                    issue
                }))
            }
            Database::Sqlite(store) => store.writer.write(
                &store.pool,
                sqlite_create(creator, new, assign_delay, origin, debounce),
            ),
        }
    }

    /// Whether writes can be queued for a writer thread, with nothing waiting for them
    /// ([`Database::queue_create_issue`]): true on SQLite.
    pub fn can_queue_writes(&self) -> bool {
        matches!(self, Database::Sqlite(_))
    }

    /// [`Database::create_issue`] with no thread waiting for it, where the database has a writer
    /// thread (SQLite): the write joins its next group, and the returned future resolves once the
    /// group is committed. A caller on an event loop serves other requests meanwhile, and as many
    /// creates can wait for one commit as there are requests, not blocking threads. `None` on
    /// PostgreSQL, whose write is a blocking call ([`Database::create_issue`]).
    pub fn queue_create_issue(
        &self,
        creator: &User,
        new: &NewIssue<'_>,
        assign_delay: Duration,
        origin: &Origin,
        debounce: Duration,
    ) -> Option<QueuedWrite<Option<Issue>>> {
        let Database::Sqlite(store) = self else {
            return None;
        };
        Some(store.writer.queue(
            &store.pool,
            sqlite_create(creator, new, assign_delay, origin, debounce),
        ))
    }

    /// One issue.
    pub fn get_issue(&self, id: IssueId) -> Result<Option<StoredIssue>, StoreError> {
        with_conn!(self, |conn| Ok(read_issue(conn, id.get())?))
    }

    /// Applies `changes` if `condition` holds in the same transaction; otherwise writes nothing
    /// and says why. An empty change writes nothing.
    ///
    /// When the assignee really changes, in the same transaction: the issue's pending
    /// notifications are cancelled (stale) and the new assignee's is written, due after
    /// `assign_delay`. Setting the same assignee again writes nothing. An `issue.updated` event
    /// lists each field that changed (none: no event).
    ///
    /// Who is told of a status change, a reassignment or a new mention is written in the same
    /// transaction (their emails due after `debounce`).
    pub fn update_issue(
        &self,
        id: IssueId,
        changes: &IssueChanges,
        assign_delay: Duration,
        condition: &WriteCondition,
        origin: &Origin,
        debounce: Duration,
    ) -> Result<Result<Issue, WriteRefused>, StoreError> {
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let (before, previous_assignee) = match guard_write(conn, id.get(), condition)? {
                    Ok(before) => (before.issue, before.assignee),
                    Err(refused) => return Ok(Err(refused)),
                };
                let other_fields = changes.title.is_some()
                    || changes.description.is_some()
                    || changes.status.is_some()
                    || changes.created_by.is_some();
                if other_fields {
                    diesel::update(issues::table.find(id.get()))
                        .set((
                            changes.title.as_ref().map(|t| issues::title.eq(t.as_str())),
                            changes
                                .description
                                .as_ref()
                                .map(|d| issues::description.eq(d.as_str())),
                            changes.status.map(|s| issues::status.eq(s.as_str())),
                            changes
                                .created_by
                                .map(|c| issues::created_by_id.eq(c.get())),
                            issues::updated_at.eq(now),
                        ))
                        .execute(conn)?;
                }
                if let Some(assignee) = changes.assigned_to {
                    // Conditional, so that concurrent writers agree on whether it changed.
                    let reassigned = diesel::update(
                        issues::table
                            .find(id.get())
                            .filter(issues::assigned_to_id.ne(assignee.get())),
                    )
                    .set((
                        issues::assigned_to_id.eq(assignee.get()),
                        issues::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                    if reassigned > 0 {
                        cancel_pending_of_issue(conn, id.get(), "the issue was reassigned")?;
                        insert_assignment(conn, id.get(), assignee.get(), now, assign_delay)?;
                    }
                }
                let Some(after) = read_issue(conn, id.get())? else {
                    return Ok(Err(WriteRefused::Missing));
                };
                let changed = issue_changes(&before, &after.issue);
                if !changed.is_empty() {
                    insert_event(
                        conn,
                        &NewEvent {
                            event_type: EventType::IssueUpdated,
                            origin,
                            issue: Some(id.get()),
                            user: None,
                            changes: &changed,
                            at: now,
                        },
                    )?;
                    let named = new_mentions(&before.description, &after.issue.description);
                    let mentioned = active_named(conn, named)?
                        .into_iter()
                        .map(|(user, _)| UserId::new(user))
                        .collect();
                    let events = update_events(&before, &after.issue, previous_assignee, mentioned);
                    if !events.is_empty() {
                        if let Some((title, watchers)) = watchers_of(conn, id.get())? {
                            for event in &events {
                                tell(conn, id, &title, &watchers, event, origin, now, debounce)?;
                            }
                        }
                    }
                }
                Ok(Ok(after.issue))
            })
        })
    }

    /// Deletes an issue if `condition` holds in the same transaction; otherwise deletes nothing
    /// and says why. Its pending notifications are cancelled, and an `issue.deleted` event keeps
    /// what it was, in the same transaction.
    ///
    /// Its watchers are told, in the same transaction (their emails due after `debounce`).
    pub fn delete_issue(
        &self,
        id: IssueId,
        condition: &WriteCondition,
        origin: &Origin,
        debounce: Duration,
    ) -> Result<Result<(), WriteRefused>, StoreError> {
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let before = match guard_write(conn, id.get(), condition)? {
                    Ok(before) => before.issue,
                    Err(refused) => return Ok(Err(refused)),
                };
                cancel_pending_of_issue(conn, id.get(), "the issue was deleted")?;
                // Who watched it is read before it goes (its comments go with it).
                let watched = watchers_of(conn, id.get())?;
                diesel::delete(issues::table.find(id.get())).execute(conn)?;
                if let Some((title, watchers)) = watched {
                    let event = IssueEvent::Deleted;
                    tell(conn, id, &title, &watchers, &event, origin, now, debounce)?;
                }
                insert_event(
                    conn,
                    &NewEvent {
                        event_type: EventType::IssueDeleted,
                        origin,
                        issue: Some(id.get()),
                        user: None,
                        changes: &issue_deleted(&before),
                        at: now,
                    },
                )?;
                Ok(Ok(()))
            })
        })
    }
}

/// The new issue as clients will see it; its id is known only after the insert.
fn issue_to_create(creator: &User, new: &NewIssue<'_>, now: chrono::NaiveDateTime) -> Issue {
    Issue {
        id: IssueId::from_stored(i64::MAX),
        created_by: creator.username.clone(),
        title: new.title.as_str().to_owned(),
        description: new.description.as_str().to_owned(),
        status: new.status,
        assigned_to: new.assignee.to_owned(),
        created_at: now.and_utc(),
        updated_at: now.and_utc(),
        labels: Vec::new(),
    }
}

/// SQLite's create, as a write for the writer thread's group commit (so it owns what it needs).
/// Everything that can be made before is (the event's JSON); the assignee is resolved by the
/// insert itself (`INSERT ... SELECT` from the active user: no row, no issue).
fn sqlite_create(
    creator: &User,
    new: &NewIssue<'_>,
    assign_delay: Duration,
    origin: &Origin,
    debounce: Duration,
) -> impl FnOnce(&mut diesel::SqliteConnection) -> Result<Option<Issue>, StoreError> + Send + 'static
{
    let now = now_micros();
    let named = mentions(new.description.as_str());
    let mut issue = issue_to_create(creator, new, now);
    let changes = NewEvent {
        event_type: EventType::IssueCreated,
        origin,
        issue: None,
        user: None,
        changes: &issue_created(&issue),
        at: now,
    }
    .changes_json();
    let creator = creator.id.get();
    let status = new.status.as_str();
    let origin = origin.clone();
    move |conn| {
        use diesel::IntoSql;
        let assignee = users::table
            .filter(users::username.eq(issue.assigned_to.as_str()))
            .filter(users::is_active.eq(true))
            .select((
                creator.into_sql::<BigInt>(),
                issue.title.as_str().into_sql::<Text>(),
                issue.description.as_str().into_sql::<Text>(),
                status.into_sql::<Text>(),
                users::id,
                now.into_sql::<Timestamp>(),
                now.into_sql::<Timestamp>(),
            ));
        let Some((id, assignee)) = diesel::insert_into(issues::table)
            .values(assignee)
            .into_columns((
                issues::created_by_id,
                issues::title,
                issues::description,
                issues::status,
                issues::assigned_to_id,
                issues::created_at,
                issues::updated_at,
            ))
            .returning((issues::id, issues::assigned_to_id))
            .get_result::<(i64, i64)>(conn)
            .optional()?
        else {
            return Ok(None);
        };
        insert_assignment(conn, id, assignee, now, assign_delay)?;
        insert_event_json(
            conn,
            &NewEvent {
                event_type: EventType::IssueCreated,
                origin: &origin,
                issue: Some(id),
                user: None,
                // Already serialized: `changes`.
                changes: &[],
                at: now,
            },
            changes,
        )?;
        issue.id = IssueId::from_stored(id);
        tell_mentioned(
            conn,
            issue.id,
            &issue.title,
            named,
            None,
            &origin,
            now,
            debounce,
        )?;
        Ok(Some(issue))
    }
}
