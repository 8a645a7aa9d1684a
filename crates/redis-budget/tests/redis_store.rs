//! The Redis store against a real `redis-server` on a free loopback port (skipped, saying why,
//! when none is installed): the sliding-window guarantee across connections, lock-outs, and
//! the engine failing closed when the store goes away.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cloudphone_core::rate_store::{
    Admission, BudgetKey, LockScope, Lockout, RateLimitStore, SharedStore,
};
use cloudphone_core::raw::{BatchEngine, EngineConfig, Idempotency, RateScope};
use cloudphone_core::{Error, ErrorKind, Operation, PhoneId, PhoneOutcome, RateBudget};
use cloudphone_redis::server::RedisServer;
use cloudphone_redis::RedisStore;

fn server(test: &str) -> Option<RedisServer> {
    match RedisServer::start() {
        Ok(s) => Some(s),
        Err(why) => {
            println!("skipped {test}: {why}");
            None
        }
    }
}

fn key(account: &str, endpoint: &'static str) -> BudgetKey {
    BudgetKey::new("v", Arc::from(account), endpoint, RateScope::Endpoint)
}

/// Acquires as the engine does: ask, sleep the wait, ask again.
async fn acquire(store: &RedisStore, key: &BudgetKey, budgets: &[RateBudget]) {
    for _ in 0..10_000 {
        match store.try_acquire(key, budgets).await.unwrap() {
            Admission::Granted => return,
            Admission::Wait(w) => tokio::time::sleep(w).await,
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("never granted");
}

/// The server's own record of the calls granted: their times in µs, ascending.
async fn granted_times(url: &str, log: &str) -> Vec<i64> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let entries: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(log)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .unwrap();
    entries.into_iter().map(|(_, t)| t as i64).collect()
}

fn max_in_window(times: &[i64], window_us: i64) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < window_us)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_sharing_a_budget_never_exceed_any_window() {
    let Some(redis) = server("connections_sharing_a_budget_never_exceed_any_window") else {
        return;
    };
    let budgets = [RateBudget::per_second(10)];
    // Four stores: four connections, as four processes would have.
    let stores: Vec<Arc<RedisStore>> = (0..4)
        .map(|_| Arc::new(RedisStore::open(&redis.url()).unwrap()))
        .collect();
    let k = key("acct", "/stop");
    let start = std::time::Instant::now();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (store, k) = (stores[i % 4].clone(), k.clone());
            tokio::spawn(async move { acquire(&store, &k, &budgets).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let times = granted_times(&redis.url(), "cloudphone:{v:acct}:log:/stop:1000").await;
    // Entries older than the window were trimmed by later acquires: what is left is the last
    // window or more; every window in it holds at most the limit.
    assert!(!times.is_empty());
    assert!(max_in_window(&times, 1_000_000) <= 10, "{times:?}");
    // 40 calls at 10 per second: the fourth batch of ten waits three windows.
    assert!(elapsed >= Duration::from_millis(2_900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
}

#[tokio::test]
async fn every_budget_holds_and_a_full_one_says_how_long_to_wait() {
    let Some(redis) = server("every_budget_holds_and_a_full_one_says_how_long_to_wait") else {
        return;
    };
    let store = RedisStore::open(&redis.url()).unwrap().with_prefix("t");
    let budgets = [RateBudget::per_second(3), RateBudget::per_minute(5)];
    let k = key("acct", "/status");
    for _ in 0..3 {
        assert_eq!(
            store.try_acquire(&k, &budgets).await.unwrap(),
            Admission::Granted
        );
    }
    let Admission::Wait(w) = store.try_acquire(&k, &budgets).await.unwrap() else {
        panic!("the per-second budget is full");
    };
    assert!(
        w > Duration::from_millis(800) && w <= Duration::from_secs(1),
        "{w:?}"
    );
    tokio::time::sleep(w).await;
    for _ in 0..2 {
        assert_eq!(
            store.try_acquire(&k, &budgets).await.unwrap(),
            Admission::Granted
        );
    }
    // Five in the minute: the per-minute budget now waits about a minute.
    let Admission::Wait(w) = store.try_acquire(&k, &budgets).await.unwrap() else {
        panic!("the per-minute budget is full");
    };
    assert!(w > Duration::from_secs(58), "{w:?}");
    // Other endpoints and accounts have budgets of their own.
    assert_eq!(
        store
            .try_acquire(&key("acct", "/stop"), &budgets)
            .await
            .unwrap(),
        Admission::Granted
    );
    assert_eq!(
        store
            .try_acquire(&key("other", "/status"), &budgets)
            .await
            .unwrap(),
        Admission::Granted
    );
}

#[tokio::test]
async fn lock_outs_bind_every_store_until_they_expire() {
    let Some(redis) = server("lock_outs_bind_every_store_until_they_expire") else {
        return;
    };
    let (a, b) = (
        RedisStore::open(&redis.url()).unwrap(),
        RedisStore::open(&redis.url()).unwrap(),
    );
    let budgets = [RateBudget::per_second(100)];
    let endpoint_lock = Lockout::new(
        LockScope::Endpoint,
        Some("40014".into()),
        "hourly limit exceeded",
        Duration::from_millis(400),
    );
    a.lock_out(&key("acct", "/stop"), &endpoint_lock)
        .await
        .unwrap();
    match b
        .try_acquire(&key("acct", "/stop"), &budgets)
        .await
        .unwrap()
    {
        Admission::LockedOut(l) => {
            assert_eq!(l.scope, LockScope::Endpoint);
            assert_eq!(l.vendor_code.as_deref(), Some("40014"));
            assert_eq!(l.message, "hourly limit exceeded");
            assert!(l.duration <= Duration::from_millis(400) && l.duration > Duration::ZERO);
        }
        other => panic!("{other:?}"),
    }
    // Another endpoint of the account is not locked.
    assert_eq!(
        b.try_acquire(&key("acct", "/status"), &budgets)
            .await
            .unwrap(),
        Admission::Granted
    );
    // A shorter lock-out does not shorten a longer one.
    let short = Lockout::new(
        LockScope::Endpoint,
        None,
        "short",
        Duration::from_millis(50),
    );
    a.lock_out(&key("acct", "/stop"), &short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(
        b.try_acquire(&key("acct", "/stop"), &budgets).await.unwrap(),
        Admission::LockedOut(l) if l.message == "hourly limit exceeded"
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        b.try_acquire(&key("acct", "/stop"), &budgets)
            .await
            .unwrap(),
        Admission::Granted
    );
    // An account lock-out covers every endpoint, of this account only.
    let refused = Lockout::new(
        LockScope::Account,
        Some("APIGW.0301".into()),
        "bad AK/SK",
        Duration::from_secs(60),
    );
    a.lock_out(&key("acct", "/stop"), &refused).await.unwrap();
    for endpoint in ["/stop", "/status"] {
        assert!(matches!(
            b.try_acquire(&key("acct", endpoint), &budgets).await.unwrap(),
            Admission::LockedOut(l) if l.scope == LockScope::Account
        ));
    }
    assert_eq!(
        b.try_acquire(&key("other", "/stop"), &budgets)
            .await
            .unwrap(),
        Admission::Granted
    );
}

#[tokio::test]
async fn an_unreachable_store_is_an_error_naming_it() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let store = RedisStore::open(&url).unwrap();
    let e = store.ping().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    let shown = format!("redis://:***@127.0.0.1:{port}/0");
    assert!(e.message().contains(&shown), "{e}");
    assert!(e.message().contains("unreachable"), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    let e = store
        .try_acquire(&key("a", "/x"), &[RateBudget::per_second(1)])
        .await
        .unwrap_err();
    assert!(e.message().contains(&shown), "{e}");
}

fn engine(store: &Arc<RedisStore>, budgets: Vec<RateBudget>) -> BatchEngine {
    let store: Arc<dyn RateLimitStore> = store.clone();
    BatchEngine::new(
        "v",
        EngineConfig::default()
            .concurrency(4)
            .rate_limits(budgets, RateScope::Endpoint)
            .rate_limit_store(Some(SharedStore::from(store)))
            .account("acct"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_gone_mid_run_fails_closed_and_nothing_is_unknown() {
    let Some(mut redis) = server("a_store_gone_mid_run_fails_closed_and_nothing_is_unknown") else {
        return;
    };
    let store = Arc::new(RedisStore::open(&redis.url()).unwrap());
    let engine = engine(&store, vec![RateBudget::per_second(1000)]);
    let sent = AtomicUsize::new(0);
    let phones: Vec<PhoneId> = (0..4).map(|i| PhoneId::from(format!("p{i}"))).collect();
    let run = |chunk: Vec<PhoneId>| {
        let (engine, sent) = (&engine, &sent);
        async move {
            engine
                .call("/reset", Idempotency::StateChanging, || async {
                    sent.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
                .await?;
            Ok(chunk.into_iter().map(PhoneOutcome::pending).collect())
        }
    };
    let report = engine
        .run_chunks(Operation::Reset, &phones, 1, run)
        .await
        .unwrap();
    assert_eq!(report.summary().pending, 4);
    assert_eq!(sent.load(Ordering::SeqCst), 4);

    redis.stop();
    let report = engine
        .run_chunks(Operation::Reset, &phones, 1, run)
        .await
        .unwrap();
    assert_eq!(
        sent.load(Ordering::SeqCst),
        4,
        "nothing is sent without a budget"
    );
    for o in &report.outcomes {
        assert!(!o.is_unknown(), "{o:?}");
        let e = o.error().expect("failed");
        assert!(e.is_not_applied() && !e.may_have_applied(), "{e}");
        assert!(e.message().contains(&store_name(&store)), "{e}");
        assert!(e.message().contains("not sent"), "{e}");
    }
}

fn store_name(store: &RedisStore) -> String {
    store.describe()
}

#[tokio::test]
async fn a_refusal_and_a_vendor_lock_one_engine_meets_stop_the_others() {
    let Some(redis) = server("a_refusal_and_a_vendor_lock_one_engine_meets_stop_the_others") else {
        return;
    };
    let (sa, sb) = (
        Arc::new(RedisStore::open(&redis.url()).unwrap()),
        Arc::new(RedisStore::open(&redis.url()).unwrap()),
    );
    let (a, b) = (engine(&sa, Vec::new()), engine(&sb, Vec::new()));
    let sent = AtomicUsize::new(0);
    let ok = || async {
        sent.fetch_add(1, Ordering::SeqCst);
        Ok(())
    };

    // A meets GeeLark's two-hour lock of one API: B does not call that API, only the others.
    let locked = a
        .call("/stop", Idempotency::ReadOnly, || async {
            Err::<(), _>(
                Error::new(ErrorKind::RateLimited, "hourly limit exceeded")
                    .with_vendor_code("40014")
                    .with_temporary(false)
                    .with_lockout(Duration::from_secs(7200)),
            )
        })
        .await
        .unwrap_err();
    assert_eq!(locked.vendor_code(), Some("40014"));
    let e = b
        .call("/stop", Idempotency::ReadOnly, ok)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.vendor_code(), Some("40014"));
    assert!(e.is_not_applied() && !e.is_temporary(), "{e}");
    assert!(e.message().contains("about 120 min left"), "{e}");
    assert_eq!(sent.load(Ordering::SeqCst), 0);
    b.call("/status", Idempotency::ReadOnly, ok).await.unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), 1);

    // A's credentials are refused: B sends nothing more with them, on any endpoint.
    let refused = a
        .guarded(a.call("/status", Idempotency::ReadOnly, || async {
            Err::<(), _>(
                Error::new(ErrorKind::Unauthenticated, "signature mismatch")
                    .with_vendor_code("APIGW.0301")
                    .with_not_applied(true),
            )
        }))
        .await
        .unwrap_err();
    assert!(refused.kind().is_auth());
    let e = b
        .guarded(b.call("/status", Idempotency::ReadOnly, ok))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.vendor_code(), Some("APIGW.0301"));
    assert!(e.message().contains("signature mismatch"), "{e}");
    assert!(e.message().contains(&sb.describe()), "{e}");
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    // B honours it until the lock-out ends, not for good.
    assert!(b.refusal().is_some());
}
