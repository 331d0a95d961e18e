--[[ Append messages (and optionally the completion marker) to a stream, release leases, wake tails.
  KEYS[1]     stream
  KEYS[2..]   in-flight leases to release
  ARGV[1] maxLen  ARGV[2] stream ttl ms  ARGV[3] wake channel  ARGV[4] stream id  ARGV[5] end (0/1)
  ARGV[6] entry kind for the data (msg or prime)   ARGV[7..] data
  Returns {prevId or false, id1, id2, ...}. The wake payload is "<streamId> <lastId>". ]]
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = false
if #last > 0 then prev = last[1][1] end
local out = {prev}
for i = 7, #ARGV do
  out[#out + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', ARGV[6], 'd', ARGV[i])
end
if ARGV[5] == '1' then
  out[#out + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', 'end', 'd', '')
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. out[#out])
return out
