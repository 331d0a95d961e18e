-- A worker starts (or, after a stall, restarts) a task. ARGV: now, id, activeTtlMs, groupTtlMs,
-- eventsChannel, eventPrefix, refusedPayload, maxResultBytes, maxRetained, maxRetainedBytes, refusedMessage,
-- maxRuns, exhaustedPayload, exhaustedMessage.
-- Returns {'unknown'}, or {outcome, state, changed ('1' | '0'), record...} (record: lib.lua with_record),
-- outcome 'terminal', 'refused' (now failed) or 'run'.
local now, id = tonumber(ARGV[1]), ARGV[2]
purge(now)
local raw = redis.call('HGET', REC, id)
if not raw then return { 'unknown' } end
local st = cjson.decode(raw)
if is_terminal(st.status) then return with_record({ 'terminal', raw, '0' }, id) end
st.runs = (st.runs or 0) + 1
local exhausted = st.runs > tonumber(ARGV[12])
if st.runs > 1 and (not st.rerunSafe or exhausted) then
  local message, payload = ARGV[11], ARGV[7]
  if st.rerunSafe then message, payload = ARGV[14], ARGV[13] end
  local json = finish(id, st, now, 'failed', message, payload, 'error', tonumber(ARGV[8]), payload, tonumber(ARGV[9]), tonumber(ARGV[10]))
  touch_group(tonumber(ARGV[4]))
  publish_status(ARGV[5], ARGV[6], id, json)
  return with_record({ 'refused', json, '1' }, id)
end
local changed = false
if st.runs > 1 then
  -- A rerun starts from scratch: the dead run's questions are void.
  for _, k in ipairs(st.pending or {}) do redis.call('HDEL', REC, id .. ':in:' .. k) end
  for _, k in ipairs(st.answered or {}) do redis.call('HDEL', REC, id .. ':ans:' .. k) end
  st.pending = {}
  st.answered = {}
  if st.status ~= 'working' then
    st.status = 'working'
    st.lastUpdatedAt = now
    changed = true
  end
end
local json = cjson.encode(st)
redis.call('HSET', REC, id, json)
redis.call('ZADD', EXP, now + tonumber(ARGV[3]), id)
touch_group(tonumber(ARGV[4]))
if changed then publish_status(ARGV[5], ARGV[6], id, json) end
-- Third element: whether a status event was (or, with no channel, is left to the caller to be) published.
return with_record({ 'run', json, changed and '1' or '0' }, id)
