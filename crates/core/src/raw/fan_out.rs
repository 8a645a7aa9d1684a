//! Fan-out under the credential rule: until the credentials are proven, one request goes alone.

use std::future::Future;

use futures::{Stream, StreamExt};

/// `f` over `items`, `concurrency` at a time — except that while the credentials are not yet
/// `proven` the first item goes alone, so that a wrong key is sent once rather than
/// `concurrency` times (Huawei locks an AK/SK after five failures). The rule
/// [`BatchEngine::run_chunks`](crate::BatchEngine::run_chunks) applies to chunks, for the
/// requests a backend fans out itself (list pages, detail reads, job look-ups).
///
/// Nothing starts before the stream is polled, so a consumer that stops at a refusal starts
/// nothing after it. Results come in completion order.
pub fn fan_out<'a, I, T, F, Fut>(
    proven: bool,
    concurrency: usize,
    items: Vec<I>,
    f: F,
) -> impl Stream<Item = T> + 'a
where
    I: 'a,
    T: 'a,
    F: Fn(I) -> Fut + Clone + 'a,
    Fut: Future<Output = T> + 'a,
{
    let mut items = items.into_iter();
    let probe = if proven { None } else { items.next() };
    let alone = f.clone();
    futures::stream::iter(probe).then(alone).chain(
        futures::stream::iter(items)
            .map(f)
            .buffer_unordered(concurrency.max(1)),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    async fn peak(proven: bool) -> (Vec<usize>, usize) {
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let (now, peak) = (&now, &peak);
        let mut got: Vec<usize> = fan_out(proven, 3, (0..7).collect(), |i: usize| async move {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(n, Ordering::SeqCst);
            if i == 0 {
                assert!(proven || n == 1, "the probe went alone");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            i
        })
        .collect()
        .await;
        got.sort_unstable();
        (got, peak.load(Ordering::SeqCst))
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_request_goes_alone_until_the_credentials_are_proven() {
        assert_eq!(peak(false).await, ((0..7).collect(), 3));
        assert_eq!(peak(true).await, ((0..7).collect(), 3));
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_starts_after_the_consumer_stops() {
        let started = AtomicUsize::new(0);
        let started = &started;
        let mut s = std::pin::pin!(fan_out(
            false,
            2,
            (0..10).collect(),
            |i: usize| async move {
                started.fetch_add(1, Ordering::SeqCst);
                i
            }
        ));
        assert_eq!(s.next().await, Some(0));
        assert_eq!(started.load(Ordering::SeqCst), 1);
    }
}
