//! Reading `TIMESTAMP` columns fast on SQLite.
//!
//! SQLite keeps a timestamp as the text diesel wrote (`2026-11-27 23:59:14.123456`). diesel reads it
//! back with chrono's general format parser, trying several formats in turn: about 2,600
//! instructions a value, and a read of one issue with its token holds five (callgrind counted 7 %
//! of a `GET /api/issue/<id>/` there). [`Stamp`] parses that one layout by hand and falls back to
//! chrono for anything else; on PostgreSQL, whose timestamps arrive in binary, it is diesel's own.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::Timestamp;
use diesel::sqlite::{Sqlite, SqliteValue};

/// A timestamp as read from either database; `.0` (or `into()`) is the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub(crate) struct Stamp(pub NaiveDateTime);

impl From<Stamp> for NaiveDateTime {
    fn from(stamp: Stamp) -> NaiveDateTime {
        stamp.0
    }
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = value.read_text();
        if let Some(at) = parse_sqlite_timestamp(text) {
            return Ok(Stamp(at));
        }
        // What diesel itself accepts as text, for rows written some other way.
        ["%F %T%.f", "%FT%T%.f", "%F %T", "%FT%T"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
            .map(Stamp)
            .ok_or_else(|| format!("Invalid datetime {text:?}").into())
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Stamp)
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.` and 1 to 9 fraction digits; `None` for anything
/// else (including impossible dates, which chrono then refuses too).
fn parse_sqlite_timestamp(text: &str) -> Option<NaiveDateTime> {
    let bytes = text.as_bytes();
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b' ' {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    let nanos = match &bytes[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let value = number(20..bytes.len())?;
            value * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let time =
        NaiveTime::from_hms_nano_opt(number(11..13)?, number(14..16)?, number(17..19)?, nanos)?;
    Some(NaiveDateTime::new(date, time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_diesel_writes_and_refuses_the_rest() {
        let cases = [
            "2026-11-27 23:59:14.123456",
            "2026-11-27 23:59:14",
            "2026-11-27 23:59:14.1",
            "2024-02-29 00:00:00.000000001",
            "1999-12-31 23:59:59.999999",
        ];
        for text in cases {
            assert_eq!(
                parse_sqlite_timestamp(text),
                Some(NaiveDateTime::parse_from_str(text, "%F %T%.f").unwrap()),
                "{text}"
            );
        }
        for text in [
            "2026-11-27T23:59:14",
            "2025-02-29 00:00:00",
            "2026-13-01 00:00:00",
            "2026-11-27 24:00:00",
            "2026-11-27 23:59:14.",
            "2026-11-27 23:59:14.1234567890",
            "2026-11-27 23:59:1x",
            "2026-11-27 23:59",
            "",
        ] {
            assert_eq!(parse_sqlite_timestamp(text), None, "{text}");
        }
    }
}
