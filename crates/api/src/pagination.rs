//! `Link` headers for paginated lists (first, prev, next, last), as GitHub sends them.

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
    let base = format!(
        "{}{}",
        crate::client::public_base(req, settings),
        req.path()
    );
    let kept: Vec<(String, String)> = crate::body::query_pairs(req.query_string())
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| key != "page" && key != "per_page")
        .collect();
    let url = |page: i64| {
        let mut parts: Vec<String> = kept
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, QUERY_VALUE),
                    utf8_percent_encode(v, QUERY_VALUE)
                )
            })
            .collect();
        parts.push(format!("per_page={per_page}"));
        parts.push(format!("page={page}"));
        format!("<{base}?{}>", parts.join("&"))
    };
    let page = query.page as i64;
    let mut links = vec![format!("{}; rel=\"first\"", url(1))];
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url((page - 1).min(last))));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
    }
    links.push(format!("{}; rel=\"last\"", url(last)));
    Some(links.join(", "))
}
