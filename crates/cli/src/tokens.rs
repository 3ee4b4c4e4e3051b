//! `issue-tracker tokens`: see and revoke a user's API tokens.

use anyhow::bail;
use clap::Subcommand;
use issue_tracker_config::Settings;
use issue_tracker_domain::TokenId;

use crate::users::find;
use crate::{migrated, CLI};

#[derive(Subcommand)]
pub enum TokenAction {
    /// List a user's tokens (prefix, dates; never the token).
    List {
        /// The username.
        username: String,
    },
    /// Revoke one token by id, or all of them with --all.
    Revoke {
        /// The username.
        username: String,
        /// The token id (see `tokens list`).
        #[arg(long, conflicts_with = "all")]
        id: Option<i64>,
        /// Revoke every token of the user.
        #[arg(long)]
        all: bool,
    },
}

/// Runs `tokens ACTION`.
pub fn run(settings: &Settings, action: TokenAction) -> anyhow::Result<()> {
    let db = migrated(settings)?;
    match action {
        TokenAction::List { username } => {
            let user = find(&db, &username)?;
            println!(
                "{:>6}  {:<10} {:<17} {:<17} expires",
                "id", "prefix", "created", "last used"
            );
            for token in db.list_tokens(user.id)? {
                println!(
                    "{:>6}  {:<10} {:<17} {:<17} {}",
                    token.id,
                    token.prefix,
                    token.created_at.format("%Y-%m-%d %H:%M"),
                    token
                        .last_used_at
                        .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "-".into()),
                    token.expires_at.format("%Y-%m-%d %H:%M")
                );
            }
        }
        TokenAction::Revoke { username, id, all } => {
            let user = find(&db, &username)?;
            match (id, all) {
                (Some(id), false) => {
                    let revoked = match TokenId::new(id) {
                        Some(token) => db.revoke_token(&user, token, &CLI)?,
                        None => false,
                    };
                    if !revoked {
                        bail!("{username} has no token with id {id}");
                    }
                    println!("Revoked token {id}.");
                }
                (None, true) => {
                    let count = db.revoke_all_tokens(&user, &CLI)?;
                    println!("Revoked {count} token(s).");
                }
                _ => bail!("give --id ID or --all"),
            }
        }
    }
    Ok(())
}
