//! The staff admin over HTTP, on both databases (one test binary; `common` holds the helpers).

mod common;

mod audit;
mod pages;
