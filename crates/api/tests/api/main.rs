//! Integration tests over HTTP: every row of the contract and every bad input, each run against a
//! real PostgreSQL database and a real SQLite file.

mod common;

mod auth;
mod bad_inputs;
mod comments;
mod feed_horizon;
mod hardening;
mod history;
mod inbox;
mod issues;
mod labels;
mod listing;
mod openapi;
mod operations;
mod outbox;
mod races;
mod ratelimits;
mod roles;
mod stalled_writes;
mod streams;
mod subscriptions;
mod users;
mod webhooks;
