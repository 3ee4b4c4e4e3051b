//! A burst of comments on an issue with many watchers, written concurrently: every watcher gets
//! an inbox entry per comment (not for their own), and all of one watcher's entries join one
//! email, whatever the interleaving of the writers; a watcher who chose the daily digest gets
//! entries and no email. On both databases.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use issue_tracker_domain::{Actor, Description, Origin, Status, Title, Via};
use issue_tracker_persistence::{NewIssue, NewUser, PreferenceChanges};
use issue_tracker_testkit::{Kind, TestDb};

const WATCHERS: usize = 300;
const WRITERS: usize = 6;
const COMMENTS_EACH: usize = 3;

#[derive(Debug, QueryableByName)]
struct Entry {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    email_id: Option<i64>,
}

#[derive(Debug, QueryableByName)]
struct Email {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    recipient_id: i64,
}

fn origin(user: &issue_tracker_domain::User) -> Origin {
    Origin {
        actor: Some(Actor {
            id: user.id,
            username: user.username.clone(),
        }),
        via: Via::Api,
        request_id: None,
    }
}

fn burst(kind: Kind) {
    let test = TestDb::new(kind);
    let db = &test.db;
    let system = Origin::system(Via::Cli);
    let user = |name: String| {
        db.create_user(
            &NewUser {
                email: format!("{name}@example.com"),
                username: name,
                password_hash: "x".into(),
                is_staff: false,
                is_superuser: false,
            },
            &system,
        )
        .unwrap()
    };
    let owner = user("owner".into());
    let writers: Vec<_> = (0..WRITERS).map(|n| user(format!("writer{n}"))).collect();
    let watchers: Vec<_> = (0..WATCHERS).map(|n| user(format!("watcher{n}"))).collect();
    let issue = db
        .create_issue(
            &owner,
            &NewIssue {
                title: &Title::parse("Busy").unwrap(),
                description: &Description::parse("d").unwrap(),
                status: Status::Open,
                assignee: "owner",
            },
            Duration::from_secs(3600),
            &origin(&owner),
            Duration::from_secs(3600),
        )
        .unwrap()
        .unwrap()
        .id;
    for watcher in &watchers {
        db.set_subscription(issue, watcher, true).unwrap();
    }
    let daily = &watchers[0];
    db.set_notification_preferences(
        daily.id,
        PreferenceChanges {
            delivery: Some(issue_tracker_domain::Delivery::Daily),
            ..Default::default()
        },
        &origin(daily),
    )
    .unwrap();

    std::thread::scope(|scope| {
        for writer in &writers {
            scope.spawn(move || {
                for n in 0..COMMENTS_EACH {
                    let body = format!("{} says {n}", writer.username);
                    db.create_comment(
                        issue,
                        writer,
                        &body,
                        &origin(writer),
                        Duration::from_secs(3600),
                    )
                    .expect("a comment")
                    .expect("the issue exists");
                }
            });
        }
    });

    // The store's maintenance threads may hold SQLite's lock for a moment: wait for it, as the
    // store's own connections do.
    let sqlite = || {
        let mut conn = SqliteConnection::establish(&test.url).unwrap();
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            "PRAGMA busy_timeout = 10000",
        )
        .unwrap();
        conn
    };
    let entries: Vec<Entry> = match kind {
        Kind::Postgres => diesel::sql_query("SELECT user_id, email_id FROM inbox")
            .load(&mut PgConnection::establish(&test.url).unwrap()),
        Kind::Sqlite => {
            diesel::sql_query("SELECT user_id, email_id FROM inbox").load(&mut sqlite())
        }
    }
    .unwrap();
    let emails: Vec<Email> = {
        let sql = "SELECT id, recipient_id FROM notifications WHERE kind = 'activity'";
        match kind {
            Kind::Postgres => {
                diesel::sql_query(sql).load(&mut PgConnection::establish(&test.url).unwrap())
            }
            Kind::Sqlite => diesel::sql_query(sql).load(&mut sqlite()),
        }
        .unwrap()
    };
    let email_of: BTreeMap<i64, i64> = emails.iter().map(|e| (e.id, e.recipient_id)).collect();
    let mut per_user: BTreeMap<i64, Vec<Option<i64>>> = BTreeMap::new();
    for entry in &entries {
        per_user
            .entry(entry.user_id)
            .or_default()
            .push(entry.email_id);
    }
    let total = WRITERS * COMMENTS_EACH;
    for watcher in &watchers {
        let joined = &per_user[&watcher.id.get()];
        assert_eq!(joined.len(), total, "{}'s entries", watcher.username);
        if watcher.id == daily.id {
            assert!(
                joined.iter().all(Option::is_none),
                "a digest reader got an email"
            );
            continue;
        }
        let first = joined[0].expect("an email for an instant reader");
        assert!(
            joined.iter().all(|email| *email == Some(first)),
            "{}'s burst split over several emails: {joined:?}",
            watcher.username
        );
        assert_eq!(
            email_of[&first],
            watcher.id.get(),
            "an email of someone else"
        );
    }
    // The writers watch as commenters, from their first comment on: told of the others' later
    // comments, never of their own. A writer whose thread ran after all the others' has no
    // entry at all (a clean-clone CI run met that interleaving: keyed access panicked).
    for writer in &writers {
        let joined = per_user.get(&writer.id.get()).map_or(0, Vec::len);
        assert!(
            joined <= total - COMMENTS_EACH,
            "{} told of their own comments ({joined} entries)",
            writer.username
        );
    }
    assert_eq!(
        emails.len(),
        per_user.len() - 1,
        "one email per instant reader, no stray ones"
    );
}

#[test]
fn postgres_a_concurrent_burst_makes_one_email_per_watcher() {
    burst(Kind::Postgres);
}

#[test]
fn sqlite_a_concurrent_burst_makes_one_email_per_watcher() {
    burst(Kind::Sqlite);
}
