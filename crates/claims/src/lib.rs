//! What both workers share: the claim → act → record loop. The notifier (emails, fed by the
//! Redis stream) and the webhook deliverer (deliveries, polled from the database) each say where
//! work comes from and how to act on one item ([`Source`]); [`run`] keeps a bounded number of
//! items in flight, backs off quietly while the source fails, and on shutdown finishes what is
//! in hand. [`record`] writes an outcome until it is written, superseded, or shutdown's grace is
//! over.

mod claim_loop;
mod record;

pub use claim_loop::{run, Batching, Source};
pub use record::{record, worth_logging, Recorded, RECORD_RETRY};
