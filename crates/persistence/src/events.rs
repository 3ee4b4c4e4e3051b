//! The history's writes and reads. Every change writes its event through [`insert_event`] inside
//! the change's own transaction, so that an event exists exactly when its change does.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use issue_tracker_domain::{
    Actor, Event, EventId, EventType, FieldChange, HistoryPage, IssueId, Origin, User, UserId, Via,
};

use crate::rows::utc;
use crate::schema::events;
use crate::webhooks::FanOutConnection;
use crate::{with_conn, Database, StoreError};

diesel::define_sql_function!(fn coalesce(x: diesel::sql_types::Nullable<diesel::sql_types::Text>, y: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// An event about to be written.
pub(crate) struct NewEvent<'a> {
    pub event_type: EventType,
    pub origin: &'a Origin,
    pub issue: Option<i64>,
    /// The user a user event concerns.
    pub user: Option<(i64, &'a str)>,
    pub changes: &'a [FieldChange],
    pub at: NaiveDateTime,
}

impl NewEvent<'_> {
    /// The `changes` column: a JSON array.
    pub(crate) fn changes_json(&self) -> String {
        serde_json::to_string(self.changes).unwrap_or_else(|_| "[]".to_owned())
    }
}

/// An event about `user`.
pub(crate) fn user_event<'a>(
    event_type: EventType,
    user: &'a User,
    origin: &'a Origin,
    changes: &'a [FieldChange],
    at: chrono::NaiveDateTime,
) -> NewEvent<'a> {
    NewEvent {
        event_type,
        origin,
        issue: None,
        user: Some((user.id.get(), user.username.as_str())),
        changes,
        at,
    }
}

#[derive(Insertable)]
#[diesel(table_name = events)]
pub(crate) struct EventInsert<'a> {
    kind: &'a str,
    created_at: NaiveDateTime,
    actor_id: Option<i64>,
    actor_username: Option<&'a str>,
    via: &'a str,
    request_id: Option<&'a str>,
    issue_id: Option<i64>,
    user_id: Option<i64>,
    username: Option<&'a str>,
    changes: String,
}

/// The insert of one event, as a type: [`insert_event`] is generic over the connection, with
/// this as its bound.
type InsertEvent<'a> =
    diesel::dsl::Values<diesel::dsl::insert_into<events::table>, EventInsert<'a>>;

/// Writes `event`, on either database, in the caller's transaction, with its webhook deliveries.
pub(crate) fn insert_event<'a, C>(conn: &mut C, event: &'a NewEvent<'a>) -> QueryResult<usize>
where
    C: Connection + FanOutConnection,
    InsertEvent<'a>: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
{
    insert_event_json(conn, event, event.changes_json())
}

/// [`insert_event`] with the `changes` column already serialized: a writer holding SQLite's
/// write lock serializes it before taking the lock.
pub(crate) fn insert_event_json<'a, C>(
    conn: &mut C,
    event: &'a NewEvent<'a>,
    changes: String,
) -> QueryResult<usize>
where
    C: Connection + FanOutConnection,
    InsertEvent<'a>: RunQueryDsl<C> + diesel::query_dsl::methods::ExecuteDsl<C>,
{
    let actor = event.origin.actor.as_ref();
    let written = diesel::insert_into(events::table)
        .values(EventInsert {
            kind: event.event_type.as_str(),
            created_at: event.at,
            actor_id: actor.map(|a| a.id.get()),
            actor_username: actor.map(|a| a.username.as_str()),
            via: event.origin.via.as_str(),
            request_id: event.origin.request_id.as_deref(),
            issue_id: event.issue,
            user_id: event.user.map(|(id, _)| id),
            username: event.user.map(|(_, name)| name),
            changes,
        })
        .execute(conn)?;
    conn.fan_out(event.event_type)?;
    Ok(written)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = events)]
struct EventRow {
    id: i64,
    kind: String,
    created_at: NaiveDateTime,
    actor_id: Option<i64>,
    actor_username: Option<String>,
    via: String,
    request_id: Option<String>,
    issue_id: Option<i64>,
    user_id: Option<i64>,
    username: Option<String>,
    changes: String,
}

fn corrupt(row_id: i64, what: &str) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(format!("event {row_id}: {what}").into())
}

impl TryFrom<EventRow> for Event {
    type Error = diesel::result::Error;

    fn try_from(row: EventRow) -> Result<Event, Self::Error> {
        let actor = |id: Option<i64>, name: Option<String>| match (id, name) {
            (Some(id), Some(username)) => Some(Actor {
                id: UserId::new(id),
                username,
            }),
            _ => None,
        };
        Ok(Event {
            id: EventId::from_stored(row.id),
            event_type: EventType::parse(&row.kind)
                .ok_or_else(|| corrupt(row.id, "unknown type"))?,
            created_at: utc(row.created_at),
            actor: actor(row.actor_id, row.actor_username),
            via: Via::parse(&row.via).ok_or_else(|| corrupt(row.id, "unknown via"))?,
            request_id: row.request_id,
            issue: row.issue_id.and_then(IssueId::new),
            user: actor(row.user_id, row.username),
            changes: serde_json::from_str(&row.changes)
                .map_err(|e| corrupt(row.id, &e.to_string()))?,
        })
    }
}

/// Which events the audit log shows.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this type.
    pub event_type: Option<EventType>,
    /// Only changes by this username.
    pub actor: Option<String>,
    /// Only events of this issue.
    pub issue: Option<i64>,
    /// Only events about this user.
    pub user: Option<i64>,
    /// Only events at or after this time (UTC).
    pub since: Option<NaiveDateTime>,
    /// Only events before this time (UTC).
    pub until: Option<NaiveDateTime>,
    /// Only events whose changes, or whose user's name, contain this text (any case).
    pub text: Option<String>,
    /// Oldest first (newest first otherwise).
    pub oldest_first: bool,
}

/// A page of history, and whether more follows.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// True when events after the last one exist (visible now).
    pub more: bool,
}

/// How long a feed read waits for older transactions to end before it answers with what is
/// already proven settled (on PostgreSQL; see [`settled_through`]).
const HORIZON_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

#[derive(QueryableByName)]
struct SequenceState {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_value: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_called: bool,
}

#[derive(QueryableByName)]
struct OlderWriters {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    running: i64,
}

#[derive(QueryableByName)]
struct TransactionId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    xid: String,
}

fn xid(text: &str) -> QueryResult<u64> {
    text.parse().map_err(|_| {
        diesel::result::Error::DeserializationError(format!("not a transaction id: {text}").into())
    })
}

/// A feed read in id order: the history (`events`) or the notification inboxes (`inbox`). Each
/// has its sequence, and each writer takes a transaction id before an id of it (see
/// `settled_through`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Feed {
    /// `events`, ids from `events_id_seq`.
    Events,
    /// `inbox`, ids from `inbox_id_seq`.
    Inbox,
}

impl Feed {
    fn sequence_sql(self) -> &'static str {
        match self {
            Feed::Events => "SELECT last_value, is_called FROM events_id_seq",
            Feed::Inbox => "SELECT last_value, is_called FROM inbox_id_seq",
        }
    }
}

/// How far a feed reader may read: see `settled_through` for PostgreSQL.
pub(crate) trait FeedHorizon {
    /// The newest id of `feed` a reader may show without ever skipping one; `None`: none yet.
    fn settled_through(&mut self, feed: Feed) -> QueryResult<Option<i64>>;
}

/// One writer at a time, committing in id order: what is visible has no gap to fill.
impl FeedHorizon for diesel::sqlite::SqliteConnection {
    fn settled_through(&mut self, _feed: Feed) -> QueryResult<Option<i64>> {
        Ok(Some(i64::MAX))
    }
}

/// On PostgreSQL, the largest event id `v` such that every event with an id up to `v` is settled:
/// visible to a statement that starts now, or rolled back for good. `None` when older
/// transactions did not end within [`HORIZON_WAIT`] (a transaction left open, a long lock wait):
/// then nothing past what the reader has is proven, and it gets nothing new.
///
/// Ids are handed out when a transaction inserts and become visible when it commits, so a reader
/// that went past an id still being written would skip that event for good. The proof, without
/// any guess about time: the migration `feed_horizon` makes each writer take its transaction id
/// before its event id. Here, (1) `v` is the sequence's last value: every id up to `v` was handed
/// out already, so (2) the transaction id `r` taken next is newer than the transaction id of every
/// writer holding one of them. (3) Once no transaction of this database older than `r` is running
/// (`pg_stat_activity.backend_xid`; `r` itself was ended at once), every such writer has committed
/// or rolled back, so (4) the page read afterwards sees all of them that will ever be seen.
/// Transactions of other databases of the cluster cannot write these events, and are not waited
/// for (`pg_snapshot_xmin` would wait for them too). `pg_stat_activity` shows the transaction id
/// of sessions of the same role (or to `pg_read_all_stats`): every server of the service connects
/// as one role.
fn settled_through(conn: &mut diesel::pg::PgConnection, feed: Feed) -> QueryResult<Option<i64>> {
    let mut proof = None;
    // Rolled back: the transaction exists only to be given a transaction id.
    let outcome = conn.transaction::<(), diesel::result::Error, _>(|conn| {
        let sequence: SequenceState = diesel::sql_query(feed.sequence_sql()).get_result(conn)?;
        let reader: TransactionId =
            diesel::sql_query("SELECT pg_current_xact_id()::text AS xid").get_result(conn)?;
        let handed_out = match sequence.is_called {
            true => sequence.last_value,
            false => sequence.last_value - 1,
        };
        proof = Some((handed_out, xid(&reader.xid)?));
        Err(diesel::result::Error::RollbackTransaction)
    });
    match outcome {
        Err(diesel::result::Error::RollbackTransaction) => {}
        Err(other) => return Err(other),
        Ok(()) => {}
    }
    let Some((handed_out, reader)) = proof else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let older_writers = diesel::sql_query(
        "SELECT count(*) AS running FROM pg_stat_activity \
         WHERE datname = current_database() AND backend_xid IS NOT NULL \
         AND age(backend_xid) > age($1::xid8::xid)",
    )
    .bind::<diesel::sql_types::Text, _>(reader.to_string());
    loop {
        let older: OlderWriters = older_writers.clone().get_result(conn)?;
        if older.running == 0 {
            return Ok(Some(handed_out));
        }
        if started.elapsed() >= HORIZON_WAIT {
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

impl FeedHorizon for diesel::pg::PgConnection {
    fn settled_through(&mut self, feed: Feed) -> QueryResult<Option<i64>> {
        settled_through(self, feed)
    }
}

impl Database {
    /// The events with these ids (in no particular order).
    pub fn events_by_id(&self, ids: &[i64]) -> Result<Vec<Event>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<EventRow> = with_conn!(self, |conn| events::table
            .filter(events::id.eq_any(ids))
            .select(EventRow::as_select())
            .load(conn)?);
        Ok(rows
            .into_iter()
            .map(Event::try_from)
            .collect::<Result<_, _>>()?)
    }

    /// A page of the history of one issue (also after it was deleted), oldest first.
    pub fn issue_history(
        &self,
        issue: IssueId,
        page: HistoryPage,
    ) -> Result<EventPage, StoreError> {
        self.event_page(Some(issue.get()), page)
    }

    /// A page of the whole history, oldest first: a reader that keeps asking with the last id it
    /// saw gets every event once, in order, with no gap.
    pub fn history_feed(&self, page: HistoryPage) -> Result<EventPage, StoreError> {
        self.event_page(None, page)
    }

    /// The id of the newest event (0: none yet): where a live stream opened without a resume
    /// point starts.
    pub fn newest_event_id(&self) -> Result<i64, StoreError> {
        with_conn!(self, |conn| {
            Ok(events::table
                .select(diesel::dsl::max(events::id))
                .get_result::<Option<i64>>(conn)?
                .unwrap_or(0))
        })
    }

    /// The id of the newest event of an issue, if it has any.
    pub fn newest_issue_event(&self, issue: IssueId) -> Result<Option<i64>, StoreError> {
        with_conn!(self, |conn| {
            let newest = events::table
                .filter(events::issue_id.eq(issue.get()))
                .select(diesel::dsl::max(events::id))
                .get_result::<Option<i64>>(conn)?;
            Ok(newest)
        })
    }

    /// One page of events matching `filter`, newest first, with the total that match (the
    /// admin's audit log and dashboard).
    pub fn list_events(
        &self,
        filter: &EventFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Event>, i64), StoreError> {
        let (rows, total) = with_conn!(self, |conn| {
            let query = || {
                let mut query = events::table.into_boxed();
                if let Some(event_type) = filter.event_type {
                    query = query.filter(events::kind.eq(event_type.as_str()));
                }
                if let Some(actor) = &filter.actor {
                    query = query.filter(events::actor_username.eq(actor.clone()));
                }
                if let Some(issue) = filter.issue {
                    query = query.filter(events::issue_id.eq(issue));
                }
                if let Some(user) = filter.user {
                    query = query.filter(events::user_id.eq(user));
                }
                if let Some(since) = filter.since {
                    query = query.filter(events::created_at.ge(since));
                }
                if let Some(until) = filter.until {
                    query = query.filter(events::created_at.lt(until));
                }
                if let Some(text) = &filter.text {
                    let pattern = crate::issues::like_pattern(text);
                    query = query.filter(
                        crate::issues::lower(events::changes)
                            .like(pattern.clone())
                            .escape('\\')
                            .or(crate::issues::lower(coalesce(events::username, ""))
                                .like(pattern)
                                .escape('\\')),
                    );
                }
                query
            };
            let total = query().count().get_result::<i64>(conn)?;
            let ordered = match filter.oldest_first {
                true => query().order(events::id.asc()),
                false => query().order(events::id.desc()),
            };
            let rows = ordered
                .select(EventRow::as_select())
                .offset(offset)
                .limit(limit)
                .load::<EventRow>(conn)?;
            (rows, total)
        });
        let events = rows
            .into_iter()
            .map(Event::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((events, total))
    }

    fn event_page(&self, issue: Option<i64>, page: HistoryPage) -> Result<EventPage, StoreError> {
        let mut rows = with_conn!(self, |conn| {
            let Some(through) = conn.settled_through(Feed::Events)? else {
                return Ok(EventPage {
                    events: Vec::new(),
                    more: false,
                });
            };
            let mut query = events::table
                .filter(events::id.gt(page.after))
                .filter(events::id.le(through))
                .select(EventRow::as_select())
                .order(events::id.asc())
                .limit(page.per_page + 1)
                .into_boxed();
            if let Some(issue) = issue {
                query = query.filter(events::issue_id.eq(issue));
            }
            query.load::<EventRow>(conn)?
        });
        let more = rows.len() as i64 > page.per_page;
        rows.truncate(page.per_page as usize);
        let events = rows
            .into_iter()
            .map(Event::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EventPage { events, more })
    }
}
