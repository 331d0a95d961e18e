-- ARGV: now, id. Returns nil (unknown or expired) or {state, spec, nIn, k1, v1, ..., nAns, k1, v1, ...}.
local now, id = tonumber(ARGV[1]), ARGV[2]
local exp = redis.call('ZSCORE', EXP, id)
if not exp or tonumber(exp) <= now then return nil end
local raw = redis.call('HGET', REC, id)
if not raw then return nil end
local st = cjson.decode(raw)
local out = { raw, redis.call('HGET', REC, id .. ':spec') or '{}', #(st.pending or {}) }
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
