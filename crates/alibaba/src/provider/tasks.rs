//! `DescribeTasks`: by child task ids (`TaskIds.N`, 100 per call) and by the request id of a
//! start or stop (`InvokeId`, its instance tasks: `Level=2`), always with `MaxResults=100` (the
//! default is 10) and following `NextToken` within bounds; and `jobs` on top.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cloudphone_core::raw::Idempotency;
use cloudphone_core::{Error, ErrorKind, JobInfo, JobRef, JobState, Result};
use futures::StreamExt;

use super::decode::{is_invoke, job_infos};
use super::{AlibabaProvider, DESCRIBE_TASKS, EXTRA_PAGES, PAGE_SIZE};
use crate::client::Params;
use crate::wire::Task;
use crate::VENDOR;

/// Tasks found by id (as `keep` made of each), and the error that cut the search short, if any
/// (a refusal stops it at once).
/// Instance tasks found per request id and phone, and the error that cut the search short.
pub(crate) type ByInvoke<V = Task> = (HashMap<String, HashMap<String, V>>, Option<Error>);

impl AlibabaProvider {
    /// Every page of one query, within `max_pages`; a repeated token ends it.
    async fn task_pages(&self, base: Params, max_pages: usize) -> Result<Vec<Task>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut tokens: HashSet<String> = HashSet::new();
        for _ in 0..max_pages.max(1) {
            let params = base.clone().opt("NextToken", token.as_deref());
            let page = self
                .client
                .call(DESCRIBE_TASKS, Idempotency::ReadOnly, &params, |body, _| {
                    crate::wire_rows::task_page(body)
                })
                .await?;
            out.extend(page.tasks);
            match page.next {
                Some(next) if tokens.insert(next.clone()) => token = Some(next),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The tasks of `wanted` (each task id with the caller's slot for it: a phone in a wait, a
    /// job in a look-up), 100 ids per call, handed to `seen` page by page as they arrive: `Ok(Some(task))` for a task
    /// listed, `Ok(None)` for one its page left out, `Err` for the phones of a page that
    /// failed. Nothing fleet-sized is kept (a map of 100,000 tasks was the largest thing a
    /// fleet wait held). A refusal of the credentials stops the look-up and is returned; the
    /// phones not reached are not handed to `seen`.
    pub(super) async fn watch_tasks(
        &self,
        wanted: Vec<(Arc<str>, usize)>,
        seen: &mut (dyn FnMut(usize, Result<Option<Task>>) + Send),
    ) -> Option<Error> {
        let chunks: Vec<Vec<(Arc<str>, usize)>> =
            wanted.chunks(PAGE_SIZE).map(<[_]>::to_vec).collect();
        drop(wanted);
        let mut pages = std::pin::pin!(self.fan_out(
            chunks,
            |chunk: Vec<(Arc<str>, usize)>| async move {
                let base = Params::new()
                    .list("TaskIds", chunk.iter().map(|(t, _)| &**t))
                    .set("MaxResults", PAGE_SIZE);
                let tasks = self.task_pages(base, 1 + EXTRA_PAGES).await;
                (chunk, tasks)
            }
        ));
        while let Some((chunk, res)) = pages.next().await {
            match res {
                Ok(tasks) => {
                    // A phone's task id → its place in the chunk; a task id asked for twice
                    // is the first phone's (the other is read by state).
                    let mut at: HashMap<&str, usize> = HashMap::with_capacity(chunk.len());
                    for (k, (t, _)) in chunk.iter().enumerate() {
                        at.entry(&**t).or_insert(k);
                    }
                    let mut listed = vec![false; chunk.len()];
                    for t in tasks {
                        let k = t.task_id.as_deref().and_then(|id| at.get(id)).copied();
                        if let Some(k) = k.filter(|&k| !listed[k]) {
                            listed[k] = true;
                            seen(chunk[k].1, Ok(Some(t)));
                        }
                    }
                    for (k, (_, slot)) in chunk.iter().enumerate() {
                        if !listed[k] {
                            seen(*slot, Ok(None));
                        }
                    }
                }
                Err(e) if e.kind().is_auth() => return Some(e),
                Err(e) => {
                    for (_, slot) in &chunk {
                        seen(*slot, Err(e.clone()));
                    }
                }
            }
        }
        None
    }

    /// The instance tasks of start and stop requests, by `InvokeId` (`Level=2`); `phones` is
    /// each request id, once, with how many phones it carried (how many pages to allow), in
    /// the order they are asked for (see [`first_seen`]).
    pub(super) async fn tasks_by_invoke<V>(
        &self,
        phones: &[(Arc<str>, usize)],
        keep: impl Fn(Task) -> V,
    ) -> ByInvoke<V> {
        let rids = phones.to_vec();
        let mut found = HashMap::new();
        let mut error = None;
        let mut pages = std::pin::pin!(self.fan_out(
            rids,
            |(rid, n): (Arc<str>, usize)| async move {
                let base = Params::new()
                    .set("InvokeId", &*rid)
                    .set("Level", 2)
                    .set("MaxResults", PAGE_SIZE);
                let pages = n.div_ceil(PAGE_SIZE) + EXTRA_PAGES;
                (rid, self.task_pages(base, pages).await)
            }
        ));
        while let Some((rid, res)) = pages.next().await {
            match res {
                Ok(tasks) => {
                    // Per request id, its phones' tasks: the request id is kept once, not
                    // once per phone.
                    let mut mine: HashMap<String, V> = HashMap::new();
                    for t in tasks {
                        // Only instance tasks of this request (a vendor may ignore a filter).
                        let ours = t.invoke_id.as_deref().is_none_or(|i| i == &*rid)
                            && t.level.is_none_or(|l| l == 2);
                        if let (true, Some(phone)) = (ours, t.instance_id.clone()) {
                            mine.entry(phone).or_insert_with(|| keep(t));
                        }
                    }
                    // Each request id is looked up once (`phones` is keyed by it).
                    if !mine.is_empty() {
                        found.insert(rid.to_string(), mine);
                    }
                }
                Err(e) if e.kind().is_auth() => return (found, Some(e)),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        (found, error)
    }

    /// The jobs asked for (see [`CloudPhoneProvider::jobs`](cloudphone_core::CloudPhoneProvider::jobs)).
    pub(super) async fn look_up(&self, jobs: &[JobRef]) -> Result<Vec<JobInfo>> {
        let mut unique: Vec<&JobRef> = Vec::new();
        let mut seen = HashSet::new();
        for j in jobs {
            if seen.insert((&j.job_id, &j.request_id)) {
                unique.push(j);
            }
        }
        // Each task id once (at the first job naming it), through the wait's own look-up.
        let mut first_of: HashMap<&str, usize> = HashMap::new();
        let wanted: Vec<(Arc<str>, usize)> = unique
            .iter()
            .enumerate()
            .filter(|(_, j)| !is_invoke(j))
            .filter(|(k, j)| *first_of.entry(j.job_id()).or_insert(*k) == *k)
            .map(|(k, j)| (j.job_id.clone(), k))
            .collect();
        let invokes: Vec<(Arc<str>, usize)> = first_seen(
            unique
                .iter()
                .filter(|j| is_invoke(j))
                .map(|j| j.job_id.clone())
                .collect(),
        )
        .into_iter()
        .map(|rid| (rid, PAGE_SIZE))
        .collect();
        // Per job of `unique`: its task, or why its page failed.
        let mut by_id: Vec<Option<Result<Task>>> = (0..unique.len()).map(|_| None).collect();
        let id_refusal = if wanted.is_empty() {
            None
        } else {
            self.watch_tasks(wanted, &mut |k, found| match found {
                Ok(Some(t)) => by_id[k] = Some(Ok(t)),
                Ok(None) => {}
                Err(e) => by_id[k] = Some(Err(e)),
            })
            .await
        };
        let refused = id_refusal;
        let (by_invoke, invoke_error) = if invokes.is_empty() || refused.is_some() {
            (HashMap::new(), None)
        } else {
            self.tasks_by_invoke(&invokes, |t| t).await
        };
        let refusal = refused.or_else(|| invoke_error.clone().filter(|e| e.kind().is_auth()));
        let mut learned = false;
        let mut infos = Vec::new();
        for &j in &unique {
            let (tasks, error): (Vec<&Task>, Option<&Error>) = if is_invoke(j) {
                let mut t: Vec<&Task> = by_invoke
                    .get(j.job_id())
                    .map(|m| m.values().collect())
                    .unwrap_or_default();
                t.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
                (t, invoke_error.as_ref())
            } else {
                match &by_id[first_of[j.job_id()]] {
                    Some(Ok(t)) => (vec![t], None),
                    Some(Err(e)) => (Vec::new(), Some(e)),
                    None => (Vec::new(), None),
                }
            };
            if !tasks.is_empty() {
                learned = true;
                infos.extend(job_infos(j, &tasks));
                continue;
            }
            let info = match (refusal.as_ref(), error) {
                (Some(r), _) => JobInfo::new(j.clone(), None, JobState::Failed, String::new())
                    .with_error(
                        Error::new(
                            ErrorKind::Unauthenticated,
                            format!(
                                "not looked up: the vendor refused the credentials ({})",
                                r.message()
                            ),
                        )
                        .with_vendor(VENDOR)
                        .with_vendor_code(r.vendor_code().unwrap_or_default().to_owned()),
                    ),
                (None, Some(e)) => JobInfo::new(j.clone(), None, JobState::Failed, String::new())
                    .with_error(e.clone()),
                (None, None) => job_infos(j, &[]).remove(0),
            };
            infos.push(info);
        }
        let infos = infos
            .into_iter()
            .map(|mut i| {
                i.error = i.error.map(|e| self.scrub(e));
                i
            })
            .collect();
        match refusal {
            Some(e) if !learned => Err(e),
            _ => Ok(infos),
        }
    }
}

/// `ids` without repeats, each at its first place. Callers give the oldest request first, so a
/// round reaches the newest tasks last, when they have had the longest to finish (sorted by id,
/// the last requests' tasks were often asked for while still running and needed a second round).
pub(super) fn first_seen<T: Ord>(mut ids: Vec<T>) -> Vec<T> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_unstable_by(|&a, &b| ids[a].cmp(&ids[b]).then(a.cmp(&b)));
    let mut repeat = vec![false; ids.len()];
    for w in order.windows(2) {
        if ids[w[0]] == ids[w[1]] {
            repeat[w[1]] = true;
        }
    }
    let mut at = 0;
    ids.retain(|_| {
        at += 1;
        !repeat[at - 1]
    });
    ids
}

#[cfg(test)]
mod tests {
    use super::first_seen;

    #[test]
    fn first_seen_drops_repeats_and_keeps_the_order_given() {
        let ids = ["t3", "t1", "t3", "t2", "t1"].map(String::from).to_vec();
        assert_eq!(first_seen(ids), ["t3", "t1", "t2"]);
        assert!(first_seen(Vec::<String>::new()).is_empty());
    }
}
