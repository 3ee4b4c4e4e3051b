//! `issue-tracker import-django`: the original's database ([`DjangoSource`]) written into ours in
//! one transaction ([`crate::Database::import_django`]).

mod bulk;
mod source;
mod target;

pub use source::{DjangoIssue, DjangoSource, DjangoToken, DjangoUser, SourceCounts};
pub use target::{ImportPlan, ImportStage, ImportSummary, TargetState};
