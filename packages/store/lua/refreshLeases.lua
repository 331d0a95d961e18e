--[[ Refresh this node's in-flight leases and report cancellations.
  KEYS[1..n] leases   KEYS[n+1..2n] tombstones (same order)
  ARGV[1] lease ms   ARGV[2] node id   ARGV[3] n
  Returns the 1-based indexes of requests that have a tombstone. ]]
local n = tonumber(ARGV[3])
local out = {}
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  if v and string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. ' ' then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  if redis.call('EXISTS', KEYS[n + i]) == 1 then out[#out + 1] = i end
end
return out
