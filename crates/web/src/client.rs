//! Who is asking and where they reached us: the strict `Host` parser, the client's address, and
//! the base of absolute links. Forwarding headers (`X-Forwarded-*`, `Forwarded`) are believed only
//! from the addresses in `TRUSTED_PROXIES`; links use `PUBLIC_URL` when it is set.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;
use issue_tracker_config::HttpSettings;

/// Splits a `Host` value into its host and port, or `None` unless it is exactly a host name
/// (letters, digits, `-`, `.`), an IPv4 address or a bracketed IPv6 address, with an optional
/// decimal port. Anything else (`user@host`, paths, spaces, a second colon) is refused.
///
/// ```
/// use issue_tracker_web::client::parse_host;
/// assert_eq!(parse_host("Example.com:8000"), Some(("Example.com", Some(8000))));
/// assert_eq!(parse_host("[::1]:80"), Some(("[::1]", Some(80))));
/// assert_eq!(parse_host("localhost:1@evil.example"), None);
/// assert_eq!(parse_host("a b"), None);
/// ```
pub fn parse_host(value: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if value.starts_with('[') {
        let end = value.find(']')?;
        let (host, rest) = value.split_at(end + 1);
        host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().ok()?;
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match value.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    if !host.starts_with('[') {
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid {
            return None;
        }
    }
    let port = match port {
        None => None,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// Whether the direct peer is one of the trusted proxies.
pub fn from_trusted_proxy(peer: Option<SocketAddr>, settings: &HttpSettings) -> bool {
    peer.is_some_and(|peer| settings.trusted_proxies.contains(&peer.ip()))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A parameter (`for`, `proto`, `host`) of the first element of a `Forwarded` header.
fn forwarded_param<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let first = header(headers, "forwarded")?.split(',').next()?;
    first.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"'))
    })
}

/// The client's address: the direct peer, or, when the peer is a trusted proxy, the nearest
/// untrusted address of `X-Forwarded-For` (or `Forwarded: for=`).
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    settings: &HttpSettings,
) -> String {
    let direct = peer.map(|p| p.ip().to_string()).unwrap_or_default();
    if !from_trusted_proxy(peer, settings) {
        return direct;
    }
    if let Some(chain) = header(headers, "x-forwarded-for") {
        let nearest_untrusted = chain
            .rsplit(',')
            .map(str::trim)
            .filter_map(|hop| hop.parse::<IpAddr>().ok())
            .find(|ip| !settings.trusted_proxies.contains(ip));
        if let Some(ip) = nearest_untrusted {
            return ip.to_string();
        }
    }
    forwarded_param(headers, "for")
        .map(|f| f.trim_start_matches('[').split(']').next().unwrap_or(f))
        .and_then(|f| f.parse::<IpAddr>().ok())
        .map(|ip| ip.to_string())
        .unwrap_or(direct)
}

/// `scheme://host[:port]` of absolute links: `PUBLIC_URL` when set; otherwise the request's
/// `Host` (already checked against `ALLOWED_HOSTS` by the edge middleware) over plain HTTP, or the
/// forwarded host and scheme when the request came through a trusted proxy.
pub fn public_base(req: &HttpRequest, settings: &HttpSettings) -> String {
    if let Some(url) = &settings.public_url {
        return url.clone();
    }
    let headers = req.headers();
    let trusted = from_trusted_proxy(req.peer_addr(), settings);
    let scheme = trusted
        .then(|| header(headers, "x-forwarded-proto").or_else(|| forwarded_param(headers, "proto")))
        .flatten()
        .map(str::to_ascii_lowercase)
        .filter(|s| s == "http" || s == "https")
        .unwrap_or_else(|| "http".to_owned());
    let forwarded_host = trusted
        .then(|| header(headers, "x-forwarded-host").or_else(|| forwarded_param(headers, "host")))
        .flatten()
        .and_then(|h| h.split(',').next())
        .map(str::trim);
    let host = forwarded_host
        .or_else(|| header(headers, "host"))
        .filter(|h| parse_host(h).is_some())
        .map(str::to_owned)
        .unwrap_or_else(|| req.app_config().host().to_owned());
    format!("{scheme}://{host}")
}
