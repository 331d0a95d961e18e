--[[ Delete every key of a session, then wake its streams so holders close them.
  KEYS[1] session   KEYS[2..] listener, subscription set, streams set, and each stream of the session with its request record
  ARGV[1] wake channel
  Returns the session's principal (the caller drops it from that principal's index), false when the
  session did not exist. ]]
local principal = redis.call('HGET', KEYS[1], 'principal')
redis.call('DEL', unpack(KEYS))
redis.call('PUBLISH', ARGV[1], '!deleted')
return principal
