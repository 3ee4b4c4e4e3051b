//! SQLite writes of this process, one at a time, with group commit for the hot path.
//!
//! SQLite lets one writer in at a time, and each commit appends every page it changed to the WAL:
//! an issue with its outbox row, its event and their indexes is about fifteen pages, mostly the
//! same right-most leaves as the previous issue's. So the hot writes are not made by the threads
//! that ask for them: each is handed to one writer thread, which takes every write waiting,
//! runs each in a savepoint of one transaction (a failed one undoes only its own), and commits
//! them together. The shared pages go to the WAL once per group instead of once per request.
//!
//! A thread of its own, rather than the asking threads taking turns on a lock: with turns, each
//! write woke a sleeping thread for the lock and again for the commit (a profile of creating
//! issues put 7 % of the server's time in those waits); now an asker sleeps once, until its
//! answer, and under load the writer finds the next group already queued when it finishes one.
//!
//! Nobody is answered before the group is committed, so an acknowledged write is as durable as
//! before; if the commit fails, every member gets the error.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use crate::error::StoreError;

/// Most writes in one group: bounds how long the first member waits for its answer.
const MAX_GROUP: usize = 64;

/// What the writer thread runs for a member: its write, in a savepoint; what it returns is then
/// told the group's outcome (`Err` with the reason when the group was not committed).
type Job = Box<dyn FnOnce(&mut SqliteConnection) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Result<(), &str>) + Send>;

type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;

/// The writer of one SQLite database in this process.
#[derive(Default)]
pub struct Writer {
    /// SQLite's write lock within this process: held by the writer thread while a group is open,
    /// and by a plain write (on a connection of its own) for its whole transaction.
    state: Arc<Mutex<WriterState>>,
    /// Hands writes to the writer thread, which is started by the first one and stops when the
    /// last handle of the database is dropped.
    jobs: OnceLock<Sender<Job>>,
}

/// Held while writing.
#[derive(Default)]
pub struct WriterState {
    /// Groups committed or rolled back so far.
    groups: u64,
}

impl Writer {
    /// Takes the write lock for a plain write (on a connection of its own). No group is open
    /// while it is held: the writer thread holds it for each group, from `BEGIN` to `COMMIT`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `write` in the next group of the writer thread and returns its result once the
    /// group is committed. The calling thread waits for it.
    pub(crate) fn write<T: Send + 'static>(
        &self,
        pool: &SqlitePool,
        write: impl FnOnce(&mut SqliteConnection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = sync_channel::<Result<T, StoreError>>(1);
        self.submit(pool, write, move |result| {
            let _ = answer.send(result);
        });
        answered.recv().unwrap_or_else(|_| Err(unanswered()))
    }

    /// Queues `write` for the next group of the writer thread, which then calls `answer` with its
    /// result, once the group is committed (or could not be). Nothing waits: an asker on an event
    /// loop goes on serving others meanwhile. `answer` is dropped uncalled when the group could
    /// not begin or another write of it panicked (see [`unanswered`]).
    pub(crate) fn submit<T: Send + 'static>(
        &self,
        pool: &SqlitePool,
        write: impl FnOnce(&mut SqliteConnection) -> Result<T, StoreError> + Send + 'static,
        answer: impl FnOnce(Result<T, StoreError>) + Send + 'static,
    ) {
        debug_assert!(
            !crate::snapshot::reading_in_place(),
            "a write among reads run in place"
        );
        let job: Job = Box::new(move |conn| {
            // A savepoint: a write that fails undoes only itself.
            let result = conn.transaction(write);
            Box::new(move |group: Result<(), &str>| {
                answer(match (result, group) {
                    // A failed write has nothing in the group: its own error.
                    (Err(error), _) => Err(error),
                    (Ok(_), Err(error)) => Err(StoreError::Unavailable(
                        format!("the write could not be committed: {error}").into(),
                    )),
                    (Ok(value), Ok(())) => Ok(value),
                });
            })
        });
        // A `Sender` is shared by reference: every writer sends without a lock. When the writer
        // thread has stopped, the job comes back and is dropped here, `answer` with it.
        let _ = self.jobs.get_or_init(|| self.start(pool.clone())).send(job);
    }

    /// Queues `write` for the next group of the writer thread; the returned future resolves with
    /// its result once the group is committed. Nothing waits meanwhile.
    pub(crate) fn queue<T: Send + 'static>(
        &self,
        pool: &SqlitePool,
        write: impl FnOnce(&mut SqliteConnection) -> Result<T, StoreError> + Send + 'static,
    ) -> QueuedWrite<T> {
        let (answer, answered) = futures_channel::oneshot::channel();
        self.submit(pool, write, move |result| {
            // Nobody listens when the request was dropped (its client went away): the write
            // stands all the same.
            let _ = answer.send(result);
        });
        QueuedWrite(answered)
    }

    fn start(&self, pool: SqlitePool) -> Sender<Job> {
        let (jobs, queue) = channel::<Job>();
        let state = Arc::clone(&self.state);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_groups(&pool, &state, &queue))
            .expect("start the SQLite writer thread");
        jobs
    }
}

/// A write queued for SQLite's writer thread (see `Database::queue_create_issue`): a future of its
/// result, ready once its group is committed or could not be. Dropping it does not undo the
/// write.
#[must_use = "the write is made whether or not its result is awaited"]
pub struct QueuedWrite<T>(futures_channel::oneshot::Receiver<Result<T, StoreError>>);

impl<T> Future for QueuedWrite<T> {
    type Output = Result<T, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|answered| answered.unwrap_or_else(|_| Err(unanswered())))
    }
}

/// The error of a write whose answer was dropped uncalled: its group could not begin, another
/// write of it panicked (both logged), or the writer thread has stopped.
pub(crate) fn unanswered() -> StoreError {
    StoreError::Unavailable("the write could not be made; the server's log says why".into())
}

/// The writer thread: a group per turn, of every write queued (up to [`MAX_GROUP`]), until
/// the database's last handle is dropped.
fn write_groups(pool: &SqlitePool, state: &Mutex<WriterState>, queue: &Receiver<Job>) {
    let mut conn: Option<PooledConnection<ConnectionManager<SqliteConnection>>> = None;
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    let mut finishing: Vec<Finish> = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = queue.recv() {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        // Those that came while the lock was busy join the first.
        group.push(first);
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        state.groups += 1;
        let began = match conn.as_deref_mut() {
            Some(conn) => Ok(conn),
            None => pool.get().map(|taken| &mut **conn.insert(taken)),
        }
        .map_err(|error| error.to_string())
        .and_then(|conn| {
            AnsiTransactionManager::begin_transaction_sql(conn, "BEGIN IMMEDIATE")
                .map(|_| conn)
                .map_err(|error| error.to_string())
        });
        let live = match began {
            Ok(live) => live,
            Err(error) => {
                tracing::warn!(%error, members = group.len(), "a group of SQLite writes could not begin");
                // Dropped unanswered: each member gets an error. The next group takes a fresh
                // connection.
                group.clear();
                conn = None;
                continue;
            }
        };
        let mut panicked = false;
        for job in group.drain(..) {
            match catch_unwind(AssertUnwindSafe(|| job(&mut *live))) {
                Ok(finish) => finishing.push(finish),
                Err(_) => {
                    // Its savepoint is left open: the whole group is rolled back below.
                    panicked = true;
                    break;
                }
            }
        }
        let outcome = if panicked {
            group.clear();
            Err("another write of its group failed unexpectedly".to_owned())
        } else {
            AnsiTransactionManager::commit_transaction(&mut *live)
                .map_err(|error| error.to_string())
        };
        if let Err(error) = &outcome {
            tracing::warn!(%error, members = finishing.len(), "a group of SQLite writes could not be committed");
            // The connection still holds the transaction (or a savepoint of a panicked write):
            // dropping it rolls everything back (the pool discards a connection left in a
            // transaction), and SQLite's lock with it.
            conn = None;
        }
        drop(state);
        let outcome = outcome.as_ref().map(|_| ()).map_err(String::as_str);
        for finish in finishing.drain(..) {
            finish(outcome);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use diesel::prelude::*;
    use issue_tracker_domain::{Origin, Status, Via};

    use crate::schema::issues;
    use crate::{Database, NewIssue, NewUser, PoolSettings};

    /// A migrated SQLite file with users ann, bob and the inactive gone.
    pub(crate) fn database(name: &str) -> (Database, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("group-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite3");
        let db = Database::connect_sqlite(&path, PoolSettings::default()).unwrap();
        db.run_migrations().unwrap();
        for name in ["ann", "bob", "gone"] {
            db.create_user(
                &NewUser {
                    username: name.into(),
                    email: String::new(),
                    password_hash: "x".into(),
                    is_staff: false,
                    is_superuser: false,
                },
                &Origin::system(Via::Cli),
            )
            .unwrap();
        }
        db.set_active("gone", false, &Origin::system(Via::Cli))
            .unwrap();
        (db, path)
    }

    /// Ann's new issue, if the assignee can take it.
    pub(crate) fn create(db: &Database, title: &str, assignee: &str) -> Option<i64> {
        let ann = db.find_user("ann").unwrap().unwrap();
        let new = NewIssue {
            title: &issue_tracker_domain::Title::parse(title).unwrap(),
            description: &issue_tracker_domain::Description::parse("d").unwrap(),
            status: Status::Open,
            assignee,
        };
        db.create_issue(
            &ann,
            &new,
            Duration::ZERO,
            &Origin::system(Via::Cli),
            Duration::ZERO,
        )
        .unwrap()
        .map(|issue| issue.id.get())
    }

    /// Sixteen threads creating at once, with members that fail (after writing) and plain writes
    /// in between: every acknowledged issue is on disk (read through a new connection after the
    /// pool is gone), nothing of a failed member is, and the writes really were grouped.
    #[test]
    fn concurrent_writers_share_commits_and_a_failed_member_undoes_only_itself() {
        let (db, path) = database("burst");
        let mut threads = Vec::new();
        for thread in 0..16 {
            let db = db.clone();
            threads.push(std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0..100 {
                    match (thread + i) % 10 {
                        // A member that writes, then fails.
                        0 => {
                            let Database::Sqlite(store) = &db else {
                                unreachable!()
                            };
                            let failed = store.writer.write(&store.pool, |conn| {
                                diesel::sql_query(
                                    "INSERT INTO issues (title, description, status, created_by_id, \
                                     assigned_to_id, created_at, updated_at) VALUES ('doomed', \
                                     '', 'open', 1, 2, '2026-01-01 00:00:00', \
                                     '2026-01-01 00:00:00')",
                                )
                                .execute(conn)?;
                                Err::<(), _>(crate::StoreError::Conflict)
                            });
                            assert!(
                                matches!(failed, Err(crate::StoreError::Conflict)),
                                "the member's own error, after its write: {failed:?}"
                            );
                        }
                        // Refused inside the group (inactive assignee): writes nothing.
                        1 => assert_eq!(create(&db, "refused", "gone"), None),
                        // A plain write, which closes any open group first.
                        2 => {
                            db.index_pending_search(50).unwrap();
                        }
                        _ => acknowledged.push(create(&db, &format!("t{thread}-{i}"), "bob").unwrap()),
                    }
                }
                acknowledged
            }));
        }
        let acknowledged: Vec<i64> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("no writer hung or panicked"))
            .collect();
        let Database::Sqlite(store) = &db else {
            unreachable!()
        };
        let groups = store.writer.state.lock().unwrap().groups;
        drop(db);
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        // The pool's checkpoint thread may still be finishing: wait for its lock, as every
        // connection of the service does, instead of failing at once ("database is locked").
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            "PRAGMA busy_timeout = 10000",
        )
        .unwrap();
        let stored: Vec<(i64, String)> = issues::table
            .select((issues::id, issues::title))
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            stored.len(),
            acknowledged.len(),
            "exactly the acknowledged issues"
        );
        assert!(stored.iter().all(|(_, title)| title.starts_with('t')));
        let outbox: i64 = crate::schema::notifications::table
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(outbox as usize, acknowledged.len(), "one outbox row each");
        assert!(
            (groups as usize) < acknowledged.len(),
            "{groups} commits for {} writes: nothing was grouped",
            acknowledged.len()
        );
    }

    /// Polls `queued` on this thread until it is ready (the writer thread wakes nobody here).
    fn wait<T>(mut queued: crate::QueuedWrite<T>) -> Result<T, crate::StoreError> {
        use std::future::Future;
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let std::task::Poll::Ready(done) = std::pin::Pin::new(&mut queued).poll(&mut cx) {
                return done;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "a queued write never finished"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Creates queued from one thread, while the writer waits for its lock, need no thread each:
    /// they all join one group, committed once; a refused one (inactive assignee) gets `None`.
    #[test]
    fn queued_creates_need_no_thread_and_share_one_commit() {
        let (db, _path) = database("queued");
        let Database::Sqlite(store) = &db else {
            unreachable!()
        };
        let ann = db.find_user("ann").unwrap().unwrap();
        let (title, description) = (
            issue_tracker_domain::Title::parse("queued").unwrap(),
            issue_tracker_domain::Description::parse("d").unwrap(),
        );
        let origin = Origin::system(Via::Cli);
        let held = store.writer.lock();
        let groups_before = held.groups;
        let queued: Vec<_> = ["bob", "bob", "gone", "bob", "ann"]
            .iter()
            .cycle()
            .take(20)
            .map(|assignee| {
                let new = NewIssue {
                    title: &title,
                    description: &description,
                    status: Status::Open,
                    assignee,
                };
                db.queue_create_issue(&ann, &new, Duration::ZERO, &origin, Duration::ZERO)
                    .expect("SQLite queues its writes")
            })
            .collect();
        drop(held);
        let created: Vec<_> = queued.into_iter().map(|q| wait(q).unwrap()).collect();
        let groups = store.writer.lock().groups - groups_before;
        assert_eq!(groups, 1, "every queued create in one commit");
        assert_eq!(
            created.iter().filter(|c| c.is_none()).count(),
            4,
            "the inactive assignee's"
        );
        let mut ids: Vec<i64> = created.iter().flatten().map(|i| i.id.get()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 16, "sixteen issues, each its own id");
        let stored = db
            .count_issues_filtered(&issue_tracker_domain::IssueFilter::default())
            .unwrap();
        assert_eq!(stored, 16, "exactly the created ones");
    }

    /// A queued create whose future is dropped unawaited (its client went away) is still made:
    /// the write belongs to the writer thread once queued.
    #[test]
    fn a_queued_write_stands_when_nobody_awaits_it() {
        let (db, _path) = database("dropped");
        let ann = db.find_user("ann").unwrap().unwrap();
        let (title, description) = (
            issue_tracker_domain::Title::parse("abandoned").unwrap(),
            issue_tracker_domain::Description::parse("d").unwrap(),
        );
        let new = NewIssue {
            title: &title,
            description: &description,
            status: Status::Open,
            assignee: "bob",
        };
        let origin = Origin::system(Via::Cli);
        drop(
            db.queue_create_issue(&ann, &new, Duration::ZERO, &origin, Duration::ZERO)
                .expect("SQLite queues its writes"),
        );
        // The writer takes writes in order: once a later one is answered, the first was made.
        assert!(create(&db, "after", "bob").is_some());
        let stored = db
            .count_issues_filtered(&issue_tracker_domain::IssueFilter::default())
            .unwrap();
        assert_eq!(stored, 2, "the abandoned create and the later one");
    }

    /// A write that panics on the writer thread: its caller gets an error, not a hang; the
    /// rest of its group is rolled back and told so; the writer goes on with the next group.
    #[test]
    fn a_panicking_write_fails_its_group_and_the_writer_goes_on() {
        let (db, path) = database("panic");
        let Database::Sqlite(store) = &db else {
            unreachable!()
        };
        let panicked = store
            .writer
            .write(&store.pool, |conn| -> Result<(), crate::StoreError> {
                diesel::sql_query("INSERT INTO issues_search_pending (issue_id) VALUES (424242)")
                    .execute(conn)?;
                panic!("a bug in a write")
            });
        assert!(
            matches!(&panicked, Err(crate::StoreError::Unavailable(_))),
            "{panicked:?}"
        );
        assert!(
            create(&db, "after", "bob").is_some(),
            "the writer still writes"
        );
        drop(db);
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        // The pool's checkpoint thread may still be finishing: wait for its lock, as every
        // connection of the service does, instead of failing at once ("database is locked").
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            "PRAGMA busy_timeout = 10000",
        )
        .unwrap();
        let left: i64 = crate::schema::issues_search_pending::table
            .filter(crate::schema::issues_search_pending::issue_id.eq(424242))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(left, 0, "nothing of the panicked write was committed");
    }
}
