//! `status` by strategy — CPH has no batch status call: one detail call per phone, or list
//! pages filtered client-side, or whichever costs fewer calls — and the reads behind it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use cloudphone_core::raw::{dedupe, not_sent, Idempotency};
use cloudphone_core::{BatchReport, Error, ErrorKind, Operation, PhoneId, PhoneOutcome, Result};
use futures::StreamExt;
use reqwest::Method;

use super::decode::{detail_outcome, fingerprint, phone_outcome};
use super::{Fingerprint, HuaweiCphProvider, LIST_PAGE_SIZE, MAX_LISTING_PAGES};
use crate::config::StatusStrategy;
use crate::wire::{Phone, PhoneList};
use crate::VENDOR;

impl HuaweiCphProvider {
    /// `status` by the configured strategy.
    pub(super) async fn status_by_strategy(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        let valid = dedupe(phones.iter().cloned())
            .into_iter()
            .filter(|p| p.invalid_reason().is_none())
            .count();
        let strategy = match self.strategy {
            StatusStrategy::Auto if valid <= 1 => StatusStrategy::Detail,
            s => s,
        };
        match strategy {
            StatusStrategy::Detail => {
                self.engine()
                    .run_each(Operation::Status, phones, |id| self.detail(id))
                    .await
            }
            s => {
                let details_if_cheaper = s == StatusStrategy::Auto;
                self.engine()
                    .run_chunks(Operation::Status, phones, usize::MAX, |chunk| {
                        self.status_from_listing(chunk, details_if_cheaper)
                    })
                    .await
            }
        }
    }

    pub(super) async fn detail(&self, id: PhoneId) -> Result<PhoneOutcome> {
        let url = self.client.url(&["phones", id.as_str()], &[])?;
        let answer = self
            .client
            .send::<Phone>(
                "phone-detail",
                Idempotency::ReadOnly,
                Method::GET,
                &url,
                None,
            )
            .await?;
        detail_outcome(id, &answer.value).map_err(|e| self.scrub(e))
    }

    pub(super) async fn list_raw(&self, offset: u64, limit: usize) -> Result<PhoneList> {
        let url = self.client.url(
            &["phones"],
            &[("offset", offset.to_string()), ("limit", limit.to_string())],
        )?;
        Ok(self
            .client
            .send::<PhoneList>(
                "list-phones",
                Idempotency::ReadOnly,
                Method::GET,
                &url,
                None,
            )
            .await?
            .value)
    }

    /// Status of `chunk` from list pages (all of them when `details_if_cheaper` is false),
    /// or from the first page plus detail calls when those are fewer.
    ///
    /// Paging stops at a short page, at the total the first page reported (a later page may
    /// lower it, never raise it), at a page seen before (a vendor ignoring the offset), and
    /// after [`MAX_LISTING_PAGES`]. A phone the listing did not show is read with its detail
    /// call before it is called not found: offset pages can skip a phone while the project
    /// changes.
    async fn status_from_listing(
        &self,
        chunk: Vec<PhoneId>,
        details_if_cheaper: bool,
    ) -> Result<Vec<PhoneOutcome>> {
        // Outcomes are made as pages arrive: a 100,000-phone account must not be held as
        // full phone records.
        let mut seen: HashMap<PhoneId, PhoneOutcome> = HashMap::new();
        let mut pages_seen: HashSet<Fingerprint> = HashSet::new();
        let wanted: HashMap<&str, &PhoneId> = chunk.iter().map(|id| (id.as_str(), id)).collect();
        let keep = |seen: &mut HashMap<PhoneId, PhoneOutcome>, phones: Option<Vec<Phone>>| {
            for p in phones.unwrap_or_default() {
                let Some(&id) = p.phone_id.as_deref().and_then(|i| wanted.get(i)) else {
                    continue;
                };
                seen.entry(id.clone())
                    .or_insert_with(|| phone_outcome(id.clone(), &p));
            }
        };
        // Listing these ids takes at least this many pages: ask for them together rather than
        // waiting for the first page's `count`.
        let guess = chunk
            .len()
            .div_ceil(LIST_PAGE_SIZE)
            .clamp(1, MAX_LISTING_PAGES);
        let mut head: Vec<Option<PhoneList>> = (0..guess).map(|_| None).collect();
        {
            let mut pages =
                std::pin::pin!(self.fan_out((0..guess).collect(), |i: usize| async move {
                    (
                        i,
                        self.list_raw((i * LIST_PAGE_SIZE) as u64, LIST_PAGE_SIZE)
                            .await,
                    )
                }));
            while let Some((i, page)) = pages.next().await {
                head[i] = Some(page?);
            }
        }
        let count = head.first().and_then(|p| p.as_ref()?.count);
        // Records covered by the leading full pages; a short (or repeated) page is the end of
        // the data.
        let mut covered = 0u64;
        let mut end_seen = false;
        for page in head.into_iter().flatten() {
            let fp = fingerprint(&page);
            if !end_seen {
                if fp.0 > 0 && !pages_seen.insert(fp) {
                    end_seen = true;
                } else {
                    covered += fp.0 as u64;
                    end_seen = fp.0 < LIST_PAGE_SIZE;
                }
            }
            keep(&mut seen, page.phones);
        }
        let remaining = chunk.iter().filter(|id| !seen.contains_key(*id)).count();
        let complete = end_seen || count.is_some_and(|c| c <= covered);
        if remaining > 0 && !complete {
            let pages_left = count.map(|c| {
                usize::try_from(c.saturating_sub(covered).div_ceil(LIST_PAGE_SIZE as u64))
                    .unwrap_or(usize::MAX)
            });
            let use_details = details_if_cheaper && pages_left.is_none_or(|p| p >= remaining);
            if !use_details {
                let budget = pages_left
                    .unwrap_or(usize::MAX)
                    .min(MAX_LISTING_PAGES - guess.min(MAX_LISTING_PAGES));
                // With a known total, the pages are fetched concurrently; without one, one by
                // one (the end is only known from a short page).
                let concurrency = if count.is_some() { self.concurrency } else { 1 };
                // The first offset known to lie past the end of the data.
                let end = AtomicU64::new(count.unwrap_or(u64::MAX));
                let offsets = (0..budget)
                    .map(|i| {
                        covered.saturating_add((i as u64).saturating_mul(LIST_PAGE_SIZE as u64))
                    })
                    .take_while(|o| *o < end.load(Ordering::SeqCst));
                let mut pages = futures::stream::iter(offsets)
                    .map(|o| async move { (o, self.list_raw(o, LIST_PAGE_SIZE).await) })
                    .buffer_unordered(concurrency);
                while let Some((offset, page)) = pages.next().await {
                    let page = page?;
                    let fp = fingerprint(&page);
                    if let Some(total) = page.count {
                        end.fetch_min(total, Ordering::SeqCst);
                    }
                    if fp.0 > 0 && !pages_seen.insert(fp) {
                        // The same page again: the vendor ignores the offset.
                        end.fetch_min(offset, Ordering::SeqCst);
                        continue;
                    }
                    if fp.0 < LIST_PAGE_SIZE {
                        end.fetch_min(offset.saturating_add(fp.0 as u64), Ordering::SeqCst);
                    }
                    keep(&mut seen, page.phones);
                    if seen.len() == wanted.len() {
                        break;
                    }
                }
            }
        }
        // Whatever the listing did not show is read on its own.
        let unseen: Vec<PhoneId> = chunk
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .cloned()
            .collect();
        let mut refusal: Option<Error> = None;
        if !unseen.is_empty() {
            let mut details = std::pin::pin!(self.fan_out(unseen, |id: PhoneId| async move {
                (id.clone(), self.detail(id).await)
            }));
            while let Some((id, res)) = details.next().await {
                let outcome = match res {
                    Ok(o) => o,
                    Err(e) => {
                        if e.kind().is_auth() {
                            refusal = Some(e.clone());
                        }
                        PhoneOutcome::failed(id.clone(), e)
                    }
                };
                seen.insert(id, outcome);
                if refusal.is_some() {
                    break;
                }
            }
        }
        Ok(chunk
            .iter()
            .map(|id| {
                seen.remove(id).unwrap_or_else(|| {
                    let e = refusal
                        .as_ref()
                        .map(|r| not_sent(VENDOR, r))
                        .unwrap_or_else(|| {
                            Error::new(
                                ErrorKind::MissingFromResponse,
                                format!("phone `{id}` was neither listed nor read"),
                            )
                            .with_vendor(VENDOR)
                        });
                    PhoneOutcome::failed(id.clone(), e)
                })
            })
            .collect())
    }
}
