--[[ Delete every key of a session, then wake its streams so holders close them.
  KEYS[1] session   KEYS[2..] listener, streams set, and each stream of the session with its request record
  ARGV[1] wake channel
  Returns 1 when the session existed. ]]
local existed = redis.call('EXISTS', KEYS[1])
redis.call('DEL', unpack(KEYS))
redis.call('PUBLISH', ARGV[1], '!deleted')
return existed
