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
use issue_tracker_domain::{
    DeliveryAttempt, DeliveryId, DeliveryInfo, DeliveryStatus, Event, EventType, Webhook,
    WebhookChanges, WebhookId,
};

use crate::claims::new_claim_token;
use crate::clock;
use crate::rows::{now_micros, utc};
use crate::schema::{events, webhook_attempts, webhook_deliveries, webhooks};
use crate::{with_conn, with_write_conn, Database, StoreError};

/// The statement that inserts a pending delivery of `event` (none: a ping) to `webhook`, due
/// now, and returns its id.
#[diesel::dsl::auto_type(no_type_alias)]
fn new_delivery(webhook: i64, event: Option<i64>) -> _ {
    let pending: &'static str = DeliveryStatus::Pending.as_str();
    let due: clock::DatabaseNow = clock::now();
    let created: NaiveDateTime = now_micros();
    diesel::dsl::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::webhook_id.eq(webhook),
            webhook_deliveries::event_id.eq(event),
            webhook_deliveries::status.eq(pending),
            webhook_deliveries::attempts.eq(0_i32),
            webhook_deliveries::next_attempt_at.eq(due),
            webhook_deliveries::created_at.eq(created),
        ))
        .returning(webhook_deliveries::id)
}

/// Why a webhook was not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookRefused {
    /// No such webhook (or delivery).
    Missing,
}

/// A delivery a worker holds: what to send, where, signed with which secrets.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// The delivery's id.
    pub id: DeliveryId,
    /// Its endpoint.
    pub webhook_id: WebhookId,
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
        id: WebhookId::from_stored(id),
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

mod deliveries;
mod endpoints;
mod fanout;

pub(crate) use fanout::{FanOut, FanOutConnection};
