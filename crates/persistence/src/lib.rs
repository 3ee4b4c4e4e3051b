//! Storage of users, tokens and issues on PostgreSQL or SQLite, through diesel and r2d2.
//!
//! One [`Database`] value holds a pool for whichever backend `DATABASE_URL` names. Each method is
//! blocking: callers on an async executor run it in `spawn_blocking`/`web::block`; the exception,
//! [`Database::queue_create_issue`], hands a create to SQLite's writer thread and returns a future
//! of its result. The queries are written once with diesel's DSL and compiled for both backends
//! by the [`with_conn!`] dispatch.

mod activity_emails;
mod admin;
mod claims;
mod comments;
pub use comments::CommentRefused;
mod clock;
mod database;
pub mod django;
mod error;
mod events;
mod group_commit;
pub use group_commit::QueuedWrite;
mod housekeeping;
mod inbox;
mod incoming;
pub use inbox::{InboxFilter, InboxVersion};
mod issues;
mod labels;
pub use issue_tracker_domain::LabelEdit;
pub use labels::{IssueLabelsRefused, LabelRefused};
mod outbox;
mod pg_pool;
mod preferences;
pub use admin::{NotificationFilter, NotificationInfo, NotificationOrder};
pub use claims::{ClaimedNotification, Content, DueNotification};
pub use incoming::{EmailComment, IncomingRecord, Receipt, Transport};
pub use issues::{NewIssue, StoredIssue, WriteCondition, WriteRefused};
pub use preferences::PreferenceChanges;
mod rows;
mod sessions;
mod snapshot;
pub use snapshot::SqliteCheckout;
mod sqlite_page;
mod stamp;
mod subscriptions;
pub use sessions::AdminSession;
pub use users::PasswordUpgrade;
pub mod schema;
mod tokens;
mod users;
mod webhooks;
pub use webhooks::{AttemptOutcome, ClaimedDelivery, WebhookRefused};

pub use database::{
    close_postgres_connections, create_postgres_database, drop_postgres_database, Backend,
    Database, PoolSettings, SqliteStore,
};
pub use error::{Cause, StoreError};
pub use events::{EventFilter, EventPage};
pub use issue_tracker_domain::{DeliveryAttempt, DeliveryInfo};
pub use tokens::{Authenticated, TokenInfo, TokenUse};
pub use users::{NewUser, UserChanges, UserCredentials, UserFilter, UserOrder};
