//! Answers serialised straight from borrowed structs, with no `serde_json::Value` tree in
//! between: a 200-record page used to cost a map node, a key `String` and a value per field,
//! all freed again once written.
//!
//! The wire stays byte for byte what `serde_json::json!` wrote: without serde_json's
//! `preserve_order` feature a `json!` object is a `BTreeMap`, so its keys come out sorted; the
//! answer structs declare their fields in that sorted order (the sim's integration tests check
//! every answer they get is in that canonical form), and the small formatters here write what the former `format!` and
//! `time` calls wrote.

use std::fmt;

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use super::util::raw_response;

/// A JSON answer serialised straight from `value`.
pub(crate) fn serialized_response<T: Serialize + ?Sized>(
    status: StatusCode,
    value: &T,
) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => raw_response(status, "application/json;charset=UTF-8", body),
        // Only a map with non-string keys fails, and no answer has one.
        Err(e) => raw_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("cloudphone-sim: cannot serialise the answer: {e}"),
        ),
    }
}

/// Serialises any `Display` value as a JSON string, written straight into the output.
pub(crate) struct Text<T>(pub(crate) T);

impl<T: fmt::Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// Two strings written one after the other (`format!("{a}{b}")` without the allocation).
pub(crate) struct Concat<'a>(pub(crate) &'a str, pub(crate) &'a str);

impl fmt::Display for Concat<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        f.write_str(self.1)
    }
}

/// Unix seconds as ISO 8601 UTC, `2022-10-11T08:53:32Z` (the `time` format
/// `[year]-[month]-[day]T[hour]:[minute]:[second]Z`); out of range reads as the epoch.
#[derive(Clone, Copy)]
pub(crate) struct IsoSecs(pub(crate) i64);

/// Unix seconds as `2023-05-06 10:42:10` (no zone), the same way.
#[derive(Clone, Copy)]
pub(crate) struct SpacedSecs(pub(crate) i64);

fn write_date(f: &mut fmt::Formatter<'_>, unix: i64, sep: u8, zone: &str) -> fmt::Result {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let (year, month, day) = t.to_calendar_date();
    let (hour, minute, second) = t.to_hms();
    // `YYYY-MM-DD?hh:mm:ss` written digit by digit: `write!` with padding cost more than the
    // rest of a record (three dates in each listed instance). Years outside 0–9999 cannot occur
    // (the epoch stands in for anything out of range) but keep their own form.
    if !(0..=9999).contains(&year) {
        return write!(
            f,
            "{year:04}-{:02}-{day:02}{}{hour:02}:{minute:02}:{second:02}{zone}",
            u8::from(month),
            char::from(sep)
        );
    }
    let year = year as u32;
    let two = |n: u8| [b'0' + n / 10, b'0' + n % 10];
    let [m0, m1] = two(u8::from(month));
    let [d0, d1] = two(day);
    let [h0, h1] = two(hour);
    let [i0, i1] = two(minute);
    let [s0, s1] = two(second);
    let digit = |n: u32| b'0' + (n % 10) as u8;
    let buf = [
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b'-',
        m0,
        m1,
        b'-',
        d0,
        d1,
        sep,
        h0,
        h1,
        b':',
        i0,
        i1,
        b':',
        s0,
        s1,
    ];
    f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)?;
    f.write_str(zone)
}

impl fmt::Display for IsoSecs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_date(f, self.0, b'T', "Z")
    }
}

impl fmt::Display for SpacedSecs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_date(f, self.0, b' ', "")
    }
}

impl Serialize for IsoSecs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for SpacedSecs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::format_description;

    #[test]
    fn dates_are_written_as_the_time_formats_wrote_them() {
        for unix in [
            0,
            1,
            59,
            86_399,
            1_665_478_412,
            1_767_225_600,
            4_102_444_799,
        ] {
            let t = OffsetDateTime::from_unix_timestamp(unix).unwrap();
            let iso = t
                .format(format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
                ))
                .unwrap();
            let spaced = t
                .format(format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second]"
                ))
                .unwrap();
            assert_eq!(IsoSecs(unix).to_string(), iso);
            assert_eq!(SpacedSecs(unix).to_string(), spaced);
            assert_eq!(
                serde_json::to_string(&IsoSecs(unix)).unwrap(),
                format!("\"{iso}\"")
            );
        }
        assert_eq!(IsoSecs(i64::MAX).to_string(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn text_is_escaped_like_any_string() {
        let s = serde_json::to_string(&Text(Concat("a\"b", "\n"))).unwrap();
        assert_eq!(s, serde_json::to_string("a\"b\n").unwrap());
    }
}
