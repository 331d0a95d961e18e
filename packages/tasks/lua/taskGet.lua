-- ARGV: now, id. Returns nil (unknown or expired) or {state, spec, nIn, k1, v1, ..., nAns, k1, v1, ...}.
local now, id = tonumber(ARGV[1]), ARGV[2]
local exp = redis.call('ZSCORE', EXP, id)
if not exp or tonumber(exp) <= now then return nil end
if not redis.call('HEXISTS', REC, id) then return nil end
return with_record({}, id)
