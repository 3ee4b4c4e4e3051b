//! Lists: search, filters, sortable columns and pages.

use super::*;

/// A list filter: a select of choices, or a text box when it has none.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The query parameter.
    pub name: &'static str,
    /// Its label.
    pub label: &'static str,
    /// (value, label); the first is "all". Empty: a text box.
    pub choices: Vec<(String, String)>,
    /// The chosen value.
    pub value: String,
}

impl Filter {
    /// A select of `choices`, the first meaning "all", set from `query`.
    pub fn select(
        name: &'static str,
        label: &'static str,
        choices: &[(&str, &str)],
        query: &FormData,
    ) -> Filter {
        Filter {
            name,
            label,
            choices: choices
                .iter()
                .map(|(value, label)| (value.to_string(), label.to_string()))
                .collect(),
            value: query.text(name),
        }
    }

    /// Whether `value` is the chosen one.
    pub fn is_chosen(&self, value: &str) -> bool {
        self.value == value
    }

    /// A text box, set from `query`.
    pub fn text(name: &'static str, label: &'static str, query: &FormData) -> Filter {
        Filter {
            name,
            label,
            choices: Vec::new(),
            value: query.text(name),
        }
    }
}

/// A column of a list.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its heading.
    pub label: &'static str,
    /// The link that sorts by it (empty: not sortable).
    pub sort_href: String,
    /// "ascending", "descending" or "none" (for `aria-sort`).
    pub sorted: &'static str,
}

/// One cell: text, and a link when it leads somewhere.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The text.
    pub text: String,
    /// Where it links (empty: no link).
    pub href: String,
}

impl Cell {
    /// A plain cell.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: String::new(),
        }
    }

    /// A cell that links to `href`.
    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: href.into(),
        }
    }
}

/// A row: the id its checkbox selects, and its cells.
#[derive(Debug, Clone)]
pub struct Row {
    /// The id a bulk action receives.
    pub id: String,
    /// Its cells.
    pub cells: Vec<Cell>,
}

/// A list page: search, filters, sortable columns, pages with the total, bulk actions.
#[derive(Template)]
#[template(path = "list.html")]
pub struct ListPage {
    /// The frame.
    pub chrome: Chrome,
    /// The heading.
    pub title: String,
    /// The path of the list.
    pub path: String,
    /// The search box's label (empty: no search).
    pub search_label: &'static str,
    /// What was searched.
    pub search: String,
    /// The filters.
    pub filters: Vec<Filter>,
    /// The current order, carried by the filter form.
    pub order: String,
    /// The columns.
    pub columns: Vec<Column>,
    /// The rows.
    pub rows: Vec<Row>,
    /// Where the list stands.
    pub pager: Pager,
    /// Bulk actions: (value, label); empty: no checkboxes.
    pub bulk_actions: Vec<(&'static str, &'static str)>,
    /// Buttons of actions on the whole list: (label, action).
    pub actions: Vec<(String, String)>,
    /// The link to add one (empty: none).
    pub add_href: String,
    /// A message after a successful change.
    pub notice: String,
    /// This list's query string, kept by edits so that the filters survive them.
    pub back: String,
}

/// Where a list stands: its total, this page, and the links around it.
#[derive(Debug, Clone)]
pub struct Pager {
    /// How many rows match, over all pages.
    pub total: i64,
    /// The page shown (from 1).
    pub page: i64,
    /// How many pages.
    pub pages: i64,
    /// The previous page (empty: none).
    pub previous_href: String,
    /// The next page (empty: none).
    pub next_href: String,
}

/// Rows per page of every admin list.
pub const PER_PAGE: i64 = 50;

/// One page of the list at `path`, as its `query` asks (`page`, clamped to the pages there
/// are): `count` gives the total, `load` the rows at (offset, limit).
pub fn paged<T, E>(
    path: &str,
    query: &FormData,
    count: impl FnOnce() -> Result<i64, E>,
    load: impl FnOnce(i64, i64) -> Result<Vec<T>, E>,
) -> Result<(Vec<T>, Pager), E> {
    let total = count()?;
    let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
    let page = query
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let rows = load((page - 1) * PER_PAGE, PER_PAGE)?;
    let base = query.query_without(&["page", "notice"]);
    let href = |to: i64| match base.as_str() {
        "" => format!("{path}?page={to}"),
        base => format!("{path}?{base}&page={to}"),
    };
    let pager = Pager {
        total,
        page,
        pages,
        previous_href: if page > 1 {
            href(page - 1)
        } else {
            String::new()
        },
        next_href: if page < pages {
            href(page + 1)
        } else {
            String::new()
        },
    };
    Ok((rows, pager))
}

/// [`paged`] over a list already in memory (labels, webhooks: a few dozen at most).
pub fn paged_in_memory<T>(path: &str, query: &FormData, all: Vec<T>) -> (Vec<T>, Pager) {
    let total = all.len() as i64;
    let result: Result<_, std::convert::Infallible> = paged(
        path,
        query,
        || Ok(total),
        |offset, limit| {
            Ok(all
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .collect())
        },
    );
    match result {
        Ok(page) => page,
        Err(never) => match never {},
    }
}

/// A sortable column: clicking sorts by `key`, clicking again reverses.
pub fn column(label: &'static str, key: &str, path: &str, query: &FormData) -> Column {
    let current = query.get("order").unwrap_or_default();
    let (sorted, next) = if current == key {
        ("ascending", format!("-{key}"))
    } else if current == format!("-{key}") {
        ("descending", key.to_owned())
    } else {
        ("none", key.to_owned())
    };
    let base = query.query_without(&["order", "page", "notice"]);
    let sort_href = if base.is_empty() {
        format!("{path}?order={}", encode(&next))
    } else {
        format!("{path}?{base}&order={}", encode(&next))
    };
    Column {
        label,
        sort_href,
        sorted,
    }
}

/// A column that does not sort.
pub fn plain_column(label: &'static str) -> Column {
    Column {
        label,
        sort_href: String::new(),
        sorted: "none",
    }
}
