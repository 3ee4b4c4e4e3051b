//! `import-django --from URL [--dry-run] [--skip-invalid] [--token-ttl SECONDS]`: moves a running
//! Django deployment of the original (users, passwords, DRF tokens, issues) into this service's
//! database in one transaction. Every row is checked first; a refused row stops the import
//! (listed with its reasons) unless `--skip-invalid` leaves it out.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use issue_tracker_config::Settings;
use issue_tracker_domain::{django_issue_refusals, django_token_refusal, django_user_refusals};
use issue_tracker_persistence::django::{
    DjangoSource, ImportPlan, ImportStage, ImportSummary, SourceCounts,
};

use crate::migrated;

/// Rows checked per round trip.
const PAGE: i64 = 5_000;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The Django database, as its DATABASE_URL: sqlite:////abs/path/db.sqlite3 or
    /// postgres://user:pass@host:5432/db.
    #[arg(long)]
    from: String,
    /// Read and check everything and print the report, writing nothing.
    #[arg(long)]
    dry_run: bool,
    /// Import the rows that pass and list those left out (otherwise one refused row stops all).
    #[arg(long)]
    skip_invalid: bool,
    /// Lifetime of the imported tokens in seconds, from now (default: TOKEN_TTL).
    #[arg(long)]
    token_ttl: Option<u64>,
}

/// A row refused, with every reason.
struct Refused {
    table: &'static str,
    id: i64,
    reasons: Vec<String>,
}

/// Reads the whole source once and decides what may be imported.
fn check(source: &mut DjangoSource) -> anyhow::Result<(ImportPlan, Vec<Refused>)> {
    let mut plan = ImportPlan::default();
    let mut refused = Vec::new();
    let mut imported_names: HashSet<String> = HashSet::new();
    let mut after = 0;
    loop {
        let page = source.users(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for user in &page {
            let reasons = django_user_refusals(
                user.username.as_deref(),
                user.email.as_deref(),
                user.password.as_deref(),
                user.joined().is_some(),
            );
            if reasons.is_empty() {
                imported_names.insert(user.username.clone().unwrap_or_default());
            } else {
                plan.skip_users.insert(user.id);
                refused.push(Refused {
                    table: "user",
                    id: user.id,
                    reasons,
                });
            }
        }
    }
    let mut after = 0;
    loop {
        let page = source.tokens(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.user_id;
        for token in &page {
            let reason = if plan.skip_users.contains(&token.user_id) {
                Some("its user is not imported".to_owned())
            } else {
                django_token_refusal(token.key.as_deref())
            };
            if let Some(reason) = reason {
                plan.skip_tokens.insert(token.user_id);
                refused.push(Refused {
                    table: "token of user",
                    id: token.user_id,
                    reasons: vec![reason],
                });
            }
        }
    }
    let mut after = 0;
    loop {
        let page = source.issues(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for issue in &page {
            let reasons = django_issue_refusals(
                issue.title.as_deref(),
                issue.description.as_deref(),
                issue.status.as_deref(),
                issue.assigned_to.as_deref(),
                issue.created_by.as_deref(),
                |name| imported_names.contains(name),
            );
            if !reasons.is_empty() {
                plan.skip_issues.insert(issue.id);
                refused.push(Refused {
                    table: "issue",
                    id: issue.id,
                    reasons,
                });
            }
        }
    }
    Ok((plan, refused))
}

/// Progress on a terminal: a bar per table. Elsewhere: a line per 10 % of each table.
struct Progress {
    counts: SourceCounts,
    bar: Option<indicatif::ProgressBar>,
    stage: Option<ImportStage>,
    done: u64,
    reported: u64,
}

impl Progress {
    fn new(counts: SourceCounts) -> Progress {
        Progress {
            counts,
            bar: None,
            stage: None,
            done: 0,
            reported: 0,
        }
    }

    fn total(&self, stage: ImportStage) -> u64 {
        match stage {
            ImportStage::Users => self.counts.users,
            ImportStage::Tokens => self.counts.tokens,
            ImportStage::Issues => self.counts.issues,
        }
    }

    fn advance(&mut self, stage: ImportStage, rows: u64) {
        let name = match stage {
            ImportStage::Users => "users",
            ImportStage::Tokens => "tokens",
            ImportStage::Issues => "issues",
        };
        if self.stage != Some(stage) {
            if let Some(bar) = self.bar.take() {
                bar.finish();
            }
            self.stage = Some(stage);
            self.done = 0;
            self.reported = 0;
            if std::io::stderr().is_terminal() {
                let bar = indicatif::ProgressBar::new(self.total(stage));
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix:>7} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(name);
                self.bar = Some(bar);
            }
        }
        self.done += rows;
        match &self.bar {
            Some(bar) => bar.set_position(self.done),
            None => {
                let total = self.total(stage).max(1);
                let tenth = self.done * 10 / total;
                if tenth > self.reported || self.done == total {
                    self.reported = tenth;
                    eprintln!("{name}: {}/{}", self.done, self.total(stage));
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

fn print_refused(refused: &[Refused]) {
    for row in refused {
        println!("  {} {}: {}", row.table, row.id, row.reasons.join("; "));
    }
}

/// `import-django`.
pub fn run(settings: &Settings, args: ImportArgs) -> anyhow::Result<()> {
    let db = migrated(settings)?;
    let state = db.import_target_state()?;
    if !state.is_empty() {
        bail!(
            "this database already holds {} users and {} issues: import into a new, migrated, empty \
             database (nothing was written)",
            state.users,
            state.issues
        );
    }
    let mut source = DjangoSource::open(&args.from).map_err(|e| anyhow!("{e}"))?;
    let counts = source.counts()?;
    println!(
        "Django database: {} users, {} tokens, {} issues",
        counts.users, counts.tokens, counts.issues
    );
    let started = Instant::now();
    let (mut plan, refused) = check(&mut source)?;
    plan.token_ttl = args
        .token_ttl
        .map(Duration::from_secs)
        .unwrap_or(settings.accounts.token_ttl);
    if !refused.is_empty() {
        if args.skip_invalid {
            println!("Left out ({} rows our rules refuse):", refused.len());
            print_refused(&refused);
        } else {
            println!("Refused ({} rows our rules refuse):", refused.len());
            print_refused(&refused);
            bail!(
                "{} rows cannot be imported as they are (nothing was written): fix them in the \
                 Django database, or pass --skip-invalid to import the rest",
                refused.len()
            );
        }
    }
    let expected = ImportSummary {
        users: counts.users - plan.skip_users.len() as u64,
        tokens: counts.tokens.saturating_sub(plan.skip_tokens.len() as u64),
        issues: counts.issues - plan.skip_issues.len() as u64,
    };
    if args.dry_run {
        println!(
            "Dry run: {} users, {} tokens and {} issues would be imported; nothing was written.",
            expected.users, expected.tokens, expected.issues
        );
        return Ok(());
    }
    let mut progress = Progress::new(counts);
    let summary = db
        .import_django(&mut source, &plan, &mut |stage, rows| {
            progress.advance(stage, rows)
        })
        .map_err(|e| match e {
            issue_tracker_persistence::StoreError::Conflict => {
                anyhow!("the database stopped being empty during the import (nothing was written)")
            }
            other => {
                anyhow!("the import failed and was rolled back (nothing was written): {other}")
            }
        })?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "Imported {} users, {} tokens and {} issues in {seconds:.1} s ({:.0} rows/s). Imported \
         tokens expire in {} s.",
        summary.users,
        summary.tokens,
        summary.issues,
        (summary.users + summary.tokens + summary.issues) as f64 / seconds.max(0.001),
        plan.token_ttl.as_secs()
    );
    Ok(())
}
