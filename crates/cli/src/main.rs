//! `issue-tracker`: the admin command. Migrations, users, tokens, and `run` (everything in one
//! process on the embedded default).

mod import;
mod notifications;
mod receive;
mod tokens;
mod users;

use clap::{Parser, Subcommand};
use issue_tracker_config::{DatabaseUrl, Settings};
use issue_tracker_persistence::Database;

use notifications::NotificationAction;
use tokens::TokenAction;
use users::UserArgs;

/// What the CLI's changes record in the history: no user (an operator at the host acts as the
/// system), through the CLI.
pub(crate) const CLI: issue_tracker_domain::Origin = issue_tracker_domain::Origin {
    actor: None,
    via: issue_tracker_domain::Via::Cli,
    request_id: None,
};

/// Administer the issue tracker. Settings come from the environment, `.env` and
/// `config/issue-tracker.toml` (DATABASE_URL selects the database; unset, ./data/issue-tracker.sqlite3).
#[derive(Parser)]
#[command(version, name = "issue-tracker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending database migrations.
    Migrate,
    /// Migrate the embedded default if needed, then serve the API and run a worker and beat in
    /// this one process (in-process queue unless REDIS_URL is set). Ctrl-C stops.
    Run,
    /// List notifications, or send a dead one again.
    Notifications {
        /// Only this status: pending, sending, sent, dead, cancelled or skipped.
        #[arg(long)]
        status: Option<String>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(subcommand)]
        action: Option<NotificationAction>,
    },
    /// Create a superuser (staff, every right). Interactive on a terminal.
    Createsuperuser(UserArgs),
    /// Create an ordinary user. Interactive on a terminal.
    Createuser {
        #[command(flatten)]
        user: UserArgs,
        /// Make the user staff (may create users through the API).
        #[arg(long)]
        staff: bool,
    },
    /// Set a user's password (revokes their tokens).
    Changepassword {
        /// The username.
        username: String,
        /// Read the password from one line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Deactivate a user: they cannot log in and their tokens are refused. Issues are kept.
    Deactivate {
        /// The username.
        username: String,
    },
    /// Reactivate a user.
    Activate {
        /// The username.
        username: String,
    },
    /// List users.
    Users,
    /// List or revoke a user's API tokens.
    Tokens {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Read one email on standard input (as a mail server's pipe transport delivers it) and make
    /// it a comment if it is a reply to a notification. Exit status: 0 delivered, 67 bounced
    /// (reason on standard error), 75 try again later.
    ReceiveEmail {
        /// The address it was delivered to (Postfix: `${recipient}`); unset: the reply address
        /// among its `Delivered-To`, `X-Original-To`, `To` and `Cc` headers.
        #[arg(long)]
        recipient: Vec<String>,
        /// The envelope sender (Postfix: `${sender}`; empty for a bounce); unset: its
        /// `Return-Path` header.
        #[arg(long)]
        sender: Option<String>,
    },
    /// Import a Django deployment of the original (users with their passwords, DRF tokens,
    /// issues) into this database, which must be migrated and empty. One transaction.
    ImportDjango(import::ImportArgs),
}

fn main() {
    let cli = Cli::parse();
    // Its standard error goes into bounces: no log lines there, and its own exit statuses.
    if let Command::ReceiveEmail { recipient, sender } = cli.command {
        std::process::exit(receive::run(recipient, sender));
    }
    issue_tracker_app::exit_on_error(run(cli));
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = issue_tracker_app::load_settings()?;
    let _logs = issue_tracker_app::init_tracing(settings.general.log_format);
    match cli.command {
        Command::Migrate => {
            let db = issue_tracker_app::open_database(&settings)?;
            let applied = db.run_migrations()?;
            if applied.is_empty() {
                println!("No migrations to apply.");
            } else {
                for version in applied {
                    println!("Applied {version}");
                }
            }
            Ok(())
        }
        Command::Run => {
            let db = issue_tracker_app::open_database(&settings)?;
            if matches!(settings.database.url, DatabaseUrl::Sqlite(_)) {
                for version in db.run_migrations()? {
                    eprintln!("Applied migration {version}");
                }
            }
            issue_tracker_app::ensure_migrated(&db)?;
            issue_tracker_app::run_all(settings, db)
        }
        Command::Notifications {
            status,
            limit,
            action,
        } => notifications::run(&settings, status, limit, action),
        Command::Createsuperuser(args) => users::create_user(&settings, args, true, true),
        Command::Createuser { user, staff } => users::create_user(&settings, user, staff, false),
        Command::Changepassword {
            username,
            password_stdin,
        } => users::change_password(&settings, &username, password_stdin),
        Command::Deactivate { username } => users::set_active(&settings, &username, false),
        Command::Activate { username } => users::set_active(&settings, &username, true),
        Command::Users => users::list(&settings),
        Command::Tokens { action } => tokens::run(&settings, action),
        Command::ImportDjango(args) => import::run(&settings, args),
        Command::ReceiveEmail { .. } => unreachable!("handled before logging starts"),
    }
}

/// The database, refusing to go on while migrations are pending.
fn migrated(settings: &Settings) -> anyhow::Result<Database> {
    let db = issue_tracker_app::open_database(settings)?;
    issue_tracker_app::ensure_migrated(&db)?;
    Ok(db)
}
