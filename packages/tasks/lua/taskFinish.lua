-- The terminal write (also cancel). ARGV: now, id, status, message, payload, outcome, maxResultBytes,
-- tooLargePayload, maxRetained, maxRetainedBytes, groupTtlMs, eventsChannel, eventPrefix, controlChannel, controlMessage.
-- Returns {'unknown'}, or {outcome, state, changed ('1' | '0'), record...} (record: lib.lua with_record),
-- outcome 'terminal' (unchanged: terminal states are final) or 'done'.
local now, id = tonumber(ARGV[1]), ARGV[2]
purge(now)
local raw = redis.call('HGET', REC, id)
if not raw then return { 'unknown' } end
local st = cjson.decode(raw)
if is_terminal(st.status) then return with_record({ 'terminal', raw, '0' }, id) end
local json = finish(id, st, now, ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]))
touch_group(tonumber(ARGV[11]))
publish_status(ARGV[12], ARGV[13], id, json)
if ARGV[15] ~= '' then redis.call('PUBLISH', ARGV[14], ARGV[15]) end
return with_record({ 'done', json, '1' }, id)
