//! The Redis side of each algorithm: one script per check, run atomically on the server with
//! the server's clock (`TIME`), never the client's. Every write sets the key's expiry in the
//! same script, so no limiter key ever lives without one. The arithmetic is that of
//! [`super::state`], on integers below 2^53 (where Lua's doubles are exact); numbers are
//! written with `%d`, since Lua's own `tostring` would round them to 14 digits.
//!
//! Each script returns `{admitted (0|1), remaining, retry_after µs, reset_after µs}`.

use std::sync::LazyLock;

use super::policy::{Algorithm, RateLimitPolicy};

const PRELUDE: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local function div_up(a, b)
  local rest = math.fmod(a, b)
  local whole = (a - rest) / b
  if rest > 0 then whole = whole + 1 end
  return whole
end
local function div_down(a, b)
  return (a - math.fmod(a, b)) / b
end
";

/// GCRA; ARGV[3] = burst. The TAT is stored as `whole` or `whole:part` (µs and 1/limit µs).
const GCRA: &str = r"
local burst = tonumber(ARGV[3])
local whole, part = now, 0
local stored = redis.call('GET', KEYS[1])
if stored then
  local w, p = string.match(stored, '^(%d+):?(%d*)$')
  if w then
    w = tonumber(w)
    p = tonumber(p) or 0
    if w > now or (w == now and p > 0) then whole, part = w, p end
  end
end
local next_whole = whole + div_down(window, limit)
local next_part = part + math.fmod(window, limit)
if next_part >= limit then
  next_whole = next_whole + 1
  next_part = next_part - limit
end
local ahead = (next_whole - now) * limit + next_part
local tolerance = burst * window
if ahead <= tolerance then
  local value = string.format('%d', next_whole)
  if next_part > 0 then value = value .. ':' .. string.format('%d', next_part) end
  local ttl = div_up(div_up(ahead, limit), 1000)
  redis.call('SET', KEYS[1], value, 'PX', string.format('%d', ttl))
  return {1, div_down(tolerance - ahead, window), 0, div_up(ahead, limit)}
end
local current = (whole - now) * limit + part
return {0, 0, div_up(ahead - tolerance, limit), div_up(current, limit)}
";

/// Fixed window: the state is `index:count`, the index being `now / window`.
const FIXED_WINDOW: &str = r"
local index = div_down(now, window)
local count = 0
local stored = redis.call('GET', KEYS[1])
if stored then
  local i, c = string.match(stored, '^(%d+):(%d+)$')
  if i and tonumber(i) == index then count = tonumber(c) end
end
local ends = (index + 1) * window
if count < limit then
  count = count + 1
  local value = string.format('%d:%d', index, count)
  redis.call('SET', KEYS[1], value, 'PX', string.format('%d', div_up(ends - now, 1000)))
  return {1, limit - count, 0, ends - now}
end
return {0, 0, ends - now, ends - now}
";

/// Sliding window: a sorted set of admission times; ARGV[3] is a fresh member name.
const SLIDING_WINDOW: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
local count = redis.call('ZCARD', KEYS[1])
local admitted = 0
if count < limit then
  redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], string.format('%d', div_up(window, 1000)))
  count = count + 1
  admitted = 1
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
local retry_after = 0
if admitted == 0 then retry_after = oldest + window - now end
return {admitted, limit - count, retry_after, newest + window - now}
";

fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{PRELUDE}{body}"))
}

static SCRIPTS: LazyLock<[redis::Script; 3]> =
    LazyLock::new(|| [script(GCRA), script(FIXED_WINDOW), script(SLIDING_WINDOW)]);

/// The invocation that checks one call against `key` under `policy`.
pub(crate) fn check(policy: &RateLimitPolicy, key: &str) -> redis::ScriptInvocation<'static> {
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
