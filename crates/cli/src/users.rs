//! `issue-tracker createsuperuser | createuser | changepassword | activate | deactivate | users`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{anyhow, bail, Context};
use issue_tracker_config::Settings;
use issue_tracker_domain::{Email, Password, Username};
use issue_tracker_persistence::{Database, NewUser, StoreError};

use crate::{migrated, CLI};

#[derive(clap::Args)]
pub struct UserArgs {
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

/// `users`: every user, one line each.
pub fn list(settings: &Settings) -> anyhow::Result<()> {
    let db = migrated(settings)?;
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

/// `changepassword USER`: sets the password and revokes the user's tokens.
pub fn change_password(
    settings: &Settings,
    username: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let db = migrated(settings)?;
    let password = read_password(password_stdin, false)?;
    let hash = bcrypt::hash(password.expose(), settings.accounts.bcrypt_cost)?;
    if !db.set_password_hash(username, &hash, &CLI)? {
        bail!("no user named {username:?}");
    }
    println!("Password changed for {username}; their tokens were revoked.");
    Ok(())
}

/// The user named `username`, or an error saying there is none.
pub(crate) fn find(db: &Database, username: &str) -> anyhow::Result<issue_tracker_domain::User> {
    db.find_user(username)?
        .ok_or_else(|| anyhow!("no user named {username:?}"))
}

/// `activate USER` / `deactivate USER` (deactivating revokes their tokens).
pub fn set_active(settings: &Settings, username: &str, active: bool) -> anyhow::Result<()> {
    let db = migrated(settings)?;
    if !db.set_active(username, active, &CLI)? {
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

/// `createuser` / `createsuperuser`: from the flags, prompting on a terminal for what is missing.
pub fn create_user(
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
    let password_hash = bcrypt::hash(password.expose(), settings.accounts.bcrypt_cost)?;
    match db.create_user(
        &NewUser {
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            password_hash,
            is_staff: staff,
            is_superuser: superuser,
        },
        &CLI,
    ) {
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
