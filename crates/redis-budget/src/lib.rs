//! A [`RateLimitStore`] in Redis: every process pointed at one Redis draws from one rate budget
//! per vendor account and endpoint, and honours the lock-outs any of them recorded.
//!
//! - **One script per acquire.** The lock-outs and every budget are checked, and the call
//!   recorded, in one Lua script, so processes never race between the check and the record.
//! - **A sliding log, not a token bucket.** Each budget is a sorted set of the calls granted in
//!   its window, scored by the Redis server's clock (`TIME`, so processes agree whatever their
//!   own clocks say): no window of the budget's length ever holds more than its limit.
//! - **Keyed by account, never by secret.** Keys name the vendor and the account's fingerprint
//!   ([`account_id`](cloudphone_core::rate_store::account_id)), e.g.
//!   `cloudphone:{geelark:5f0c…}:log:/open/v1/phone/stop:60000`.
//! - **Fails closed.** When Redis cannot answer, the engine sends nothing and reports each call
//!   as not applied, with an error naming the store (its URL without the password).
//!
//! ```no_run
//! # async fn demo() -> cloudphone_core::Result<()> {
//! use cloudphone_core::rate_store::SharedStore;
//! use cloudphone_redis::RedisStore;
//!
//! let store = RedisStore::open("redis://127.0.0.1:6379/0")?;
//! store.ping().await?; // a clear error now rather than at the first call
//! let options = cloudphone_core::ClientOptions::new().with_rate_limit_store(SharedStore::new(store));
//! # let _ = options;
//! # Ok(())
//! # }
//! ```
//!
//! Plain `redis://` (TCP) and `redis+unix://` / `unix://` (a socket) URLs are accepted; TLS
//! (`rediss://`) is not built in, so that no TLS stack comes with this crate.

mod script;
pub mod server;
mod url;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cloudphone_core::rate_store::{Admission, BudgetKey, LockScope, Lockout, RateLimitStore};
use cloudphone_core::{Error, ErrorKind, RateBudget, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use script::{window_ms, Keys};
pub use url::redact_url;

/// The key prefix unless told otherwise.
pub const DEFAULT_PREFIX: &str = "cloudphone";
/// How long connecting, and every command, may take before the store counts as unreachable.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Budgets and lock-outs in Redis. Cheap to share: one connection, multiplexed, re-established
/// when it drops (calls made while it is down fail closed).
pub struct RedisStore {
    client: redis::Client,
    /// The URL without its password.
    name: String,
    password: Option<String>,
    prefix: String,
    timeout: Duration,
    conn: OnceCell<ConnectionManager>,
    /// Makes the members this process adds unique among all processes.
    nonce: String,
    counter: AtomicU64,
    acquire: Script,
    lock: Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.name)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A lock-out as stored (the key's `PX` expiry is its duration).
#[derive(Serialize, Deserialize)]
struct Held {
    code: Option<String>,
    message: String,
}

impl RedisStore {
    /// A store at `url` (`redis://[user:password@]host[:port][/db]`). Nothing is sent yet: the
    /// connection opens at the first call, or at [`RedisStore::ping`]. The error of a URL that
    /// cannot be used names it without its password.
    pub fn open(url: &str) -> Result<Self> {
        let name = redact_url(url);
        let fail = |why: String| {
            Error::new(
                ErrorKind::Config,
                format!("rate-limit store `{name}`: {why}"),
            )
        };
        if url.starts_with("rediss://") || url.starts_with("valkeys://") {
            return Err(fail(
                "TLS (`rediss://`) is not supported by this build; use `redis://` on a trusted \
                 network or a local socket (`redis+unix:///path`)"
                    .into(),
            ));
        }
        let client = redis::Client::open(url).map_err(|e| fail(scrub(&e.to_string(), None)))?;
        let password = client
            .get_connection_info()
            .redis_settings()
            .password()
            .map(str::to_owned);
        Ok(RedisStore {
            client,
            name,
            password,
            prefix: DEFAULT_PREFIX.into(),
            timeout: DEFAULT_TIMEOUT,
            conn: OnceCell::new(),
            nonce: format!("{:016x}", rand::random::<u64>()),
            counter: AtomicU64::new(0),
            acquire: Script::new(script::ACQUIRE),
            lock: Script::new(script::LOCK_OUT),
        })
    }

    /// Prefixes every key with `prefix` instead of [`DEFAULT_PREFIX`] (e.g. to keep two
    /// environments apart on one Redis).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long connecting and each command may take (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// Connects (if not yet) and checks that Redis answers and can run the scripts.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.connection().await?;
        let _sha: String = self
            .acquire
            .prepare_invoke()
            .load_async(&mut conn)
            .await
            .map_err(|e| self.error("does not answer", e))?;
        Ok(())
    }

    async fn connection(&self) -> Result<ConnectionManager> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_with_config(self.client.clone(), config)
                    .await
                    .map_err(|e| self.error("is unreachable", e))
            })
            .await?;
        Ok(conn.clone())
    }

    /// An error naming the store (never its password).
    fn error(&self, what: &str, e: redis::RedisError) -> Error {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "rate-limit store `{}` {what}: {}",
                self.name,
                scrub(&e.to_string(), self.password.as_deref())
            ),
        )
        .with_temporary(false)
        .with_not_applied(true)
    }

    fn bad_answer(&self, answer: &Value) -> Error {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "rate-limit store `{}` gave an answer the script cannot give: {answer:?}",
                self.name
            ),
        )
        .with_temporary(false)
        .with_not_applied(true)
    }
}

/// `text` without `password` (a driver error might quote the URL).
fn scrub(text: &str, password: Option<&str>) -> String {
    match password {
        Some(p) if !p.is_empty() => text.replace(p, "***"),
        _ => text.to_owned(),
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

#[async_trait]
impl RateLimitStore for RedisStore {
    async fn try_acquire(&self, key: &BudgetKey, budgets: &[RateBudget]) -> Result<Admission> {
        let keys = Keys::new(&self.prefix, key);
        let member = format!(
            "{}:{}",
            self.nonce,
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        let mut invocation = self.acquire.prepare_invoke();
        invocation
            .key(&keys.account_lock)
            .key(&keys.endpoint_lock)
            .arg(member);
        for b in budgets.iter().filter(|b| b.limit > 0) {
            invocation.key(keys.log(b)).arg(b.limit).arg(window_ms(b));
        }
        let mut conn = self.connection().await?;
        let answer: Value = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.error("failed", e))?;
        let Value::Array(items) = &answer else {
            return Err(self.bad_answer(&answer));
        };
        match (items.first().and_then(text).as_deref(), items.len()) {
            (Some("ok"), _) => Ok(Admission::Granted),
            (Some("wait"), 2) => {
                let us = int(&items[1]).ok_or_else(|| self.bad_answer(&answer))?;
                // At least a millisecond: a wait rounded down to nothing would spin.
                Ok(Admission::Wait(Duration::from_micros(us.max(1000) as u64)))
            }
            (Some("locked"), 4) => {
                let scope = match int(&items[1]) {
                    Some(1) => LockScope::Account,
                    _ => LockScope::Endpoint,
                };
                let left = int(&items[2]).unwrap_or(0).max(0) as u64;
                let held = text(&items[3])
                    .and_then(|v| serde_json::from_str::<Held>(&v).ok())
                    .unwrap_or(Held {
                        code: None,
                        message: "a lock-out recorded by another process".into(),
                    });
                Ok(Admission::LockedOut(Lockout::new(
                    scope,
                    held.code,
                    held.message,
                    Duration::from_millis(left),
                )))
            }
            _ => Err(self.bad_answer(&answer)),
        }
    }

    async fn lock_out(&self, key: &BudgetKey, lockout: &Lockout) -> Result<()> {
        let keys = Keys::new(&self.prefix, key);
        let target = match lockout.scope {
            LockScope::Account => &keys.account_lock,
            _ => &keys.endpoint_lock,
        };
        let held = serde_json::to_string(&Held {
            code: lockout.vendor_code.clone(),
            message: lockout.message.clone(),
        })
        .unwrap_or_default();
        let ms = (lockout.duration.as_millis() as u64).max(1);
        let mut conn = self.connection().await?;
        let _: Value = self
            .lock
            .key(target)
            .arg(held)
            .arg(ms)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.error("failed", e))?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_debug_never_show_the_password() {
        let store = RedisStore::open("redis://worker:s3cret-pw@127.0.0.1:1/0").unwrap();
        assert_eq!(store.describe(), "redis://worker:***@127.0.0.1:1/0");
        assert!(!format!("{store:?}").contains("s3cret-pw"));
        let driver = redis::RedisError::from((
            redis::ErrorKind::Io,
            "x",
            "url redis://worker:s3cret-pw@h".to_owned(),
        ));
        let e = store.error("failed", driver);
        assert!(!e.message().contains("s3cret-pw"), "{e}");
        assert!(
            e.message().contains("redis://worker:***@127.0.0.1:1/0"),
            "{e}"
        );
        let e = RedisStore::open("rediss://u:s3cret-pw@h/0").unwrap_err();
        assert!(
            e.message().contains("TLS") && !e.message().contains("s3cret-pw"),
            "{e}"
        );
        let e = RedisStore::open("http://u:s3cret-pw@h/0").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.message().contains("s3cret-pw"), "{e}");
    }
}
