--[[ Answer requests whose owning node died: only when no lease is live and the stream is not complete.
  KEYS[1] stream   KEYS[2] the stream's request record   KEYS[3..] in-flight leases of the stream's requests
  ARGV[1] maxLen  ARGV[2] stream ttl ms  ARGV[3] wake channel  ARGV[4] stream id  ARGV[5..] error messages
  Returns 1 when the errors and the completion marker were appended (the request record is then deleted:
  nothing runs any more), 0 otherwise. ]]
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last == 0 then return 0 end
local fields = last[1][2]
local total = 0
for i = 1, #fields, 2 do
  if fields[i] == 'k' and fields[i + 1] == 'end' then return 0 end
  if fields[i] == 'c' then total = tonumber(fields[i + 1]) or 0 end
end
-- `c` continues the stream's byte count (appendEvents.lua); these few small entries are never trimmed here.
for i = 5, #ARGV do
  total = total + #ARGV[i]
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', 'msg', 'd', ARGV[i], 'c', total)
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', 'end', 'd', '', 'c', total)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. id)
return 1
