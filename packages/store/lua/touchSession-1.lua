--[[ Load a session and refresh its idle TTL.
  KEYS[1] session hash
  ARGV[1] idle ttl (ms)
  Returns the flat HGETALL array, or an empty array when the session does not exist. ]]
local fields = redis.call('HGETALL', KEYS[1])
if #fields > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return fields
