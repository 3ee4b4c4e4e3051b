//! PostgreSQL creates an issue with one hand-written statement (the issue, its outbox row, its
//! event and its webhook deliveries); SQLite with the generic writers every other path uses. Both
//! must write the same rows: this creates the same issue on each and compares what was stored.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text};
use issue_tracker_domain::{Actor, Description, Origin, Status, Title, Via, WebhookChanges};
use issue_tracker_persistence::{NewIssue, NewUser};
use issue_tracker_testkit::{Kind, TestDb};

/// What one create stored, with the database's own ids and clocks taken out.
#[derive(Debug, PartialEq, QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    assignee: String,
    #[diesel(sql_type = Text)]
    creator: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    notification_status: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    /// The dedupe key with the issue's and the assignee's ids and the write's time in it.
    #[diesel(sql_type = Text)]
    key: String,
    /// Seconds between the row's creation and when it is due (the assignment delay).
    #[diesel(sql_type = Double)]
    delay: f64,
    #[diesel(sql_type = Text)]
    event: String,
    #[diesel(sql_type = Nullable<Text>)]
    actor: Option<String>,
    #[diesel(sql_type = Text)]
    via: String,
    #[diesel(sql_type = Nullable<Text>)]
    request_id: Option<String>,
    #[diesel(sql_type = Text)]
    changes: String,
    #[diesel(sql_type = BigInt)]
    deliveries: i64,
    #[diesel(sql_type = Text)]
    delivery_status: String,
}

const STORED: &str = "
SELECT i.title, i.status, a.username AS assignee, c.username AS creator,
       n.kind, n.status AS notification_status, n.attempts,
       replace(replace(n.dedupe_key, CAST(i.id AS TEXT) || ':' || CAST(a.id AS TEXT) || ':', '<issue>:<assignee>:'),
               CAST({micros} AS TEXT), '<micros>') AS key,
       {delay} AS delay,
       e.kind AS event, e.actor_username AS actor, e.via, e.request_id, e.changes,
       (SELECT count(*) FROM webhook_deliveries d WHERE d.event_id = e.id) AS deliveries,
       (SELECT min(d.status) FROM webhook_deliveries d WHERE d.event_id = e.id) AS delivery_status
FROM issues i
JOIN users a ON a.id = i.assigned_to_id
JOIN users c ON c.id = i.created_by_id
JOIN notifications n ON n.issue_id = i.id
JOIN events e ON e.issue_id = i.id";

fn create_and_read(kind: Kind) -> Stored {
    let test = TestDb::new(kind);
    let db = &test.db;
    let system = Origin::system(Via::Cli);
    for name in ["carol", "dave"] {
        db.create_user(
            &NewUser {
                username: name.into(),
                email: format!("{name}@example.com"),
                password_hash: "x".into(),
                is_staff: false,
                is_superuser: false,
            },
            &system,
        )
        .unwrap();
    }
    db.create_webhook(
        &WebhookChanges {
            url: Some("https://hooks.example.com/".into()),
            events: Some(vec!["issue.created".into()]),
            active: Some(true),
        },
        "secret",
    )
    .unwrap();
    let carol = db.find_user("carol").unwrap().unwrap();
    let origin = Origin {
        actor: Some(Actor {
            id: carol.id,
            username: carol.username.clone(),
        }),
        via: Via::Api,
        request_id: Some("req-1".into()),
    };
    let issue = db
        .create_issue(
            &carol,
            &NewIssue {
                title: &Title::parse("Printer on fire").unwrap(),
                description: &Description::parse("Again").unwrap(),
                status: Status::Open,
                assignee: "dave",
            },
            Duration::from_secs(90),
            &origin,
            Duration::from_secs(120),
        )
        .unwrap()
        .expect("dave is an active user");
    let micros = issue.created_at.timestamp_micros();
    let delay = match kind {
        Kind::Postgres => "EXTRACT(EPOCH FROM n.send_after - n.created_at)::float8",
        Kind::Sqlite => "(julianday(n.send_after) - julianday(n.created_at)) * 86400.0",
    };
    let sql = STORED
        .replace("{micros}", &micros.to_string())
        .replace("{delay}", delay);
    let mut stored: Vec<Stored> = match kind {
        Kind::Postgres => {
            diesel::sql_query(&sql).load(&mut PgConnection::establish(&test.url).unwrap())
        }
        Kind::Sqlite => {
            let path = test.url.trim_start_matches("sqlite://");
            let mut conn = SqliteConnection::establish(path).unwrap();
            // The store's maintenance threads may hold the lock for a moment: wait for it.
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                "PRAGMA busy_timeout = 10000",
            )
            .unwrap();
            diesel::sql_query(&sql).load(&mut conn)
        }
    }
    .unwrap();
    assert_eq!(
        stored.len(),
        1,
        "one notification and one event: {stored:?}"
    );
    stored.remove(0)
}

#[test]
fn postgres_create_statement_writes_what_the_generic_writers_write() {
    let mut postgres = create_and_read(Kind::Postgres);
    let mut sqlite = create_and_read(Kind::Sqlite);
    // The delay is computed by each database's clock: equal to the millisecond.
    assert!((postgres.delay - 90.0).abs() < 0.01, "{}", postgres.delay);
    assert!((sqlite.delay - 90.0).abs() < 0.01, "{}", sqlite.delay);
    postgres.delay = 90.0;
    sqlite.delay = 90.0;
    // The changes are JSON text: compare them as JSON (PostgreSQL may store jsonb's spacing).
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    assert_eq!(json(&postgres.changes), json(&sqlite.changes));
    postgres.changes.clear();
    sqlite.changes.clear();
    assert_eq!(postgres, sqlite);
    assert_eq!(postgres.key, "assignment:<issue>:<assignee>:<micros>");
    assert_eq!(postgres.deliveries, 1);
    assert_eq!(postgres.event, "issue.created");
}
