//! Reading issues: the filters, orderings and pages of the lists, and their counts.

use super::*;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// `%`, `_` and `\` taken literally in a LIKE pattern.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The user ids a filter names; `None` when a named user does not exist (nothing matches).
struct FilterIds {
    assignee: Option<i64>,
    creator: Option<i64>,
    /// The ids of the filter's labels.
    labels: Vec<i64>,
}

/// Looking a user's id up by name, as a type: [`filter_ids`] is generic over the connection.
type UserIdByName = diesel::dsl::Select<
    diesel::dsl::Filter<users::table, diesel::dsl::Eq<users::username, String>>,
    users::id,
>;

/// Looking label ids up by key, as a type.
type LabelIdsByKey = diesel::dsl::Select<
    diesel::dsl::Filter<labels::table, diesel::dsl::EqAny<labels::name_key, Vec<String>>>,
    labels::id,
>;

/// The ids of the users and labels `filter` names, on either database; `None` when a named
/// user or label does not exist (then nothing matches).
fn filter_ids<C>(conn: &mut C, filter: &IssueFilter) -> QueryResult<Option<FilterIds>>
where
    C: Connection,
    UserIdByName: RunQueryDsl<C> + for<'q> diesel::query_dsl::LoadQuery<'q, C, i64>,
    LabelIdsByKey: RunQueryDsl<C> + for<'q> diesel::query_dsl::LoadQuery<'q, C, i64>,
{
    let label_ids: Vec<i64> = if filter.labels.is_empty() {
        Vec::new()
    } else {
        let keys: Vec<String> = filter.labels.iter().map(|n| label_key(n)).collect();
        let ids: Vec<i64> = labels::table
            .filter(labels::name_key.eq_any(keys))
            .select(labels::id)
            .load(conn)?;
        if ids.len() < filter.labels.len() {
            return Ok(None);
        }
        ids
    };
    let mut lookup = |name: &Option<String>| -> QueryResult<Option<Option<i64>>> {
        match name {
            None => Ok(Some(None)),
            Some(name) => Ok(users::table
                .filter(users::username.eq(name.clone()))
                .select(users::id)
                .get_result::<i64>(conn)
                .optional()?
                .map(Some)),
        }
    };
    Ok(
        match (lookup(&filter.assigned_to)?, lookup(&filter.created_by)?) {
            (Some(assignee), Some(creator)) => Some(FilterIds {
                assignee,
                creator,
                labels: label_ids,
            }),
            _ => None,
        },
    )
}

/// The predicates of a list's filters, as types: [`apply_filters`] is generic over the backend
/// and the query, with these as its bounds.
type StatusIs = diesel::dsl::Eq<issues::status, &'static str>;
type AssignedTo = diesel::dsl::Eq<issues::assigned_to_id, i64>;
type CreatedBy = diesel::dsl::Eq<issues::created_by_id, i64>;
type UpdatedSince = diesel::dsl::GtEq<issues::updated_at, chrono::NaiveDateTime>;
/// The answer of a count written in SQL.
#[derive(diesel::QueryableByName)]
struct LabelCount {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// How many issues a label may have for SQLite to read its list rather than walk the issues.
const FEW_ISSUES: i64 = 5_000;

/// An issue carries a label, asked per issue: `EXISTS` on the `(issue_id, label_id)` key, so
/// that a page walks the issues in its order and stops at its end (SQLite: 0.5 ms for page 5 of
/// a label on 100,000 of 1M issues, against 28 ms for `IN`, which gathers and sorts them all).
type Carries = diesel::dsl::exists<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            issue_labels::table,
            diesel::dsl::Eq<issue_labels::issue_id, issues::id>,
        >,
        diesel::dsl::Eq<issue_labels::label_id, i64>,
    >,
>;
/// An issue is among a label's: `IN`, driven by the `(label_id, issue_id)` index (for counts,
/// which read every match anyway).
type LabeledWith = diesel::dsl::EqAny<
    issues::id,
    diesel::dsl::Select<
        diesel::dsl::Filter<issue_labels::table, diesel::dsl::Eq<issue_labels::label_id, i64>>,
        issue_labels::issue_id,
    >,
>;
type Matches = diesel::dsl::Or<
    diesel::dsl::Escape<diesel::dsl::Like<lower<issues::title>, String>>,
    diesel::dsl::Escape<diesel::dsl::Like<lower<issues::description>, String>>,
>;
diesel::infix_operator!(FtsMatch, " MATCH ");
type SearchedIds = diesel::dsl::Select<
    diesel::dsl::Filter<
        issues_search::table,
        FtsMatch<issues_search::everything, diesel::dsl::AsExprOf<String, Text>>,
    >,
    issues_search::rowid,
>;
type PendingIds =
    diesel::dsl::Select<issues_search_pending::table, issues_search_pending::issue_id>;
/// Indexed issues from the index, the few not indexed yet from the table.
type Searched = diesel::dsl::Or<
    diesel::dsl::And<
        diesel::dsl::EqAny<issues::id, SearchedIds>,
        diesel::dsl::NeAny<issues::id, PendingIds>,
    >,
    diesel::dsl::And<diesel::dsl::EqAny<issues::id, PendingIds>, Matches>,
>;

/// How a backend answers a text search.
#[derive(Clone, Copy)]
enum TextSearch {
    /// `lower(x) LIKE '%text%'` (PostgreSQL answers it from trigram indexes).
    Like,
    /// SQLite's FTS5 trigram index; needs three characters or more.
    Trigrams,
}

impl TextSearch {
    fn of(backend: Backend) -> TextSearch {
        match backend {
            Backend::Postgres => TextSearch::Like,
            Backend::Sqlite => TextSearch::Trigrams,
        }
    }
}

/// An order key that equals `field` but that no index provides (see `list_issues_filtered`).
fn unindexed_order_key(field: OrderField) -> &'static str {
    match field {
        OrderField::Id => "(issues.id + 0)",
        OrderField::Title => "(issues.title || '')",
        OrderField::Status => "(issues.status || '')",
        OrderField::CreatedAt => "(issues.created_at + interval '0 seconds')",
        OrderField::UpdatedAt => "(issues.updated_at + interval '0 seconds')",
    }
}

/// An FTS5 phrase that matches `text` as a substring (its quotes doubled).
fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// Adds `filter`'s conditions to a boxed query of issues (a page, or a count), on either
/// database.
fn apply_filters<Q>(
    mut query: Q,
    filter: &IssueFilter,
    ids: &FilterIds,
    search: TextSearch,
    walk: &[i64],
) -> Q
where
    Q: diesel::query_dsl::methods::FilterDsl<StatusIs, Output = Q>
        + diesel::query_dsl::methods::FilterDsl<AssignedTo, Output = Q>
        + diesel::query_dsl::methods::FilterDsl<CreatedBy, Output = Q>
        + diesel::query_dsl::methods::FilterDsl<UpdatedSince, Output = Q>
        + diesel::query_dsl::methods::FilterDsl<LabeledWith, Output = Q>
        + diesel::query_dsl::methods::FilterDsl<Carries, Output = Q>
        + diesel::query_dsl::methods::FilterDsl<Matches, Output = Q>
        + diesel::query_dsl::methods::FilterDsl<Searched, Output = Q>,
{
    if let Some(status) = filter.status {
        query = query.filter(issues::status.eq(status.as_str()));
    }
    if let Some(id) = ids.assignee {
        query = query.filter(issues::assigned_to_id.eq(id));
    }
    if let Some(id) = ids.creator {
        query = query.filter(issues::created_by_id.eq(id));
    }
    if let Some(since) = filter.updated_since {
        query = query.filter(issues::updated_at.ge(since.naive_utc()));
    }
    for label in &ids.labels {
        query = match walk.contains(label) {
            true => query.filter(diesel::dsl::exists(
                issue_labels::table
                    .filter(issue_labels::issue_id.eq(issues::id))
                    .filter(issue_labels::label_id.eq(*label)),
            )),
            false => query.filter(
                issues::id.eq_any(
                    issue_labels::table
                        .filter(issue_labels::label_id.eq(*label))
                        .select(issue_labels::issue_id),
                ),
            ),
        };
    }
    if let Some(text) = &filter.q {
        let pattern = like_pattern(text);
        let matches = lower(issues::title)
            .like(pattern.clone())
            .escape('\\')
            .or(lower(issues::description).like(pattern).escape('\\'));
        if let (TextSearch::Trigrams, 3..) = (search, text.chars().count()) {
            let phrase = <String as AsExpression<Text>>::as_expression(fts_phrase(text));
            let indexed = issues_search::table
                .filter(FtsMatch::new(issues_search::everything, phrase))
                .select(issues_search::rowid);
            let pending = || issues_search_pending::table.select(issues_search_pending::issue_id);
            return query.filter(
                issues::id
                    .eq_any(indexed)
                    .and(issues::id.ne_all(pending()))
                    .or(issues::id.eq_any(pending()).and(matches)),
            );
        }
        query = query.filter(matches);
    }
    query
}

impl Database {
    /// One page of issues matching `filter`, in its order (`id` ascending breaks ties).
    pub fn list_issues_filtered(
        &self,
        filter: &IssueFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Issue>, StoreError> {
        with_conn!(self, |conn| {
            let Some(ids) = filter_ids(conn, filter)? else {
                return Ok(Vec::new());
            };
            // SQLite: labels on many issues are tested per issue as the page is walked in its
            // order; labels on few drive the query from their own list (walking would read
            // thousands of issues per match). PostgreSQL's planner chooses well with `IN`.
            let mut walk = Vec::new();
            if self.backend() == Backend::Sqlite {
                for label in &ids.labels {
                    let some: Vec<i64> = issue_labels::table
                        .filter(issue_labels::label_id.eq(*label))
                        .select(issue_labels::issue_id)
                        .limit(FEW_ISSUES + 1)
                        .load(conn)?;
                    if some.len() as i64 > FEW_ISSUES {
                        walk.push(*label);
                    }
                }
            }
            let mut query = apply_filters(
                issue_query().into_boxed(),
                filter,
                &ids,
                TextSearch::of(self.backend()),
                &walk,
            );
            // PostgreSQL, searching: order by expressions no index serves. Otherwise, for a
            // literal pattern, the planner may walk the order's index and filter every row
            // looking for a rare match (81 ms where the trigram indexes take 2 ms with 100,000
            // issues, measured with EXPLAIN ANALYZE).
            let fenced = filter.q.is_some() && self.backend() == Backend::Postgres;
            for key in &filter.ordering {
                let (field, descending) = (key.field, key.is_descending());
                if fenced {
                    let key = diesel::dsl::sql::<BigInt>(unindexed_order_key(field));
                    query = if descending {
                        query.then_order_by(key.desc())
                    } else {
                        query.then_order_by(key.asc())
                    };
                    continue;
                }
                query = match (field, descending) {
                    (OrderField::Id, false) => query.then_order_by(issues::id.asc()),
                    (OrderField::Id, true) => query.then_order_by(issues::id.desc()),
                    (OrderField::Title, false) => query.then_order_by(issues::title.asc()),
                    (OrderField::Title, true) => query.then_order_by(issues::title.desc()),
                    (OrderField::Status, false) => query.then_order_by(issues::status.asc()),
                    (OrderField::Status, true) => query.then_order_by(issues::status.desc()),
                    (OrderField::CreatedAt, false) => query.then_order_by(issues::created_at.asc()),
                    (OrderField::CreatedAt, true) => query.then_order_by(issues::created_at.desc()),
                    (OrderField::UpdatedAt, false) => query.then_order_by(issues::updated_at.asc()),
                    (OrderField::UpdatedAt, true) => query.then_order_by(issues::updated_at.desc()),
                };
            }
            if !filter
                .ordering
                .iter()
                .any(|key| key.field == OrderField::Id)
            {
                query = match fenced {
                    true => query.then_order_by(
                        diesel::dsl::sql::<BigInt>(unindexed_order_key(OrderField::Id)).asc(),
                    ),
                    false => query.then_order_by(issues::id.asc()),
                };
            }
            let rows = conn.load_page(query, offset, limit)?;
            Ok(rows
                .into_iter()
                .map(|r| stored(r).map(|s| s.issue))
                .collect::<Result<_, _>>()?)
        })
    }

    /// How many issues match `filter`.
    pub fn count_issues_filtered(&self, filter: &IssueFilter) -> Result<i64, StoreError> {
        with_conn!(self, |conn| {
            let Some(ids) = filter_ids(conn, filter)? else {
                return Ok(0);
            };
            let only_labels = filter.status.is_none()
                && filter.assigned_to.is_none()
                && filter.created_by.is_none()
                && filter.q.is_none()
                && filter.updated_since.is_none();
            if let (true, Some((first, rest))) = (only_labels, ids.labels.split_first()) {
                // Labels alone: counted in the label index, without reading the issues (12 ms
                // instead of 195 ms for a label on 100,000 of 1M issues, on PostgreSQL). Every
                // row there is a live issue's (foreign keys, deleted with it).
                let mut sql = format!(
                    "SELECT count(*) AS count FROM issue_labels l0 WHERE l0.label_id = {}",
                    self.backend().first_parameter()
                );
                for (n, _) in rest.iter().enumerate() {
                    let parameter = match self.backend() {
                        Backend::Postgres => format!("${}", n + 2),
                        Backend::Sqlite => format!("?{}", n + 2),
                    };
                    sql.push_str(&format!(
                        " AND EXISTS (SELECT 1 FROM issue_labels l{i} WHERE l{i}.issue_id = \
                         l0.issue_id AND l{i}.label_id = {parameter})",
                        i = n + 1
                    ));
                }
                let mut query = diesel::sql_query(sql).into_boxed();
                query = query.bind::<BigInt, _>(*first);
                for label in rest {
                    query = query.bind::<BigInt, _>(*label);
                }
                return Ok(query.get_result::<LabelCount>(conn)?.count);
            }
            let query = apply_filters(
                issues::table.into_boxed(),
                filter,
                &ids,
                TextSearch::of(self.backend()),
                &[],
            );
            Ok(query.count().get_result::<i64>(conn)?)
        })
    }
}

/// How a connection reads one page of [`issue_query`].
trait LoadPage<Query> {
    fn load_page(&mut self, query: Query, offset: i64, limit: i64) -> QueryResult<Vec<IssueTuple>>;
}

impl<'a> LoadPage<diesel::dsl::IntoBoxed<'a, issue_query, diesel::pg::Pg>>
    for diesel::pg::PgConnection
{
    fn load_page(
        &mut self,
        query: diesel::dsl::IntoBoxed<'a, issue_query, diesel::pg::Pg>,
        offset: i64,
        limit: i64,
    ) -> QueryResult<Vec<IssueTuple>> {
        query.offset(offset).limit(limit).load(self)
    }
}

impl<'a> LoadPage<diesel::dsl::IntoBoxed<'a, issue_query, diesel::sqlite::Sqlite>>
    for diesel::sqlite::SqliteConnection
{
    /// SQLite re-prepares a statement on every run whose `LIMIT` is a bound parameter (it plans
    /// with the bound value: `sqlite3ExprIsInteger` marks the parameter, and binding it again
    /// expires the statement). For a page of 20 that re-parse was 28 % of the request in
    /// callgrind. So the limit is a literal, the same for every page size up to 100 (one cached
    /// statement), and the rows past the page are never read.
    fn load_page(
        &mut self,
        query: diesel::dsl::IntoBoxed<'a, issue_query, diesel::sqlite::Sqlite>,
        offset: i64,
        limit: i64,
    ) -> QueryResult<Vec<IssueTuple>> {
        let page = crate::sqlite_page::LiteralLimit {
            query,
            limit: limit.max(crate::sqlite_page::LITERAL_LIMIT),
            offset,
        };
        page.load_iter::<IssueTuple, diesel::connection::DefaultLoadingMode>(self)?
            .take(usize::try_from(limit).unwrap_or(0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;

    use super::*;
    use crate::{NewUser, PoolSettings};
    use issue_tracker_domain::{Direction, SortKey};

    /// A status the database should never hold (the CHECK constraint is switched off to plant
    /// it, as a hand edit or a damaged file would) is an error on every read, never `open`.
    #[test]
    fn a_stored_status_that_does_not_parse_is_an_error() {
        let dir = std::env::temp_dir().join(format!("status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db =
            Database::connect_sqlite(&dir.join("db.sqlite3"), PoolSettings::default()).unwrap();
        db.run_migrations().unwrap();
        let ann = db
            .create_user(
                &NewUser {
                    username: "ann".into(),
                    email: String::new(),
                    password_hash: "x".into(),
                    is_staff: false,
                    is_superuser: false,
                },
                &Origin::system(issue_tracker_domain::Via::Cli),
            )
            .unwrap();
        let new = NewIssue {
            title: &issue_tracker_domain::Title::parse("t").unwrap(),
            description: &issue_tracker_domain::Description::parse("d").unwrap(),
            status: Status::Closed,
            assignee: "ann",
        };
        let issue = db
            .create_issue(
                &ann,
                &new,
                Duration::from_secs(60),
                &Origin::system(issue_tracker_domain::Via::Cli),
                Duration::ZERO,
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            db.get_issue(issue.id).unwrap().unwrap().issue.status,
            Status::Closed
        );
        let plant = || -> Result<usize, StoreError> {
            with_conn!(&db, |conn| {
                diesel::sql_query("PRAGMA ignore_check_constraints = ON").execute(conn)?;
                Ok(diesel::sql_query("UPDATE issues SET status = 'reopened'").execute(conn)?)
            })
        };
        assert_eq!(plant().unwrap(), 1);
        let read = db.get_issue(issue.id);
        assert!(
            matches!(read, Err(StoreError::Query(_))),
            "read as {read:?}"
        );
        let listed = db.list_issues_filtered(&IssueFilter::default(), 0, 10);
        assert!(listed.is_err(), "listed as {listed:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The label filter answers the same whichever way it reads a label: walking the issues
    /// (SQLite, labels on more than `FEW_ISSUES`), from the label's own list, or counted in the
    /// label index alone.
    #[test]
    fn the_label_filter_reads_many_and_few_the_same() {
        let dir = std::env::temp_dir().join(format!("labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db =
            Database::connect_sqlite(&dir.join("db.sqlite3"), PoolSettings::default()).unwrap();
        db.run_migrations().unwrap();
        const N: i64 = 12_000;
        let seed = || -> Result<(), StoreError> {
            with_conn!(&db, |conn| {
                diesel::connection::SimpleConnection::batch_execute(
                    conn,
                    &format!(
                        "INSERT INTO users (username, email, password_hash, is_active, is_staff, \
                 is_superuser, date_joined) VALUES ('ann', '', 'x', 1, 0, 0, CURRENT_TIMESTAMP);
                 INSERT INTO issues (created_by_id, title, description, status, assigned_to_id, \
                 created_at, updated_at) SELECT 1, 'Issue ' || g, 'd', \
                 CASE WHEN g % 3 = 0 THEN 'closed' ELSE 'open' END, 1, CURRENT_TIMESTAMP, \
                 CURRENT_TIMESTAMP FROM (WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 \
                 FROM s WHERE g < {N}) SELECT g FROM s);
                 INSERT INTO labels (name, name_key, color, description, created_at) VALUES \
                 ('many', 'many', '#ededed', '', CURRENT_TIMESTAMP), \
                 ('few', 'few', '#ededed', '', CURRENT_TIMESTAMP);
                 INSERT INTO issue_labels SELECT id, 1 FROM issues WHERE id % 2 = 0;
                 INSERT INTO issue_labels SELECT id, 2 FROM issues WHERE id % 500 = 0;"
                    ),
                )
                .map_err(StoreError::from)
            })
        };
        seed().unwrap();
        let check = |labels: &[&str], status: Option<Status>, keep: &dyn Fn(i64) -> bool| {
            let filter = IssueFilter {
                labels: labels.iter().map(|l| l.to_string()).collect(),
                status,
                ordering: vec![SortKey::new(OrderField::Id, Direction::Descending)],
                ..IssueFilter::default()
            };
            let expected: Vec<i64> = (1..=N)
                .rev()
                .filter(|id| keep(*id))
                .filter(|id| match status {
                    Some(Status::Closed) => id % 3 == 0,
                    Some(Status::Open) => id % 3 != 0,
                    None => true,
                })
                .collect();
            let page: Vec<i64> = db
                .list_issues_filtered(&filter, 10, 20)
                .unwrap()
                .iter()
                .map(|i| i.id.get())
                .collect();
            assert_eq!(
                page,
                expected[10..30.min(expected.len())].to_vec(),
                "{labels:?}"
            );
            assert_eq!(
                db.count_issues_filtered(&filter).unwrap(),
                expected.len() as i64,
                "{labels:?} {status:?}"
            );
        };
        check(&["many"], None, &|id| id % 2 == 0);
        check(&["few"], None, &|id| id % 500 == 0);
        check(&["MANY", "few"], None, &|id| id % 500 == 0);
        check(&["many"], Some(Status::Closed), &|id| id % 2 == 0);
        check(&["few", "many"], Some(Status::Open), &|id| id % 500 == 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
