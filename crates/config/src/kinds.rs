//! What each setting accepts: one parser per kind of value, each with the sentence the
//! documentation shows for it.

use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::{DatabaseUrl, EmailTls, LogFormat, Secret};

/// The longest duration any setting may name: 10 years. Longer ones overflow date arithmetic
/// (a token expiry past year 262,143 panics), and mean "never" in practice anyway.
pub const MAX_SECONDS: f64 = 315_360_000.0;

/// Turns a setting's text into its value, or says what is wrong with it.
type Parser<T> = Box<dyn Fn(&str) -> Result<T, String>>;

/// How a setting's text becomes its value, and what the documentation says it accepts.
pub struct Kind<T> {
    accepts: String,
    parse: Parser<T>,
}

impl<T> Kind<T> {
    fn new(
        accepts: impl Into<String>,
        parse: impl Fn(&str) -> Result<T, String> + 'static,
    ) -> Self {
        Kind {
            accepts: accepts.into(),
            parse: Box::new(parse),
        }
    }

    /// What the setting accepts, as the documentation says it.
    pub fn accepts(&self) -> &str {
        &self.accepts
    }

    /// Parses the setting's text (already trimmed).
    pub fn parse(&self, text: &str) -> Result<T, String> {
        (self.parse)(text)
    }
}

/// A whole number between `low` and `high`.
pub fn integer<T>(low: T, high: T) -> Kind<T>
where
    T: FromStr + PartialOrd + Display + Copy + 'static,
{
    Kind::new(format!("{low} to {high}"), move |text| {
        let value: T = text
            .parse()
            .map_err(|_| format!("{text:?} is not a whole number"))?;
        if value < low || value > high {
            return Err(format!(
                "{value} is out of range: must be between {low} and {high}"
            ));
        }
        Ok(value)
    })
}

fn number(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|value| value.is_finite())
        .ok_or_else(|| format!("{text:?} is not a number"))
}

/// Seconds, decimals allowed, above 0 and at most [`MAX_SECONDS`].
pub fn seconds() -> Kind<Duration> {
    Kind::new("seconds, above 0, at most 10 years", |text| {
        let value = number(text)?;
        if value > 0.0 && value <= MAX_SECONDS {
            Ok(Duration::from_secs_f64(value))
        } else {
            Err(format!(
                "must be a number of seconds above 0 and at most {MAX_SECONDS}"
            ))
        }
    })
}

/// Comma-separated seconds (each above 0, at most 10 years), at least one.
pub fn seconds_list() -> Kind<Vec<Duration>> {
    Kind::new(
        "comma-separated seconds, each above 0 and at most 10 years; at least one",
        |text| {
            let list: Vec<Duration> = text
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| seconds().parse(p).map_err(|e| format!("{p:?}: {e}")))
                .collect::<Result<_, _>>()?;
            if list.is_empty() {
                return Err("must list at least one number of seconds".to_owned());
            }
            Ok(list)
        },
    )
}

/// Seconds rounded to whole ones, at least 1 (for clocks that count in whole seconds).
pub fn whole_seconds() -> Kind<Duration> {
    Kind::new(
        "seconds, rounded to whole ones, at least 1, at most 10 years",
        |text| {
            let value = number(text)?;
            if value > 0.0 && value <= MAX_SECONDS {
                Ok(Duration::from_secs(value.round().max(1.0) as u64))
            } else {
                Err(format!(
                    "must be a number of seconds above 0 and at most {MAX_SECONDS}"
                ))
            }
        },
    )
}

/// A whole number of seconds, at least 1 and at most [`MAX_SECONDS`].
pub fn integer_seconds() -> Kind<Duration> {
    let whole = integer(1u64, MAX_SECONDS as u64);
    Kind::new("whole seconds, 1 to 315360000 (10 years)", move |text| {
        whole.parse(text).map(Duration::from_secs)
    })
}

/// A number of `unit` (60 for minutes, 3600 for hours), decimals allowed, 0 included, at most
/// [`MAX_SECONDS`] in all.
pub fn duration_in(unit: &'static str, unit_seconds: f64) -> Kind<Duration> {
    let most = MAX_SECONDS / unit_seconds;
    Kind::new(
        format!("{unit}, decimals allowed, 0 to {most}"),
        move |text| {
            let value = number(text)?;
            if (0.0..=most).contains(&value) {
                Ok(Duration::from_secs_f64(value * unit_seconds))
            } else {
                Err(format!("must be a number between 0 and {most}"))
            }
        },
    )
}

/// `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`, any case).
pub fn boolean() -> Kind<bool> {
    Kind::new("true or false", |text| {
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("{text:?} is not true or false")),
        }
    })
}

/// Any text.
pub fn text() -> Kind<String> {
    Kind::new("text", |text| Ok(text.to_owned()))
}

/// Any text; empty means none.
pub fn optional_text() -> Kind<Option<String>> {
    Kind::new("text, or empty for none", |text| {
        Ok((!text.is_empty()).then(|| text.to_owned()))
    })
}

/// A secret: never printed.
pub fn secret() -> Kind<Secret> {
    Kind::new("text (secret: never logged)", |text| Ok(Secret::new(text)))
}

/// A secret; empty means none.
pub fn optional_secret() -> Kind<Option<Secret>> {
    Kind::new("text (secret: never logged), or empty for none", |text| {
        Ok((!text.is_empty()).then(|| Secret::new(text)))
    })
}

/// A secret URL; empty means none.
pub fn optional_secret_url() -> Kind<Option<Secret>> {
    Kind::new(
        "a URL (its password is never logged), or empty for none",
        |text| Ok((!text.is_empty()).then(|| Secret::new(text))),
    )
}

/// A file or folder path.
pub fn path() -> Kind<PathBuf> {
    Kind::new("a path, relative to the working directory", |text| {
        Ok(PathBuf::from(text))
    })
}

/// `postgres://...`, `postgresql://...` or `sqlite://PATH`; empty for the embedded default.
pub fn database_url() -> Kind<DatabaseUrl> {
    Kind::new(
        "`postgres://...`, `postgresql://...` or `sqlite://PATH`; empty for the embedded SQLite file",
        DatabaseUrl::parse,
    )
}

/// `HOST:PORT` with an IP address.
pub fn socket_address() -> Kind<SocketAddr> {
    Kind::new("IP:PORT", |text| {
        text.parse()
            .map_err(|_| "expected HOST:PORT, e.g. 127.0.0.1:8000".to_owned())
    })
}

/// `IP:PORT`, or empty for none.
pub fn optional_socket_address() -> Kind<Option<SocketAddr>> {
    Kind::new("IP:PORT, or empty for none", |text| {
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|_| "expected HOST:PORT, e.g. 127.0.0.1:2525".to_owned())
    })
}

/// An email address with `%{token}` once in its local part; empty means none.
pub fn reply_address_pattern() -> Kind<Option<String>> {
    Kind::new(
        "an address with `%{token}` in its local part, or empty for none",
        |text| {
            if text.is_empty() {
                return Ok(None);
            }
            let (local, domain) = text.rsplit_once('@').ok_or_else(|| {
                "expected an address, e.g. reply+%{token}@tracker.example.com".to_owned()
            })?;
            if local.matches("%{token}").count() != 1 || domain.contains("%{token}") {
                return Err("must hold `%{token}` once, before the @".to_owned());
            }
            if domain.is_empty() || text.contains(char::is_whitespace) || text.contains(['<', '>'])
            {
                return Err(
                    "expected an address, e.g. reply+%{token}@tracker.example.com".to_owned(),
                );
            }
            Ok(Some(text.to_owned()))
        },
    )
}

/// Comma-separated host names (`.example.com` matches subdomains); `*` alone means all (`None`).
pub fn host_patterns() -> Kind<Option<Vec<String>>> {
    Kind::new(
        "comma-separated host names; `.example.com` matches subdomains; `*` = all",
        |text| {
            let hosts: Vec<String> = text
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect();
            Ok(if hosts.iter().any(|h| h == "*") {
                None
            } else {
                Some(hosts)
            })
        },
    )
}

/// Comma-separated IP addresses.
pub fn ip_addresses() -> Kind<Vec<IpAddr>> {
    Kind::new("comma-separated IP addresses", |text| {
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<IpAddr>()
                    .map_err(|_| format!("{p:?} is not an IP address"))
            })
            .collect()
    })
}

/// Comma-separated `host:port` pairs (empty: none).
pub fn host_ports() -> Kind<Vec<String>> {
    Kind::new(
        "comma-separated host:port pairs, or empty for none",
        |text| {
            text.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|pair| match pair.rsplit_once(':') {
                    Some((host, port))
                        if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) =>
                    {
                        Ok(pair.to_owned())
                    }
                    _ => Err(format!("{pair:?} is not host:port")),
                })
                .collect()
        },
    )
}

/// Comma-separated origins (`https://host[:port]`), or `*`.
pub fn origins() -> Kind<Vec<String>> {
    Kind::new(
        "comma-separated origins (`https://host[:port]`), or `*` for any",
        |text| {
            text.split(',')
                .map(|o| o.trim().trim_end_matches('/'))
                .filter(|o| !o.is_empty())
                .map(|o| {
                    if o == "*" {
                        Ok(o.to_owned())
                    } else {
                        check_origin(o)
                    }
                })
                .collect()
        },
    )
}

/// One origin (`https://host[:port]`, a trailing slash dropped); empty means none.
pub fn optional_origin() -> Kind<Option<String>> {
    Kind::new(
        "an origin (`https://host[:port]`), or empty",
        |text| match text.trim_end_matches('/') {
            "" => Ok(None),
            url => check_origin(url).map(Some),
        },
    )
}

/// `none`, `starttls` or `tls` (`ssl` is taken as `tls`).
pub fn email_tls() -> Kind<EmailTls> {
    Kind::new("`none`, `starttls` or `tls`", |text| {
        match text.to_ascii_lowercase().as_str() {
            "none" => Ok(EmailTls::None),
            "starttls" => Ok(EmailTls::StartTls),
            "tls" | "ssl" => Ok(EmailTls::Implicit),
            _ => Err("expected none, starttls or tls".to_owned()),
        }
    })
}

/// `text` or `json`.
pub fn log_format() -> Kind<LogFormat> {
    Kind::new("`text` or `json`", |text| {
        match text.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".to_owned()),
        }
    })
}

/// An origin as browsers send it: `http://` or `https://`, a host, an optional port, nothing else.
fn check_origin(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| format!("{text:?} must start with http:// or https://"))?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, _)) if !host.ends_with(']') && host.contains(':') => (rest, None),
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && (host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            || (host.starts_with('[')
                && host.ends_with(']')
                && host[1..host.len() - 1]
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok()));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err(format!(
            "{text:?} is not an origin (scheme://host[:port], no path, user or query)"
        ));
    }
    Ok(text.to_ascii_lowercase())
}
