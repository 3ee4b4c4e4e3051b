//! Deliveries: their pages and attempts, redelivery, and the workers' claim, lease and
//! recorded outcome.

use super::*;

impl Database {
    /// One page of an endpoint's deliveries, newest first, optionally of one status, and how
    /// many there are; `None` when there is no such endpoint.
    pub fn list_deliveries(
        &self,
        webhook: WebhookId,
        status: Option<DeliveryStatus>,
        offset: i64,
        limit: i64,
    ) -> Result<Option<(Vec<DeliveryInfo>, i64)>, StoreError> {
        if self.get_webhook(webhook)?.is_none() {
            return Ok(None);
        }
        let webhook = webhook.get();
        let status = status.map(DeliveryStatus::as_str);
        let (rows, total) = with_conn!(self, |conn| {
            let mut query = webhook_deliveries::table
                .left_join(events::table.on(events::id.nullable().eq(webhook_deliveries::event_id)))
                .filter(webhook_deliveries::webhook_id.eq(webhook))
                .into_boxed();
            let mut count = webhook_deliveries::table
                .filter(webhook_deliveries::webhook_id.eq(webhook))
                .into_boxed();
            if let Some(status) = &status {
                query = query.filter(webhook_deliveries::status.eq(*status));
                count = count.filter(webhook_deliveries::status.eq(*status));
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
        webhook: WebhookId,
        delivery: DeliveryId,
    ) -> Result<Option<DeliveryInfo>, StoreError> {
        let delivery = delivery.get();
        let webhook = webhook.get();
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
        rows.into_iter()
            .map(|(id, event_id, status, next, created, finished, kind)| {
                // The CHECK constraint allows no other word: only a damaged database gives one.
                let status = DeliveryStatus::parse(&status).ok_or_else(|| {
                    diesel::result::Error::DeserializationError(
                        format!("delivery {id} has the stored status {status:?}").into(),
                    )
                })?;
                Ok(DeliveryInfo {
                    id: DeliveryId::from_stored(id),
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
                })
            })
            .collect::<Result<Vec<_>, diesel::result::Error>>()
            .map_err(StoreError::from)
    }

    /// Delivers a delivery's event again, as a new delivery with the same `webhook-id`; `None`
    /// when the endpoint has no such delivery.
    pub fn redeliver(
        &self,
        webhook: WebhookId,
        delivery: DeliveryId,
    ) -> Result<Option<DeliveryInfo>, StoreError> {
        let delivery = delivery.get();
        let webhook = webhook.get();
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
                Ok(Some(new_delivery(webhook, event).get_result::<i64>(conn)?))
            })?
        });
        match created {
            Some(id) => {
                self.get_delivery(WebhookId::from_stored(webhook), DeliveryId::from_stored(id))
            }
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
        let claimed: Vec<(i64, i64, Option<i64>, i32)> = with_write_conn!(self, |conn| {
            conn.transaction(|conn| {
                let ids = conn.lock_due(due_deliveries(limit))?;
                if ids.is_empty() {
                    return Ok::<_, StoreError>(Vec::new());
                }
                // Still due: another claim may have taken them since (SQLite: never).
                let still_due = webhook_deliveries::table
                    .filter(webhook_deliveries::id.eq_any(&ids))
                    .filter(webhook_deliveries::status.eq_any(CLAIMABLE))
                    .filter(webhook_deliveries::next_attempt_at.le(clock::now()));
                Ok(diesel::update(still_due)
                    .set((
                        webhook_deliveries::status.eq(DeliveryStatus::Sending.as_str()),
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
                    .load(conn)?)
            })?
        });
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
                        let event = events.iter().find(|e| e.id.get() == event_id)?;
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
                    id: DeliveryId::from_stored(id),
                    webhook_id: WebhookId::from_stored(webhook_id),
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
                        .filter(webhook_deliveries::id.eq(claim.id.get()))
                        .filter(webhook_deliveries::status.eq(DeliveryStatus::Sending.as_str()))
                        .filter(webhook_deliveries::claim_token.eq(Some(claim.claim_token)));
                    let matched = match outcome {
                        AttemptOutcome::Delivered => diesel::update(mine)
                            .set((
                                webhook_deliveries::status.eq(DeliveryStatus::Succeeded.as_str()),
                                webhook_deliveries::finished_at.eq(Some(now)),
                            ))
                            .execute(conn)?,
                        AttemptOutcome::Retry(wait) => diesel::update(mine)
                            .set((
                                webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()),
                                webhook_deliveries::next_attempt_at.eq(clock::later(*wait)),
                            ))
                            .execute(conn)?,
                        AttemptOutcome::Failed | AttemptOutcome::Gone => diesel::update(mine)
                            .set((
                                webhook_deliveries::status.eq(DeliveryStatus::Failed.as_str()),
                                webhook_deliveries::finished_at.eq(Some(now)),
                            ))
                            .execute(conn)?,
                    };
                    recorded.push(matched > 0);
                    if matched == 0 {
                        continue;
                    }
                    if let AttemptOutcome::Gone = outcome {
                        diesel::update(webhooks::table.find(claim.webhook_id.get()))
                            .set(webhooks::active.eq(false))
                            .execute(conn)?;
                    }
                    diesel::insert_into(webhook_attempts::table)
                        .values((
                            webhook_attempts::delivery_id.eq(claim.id.get()),
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

/// The statuses of deliveries a claim may take: not yet tried, or held by a worker (whose lease
/// may have run out).
const CLAIMABLE: [&str; 2] = [
    DeliveryStatus::Pending.as_str(),
    DeliveryStatus::Sending.as_str(),
];

/// The ids of up to `limit` due deliveries (pending and due, or held by a worker whose lease
/// ran out), oldest due first.
#[diesel::dsl::auto_type]
fn due_deliveries(limit: i64) -> _ {
    let taking: [&'static str; 2] = CLAIMABLE;
    let now: clock::DatabaseNow = clock::now();
    webhook_deliveries::table
        .filter(webhook_deliveries::status.eq_any(taking))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .order(webhook_deliveries::next_attempt_at)
        .limit(limit)
        .select(webhook_deliveries::id)
}

/// Reads the due deliveries a claim is to take: PostgreSQL locks them and skips rows another
/// claim holds (`FOR UPDATE SKIP LOCKED`), so that workers stay off each other's rows; SQLite
/// has one writer at a time.
trait LockDue {
    fn lock_due(&mut self, due: due_deliveries) -> QueryResult<Vec<i64>>;
}

impl LockDue for diesel::pg::PgConnection {
    fn lock_due(&mut self, due: due_deliveries) -> QueryResult<Vec<i64>> {
        due.for_update().skip_locked().load(self)
    }
}

impl LockDue for diesel::sqlite::SqliteConnection {
    fn lock_due(&mut self, due: due_deliveries) -> QueryResult<Vec<i64>> {
        due.load(self)
    }
}
