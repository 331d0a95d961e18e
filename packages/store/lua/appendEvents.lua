--[[ Append messages (and optionally the completion marker) to a stream, release leases, wake tails.
  KEYS[1]     stream
  KEYS[2..]   in-flight leases to release
  ARGV[1] maxLen  ARGV[2] stream ttl ms  ARGV[3] wake channel  ARGV[4] stream id  ARGV[5] end (0/1)
  ARGV[6] entry kind for the data (msg or prime)  ARGV[7] most data bytes a wake may carry  ARGV[8..] data
  Returns {prevId or false, id1, id2, ...}.
  The wake payload is "<streamId> <lastId>", followed — when the data is small enough and has no newline —
  by " <prevId or ->" and one line per new entry, "\n<id> <kind> <data>", so tails on other nodes can write
  the entries without reading them back (see keys.ts). ]]
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = false
if #last > 0 then prev = last[1][1] end
local out = {prev}
local lines = {}
local bytes = 0
local carry = true
for i = 8, #ARGV do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', ARGV[6], 'd', ARGV[i])
  out[#out + 1] = id
  bytes = bytes + #ARGV[i]
  if carry and (bytes > tonumber(ARGV[7]) or string.find(ARGV[i], '\n', 1, true)) then carry = false end
  if carry then lines[#lines + 1] = id .. ' ' .. ARGV[6] .. ' ' .. ARGV[i] end
end
if ARGV[5] == '1' then
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', 'end', 'd', '')
  out[#out + 1] = id
  lines[#lines + 1] = id .. ' end '
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
local wake = ARGV[4] .. ' ' .. out[#out]
if carry then wake = wake .. ' ' .. (prev or '-') .. '\n' .. table.concat(lines, '\n') end
redis.call('PUBLISH', ARGV[3], wake)
return out
