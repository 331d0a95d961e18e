--[[ Open a stream for requests running on one node, optionally with its first batch of messages.
  KEYS[1]          stream
  KEYS[2]          session's set of stream ids
  KEYS[3]          the stream's request record (which client requests it carries; read by the dead-owner check)
  KEYS[4..3+n]     in-flight lease per request still running
  KEYS[4+n..3+2n]  cancellation tombstone per request (same order)
  KEYS[4+2n..]     in-flight leases to release (requests answered in this first batch)
  ARGV[1] maxLen  ARGV[2] stream ttl ms  ARGV[3] lease ms  ARGV[4] lease value "<nodeId> <streamId>"
  ARGV[5] prime data  ARGV[6] stream id  ARGV[7] n  ARGV[8] session idle ttl ms  ARGV[9] end (0/1)
  ARGV[10] prune threshold  ARGV[11] request record ('' = none: nothing left running)
  ARGV[12] most data bytes the log retains (0 = no cap)  ARGV[13..] first batch's message data
  Entries carry `c` (data bytes appended so far), as in appendEvents.lua; past the byte cap the oldest
  entries of the first batch are trimmed (the newest with data is kept).
  The request record has its own key (stream TTL, kept alive with the leases) so trimming the log never
  loses it. The session's set of stream ids would otherwise keep the ids of streams long expired: past the
  threshold, every step-th new stream asks the caller to prune it (pruneStreamSet.lua, which declares the
  stream keys it checks); the step grows with the set (keys.ts streamSetPruneDue).
  Returns {prune (0/1), cancelledCount, cancelledIndex..., primeId, messageId..., endId?} (1-based request
  indexes that were already cancelled). No wake: nobody can tail a stream whose first event is not yet written. ]]
local n = tonumber(ARGV[7])
local total = #ARGV[5]
local ids = {redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', 'prime', 'd', ARGV[5], 'c', total)}
local sizes = {#ARGV[5]}
local cums = {total}
for i = 13, #ARGV do
  total = total + #ARGV[i]
  ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', 'msg', 'd', ARGV[i], 'c', total)
  sizes[#sizes + 1] = #ARGV[i]
  cums[#cums + 1] = total
end
if ARGV[9] == '1' then
  ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', 'end', 'd', '', 'c', total)
  sizes[#sizes + 1] = 0
  cums[#cums + 1] = total
end
local maxBytes = tonumber(ARGV[12])
if maxBytes > 0 and total > maxBytes then
  -- A new stream: its entries are exactly these, so the first one to keep is found without reading.
  for i = 1, #ids do
    if total - cums[i] + sizes[i] <= maxBytes or (cums[i] == total and sizes[i] > 0) or i == #ids then
      redis.call('XTRIM', KEYS[1], 'MINID', ids[i])
      break
    end
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[11] ~= '' then redis.call('SET', KEYS[3], ARGV[11], 'PX', ARGV[2]) end
redis.call('SADD', KEYS[2], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
local size = redis.call('SCARD', KEYS[2])
local prune = 0
if size > tonumber(ARGV[10]) then
  -- The step grows with the set (keys.ts streamSetPruneDue): a prune checks every member.
  local step = 64
  while step * 2 <= size / 2 do step = step * 2 end
  if size % step == 0 then prune = 1 end
end
local cancelled = {}
for i = 1, n do
  redis.call('SET', KEYS[3 + i], ARGV[4], 'PX', ARGV[3])
  if redis.call('EXISTS', KEYS[3 + n + i]) == 1 then cancelled[#cancelled + 1] = i end
end
for i = 4 + 2 * n, #KEYS do redis.call('DEL', KEYS[i]) end
local out = {prune, #cancelled}
for _, v in ipairs(cancelled) do out[#out + 1] = v end
for _, v in ipairs(ids) do out[#out + 1] = v end
return out
