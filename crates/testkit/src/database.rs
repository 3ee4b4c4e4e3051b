//! A fresh database per test: a PostgreSQL database or a SQLite file, dropped afterwards.

use std::path::PathBuf;
use std::time::Duration;

use issue_tracker_persistence::{
    close_postgres_connections, create_postgres_database, drop_postgres_database, Database,
    PoolSettings,
};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A fresh database on the PostgreSQL at `TEST_DATABASE_URL`.
    Postgres,
    /// A fresh SQLite file in the temp folder.
    Sqlite,
}

/// Where tests may create databases.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database made for one test, migrated, and dropped when this is dropped.
pub struct TestDb {
    /// `DATABASE_URL` for processes.
    pub url: String,
    /// A pool for the test itself.
    pub db: Database,
    kind: Kind,
    name: String,
    path: Option<PathBuf>,
}

impl TestDb {
    /// Creates and migrates a database.
    pub fn new(kind: Kind) -> TestDb {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let pool = PoolSettings {
            max_size: 4,
            timeout: Duration::from_secs(10),
            ..PoolSettings::default()
        };
        let (url, db, name, path) = match kind {
            Kind::Postgres => {
                let name = format!("it_{id}");
                create_postgres_database(&admin_url(), &name).unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL must be running for the tests ({}): {e}",
                        admin_url()
                    )
                });
                let base = admin_url();
                let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(&base);
                let url = format!("{server}/{name}");
                let db = Database::connect_postgres(&url, pool).expect("open test database");
                (url, db, name, None)
            }
            Kind::Sqlite => {
                let path = std::env::temp_dir().join(format!("issue-tracker-it-{id}.sqlite3"));
                let db = Database::connect_sqlite(&path, pool).expect("open test database");
                (
                    format!("sqlite://{}", path.display()),
                    db,
                    String::new(),
                    Some(path),
                )
            }
        };
        db.run_migrations().expect("migrate test database");
        TestDb {
            url,
            db,
            kind,
            name,
            path,
        }
    }

    /// Which backend.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// PostgreSQL: closes every connection to this database from the server's side, as a
    /// restart or a failover would.
    pub fn close_connections(&self) {
        assert_eq!(
            self.kind,
            Kind::Postgres,
            "only PostgreSQL drops connections"
        );
        close_postgres_connections(&admin_url(), &self.name).expect("close the connections");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        } else {
            let _ = drop_postgres_database(&admin_url(), &self.name);
        }
    }
}
