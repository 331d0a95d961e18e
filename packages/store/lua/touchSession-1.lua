--[[ Load a session and refresh its idle TTL — only for its owner: a request refused as another principal's
  (or another wire's) must not keep someone else's session alive.
  KEYS[1] session hash
  ARGV[1] idle ttl (ms)   ARGV[2] expected principal   ARGV[3] expected transport ('' = do not check)
  Returns the flat HGETALL array, or an empty array when the session does not exist. ]]
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return fields end
local principal, transport = nil, 'streamable'
for i = 1, #fields, 2 do
  if fields[i] == 'principal' then principal = fields[i + 1] end
  if fields[i] == 'tr' then transport = fields[i + 1] end
end
if principal == ARGV[2] and (ARGV[3] == '' or transport == ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return fields
