-- ARGV: now, limit, cursorScore ('' = from the newest), cursorId.
-- Returns {nextScore, nextId, state1, spec1, ...} newest first; nextScore '' when there is no further page.
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
purge(now)
local max = '+inf'
if ARGV[3] ~= '' then max = ARGV[3] end
local rows = redis.call('ZREVRANGEBYSCORE', IDX, max, '-inf', 'WITHSCORES', 'LIMIT', 0, limit + 64)
local out = { '', '' }
local n = 0
local last_score, last_id = '', ''
for i = 1, #rows, 2 do
  local id, score = rows[i], rows[i + 1]
  last_score, last_id = score, id
  -- Same millisecond as the cursor: members come in descending order, so skip up to and including it.
  local skip = ARGV[3] ~= '' and tonumber(score) == tonumber(ARGV[3]) and id >= ARGV[4]
  local exp = redis.call('ZSCORE', EXP, id)
  if not skip and exp and tonumber(exp) > now then
    if n == limit then return out end
    local raw = redis.call('HGET', REC, id)
    if raw then
      out[#out + 1] = raw
      out[#out + 1] = redis.call('HGET', REC, id .. ':spec') or '{}'
      n = n + 1
      out[1] = score
      out[2] = id
    end
  end
end
-- The batch ran out: a full batch may hide more rows (continue after the last one examined); else last page.
if #rows == 2 * (limit + 64) then
  out[1], out[2] = last_score, last_id
else
  out[1], out[2] = '', ''
end
return out
