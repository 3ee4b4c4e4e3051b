//! The staff admin over HTTP, on both databases (one test binary; `common` holds the helpers).

mod common;

mod access;
mod audit;
mod integrations;
mod issues;
mod monitoring;
mod users;
