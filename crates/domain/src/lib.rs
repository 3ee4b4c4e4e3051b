//! The issue tracker's domain: its types, its validation rules and its permission rules.
//!
//! This crate names no web framework, database or queue; the `api` and `persistence` crates adapt
//! it to actix-web and diesel. Values are parsed once at the edge ("parse, don't validate"): once a
//! [`Title`] or a [`Username`] exists, it is valid.
//!
//! ```
//! use issue_tracker_domain::{Status, Title};
//!
//! let title = Title::parse("  Printer on fire ").unwrap();
//! assert_eq!(title.as_str(), "Printer on fire");
//! assert_eq!(Status::parse("open"), Ok(Status::Open));
//! ```

#![warn(missing_docs)]

mod comment;
mod django_import;
mod email_choice;
mod email_content;
mod errors;
mod history;
mod ids;
mod inbox;
mod incoming_email;
mod issue;
mod label;
mod label_edit;
mod listing;
mod mention;
mod notification;
#[cfg(feature = "openapi")]
mod openapi;
mod password;
mod reply_text;
mod reply_token;
mod roles;
mod stored_password;
mod text;
mod timestamp;
mod token;
mod user;
mod watch;

pub use errors::{messages, FieldErrors};
pub use history::{
    issue_changes, issue_created, issue_deleted, user_created, Actor, Event, EventType,
    FieldChange, HistoryPage, Origin, Via, DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE,
};
mod unsubscribe;
mod webhook;
mod webhook_endpoint;
pub use comment::{parse_comment_body, Comment, COMMENT_BODY, COMMENT_MAX_CHARS};
pub use django_import::{django_issue_refusals, django_token_refusal, django_user_refusals};
pub use email_choice::{Delivery, InboxTypes};
pub use email_content::{
    activity_content, assignment_content, digest_content, recipient_check, report_content,
    EmailContent, IssueNow, Recipient,
};
pub use ids::{
    CommentId, DeliveryId, EventId, InboxId, IssueId, LabelId, NotificationId, SessionId, TokenId,
    UserId, WebhookId,
};
pub use inbox::{
    inbox_entries, new_mentions, parse_watch_reason, update_events, ChangeContext, InboxEntry,
    InboxNotification, InboxQuery, InboxType, IssueEvent, SUMMARY_QUOTE_CHARS,
};
pub use incoming_email::{
    automatic_mail, comment_from_reply, message_key, same_address, IncomingEmail, ReplyRefusal,
};
pub use issue::{
    may_modify, Issue, IssueChanges, IssueInput, Status, WriteMode, DESCRIPTION_MAX_CHARS,
    TITLE_MAX_CHARS,
};
pub use label::{
    label_key, parse_label_color, parse_label_list, parse_label_name, sort_label_names, Label,
    LabelChanges, DEFAULT_LABEL_COLOR, LABEL_DESCRIPTION_MAX_CHARS, LABEL_NAME_MAX_CHARS,
    MAX_LABELS_PER_REQUEST,
};
pub use label_edit::{sorted_labels, LabelDiff, LabelEdit};
pub use listing::{
    Direction, IssueFilter, ListQuery, OrderField, SortKey, DEFAULT_PER_PAGE, MAX_PARAMETER_CHARS,
    MAX_PER_PAGE, MAX_SEARCH_CHARS,
};
pub use mention::mentions;
pub use notification::{
    digest_period, message_id, report_period, retry_backoff, ActivityEmail, ActivityLine,
    AssignmentEmail, DeliveryOutcome, DigestEmail, DigestLine, NotificationKind,
    NotificationPreferences, NotificationStatus, ReportEmail, ReportLine,
};
pub use password::{Password, PasswordError, PASSWORD_MAX_BYTES};
pub use reply_text::reply_text;
pub use reply_token::{
    reply_address, reply_token, token_in_address, ReplyToken, ReplyTokenRefused,
    REPLY_TOKEN_PLACEHOLDER,
};
pub use roles::{may_act_on, may_create_account, AccountAction, AccountRefusal, Authority};
pub use stored_password::{
    check_password, classify_stored_hash, PasswordCheck, StoredHashKind, MAX_PBKDF2_ITERATIONS,
};
pub use text::{
    parse_text, parse_text_field, python_strip, BodyFields, Description, TextFieldError, TextRule,
    Title,
};
pub use timestamp::{rfc3339, serialize_rfc3339, serialize_rfc3339_opt};
pub use token::{
    hash_token, parse_scope_list, NewToken, TokenScope, TokenScopes, TOKEN_PREFIX_CHARS,
};
pub use unsubscribe::{
    unsubscribe_token, unwatch_token, verify_unsubscribe, verify_unsubscribe_token, Unsubscribe,
    UnsubscribeRefused, UNSUBSCRIBE_LINK_SECONDS,
};
pub use user::{Email, User, Username, UsernameError, USERNAME_MAX_CHARS};
pub use watch::{Subscription, WatchFacts, WatchReason, Watcher};
pub use webhook::{
    event_payload, new_webhook_secret, sign_webhook, BadWebhookSecret, DeliveryAttempt,
    DeliveryInfo, DeliveryStatus,
};
pub use webhook_endpoint::{
    is_public_address, parse_webhook_url, webhook_host_allowed, webhook_literal_refusal, Webhook,
    WebhookChanges, PING_EVENT, WEBHOOK_URL_MAX_CHARS,
};
