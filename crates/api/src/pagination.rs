//! `Link` headers for paginated lists (first, prev, next, last), as GitHub sends them.

use std::fmt::Write;

use actix_web::HttpRequest;
use issue_tracker_domain::ListQuery;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What stays literal in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b',');

/// The `Link` header of this page, or `None` for an unpaginated list that fits in one page.
pub fn link_header(
    req: &HttpRequest,
    settings: &issue_tracker_config::HttpSettings,
    query: &ListQuery,
    total: i64,
) -> Option<String> {
    let per_page = query.per_page.max(1) as i64;
    if !query.paginated && total <= per_page {
        return None;
    }
    let last = ((total + per_page - 1) / per_page).max(1);
    // Every link shares everything up to the page number: written once (building each of the
    // four links from the query's pairs was 5 % of a list request in callgrind).
    let mut shared = String::with_capacity(128);
    let _ = write!(
        shared,
        "<{}{}?",
        crate::client::public_base(req, settings),
        req.path()
    );
    for (key, value) in crate::body::query_pairs(req.query_string())
        .unwrap_or_default()
        .iter()
        .filter(|(key, _)| key != "page" && key != "per_page")
    {
        let _ = write!(
            shared,
            "{}={}&",
            utf8_percent_encode(key, QUERY_VALUE),
            utf8_percent_encode(value, QUERY_VALUE)
        );
    }
    let _ = write!(shared, "per_page={per_page}&page=");
    let page = query.page as i64;
    let mut links = String::with_capacity(4 * (shared.len() + 24));
    let mut link = |page: i64, rel: &str| {
        if !links.is_empty() {
            links.push_str(", ");
        }
        links.push_str(&shared);
        let _ = write!(links, "{page}>; rel=\"{rel}\"");
    };
    link(1, "first");
    if page > 1 {
        link((page - 1).min(last), "prev");
    }
    if page < last {
        link(page + 1, "next");
    }
    link(last, "last");
    Some(links)
}
