--[[ Append messages (and optionally the completion marker) to a stream, release leases, wake tails.
  KEYS[1]     stream
  KEYS[2..]   in-flight leases to release (and, with `end`, the request record: deleted like them);
              with ARGV[9] set, the last key is the stream's request record (replaced, not deleted)
  ARGV[1] maxLen  ARGV[2] stream ttl ms  ARGV[3] wake channel  ARGV[4] stream id  ARGV[5] end (0/1)
  ARGV[6] entry kind for the data (msg or prime)  ARGV[7] most data bytes a wake may carry
  ARGV[8] most data bytes the log retains (0 = no cap)  ARGV[9] new request record ('' = unchanged)
  ARGV[10..] data
  The request record is replaced only while it exists (XX, its TTL kept): in the same step as the entries, so
  what it says about the log (e.g. a gateway's upstream resume cursor) never runs ahead of or behind it.
  Returns {prevId or false, id1, id2, ...}.
  Every entry carries `c`, the data bytes appended to the stream so far (its own included): with the newest
  entry's `c` the bytes retained from any entry on are known without reading the log. Past the byte cap
  the oldest entries are trimmed (reading only those and the first one kept, so amortized O(1) per append); the newest entry with
  data is kept whatever its size.
  The wake payload is "<streamId> <lastId>", followed — when the data is small enough and has no newline —
  by " <prevId or ->" and one line per new entry, "\n<id> <kind> <data>", so tails on other nodes can write
  the entries without reading them back (see keys.ts). ]]
local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end
-- Whether the log may start at this entry: the data from it on fits the budget, or it is the newest entry
-- with data (never trimmed, whatever its size: completion markers after it carry none).
local function keepsFrom(fields, total, maxBytes)
  local c = tonumber(field(fields, 'c')) or 0
  local size = #(field(fields, 'd') or '')
  return total - c + size <= maxBytes or (c == total and size > 0)
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = false
local total = 0
if #last > 0 then
  prev = last[1][1]
  total = tonumber(field(last[1][2], 'c')) or 0
end
local out = {prev}
local lines = {}
local bytes = 0
local carry = true
for i = 10, #ARGV do
  total = total + #ARGV[i]
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', ARGV[6], 'd', ARGV[i], 'c', total)
  out[#out + 1] = id
  bytes = bytes + #ARGV[i]
  if carry and (bytes > tonumber(ARGV[7]) or string.find(ARGV[i], '\n', 1, true)) then carry = false end
  if carry then lines[#lines + 1] = id .. ' ' .. ARGV[6] .. ' ' .. ARGV[i] end
end
if ARGV[5] == '1' then
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', 'end', 'd', '', 'c', total)
  out[#out + 1] = id
  lines[#lines + 1] = id .. ' end '
end
local maxBytes = tonumber(ARGV[8])
-- Nothing to read while the stream has taken less than its budget in all (the usual case).
if maxBytes > 0 and total > maxBytes then
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if #first > 0 and not keepsFrom(first[1][2], total, maxBytes) then
    -- One entry at a time: reading an entry copies its data, and in the steady state (one append, about
    -- one entry over) only the next one or two are read.
    local seen = first[1][1]
    local cut = nil
    while cut == nil do
      local nxt = redis.call('XRANGE', KEYS[1], '(' .. seen, '+', 'COUNT', 1)
      if #nxt == 0 then break end
      seen = nxt[1][1]
      if keepsFrom(nxt[1][2], total, maxBytes) then cut = seen end
    end
    -- (Only entries without data or `c` left: keep the newest.)
    redis.call('XTRIM', KEYS[1], 'MINID', cut or seen)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local lastLease = #KEYS
if ARGV[9] ~= '' then
  redis.call('SET', KEYS[#KEYS], ARGV[9], 'XX', 'KEEPTTL')
  lastLease = #KEYS - 1
end
for i = 2, lastLease do redis.call('DEL', KEYS[i]) end
local wake = ARGV[4] .. ' ' .. out[#out]
if carry then wake = wake .. ' ' .. (prev or '-') .. '\n' .. table.concat(lines, '\n') end
redis.call('PUBLISH', ARGV[3], wake)
return out
