-- A non-terminal change by the running handler. ARGV: now, id, status ('' = keep), hasMessage ('0'|'1'),
-- message, activeTtlMs, groupTtlMs, eventsChannel, eventPrefix, nAdd, k1, v1, ..., then keys consumed.
-- Returns {'unknown'}, or {outcome, state, changed ('1' | '0'), record...} (record: lib.lua with_record),
-- outcome 'terminal' or 'ok'.
local now, id = tonumber(ARGV[1]), ARGV[2]
purge(now)
local raw = redis.call('HGET', REC, id)
if not raw then return { 'unknown' } end
local st = cjson.decode(raw)
if is_terminal(st.status) then return with_record({ 'terminal', raw, '0' }, id) end
st.pending = st.pending or {}
st.answered = st.answered or {}
local changed = false
local nadd = tonumber(ARGV[10])
for i = 0, nadd - 1 do
  local k, v = ARGV[11 + 2 * i], ARGV[12 + 2 * i]
  if not list_has(st.pending, k) and not list_has(st.answered, k) then
    st.pending[#st.pending + 1] = k
    redis.call('HSET', REC, id .. ':in:' .. k, v)
    changed = true
  end
end
for i = 11 + 2 * nadd, #ARGV do
  if list_remove(st.answered, ARGV[i]) then redis.call('HDEL', REC, id .. ':ans:' .. ARGV[i]) end
end
if ARGV[3] ~= '' and ARGV[3] ~= st.status then
  st.status = ARGV[3]
  changed = true
end
if ARGV[4] == '1' and ARGV[5] ~= st.statusMessage then
  st.statusMessage = ARGV[5]
  changed = true
end
if changed then st.lastUpdatedAt = now end
local json = cjson.encode(st)
redis.call('HSET', REC, id, json)
redis.call('ZADD', EXP, now + tonumber(ARGV[6]), id)
touch_group(tonumber(ARGV[7]))
if changed then publish_status(ARGV[8], ARGV[9], id, json) end
-- Third element: whether a status event was (or, with no channel, is left to the caller to be) published.
return with_record({ 'ok', json, changed and '1' or '0' }, id)
