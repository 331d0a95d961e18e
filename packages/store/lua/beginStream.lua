--[[ Open a stream for requests running on one node.
  KEYS[1]        stream
  KEYS[2]        session's set of stream ids
  KEYS[3..2+n]   in-flight lease per request
  KEYS[3+n..]    cancellation tombstone per request (same order)
  ARGV[1] maxLen  ARGV[2] stream ttl ms  ARGV[3] lease ms  ARGV[4] lease value "<nodeId> <streamId>"
  ARGV[5] prime data  ARGV[6] stream id  ARGV[7] n  ARGV[8] session idle ttl ms
  Returns {primeEntryId, cancelledIndex...} (1-based request indexes that were already cancelled). ]]
local n = tonumber(ARGV[7])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', 'prime', 'd', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
local out = {id}
for i = 1, n do
  redis.call('SET', KEYS[2 + i], ARGV[4], 'PX', ARGV[3])
  if redis.call('EXISTS', KEYS[2 + n + i]) == 1 then out[#out + 1] = i end
end
return out
