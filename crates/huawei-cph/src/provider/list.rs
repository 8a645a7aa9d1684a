//! `list_page`: offset cursors, the lowest total seen, and a repeated page (a vendor ignoring
//! the offset) refused rather than looped over.

use cloudphone_core::{Error, ErrorKind, ListRequest, PhonePage, Result};

use super::decode::{fingerprint, list_page_of};
use super::{HuaweiCphProvider, ListMemo, LIST_MEMO, LIST_PAGE_SIZE};
use crate::VENDOR;

impl HuaweiCphProvider {
    /// One list page (see [`CloudPhoneProvider::list_page`]).
    pub(super) async fn list(&self, request: &ListRequest) -> Result<PhonePage> {
        let limit = request
            .page_size
            .unwrap_or(LIST_PAGE_SIZE)
            .clamp(1, LIST_PAGE_SIZE);
        let offset = match request.cursor.as_deref() {
            None => 0,
            Some(c) => c.parse::<u64>().map_err(|_| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("`{c}` is not a {VENDOR} list cursor (a record offset)"),
                )
                .with_vendor(VENDOR)
            })?,
        };
        let page = self.list_raw(offset, limit).await?;
        let fp = fingerprint(&page);
        let before = (offset > 0).then(|| self.page_before(offset)).flatten();
        if let Some(b) = before {
            if fp.0 > 0 && b.fingerprint == fp {
                return Err(Error::new(
                    ErrorKind::InvalidResponse,
                    format!(
                        "the vendor answered offset {offset} with the same page as the offset before it; it ignores the offset, so the listing stops here"
                    ),
                )
                .with_vendor(VENDOR));
            }
        }
        let total = match (before.and_then(|b| b.total), page.count) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut out = list_page_of(page, offset, limit);
        if let (Some(next), Some(total)) = (out.next.as_deref(), total) {
            if next.parse::<u64>().is_ok_and(|n| n >= total) {
                out.next = None;
            }
        }
        if let Some(next) = out.next.as_deref().and_then(|n| n.parse::<u64>().ok()) {
            self.remember_page(ListMemo {
                next,
                fingerprint: fp,
                total,
            });
        }
        Ok(out)
    }

    fn remember_page(&self, memo: ListMemo) {
        let mut m = self.list_memo.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|x| x.next != memo.next);
        if m.len() >= LIST_MEMO {
            m.pop_front();
        }
        m.push_back(memo);
    }

    fn page_before(&self, offset: u64) -> Option<ListMemo> {
        let m = self.list_memo.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().rev().find(|x| x.next == offset).copied()
    }
}
