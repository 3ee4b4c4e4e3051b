//! Live streams as server-sent events: `GET /api/notifications/stream/` (the caller's new inbox
//! entries) and `GET /api/events/stream/` (the history, for staff or an `events:read` token).
//!
//! Each stream reads its feed from the database every `STREAM_POLL_INTERVAL`, with the same
//! horizon as `?after=` (an id is sent only once every smaller one is settled), so a change
//! written through any server reaches streams held by every other, and nothing is skipped or
//! repeated. Each message's `id:` is the entry's or event's id: a client that reconnects with
//! `Last-Event-ID` (or `?after=`) goes on from there, on this server or another. Every poll
//! checks the token again, so a revoked token (or a deactivated user) ends its streams. A
//! comment is sent after `STREAM_HEARTBEAT` of silence.

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use issue_tracker_domain::{FieldErrors, HistoryPage, TokenScope};
use issue_tracker_web::streams::{StreamSlot, StreamsFull};

use crate::auth::{AuthenticatedUser, Credentials};
use crate::error::ApiError;

/// Most messages one poll reads.
const BATCH: i64 = 100;

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// The caller's inbox entries (`event: notification`).
    Notifications,
    /// The history (`event: <its type>`).
    Events,
}

/// One message to send: its id, its SSE event name and its JSON.
type Message = (i64, String, serde_json::Value);

impl Feed {
    fn may_read(self, caller: &AuthenticatedUser) -> Result<(), ApiError> {
        match self {
            Feed::Notifications => Ok(()),
            Feed::Events if caller.is_staff_or_has(TokenScope::EventsRead) => Ok(()),
            Feed::Events => Err(ApiError::Forbidden),
        }
    }

    /// Checks the token and reads what follows `after`.
    async fn poll(self, credentials: &Credentials, after: i64) -> Result<Vec<Message>, ApiError> {
        let read = move |db: &issue_tracker_persistence::Database,
                         caller: &AuthenticatedUser|
              -> Result<Vec<Message>, ApiError> {
            self.may_read(caller)?;
            match self {
                Feed::Notifications => Ok(db
                    .inbox_after(&caller.user, after, BATCH)?
                    .into_iter()
                    .map(|entry| {
                        let json = serde_json::to_value(&entry).unwrap_or_default();
                        (entry.id.get(), "notification".to_owned(), json)
                    })
                    .collect()),
                Feed::Events => Ok(db
                    .history_feed(HistoryPage {
                        after,
                        per_page: BATCH,
                    })?
                    .events
                    .iter()
                    .map(|event| {
                        (
                            event.id.get(),
                            event.event_type.as_str().to_owned(),
                            issue_tracker_domain::event_payload(event),
                        )
                    })
                    .collect()),
            }
        };
        self.run(credentials, read).await
    }

    /// Runs `work` with the caller once the token is checked: any full token for the caller's
    /// notifications, an `events:read` token too for the history.
    async fn run<T, F>(self, credentials: &Credentials, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&issue_tracker_persistence::Database, &AuthenticatedUser) -> Result<T, ApiError>
            + Send
            + 'static,
        T: Send + 'static,
    {
        match self {
            Feed::Notifications => credentials.clone().run(work).await,
            Feed::Events => {
                credentials
                    .clone()
                    .run_scoped(TokenScope::EventsRead, work)
                    .await
            }
        }
    }

    /// Where a stream without a resume point starts (after what exists now), and the caller's
    /// token.
    async fn newest(self, credentials: &Credentials) -> Result<(i64, i64), ApiError> {
        let newest = move |db: &issue_tracker_persistence::Database,
                           caller: &AuthenticatedUser|
              -> Result<(i64, i64), ApiError> {
            self.may_read(caller)?;
            let newest = match self {
                Feed::Notifications => db.inbox_version(&caller.user)?.last_id,
                Feed::Events => db.newest_event_id()?,
            };
            Ok((newest, caller.token_id.get()))
        };
        self.run(credentials, newest).await
    }
}

/// The resume point: `Last-Event-ID` (what a reconnecting browser sends), else `?after=`; `None`:
/// from now on. Anything but a non-negative integer is a 400 keyed by its name.
fn resume_point(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let parse = |name: &str, value: &str| -> Result<i64, ApiError> {
        value
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| {
                let mut errors = FieldErrors::default();
                errors.add(name, "A valid integer is required.");
                ApiError::Validation(errors)
            })
    };
    if let Some(value) = req.headers().get("Last-Event-ID") {
        let value = value.to_str().unwrap_or("-");
        return parse("Last-Event-ID", value).map(Some);
    }
    let pairs = crate::body::query_pairs(req.query_string())?;
    match pairs.iter().rev().find(|(key, _)| key == "after") {
        Some((_, value)) => parse("after", value).map(Some),
        None => Ok(None),
    }
}

fn frame(message: &Message) -> String {
    let (id, event, json) = message;
    format!("id: {id}\nevent: {event}\ndata: {json}\n\n")
}

/// What a stream holds while it is open.
struct Open {
    feed: Feed,
    credentials: Credentials,
    after: i64,
    queued: VecDeque<String>,
    poll: Duration,
    heartbeat: Duration,
    quiet_since: tokio::time::Instant,
    first: bool,
    /// Held until the stream is dropped.
    _slot: StreamSlot,
}

async fn next_chunk(mut open: Open) -> Option<(Result<Bytes, ApiError>, Open)> {
    loop {
        if let Some(text) = open.queued.pop_front() {
            open.quiet_since = tokio::time::Instant::now();
            return Some((Ok(Bytes::from(text)), open));
        }
        if open.first {
            open.first = false;
        } else {
            tokio::time::sleep(open.poll).await;
        }
        match open.feed.poll(&open.credentials, open.after).await {
            Ok(messages) => {
                for message in &messages {
                    open.after = message.0;
                    open.queued.push_back(frame(message));
                }
            }
            // The token was revoked, the user deactivated, or no longer allowed: the end.
            Err(
                ApiError::Unauthorized(_) | ApiError::Forbidden | ApiError::ForbiddenBecause(_),
            ) => {
                return None;
            }
            // The database is away for a while: keep the stream, try again next poll.
            Err(error) => tracing::debug!(%error, "a live stream could not read its feed"),
        }
        if open.queued.is_empty() && open.quiet_since.elapsed() >= open.heartbeat {
            open.queued.push_back(": heartbeat\n\n".to_owned());
        }
    }
}

async fn stream(
    feed: Feed,
    credentials: Credentials,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // Authenticated and allowed first: a refused client gets its 401/403, not a stream.
    let resume = resume_point(&req);
    let (newest, token) = feed.newest(&credentials).await?;
    let after = resume?.unwrap_or(newest);
    let state = credentials.state().clone();
    let http = &state.settings.http;
    let slot = state
        .streams
        .take(token, http.streams_per_token, http.streams_per_server)
        .map_err(|full| {
            ApiError::TooManyStreams(match full {
                StreamsFull::Token(n) => format!(
                    "This token holds {n} open streams already (STREAMS_PER_TOKEN); close one."
                ),
                StreamsFull::Server(n) => {
                    format!("This server holds {n} open streams already; try again later.")
                }
            })
        })?;
    let open = Open {
        feed,
        credentials,
        after,
        // Browsers reconnect after this many milliseconds.
        queued: VecDeque::from(["retry: 2000\n\n".to_owned()]),
        poll: http.stream_poll,
        heartbeat: http.stream_heartbeat,
        quiet_since: tokio::time::Instant::now(),
        first: true,
        _slot: slot,
    };
    let body = futures_util::stream::unfold(open, next_chunk);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Proxies (nginx) must pass each message on at once.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// `GET /api/notifications/stream/`: the caller's new inbox entries as server-sent events.
#[utoipa::path(get, path = "/api/notifications/stream/", tag = "notifications", security(("token" = [])),
    params(
        ("Last-Event-ID" = Option<i64>, Header, minimum = 0, description = "Go on after this entry id (a reconnecting client sends it)"),
        ("after" = Option<i64>, Query, minimum = 0, description = "Go on after this entry id; without either, from now on"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `id: <entry id>`, `event: notification`, `data: <entry JSON>`; a `: heartbeat` comment after silence", content_type = "text/event-stream", body = String),
        (status = 400, description = "A bad resume point", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 429, description = "Too many open streams (per token or per server)", body = crate::schemas::Detail),
    ))]
pub async fn notification_stream(
    credentials: Credentials,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    stream(Feed::Notifications, credentials, req).await
}

/// `GET /api/events/stream/`: the history as server-sent events (staff, or an `events:read`
/// token).
#[utoipa::path(get, path = "/api/events/stream/", tag = "history", security(("token" = [])),
    params(
        ("Last-Event-ID" = Option<i64>, Header, minimum = 0, description = "Go on after this event id (a reconnecting client sends it)"),
        ("after" = Option<i64>, Query, minimum = 0, description = "Go on after this event id; without either, from now on"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `id: <event id>`, `event: <event type>`, `data: <webhook payload>`; a `: heartbeat` comment after silence", content_type = "text/event-stream", body = String),
        (status = 400, description = "A bad resume point", body = crate::schemas::FieldErrors),
        (status = 401, body = crate::schemas::Detail),
        (status = 403, description = "Neither staff nor a token with the `events:read` scope", body = crate::schemas::Detail),
        (status = 429, description = "Too many open streams (per token or per server)", body = crate::schemas::Detail),
    ))]
pub async fn event_stream(
    credentials: Credentials,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    stream(Feed::Events, credentials, req).await
}
