//! Listing: page cursors (page number and a fingerprint of the page before), the page cap,
//! and the pages made of `/open/v1/phone/list` answers.

use std::fmt;

use cloudphone_core::raw::{undecodable, Idempotency};
use cloudphone_core::{Error, ErrorKind, ListRequest, PhonePage, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::request::{to_json, Data};
use super::{GeelarkProvider, LIST, MAX_PAGE_SIZE};
use crate::wire;
use crate::VENDOR;

/// `data` of a list answer.
pub(crate) fn list_data(data: Option<Value>) -> Result<wire::ListData> {
    serde_json::from_value(data.unwrap_or(Value::Null))
        .map_err(|e| undecodable(VENDOR, format_args!("`data` from `{LIST}`"), e))
}

/// A position in a listing: the page to read (from 1) and the fingerprint of the page before
/// it, so that a vendor answering the same page again ends the listing instead of looping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub page: u64,
    pub previous: Option<u64>,
}

impl Cursor {
    /// The first page.
    pub const FIRST: Cursor = Cursor {
        page: 1,
        previous: None,
    };

    /// `N` (a page number from 1) or `N.<16 hex digits>` as [`PhonePage::next`] gives it.
    pub fn parse(text: &str) -> Result<Cursor> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "bad geelark list cursor `{}` (a page number from 1)",
                    text.chars().take(40).collect::<String>().escape_debug()
                ),
            )
            .with_vendor(VENDOR)
        };
        let (page, previous) = match text.split_once('.') {
            None => (text, None),
            Some((p, fp)) if fp.len() == 16 => {
                (p, Some(u64::from_str_radix(fp, 16).map_err(|_| bad())?))
            }
            Some(_) => return Err(bad()),
        };
        let page = page
            .parse::<u64>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(bad)?;
        Ok(Cursor { page, previous })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.previous {
            Some(fp) => write!(f, "{}.{fp:016x}", self.page),
            None => write!(f, "{}", self.page),
        }
    }
}

/// The pages a listing of `size` phones per page may read when it may read `max_listed` phones.
pub(crate) fn max_pages(max_listed: u64, size: u64) -> u64 {
    max_listed.div_ceil(size.max(1))
}

/// A fingerprint of the set of ids on a page (order and repeats ignored).
fn fingerprint(items: &[wire::ListItem]) -> u64 {
    let mut ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    u64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

/// The page at `at` of `size` phones, and the cursor of the next one if another follows. The
/// listing ends when a page is empty, when the vendor's `total` is reached, or when a page
/// holds exactly the phones of the page before it (a vendor that ignores `page` would
/// otherwise be listed forever); the repeated phones are not returned again.
pub(crate) fn list_page_of(data: wire::ListData, at: Cursor, size: u64) -> PhonePage {
    let fp = fingerprint(&data.items);
    if !data.items.is_empty() && at.previous == Some(fp) {
        tracing::warn!(
            vendor = VENDOR,
            page = at.page,
            "the vendor answered a list page with the same phones as the page before; the listing ends here"
        );
        return PhonePage::new(Vec::new(), None, data.total);
    }
    let more = match data.total {
        _ if data.items.is_empty() => false,
        // Saturating: a cursor near `u64::MAX` must not overflow.
        Some(total) => at.page.saturating_mul(size) < total,
        None => data.items.len() as u64 >= size,
    };
    let next = more.then(|| at.page.checked_add(1)).flatten().map(|page| {
        Cursor {
            page,
            previous: Some(fp),
        }
        .to_string()
    });
    let total = data.total;
    let phones = data
        .items
        .into_iter()
        .map(wire::ListItem::into_summary)
        .collect();
    PhonePage::new(phones, next, total)
}

impl GeelarkProvider {
    /// One page of the listing (see [`cloudphone_core::CloudPhoneProvider::list_page`]).
    pub(super) async fn list(&self, request: &ListRequest) -> Result<PhonePage> {
        let at = match &request.cursor {
            None => Cursor::FIRST,
            Some(c) => Cursor::parse(c)?,
        };
        let size = request
            .page_size
            .unwrap_or(MAX_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE) as u64;
        if at.page > max_pages(self.max_listed, size) {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                format!(
                    "not sent: page {} of {size} phones would pass the listing's cap of {} \
                     phones while the vendor still claims more; its paging looks endless",
                    at.page, self.max_listed
                ),
            )
            .with_vendor(VENDOR)
            .with_endpoint(LIST)
            .with_temporary(false)
            .with_not_applied(true));
        }
        let body = to_json(&wire::ListBody {
            page: at.page,
            page_size: size,
        })?;
        let data = self
            .engine
            .guarded(self.request(
                LIST,
                Idempotency::ReadOnly,
                body,
                false,
                Data::Keep,
                |data, _| list_data(data),
            ))
            .await?;
        Ok(list_page_of(data, at, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::DEFAULT_MAX_LISTED;

    #[test]
    fn list_cursors_round_trip_and_refuse_garbage() {
        for c in [
            Cursor::FIRST,
            Cursor {
                page: 7,
                previous: Some(0xdead_beef),
            },
            Cursor {
                page: u64::MAX,
                previous: Some(u64::MAX),
            },
        ] {
            assert_eq!(Cursor::parse(&c.to_string()).unwrap(), c);
        }
        assert_eq!(Cursor::parse("3").unwrap().page, 3);
        for bad in [
            "",
            "0",
            "-1",
            "x",
            "2.",
            "2.zz",
            "2.0123",
            "2.0123456789abcdefg",
            ".1",
        ] {
            let e = Cursor::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
        // Shown escaped and shortened: a cursor is caller input.
        let e = Cursor::parse(&format!("\u{1b}[31m{}", "9".repeat(500))).unwrap_err();
        assert!(!e.message().contains('\u{1b}') && e.message().len() < 200);
    }

    #[test]
    fn the_page_cap_covers_a_million_phones() {
        assert_eq!(max_pages(DEFAULT_MAX_LISTED, 100), 10_000);
        assert_eq!(max_pages(DEFAULT_MAX_LISTED, 1), 1_000_000);
        assert_eq!(max_pages(DEFAULT_MAX_LISTED, 0), 1_000_000);
        assert_eq!(max_pages(DEFAULT_MAX_LISTED, u64::MAX), 1);
        assert_eq!(max_pages(250, 100), 3);
    }
}
