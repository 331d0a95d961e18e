-- Shared prelude, prepended to every tasks script when it is loaded (see src/scripts.ts).
-- Every script declares the same 7 keys of one owner's group (one hash tag, one Cluster slot):
local REC, RES, EXP, ACT, FIN, IDX, META = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]

local function is_terminal(s) return s == 'completed' or s == 'failed' or s == 'cancelled' end

local function list_remove(list, value)
  for i = #list, 1, -1 do if list[i] == value then table.remove(list, i) return true end end
  return false
end
local function list_has(list, value)
  for i = 1, #list do if list[i] == value then return true end end
  return false
end

-- Removes one task and everything it holds, keeping the payload byte count exact.
local function drop(id, st)
  local p = redis.call('HGET', RES, id)
  if p then redis.call('HINCRBY', META, 'bytes', -#p) end
  if st then
    for _, k in ipairs(st.pending or {}) do redis.call('HDEL', REC, id .. ':in:' .. k) end
    for _, k in ipairs(st.answered or {}) do redis.call('HDEL', REC, id .. ':ans:' .. k) end
  end
  redis.call('HDEL', REC, id, id .. ':spec')
  redis.call('HDEL', RES, id)
  redis.call('ZREM', EXP, id)
  redis.call('ZREM', ACT, id)
  redis.call('ZREM', FIN, id)
  redis.call('ZREM', IDX, id)
end

local function drop_by_id(id)
  local raw = redis.call('HGET', REC, id)
  drop(id, raw and cjson.decode(raw) or nil)
end

-- Logical expiry: a bounded batch of expired tasks per call, so no call does unbounded work.
local function purge(now)
  local ids = redis.call('ZRANGEBYSCORE', EXP, '-inf', now, 'LIMIT', 0, 64)
  for _, id in ipairs(ids) do drop_by_id(id) end
end

-- The backstop TTL: every key of the group outlives the tasks in it, and all expire once the owner is idle.
local function touch_group(group_ttl)
  for i = 1, 7 do redis.call('PEXPIRE', KEYS[i], group_ttl) end
end

local function publish_status(channel, prefix, id, state_json)
  if channel == '' then return end
  local spec = redis.call('HGET', REC, id .. ':spec') or '{}'
  redis.call('PUBLISH', channel, prefix .. ',"state":' .. state_json .. ',"spec":' .. spec .. '}')
end

-- The one terminal write. Returns the new state JSON. Evicts the oldest finished tasks past the bounds.
local function finish(id, st, now, status, message, payload, outcome, max_result_bytes, too_large, max_retained, max_bytes)
  if payload ~= '' and #payload > max_result_bytes then
    status = 'failed'
    payload = too_large
    outcome = 'error'
    message = 'result too large'
  end
  for _, k in ipairs(st.pending or {}) do redis.call('HDEL', REC, id .. ':in:' .. k) end
  for _, k in ipairs(st.answered or {}) do redis.call('HDEL', REC, id .. ':ans:' .. k) end
  st.pending = {}
  st.answered = {}
  st.status = status
  st.lastUpdatedAt = now
  if message ~= '' then st.statusMessage = message end
  if payload ~= '' then
    st.outcome = outcome
    redis.call('HSET', RES, id, payload)
    redis.call('HINCRBY', META, 'bytes', #payload)
  end
  local json = cjson.encode(st)
  redis.call('HSET', REC, id, json)
  redis.call('ZREM', ACT, id)
  redis.call('ZADD', FIN, now, id)
  redis.call('ZADD', EXP, now + st.ttlMs, id)
  while redis.call('ZCARD', FIN) > max_retained or tonumber(redis.call('HGET', META, 'bytes') or '0') > max_bytes do
    local oldest = redis.call('ZRANGE', FIN, 0, 0)[1]
    if oldest == nil or oldest == id then break end
    drop_by_id(oldest)
  end
  return json
end

-- Appends a task's stored record after `out`: state, spec, then its pending inputs and its answers, each as
-- a count followed by key/value pairs (taskGet's reply). Write scripts return it after their own three
-- elements, so the caller has the whole record without a second read. A task gone (evicted by its own
-- write) appends nothing.
local function with_record(out, id)
  local raw = redis.call('HGET', REC, id)
  if not raw then return out end
  local st = cjson.decode(raw)
  out[#out + 1] = raw
  out[#out + 1] = redis.call('HGET', REC, id .. ':spec') or '{}'
  out[#out + 1] = #(st.pending or {})
  for _, k in ipairs(st.pending or {}) do
    out[#out + 1] = k
    out[#out + 1] = redis.call('HGET', REC, id .. ':in:' .. k) or 'null'
  end
  out[#out + 1] = #(st.answered or {})
  for _, k in ipairs(st.answered or {}) do
    out[#out + 1] = k
    out[#out + 1] = redis.call('HGET', REC, id .. ':ans:' .. k) or 'null'
  end
  return out
end
