//! `issue-tracker tokens`: see, issue (with scopes) and revoke a user's API tokens.

use anyhow::bail;
use clap::Subcommand;
use issue_tracker_config::Settings;
use issue_tracker_domain::{NewToken, TokenId, TokenScope, TokenScopes};

use crate::users::find;
use crate::{migrated, CLI};

#[derive(Subcommand)]
pub enum TokenAction {
    /// List a user's tokens (prefix, dates; never the token).
    List {
        /// The username.
        username: String,
    },
    /// Issue a token that may do only what its scopes name (e.g. `--scope events:read` for a
    /// consumer of the event feed). The token is printed once.
    Create {
        /// The username (the token's owner).
        username: String,
        /// A scope; repeat for several. Known: events:read.
        #[arg(long = "scope", required = true, value_parser = parse_scope)]
        scopes: Vec<TokenScope>,
        /// Seconds until it expires (default: TOKEN_TTL).
        #[arg(long, value_parser = clap::value_parser!(u64).range(60..=315_360_000))]
        expires_in: Option<u64>,
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
                "{:>6}  {:<10} {:<17} {:<17} {:<17} scopes",
                "id", "prefix", "created", "last used", "expires"
            );
            for token in db.list_tokens(user.id)? {
                println!(
                    "{:>6}  {:<10} {:<17} {:<17} {:<17} {}",
                    token.id,
                    token.prefix,
                    token.created_at.format("%Y-%m-%d %H:%M"),
                    token
                        .last_used_at
                        .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "-".into()),
                    token.expires_at.format("%Y-%m-%d %H:%M"),
                    if token.scopes.is_restricted() {
                        token.scopes.names().join(",")
                    } else {
                        "(all of the user's rights)".to_owned()
                    }
                );
            }
        }
        TokenAction::Create {
            username,
            scopes,
            expires_in,
        } => {
            let user = find(&db, &username)?;
            if !user.is_active {
                bail!("{username} is inactive: their tokens would not work");
            }
            let ttl = expires_in
                .map(std::time::Duration::from_secs)
                .unwrap_or(settings.accounts.token_ttl);
            let token = NewToken::generate();
            let info =
                db.insert_scoped_token(&user, &token, ttl, &TokenScopes::new(scopes), &CLI)?;
            eprintln!(
                "Token {} for {username} ({}), expires {}. It is shown only now:",
                info.id,
                info.scopes.names().join(", "),
                info.expires_at.format("%Y-%m-%d %H:%M UTC")
            );
            println!("{}", token.key);
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

fn parse_scope(name: &str) -> Result<TokenScope, String> {
    name.parse()
}
