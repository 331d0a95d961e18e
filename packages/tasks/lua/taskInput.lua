-- Answers for outstanding input requests (unknown or answered keys ignored). ARGV: now, id, groupTtlMs,
-- eventsChannel, eventPrefix, controlChannel, controlMessage, then k1, v1, ...
-- Returns {'unknown'}, or {outcome, state, changed ('1' | '0'), record...} (record: lib.lua with_record),
-- outcome 'terminal' or 'ok'. The answered keys are gone from the very next read.
local now, id = tonumber(ARGV[1]), ARGV[2]
purge(now)
local raw = redis.call('HGET', REC, id)
if not raw then return { 'unknown' } end
local st = cjson.decode(raw)
if is_terminal(st.status) then return with_record({ 'terminal', raw, '0' }, id) end
st.pending = st.pending or {}
st.answered = st.answered or {}
local took = false
for i = 8, #ARGV - 1, 2 do
  local k = ARGV[i]
  if list_remove(st.pending, k) then
    redis.call('HDEL', REC, id .. ':in:' .. k)
    redis.call('HSET', REC, id .. ':ans:' .. k, ARGV[i + 1])
    st.answered[#st.answered + 1] = k
    took = true
  end
end
if not took then return with_record({ 'ok', raw, '0' }, id) end
local status_changed = false
if #st.pending == 0 and st.status == 'input_required' then
  st.status = 'working'
  status_changed = true
end
st.lastUpdatedAt = now
local json = cjson.encode(st)
redis.call('HSET', REC, id, json)
touch_group(tonumber(ARGV[3]))
publish_status(ARGV[4], ARGV[5], id, json)
if ARGV[7] ~= '' then redis.call('PUBLISH', ARGV[6], ARGV[7]) end
return with_record({ 'ok', json, '1' }, id)
