//! Measures what diesel's `MultiConnection` would cost on the hot read (one issue by id), against
//! the per-backend connection that `with_conn!` hands out. docs/architecture.md quotes its output.
//!
//! `cargo run --release -p issue-tracker-persistence --example multiconnection`
//! (PostgreSQL from `BENCH_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use issue_tracker_persistence::schema::issues;
use issue_tracker_persistence::{
    create_postgres_database, drop_postgres_database, Database, PoolSettings,
};

/// What `#[derive(MultiConnection)]` builds: one connection type over both backends. Its
/// `MultiBackend` covers only the types and clauses every backend shares: no `Bool` (users'
/// flags), no `RETURNING`, no `ON CONFLICT`, and a custom `QueryFragment` such as the PostgreSQL
/// create statement needs an impl for it too. The issue row below uses only types it has.
#[derive(diesel::MultiConnection)]
enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

type IssueRow = (i64, i64, String, String, String, i64, chrono::NaiveDateTime);

#[diesel::dsl::auto_type]
fn issue_by_id(id: i64) -> _ {
    issues::table.find(id).select((
        issues::id,
        issues::created_by_id,
        issues::title,
        issues::description,
        issues::status,
        issues::assigned_to_id,
        issues::created_at,
    ))
}

fn read_issue<C>(conn: &mut C, id: i64) -> IssueRow
where
    C: Connection,
    issue_by_id: for<'a> diesel::query_dsl::LoadQuery<'a, C, IssueRow>,
{
    issue_by_id(id).get_result(conn).expect("the issue row")
}

const SEED: &str = "INSERT INTO users (username, email, password_hash, is_active, is_staff, \
    is_superuser, date_joined) VALUES ('bench', '', 'x', TRUE, FALSE, FALSE, CURRENT_TIMESTAMP); \
    INSERT INTO issues (created_by_id, title, description, status, assigned_to_id, created_at, \
    updated_at) VALUES (1, 'A title', 'A description', 'open', 1, CURRENT_TIMESTAMP, \
    CURRENT_TIMESTAMP);";

/// Nanoseconds per call of `f`, the median of five rounds of `calls` calls.
fn per_call(calls: u32, mut f: impl FnMut()) -> f64 {
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(calls)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

fn report(backend: &str, direct: f64, multi: f64) {
    println!(
        "{backend:<10} direct {:>8.2} µs/query   MultiConnection {:>8.2} µs/query   ({:+.1} %)",
        direct / 1000.0,
        multi / 1000.0,
        (multi / direct - 1.0) * 100.0
    );
}

fn main() {
    let dir = std::env::temp_dir().join(format!("multiconnection-{}", std::process::id()));
    let path = dir.join("bench.sqlite3");
    let database = Database::connect_sqlite(&path, PoolSettings::default()).expect("sqlite");
    database.run_migrations().expect("migrations");
    let url = path.to_string_lossy().into_owned();
    let mut direct = diesel::SqliteConnection::establish(&url).expect("sqlite");
    direct.batch_execute(SEED).expect("seed");
    let mut multi = AnyConnection::Sqlite(diesel::SqliteConnection::establish(&url).unwrap());
    let (d, m) = (
        per_call(200_000, || drop(read_issue(&mut direct, 1))),
        per_call(200_000, || drop(read_issue(&mut multi, 1))),
    );
    report("SQLite", d, m);
    std::fs::remove_dir_all(&dir).ok();

    let admin = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("multiconnection_{}", std::process::id());
    create_postgres_database(&admin, &name).expect("create database");
    let url = match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("BENCH_POSTGRES_URL needs a database name"),
    };
    let database = Database::connect_postgres(&url, PoolSettings::default()).expect("postgres");
    database.run_migrations().expect("migrations");
    drop(database);
    let mut direct = diesel::PgConnection::establish(&url).expect("postgres");
    direct.batch_execute(SEED).expect("seed");
    let mut multi = AnyConnection::Postgresql(diesel::PgConnection::establish(&url).unwrap());
    let (d, m) = (
        per_call(20_000, || drop(read_issue(&mut direct, 1))),
        per_call(20_000, || drop(read_issue(&mut multi, 1))),
    );
    report("PostgreSQL", d, m);
    drop((direct, multi));
    drop_postgres_database(&admin, &name).expect("drop database");
}
