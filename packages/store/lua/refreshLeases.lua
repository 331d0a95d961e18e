--[[ Refresh this node's in-flight leases (and the request records of their streams); report cancellations.
  KEYS[1..n] leases   KEYS[n+1..2n] tombstones (same order)   KEYS[2n+1..] request records to keep alive
  ARGV[1] lease ms   ARGV[2] node id   ARGV[3] n   ARGV[4] request record ttl ms (the stream TTL)
  A running call's request record lives as long as its owner refreshes leases (plus a stream TTL), so the
  dead-owner check finds it however long the call runs.
  Returns the 1-based indexes of requests that have a tombstone. ]]
local n = tonumber(ARGV[3])
local out = {}
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  if v and string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. ' ' then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  if redis.call('EXISTS', KEYS[n + i]) == 1 then out[#out + 1] = i end
end
for i = 2 * n + 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return out
