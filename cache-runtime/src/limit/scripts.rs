//! The Redis side of each algorithm: one script per check, run atomically on the server with
//! the server's clock (`TIME`), never the client's. Every write sets the key's expiry in the
//! same script, so no limiter key ever lives without one. The arithmetic is that of
//! [`super::state`], on integers below 2^53 (where Lua's doubles are exact, and `math.fmod` is
//! too). Numbers go to `redis.call` as numbers (Redis writes them with 17 digits) or through
//! `%d`, never through Lua's own `tostring`, which rounds to 14 digits.
//!
//! Each script returns `{admitted (0|1), remaining, retry_after µs, reset_after µs}`.
//!
//! A key written under another policy of the same name starts from a sane state: state of
//! another algorithm (another Redis type, read through `pcall`) counts as none, and a count or
//! a GCRA remainder past a lower `limit` is bounded by it, never a lock-out or `WRONGTYPE`.

use std::sync::LazyLock;

use super::policy::{Algorithm, RateLimitPolicy};

const PRELUDE: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
";

/// GCRA; ARGV[3] = burst. The TAT is stored as `whole` (an integer, which Redis keeps inside the
/// key's object) or, when `limit` does not divide the window, `whole:part` (µs and 1/limit µs).
/// No closures and no formatting on the common path: each costs the server per call.
const GCRA: &str = r"
local burst = tonumber(ARGV[3])
local whole, part = now, 0
local stored = redis.pcall('GET', KEYS[1])
if type(stored) == 'table' then stored = false end
if stored then
  local w, p = tonumber(stored), 0
  if not w then
    local at = string.find(stored, ':', 1, true)
    if at then
      w = tonumber(string.sub(stored, 1, at - 1))
      p = tonumber(string.sub(stored, at + 1))
    end
  end
  if w and p and p >= limit then p = 0 end
  if w and p and (w > now or (w == now and p > 0)) then whole, part = w, p end
end
local rest = math.fmod(window, limit)
local next_whole = whole + (window - rest) / limit
local next_part = part + rest
if next_part >= limit then
  next_whole = next_whole + 1
  next_part = next_part - limit
end
local ahead = (next_whole - now) * limit + next_part
local tolerance = burst * window
local ahead_rest = math.fmod(ahead, limit)
local ahead_micros = (ahead - ahead_rest) / limit
if ahead_rest > 0 then ahead_micros = ahead_micros + 1 end
if ahead <= tolerance then
  local value = next_whole
  if next_part > 0 then value = string.format('%d:%d', next_whole, next_part) end
  local ttl = ahead_micros - math.fmod(ahead_micros, 1000)
  redis.call('SET', KEYS[1], value, 'PX', ttl / 1000 + 1)
  local spare = tolerance - ahead
  return {1, (spare - math.fmod(spare, window)) / window, 0, ahead_micros}
end
local over = ahead - tolerance
local over_rest = math.fmod(over, limit)
local retry = (over - over_rest) / limit
if over_rest > 0 then retry = retry + 1 end
local current = (whole - now) * limit + part
local current_rest = math.fmod(current, limit)
local reset = (current - current_rest) / limit
if current_rest > 0 then reset = reset + 1 end
return {0, 0, retry, reset}
";

/// Fixed window: the state is `index:count`, the index being `now / window`.
const FIXED_WINDOW: &str = r"
local index = (now - math.fmod(now, window)) / window
local count = 0
local stored = redis.pcall('GET', KEYS[1])
if type(stored) == 'table' then stored = false end
if stored then
  local at = string.find(stored, ':', 1, true)
  if at and tonumber(string.sub(stored, 1, at - 1)) == index then
    count = tonumber(string.sub(stored, at + 1))
  end
end
local left = (index + 1) * window - now
if count < limit then
  count = count + 1
  local value = string.format('%d:%d', index, count)
  redis.call('SET', KEYS[1], value, 'PX', (left - math.fmod(left, 1000)) / 1000 + 1)
  return {1, limit - count, 0, left}
end
return {0, 0, left, left}
";

/// Sliding window: a sorted set of admission times; ARGV[3] is a fresh member name. A key left
/// by another algorithm (a string) starts over.
const SLIDING_WINDOW: &str = r"
if type(redis.pcall('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)) == 'table' then
  redis.call('DEL', KEYS[1])
end
local count = redis.call('ZCARD', KEYS[1])
local admitted = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], (window - math.fmod(window, 1000)) / 1000 + 1)
  count = count + 1
  admitted = 1
end
local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
local retry_after = 0
if admitted == 0 then
  local frees = count - limit
  retry_after = tonumber(redis.call('ZRANGE', KEYS[1], frees, frees, 'WITHSCORES')[2]) + window - now
end
local remaining = limit - count
if remaining < 0 then remaining = 0 end
return {admitted, remaining, retry_after, newest + window - now}
";

fn script(body: &str) -> redis::Script {
    redis::Script::new(&source(body))
}

fn source(body: &str) -> String {
    format!("{PRELUDE}{body}")
}

/// The text of the script of `algorithm`, for benchmarks that run it without the limiter.
pub(crate) fn text(algorithm: Algorithm) -> String {
    source(match algorithm {
        Algorithm::Gcra => GCRA,
        Algorithm::FixedWindow => FIXED_WINDOW,
        Algorithm::SlidingWindow => SLIDING_WINDOW,
    })
}

static SCRIPTS: LazyLock<[redis::Script; 3]> =
    LazyLock::new(|| [script(GCRA), script(FIXED_WINDOW), script(SLIDING_WINDOW)]);

/// The invocation that checks one call against `key` under `policy`.
pub(crate) fn check(policy: &RateLimitPolicy, key: &[u8]) -> redis::ScriptInvocation<'static> {
    let (script, third) = match policy.counted_by() {
        Algorithm::Gcra => (&SCRIPTS[0], policy.burst_size().to_string()),
        Algorithm::FixedWindow => (&SCRIPTS[1], String::new()),
        Algorithm::SlidingWindow => (
            &SCRIPTS[2],
            format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
        ),
    };
    let mut invocation = script.prepare_invoke();
    invocation
        .key(key)
        .arg(policy.limit())
        .arg(policy.window_micros())
        .arg(third);
    invocation
}
