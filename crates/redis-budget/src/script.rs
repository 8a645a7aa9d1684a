//! The Lua scripts and the key layout.
//!
//! Every key of one account carries the hash tag `{vendor:account}`, so that the keys one
//! script touches live in one slot (a Redis Cluster runs a script only over keys of one slot).
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `PREFIX:{VENDOR:ACCOUNT}:lock` | string | a refusal of the account's credentials (`PX` expiry) |
//! | `PREFIX:{VENDOR:ACCOUNT}:lock:ENDPOINT` | string | a lock of one endpoint (`PX` expiry) |
//! | `PREFIX:{VENDOR:ACCOUNT}:log:BUDGET:WINDOW_MS` | sorted set | one member per call granted, scored by the server's time in µs |
//!
//! `BUDGET` is the endpoint, or `*` when every endpoint of the account shares the budget.

use cloudphone_core::rate_store::BudgetKey;
use cloudphone_core::RateBudget;

/// One acquire, atomically: the lock-outs first, then every budget's sliding log. Time is the
/// server's (`TIME`), so that processes on machines whose clocks differ agree on the windows.
///
/// KEYS: account lock, endpoint lock, then one log per budget. ARGV: a member unique to this
/// call, then `limit, window_ms` per budget.
///
/// Returns `{"ok"}`, `{"wait", µs}` (nothing taken), or `{"locked", 1|2, pttl_ms, value}`.
pub(crate) const ACQUIRE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, 2 do
  local held = redis.call('GET', KEYS[i])
  if held then
    return {'locked', i, redis.call('PTTL', KEYS[i]), held}
  end
end
local wait = 0
for j = 3, #KEYS do
  local limit = tonumber(ARGV[2 * j - 4])
  local window = tonumber(ARGV[2 * j - 3]) * 1000
  -- A call `window` old or older is out of every window that ends now.
  redis.call('ZREMRANGEBYSCORE', KEYS[j], '-inf', now - window)
  local n = redis.call('ZCARD', KEYS[j])
  if n >= limit then
    -- Room comes when the call `limit` places from the newest leaves the window.
    local oldest = redis.call('ZRANGE', KEYS[j], n - limit, n - limit, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then
  return {'wait', wait}
end
for j = 3, #KEYS do
  redis.call('ZADD', KEYS[j], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[j], tonumber(ARGV[2 * j - 3]) + 1000)
end
return {'ok'}
"#;

/// Records a lock-out unless a longer one is already there. KEYS: the lock. ARGV: its value,
/// its duration in ms. Returns 1 when written.
pub(crate) const LOCK_OUT: &str = r#"
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#;

/// The keys of one budget key.
pub(crate) struct Keys {
    /// The account's credential lock.
    pub account_lock: String,
    /// The endpoint's lock.
    pub endpoint_lock: String,
    tag: String,
    budget: &'static str,
}

impl Keys {
    pub(crate) fn new(prefix: &str, key: &BudgetKey) -> Self {
        let tag = format!("{prefix}:{{{}:{}}}", key.vendor, key.account);
        Keys {
            account_lock: format!("{tag}:lock"),
            endpoint_lock: format!("{tag}:lock:{}", key.endpoint),
            budget: key.budget_name(),
            tag,
        }
    }

    /// The sliding log of `budget`.
    pub(crate) fn log(&self, budget: &RateBudget) -> String {
        format!("{}:log:{}:{}", self.tag, self.budget, window_ms(budget))
    }
}

/// A budget's window in whole milliseconds (at least 1).
pub(crate) fn window_ms(budget: &RateBudget) -> u64 {
    (budget.per.as_millis() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudphone_core::raw::RateScope;
    use std::sync::Arc;

    #[test]
    fn every_key_of_an_account_shares_its_hash_tag() {
        let key = BudgetKey::new("geelark", Arc::from("abc"), "/stop", RateScope::Endpoint);
        let k = Keys::new("cp", &key);
        assert_eq!(k.account_lock, "cp:{geelark:abc}:lock");
        assert_eq!(k.endpoint_lock, "cp:{geelark:abc}:lock:/stop");
        assert_eq!(
            k.log(&RateBudget::per_minute(200)),
            "cp:{geelark:abc}:log:/stop:60000"
        );
        let key = BudgetKey::new("fake", Arc::from("abc"), "/stop", RateScope::Provider);
        assert_eq!(
            Keys::new("cp", &key).log(&RateBudget::per_second(5)),
            "cp:{fake:abc}:log:*:1000"
        );
    }
}
