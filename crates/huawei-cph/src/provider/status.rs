//! `status` by strategy — CPH has no batch status call: one detail call per phone, or list
//! pages filtered client-side, or whichever costs fewer calls — and the reads behind it, which
//! `wait` uses too ([`HuaweiCphProvider::read_states`]).

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use cloudphone_core::raw::{not_sent, undecodable, Idempotency};
use cloudphone_core::{BatchReport, Error, ErrorKind, Operation, PhoneId, PhoneOutcome, Result};
use futures::StreamExt;
use reqwest::Method;

use super::decode::detail_outcome;
use super::{Fingerprint, HuaweiCphProvider, LIST_PAGE_SIZE, MAX_LISTING_PAGES};
use crate::config::StatusStrategy;
use crate::wire::{Phone, PhoneList};
use crate::wire_rows::PhoneRows;
use crate::VENDOR;

/// A list page as the status reads keep it: its length and fingerprint, the total it
/// reported, and the wanted phones on it (slot, outcome).
struct ListPage {
    fingerprint: Fingerprint,
    count: Option<u64>,
    hits: Vec<(usize, PhoneOutcome)>,
}

/// The phones a listing looks for: their slots by id.
///
/// When the ids are in the listing's order (the ids of a fleet as it was listed, the common
/// case), the phone at offset `o` is `ids[o]`: found with one comparison. The map of the whole
/// fleet is built only when a phone is not where its offset says (100,000 ids take ~12 ms).
struct Wanted<'a> {
    ids: &'a [PhoneId],
    by_id: OnceLock<HashMap<&'a str, usize>>,
}

impl<'a> Wanted<'a> {
    fn new(ids: &'a [PhoneId]) -> Self {
        Wanted {
            ids,
            by_id: OnceLock::new(),
        }
    }

    /// The slot of phone `id`, listed at offset `at`, if it is wanted.
    fn slot(&self, at: usize, id: &str) -> Option<usize> {
        match self.ids.get(at) {
            Some(g) if g.as_str() == id => Some(at),
            _ => self
                .by_id
                .get_or_init(|| {
                    self.ids
                        .iter()
                        .enumerate()
                        .map(|(i, id)| (id.as_str(), i))
                        .collect()
                })
                .get(id)
                .copied(),
        }
    }
}

/// Decodes a list page at `offset` into the wanted phones on it, with borrowed strings: the
/// other phones' records and every field but id, name and state are skipped unbuilt.
fn decode_list_page(body: &[u8], offset: usize, wanted: &Wanted<'_>) -> Result<ListPage> {
    let ids = wanted.ids;
    let page: PhoneRows<'_> =
        serde_json::from_slice(body).map_err(|e| undecodable(VENDOR, "answer", e))?;
    let rows = page.phones.unwrap_or_default();
    let mut h = DefaultHasher::new();
    let mut hits = Vec::new();
    for (j, row) in rows.iter().enumerate() {
        // Hashed as `decode::fingerprint` hashes an `Option<String>` (an `Option<&str>`
        // hashes the same), without a `String` per listed phone.
        row.phone_id.as_deref().hash(&mut h);
        let Some(id) = row.phone_id.as_deref() else {
            continue;
        };
        let Some(slot) = wanted.slot(offset.saturating_add(j), id) else {
            continue;
        };
        let mut o = PhoneOutcome::done(ids[slot].clone()).with_state(row.state());
        // Kept verbatim, escape sequences and all: whoever prints it escapes it.
        if let Some(n) = row.phone_name.as_deref().filter(|n| !n.is_empty()) {
            o = o.with_name(n);
        }
        hits.push((slot, o));
    }
    Ok(ListPage {
        fingerprint: (rows.len(), h.finish()),
        count: page.count,
        hits,
    })
}

impl HuaweiCphProvider {
    /// `status` by the configured strategy.
    pub(super) async fn status_by_strategy(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        // Only "one distinct valid id, or more" matters here: no set of the whole fleet.
        let mut valid = phones.iter().filter(|p| p.invalid_reason().is_none());
        let distinct = match valid.next() {
            None => 0,
            Some(first) if valid.any(|p| p != first) => 2,
            Some(_) => 1,
        };
        match self.strategy_for(distinct) {
            StatusStrategy::Detail => {
                self.engine()
                    .run_each(Operation::Status, phones, |id| self.detail(id))
                    .await
            }
            s => {
                let details_if_cheaper = s == StatusStrategy::Auto;
                self.engine()
                    .run_chunks(Operation::Status, phones, usize::MAX, |chunk| async move {
                        let mut slots: Vec<Option<PhoneOutcome>> = Vec::new();
                        slots.resize_with(chunk.len(), || None);
                        self.list_states(&chunk, details_if_cheaper, &mut |slot, o| {
                            slots[slot] = Some(o);
                        })
                        .await?;
                        // `list_states` fills every slot; collected in place.
                        Ok(slots
                            .into_iter()
                            .enumerate()
                            .map(|(i, o)| {
                                o.unwrap_or_else(|| {
                                    let e = Error::new(
                                        ErrorKind::MissingFromResponse,
                                        format!("phone `{}` was neither listed nor read", chunk[i]),
                                    )
                                    .with_vendor(VENDOR);
                                    PhoneOutcome::failed(chunk[i].clone(), e)
                                })
                            })
                            .collect())
                    })
                    .await
            }
        }
    }

    /// The strategy for reading `n` phones: one phone is always a detail call.
    fn strategy_for(&self, n: usize) -> StatusStrategy {
        match self.strategy {
            StatusStrategy::Auto if n <= 1 => StatusStrategy::Detail,
            s => s,
        }
    }

    /// Reads the states of `ids` (distinct, valid) by the configured strategy, handing each
    /// phone's outcome to `seen` exactly once, in no particular order: a state read, or the
    /// failure to read it. `Err` when a list page fails (nothing more is read then).
    pub(super) async fn read_states(
        &self,
        ids: &[PhoneId],
        seen: &mut (dyn FnMut(usize, PhoneOutcome) + Send),
    ) -> Result<()> {
        match self.strategy_for(ids.len()) {
            StatusStrategy::Detail => {
                self.details(ids, (0..ids.len()).collect(), seen).await;
                Ok(())
            }
            s => self.list_states(ids, s == StatusStrategy::Auto, seen).await,
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
        let url = self.list_url(offset, limit)?;
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

    fn list_url(&self, offset: u64, limit: usize) -> Result<reqwest::Url> {
        self.client.url(
            &["phones"],
            &[("offset", offset.to_string()), ("limit", limit.to_string())],
        )
    }

    /// One list page at `offset`, decoded into the wanted phones on it.
    async fn list_rows(&self, offset: u64, wanted: &Wanted<'_>) -> Result<ListPage> {
        let url = self.list_url(offset, LIST_PAGE_SIZE)?;
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        let decode = |body: &[u8]| decode_list_page(body, at, wanted);
        Ok(self
            .client
            .send_with(
                "list-phones",
                Idempotency::ReadOnly,
                Method::GET,
                &url,
                None,
                &decode,
            )
            .await?
            .value)
    }

    /// Detail calls for the phones at `slots` of `ids`, `concurrency` at a time, each outcome
    /// handed to `seen`. A refusal stops them: the phones not read get it as their failure.
    async fn details(
        &self,
        ids: &[PhoneId],
        slots: Vec<usize>,
        seen: &mut (dyn FnMut(usize, PhoneOutcome) + Send),
    ) {
        let mut pending: HashSet<usize> = slots.iter().copied().collect();
        let mut refusal: Option<Error> = None;
        {
            let mut details = std::pin::pin!(self.fan_out(slots, |slot: usize| async move {
                (slot, self.detail(ids[slot].clone()).await)
            }));
            while let Some((slot, res)) = details.next().await {
                let outcome = match res {
                    Ok(o) => o,
                    Err(e) => {
                        if e.kind().is_auth() {
                            refusal = Some(e.clone());
                        }
                        PhoneOutcome::failed(ids[slot].clone(), e)
                    }
                };
                pending.remove(&slot);
                seen(slot, outcome);
                if refusal.is_some() {
                    break;
                }
            }
        }
        let mut left: Vec<usize> = pending.into_iter().collect();
        left.sort_unstable();
        for slot in left {
            let id = &ids[slot];
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
            seen(slot, PhoneOutcome::failed(id.clone(), e));
        }
    }

    /// States of `ids` from list pages (all of them when `details_if_cheaper` is false), or
    /// from the first pages plus detail calls when those are fewer; each outcome goes to
    /// `seen` once.
    ///
    /// Paging stops at a short page, at the total the first page reported (a later page may
    /// lower it, never raise it), at a page seen before (a vendor ignoring the offset), and
    /// after [`MAX_LISTING_PAGES`]. A phone the listing did not show is read with its detail
    /// call before it is called not found: offset pages can skip a phone while the project
    /// changes. Pages are decoded into the wanted phones only: a 100,000-phone account is
    /// never held as phone records, nor as a map of outcomes.
    async fn list_states(
        &self,
        ids: &[PhoneId],
        details_if_cheaper: bool,
        seen: &mut (dyn FnMut(usize, PhoneOutcome) + Send),
    ) -> Result<()> {
        let wanted = Wanted::new(ids);
        let mut done = vec![false; ids.len()];
        let mut found = 0usize;
        let mut keep = |hits: Vec<(usize, PhoneOutcome)>, found: &mut usize| {
            for (slot, o) in hits {
                if !std::mem::replace(&mut done[slot], true) {
                    *found += 1;
                    seen(slot, o);
                }
            }
        };
        let mut pages_seen: HashSet<Fingerprint> = HashSet::new();
        // Listing these ids takes at least this many pages: ask for them together rather than
        // waiting for the first page's `count`.
        let guess = ids
            .len()
            .div_ceil(LIST_PAGE_SIZE)
            .clamp(1, MAX_LISTING_PAGES);
        let wanted = &wanted;
        // The leading pages' shapes, in offset order; their phones are taken as they arrive.
        let mut head: Vec<Option<(Fingerprint, Option<u64>)>> = vec![None; guess];
        {
            let mut pages = std::pin::pin!(self
                .fan_out((0..guess).collect(), |i: usize| async move {
                    (i, self.list_rows((i * LIST_PAGE_SIZE) as u64, wanted).await)
                }));
            while let Some((i, page)) = pages.next().await {
                let page = page?;
                head[i] = Some((page.fingerprint, page.count));
                keep(page.hits, &mut found);
            }
        }
        let count = head.first().and_then(|p| p.as_ref()?.1);
        // Records covered by the leading full pages; a short (or repeated) page is the end of
        // the data.
        let mut covered = 0u64;
        let mut end_seen = false;
        for (fp, _) in head.into_iter().flatten() {
            if end_seen {
                break;
            }
            if fp.0 > 0 && !pages_seen.insert(fp) {
                end_seen = true;
            } else {
                covered += fp.0 as u64;
                end_seen = fp.0 < LIST_PAGE_SIZE;
            }
        }
        let remaining = ids.len() - found;
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
                    .map(|o| async move { (o, self.list_rows(o, wanted).await) })
                    .buffer_unordered(concurrency);
                while let Some((offset, page)) = pages.next().await {
                    let page = page?;
                    let fp = page.fingerprint;
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
                    keep(page.hits, &mut found);
                    if found == ids.len() {
                        break;
                    }
                }
            }
        }
        // Whatever the listing did not show is read on its own.
        let unseen: Vec<usize> = (0..ids.len()).filter(|&i| !done[i]).collect();
        if !unseen.is_empty() {
            self.details(ids, unseen, seen).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list page at offset 2 of a fleet listed as p0, p1, p2, p3, p4.
    const PAGE: &[u8] = br#"{"count":5,"phones":[
        {"phone_id":"p2","phone_name":"two","status":2},
        {"phone_id":"p3","status":8},
        {"phone_id":"p4","status":2}]}"#;

    fn hits(ids: &[&str]) -> Vec<(String, String, String)> {
        let ids: Vec<PhoneId> = ids.iter().map(|s| PhoneId::from(*s)).collect();
        let wanted = Wanted::new(&ids);
        let page = decode_list_page(PAGE, 2, &wanted).unwrap();
        assert_eq!((page.fingerprint.0, page.count), (3, Some(5)));
        let mut hits: Vec<_> = page
            .hits
            .into_iter()
            .map(|(slot, o)| {
                assert_eq!(o.phone, ids[slot], "the slot is the phone's");
                let raw = o.state.map(|s| s.raw.into_owned()).unwrap_or_default();
                (o.phone.to_string(), raw, o.name.unwrap_or_default())
            })
            .collect();
        hits.sort();
        hits
    }

    #[test]
    fn a_page_finds_its_phones_in_listing_order_or_any_other() {
        let want = vec![
            ("p2".to_owned(), "2".to_owned(), "two".to_owned()),
            ("p4".to_owned(), "2".to_owned(), String::new()),
        ];
        // In listing order: found where the offset says.
        assert_eq!(hits(&["p0", "p1", "p2", "p9", "p4"]), want);
        // In another order, or a subset: found by id.
        assert_eq!(hits(&["p4", "p2"]), want);
        assert_eq!(hits(&["p4", "x", "p2", "p1", "p0"]), want);
    }
}
