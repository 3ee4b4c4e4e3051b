//! `issue-tracker receive-email`: one message on standard input, as a mail server's pipe
//! transport delivers it (Postfix `pipe`, Exim `pipe`). The exit status tells the mail server what
//! to do (sysexits.h): 0 delivered (or automatic mail dropped on purpose), 67 bounce (the reason,
//! with an enhanced status code, on standard error), 75 try again later (the database or the
//! settings are not usable now).

use std::io::Read;

use issue_tracker_persistence::Transport;
use issue_tracker_replies::{Outcome, Replies};

/// Delivered.
const EX_OK: i32 = 0;
/// Bounce: no such user here (sysexits.h `EX_NOUSER`).
const EX_NOUSER: i32 = 67;
/// Try again later (sysexits.h `EX_TEMPFAIL`).
const EX_TEMPFAIL: i32 = 75;

/// Handles the message on standard input; returns the exit status. Writes nothing but the
/// reason of a bounce or a retry to standard error: the mail server puts it in its bounce.
pub(crate) fn run(recipients: Vec<String>, sender: Option<String>) -> i32 {
    let settings = match issue_tracker_app::load_settings() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("4.3.5 the issue tracker cannot read its settings: {error:#}");
            return EX_TEMPFAIL;
        }
    };
    // Read it all, so that the mail server's write never fails; keep one byte past the limit,
    // enough to know it is too big.
    let mut message = Vec::new();
    let limit = settings.incoming.max_bytes as u64 + 1;
    if let Err(error) = std::io::stdin()
        .lock()
        .take(limit)
        .read_to_end(&mut message)
    {
        eprintln!("4.3.0 cannot read the message: {error}");
        return EX_TEMPFAIL;
    }
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    let db = match issue_tracker_app::open_database(&settings)
        .and_then(|db| issue_tracker_app::ensure_migrated(&db).map(|()| db))
    {
        Ok(db) => db,
        Err(error) => {
            eprintln!("4.3.0 the issue tracker's database is not reachable now: {error:#}");
            return EX_TEMPFAIL;
        }
    };
    let Some(replies) = Replies::from_settings(db, &settings) else {
        eprintln!("5.3.5 replies by email are off here (INCOMING_EMAIL_ADDRESS is empty)");
        return EX_NOUSER;
    };
    match replies.receive(&message, sender.as_deref(), &recipients, Transport::Pipe) {
        Ok(outcomes) => exit_status(&outcomes),
        Err(error) => {
            eprintln!("4.3.0 the issue tracker's database is not reachable now: {error}");
            EX_TEMPFAIL
        }
    }
}

/// 0 when every recipient took it; otherwise 67 with each refusal's reason.
fn exit_status(outcomes: &[(String, Outcome)]) -> i32 {
    let mut status = EX_OK;
    for (recipient, outcome) in outcomes {
        if let Outcome::Refused(refusal) = outcome {
            if !outcome.accepted() {
                let code = match refusal {
                    issue_tracker_domain::ReplyRefusal::TooBig { .. } => "5.3.4",
                    _ => "5.7.1",
                };
                eprintln!("{code} <{recipient}>: {refusal}");
                status = EX_NOUSER;
            }
        }
    }
    status
}
