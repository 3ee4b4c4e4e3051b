//! `issue-tracker`: the admin command. Migrations, users, tokens, and `run` (everything in one
//! process on the embedded default).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use issue_tracker_config::{DatabaseUrl, Settings};
use issue_tracker_domain::{Email, NotificationStatus, Password, Username};
use issue_tracker_persistence::{Database, NewUser, StoreError};

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
        /// Only this status: pending, sending, sent, dead or cancelled.
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
}

#[derive(Subcommand)]
enum TokenAction {
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

#[derive(Subcommand)]
enum NotificationAction {
    /// Make a dead notification pending again, due now: it goes out once.
    Retry {
        /// The notification id (see `issue-tracker notifications --status dead`).
        id: i64,
    },
    /// Create the reports of the current period now (beat does this by itself; this is for a
    /// first look, or after an outage of every beat). Never doubles a report.
    CreateReports,
}

#[derive(clap::Args)]
struct UserArgs {
    /// The username (1-150 letters, digits and @/./+/-/_). Prompted for when omitted on a terminal.
    #[arg(long)]
    username: Option<String>,
    /// The email address (may be empty).
    #[arg(long)]
    email: Option<String>,
    /// Read the password from one line of standard input (its newline dropped).
    #[arg(long)]
    password_stdin: bool,
    /// Never prompt; fail if something is missing.
    #[arg(long)]
    no_input: bool,
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = issue_tracker_app::load_settings()?;
    issue_tracker_app::init_tracing(settings.log_format);
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
            if matches!(settings.database_url, DatabaseUrl::Sqlite(_)) {
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
        } => {
            let db = migrated(&settings)?;
            match action {
                Some(NotificationAction::Retry { id }) => {
                    if !db.retry_notification(id)? {
                        bail!("notification {id} is not dead (only dead notifications can be retried)");
                    }
                    println!("Notification {id} is pending again and will be sent once.");
                    return Ok(());
                }
                Some(NotificationAction::CreateReports) => {
                    let period = issue_tracker_domain::report_period(
                        chrono::Utc::now().timestamp(),
                        settings.report_interval,
                    );
                    let started = std::time::Instant::now();
                    let created = db.create_reports(period)?;
                    println!(
                        "Created {created} report(s) for period {period} in {:.3} s.",
                        started.elapsed().as_secs_f64()
                    );
                    return Ok(());
                }
                None => {}
            }
            let status = match status {
                Some(word) => Some(NotificationStatus::parse(&word).ok_or_else(|| {
                    anyhow!(
                        "unknown status {word:?}: use pending, sending, sent, dead or cancelled"
                    )
                })?),
                None => None,
            };
            println!(
                "{:>8}  {:<10} {:<20} {:<9} {:>8}  {:<20} last error",
                "id", "kind", "recipient", "status", "attempts", "send after"
            );
            for n in db.list_notifications(status, limit.max(1))? {
                println!(
                    "{:>8}  {:<10} {:<20} {:<9} {:>8}  {:<20} {}",
                    n.id,
                    n.kind,
                    n.recipient,
                    n.status,
                    n.attempts,
                    n.send_after.format("%Y-%m-%d %H:%M:%S"),
                    n.last_error.unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Createsuperuser(args) => create_user(&settings, args, true, true),
        Command::Createuser { user, staff } => create_user(&settings, user, staff, false),
        Command::Changepassword {
            username,
            password_stdin,
        } => {
            let db = migrated(&settings)?;
            let password = read_password(password_stdin, false)?;
            let hash = bcrypt::hash(password.expose(), settings.bcrypt_cost)?;
            if !db.set_password_hash(&username, &hash)? {
                bail!("no user named {username:?}");
            }
            println!("Password changed for {username}; their tokens were revoked.");
            Ok(())
        }
        Command::Deactivate { username } => set_active(&settings, &username, false),
        Command::Activate { username } => set_active(&settings, &username, true),
        Command::Users => {
            let db = migrated(&settings)?;
            println!(
                "{:>6}  {:<24} {:<32} {:<6} {:<6} joined",
                "id", "username", "email", "active", "staff"
            );
            for user in db.list_users()? {
                println!(
                    "{:>6}  {:<24} {:<32} {:<6} {:<6} {}",
                    user.id.get(),
                    user.username,
                    user.email,
                    user.is_active,
                    user.is_staff,
                    user.date_joined.format("%Y-%m-%d %H:%M")
                );
            }
            Ok(())
        }
        Command::Tokens { action } => {
            let db = migrated(&settings)?;
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
                            if !db.revoke_token(user.id, id)? {
                                bail!("{username} has no token with id {id}");
                            }
                            println!("Revoked token {id}.");
                        }
                        (None, true) => {
                            let count = db.revoke_all_tokens(user.id)?;
                            println!("Revoked {count} token(s).");
                        }
                        _ => bail!("give --id ID or --all"),
                    }
                }
            }
            Ok(())
        }
    }
}

fn migrated(settings: &Settings) -> anyhow::Result<Database> {
    let db = issue_tracker_app::open_database(settings)?;
    issue_tracker_app::ensure_migrated(&db)?;
    Ok(db)
}

fn find(db: &Database, username: &str) -> anyhow::Result<issue_tracker_domain::User> {
    db.find_user(username)?
        .ok_or_else(|| anyhow!("no user named {username:?}"))
}

fn set_active(settings: &Settings, username: &str, active: bool) -> anyhow::Result<()> {
    let db = migrated(settings)?;
    if !db.set_active(username, active)? {
        bail!("no user named {username:?}");
    }
    println!(
        "{username} is now {}.",
        if active {
            "active"
        } else {
            "inactive (tokens revoked)"
        }
    );
    Ok(())
}

fn prompt(label: &str) -> anyhow::Result<String> {
    eprint!("{label}: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// One line of stdin without its newline, or a twice-typed prompt on a terminal.
fn read_password(from_stdin: bool, no_input: bool) -> anyhow::Result<Password> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        return Password::parse(line).map_err(|e| anyhow!("password: {e}"));
    }
    if no_input || !std::io::stdin().is_terminal() {
        bail!("no password given: use --password-stdin, or run on a terminal to be prompted");
    }
    loop {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password (again): ")?;
        if first != second {
            eprintln!("Error: your passwords didn't match.");
            continue;
        }
        match Password::parse(&first) {
            Ok(password) => return Ok(password),
            Err(e) => eprintln!("Error: {e}"),
        }
    }
}

fn create_user(
    settings: &Settings,
    args: UserArgs,
    staff: bool,
    superuser: bool,
) -> anyhow::Result<()> {
    let db = migrated(settings)?;
    let interactive = !args.no_input && std::io::stdin().is_terminal();
    let username = match args.username {
        Some(name) => name,
        None if interactive => prompt("Username")?,
        None => bail!("--username is required when not on a terminal"),
    };
    let username = Username::parse(username.trim()).map_err(|e| anyhow!("username: {e}"))?;
    let email = match args.email {
        Some(email) => email,
        None if interactive => prompt("Email address")?,
        None => String::new(),
    };
    let email = Email::parse(&email).map_err(|e| anyhow!("email: {e}"))?;
    let password = read_password(args.password_stdin, args.no_input)?;
    let password_hash = bcrypt::hash(password.expose(), settings.bcrypt_cost)?;
    match db.create_user(&NewUser {
        username: username.as_str().to_owned(),
        email: email.as_str().to_owned(),
        password_hash,
        is_staff: staff,
        is_superuser: superuser,
    }) {
        Ok(user) => {
            println!(
                "{} {} created (id {}).",
                if superuser { "Superuser" } else { "User" },
                user.username,
                user.id.get()
            );
            Ok(())
        }
        Err(StoreError::Conflict) => bail!("a user named {:?} already exists", username.as_str()),
        Err(other) => Err(other.into()),
    }
}
