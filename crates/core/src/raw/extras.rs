//! Vendor options (`extras`) read the same way by every backend: unknown keys refused before
//! anything is sent, each value checked, every error naming its key.

use std::ops::RangeInclusive;

use serde_json::Value;

use crate::{Error, ErrorKind, Extras, Operation, Result};

/// The `extras` of one operation, checked against the keys a backend knows.
///
/// ```
/// use cloudphone_core::raw::ExtraOptions;
/// use cloudphone_core::{Operation, StartOptions};
///
/// let start = StartOptions::default().extra("width", 300).extra("center", true);
/// let o = ExtraOptions::new("v", Operation::Start, &start.extras, &["width", "center"]).unwrap();
/// assert_eq!(o.u64_in("width", 200..=600).unwrap(), Some(300));
/// assert_eq!(o.flag("center").unwrap(), Some(1));
/// let e = ExtraOptions::new("v", Operation::Start, &start.extras, &["width"]).unwrap_err();
/// assert!(e.message().contains("`center`"), "{e}");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ExtraOptions<'a> {
    vendor: &'static str,
    operation: Operation,
    extras: &'a Extras,
}

impl<'a> ExtraOptions<'a> {
    /// `extras` of `operation`; an [`ErrorKind::InvalidArgument`] error naming every key not
    /// in `known` (and listing the known ones) when there is any.
    pub fn new(
        vendor: &'static str,
        operation: Operation,
        extras: &'a Extras,
        known: &[&str],
    ) -> Result<Self> {
        let unknown: Vec<String> = extras
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .map(|k| format!("`{k}`"))
            .collect();
        if !unknown.is_empty() {
            let supported = if known.is_empty() {
                "none are supported".to_owned()
            } else {
                format!("known: {}", known.join(", "))
            };
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "unknown {operation} option{} for {vendor}: {} ({supported})",
                    if unknown.len() == 1 { "" } else { "s" },
                    unknown.join(", ")
                ),
            )
            .with_vendor(vendor));
        }
        Ok(ExtraOptions {
            vendor,
            operation,
            extras,
        })
    }

    /// Refuses any extra: for operations that take none.
    pub fn none(vendor: &'static str, operation: Operation, extras: &Extras) -> Result<()> {
        ExtraOptions::new(vendor, operation, extras, &[]).map(drop)
    }

    /// The raw value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.extras.get(key)
    }

    /// The error for `key` holding a value other than `expected` ("true or false").
    pub fn invalid(&self, key: &str, expected: &str) -> Error {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("{} option `{key}` must be {expected}", self.operation),
        )
        .with_vendor(self.vendor)
    }

    /// `key` as `true` or `false`.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.read(key, "true or false", Value::as_bool)
    }

    /// `key` as a 0/1 flag, given as `0`, `1`, `false` or `true`.
    pub fn flag(&self, key: &str) -> Result<Option<u8>> {
        self.read(key, "0 or 1", |v| match v {
            Value::Bool(b) => Some(u8::from(*b)),
            Value::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n as u8),
            _ => None,
        })
    }

    /// `key` as a whole number within `range`.
    pub fn u64_in(&self, key: &str, range: RangeInclusive<u64>) -> Result<Option<u64>> {
        let expected = format!("an integer from {} to {}", range.start(), range.end());
        self.read(key, &expected, |v| v.as_u64().filter(|n| range.contains(n)))
    }

    fn read<T>(
        &self,
        key: &str,
        expected: &str,
        parse: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>> {
        self.get(key)
            .map(|v| parse(v).ok_or_else(|| self.invalid(key, expected)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ResetOptions, StartOptions};

    #[test]
    fn unknown_keys_are_all_named_before_any_value_is_read() {
        let opts = ResetOptions::default()
            .extra("wipe_sd", true)
            .extra("zz", 1);
        let e = ExtraOptions::none("v", Operation::Reset, &opts.extras).unwrap_err();
        assert_eq!(
            (e.kind(), e.vendor()),
            (ErrorKind::InvalidArgument, Some("v"))
        );
        assert_eq!(
            e.message(),
            "unknown reset options for v: `wipe_sd`, `zz` (none are supported)"
        );
        let e = ExtraOptions::new("v", Operation::Start, &opts.extras, &["zz"]).unwrap_err();
        assert_eq!(
            e.message(),
            "unknown start option for v: `wipe_sd` (known: zz)"
        );
        ExtraOptions::none("v", Operation::Start, &StartOptions::default().extras).unwrap();
    }

    #[test]
    fn values_are_checked_and_name_their_key() {
        let opts = StartOptions::default()
            .extra("a", false)
            .extra("b", 0)
            .extra("c", 2)
            .extra("d", "yes")
            .extra("e", 601);
        let o = ExtraOptions::new(
            "v",
            Operation::Start,
            &opts.extras,
            &["a", "b", "c", "d", "e"],
        )
        .unwrap();
        assert_eq!(o.flag("a").unwrap(), Some(0));
        assert_eq!(o.flag("b").unwrap(), Some(0));
        assert_eq!(o.bool("a").unwrap(), Some(false));
        assert_eq!(o.bool("missing").unwrap(), None);
        assert!(o
            .flag("c")
            .unwrap_err()
            .message()
            .contains("`c` must be 0 or 1"));
        assert!(o
            .bool("d")
            .unwrap_err()
            .message()
            .contains("`d` must be true or false"));
        let e = o.u64_in("e", 200..=600).unwrap_err();
        assert_eq!(
            e.message(),
            "start option `e` must be an integer from 200 to 600"
        );
    }
}
