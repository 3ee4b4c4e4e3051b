//! Webhook endpoints and their deliveries.
//!
//! Every event is fanned out to the matching active endpoints by [`FanOut`], in the event's own
//! transaction (see `insert_event`): a delivery exists exactly when its event does. Workers
//! claim due deliveries with a lease (`SKIP LOCKED` on PostgreSQL) and a claim token; an outcome
//! is written only under the token it was claimed with, so a worker whose lease ran out cannot
//! overwrite the attempt that took over.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::Text;
use issue_tracker_domain::{Event, EventType, Webhook, WebhookChanges};
use serde::Serialize;

use crate::claims::new_claim_token;
use crate::clock;
use crate::rows::{now_micros, utc};
use crate::schema::{events, webhook_attempts, webhook_deliveries, webhooks};
use crate::{with_conn, with_write_conn, Database, StoreError};

/// Inserts a pending delivery, due now, on `$conn`; its id.
macro_rules! new_delivery {
    ($conn:expr, $webhook:expr, $event:expr) => {
        diesel::insert_into(webhook_deliveries::table)
            .values((
                webhook_deliveries::webhook_id.eq($webhook),
                webhook_deliveries::event_id.eq($event),
                webhook_deliveries::status.eq("pending"),
                webhook_deliveries::attempts.eq(0),
                webhook_deliveries::next_attempt_at.eq(clock::now()),
                webhook_deliveries::created_at.eq(now_micros()),
            ))
            .returning(webhook_deliveries::id)
            .get_result::<i64>($conn)
    };
}

/// Writes one pending delivery per active endpoint that wants the event just inserted on this
/// connection: PostgreSQL's `currval` (this session's), SQLite's newest event (writers are
/// serialised; `last_insert_rowid()` would move with each delivery the statement inserts). A query
/// type of its own so that diesel keeps it prepared.
#[derive(Debug, Clone, Copy, QueryId)]
pub(crate) struct FanOut {
    /// `%"<event type>"%`: matches the type in the endpoint's JSON list.
    pattern: &'static str,
}

impl FanOut {
    pub(crate) fn pattern_of(event_type: EventType) -> &'static str {
        // One static string per type: no allocation per event.
        macro_rules! patterns {
            ($($variant:ident => $name:literal),* $(,)?) => {
                match event_type { $(EventType::$variant => concat!("%\"", $name, "\"%"),)* }
            };
        }
        patterns!(
            IssueCreated => "issue.created",
            IssueUpdated => "issue.updated",
            IssueDeleted => "issue.deleted",
            UserCreated => "user.created",
            UserUpdated => "user.updated",
            UserPasswordChanged => "user.password_changed",
            TokensRevoked => "user.tokens_revoked",
            ScopedTokenCreated => "user.token_created",
            CommentCreated => "comment.created",
            CommentEdited => "comment.edited",
            CommentDeleted => "comment.deleted",
            LabelAdded => "label.added",
            LabelRemoved => "label.removed",
        )
    }

    pub(crate) fn new(event_type: EventType) -> FanOut {
        FanOut {
            pattern: Self::pattern_of(event_type),
        }
    }
}

/// The SELECT part shared by both dialects: endpoints wanting the event.
const WANTING: &str = " FROM webhooks WHERE active AND (events = '[\"*\"]' OR events LIKE ";

impl QueryFragment<diesel::pg::Pg> for FanOut {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, \
             next_attempt_at, created_at) SELECT id, currval('events_id_seq'), 'pending', 0, \
             (statement_timestamp() AT TIME ZONE 'UTC'), (statement_timestamp() AT TIME ZONE 'UTC')",
        );
        out.push_sql(WANTING);
        out.push_bind_param::<Text, _>(&self.pattern)?;
        out.push_sql(")");
        Ok(())
    }
}

impl QueryFragment<diesel::sqlite::Sqlite> for FanOut {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::sqlite::Sqlite>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, \
             next_attempt_at, created_at) SELECT id, (SELECT max(id) FROM events), 'pending', 0, \
             strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')",
        );
        out.push_sql(WANTING);
        out.push_bind_param::<Text, _>(&self.pattern)?;
        out.push_sql(")");
        Ok(())
    }
}

impl RunQueryDsl<diesel::pg::PgConnection> for FanOut {}
impl RunQueryDsl<diesel::sqlite::SqliteConnection> for FanOut {}

/// Writes the deliveries of the event just inserted, on either database.
pub(crate) trait FanOutConnection {
    /// Runs [`FanOut`] for an event of this type.
    fn fan_out(&mut self, event_type: EventType) -> QueryResult<()>;
}

impl FanOutConnection for diesel::pg::PgConnection {
    fn fan_out(&mut self, event_type: EventType) -> QueryResult<()> {
        FanOut::new(event_type).execute(self).map(|_| ())
    }
}

impl FanOutConnection for diesel::sqlite::SqliteConnection {
    /// SQLite: only when an endpoint is active. An `INSERT ... SELECT` costs a write statement
    /// even when it inserts nothing (a third of the `POST` rate, measured), a read costs a few
    /// microseconds. Writers are serialised, so no endpoint can appear in between.
    fn fan_out(&mut self, event_type: EventType) -> QueryResult<()> {
        let any: bool = diesel::select(diesel::dsl::exists(
            webhooks::table.filter(webhooks::active.eq(true)),
        ))
        .get_result(self)?;
        if any {
            FanOut::new(event_type).execute(self)?;
        }
        Ok(())
    }
}

/// Why a webhook was not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookRefused {
    /// No such webhook (or delivery).
    Missing,
}

/// One attempt of a delivery, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryAttempt {
    /// When it started.
    #[serde(serialize_with = "rfc3339")]
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    /// How long it took, in milliseconds.
    pub duration_ms: i32,
    /// The first 4 KiB of the response body.
    pub response: String,
    /// What went wrong, when it did (timeout, connection refused, refused address...).
    pub error: Option<String>,
}

/// A delivery, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryInfo {
    /// Its id.
    pub id: i64,
    /// The `webhook-id` it is sent with: the event's id (`ping_<id>` for a ping).
    pub message_id: String,
    /// The event delivered (`null` for a ping).
    pub event_id: Option<i64>,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `sending`, `succeeded` or `failed`.
    pub status: String,
    /// When it is due next (pending), or when its lease ends (sending).
    #[serde(serialize_with = "rfc3339")]
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
    /// When it was made.
    #[serde(serialize_with = "rfc3339")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it succeeded or failed for good.
    #[serde(serialize_with = "rfc3339_opt")]
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Every attempt, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
}

fn rfc3339<S: serde::Serializer>(
    at: &chrono::DateTime<chrono::Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

fn rfc3339_opt<S: serde::Serializer>(
    at: &Option<chrono::DateTime<chrono::Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// A delivery a worker holds: what to send, where, signed with which secrets.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// The delivery's id.
    pub id: i64,
    /// Its endpoint.
    pub webhook_id: i64,
    /// Where to POST.
    pub url: String,
    /// The secrets to sign with: the current one, and the previous one during its grace.
    pub secrets: Vec<String>,
    /// The `webhook-id` header.
    pub message_id: String,
    /// The event's type.
    pub event_type: String,
    /// The event's time (the body's `timestamp`).
    pub event_at: chrono::DateTime<chrono::Utc>,
    /// The body's `data`: the event (or the ping's).
    pub data: serde_json::Value,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// The claim's token: outcomes are written under it only.
    pub claim_token: i64,
}

/// How an attempt ended, as the worker records it.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    /// A 2xx answer: delivered.
    Delivered,
    /// Another answer or no answer: retry after this long.
    Retry(Duration),
    /// Failed for good (retries used up, or a refused address).
    Failed,
    /// `410 Gone`: failed, and the endpoint turned inactive.
    Gone,
}

type WebhookRow = (i64, String, String, bool, NaiveDateTime);

fn webhook_of((id, url, events, active, created_at): WebhookRow) -> Result<Webhook, StoreError> {
    Ok(Webhook {
        id,
        url,
        events: serde_json::from_str(&events).map_err(|e| {
            StoreError::Query(diesel::result::Error::DeserializationError(e.into()))
        })?,
        active,
        created_at: utc(created_at),
    })
}

const WEBHOOK_COLUMNS: (
    webhooks::id,
    webhooks::url,
    webhooks::events,
    webhooks::active,
    webhooks::created_at,
) = (
    webhooks::id,
    webhooks::url,
    webhooks::events,
    webhooks::active,
    webhooks::created_at,
);

/// A delivery's attempt: its delivery, start, status, duration, response, error.
type AttemptRow = (i64, NaiveDateTime, Option<i32>, i32, String, Option<String>);

/// An endpoint's URL and secrets: id, url, secret, previous secret and until when.
type SigningRow = (i64, String, String, Option<String>, Option<NaiveDateTime>);

type DeliveryRow = (
    i64,
    Option<i64>,
    String,
    NaiveDateTime,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<String>,
);

impl Database {
    /// Registers an endpoint from a complete [`WebhookChanges`] with its secret.
    pub fn create_webhook(
        &self,
        new: &WebhookChanges,
        secret: &str,
    ) -> Result<Webhook, StoreError> {
        let now = now_micros();
        let events = serde_json::to_string(new.events.as_deref().unwrap_or(&[]))
            .unwrap_or_else(|_| "[]".to_owned());
        let url = new.url.clone().unwrap_or_default();
        let active = new.active.unwrap_or(true);
        let id: i64 = with_write_conn!(self, |conn| {
            diesel::insert_into(webhooks::table)
                .values((
                    webhooks::url.eq(&url),
                    webhooks::events.eq(&events),
                    webhooks::active.eq(active),
                    webhooks::secret.eq(secret),
                    webhooks::created_at.eq(now),
                ))
                .returning(webhooks::id)
                .get_result(conn)?
        });
        webhook_of((id, url, events, active, now))
    }

    /// Every endpoint, oldest first.
    pub fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let rows: Vec<WebhookRow> = with_conn!(self, |conn| webhooks::table
            .order(webhooks::id)
            .select(WEBHOOK_COLUMNS)
            .load(conn)?);
        rows.into_iter().map(webhook_of).collect()
    }

    /// One endpoint.
    pub fn get_webhook(&self, id: i64) -> Result<Option<Webhook>, StoreError> {
        let row: Option<WebhookRow> = with_conn!(self, |conn| webhooks::table
            .find(id)
            .select(WEBHOOK_COLUMNS)
            .get_result(conn)
            .optional()?);
        row.map(webhook_of).transpose()
    }

    /// Changes an endpoint's fields.
    pub fn update_webhook(
        &self,
        id: i64,
        changes: &WebhookChanges,
    ) -> Result<Option<Webhook>, StoreError> {
        let events = changes
            .events
            .as_ref()
            .map(|e| serde_json::to_string(e).unwrap_or_else(|_| "[]".to_owned()));
        let updated = with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let exists = webhooks::table
                    .find(id)
                    .select(webhooks::id)
                    .get_result::<i64>(conn)
                    .optional()?
                    .is_some();
                if exists && (changes.url.is_some() || events.is_some() || changes.active.is_some())
                {
                    diesel::update(webhooks::table.find(id))
                        .set((
                            changes.url.as_ref().map(|u| webhooks::url.eq(u)),
                            events.as_ref().map(|e| webhooks::events.eq(e)),
                            changes.active.map(|a| webhooks::active.eq(a)),
                        ))
                        .execute(conn)?;
                }
                Ok::<_, StoreError>(exists)
            })?
        });
        match updated {
            true => self.get_webhook(id),
            false => Ok(None),
        }
    }

    /// Deletes an endpoint and its deliveries; `false` when there was none.
    pub fn delete_webhook(&self, id: i64) -> Result<bool, StoreError> {
        Ok(
            with_write_conn!(self, |conn| diesel::delete(webhooks::table.find(id))
                .execute(conn)?)
                > 0,
        )
    }

    /// Gives an endpoint a new secret; the old one keeps signing alongside for `grace`.
    /// `false` when there is no such endpoint.
    pub fn rotate_webhook_secret(
        &self,
        id: i64,
        secret: &str,
        grace: Duration,
    ) -> Result<bool, StoreError> {
        let changed = with_write_conn!(self, |conn| {
            diesel::update(webhooks::table.find(id))
                .set((
                    webhooks::previous_secret.eq(webhooks::secret.nullable()),
                    webhooks::previous_secret_until.eq(clock::later(grace).nullable()),
                    webhooks::secret.eq(secret),
                ))
                .execute(conn)?
        });
        Ok(changed > 0)
    }

    /// Queues a ping to an endpoint; its delivery, or `None` when there is no such endpoint.
    pub fn ping_webhook(&self, id: i64) -> Result<Option<DeliveryInfo>, StoreError> {
        let created = with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let exists = webhooks::table
                    .find(id)
                    .select(webhooks::id)
                    .get_result::<i64>(conn)
                    .optional()?
                    .is_some();
                if !exists {
                    return Ok::<_, StoreError>(None);
                }
                Ok(Some(new_delivery!(conn, id, None::<i64>)?))
            })?
        });
        match created {
            Some(delivery) => self.get_delivery(id, delivery),
            None => Ok(None),
        }
    }

    /// One page of an endpoint's deliveries, newest first, optionally of one status, and how
    /// many there are; `None` when there is no such endpoint.
    pub fn list_deliveries(
        &self,
        webhook: i64,
        status: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<Option<(Vec<DeliveryInfo>, i64)>, StoreError> {
        if self.get_webhook(webhook)?.is_none() {
            return Ok(None);
        }
        let status = status.map(str::to_owned);
        let (rows, total) = with_conn!(self, |conn| {
            let mut query = webhook_deliveries::table
                .left_join(events::table.on(events::id.nullable().eq(webhook_deliveries::event_id)))
                .filter(webhook_deliveries::webhook_id.eq(webhook))
                .into_boxed();
            let mut count = webhook_deliveries::table
                .filter(webhook_deliveries::webhook_id.eq(webhook))
                .into_boxed();
            if let Some(status) = &status {
                query = query.filter(webhook_deliveries::status.eq(status.clone()));
                count = count.filter(webhook_deliveries::status.eq(status.clone()));
            }
            let rows: Vec<DeliveryRow> = query
                .order(webhook_deliveries::id.desc())
                .offset(offset)
                .limit(limit)
                .select((
                    webhook_deliveries::id,
                    webhook_deliveries::event_id,
                    webhook_deliveries::status,
                    webhook_deliveries::next_attempt_at,
                    webhook_deliveries::created_at,
                    webhook_deliveries::finished_at,
                    events::kind.nullable(),
                ))
                .load(conn)?;
            let total: i64 = count.count().get_result(conn)?;
            (rows, total)
        });
        Ok(Some((self.with_attempts(rows)?, total)))
    }

    /// One delivery of an endpoint.
    pub fn get_delivery(
        &self,
        webhook: i64,
        delivery: i64,
    ) -> Result<Option<DeliveryInfo>, StoreError> {
        let row: Option<DeliveryRow> = with_conn!(self, |conn| webhook_deliveries::table
            .left_join(events::table.on(events::id.nullable().eq(webhook_deliveries::event_id)))
            .filter(webhook_deliveries::webhook_id.eq(webhook))
            .filter(webhook_deliveries::id.eq(delivery))
            .select((
                webhook_deliveries::id,
                webhook_deliveries::event_id,
                webhook_deliveries::status,
                webhook_deliveries::next_attempt_at,
                webhook_deliveries::created_at,
                webhook_deliveries::finished_at,
                events::kind.nullable(),
            ))
            .get_result(conn)
            .optional()?);
        Ok(self.with_attempts(row.into_iter().collect())?.pop())
    }

    fn with_attempts(&self, rows: Vec<DeliveryRow>) -> Result<Vec<DeliveryInfo>, StoreError> {
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let attempts: Vec<AttemptRow> = with_conn!(self, |conn| webhook_attempts::table
            .filter(webhook_attempts::delivery_id.eq_any(&ids))
            .order(webhook_attempts::id)
            .select((
                webhook_attempts::delivery_id,
                webhook_attempts::started_at,
                webhook_attempts::status_code,
                webhook_attempts::duration_ms,
                webhook_attempts::response,
                webhook_attempts::error,
            ))
            .load(conn)?);
        Ok(rows
            .into_iter()
            .map(
                |(id, event_id, status, next, created, finished, kind)| DeliveryInfo {
                    id,
                    message_id: message_id(id, event_id),
                    event_id,
                    event_type: kind.unwrap_or_else(|| issue_tracker_domain::PING_EVENT.to_owned()),
                    status,
                    next_attempt_at: utc(next),
                    created_at: utc(created),
                    finished_at: finished.map(utc),
                    attempts: attempts
                        .iter()
                        .filter(|a| a.0 == id)
                        .map(|a| DeliveryAttempt {
                            started_at: utc(a.1),
                            status_code: a.2,
                            duration_ms: a.3,
                            response: a.4.clone(),
                            error: a.5.clone(),
                        })
                        .collect(),
                },
            )
            .collect())
    }

    /// Delivers a delivery's event again, as a new delivery with the same `webhook-id`; `None`
    /// when the endpoint has no such delivery.
    pub fn redeliver(
        &self,
        webhook: i64,
        delivery: i64,
    ) -> Result<Option<DeliveryInfo>, StoreError> {
        let created = with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let Some(event) = webhook_deliveries::table
                    .filter(webhook_deliveries::webhook_id.eq(webhook))
                    .filter(webhook_deliveries::id.eq(delivery))
                    .select(webhook_deliveries::event_id)
                    .get_result::<Option<i64>>(conn)
                    .optional()?
                else {
                    return Ok::<_, StoreError>(None);
                };
                Ok(Some(new_delivery!(conn, webhook, event)?))
            })?
        });
        match created {
            Some(id) => self.get_delivery(webhook, id),
            None => Ok(None),
        }
    }

    /// Claims up to `limit` due deliveries for `lease` (pending and due, or held by a worker
    /// whose lease ran out), with what to send. On PostgreSQL `SKIP LOCKED` keeps workers off
    /// each other's rows.
    pub fn claim_deliveries(
        &self,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let token = new_claim_token();
        let due = || {
            webhook_deliveries::table
                .filter(webhook_deliveries::status.eq_any(["pending", "sending"]))
                .filter(webhook_deliveries::next_attempt_at.le(clock::now()))
                .order(webhook_deliveries::next_attempt_at)
                .limit(limit)
                .select(webhook_deliveries::id)
        };
        // Marks the rows with `ids` as this claim's, if they are still due.
        macro_rules! take {
            ($conn:expr, $ids:expr) => {{
                let ids: Vec<i64> = $ids;
                if ids.is_empty() {
                    Ok::<_, StoreError>(Vec::new())
                } else {
                    Ok(diesel::update(
                        webhook_deliveries::table
                            .filter(webhook_deliveries::id.eq_any(&ids))
                            .filter(webhook_deliveries::status.eq_any(["pending", "sending"]))
                            .filter(webhook_deliveries::next_attempt_at.le(clock::now())),
                    )
                    .set((
                        webhook_deliveries::status.eq("sending"),
                        webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                        webhook_deliveries::claim_token.eq(Some(token)),
                        webhook_deliveries::next_attempt_at.eq(clock::later(lease)),
                    ))
                    .returning((
                        webhook_deliveries::id,
                        webhook_deliveries::webhook_id,
                        webhook_deliveries::event_id,
                        webhook_deliveries::attempts,
                    ))
                    .load($conn)?)
                }
            }};
        }
        let claimed: Vec<(i64, i64, Option<i64>, i32)> = {
            let _guard = self.write_guard();
            match self {
                Database::Postgres(pool) => {
                    let conn: &mut diesel::pg::PgConnection = &mut *pool.get()?;
                    conn.transaction(|conn| {
                        take!(conn, due().for_update().skip_locked().load(conn)?)
                    })?
                }
                Database::Sqlite(store) => {
                    let conn: &mut diesel::sqlite::SqliteConnection = &mut *store.pool.get()?;
                    conn.transaction(|conn| take!(conn, due().load(conn)?))?
                }
            }
        };
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let hook_ids: Vec<i64> = claimed.iter().map(|c| c.1).collect();
        let event_ids: Vec<i64> = claimed.iter().filter_map(|c| c.2).collect();
        let now = now_micros();
        let hooks: Vec<SigningRow> = with_conn!(self, |conn| webhooks::table
            .filter(webhooks::id.eq_any(&hook_ids))
            .select((
                webhooks::id,
                webhooks::url,
                webhooks::secret,
                webhooks::previous_secret,
                webhooks::previous_secret_until,
            ))
            .load(conn)?);
        let events: Vec<Event> = self.events_by_id(&event_ids)?;
        Ok(claimed
            .into_iter()
            .filter_map(|(id, webhook_id, event_id, attempts)| {
                let (_, url, secret, previous, until) =
                    hooks.iter().find(|h| h.0 == webhook_id)?.clone();
                let mut secrets = vec![secret];
                if let (Some(previous), Some(until)) = (previous, until) {
                    if until > now {
                        secrets.push(previous);
                    }
                }
                let (event_type, event_at, data) = match event_id {
                    Some(event_id) => {
                        let event = events.iter().find(|e| e.id == event_id)?;
                        let payload = issue_tracker_domain::event_payload(event);
                        (
                            event.event_type.as_str().to_owned(),
                            event.created_at,
                            payload["data"].clone(),
                        )
                    }
                    None => (
                        issue_tracker_domain::PING_EVENT.to_owned(),
                        utc(now),
                        serde_json::json!({"webhook": webhook_id}),
                    ),
                };
                Some(ClaimedDelivery {
                    id,
                    webhook_id,
                    url,
                    secrets,
                    message_id: message_id(id, event_id),
                    event_type,
                    event_at,
                    data,
                    attempts,
                    claim_token: token,
                })
            })
            .collect())
    }

    /// Records one attempt and its outcome, under the claim's token; `false` when the claim was
    /// superseded (its lease ran out and another worker took the delivery).
    pub fn record_attempt(
        &self,
        claim: &ClaimedDelivery,
        attempt: &DeliveryAttempt,
        outcome: &AttemptOutcome,
    ) -> Result<bool, StoreError> {
        Ok(self.record_attempts(&[(claim.clone(), attempt.clone(), outcome.clone())])?[0])
    }

    /// Records several attempts in one transaction (one commit for many deliveries), each under
    /// its claim's token; for each, whether it was recorded (`false`: superseded).
    pub fn record_attempts(
        &self,
        batch: &[(ClaimedDelivery, DeliveryAttempt, AttemptOutcome)],
    ) -> Result<Vec<bool>, StoreError> {
        let now = now_micros();
        with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let mut recorded = Vec::with_capacity(batch.len());
                for (claim, attempt, outcome) in batch {
                    let mine = webhook_deliveries::table
                        .filter(webhook_deliveries::id.eq(claim.id))
                        .filter(webhook_deliveries::status.eq("sending"))
                        .filter(webhook_deliveries::claim_token.eq(Some(claim.claim_token)));
                    let matched = match outcome {
                        AttemptOutcome::Delivered => diesel::update(mine)
                            .set((
                                webhook_deliveries::status.eq("succeeded"),
                                webhook_deliveries::finished_at.eq(Some(now)),
                            ))
                            .execute(conn)?,
                        AttemptOutcome::Retry(wait) => diesel::update(mine)
                            .set((
                                webhook_deliveries::status.eq("pending"),
                                webhook_deliveries::next_attempt_at.eq(clock::later(*wait)),
                            ))
                            .execute(conn)?,
                        AttemptOutcome::Failed | AttemptOutcome::Gone => diesel::update(mine)
                            .set((
                                webhook_deliveries::status.eq("failed"),
                                webhook_deliveries::finished_at.eq(Some(now)),
                            ))
                            .execute(conn)?,
                    };
                    recorded.push(matched > 0);
                    if matched == 0 {
                        continue;
                    }
                    if let AttemptOutcome::Gone = outcome {
                        diesel::update(webhooks::table.find(claim.webhook_id))
                            .set(webhooks::active.eq(false))
                            .execute(conn)?;
                    }
                    diesel::insert_into(webhook_attempts::table)
                        .values((
                            webhook_attempts::delivery_id.eq(claim.id),
                            webhook_attempts::started_at.eq(attempt.started_at.naive_utc()),
                            webhook_attempts::status_code.eq(attempt.status_code),
                            webhook_attempts::duration_ms.eq(attempt.duration_ms),
                            webhook_attempts::response.eq(&attempt.response),
                            webhook_attempts::error.eq(&attempt.error),
                        ))
                        .execute(conn)?;
                }
                Ok::<_, StoreError>(recorded)
            })
        })
    }

    /// How many deliveries are in each status (for tests, the CLI and benchmarks).
    pub fn count_deliveries(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(with_conn!(self, |conn| webhook_deliveries::table
            .group_by(webhook_deliveries::status)
            .select((webhook_deliveries::status, diesel::dsl::count_star()))
            .load(conn)?))
    }
}

/// The `webhook-id` of a delivery: its event's id, the same on every retry and redelivery.
fn message_id(delivery: i64, event: Option<i64>) -> String {
    match event {
        Some(event) => event.to_string(),
        None => format!("ping_{delivery}"),
    }
}
