--[[ Load a session and refresh its idle TTL — only for its owner: a request refused as another principal's
  (or another wire's) must not keep someone else's session alive.
  KEYS[1] session hash   KEYS[2] its subscription set (same hash tag; refreshed with it, never read here)
  ARGV[1] idle ttl (ms)   ARGV[2] expected principal   ARGV[3] expected transport ('' = do not check)
  ARGV[4] now (ms)
  Returns the flat HGETALL array (empty when the session does not exist). When the owner's entry in the
  principal's session index was last pushed forward more than half an idle TTL ago, the field `bud` is set
  to now and the pair '!index', '1' is appended: the caller refreshes the index (another slot). ]]
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return fields end
local principal, transport, bud = nil, 'streamable', 0
for i = 1, #fields, 2 do
  if fields[i] == 'principal' then principal = fields[i + 1] end
  if fields[i] == 'tr' then transport = fields[i + 1] end
  if fields[i] == 'bud' then bud = tonumber(fields[i + 1]) or 0 end
end
if principal == ARGV[2] and (ARGV[3] == '' or transport == ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
  local now = tonumber(ARGV[4])
  if now - bud >= tonumber(ARGV[1]) / 2 then
    redis.call('HSET', KEYS[1], 'bud', ARGV[4])
    fields[#fields + 1] = '!index'
    fields[#fields + 1] = '1'
  end
end
return fields
