//! The Lua scripts behind [`Queue`](crate::Queue).
//!
//! Each runs atomically in Redis and answers a flat list, so it parses the
//! same from Spin's flattened `execute` reply as from a native connection.
//! Time is Redis's own (`TIME`), so replicas with skewed clocks agree on
//! leases and retry due times.

/// Upper bounds (ms) of the latency buckets [`SETTLE`] counts in, as its
/// Lua lists them (a test checks the two agree); above the last: `inf`.
pub const LATENCY_BOUNDS_MS: [u64; 13] = [
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
];

/// Take one entry to work on.
///
/// KEYS: work, retry, attempts, errors, stats. ARGV: group, consumer, lease ms.
/// In order: an entry whose retry is due; an entry whose lease expired (its
/// worker died or overran: counted as a failed attempt and in the
/// `reclaimed` counter); a new entry.
/// Answers `id, attempts, payload, last error, how` for an entry,
/// `"", 0, "", "", "wait", ms` when only retries not yet due remain, or an
/// empty list when the queue is empty.
pub const CLAIM: &str = r#"
local work, retry, attempts, errors, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local group, consumer, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
pcall(redis.call, 'XGROUP', 'CREATE', work, group, '0', 'MKSTREAM')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function answer(entry, how)
  local id, fields, payload = entry[1], entry[2], ''
  for i = 1, #fields, 2 do
    if fields[i] == 'payload' then payload = fields[i + 1] end
  end
  local n = tonumber(redis.call('HGET', attempts, id) or '0')
  return {id, n, payload, redis.call('HGET', errors, id) or '', how}
end
local due = redis.call('ZRANGEBYSCORE', retry, '-inf', now, 'LIMIT', 0, 1)
if #due > 0 then
  redis.call('ZREM', retry, due[1])
  local claimed = redis.call('XCLAIM', work, group, consumer, 0, due[1])
  if claimed[1] then return answer(claimed[1], 'retry') end
end
local stale = redis.call('XAUTOCLAIM', work, group, consumer, lease, '0-0', 'COUNT', 1)
local entry = stale[2][1]
if entry then
  if redis.call('ZREM', retry, entry[1]) == 0 then
    redis.call('HINCRBY', attempts, entry[1], 1)
    redis.call('HSET', errors, entry[1],
      'the worker that took it stopped before settling it (lease of ' .. lease .. ' ms expired)')
    redis.call('HINCRBY', stats, 'reclaimed', 1)
  end
  return answer(entry, 'reclaimed')
end
local new = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', work, '>')
if new and new[1][2][1] then return answer(new[1][2][1], 'new') end
local next = redis.call('ZRANGE', retry, 0, 0, 'WITHSCORES')
if next[1] then return {'', 0, '', '', 'wait', math.max(0, tonumber(next[2]) - now)} end
return {}
"#;

/// Decide whether a unit of work runs.
///
/// KEYS: done marker, object lock, object's newest token.
/// ARGV: owner (the entry id), lease ms, ordering token (may be empty).
/// Answers `duplicate` (already done), `superseded` (a newer version of the
/// object was handled), `busy` (another worker holds the object) or `go`
/// (the lock is now the owner's, for one lease).
pub const BEGIN: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 'duplicate' end
if ARGV[3] ~= '' then
  local newest = redis.call('GET', KEYS[3])
  if newest and newest > ARGV[3] then return 'superseded' end
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'go' end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 'go'
end
return 'busy'
"#;

/// Settle an entry whose effects are stored: forward its output (also
/// published on the next channel's `:feed` for watchers), mark its
/// unit of work done, release its lock, acknowledge and delete it, and
/// count its latency (from its stream id's time, when it was queued, to
/// now) in the `latency_le_<ms>` bucket of [`LATENCY_BOUNDS_MS`] it falls in.
///
/// KEYS: work, retry, attempts, errors, stats, next work stream, done
/// marker, lock, newest token ("" for the last four when unused).
/// ARGV: group, id, counter to bump, next channel, doorbell, done TTL s,
/// ordering token, then the payloads to forward.
pub const SETTLE: &str = r#"
local group, id = ARGV[1], ARGV[2]
if #ARGV > 7 then
  for i = 8, #ARGV do
    redis.call('XADD', KEYS[6], '*', 'payload', ARGV[i])
    redis.call('PUBLISH', ARGV[4] .. ':feed', ARGV[i])
  end
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
if KEYS[7] ~= '' then redis.call('SET', KEYS[7], '1', 'EX', ARGV[6]) end
if KEYS[9] ~= '' and ARGV[7] ~= '' then
  local newest = redis.call('GET', KEYS[9])
  if not newest or newest < ARGV[7] then redis.call('SET', KEYS[9], ARGV[7], 'EX', ARGV[6]) end
end
if KEYS[8] ~= '' and redis.call('GET', KEYS[8]) == id then redis.call('DEL', KEYS[8]) end
local acked = redis.call('XACK', KEYS[1], group, id)
redis.call('XDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
redis.call('HINCRBY', KEYS[5], ARGV[3], 1)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local queued = tonumber(string.match(id, '^(%d+)'))
if queued then
  local ms = math.max(0, now - queued)
  redis.call('HINCRBY', KEYS[5], 'latency_count', 1)
  redis.call('HINCRBY', KEYS[5], 'latency_sum_ms', ms)
  local bucket = 'inf'
  for _, bound in ipairs({5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000}) do
    if ms <= bound then bucket = tostring(bound); break end
  end
  redis.call('HINCRBY', KEYS[5], 'latency_le_' .. bucket, 1)
end
return acked
"#;

/// Record a failed attempt: schedule a retry with exponential backoff, or
/// move the entry to the dead-letter stream.
///
/// KEYS: work, retry, attempts, errors, stats, dead, lock ("" if none).
/// ARGV: group, id, error, retryable (1/0), max attempts, backoff base ms,
/// backoff cap ms, stage.
/// Answers `retry, delay ms, attempts` or `dead, dead-letter id, attempts`.
pub const FAIL: &str = r#"
local work, retry, attempts, errors, stats, dead = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local group, id, err = ARGV[1], ARGV[2], ARGV[3]
local retryable, max = ARGV[4] == '1', tonumber(ARGV[5])
local base, cap = tonumber(ARGV[6]), tonumber(ARGV[7])
if KEYS[7] ~= '' and redis.call('GET', KEYS[7]) == id then redis.call('DEL', KEYS[7]) end
local n = redis.call('HINCRBY', attempts, id, 1)
redis.call('HINCRBY', stats, 'failed', 1)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if retryable and n < max then
  local delay = math.min(cap, base * 2 ^ (n - 1))
  redis.call('ZADD', retry, now + delay, id)
  redis.call('HSET', errors, id, err)
  redis.call('HINCRBY', stats, 'retried', 1)
  return {'retry', math.floor(delay), n}
end
local payload = ''
local entry = redis.call('XRANGE', work, id, id)[1]
if entry then
  for i = 1, #entry[2], 2 do
    if entry[2][i] == 'payload' then payload = entry[2][i + 1] end
  end
end
local dead_id = redis.call('XADD', dead, '*', 'payload', payload, 'error', err,
  'attempts', n, 'stage', ARGV[8], 'entry', id, 'at_ms', now)
redis.call('XACK', work, group, id)
redis.call('XDEL', work, id)
redis.call('ZREM', retry, id)
redis.call('HDEL', attempts, id)
redis.call('HDEL', errors, id)
redis.call('HINCRBY', stats, 'dead', 1)
return {'dead', dead_id, n}
"#;

/// Put an entry back to wait `delay` ms without counting an attempt (its
/// object is busy with another worker).
///
/// KEYS: retry, stats. ARGV: id, delay ms.
pub const DEFER: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HINCRBY', KEYS[2], 'deferred', 1)
return 1
"#;

/// List dead letters, oldest first.
///
/// KEYS: dead. ARGV: start id (exclusive prefix `(` allowed), count.
/// Answers, per letter: id, then the six fields' values in the order
/// payload, error, attempts, stage, entry, at_ms (missing ones empty).
pub const DEAD_LETTERS: &str = r#"
local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))) do
  local f = {}
  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
  for _, v in ipairs({e[1], f.payload or '', f.error or '', f.attempts or '0', f.stage or '',
                      f.entry or '', f.at_ms or '0'}) do
    table.insert(out, v)
  end
end
return out
"#;

/// Move a dead letter back to the work stream (attempts start again) and
/// ring the doorbell.
///
/// KEYS: dead, work, stats. ARGV: dead-letter id, channel, doorbell.
/// Answers the new work entry id, or "" when no such letter exists.
pub const REPLAY: &str = r#"
local entry = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])[1]
if not entry then return '' end
local payload = ''
for i = 1, #entry[2], 2 do
  if entry[2][i] == 'payload' then payload = entry[2][i + 1] end
end
local id = redis.call('XADD', KEYS[2], '*', 'payload', payload)
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'replayed', 1)
redis.call('PUBLISH', ARGV[2], ARGV[3])
return id
"#;

/// Add work and ring the doorbell; each payload is also published on
/// `{channel}:feed` for watchers (`thumbflow watch`).
///
/// KEYS: work. ARGV: channel, doorbell, payloads... Answers the entry ids.
pub const ENQUEUE: &str = r#"
local ids = {}
for i = 3, #ARGV do
  table.insert(ids, redis.call('XADD', KEYS[1], '*', 'payload', ARGV[i]))
  redis.call('PUBLISH', ARGV[1] .. ':feed', ARGV[i])
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return ids
"#;

/// Counters and backlog of a stage.
///
/// KEYS: work, retry, dead, stats. ARGV: group.
/// Answers: entries in the stream (waiting + in flight + retrying),
/// entries taken but not settled, retries waiting, dead letters, then the
/// counters as name, value pairs.
pub const STATS: &str = r#"
local pending = 0
local ok, summary = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
if ok and summary then pending = summary[1] end
local out = {redis.call('XLEN', KEYS[1]), pending, redis.call('ZCARD', KEYS[2]), redis.call('XLEN', KEYS[3])}
for _, v in ipairs(redis.call('HGETALL', KEYS[4])) do table.insert(out, v) end
return out
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_counts_latency_in_the_buckets_rust_reads() {
        let listed: Vec<String> = LATENCY_BOUNDS_MS.iter().map(u64::to_string).collect();
        assert!(SETTLE.contains(&format!("ipairs({{{}}})", listed.join(", "))));
    }
}
